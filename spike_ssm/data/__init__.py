"""Tasks and host-local input pipelines, in NumPy (no JAX, no Haiku).

Each task has a builder (`listops.build_listops`, `lra.build_text`,
`synthetic.build_mqar`, ...) returning a `Task` (a `TaskSpec` and train /
validation / test `Split`s); `spike_ssm.zoo.get_task(name, ...)` finds
builders by name. `TrainIterator` and `eval_batches` turn a split into
batches, dicts of NumPy arrays (see `spike_ssm.data.base`).
"""

from spike_ssm.data import base
from spike_ssm.data import digits
from spike_ssm.data import listops
from spike_ssm.data import lra
from spike_ssm.data import mnist1d
from spike_ssm.data import pipeline
from spike_ssm.data import seq_image
from spike_ssm.data import shd
from spike_ssm.data import synthetic
from spike_ssm.data.base import Batch
from spike_ssm.data.base import example_batch
from spike_ssm.data.base import Split
from spike_ssm.data.base import Task
from spike_ssm.data.base import TaskSpec
from spike_ssm.data.pipeline import eval_batches
from spike_ssm.data.pipeline import num_eval_batches
from spike_ssm.data.pipeline import TrainIterator

__all__ = [
    "Batch", "Split", "Task", "TaskSpec", "TrainIterator", "base", "digits",
    "eval_batches", "example_batch", "listops", "lra", "mnist1d",
    "num_eval_batches", "pipeline", "seq_image", "shd", "synthetic",
]
