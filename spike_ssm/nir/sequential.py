"""The network description NIR export and import share: a spec and its model.

A *spec* is a sequence of `(kind, kwargs)` pairs, run in order on a
`(B, T, D)` sequence. `kwargs` are the constructor arguments of the kind's
Haiku module (`LAYERS`), minus `name` (layer i is named
`layer_name(kind, i) = f"{kind}_{i}"`) and, for neurons, `hidden_shape`
(the running width):

  linear    `hk.Linear`, per time step; needs `output_size`
  scale     `Scale`, per time step: `y = scale * x`, no kwargs
  lif, if, li, cuba_lif, psu_lif, alif
            the `neurons` cores, stepped through time (output at step t
            from input at step t); `alif` runs but does not export
  s5, lru   the `ssm` layers, whole sequence

`build_sequential(spec)` gives the forward function for `hk.transform`, so
one spec is trained, exported (`to_nir`) and re-imported (`from_nir`).
"""

from collections.abc import Mapping, Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import neurons
from spike_ssm.neurons import base
from spike_ssm.ssm import lru as lru_lib
from spike_ssm.ssm import s5 as s5_lib

DEFAULT_NAME = "spiking_sequential"


class Scale(hk.Module):
  """`y = scale * x` with a per-feature parameter `scale (D,)`, init 1."""

  def __call__(self, x: jax.Array) -> jax.Array:
    scale = hk.get_parameter("scale", (x.shape[-1],), jnp.float32,
                             init=hk.initializers.Constant(1.0))
    return x * scale.astype(x.dtype)


# kind -> module class, by how the layer meets time. The kinds are the
# spec's names for the classes and the last part of their parameter paths.
STEPWISE = {"linear": hk.Linear, "scale": Scale}
NEURONS = {
    "lif": neurons.LIF,
    "if": neurons.IF,
    "li": neurons.LI,
    "cuba_lif": neurons.CuBaLIF,
    "psu_lif": neurons.PSU_LIF,
    "alif": neurons.ALIF,
}
SSMS = {"s5": s5_lib.S5, "lru": lru_lib.LRU}
LAYERS = {**STEPWISE, **NEURONS, **SSMS}
LAYER_KINDS = tuple(LAYERS)


def layer_name(kind: str, index: int) -> str:
  """The Haiku module name of layer `index` of a spec: `f"{kind}_{index}"`."""
  return f"{kind}_{index}"


def load_nir():
  """The `nir` package, imported on first use (it pulls in h5py)."""
  try:
    import nir  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "spike_ssm.nir needs the `nir` package (pip install nir h5py).") from e
  return nir


def check_dt(dt) -> float:
  """The time step the discrete model stands for: a finite number > 0."""
  if (isinstance(dt, (bool, np.bool_)) or
      not isinstance(dt, (int, float, np.number)) or not np.isfinite(dt) or
      dt <= 0):
    raise ValueError(f"dt must be a finite number > 0, got {dt!r}.")
  return float(dt)


def check_spec(spec) -> tuple[tuple[str, dict], ...]:
  """Validates a spec; returns it as a tuple of `(kind, dict)` pairs.

  Raises:
    ValueError: naming the offending entry and what was expected.
  """
  if (isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or
      not spec):
    raise ValueError(
        "spec must be a non-empty sequence of (kind, kwargs) pairs, got "
        f"{spec!r}.")
  layers = []
  for index, layer in enumerate(spec):
    if (isinstance(layer, (str, bytes)) or not isinstance(layer, Sequence) or
        len(layer) != 2):
      raise ValueError(
          f"spec[{index}] must be a (kind, kwargs) pair, got {layer!r}.")
    kind, kwargs = layer
    if kind not in LAYERS:
      raise ValueError(
          f"spec[{index}]: unknown layer kind {kind!r}; expected one of "
          f"{LAYER_KINDS}.")
    if not isinstance(kwargs, Mapping):
      raise ValueError(
          f"spec[{index}] ({kind}): kwargs must be a mapping of constructor "
          f"arguments, got {type(kwargs).__name__}.")
    if "name" in kwargs:
      raise ValueError(
          f"spec[{index}] ({kind}): do not pass `name`; layers are named "
          f"{layer_name(kind, index)!r} from their kind and position.")
    if kind in NEURONS and "hidden_shape" in kwargs:
      raise ValueError(
          f"spec[{index}] ({kind}): do not pass `hidden_shape`; a neuron "
          "layer takes the width of its input.")
    if kind == "linear" and "output_size" not in kwargs:
      raise ValueError(
          f"spec[{index}] (linear): kwargs must include `output_size`, got "
          f"{sorted(kwargs)}.")
    if kind == "scale" and kwargs:
      raise ValueError(
          f"spec[{index}] (scale): takes no kwargs, got {sorted(kwargs)}.")
    layers.append((kind, dict(kwargs)))
  return tuple(layers)


