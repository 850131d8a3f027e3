r"""Any backbone layer on a synthetic memory / recall task, sized for a CPU.

  python -m experiments.launch --config=configs/synthetic.py   # copy, S5
  python -m experiments.launch \
      --config=configs/synthetic.py:task=mqar,layer=mamba
  python -m experiments.launch --config=configs/synthetic.py:task=adding,smoke

Arguments (comma separated after the colon): task=selective_copy|mqar|
induction_heads|adding (spike_ssm/data/synthetic.py), layer=<a zoo
backbone layer> (default s5), smoke (tiny shapes, 2 steps; tests).

Every value is our choice: small tasks that a 2 x 64 model learns (or fails
to, for the reasons the task was designed for) in minutes on 2 CPU cores.

* Tasks. selective_copy: 4 data tokens of 8 symbols scattered in 64
  positions, copied in order at 4 markers; mqar: 8 key-value pairs over a
  vocabulary of 64 in 64 positions; induction_heads: 16 symbols in 64
  positions; adding: 100 positions. 10k training examples, 500 validation,
  1000 test.
* Model. Pre-norm residual blocks of LayerNorm -> layer -> half-GLU (the
  Mamba block and the Transformer layer are gated / whole blocks already:
  no GLU, and the Transformer brings its own LayerNorms and sinusoidal
  positions). Every layer is causal: on the token tasks the answer is read
  at the positions where it is due, so a layer must not see the future.
  The adding problem reads the last position.
* Optimiser. AdamW, lr 3e-3 (SSM dynamics 1e-3), weight decay 0.01,
  100 warmup steps then cosine decay, gradient clipping at 1, 3000 steps
  of batch 32.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo

TASKS = ("selective_copy", "mqar", "induction_heads", "adding")

# task -> data options (the rest keep the builders' defaults).
_DATA = {
    "selective_copy": dict(seq_len=64, num_tokens=4, num_symbols=8),
    "mqar": dict(seq_len=64, vocab_size=64, num_kv_pairs=8),
    "induction_heads": dict(seq_len=64, num_symbols=16),
    "adding": dict(seq_len=100),
}
_SPLITS = dict(num_train=10_000, num_valid=500, num_test=1_000)
_SMOKE_DATA = {
    "selective_copy": dict(seq_len=16, num_tokens=2, num_symbols=4),
    "mqar": dict(seq_len=16, vocab_size=16, num_kv_pairs=2),
    "induction_heads": dict(seq_len=16, num_symbols=4),
    "adding": dict(seq_len=16),
}

# layer -> (layer_kwargs, block GLU, block norm, positions): causal layers
# of about 32 real states per channel where the layer has a state size.
_LAYERS = {
    "s5": (dict(state_size=32, blocks=4, bidirectional=False,
                c_init="lecun_normal"), "half_glu1", "layer", "none"),
    "lru": (dict(state_size=32, r_min=0.5, r_max=0.999), "half_glu1",
            "layer", "none"),
    "s4d": (dict(state_size=32, bidirectional=False), "half_glu1", "layer",
            "none"),
    "s4": (dict(state_size=32, bidirectional=False), "half_glu1", "layer",
           "none"),
    "mamba": (dict(state_size=16, expand=2, conv_size=4), "none", "layer",
              "none"),
    "mamba_core": (dict(state_size=16), "half_glu1", "layer", "none"),
    "chunked": (dict(inner="lru", outer="lru", chunk_size=8, pad=True,
                     inner_kwargs=dict(state_size=16),
                     outer_kwargs=dict(state_size=16)), "half_glu1",
                "layer", "none"),
    "raven": (dict(num_slots=8), "half_glu1", "layer", "none"),
    "transformer": (dict(num_heads=4, causal=True, ffn_multiplier=2), "none",
                    "none", "sinusoidal"),
    "lstm": (dict(bidirectional=False), "half_glu1", "layer", "none"),
    "gru": (dict(bidirectional=False), "half_glu1", "layer", "none"),
}


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """A synthetic task. Args: task=..., layer=..., smoke (module doc).

  Raises:
    ValueError: an unknown task or layer.
  """
  arg = config_lib.parse_arg(arg, task="selective_copy", layer="s5",
                             smoke=False)
  if arg.task not in TASKS:
    raise ValueError(f"task must be one of {TASKS}, got {arg.task!r}.")
  if arg.layer not in zoo.layer_names():
    raise ValueError(f"layer must be a registered backbone layer, one of "
                     f"{list(zoo.layer_names())}, got {arg.layer!r}.")
  kwargs, glu, norm, positions = _LAYERS.get(
      arg.layer, ({}, "half_glu1", "layer", "none"))
  config = config_lib.base_config()
  config.seed = 0
  config.data.task = arg.task
  config.data.global_batch_size = 32
  config.data.options = zoo.task_options_config(arg.task)
  config.data.options.update(**_SPLITS, **_DATA[arg.task])
  config.model.update(
      layer=arg.layer, num_layers=2, width=64, norm=norm, prenorm=True,
      glu=glu, dropout=0.0,
      pooling="last" if arg.task == "adding" else "none",
      positions=positions)
  config.model.layer_kwargs = config_dict.ConfigDict(kwargs)
  config.optim.update(lr=3e-3, ssm_lr=1e-3, weight_decay=0.01,
                      warmup_steps=100, grad_clip=1.0)
  config.train.num_steps = 3000
  config.train.update(log_every=100, eval_every=500, ckpt_every=500)
  if arg.smoke:
    config.data.options.update(num_train=64, num_valid=16, num_test=16,
                               **_SMOKE_DATA[arg.task])
    config.data.global_batch_size = 8
    config.model.update(num_layers=1, width=16)
    config.optim.warmup_steps = 0
    config.train.num_steps = 2
    config.train.update(log_every=1, eval_every=2, ckpt_every=2, plot=False)
  return config_lib.finalize(config)
