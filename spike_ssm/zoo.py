"""The zoo: every sequence layer, neuron and task a config can name.

The one explicit table from names to code, at the top of the import graph:
it imports the classes and task builders directly, and nothing in
`spike_ssm` imports it (configs and `experiments` do). Options are typed by
the callee's own signature, read once here (`typing.get_type_hints` and the
defaults), so a config's placeholders get their types from the code they
configure, and an unknown name or option fails with the valid ones listed.

  LAYERS   name -> how to build a backbone layer `(B, T, D) -> (B, T, D)`
  NEURONS  name -> the neuron class of a backbone's spiking stage
  TASKS    name -> the task builder (`spike_ssm.data`)
  MODEL_OPTIONS  the options of the model around the layers (encoder,
           blocks, pooling: `SequenceModel`, `SequenceBackbone`), i.e. the
           keys of a config's `model` section besides `layer`,
           `layer_kwargs`, `neuron`, `num_layers`, `width`, `quantize`

A layer is built in two steps: `layer_factory(name, **options)` checks the
name and options now and returns a factory; calling the factory inside a
Haiku transform builds the module (`SequenceBackbone` and `ChunkedSSM` take
factories).
"""

from collections.abc import Callable, Mapping
import dataclasses
import functools
import inspect
import os
import types
import typing
from typing import Any

import haiku as hk
from ml_collections import config_dict
import numpy as np

from spike_ssm import data
from spike_ssm import layers
from spike_ssm import neurons
from spike_ssm import ssm
from spike_ssm.experimental import raven
from spike_ssm.models import backbone

LayerFactory = Callable[[], hk.Module]
NeuronFactory = Callable[[int], neurons.SpikingCore]

_SIMPLE_TYPES = (bool, int, float, str)


# ----------------------------------------------------------------------------
# Typed options, read from signatures.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Option:
  """One keyword a layer, neuron or task builder accepts.

  Attributes:
    name: the keyword.
    type: its annotation without `None` (e.g. `int` for `int | None`).
    default: the default value, or `Option.REQUIRED`.
    optional: whether None is a valid value.
  """
  REQUIRED: typing.ClassVar[object] = object()

  name: str
  type: Any
  default: Any
  optional: bool

  @property
  def simple_type(self) -> type | None:
    """`bool`, `int`, `float` or `str` when the type is one of them."""
    return self.type if self.type in _SIMPLE_TYPES else None


def _split_optional(annotation) -> tuple[Any, bool]:
  """`(annotation without None, whether None was in it)`."""
  if typing.get_origin(annotation) in (typing.Union, types.UnionType):
    args = typing.get_args(annotation)
    rest = tuple(a for a in args if a is not type(None))
    optional = len(rest) < len(args)
    return (rest[0] if len(rest) == 1 else typing.Union[rest]), optional
  return annotation, False


def _read_options(fn: Callable[..., Any], skip: tuple[str, ...] = ()
                  ) -> dict[str, Option]:
  """The keyword options of `fn` (a function or a class), in order.

  A `**kwargs` parameter forwards to the parent class's constructor, whose
  options are read in turn (LoongSpike -> SpikingSSM).
  """
  init = fn.__init__ if isinstance(fn, type) else fn
  hints = typing.get_type_hints(init)
  options = {}
  forwards = False
  for param in list(inspect.signature(init).parameters.values()):
    if param.name in ("self", "name", *skip):
      continue
    if param.kind == param.VAR_KEYWORD:
      forwards = True
      continue
    if param.kind == param.VAR_POSITIONAL:
      continue
    if param.name not in hints:
      raise TypeError(
          f"zoo: {fn.__qualname__}'s option `{param.name}` has no type "
          "annotation; the zoo reads every option's type from it.")
    typ, optional = _split_optional(hints[param.name])
    default = (Option.REQUIRED if param.default is param.empty
               else param.default)
    options[param.name] = Option(param.name, typ, default,
                                 optional or default is None)
  if forwards and isinstance(fn, type):
    for key, option in _read_options(fn.__mro__[1], skip).items():
      options.setdefault(key, option)
  return options


def _check_names(what: str, options: Mapping[str, Option],
                 values: Mapping[str, Any], *, complete: bool = True) -> None:
  """Unknown keywords and (when `complete`) missing required ones.

  Values are checked by the code they configure (its constructor or
  builder), in one place.
  """
  unknown = sorted(set(values) - set(options))
  if unknown:
    raise ValueError(
        f"Unknown option(s) {unknown} for {what}; valid options are "
        f"{sorted(options)}.")
  missing = sorted(k for k, o in options.items()
                   if o.default is Option.REQUIRED and k not in values)
  if complete and missing:
    raise ValueError(f"{what} needs the option(s) {missing}.")


