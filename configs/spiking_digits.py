r"""SpikingSSM / LoongSpike on scikit-learn's 8x8 digits (64-step sequences).

  python -m experiments.launch --config=configs/spiking_digits.py
  python -m experiments.launch \
      --config=configs/spiking_digits.py:layer=loongspike
  python -m experiments.launch --config=configs/spiking_digits.py:smoke

Every block is `x + layer(norm(x))` with the layer's own GLU mixer (the
backbone's output stage is off), the layer's soma trained through the
pre-trained SDN and evaluated with the exact iterative LIF, so the reported
test accuracy is that of the spiking network itself. The run logs the mean
firing rate of the somas (`spike_rate`). Measured (seed 0, 800 steps, about
a minute on 2 shared CPU cores; benchmarks/SPIKING_SSM.md): SpikingSSM 98.3%
test accuracy at a mean firing rate of 0.154, LoongSpike 96.7% at 0.184.
The threshold starts at 2 (`vth_init`): at the authors' 1 the rate was
0.21.

Arguments: layer=spiking_ssm|loongspike, mode=sdn|iterative (training
soma), smoke.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo

LAYERS = ("spiking_ssm", "loongspike")


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """Spiking digits. Args: layer=..., mode=..., smoke (see module doc)."""
  arg = config_lib.parse_arg(arg, layer="spiking_ssm", mode="sdn",
                             smoke=False)
  if arg.layer not in LAYERS:
    raise ValueError(f"layer must be one of {LAYERS}, got {arg.layer!r}.")
  config = config_lib.base_config()
  config.seed = 0
  config.data.task = "digits"
  config.data.options = zoo.task_options_config("digits")
  config.data.global_batch_size = 64
  config.model.update(layer=arg.layer, num_layers=2, width=64, norm="layer",
                      prenorm=True, glu="none", dropout=0.0, pooling="mean")
  config.model.layer_kwargs = config_dict.ConfigDict(dict(
      state_size=32, init="lin", dt_min=0.01, dt_max=0.5, bidirectional=True,
      dropout=0.1, mode=arg.mode, eval_mode="iterative", tau=0.125,
      vth_init=2.0,
      surrogate="triangular", glu=True))
  config.optim.update(lr=4e-3, ssm_lr=2e-3, weight_decay=0.01,
                      warmup_steps=50, grad_clip=1.0)
  config.train.num_steps = 800
  config.train.update(log_every=100, eval_every=200, ckpt_every=400)
  if arg.smoke:
    config.model.update(num_layers=1, width=16)
    config.model.layer_kwargs.update(state_size=8)
    config.train.num_steps = 2
    config.train.update(log_every=1, eval_every=2, ckpt_every=2, plot=False)
  return config_lib.finalize(config)
