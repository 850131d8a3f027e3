"""Research-stage building blocks: importable, tested, APIs may change.

Anything here may change without a deprecation cycle as the research
matures; stable work should import from the top-level packages.

  PSU_LIF, ResonateFire        reset-free parallel neurons (defined in
                               `spike_ssm.neurons`, surfaced here)
  phasor                       PhasorLinear, PhasorMLP, SpikingPhasor and the
                               phase <-> spike codec
"""

from spike_ssm.experimental import phasor
from spike_ssm.experimental.phasor import phase_to_spikes
from spike_ssm.experimental.phasor import PhasorLinear
from spike_ssm.experimental.phasor import PhasorMLP
from spike_ssm.experimental.phasor import SpikingPhasor
from spike_ssm.experimental.phasor import spikes_to_phase
from spike_ssm.neurons.psu import PSU_LIF
from spike_ssm.neurons.resonate import ResonateFire
