r"""An LSTM baseline on Long Range Arena.

  python -m experiments.launch --config=configs/lstm_lra.py          # listops
  python -m experiments.launch --config=configs/lstm_lra.py:task=text \
      --config.data.root=/data/lra_release
  python -m experiments.launch --config=configs/lstm_lra.py:demo     # minutes
  python -m experiments.launch --config=configs/lstm_lra.py:smoke    # seconds

Arguments (comma separated after the colon): task=listops|text|retrieval|
image|pathfinder|pathx, demo (a small generated ListOps that trains in a few
minutes on 2 CPU cores and visibly learns), smoke (tiny, for tests).

LRA publishes no recurrent baseline, so every value here is our choice,
shared with configs/gru_lra.py through `config_lib.recurrent_lra_config`:
a 4-layer, width-128 bidirectional `LSTMLayer` (hidden size = width) in the
S5 configs' block (pre-norm LayerNorm, half-GLU, masked-mean pooling), the
LRA Transformer's batch size and training length per task (same data seen),
AdamW at 1e-3 with 5% warmup, cosine decay, weight decay 0.01, gradient
clipping at 1 and dropout 0.1 (0 on ListOps). Pixels are continuous inputs.
Override any of it on the command line, e.g.
`--config.model.layer_kwargs.hidden_size=256`.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """LSTM on an LRA task. Args: task=..., demo, smoke (see module doc)."""
  parsed = config_lib.parse_lra_arg(arg)
  return config_lib.recurrent_lra_config(
      "lstm", parsed, task_options=zoo.task_options_config(parsed.task),
      layer_kwargs=zoo.layer_options_config("lstm", hidden_size=None,
                                            bidirectional=True))