class SpikingSequential(hk.Module):
  """A feed-forward stack of layers described by a spec.

  Layer `i` is the submodule `layer_name(kind, i)`, so its parameters live
  under `f"{self.module_name}/{kind}_{i}"`.

  Args:
    spec: sequence of `(kind, kwargs)` pairs, kinds from `LAYER_KINDS`.
    name: module name (default "spiking_sequential").
  """

  def __init__(self, spec, name: str | None = None):
    super().__init__(name=DEFAULT_NAME if name is None else name)
    self.spec = check_spec(spec)

  def __call__(self, x: jax.Array, *, time_major: bool = False,
               return_states: bool = False):
    """Runs the stack.

    Args:
      x: input `(B, T, D)`, or `(T, B, D)` with `time_major=True`; floating.
      time_major: layout of `x`, of the output and of the states.
      return_states: also return every layer's state after every step.

    Returns:
      The last layer's output `(B, T, D_out)` (spikes, or membranes for an
      `li` readout), in `x`'s layout; with `return_states`, `(output,
      states)` where `states[i]` is layer i's state NamedTuple with fields
      `(B, T, *H)` for neuron layers and `()` for the others.

    Raises:
      ValueError: if `x` is not rank 3.
      TypeError: if `x` is not floating point.
    """
    x = jnp.asarray(x)
    layout = "(T, B, D)" if time_major else "(B, T, D)"
    if x.ndim != 3:
      raise ValueError(
          f"{type(self).__name__}: `x` must have rank 3, {layout}; got shape "
          f"{x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(
          f"{type(self).__name__}: `x` must be a floating array, got dtype "
          f"{x.dtype}.")
    h = x if time_major else x.swapaxes(0, 1)  # [T, B, D]
    states = []
    for index, (kind, kwargs) in enumerate(self.spec):
      layer = LAYERS[kind]
      name = layer_name(kind, index)
      state = ()
      if kind in STEPWISE:
        h = layer(name=name, **kwargs)(h)
      elif kind in NEURONS:
        core = layer(h.shape[2:], name=name, **kwargs)
        # hk.scan inside: the core creates its parameters in its first step.
        h, state = hk.dynamic_unroll(core, h, core.initial_state(h.shape[1]),
                                     return_all_states=True)
      else:
        h = layer(name=name, **kwargs)(h, time_major=True)
      states.append(state)
    y = base.from_time_major(h, time_major)
    if return_states:
      return y, tuple(base.from_time_major(s, time_major) for s in states)
    return y


def build_sequential(spec, *, name: str | None = None):
  """A forward function running `spec`, for `hk.transform`.

  Args:
    spec: sequence of `(kind, kwargs)` pairs (module docstring).
    name: the `SpikingSequential` module name (default
      "spiking_sequential"); pass the same name to `to_nir`.

  Returns:
    `forward(x, *, time_major=False, return_states=False)`, which builds a
    `SpikingSequential(spec, name=name)` and calls it.

  Raises:
    ValueError: on a malformed spec.
  """
  spec = check_spec(spec)

  def forward(x, *, time_major: bool = False, return_states: bool = False):
    return SpikingSequential(spec, name=name)(
        x, time_major=time_major, return_states=return_states)

  return forward
