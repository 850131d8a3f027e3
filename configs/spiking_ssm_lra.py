r"""SpikingSSM on Long Range Arena.

  python -m experiments.launch --config=configs/spiking_ssm_lra.py  # listops
  python -m experiments.launch --config=configs/spiking_ssm_lra.py:task=text \
      --config.data.root=/data/lra_release
  python -m experiments.launch --config=configs/spiking_ssm_lra.py:demo
  python -m experiments.launch --config=configs/spiking_ssm_lra.py:smoke

Arguments (comma separated after the colon): task=listops|text|retrieval|
image|pathfinder|pathx, demo (a small generated ListOps that trains in a few
minutes on 2 CPU cores and visibly learns), smoke (tiny, for tests).

Where the values come from
--------------------------

SpikingSSM (Shen et al. 2024/2025, arXiv:2408.14909) trains its LRA models
with the S4D recipe: S4D blocks in which the soma sits between the SSM and
the GLU, everything else (depth, width, norm, learning rates, batch, epochs,
weight decay) S4D's. Their per-task table lives in the paper's supplement,
which was not available to us, so the per-task values here are S4D's
published LRA settings (Gu et al. 2022, "On the Parameterization and
Initialization of Diagonal State Space Models", as released in
state-spaces/s4 `configs/experiment/lra/s4-lra-*.yaml`): depth, width,
batch norm vs layer norm, pre- vs post-norm, dropout, learning rate 0.01
(SSM dynamics 1e-3), batch, epochs, weight decay, dt range, state size 64,
bidirectional; cosine schedule with a one-epoch warmup. Path-X uses the
S4D paper's lr 5e-4 and dt_min 1e-4 (the repository's later file raised
the rate; we keep the paper's).

The spiking parts are SpikingSSM's: the LIF soma with tau = 0.125 and a
hard reset, a learnable per-channel threshold initialised at 1, the
triangular surrogate, tied dropout, the layer's own GLU mixer (so the
backbone runs with `glu="none"`), trained through the packaged pre-trained
SDN and evaluated with the exact iterative LIF (`eval_mode="iterative"`).
Our choices where neither paper says: S4D-Lin init (`init="lin"`, the
layer's default), masked-mean pooling on every task (the S4 repository
pools Pathfinder by its last step, which a bidirectional layer makes
arbitrary), pixels as continuous inputs.

`make_config(layer, arg, **layer_kwargs)` is shared with
`configs/loongspike_lra.py`.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo

# S4D's LRA settings: task -> hyperparameters.
_S4D = {
    "listops": dict(num_layers=8, width=128, norm="batch", prenorm=False,
                    dropout=0.0, lr=0.01, ssm_lr=1e-3, batch=50, epochs=40,
                    weight_decay=0.05, dt_min=1e-3, dt_max=0.1),
    "text": dict(num_layers=6, width=256, norm="batch", prenorm=True,
                 dropout=0.0, lr=0.01, ssm_lr=1e-3, batch=16, epochs=32,
                 weight_decay=0.05, dt_min=1e-3, dt_max=0.1),
    "retrieval": dict(num_layers=6, width=256, norm="batch", prenorm=True,
                      dropout=0.0, lr=0.01, ssm_lr=1e-3, batch=64,
                      epochs=20, weight_decay=0.05, dt_min=1e-3,
                      dt_max=0.1),
    "image": dict(num_layers=6, width=512, norm="layer", prenorm=False,
                  dropout=0.1, lr=0.01, ssm_lr=1e-3, batch=50, epochs=200,
                  weight_decay=0.05, dt_min=1e-3, dt_max=0.1),
    "pathfinder": dict(num_layers=6, width=256, norm="batch", prenorm=True,
                       dropout=0.0, lr=0.004, ssm_lr=1e-3, batch=64,
                       epochs=200, weight_decay=0.03, dt_min=1e-3,
                       dt_max=0.1),
    "pathx": dict(num_layers=6, width=256, norm="batch", prenorm=True,
                  dropout=0.0, lr=5e-4, ssm_lr=5e-4, batch=16, epochs=50,
                  weight_decay=0.05, dt_min=1e-4, dt_max=0.1),
}
TASKS = tuple(_S4D)
STATE_SIZE = 64


def make_config(layer: str, arg: str | None,
                **layer_kwargs) -> config_dict.ConfigDict:
  """A spiking S4D-family layer on an LRA task (see the module docstring).

  Args:
    layer: the zoo layer, "spiking_ssm" or "loongspike".
    arg: the config argument: task=<LRA_TASKS>, demo, smoke.
    **layer_kwargs: extra layer arguments (LoongSpike's terms).

  Returns:
    The finalized (validated, locked) config.
  """
  if layer not in ("spiking_ssm", "loongspike"):
    raise ValueError(
        f"layer must be 'spiking_ssm' or 'loongspike', got {layer!r}.")
  arg = config_lib.parse_lra_arg(arg)
  h = _S4D[arg.task]
  config = config_lib.base_config()
  config.seed = 0
  config.data.task = arg.task
  config.data.global_batch_size = h["batch"]
  config.data.options = zoo.task_options_config(arg.task)
  config.model.update(
      layer=layer, num_layers=h["num_layers"], width=h["width"],
      norm=h["norm"], prenorm=h["prenorm"], glu="none", dropout=0.0,
      pooling="masked_mean", positions="none")
  config.model.layer_kwargs = config_dict.ConfigDict(dict(
      state_size=STATE_SIZE, init="lin", dt_min=h["dt_min"],
      dt_max=h["dt_max"], bidirectional=True, dropout=h["dropout"],
      mode="sdn", eval_mode="iterative", tau=0.125, vth_init=1.0,
      surrogate="triangular", glu=True, **layer_kwargs))
  steps_per_epoch = config_lib.LRA_TRAIN_SIZES[arg.task] // h["batch"]
  config.optim.update(
      lr=h["lr"], ssm_lr=h["ssm_lr"], weight_decay=h["weight_decay"],
      warmup_steps=steps_per_epoch)
  config.train.num_epochs = h["epochs"]
  config.train.update(log_every=100, eval_every=steps_per_epoch,
                      ckpt_every=steps_per_epoch)
  if arg.demo:
    _demo(config)
  if arg.smoke:
    _smoke(config)
  return config_lib.finalize(config)


def _demo(config: config_dict.ConfigDict) -> None:
  """A small generated ListOps that learns within minutes on 2 CPU cores.

  Measured (benchmarks/SPIKING_SSM.md): about 2 minutes, 32% test accuracy
  (majority class 11.5%). The 6000 training expressions overfit (training
  accuracy runs ahead), so the tied dropout stays on; a threshold of 0.5
  doubles the firing rate (0.05 -> 0.09) for a lower loss than the
  authors' 1.0 on this short schedule.
  """
  config_lib.lra_demo(config)
  config.model.update(norm="batch", prenorm=True)
  config.model.layer_kwargs.update(state_size=32, dropout=0.1, vth_init=0.5)
  config.optim.update(lr=3e-3, ssm_lr=1e-3, grad_clip=1.0)


def _smoke(config: config_dict.ConfigDict) -> None:
  """Tiny shapes: 2 steps in seconds (tests)."""
  config_lib.lra_smoke(config)
  config.model.layer_kwargs.update(state_size=8)


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """SpikingSSM on an LRA task. Args: task=..., demo, smoke (module doc)."""
  return make_config("spiking_ssm", arg)
