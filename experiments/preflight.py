"""Checks of a training config that run before any data is loaded.

A run should not load (or generate) its data, trace its model and compile
its step only to fail on a misspelled name or a zero size. `check` tests
every name (layer, norm, GLU, pooling, positions, token encoder, neuron
kind, quantize, task, task options, precision policies), the model options
(`zoo.model_options()`), every batch size against the device and process
counts, and the layer's and neuron's own arguments (by
constructing them, which runs their checks, without data or compilation).
The few things that need the data are checked right after it is loaded
(`check_splits`) and before the first step (`check_schedules`).

Every failure is a `ValueError` or `TypeError` whose one-line message names
the config key.
"""

from collections.abc import Callable, Iterable, Mapping
import numbers
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import ml_collections
import numpy as np

from spike_ssm import data as data_lib
from spike_ssm import zoo
from spike_ssm.data import listops
from spike_ssm.layers import quant as quant_layers
from spike_ssm.models import backbone
from spike_ssm.training import optim

PRECISION_KEYS = ("model", "ssm_core", "neuron")
LOSS_SCALES = ("none", "dynamic", "static")


def check(config: ml_collections.ConfigDict, *,
          device_count: int | None = None,
          process_count: int | None = None) -> None:
  """Checks names, sizes and module arguments of `config` (no data).

  Args:
    config: a training config that passed `config_lib.validate`.
    device_count: devices of the data mesh (default: all devices).
    process_count: processes of the run (default: `jax.process_count()`).

  Raises:
    ValueError, TypeError: the first problem, naming its config key.
  """
  _check_data(config)
  _check_precision(config)
  _check_batch_sizes(
      config,
      jax.device_count() if device_count is None else device_count,
      jax.process_count() if process_count is None else process_count)
  _check_model(config)
  optim.config_groups(config.optim)  # config.optim.grouping and switches.


def _one_of(key: str, value: Any, allowed: Iterable[str]) -> None:
  allowed = tuple(allowed)
  if not isinstance(value, str) or value not in allowed:
    raise ValueError(f"config.{key} must be one of {list(allowed)}, got "
                     f"{value!r}.")


def _check_data(config) -> None:
  _one_of("data.task", config.data.task, zoo.task_names())
  valid = zoo.task_options(config.data.task)
  unknown = sorted(set(config.data.options.keys()) - set(valid))
  if unknown:
    raise ValueError(
        f"config.data.options has {unknown}, which task "
        f"{config.data.task!r} does not take; its options are "
        f"{sorted(valid)}.")


def _check_precision(config) -> None:
  for key in PRECISION_KEYS:
    value = config.precision[key]
    try:
      jmp.get_policy(value)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
      raise ValueError(
          f"config.precision.{key}={value!r} is not a jmp policy such as "
          f"'p=f32,c=bf16,o=f32' ({e}).") from None
  _one_of("precision.loss_scale", config.precision.loss_scale, LOSS_SCALES)


def _check_batch_sizes(config, devices: int, processes: int) -> None:
  for key in ("global_batch_size", "eval_batch_size"):
    value = config.data[key]
    if value is None:
      continue  # eval_batch_size defaults to global_batch_size.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"config.data.{key} must be an int >= 1, got "
                       f"{value!r}.")
    if value % devices:
      raise ValueError(
          f"config.data.{key}={value} must be divisible by the number of "
          f"devices ({devices}) of the data mesh.")
    if value % processes:
      raise ValueError(
          f"config.data.{key}={value} must be divisible by the number of "
          f"processes ({processes}).")


def _check_model(config) -> None:
  m = config.model
  _one_of("model.layer", m.layer, zoo.layer_names())
  _one_of("model.norm", m.norm, backbone.NORMS)
  _one_of("model.glu", m.glu, backbone.GLUS)
  _one_of("model.pooling", m.pooling, backbone.POOLINGS)
  _one_of("model.positions", m.positions, backbone.POSITIONS)
  _one_of("model.quantize", m.quantize, quant_layers.QUANTIZE_OPTIONS)
  _check_model_options(m)
  neuron = m.neuron.to_dict()
  kind = neuron.pop("kind", "none")
  _one_of("model.neuron.kind", kind, zoo.neuron_names())
  layer_kwargs = m.layer_kwargs.to_dict()
  # The zoo checks option names; modules check their own values when
  # constructed: building them inside a transform runs those checks with no
  # data and nothing to compile.
  _as_config_error("model.layer_kwargs", lambda: hk.transform(
      lambda: zoo.layer_factory(m.layer, **layer_kwargs)()).init(None))
  if kind != "none":
    factory = _as_config_error(
        "model.neuron", lambda: zoo.neuron_factory(kind, **neuron))
    stage = hk.transform_with_state(lambda x, mask: backbone.SpikingStage(
        factory, m.width)(x, mask))
    x = jax.ShapeDtypeStruct((1, 2, m.width), jnp.float32)
    mask = jax.ShapeDtypeStruct((1, 2), jnp.bool_)
    _as_config_error("model.neuron", lambda: jax.eval_shape(
        stage.init, jax.random.PRNGKey(0), x, mask))


