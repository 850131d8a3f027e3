r"""Spiking Heidelberg Digits: a feed-forward LIF baseline or a SpikingSSM.

  python -m experiments.launch --config=configs/shd.py:model=lif \
      --config.data.root=/data/shd     # holds shd_train.h5, shd_test.h5
  python -m experiments.launch --config=configs/shd.py:model=spiking_ssm \
      --config.data.root=/data/shd
  python -m experiments.launch --config=configs/shd.py:smoke \
      --config.data.root=/data/shd

Data (spike_ssm/data/shd.py): the official HDF5 files (or their .h5.gz),
700 input channels binned into 10 ms frames over the first second (T =
100, 0/1 per bin; `--config.data.options.bin_width=...`, `max_time=...`,
`binary=False` for counts), 20 classes, 10% of the training file held out
for validation.

Arguments (comma separated after the colon): model=lif|spiking_ssm, smoke
(tiny, 2 steps; tests). Every value is our choice (neither the SpikingSSM
paper nor its release trains on SHD):

* lif: 2 blocks of width 128, each `x + LIF(W LayerNorm(x) + b)` (the
  position-wise `dense` layer, no GLU): the membranes are the network's only
  memory across time. LIF with learnable per-neuron decay starting at 0.95
  (a 200 ms time constant at 10 ms bins: SHD digits last about a second),
  threshold 1, subtractive reset, fast-sigmoid surrogate.
* spiking_ssm: 3 pre-norm blocks of width 128, causal (a spiking network
  that streams), state size 64, S4D-Lin init, dt in [0.001, 0.1] in units
  of bins, SpikingSSM's soma (tau 0.125, threshold 1, triangular
  surrogate, SDN training, exact LIF evaluation) and its own GLU, dropout
  0.1 inside the layer.
* Both: mean pooling over the 100 frames, AdamW lr 2e-3 (SSM dynamics
  1e-3), weight decay 0.01, one epoch of warmup then cosine decay,
  gradient clipping at 1, batch 64, 50 epochs.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo

MODELS = ("lif", "spiking_ssm")
# Examples in shd_train.h5 (8156) after the 10% validation carve.
TRAIN_SIZE = 7340


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """SHD. Args: model=lif|spiking_ssm, smoke (see the module doc).

  Raises:
    ValueError: an unknown model.
  """
  arg = config_lib.parse_arg(arg, model="lif", smoke=False)
  if arg.model not in MODELS:
    raise ValueError(f"model must be one of {MODELS}, got {arg.model!r}.")
  config = config_lib.base_config()
  config.seed = 0
  config.data.task = "shd"
  config.data.options = zoo.task_options_config("shd")
  config.data.global_batch_size = 64
  if arg.model == "lif":
    config.model.update(layer="dense", num_layers=2, width=128, norm="layer",
                        prenorm=True, glu="none", dropout=0.0,
                        pooling="mean")
    config.model.neuron = config_dict.ConfigDict(dict(
        kind="lif", beta=0.95, learn_beta=True, threshold=1.0,
        reset="subtract", surrogate="fast_sigmoid"))
  else:
    config.model.update(layer="spiking_ssm", num_layers=3, width=128,
                        norm="layer", prenorm=True, glu="none", dropout=0.0,
                        pooling="mean")
    config.model.layer_kwargs = config_dict.ConfigDict(dict(
        state_size=64, init="lin", dt_min=0.001, dt_max=0.1,
        bidirectional=False, dropout=0.1, mode="sdn", eval_mode="iterative",
        tau=0.125, vth_init=1.0, surrogate="triangular", glu=True))
  steps_per_epoch = TRAIN_SIZE // config.data.global_batch_size
  config.optim.update(lr=2e-3, ssm_lr=1e-3, weight_decay=0.01,
                      warmup_steps=steps_per_epoch, grad_clip=1.0)
  config.train.num_epochs = 50
  config.train.update(log_every=50, eval_every=5 * steps_per_epoch,
                      ckpt_every=5 * steps_per_epoch)
  if arg.smoke:
    config.data.global_batch_size = 8
    config.model.update(num_layers=1, width=16)
    if "state_size" in config.model.layer_kwargs:
      config.model.layer_kwargs.state_size = 8
    config.optim.warmup_steps = 0
    config.train.num_epochs = None
    config.train.num_steps = 2
    config.train.update(log_every=1, eval_every=2, ckpt_every=2, plot=False)
  return config_lib.finalize(config)
