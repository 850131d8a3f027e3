r"""LoongSpike (fractional-order SpikingSSM) on Long Range Arena.

  python -m experiments.launch --config=configs/loongspike_lra.py  # listops
  python -m experiments.launch --config=configs/loongspike_lra.py:task=image
  python -m experiments.launch --config=configs/loongspike_lra.py:demo
  python -m experiments.launch --config=configs/loongspike_lra.py:smoke

Arguments (comma separated after the colon): task=listops|text|retrieval|
image|pathfinder|pathx, demo (a small generated ListOps that trains in a few
minutes on 2 CPU cores and visibly learns), smoke (tiny, for tests).

No per-task LRA table of LoongSpike was available to us, so every value is
`configs/spiking_ssm_lra.py`'s (S4D's published LRA settings with
SpikingSSM's soma; see that module) with the layer swapped for
`LoongSpike`: M = 2 exponentials per mode with the seed's initial shifts
omega = (0, 0.1) and weights eta = (1, 0.1), both learnable (optimiser's
SSM group). The state per feature is therefore M N / 2 = 64 complex modes
for N = 64.
"""

import importlib.util
import pathlib

from ml_collections import config_dict

# Config files are loaded by path, so the sibling is too.
_SPEC = importlib.util.spec_from_file_location(
    "_spiking_ssm_lra", pathlib.Path(__file__).with_name("spiking_ssm_lra.py"))
_spiking = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_spiking)

TASKS = _spiking.TASKS
NUM_TERMS = 2
OMEGA_INIT = (0.0, 0.1)
ETA_INIT = (1.0, 0.1)


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """LoongSpike on an LRA task. Args: task=..., demo, smoke (module doc)."""
  return _spiking.make_config("loongspike", arg, num_terms=NUM_TERMS,
                              omega_init=OMEGA_INIT, eta_init=ETA_INIT)
