"""Layers that are not SSM cores.

  TransformerLayer  pre-LN attention + feed-forward block (baseline)
  LSTMLayer         hk.LSTM unrolled over the sequence (baseline)
  GRULayer          hk.GRU unrolled over the sequence (baseline)
  Dense             position-wise linear, no mixing over time (feed-forward
                    LIF baseline with a backbone neuron)
  QuantLinear       hk.Linear with int8 / BitNet-ternary fake-quantised weights
                    (optionally int8 inputs) and straight-through gradients
  linear            hk.Linear or QuantLinear by a `quantize` option
"""

from spike_ssm.layers import quant
from spike_ssm.layers.baselines import GRULayer
from spike_ssm.layers.baselines import GRULayerState
from spike_ssm.layers.baselines import LSTMLayer
from spike_ssm.layers.baselines import LSTMLayerState
from spike_ssm.layers.baselines import TransformerLayer
from spike_ssm.layers.quant import check_quantize
from spike_ssm.layers.quant import linear
from spike_ssm.layers.quant import QUANT_MODES
from spike_ssm.layers.quant import QUANTIZE_OPTIONS
from spike_ssm.layers.pointwise import Dense
from spike_ssm.layers.quant import QuantLinear

__all__ = [
    "Dense",
    "GRULayer",
    "GRULayerState",
    "LSTMLayer",
    "LSTMLayerState",
    "QUANTIZE_OPTIONS",
    "QUANT_MODES",
    "QuantLinear",
    "TransformerLayer",
    "check_quantize",
    "linear",
    "quant",
]
