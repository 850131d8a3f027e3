r"""Any registered sequence layer on MNIST-1D (40-step signals, 10 classes).

  python -m experiments.launch --config=configs/mnist1d.py          # S5
  python -m experiments.launch --config=configs/mnist1d.py:layer=gru
  python -m experiments.launch --config=configs/mnist1d.py:layer=s5,smoke

MNIST-1D (Greydanus 2020) is generated offline by the pinned `mnist1d`
package (spike_ssm/data/mnist1d.py): 4000 training signals (the last 500
held out for validation) and 1000 test signals of 40 steps. Its published
baselines (greydanus/mnist1d README.md @
7878d96082abd200c546a07a4101fa90b30fdf7e): logistic regression 32%, MLP 68%,
CNN 94%, GRU 91%, human expert 96%. benchmarks/mnist1d_table.py trains every
layer here on 3 seeds and writes benchmarks/MNIST1D.md.

Arguments (comma separated after the colon): layer=<a registered backbone
layer> (default s5), seed=<int>, smoke (tiny, 2 steps; tests).

Every value is our choice, one recipe for all layers so that the layer is
the only change, sized to train in minutes on 2 CPU cores:

* Block. 2 pre-norm residual blocks of width 64: LayerNorm -> layer ->
  half-GLU, dropout 0.1, mean pooling over the 40 steps. The Mamba block and
  the Transformer layer are whole gated blocks already (no GLU; the
  Transformer brings its own LayerNorms and sinusoidal positions), and the
  spiking layers (SpikingSSM, LoongSpike) carry their own GLU mixer and
  dropout, as in configs/spiking_digits.py.
* Layers. About 32 complex (64 real) states per channel where a layer has a
  state size; bidirectional wherever the layer supports it, since the label
  depends on the whole signal (LRU, Mamba, Raven and Chunked are causal
  only). Step ranges dt in [0.01, 0.5] for the HiPPO layers: 40 steps are
  short, so the default [0.001, 0.1] would leave most modes barely moving.
* Optimiser. AdamW, lr 4e-3 (SSM dynamics 2e-3), weight decay 0.01, 100
  warmup steps then cosine decay, gradient clipping at 1, batch 64, 3000
  steps (55 epochs of the 3500 training signals), evaluation every 300.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo

_HIPPO_DT = dict(dt_min=0.01, dt_max=0.5)
_SPIKING = dict(state_size=32, init="lin", bidirectional=True, dropout=0.1,
                mode="sdn", eval_mode="iterative", tau=0.125, vth_init=2.0,
                surrogate="triangular", glu=True, **_HIPPO_DT)

# layer -> (layer_kwargs, block GLU, block norm, positions, block dropout).
LAYERS = {
    "s5": (dict(state_size=32, blocks=4, bidirectional=True,
                c_init="lecun_normal", **_HIPPO_DT), "half_glu1", "layer",
           "none", 0.1),
    "lru": (dict(state_size=64, r_min=0.5, r_max=0.99), "half_glu1", "layer",
            "none", 0.1),
    "s4d": (dict(state_size=32, bidirectional=True, **_HIPPO_DT),
            "half_glu1", "layer", "none", 0.1),
    "s4": (dict(state_size=32, bidirectional=True, **_HIPPO_DT), "half_glu1",
           "layer", "none", 0.1),
    "mamba": (dict(state_size=16, expand=2, conv_size=4), "none", "layer",
              "none", 0.1),
    "mamba_core": (dict(state_size=16), "half_glu1", "layer", "none", 0.1),
    "chunked": (dict(inner="lru", outer="lru", chunk_size=8, pad=True,
                     inner_kwargs=dict(state_size=32, r_min=0.5, r_max=0.99),
                     outer_kwargs=dict(state_size=32, r_min=0.5,
                                       r_max=0.99)),
                "half_glu1", "layer", "none", 0.1),
    "raven": (dict(num_slots=8), "half_glu1", "layer", "none", 0.1),
    "transformer": (dict(num_heads=4, ffn_multiplier=2, dropout=0.1),
                    "none", "none", "sinusoidal", 0.0),
    "lstm": (dict(bidirectional=True), "half_glu1", "layer", "none", 0.1),
    "gru": (dict(bidirectional=True), "half_glu1", "layer", "none", 0.1),
    # No mixing over time: a per-position MLP read out by mean pooling.
    "dense": (dict(), "half_glu1", "layer", "none", 0.1),
    "spiking_ssm": (dict(_SPIKING), "none", "layer", "none", 0.0),
    "loongspike": (dict(_SPIKING), "none", "layer", "none", 0.0),
}


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """MNIST-1D. Args: layer=..., seed=..., smoke (see the module doc).

  Raises:
    ValueError: a layer that is not a registered backbone layer, or one
      registered after this table was written (it needs its sizes here).
  """
  arg = config_lib.parse_arg(arg, layer="s5", seed=0, smoke=False)
  if arg.layer not in zoo.layer_names():
    raise ValueError(f"layer must be a registered backbone layer, one of "
                     f"{list(zoo.layer_names())}, got {arg.layer!r}.")
  if arg.layer not in LAYERS:
    raise ValueError(f"layer {arg.layer!r} is registered but has no MNIST-1D "
                     f"settings in configs/mnist1d.py; add it to LAYERS.")
  kwargs, glu, norm, positions, dropout = LAYERS[arg.layer]
  config = config_lib.base_config()
  config.seed = arg.seed
  config.data.task = "mnist1d"
  config.data.options = zoo.task_options_config("mnist1d")
  config.data.global_batch_size = 64
  config.model.update(layer=arg.layer, num_layers=2, width=64, norm=norm,
                      prenorm=True, glu=glu, dropout=dropout, pooling="mean",
                      positions=positions)
  config.model.layer_kwargs = config_dict.ConfigDict(kwargs)
  config.optim.update(lr=4e-3, ssm_lr=2e-3, weight_decay=0.01,
                      warmup_steps=100, grad_clip=1.0)
  config.train.num_steps = 3000
  config.train.update(log_every=100, eval_every=300, ckpt_every=300)
  if arg.smoke:
    config.data.global_batch_size = 8
    config.model.update(num_layers=1, width=16)
    if "state_size" in config.model.layer_kwargs:
      config.model.layer_kwargs.state_size = 8
    config.optim.warmup_steps = 0
    config.train.num_steps = 2
    config.train.update(log_every=1, eval_every=2, ckpt_every=2, plot=False)
  return config_lib.finalize(config)