def _check_model_options(m) -> None:
  """The encoder / block options of `zoo.model_options()` (one line each)."""
  _one_of("model.token_encoder", m.token_encoder, backbone.TOKEN_ENCODERS)
  onehot_dim = m.onehot_dim
  if onehot_dim is not None:
    if (isinstance(onehot_dim, bool) or not isinstance(onehot_dim, int)
        or onehot_dim < 1):
      raise ValueError("config.model.onehot_dim must be None (the task's "
                       f"vocabulary) or an int >= 1, got {onehot_dim!r}.")
    if m.token_encoder != "onehot_dense":
      raise ValueError(
          f"config.model.onehot_dim={onehot_dim} is the one-hot width of "
          "token_encoder='onehot_dense', but config.model.token_encoder is "
          f"{m.token_encoder!r}.")
  for key in ("prenorm", "dropout_tied", "discard_postnorm"):
    if not isinstance(m[key], bool):
      raise TypeError(f"config.model.{key} must be a bool, got {m[key]!r}.")
  value = m.bn_momentum
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0.0 <= value < 1.0):
    raise ValueError("config.model.bn_momentum must be a number in [0, 1) "
                     f"(Flax convention: PyTorch's momentum 0.1 is 0.9), got "
                     f"{value!r}.")
  # Names: every key of the zoo's model options, nothing else.
  _as_config_error("model", lambda: zoo.model_kwargs(
      **{k: m[k] for k in zoo.model_options()}))


def _as_config_error(key: str, fn: Callable[[], Any]) -> Any:
  try:
    return fn()
  except (ValueError, TypeError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    raise type(e)(f"config.{key}: {first}") from None


def data_options(config: ml_collections.ConfigDict
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
  """The task options to load with, and those dropped because of data.root.

  The LRA presets (`:smoke`, `:demo`) size the ListOps generator through
  `data.options`; with `data.root` set the official files are read instead
  and fix those values, and a locked config cannot set them back to None
  from the command line. So with a root, the generator-only options are
  dropped (the caller says so in one line) instead of conflicting.

  Returns:
    (options for `zoo.get_task`, {dropped option: value}).
  """
  options = config.data.options.to_dict()
  dropped = {}
  if config.data.root is not None and config.data.task == "listops":
    for key in listops.LRA_DEFAULTS:
      if options.get(key) is not None:
        dropped[key] = options.pop(key)
  return options, dropped


def check_splits(task: data_lib.Task,
                 config: ml_collections.ConfigDict) -> None:
  """Every split has examples and training has a full global batch.

  Raises:
    ValueError: an empty split, or fewer training examples than
      `data.global_batch_size`.
  """
  for name, split in (("train", task.train), ("validation", task.validation),
                      ("test", task.test)):
    if len(split) == 0:
      raise ValueError(
          f"The {name} split of task {config.data.task!r} is empty "
          f"(config.data.options: {_show(config.data.options.to_dict())}); "
          "training and evaluation need at least one example in each.")
  n = len(task.train)
  if n < config.data.global_batch_size:
    raise ValueError(
        f"The training split has {n} examples, fewer than "
        f"config.data.global_batch_size={config.data.global_batch_size}.")


def _show(options: Mapping[str, Any]) -> str:
  shown = {k: v for k, v in options.items() if v is not None}
  return ", ".join(f"{k}={v!r}" for k, v in sorted(shown.items())) or "none"


def check_schedules(config: ml_collections.ConfigDict, total_steps: int,
                    steps_per_epoch: int | None = None) -> None:
  """Both learning-rate schedules are finite and >= 0 at every step.

  Args:
    config: the training config.
    total_steps: the run's length in steps.
    steps_per_epoch: steps of one epoch (for `optim.warmup_epochs`).

  Raises:
    ValueError: naming the schedule, the first bad step and its value, or
      a bad warmup / schedule key.
  """
  o = config.optim
  steps = jnp.arange(total_steps + 1)
  fns = optim.schedules(o, total_steps, steps_per_epoch)
  warmup = optim.resolve_warmup(o, optim.schedule_length(o, total_steps),
                                steps_per_epoch)
  for key in ("lr", "ssm_lr"):
    values = np.asarray(jax.device_get(fns[key](steps)))
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
      s = int(bad[0])
      raise ValueError(
          f"The learning-rate schedule of config.optim.{key} is "
          f"{values[s]} at step {s} (it must be finite and >= 0): check "
          f"optim.{key}={o[key]}, warmup ({warmup} steps) and "
          f"end_lr_ratio={o.end_lr_ratio}.")
