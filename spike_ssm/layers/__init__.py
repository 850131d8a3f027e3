"""Sequence layers that are not SSM cores: Transformer, LSTM, GRU baselines."""

from spike_ssm.layers.baselines import GRULayer
from spike_ssm.layers.baselines import GRULayerState
from spike_ssm.layers.baselines import LSTMLayer
from spike_ssm.layers.baselines import LSTMLayerState
from spike_ssm.layers.baselines import TransformerLayer
