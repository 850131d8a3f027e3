"""Spiking neuron cores (`hk.RNNCore`s) and `run` to unroll them.

  LIF, IF, LI, CuBaLIF, ALIF   integrate, fire and reset within one step
  PSU_LIF                      reset-free LIF with a parallel `linear_scan`
                               mode
  ResonateFire                 reset-free complex resonate-and-fire neuron
                               (step and parallel modes)
  run                          `hk.scan` a core over `(B, T, ...)` inputs
  SDN, lif_hard_reset          SpikingSSM's surrogate dynamic network (a
                               pre-trained causal CNN that predicts the
                               hard-reset LIF membrane of a whole sequence)
                               and the exact iterative LIF it stands in for
  SpikingCore                  the common base; see `base` for dtype and
                               mixed-precision rules (policies are per exact
                               class: use `spiking_core_classes()`)
"""

from spike_ssm.neurons import sdn
from spike_ssm.neurons.base import record_spike_rate
from spike_ssm.neurons.base import RESET_MODES
from spike_ssm.neurons.base import spiking_core_classes
from spike_ssm.neurons.base import SpikingCore
from spike_ssm.neurons.lif import ALIF
from spike_ssm.neurons.lif import ALIFState
from spike_ssm.neurons.lif import CuBaLIF
from spike_ssm.neurons.lif import CuBaLIFState
from spike_ssm.neurons.lif import IF
from spike_ssm.neurons.lif import IFState
from spike_ssm.neurons.lif import LI
from spike_ssm.neurons.lif import LIF
from spike_ssm.neurons.lif import LIFState
from spike_ssm.neurons.lif import LIState
from spike_ssm.neurons.psu import PSU_LIF
from spike_ssm.neurons.psu import PSULIFState
from spike_ssm.neurons.resonate import ResonateFire
from spike_ssm.neurons.resonate import ResonateFireState
from spike_ssm.neurons.run import run
from spike_ssm.neurons.sdn import lif_hard_reset
from spike_ssm.neurons.sdn import load_pretrained_sdn
from spike_ssm.neurons.sdn import SDN

__all__ = [
    "ALIF",
    "ALIFState",
    "CuBaLIF",
    "CuBaLIFState",
    "IF",
    "IFState",
    "LI",
    "LIF",
    "LIFState",
    "LIState",
    "PSU_LIF",
    "PSULIFState",
    "RESET_MODES",
    "SDN",
    "ResonateFire",
    "ResonateFireState",
    "SpikingCore",
    "lif_hard_reset",
    "load_pretrained_sdn",
    "record_spike_rate",
    "run",
    "sdn",
    "spiking_core_classes",
]
