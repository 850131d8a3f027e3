"""Helpers for `configs/*.py`: typed argument parsing, the base config, checks.

Config files are loaded by path (`config_flags.DEFINE_config_file`), so shared
helpers live here in the package rather than in `configs/`.

A config file is one function of one string argument:

  def get_config(arg=None):
    arg = config_lib.parse_arg(arg, task="listops", smoke=False, demo=False)
    config = config_lib.base_config()
    ...
    return config_lib.finalize(config)
"""

from collections.abc import Mapping
import dataclasses
import importlib.util
import math
import pathlib
from typing import Any

from ml_collections import config_dict


@dataclasses.dataclass(frozen=True)
class Arg:
  """Parsed config argument: attribute access to the typed values."""
  values: Mapping[str, Any]

  def __getattr__(self, name):
    try:
      return self.values[name]
    except KeyError:
      raise AttributeError(name) from None


def _convert(key: str, raw: str, default: Any) -> Any:
  if isinstance(default, bool):
    low = raw.lower()
    if low in ("1", "true", "yes", "on", ""):
      return True
    if low in ("0", "false", "no", "off"):
      return False
    raise ValueError(f"config arg {key!r} expects a bool, got {raw!r}.")
  if isinstance(default, int):
    try:
      return int(raw)
    except ValueError:
      raise ValueError(f"config arg {key!r} expects an int, got {raw!r}.") from None
  if isinstance(default, float):
    try:
      return float(raw)
    except ValueError:
      raise ValueError(
          f"config arg {key!r} expects a float, got {raw!r}.") from None
  return raw


def parse_arg(arg: str | None, **defaults) -> Arg:
  """Parses `"task=text,smoke"` into typed values (big_vision style).

  A bare word is a flag set to True (`smoke` == `smoke=True`); every key must
  be one of `defaults`, whose types decide the conversion.

  Args:
    arg: the string after the colon in `--config=file.py:ARG` (or None).
    **defaults: allowed keys with their default values.

  Returns:
    An `Arg` with every key of `defaults`.

  Raises:
    ValueError: an unknown key or a value of the wrong type.
  """
  values = dict(defaults)
  if arg:
    for item in arg.split(","):
      item = item.strip()
      if not item:
        continue
      key, sep, raw = item.partition("=")
      key = key.strip()
      if key not in defaults:
        raise ValueError(
            f"Unknown config argument {key!r}; expected one of "
            f"{sorted(defaults)}.")
      if not sep:
        if not isinstance(defaults[key], bool):
          raise ValueError(f"config arg {key!r} needs a value ({key}=...).")
        raw = "true"
      values[key] = _convert(key, raw.strip(), defaults[key])
  return Arg(values)


REQUIRED_SECTIONS = ("data", "model", "optim", "train", "precision")


def base_config() -> config_dict.ConfigDict:
  """The keys every training config has, with their defaults."""
  c = config_dict.ConfigDict()
  c.seed = 0
  c.data = config_dict.ConfigDict(dict(
      task="listops",
      root=config_dict.placeholder(str),
      cache_dir=config_dict.placeholder(str),
      global_batch_size=32,
      eval_batch_size=config_dict.placeholder(int),
      options=config_dict.ConfigDict(),
  ))
  c.model = config_dict.ConfigDict(dict(
      layer="s5",
      num_layers=2,
      width=64,
      layer_kwargs=config_dict.ConfigDict(),
      neuron=config_dict.ConfigDict(dict(kind="none")),
      quantize="none",
      # The model options (`spike_ssm.zoo.model_options()`: the encoder,
      # blocks and pooling around the layers) with their constructors'
      # defaults; this module may not import the zoo, so
      # tests/training/train_test.py checks the two agree.
      norm="layer",
      prenorm=True,
      glu="half_glu1",
      dropout=0.0,
      dropout_tied=False,
      bn_momentum=0.9,
      discard_postnorm=False,
      pooling="mean",
      positions="none",
      token_encoder="embed",
      onehot_dim=config_dict.placeholder(int),
  ))
  c.optim = config_dict.ConfigDict(dict(
      lr=1e-3,
      ssm_lr=1e-3,
      weight_decay=0.05,
      # Warmup: at most one of warmup_steps (> 0), warmup_epochs and
      # warmup_fraction (of schedule_steps); spike_ssm.training.optim.
      warmup_steps=0,
      warmup_epochs=config_dict.placeholder(float),
      warmup_fraction=config_dict.placeholder(float),
      # The cosine's length in steps (None: the run's length).
      schedule_steps=config_dict.placeholder(int),
      # warmup_cosine, or s5_released (S5's released step offsets).
      schedule="warmup_cosine",
      end_lr_ratio=0.0,
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      grad_clip=config_dict.placeholder(float),
      l2_penalty=0.0,
      # Which parameters train in which group (optim.GROUPINGS: standard,
      # BandCdecay, BfastandCdecay, null_dt, ssm_rate_c), with S5's
      # dt_global switch and the released codes' decay of norms, biases and
      # D (decay_vectors).
      grouping="standard",
      dt_global=False,
      decay_vectors=False,
  ))
  c.train = config_dict.ConfigDict(dict(
      num_steps=config_dict.placeholder(int),
      num_epochs=config_dict.placeholder(int),
      log_every=50,
      eval_every=500,
      ckpt_every=500,
      keep_checkpoints=2,
      max_nonfinite_in_a_row=10,
      progress_bar=True,
      plot=True,
  ))
  c.precision = config_dict.ConfigDict(dict(
      model="p=f32,c=f32,o=f32",
      ssm_core="p=f32,c=f32,o=f32",
      neuron="p=f32,c=f32,o=f32",
      loss_scale="none",
  ))
  return c