def _options_config(what: str, options: Mapping[str, Option],
                    values: Mapping[str, Any]) -> config_dict.ConfigDict:
  """`values` as a ConfigDict; None becomes a placeholder of its type."""
  out = config_dict.ConfigDict()
  for key, value in values.items():
    if value is None:
      typ = options[key].simple_type
      if typ is None:
        raise TypeError(
            f"Option `{key}` of {what} has type {options[key].type}, not one "
            "a config placeholder can hold; give it a value.")
      out[key] = config_dict.placeholder(typ)
    elif isinstance(value, Mapping):
      out[key] = config_dict.ConfigDict(dict(value))
    else:
      out[key] = value
  return out


# ----------------------------------------------------------------------------
# Sequence layers.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layer:
  """How the zoo builds one backbone layer.

  Attributes:
    cls: the module class the factory builds.
    defaults: options the zoo sets unless a config does (e.g. the spiking
      layers record their spike rate in a backbone).
    make: for composite layers, `(**options) -> LayerFactory`, typed by its
      own signature; None builds `cls(**options)`.
  """
  cls: type[hk.Module]
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  make: Callable[..., LayerFactory] | None = None

  @functools.cached_property
  def options(self) -> dict[str, Option]:
    options = _read_options(self.make or self.cls)
    for key, value in self.defaults.items():
      options[key] = dataclasses.replace(options[key], default=value)
    return options


def _chunked(inner: str, outer: str, *, chunk_size: int, pool: str = "mean",
             pad: bool = False, inner_kwargs: dict[str, Any] | None = None,
             outer_kwargs: dict[str, Any] | None = None) -> LayerFactory:
  """`ssm.ChunkedSSM` over two zoo layers, each with its options."""
  def sub(role, layer, kwargs):
    try:
      return layer_factory(layer, **dict(kwargs or {}))
    except (ValueError, TypeError) as e:
      raise type(e)(f"chunked: `{role}` / `{role}_kwargs`: {e}") from None
  return functools.partial(ssm.ChunkedSSM, sub("inner", inner, inner_kwargs),
                           sub("outer", outer, outer_kwargs),
                           chunk_size=chunk_size, pool=pool, pad=pad)


_RECORD_RATE = {"record_rate": True}

LAYERS: Mapping[str, Layer] = types.MappingProxyType({
    "s5": Layer(ssm.S5),
    "lru": Layer(ssm.LRU),
    "s4d": Layer(ssm.S4D),
    "s4": Layer(ssm.S4),
    "mamba": Layer(ssm.MambaBlock),
    "mamba_core": Layer(ssm.Mamba),
    "spiking_ssm": Layer(ssm.SpikingSSM, _RECORD_RATE),
    "loongspike": Layer(ssm.LoongSpike, _RECORD_RATE),
    "chunked": Layer(ssm.ChunkedSSM, make=_chunked),
    "raven": Layer(raven.RavenRSM),
    "transformer": Layer(layers.TransformerLayer),
    "lstm": Layer(layers.LSTMLayer),
    "gru": Layer(layers.GRULayer),
    "dense": Layer(layers.Dense),
})


def layer_names() -> tuple[str, ...]:
  """The names a config may use as `model.layer`."""
  return tuple(sorted(LAYERS))


def _layer(name: str) -> Layer:
  if not isinstance(name, str) or name not in LAYERS:
    raise ValueError(f"Unknown sequence layer {name!r}; the zoo's layers are "
                     f"{list(layer_names())}.")
  return LAYERS[name]


def layer_class(name: str) -> type[hk.Module]:
  """The module class the layer `name` builds."""
  return _layer(name).cls


def layer_options(name: str) -> dict[str, Option]:
  """The typed options of layer `name`, with the zoo's defaults."""
  return dict(_layer(name).options)


def layer_factory(name: str, **options) -> LayerFactory:
  """A factory of layer `name` with `options`, checked now.

  Args:
    name: one of `layer_names()`.
    **options: the layer's options (`layer_options(name)`), e.g. a config's
      `model.layer_kwargs`.

  Returns:
    A callable of no arguments that builds the module (inside a transform).

  Raises:
    ValueError: an unknown name or option, or a missing required option.
  """
  entry = _layer(name)
  values = {**entry.defaults, **options}
  _check_names(f"layer {name!r}", entry.options, values)
  if entry.make is not None:
    return entry.make(**values)
  return functools.partial(entry.cls, **values)


