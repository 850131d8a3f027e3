"""Sequence layers by name: the one table the backbone and configs read.

A layer factory takes the model width and keyword arguments from
`config.model.layer_kwargs` and returns a Haiku module mapping `(B, T, D)` to
`(B, T, D)`. A layer class may set `accepts_mask = True` to be called with
`mask=` the `(B, T)` validity mask, and `accepts_is_training = True` to be
called with `is_training=` (for its own dropout).

Layers register here so that configs choose them by name, the optimiser
finds their dynamics parameters, and precision policies reach their core
classes.
"""

from collections.abc import Callable
import dataclasses
import importlib
import re
from typing import Any

import haiku as hk


@dataclasses.dataclass(frozen=True)
class LayerEntry:
  """How to build one registered sequence layer.

  Attributes:
    name: registry key used in configs (`config.model.layer`).
    target: "module.path:ClassName" imported lazily on first use.
    build: `(cls, width, **kwargs) -> hk.Module`; default `cls(**kwargs)`.
    ssm_core: whether the class is an SSM core whose dynamics parameters get
      the SSM learning rate and whose compute stays in float32.
    streaming: whether the layer has `initial_state` / `step`.
    layer: False for SSM cores with their own call signature (the seed
      layers) that configs cannot place in a backbone block; they are
      listed so the optimiser and precision policies still treat them as
      cores.
  """
  name: str
  target: str
  build: Callable[..., hk.Module] | None = None
  ssm_core: bool = True
  streaming: bool = True
  layer: bool = True

  def cls(self) -> type[hk.Module]:
    module, _, attr = self.target.partition(":")
    return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, LayerEntry] = {}


def register_layer(entry: LayerEntry) -> LayerEntry:
  """Adds `entry` to the registry (a name can be registered once)."""
  if entry.name in _REGISTRY:
    raise ValueError(f"layer {entry.name!r} is already registered.")
  _REGISTRY[entry.name] = entry
  return entry


def layer_names() -> tuple[str, ...]:
  """Names a config may use as `model.layer`."""
  return tuple(sorted(n for n, e in _REGISTRY.items() if e.layer))


def get_entry(name: str) -> LayerEntry:
  """The entry of layer `name` (ValueError listing the valid names)."""
  try:
    entry = _REGISTRY[name]
    if not entry.layer:
      raise KeyError(name)
    return entry
  except KeyError:
    raise ValueError(
        f"Unknown sequence layer {name!r}; registered layers are "
        f"{list(layer_names())}.") from None


def build_layer(name: str, width: int, **kwargs: Any) -> hk.Module:
  """Instantiates the registered layer `name` for a model of `width`."""
  entry = get_entry(name)
  cls = entry.cls()
  if entry.build is not None:
    return entry.build(cls, width, **kwargs)
  try:
    return cls(**kwargs)
  except TypeError as e:
    raise TypeError(f"layer {name!r} ({entry.target}) rejected its "
                    f"layer_kwargs {sorted(kwargs)}: {e}") from None


def ssm_core_classes() -> list[type[hk.Module]]:
  """Every registered class flagged as an SSM core (imports them)."""
  return [e.cls() for e in _REGISTRY.values() if e.ssm_core]


def ssm_core_module_names() -> set[str]:
  """Default Haiku module names of the SSM cores (e.g. "s5", "lru")."""
  names = set()
  for entry in _REGISTRY.values():
    if entry.ssm_core:
      names.add(_snake(entry.cls().__name__))
  return names


def core_entries() -> list[LayerEntry]:
  """Every entry flagged as an SSM core, layers or not."""
  return [e for e in _REGISTRY.values() if e.ssm_core]


def _snake(name: str) -> str:
  """Haiku's default module name for a class name (S5 -> s5, LRU -> lru)."""
  s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
  s = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", s)
  return s.lower()


# The built-in layers. More join as they are written.
register_layer(LayerEntry("s5", "spike_ssm.ssm.s5:S5"))
register_layer(LayerEntry("lru", "spike_ssm.ssm.lru:LRU"))
register_layer(LayerEntry("s4d", "spike_ssm.ssm.s4:S4D"))
register_layer(LayerEntry("s4", "spike_ssm.ssm.s4:S4"))
register_layer(LayerEntry("raven", "spike_ssm.experimental.raven:RavenRSM"))
register_layer(LayerEntry("mamba", "spike_ssm.ssm.mamba:MambaBlock"))
register_layer(LayerEntry("mamba_core", "spike_ssm.ssm.mamba:Mamba"))
register_layer(LayerEntry("chunked", "spike_ssm.ssm.chunked:ChunkedSSM",
                          ssm_core=False))
# Baselines (not SSM cores).
register_layer(LayerEntry("transformer",
                          "spike_ssm.layers.baselines:TransformerLayer",
                          ssm_core=False, streaming=False))
register_layer(LayerEntry("lstm", "spike_ssm.layers.baselines:LSTMLayer",
                          ssm_core=False))
register_layer(LayerEntry("gru", "spike_ssm.layers.baselines:GRULayer",
                          ssm_core=False))
# Position-wise linear (no mixing over time): the feed-forward LIF baseline.
register_layer(LayerEntry("dense", "spike_ssm.layers.pointwise:Dense",
                          ssm_core=False, streaming=False))
# Seed layers: SSM cores with their own call signatures (not backbone layers).
register_layer(LayerEntry("capibara", "spike_ssm.ssm.capibara:CapibaraJAXSSM",
                          layer=False))
register_layer(LayerEntry("spike_ssm", "spike_ssm.ssm.spike_ssm:SpikeSSM",
                          layer=False))
# SpikingSSM / LoongSpike record their spike rate (Haiku state) in a backbone.
register_layer(LayerEntry(
    "spiking_ssm", "spike_ssm.ssm.spiking_ssm:SpikingSSM",
    build=lambda cls, width, **kw: cls(**{"record_rate": True, **kw})))
register_layer(LayerEntry(
    "loongspike", "spike_ssm.ssm.spiking_ssm:LoongSpike",
    build=lambda cls, width, **kw: cls(**{"record_rate": True, **kw})))