def validate(config: config_dict.ConfigDict) -> None:
  """Fails fast on a config that cannot train.

  Raises:
    ValueError: a missing section or key of `base_config()`, or a value out
      of range.
  """
  base = base_config()
  for section in REQUIRED_SECTIONS:
    if section not in config:
      raise ValueError(f"config is missing the section {section!r}.")
    missing = sorted(set(base[section].keys()) - set(config[section].keys()))
    if missing:
      raise ValueError(f"config.{section} is missing keys {missing}.")
  if "seed" not in config:
    raise ValueError("config is missing `seed`.")
  t = config.train
  if (t.num_steps is None) == (t.num_epochs is None):
    raise ValueError(
        "Set exactly one of config.train.num_steps and config.train.num_epochs"
        f" (got num_steps={t.num_steps}, num_epochs={t.num_epochs}).")
  for key in ("num_steps", "num_epochs"):
    value = t[key]
    if value is not None and value < 1:
      raise ValueError(f"config.train.{key} must be >= 1, got {value}.")
  for key in ("log_every", "eval_every", "ckpt_every", "keep_checkpoints",
              "max_nonfinite_in_a_row"):
    if t[key] < 1:
      raise ValueError(f"config.train.{key} must be >= 1, got {t[key]}.")
  if config.data.global_batch_size < 1:
    raise ValueError("config.data.global_batch_size must be >= 1, got "
                     f"{config.data.global_batch_size}.")
  if config.data.eval_batch_size is not None and (
      config.data.eval_batch_size < 1):
    raise ValueError("config.data.eval_batch_size must be >= 1 (or None for "
                     f"global_batch_size), got {config.data.eval_batch_size}.")
  o = config.optim
  # math.isfinite: `inf > 0` holds, and an infinite rate makes every
  # parameter NaN after one step.
  for key in ("lr", "ssm_lr"):
    if not (o[key] > 0 and math.isfinite(o[key])):
      raise ValueError(f"config.optim.{key} must be finite and > 0, got "
                       f"{o[key]}.")
  for key in ("weight_decay", "l2_penalty", "end_lr_ratio"):
    if not (o[key] >= 0 and math.isfinite(o[key])):
      raise ValueError(f"config.optim.{key} must be finite and >= 0, got "
                       f"{o[key]}.")
  for key in ("b1", "b2"):
    if not 0 <= o[key] < 1:
      raise ValueError(f"config.optim.{key} must be in [0, 1), got {o[key]}.")
  if not (o.eps > 0 and math.isfinite(o.eps)):
    raise ValueError(f"config.optim.eps must be finite and > 0, got {o.eps}.")
  if o.warmup_steps < 0:
    raise ValueError(
        f"config.optim.warmup_steps must be >= 0, got {o.warmup_steps}.")
  for key in ("warmup_epochs", "warmup_fraction"):
    if o[key] is not None and not (o[key] >= 0 and math.isfinite(o[key])):
      raise ValueError(f"config.optim.{key} must be finite and >= 0 (or None),"
                       f" got {o[key]}.")
  if o.warmup_fraction is not None and o.warmup_fraction > 1:
    raise ValueError("config.optim.warmup_fraction must be in [0, 1], got "
                     f"{o.warmup_fraction}.")
  given = [k for k, v in (("warmup_steps", o.warmup_steps or None),
                          ("warmup_epochs", o.warmup_epochs),
                          ("warmup_fraction", o.warmup_fraction))
           if v is not None]
  if len(given) > 1:
    raise ValueError(
        "Give at most one of config.optim.warmup_steps, warmup_epochs and "
        f"warmup_fraction (warmup_steps=0 and None count as not given), got "
        f"{given}.")
  if o.schedule_steps is not None and o.schedule_steps < 1:
    raise ValueError("config.optim.schedule_steps must be >= 1 (or None for "
                     f"the run's length), got {o.schedule_steps}.")
  for key in ("grouping", "schedule"):
    # The names themselves are checked where they are used
    # (spike_ssm.training.optim, which this module may not import).
    if not isinstance(o[key], str):
      raise ValueError(f"config.optim.{key} must be a name, got {o[key]!r}.")
  for key in ("dt_global", "decay_vectors"):
    if not isinstance(o[key], bool):
      raise ValueError(f"config.optim.{key} must be a bool, got {o[key]!r}.")
  if o.grad_clip is not None and not (o.grad_clip > 0 and
                                      math.isfinite(o.grad_clip)):
    raise ValueError(
        f"config.optim.grad_clip must be finite and > 0, got {o.grad_clip}.")
  if config.model.num_layers < 1 or config.model.width < 1:
    raise ValueError("config.model.num_layers and width must be >= 1.")
  if not 0.0 <= config.model.dropout < 1.0:
    raise ValueError(
        f"config.model.dropout must be in [0, 1), got {config.model.dropout}.")
  if config.model.quantize not in ("none", "int8", "ternary"):
    raise ValueError("config.model.quantize must be none|int8|ternary, got "
                     f"{config.model.quantize!r}.")
  if config.precision.loss_scale not in ("none", "dynamic", "static"):
    raise ValueError("config.precision.loss_scale must be none|dynamic|static,"
                     f" got {config.precision.loss_scale!r}.")