def layer_options_config(name: str, **values) -> config_dict.ConfigDict:
  """`model.layer_kwargs` for layer `name`; None values become placeholders.

  A placeholder takes the option's type from the layer's signature, so a
  locked config accepts `--config.model.layer_kwargs.hidden_size=256` but
  not a string there.
  """
  options = layer_options(name)
  _check_names(f"layer {name!r}", options, values, complete=False)
  return _options_config(f"layer {name!r}", options, values)


# ----------------------------------------------------------------------------
# Neurons of a backbone's spiking stage.
# ----------------------------------------------------------------------------

NEURONS: Mapping[str, type[neurons.SpikingCore]] = types.MappingProxyType({
    "lif": neurons.LIF,
    "psu_lif": neurons.PSU_LIF,
})


def neuron_names() -> tuple[str, ...]:
  """The names a config may use as `model.neuron.kind` ("none": no stage)."""
  return ("none", *sorted(NEURONS))


def neuron_factory(kind: str = "none", **options) -> NeuronFactory | None:
  """A factory `width -> neuron` for `kind`, or None for "none".

  Raises:
    ValueError: an unknown kind or option.
  """
  if kind == "none":
    if options:
      raise ValueError(f"Neuron kind 'none' takes no options, got "
                       f"{sorted(options)}.")
    return None
  if not isinstance(kind, str) or kind not in NEURONS:
    raise ValueError(f"Unknown neuron kind {kind!r}; the zoo's neurons are "
                     f"{list(neuron_names())}.")
  cls = NEURONS[kind]
  _check_names(f"neuron {kind!r}",
                 _read_options(cls, skip=("hidden_shape",)), options)
  return functools.partial(cls, **options)


# ----------------------------------------------------------------------------
# Model options: the encoder, blocks and pooling around the layers.
# ----------------------------------------------------------------------------

# Arguments of SequenceModel / SequenceBackbone that come from the task
# (`TaskSpec`), from other config keys or from the zoo's factories, so they
# are not model options here.
_MODEL_FROM_ELSEWHERE = ("num_classes", "input_kind", "vocab_size",
                         "target_kind", "dual", "max_len", "backbone",
                         "quantize")
_BACKBONE_FROM_ELSEWHERE = ("layer", "num_layers", "width", "neuron",
                            "quantize")


@dataclasses.dataclass(frozen=True)
class ModelOption:
  """One option of the model around the layers.

  Attributes:
    option: its name, type and default (read from the constructor).
    target: "model" (`SequenceModel`) or "backbone" (`SequenceBackbone`),
      the constructor that takes it.
  """
  option: Option
  target: str


def _model_options() -> dict[str, ModelOption]:
  out = {}
  for target, cls, skip in (
      ("model", backbone.SequenceModel, _MODEL_FROM_ELSEWHERE),
      ("backbone", backbone.SequenceBackbone, _BACKBONE_FROM_ELSEWHERE)):
    for key, option in _read_options(cls, skip).items():
      if key in out:
        raise TypeError(f"zoo: model option `{key}` is an argument of both "
                        "SequenceModel and SequenceBackbone.")
      out[key] = ModelOption(option, target)
  return out


# Read once: e.g. `pooling`, `token_encoder`, `onehot_dim` (SequenceModel);
# `norm`, `prenorm`, `glu`, `dropout`, `dropout_tied`, `bn_momentum`,
# `discard_postnorm` (SequenceBackbone).
MODEL_OPTIONS: Mapping[str, ModelOption] = types.MappingProxyType(
    _model_options())


def model_options() -> dict[str, Option]:
  """The typed model options (`MODEL_OPTIONS`) with their defaults."""
  return {k: v.option for k, v in MODEL_OPTIONS.items()}


def model_kwargs(**values) -> tuple[dict[str, Any], dict[str, Any]]:
  """Splits model options into `SequenceModel` and `SequenceBackbone` kwargs.

  Args:
    **values: model options by name (`model_options()`), e.g. the matching
      keys of a config's `model` section; omitted ones keep their defaults
      (the constructors').

  Returns:
    `(model_kwargs, backbone_kwargs)`: the given options, each for the
    constructor that takes it.

  Raises:
    ValueError: an unknown option (the message lists the valid ones).
  """
  _check_names("the model", model_options(), values)
  split = {"model": {}, "backbone": {}}
  for key, value in values.items():
    split[MODEL_OPTIONS[key].target][key] = value
  return split["model"], split["backbone"]


