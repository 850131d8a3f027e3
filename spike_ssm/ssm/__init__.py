"""SSM layers (Haiku modules): parallel `__call__` + streaming `step`.

  SequenceLayer          the common base (checks, dtypes, layout, streaming,
                         parameter-role declarations; see `ssm.base`)
  S5, LRU, S4D, S4       diagonal / DPLR state-space cores
  Mamba, MambaBlock      selective SSM core and the full Mamba block
  SpikingSSM, LoongSpike S4D cores driving a hard-reset LIF soma
  ChunkedSSM             inner layer per step + outer layer over chunks
  SpikeSSM               seed layer: sparse spiking SSM with leaky readout
  CapibaraJAXSSM         seed layer: HiPPO SSM with causal conv + SiLU
"""

from spike_ssm.ssm import base
from spike_ssm.ssm.base import sequence_layer_classes
from spike_ssm.ssm.base import SequenceLayer

from spike_ssm.ssm.capibara import CapibaraJAXSSM
from spike_ssm.ssm.capibara import CapibaraState
from spike_ssm.ssm.capibara import hippo_initialization
from spike_ssm.ssm.chunked import ChunkedSSM
from spike_ssm.ssm.chunked import ChunkedSSMState
from spike_ssm.ssm.lru import LRU
from spike_ssm.ssm.lru import LRUState
from spike_ssm.ssm.mamba import Mamba
from spike_ssm.ssm.mamba import MambaBlock
from spike_ssm.ssm.mamba import MambaBlockState
from spike_ssm.ssm.mamba import MambaState
from spike_ssm.ssm.s4 import S4
from spike_ssm.ssm.s4 import S4D
from spike_ssm.ssm.s4 import S4DState
from spike_ssm.ssm.s4 import S4State
from spike_ssm.ssm.s5 import S5
from spike_ssm.ssm.s5 import S5State
from spike_ssm.ssm.spike_ssm import SpikeSSM
from spike_ssm.ssm.spike_ssm import SpikeSSMState
from spike_ssm.ssm.spiking_ssm import LoongSpike
from spike_ssm.ssm.spiking_ssm import SpikingSSM
from spike_ssm.ssm.spiking_ssm import SpikingSSMState