def finalize(config: config_dict.ConfigDict) -> config_dict.ConfigDict:
  """Validates and locks a config (a misspelled override then fails)."""
  validate(config)
  config.lock()
  return config


# ----------------------------------------------------------------------------
# Long Range Arena: what every configs/*_lra.py shares.
# ----------------------------------------------------------------------------

LRA_TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")

# Training-split sizes of the official LRA data (Tay et al. 2021) as the
# loaders build them (image: 45k of CIFAR-10's 50k, 5k held out;
# pathfinder / pathx: 80% of 200k), for epochs <-> steps conversions.
LRA_TRAIN_SIZES = {"listops": 96_000, "text": 25_000, "retrieval": 147_086,
                   "image": 45_000, "pathfinder": 160_000, "pathx": 160_000}

# Vocabulary sizes of our loaders' token tasks (`spike_ssm.data.listops.
# VOCAB_SIZE`, `spike_ssm.data.lra.BYTE_VOCAB_SIZE`; this module may not
# import them, tests/training/lra_configs_test.py checks they agree), for a
# released one-hot width (`released_model`). The pixel tasks are continuous.
LRA_VOCAB_SIZES = {"listops": 16, "text": 257, "retrieval": 257}


def parse_lra_arg(arg: str | None, **extra) -> Arg:
  """Parses an LRA config argument: `task=<LRA_TASKS>`, `demo`, `smoke`.

  Args:
    arg: the string after the colon.
    **extra: further keys a config accepts, with their defaults (e.g.
      `released=False` in configs/spiking_ssm_lra.py).

  Raises:
    ValueError: an unknown task or key, or both `demo` and `smoke`.
  """
  arg = parse_arg(arg, task="listops", demo=False, smoke=False, **extra)
  if arg.task not in LRA_TASKS:
    raise ValueError(f"task must be one of {LRA_TASKS}, got {arg.task!r}.")
  if arg.demo and arg.smoke:
    raise ValueError("Choose at most one of `demo` and `smoke`.")
  return arg


