"""Research-stage building blocks: importable, tested, APIs may change.

Anything here may change without a deprecation cycle as the research
matures; stable work should import from the top-level packages.

  PSU_LIF, ResonateFire        reset-free parallel neurons (defined in
                               `spike_ssm.neurons`, surfaced here)
  phasor                       PhasorLinear, PhasorMLP, SpikingPhasor and the
                               phase <-> spike codec
  compress                     bit-packed spike storage for BPTT
                               (pack_spikes, packed_spike_dense, ...)
  stochastic                   Bernoulli-spiking parallel neurons (SPSN,
                               StochasticAssociativeLIF / CuBaLIF)
  raven                        Raven routing-slot memory: RavenRSM,
                               SpikingSlotMemory, SlotRouter,
                               make_recall_batch

Import them from here (`from spike_ssm import experimental`) so that the
dependency on an unstable surface is explicit.
"""

from spike_ssm.experimental import compress
from spike_ssm.experimental import phasor
from spike_ssm.experimental import raven
from spike_ssm.experimental import stochastic
from spike_ssm.experimental.compress import pack_spikes
from spike_ssm.experimental.compress import packed_spike_dense
from spike_ssm.experimental.compress import PackedSpikeLinear
from spike_ssm.experimental.compress import unpack_spikes
from spike_ssm.experimental.phasor import phase_to_spikes
from spike_ssm.experimental.phasor import PhasorLinear
from spike_ssm.experimental.phasor import PhasorMLP
from spike_ssm.experimental.phasor import SpikingPhasor
from spike_ssm.experimental.phasor import spikes_to_phase
from spike_ssm.experimental.raven import make_recall_batch
from spike_ssm.experimental.raven import RavenRSM
from spike_ssm.experimental.raven import RavenRSMState
from spike_ssm.experimental.raven import SlotRouter
from spike_ssm.experimental.raven import SpikingSlotMemory
from spike_ssm.experimental.raven import SpikingSlotMemoryState
from spike_ssm.experimental.stochastic import refractory_sigmoid_bernoulli
from spike_ssm.experimental.stochastic import sigmoid_bernoulli
from spike_ssm.experimental.stochastic import SPSN
from spike_ssm.experimental.stochastic import StochasticAssociativeCuBaLIF
from spike_ssm.experimental.stochastic import StochasticAssociativeLIF
from spike_ssm.neurons.psu import PSU_LIF
from spike_ssm.neurons.resonate import ResonateFire
