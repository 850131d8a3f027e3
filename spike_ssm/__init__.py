"""spike_ssm: spiking state-space models in JAX + Haiku.

Subpackages (imports run one way, left to right; `tests/layering_test.py`):

  ops      pure JAX math (HiPPO, discretisation, scans, convolutions, spikes)
  neurons  spiking neuron cores on `neurons.SpikingCore`, and `run`
  ssm      sequence layers on `ssm.SequenceLayer` (S5, LRU, S4, Mamba, ...)
  layers   non-SSM baselines (Transformer, LSTM, GRU), quantised projections
  models   backbone, pooling, heads (import explicitly)
  data     tasks: LRA generator / loaders, synthetic tasks, digits (NumPy)
  training optimiser groups, precision, sharding, steps, checkpoints
  zoo      the one table of names -> layers, neurons, tasks (top of the
           graph; import explicitly)

Shapes in docstrings: B batch, T time, D feature width at a layer's edge
(S5's H), P / N state size, K convolution width, J HiPPO blocks. Public
edges are batch-major `(B, T, D)`; recurrences run time-major `(T, B, ...)`
and transpose once per layer.
"""

from spike_ssm import data
from spike_ssm import neurons
from spike_ssm import ops
from spike_ssm import ssm

__version__ = "0.1.0"

__all__ = ["data", "neurons", "ops", "ssm", "__version__"]