def lra_demo(config: config_dict.ConfigDict) -> None:
  """The demo preset of the LRA configs: a small generated ListOps.

  Sets the data (6000 training expressions of 20-100 tokens, depth <= 4),
  batch 32, a 3 x 64 model without dropout and a 2000-step schedule that
  learns visibly within minutes on 2 CPU cores. Each config then sizes its
  own layer (`layer_kwargs`), norm and learning rates.

  Raises:
    ValueError: if the task is not listops.
  """
  if config.data.task != "listops":
    raise ValueError("The demo preset is defined for task=listops only.")
  config.data.options.update(num_train=6000, num_valid=500, num_test=1000,
                             min_length=20, max_length=100, max_depth=4,
                             max_args=5)
  config.data.global_batch_size = 32
  config.model.update(num_layers=3, width=64, dropout=0.0)
  config.optim.update(weight_decay=0.01, warmup_steps=50, warmup_epochs=None,
                      warmup_fraction=None, schedule_steps=None)
  config.train.num_epochs = None
  config.train.num_steps = 2000
  config.train.update(log_every=100, eval_every=500, ckpt_every=500)


def lra_smoke(config: config_dict.ConfigDict) -> None:
  """The smoke preset of the LRA configs: tiny shapes, 2 steps (tests).

  Each config then shrinks its own layer (`layer_kwargs`).
  """
  if config.data.task == "listops":
    config.data.options.update(num_train=64, num_valid=16, num_test=16,
                               min_length=6, max_length=30, max_depth=3,
                               max_args=3)
  config.data.global_batch_size = 8
  config.model.update(num_layers=1, width=16, dropout=0.0)
  config.optim.update(warmup_steps=0, warmup_epochs=None,
                      warmup_fraction=None, schedule_steps=None)
  config.train.num_epochs = None
  config.train.num_steps = 2
  config.train.update(log_every=1, eval_every=2, ckpt_every=2, plot=False)


# Recurrent baselines (configs/lstm_lra.py, configs/gru_lra.py). These are
# our choices, not published settings: LRA has no RNN baseline. The batch
# size and the training length are the LRA Transformer's (so every baseline
# sees the same data); the block is the S5 configs' (pre-norm LayerNorm,
# half-GLU, masked-mean pooling) so the sequence layer is the only change;
# a 4 x 128 bidirectional RNN, AdamW at 1e-3 with 5% warmup and cosine
# decay, gradient clipping at 1 (recurrent gradients can explode), weight
# decay 0.01, dropout 0.1 (0 on ListOps, as S5). Pixels are continuous
# inputs, as for S5.
_RNN_BUDGET = {"listops": dict(batch=32, steps=5_000),
               "text": dict(batch=32, steps=20_000),
               "retrieval": dict(batch=32, steps=5_000),
               "image": dict(batch=256, epochs=200),
               "pathfinder": dict(batch=512, epochs=200),
               "pathx": dict(batch=64, epochs=200)}


