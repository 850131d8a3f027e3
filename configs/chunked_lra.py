r"""ChunkedSSM on Long Range Arena: S5 within chunks, S5 across chunks.

  python -m experiments.launch --config=configs/chunked_lra.py    # listops
  python -m experiments.launch --config=configs/chunked_lra.py:task=image \
      --config.data.root=/data/lra_release
  python -m experiments.launch --config=configs/chunked_lra.py:demo
  python -m experiments.launch --config=configs/chunked_lra.py:smoke

Arguments (comma separated after the colon): task=listops|text|retrieval|
image|pathfinder|pathx, demo, smoke, as in configs/s5_lra.py.

ChunkedSSM has no published LRA runs, so this config is our choice: every
block of `configs/s5_lra.py` (S5's published per-task model, optimiser and
budget, taken from that file so the two never drift apart) becomes a
`ChunkedSSM` whose inner layer runs S5 over each chunk of C steps and
whose outer layer runs S5 over the chunk means, upsampled back onto the
steps (`spike_ssm.ssm.chunked`). Inner and outer S5 share S5's per-task
settings. C is about the square root of the task's length, so both scans
are short; `pad=True` pads T up to a multiple of C (ListOps lengths vary).
S5's per-task optimiser grouping (`optim.grouping`, `dt_global`) applies to
both S5 cores, as do S5's token encoder, pooling, tied dropout and
batch-norm momentum, and every difference `configs/s5_lra.py` lists from
S5's released runs (one-hot width on Text / Retrieval, padding masked
inside the blocks, no decay of norms / biases / D, schedule offsets, data)
applies here too.
"""

import importlib.util
import pathlib

from ml_collections import config_dict

from spike_ssm import config_lib

# Chunk size C per task (T: 2000, 4000, 4000 per document, 1024, 1024, 16384).
CHUNK_SIZES = {"listops": 50, "text": 64, "retrieval": 64, "image": 32,
               "pathfinder": 32, "pathx": 128}
DEMO_CHUNK_SIZE = 10  # The demo's expressions have at most 100 tokens.
SMOKE_CHUNK_SIZE = 4


def _s5_lra():
  path = pathlib.Path(__file__).with_name("s5_lra.py")
  spec = importlib.util.spec_from_file_location("_s5_lra_for_chunked", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """ChunkedSSM(S5, S5) on an LRA task. Args: task=..., demo, smoke."""
  parsed = config_lib.parse_lra_arg(arg)
  config = _s5_lra().get_config(arg)
  if parsed.smoke:
    chunk_size = SMOKE_CHUNK_SIZE
  elif parsed.demo:
    chunk_size = DEMO_CHUNK_SIZE
  else:
    chunk_size = CHUNK_SIZES[parsed.task]
  s5_kwargs = config.model.layer_kwargs.to_dict()
  with config.unlocked():
    config.model.layer = "chunked"
    config.model.layer_kwargs = config_dict.ConfigDict(dict(
        inner="s5", outer="s5", chunk_size=chunk_size, pool="mean",
        pad=True, inner_kwargs=s5_kwargs, outer_kwargs=s5_kwargs))
  config_lib.validate(config)
  return config
