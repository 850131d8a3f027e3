r"""S5 on scikit-learn's 8x8 digits as length-64 pixel sequences.

  python -m experiments.launch --config=configs/digits.py
  python -m experiments.launch --config=configs/digits.py:layer=lru
  python -m experiments.launch --config=configs/digits.py:smoke

A quick, fully offline sanity task (1797 images bundled with scikit-learn):
a small bidirectional S5 reaches ~97-99% test accuracy in well under a
minute on 2 CPU cores (benchmarks/RESULTS.md has the measured figure).
Arguments: layer=<a zoo layer>, spiking (LIF neurons after each
layer), smoke.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  arg = config_lib.parse_arg(arg, layer="s5", spiking=False, smoke=False)
  config = config_lib.base_config()
  config.seed = 0
  config.data.task = "digits"
  config.data.options = zoo.task_options_config("digits")
  config.data.global_batch_size = 64
  config.model.update(layer=arg.layer, num_layers=2, width=64, norm="layer",
                      prenorm=True, glu="half_glu1", dropout=0.1,
                      pooling="mean")
  if arg.layer == "s5":
    config.model.layer_kwargs = config_dict.ConfigDict(dict(
        state_size=32, blocks=4, bidirectional=True, c_init="lecun_normal",
        dt_min=0.01, dt_max=0.5))
  elif arg.layer == "lru":
    config.model.layer_kwargs = config_dict.ConfigDict(dict(
        state_size=64, r_min=0.5, r_max=0.99))
  if arg.spiking:
    config.model.neuron = config_dict.ConfigDict(dict(
        kind="lif", beta=0.9, threshold=0.5, surrogate="fast_sigmoid"))
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