def model_options_config(**values) -> config_dict.ConfigDict:
  """Every model option with its default (overridden by `values`).

  Options whose default is None (e.g. `onehot_dim`) become typed
  placeholders, so a locked config accepts
  `--config.model.onehot_dim=20` but not a string there.

  Raises:
    ValueError: an unknown option in `values`.
  """
  options = model_options()
  _check_names("the model", options, values)
  return _options_config(
      "the model", options,
      {k: values.get(k, o.default) for k, o in options.items()})


# ----------------------------------------------------------------------------
# Tasks.
# ----------------------------------------------------------------------------

TASKS: Mapping[str, Callable[..., data.Task]] = types.MappingProxyType({
    "listops": data.listops.build_listops,
    "text": data.lra.build_text,
    "retrieval": data.lra.build_retrieval,
    "image": data.lra.build_image,
    "pathfinder": data.lra.build_pathfinder,
    "pathx": data.lra.build_pathx,
    "digits": data.digits.build_digits,
    "mqar": data.synthetic.build_mqar,
    "selective_copy": data.synthetic.build_selective_copy,
    "induction_heads": data.synthetic.build_induction_heads,
    "adding": data.synthetic.build_adding,
    "mnist1d": data.mnist1d.build_mnist1d,
    "smnist": data.seq_image.build_smnist,
    "psmnist": data.seq_image.build_psmnist,
    "scifar": data.seq_image.build_scifar,
    "shd": data.shd.build_shd,
})
# Every builder takes these; `get_task` passes them, configs do not.
_COMMON_TASK_ARGS = ("root", "cache_dir", "seed")


def task_names() -> tuple[str, ...]:
  """The names a config may use as `data.task`."""
  return tuple(TASKS)


def _builder(name: str) -> Callable[..., data.Task]:
  if not isinstance(name, str) or name not in TASKS:
    raise ValueError(f"Unknown task name={name!r}; expected one of "
                     f"{list(task_names())}.")
  return TASKS[name]


def task_options(name: str) -> dict[str, Option]:
  """The typed options of task `name` (`root`, `cache_dir`, `seed` aside)."""
  return _read_options(_builder(name), skip=_COMMON_TASK_ARGS)


def task_options_config(name: str) -> config_dict.ConfigDict:
  """Every option of task `name` with its default, as a ConfigDict.

  Options whose default is None become typed placeholders, so a locked
  config still accepts `--config.data.options.num_train=1000` while a
  misspelled option fails.
  """
  options = task_options(name)
  return _options_config(f"task {name!r}", options,
                         {k: o.default for k, o in options.items()})


def get_task(name: str, *, root: data.base.Path | None = None,
             cache_dir: data.base.Path | None = None, seed: int = 0,
             **options) -> data.Task:
  """Builds (generates or loads) the task called `name`.

  Tasks: listops (generated, or the official TSVs under `root`), text,
  retrieval, image, pathfinder, pathx (official LRA files under `root`),
  digits (scikit-learn's bundled digits), mqar, selective_copy,
  induction_heads, adding, mnist1d (generated), smnist, psmnist, scifar
  (MNIST / CIFAR-10 files under `root`), shd (SHD HDF5 files under
  `root`). Each builder's docstring explains its options.

  Args:
    name: one of `task_names()`.
    root: directory with the official files (LRA tasks); None for generated
      tasks. With root=None, listops is generated and the other LRA tasks
      raise an error naming the files they expect.
    cache_dir: where generated / decoded arrays are cached; default
      `$SPIKE_SSM_CACHE` or `~/.cache/spike_ssm`.
    seed: seed of generated tasks. File splits carved by the loaders use a
      separate `split_seed` option so that runs with different seeds share
      their evaluation sets.
    **options: task-specific options (`task_options(name)`).

  Returns:
    The Task.

  Raises:
    ValueError: an unknown name or option (the message lists the valid
      ones), missing or malformed files, bad option values.
    TypeError: a seed that is not an int, a root that is not a path.
  """
  builder = _builder(name)
  valid = task_options(name)
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise ValueError(f"Unknown option(s) {unknown} for task {name!r}; valid "
                     f"options are {sorted(valid)}.")
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
    raise TypeError(f"seed must be an int, got {type(seed).__name__} "
                    f"{seed!r}.")
  if seed < 0:
    raise ValueError(f"seed must be >= 0, got {seed}.")
  if root is not None and not isinstance(root, (str, os.PathLike)):
    raise TypeError(f"root must be a path or None, got {type(root).__name__} "
                    f"{root!r}.")
  return builder(root=root, cache_dir=cache_dir, seed=int(seed), **options)
