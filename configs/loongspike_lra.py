r"""LoongSpike (fractional-order SpikingSSM) on Long Range Arena.

  python -m experiments.launch --config=configs/loongspike_lra.py  # listops
  python -m experiments.launch --config=configs/loongspike_lra.py:task=image
  python -m experiments.launch --config=configs/loongspike_lra.py:demo
  python -m experiments.launch --config=configs/loongspike_lra.py:smoke

Arguments (comma separated after the colon): task=listops|text|retrieval|
image|pathfinder|pathx, demo (a small generated ListOps that trains in a few
minutes on 2 CPU cores and visibly learns), smoke (tiny, for tests),
released (the released code's quirks: post-norm discarded, dropout twice,
SDN at evaluation, the released SDN topology -- LoongSpike ships the same
SDN file as SpikingSSM; see configs/spiking_ssm_lra.py).

Every per-task value is read from `configs/tables/loongspike.py`, the
LoongSpike authors' released runs (xinruihe389-commits/LoongSpike
`configs/experiment/spikingssm/*.yaml`; commit in the table's SOURCE),
through `configs/spiking_ssm_lra.py`'s `make_config` (see that module for
the recipe, the model options read from the table -- embedding, pooling,
tied dropout, batch-norm momentum, fixed B on Retrieval / Image /
Pathfinder (LoongSpike's Image too: its file leaves `trainable_B`
commented out, default false) -- and for what still differs from the
released runs): the layer is `LoongSpike` with the table's M = 2
exponentials per mode, initial shifts omega = (0, 0.1) and weights eta =
(1, 0.1), both learnable. The state per feature is therefore M N / 2
complex modes.

Differences of LoongSpike's own (configs/tables/README.md §5b, §5c): omega
and eta are raw values in the optimiser's SSM group (no decay) here, where
the released code trains sigmoid-bounded logits (omega in (1e-6, 100), eta
in (1e-6, 10); omega_1 then starts near 1e-4, not 0) at the global rate
with weight decay -- a model change in `spike_ssm.ssm` not made here.
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
_COMMON = _spiking._TABLES["loongspike"].COMMON
NUM_TERMS = _COMMON["frac_terms"]
OMEGA_INIT = tuple(_COMMON["omega_init"])
ETA_INIT = tuple(_COMMON["eta_init"])


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """LoongSpike on an LRA task. Args: task=..., demo, smoke, released."""
  return _spiking.make_config("loongspike", arg, num_terms=NUM_TERMS,
                              omega_init=OMEGA_INIT, eta_init=ETA_INIT)