def recurrent_lra_config(
    layer: str, arg: Arg, *, task_options: config_dict.ConfigDict,
    layer_kwargs: config_dict.ConfigDict) -> config_dict.ConfigDict:
  """An LSTM / GRU baseline on an LRA task (see `_RNN_BUDGET`'s comment).

  Args:
    layer: the zoo's recurrent layer, "lstm" or "gru".
    arg: the parsed LRA argument (`parse_lra_arg`).
    task_options: `zoo.task_options_config(arg.task)`.
    layer_kwargs: the layer's options (`zoo.layer_options_config`).

  Returns:
    The finalized (validated, locked) config.
  """
  if layer not in ("lstm", "gru"):
    raise ValueError(f"layer must be 'lstm' or 'gru', got {layer!r}.")
  budget = _RNN_BUDGET[arg.task]
  config = base_config()
  config.seed = 0
  config.data.task = arg.task
  config.data.global_batch_size = budget["batch"]
  config.data.options = task_options
  config.model.update(
      layer=layer, num_layers=4, width=128, norm="layer", prenorm=True,
      glu="half_glu1", dropout=0.0 if arg.task == "listops" else 0.1,
      pooling="masked_mean", positions="none")
  config.model.layer_kwargs = layer_kwargs
  steps_per_epoch = LRA_TRAIN_SIZES[arg.task] // budget["batch"]
  if "steps" in budget:
    total = budget["steps"]
    config.train.num_steps = total
    every = total // 10
  else:
    total = budget["epochs"] * steps_per_epoch
    config.train.num_epochs = budget["epochs"]
    every = steps_per_epoch
  config.optim.update(lr=1e-3, ssm_lr=1e-3, weight_decay=0.01,
                      warmup_steps=total // 20, grad_clip=1.0)
  config.train.update(log_every=100, eval_every=every, ckpt_every=every)
  if arg.demo:
    lra_demo(config)
    config.optim.update(lr=3e-3, ssm_lr=3e-3)
  if arg.smoke:
    lra_smoke(config)
  return finalize(config)


# SSM baselines with a per-task hyperparameter table (configs/s4d_lra.py,
# s4_lra.py, lru_lra.py, mamba_lra.py): the keys every such table row has.
LRA_TABLE_KEYS = ("num_layers", "width", "norm", "prenorm", "glu", "dropout",
                  "batch", "epochs", "lr", "ssm_lr", "weight_decay",
                  "warmup_epochs")


def lra_table_config(arg: Arg, layer: str,
                     row: Mapping[str, Any],
                     pooling: str = "mean", *,
                     task_options: config_dict.ConfigDict
                     ) -> config_dict.ConfigDict:
  """An unlocked LRA config from one row of a per-task hyperparameter table.

  Sets data (task, batch, task options), the backbone block (depth, width,
  norm, pre/post-norm, GLU, dropout, pooling), AdamW (lr for the rest,
  ssm_lr and no weight decay for the SSM dynamics, one of
  `warmup_epochs` of linear warmup then cosine decay) and an epoch budget
  with one evaluation and checkpoint per epoch. The caller sets
  `model.layer_kwargs`, applies `lra_demo` / `lra_smoke` and finalizes.

  Args:
    arg: the parsed LRA argument (`parse_lra_arg`).
    layer: the zoo's sequence layer.
    row: the task's hyperparameters, with every key of `LRA_TABLE_KEYS`.
    pooling: the backbone's pooling.
    task_options: `zoo.task_options_config(arg.task)`.

  Raises:
    ValueError: a row missing keys of `LRA_TABLE_KEYS`.
  """
  missing = sorted(set(LRA_TABLE_KEYS) - set(row))
  if missing:
    raise ValueError(f"row for task {arg.task!r} is missing keys {missing}.")
  config = base_config()
  config.seed = 0
  config.data.task = arg.task
  config.data.global_batch_size = row["batch"]
  config.data.options = task_options
  config.model.update(
      layer=layer, num_layers=row["num_layers"], width=row["width"],
      norm=row["norm"], prenorm=row["prenorm"], glu=row["glu"],
      dropout=row["dropout"], pooling=pooling, positions="none")
  steps_per_epoch = LRA_TRAIN_SIZES[arg.task] // row["batch"]
  config.optim.update(
      lr=row["lr"], ssm_lr=row["ssm_lr"], weight_decay=row["weight_decay"],
      warmup_steps=row["warmup_epochs"] * steps_per_epoch)
  config.train.num_epochs = row["epochs"]
  config.train.update(log_every=100, eval_every=steps_per_epoch,
                      ckpt_every=steps_per_epoch)
  return config


# ----------------------------------------------------------------------------
# Released recipes (configs/tables): what a faithful config reads.
# ----------------------------------------------------------------------------


def load_table(config_file: str, paper: str) -> Any:
  """`configs/tables/<paper>.py` beside `config_file`, loaded by path.

  Config files are loaded by path, so `configs` need not be importable; the
  table modules are plain data.

  Args:
    config_file: the calling config's `__file__`.
    paper: a table module name (`configs.tables.PAPERS`).

  Raises:
    ValueError: no such table file.
  """
  path = pathlib.Path(config_file).resolve().parent / "tables" / f"{paper}.py"
  if not path.is_file():
    raise ValueError(f"No released-recipe table {paper!r} at {path}.")
  spec = importlib.util.spec_from_file_location(f"_released_{paper}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def released_grouping(row: Mapping[str, Any]) -> str:
  """The optimiser grouping of an S4-family row, from its `param_groups`.

  A group of its own for the step (`dt`: S4D's `lr.dt: null`) is
  `null_dt`; C at the SSM rate (`c`: a float layer rate) is `ssm_rate_c`;
  otherwise (S4 v1, SpikingSSM with fixed B) `standard`.
  """
  groups = row["param_groups"]
  if "dt" in groups:
    return "null_dt"
  if "c" in groups:
    return "ssm_rate_c"
  return "standard"


def released_optim(row: Mapping[str, Any], *, grouping: str,
                   dt_global: bool = False) -> dict[str, Any]:
  """`config.optim` values of a released-recipe table row.

  Reads `lr`, `ssm_lr`, `weight_decay`, `b1`, `b2`, `eps`, `grad_clip`,
  `min_lr` (as `end_lr_ratio`), the warmup in its `warmup_unit` and
  `schedule_steps` (None: the run's length).

  Args:
    row: `TASKS[task]` of a table module.
    grouping: the optimiser grouping of the released run
      (`spike_ssm.training.optim.GROUPINGS`).
    dt_global: S5's `--dt_global`.

  Raises:
    ValueError: an unknown `warmup_unit`.
  """
  unit = row["warmup_unit"]
  warmup = row.get("warmup", 0) or 0
  out = dict(lr=row["lr"], ssm_lr=row["ssm_lr"],
             weight_decay=row["weight_decay"], b1=row["b1"], b2=row["b2"],
             eps=row["eps"], grad_clip=row["grad_clip"],
             end_lr_ratio=row["min_lr"] / row["lr"], grouping=grouping,
             dt_global=dt_global, warmup_steps=0, warmup_epochs=None,
             warmup_fraction=None, schedule_steps=row.get("schedule_steps"))
  if unit == "steps":
    out["warmup_steps"] = int(warmup)
  elif unit == "epochs":
    out["warmup_epochs"] = float(warmup)
  elif unit == "fraction":
    out["warmup_fraction"] = float(warmup)
  else:
    raise ValueError(f"row warmup_unit must be steps|epochs|fraction, got "
                     f"{unit!r}.")
  return out


# A table's `pooling` -> `model.pooling`. Our "last" is the last *valid*
# position, so it is both the release's "last_valid" (S4 v1 Text) and its
# "last" step (Pathfinder, unpadded). "cls" (the LRA Transformer) has no
# counterpart: `released_model` leaves the pooling to the caller.
RELEASED_POOLINGS = {"mean": "mean", "masked_mean": "masked_mean",
                     "last": "last", "last_valid": "last"}


def released_model(row: Mapping[str, Any], *,
                   vocab_size: int | None = None) -> dict[str, Any]:
  """`config.model` options of a released-recipe table row.

  Reads the row's `token_encoder` ("onehot_dense" -> `token_encoder=
  "onehot_dense"` with `onehot_dim` = its `encoder_vocab`; "embedding" ->
  "embed"; "dense" is a linear encoder of continuous inputs, which every
  config gets, so "embed" is kept for token inputs), `pooling`
  (`RELEASED_POOLINGS`), `dropout_tied` and `bn_momentum`. A key the row
  does not have (or has as None) is not returned, so the caller's default
  stays.

  Args:
    row: `TASKS[task]` of a table module.
    vocab_size: the vocabulary of our loader for the task (None: not a
      token task). A released one-hot width narrower than it cannot be
      used (every id needs a slot); `onehot_dim` is then None, i.e. our
      vocabulary (the caller's docstring says so).

  Returns:
    A dict of `zoo.model_options()` keys.
  """
  out = {}
  encoder = row.get("token_encoder")
  if encoder is not None:
    onehot = encoder == "onehot_dense"
    out["token_encoder"] = "onehot_dense" if onehot else "embed"
    width = row.get("encoder_vocab") if onehot else None
    if width is not None and vocab_size is not None and width < vocab_size:
      width = None
    out["onehot_dim"] = width
  if row.get("pooling") in RELEASED_POOLINGS:
    out["pooling"] = RELEASED_POOLINGS[row["pooling"]]
  for key in ("dropout_tied", "bn_momentum"):
    if row.get(key) is not None:
      out[key] = row[key]
  return out
