"""Blocks built from the cores below: the SpikingSSM surrogate dynamic net."""

from spike_ssm.layers import sdn
from spike_ssm.layers.sdn import SDN
from spike_ssm.layers.sdn import lif_hard_reset
from spike_ssm.layers.sdn import load_pretrained_sdn
