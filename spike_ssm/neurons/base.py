"""The spiking-core contract and the leak / fire / reset logic, in one place.

Every neuron in `spike_ssm.neurons` is a `SpikingCore` (an `hk.RNNCore`):
hyperparameters in `__init__`, `initial_state(batch_size)` returning a
NamedTuple of float32 zeros, and `__call__(x_t, state) -> (out_t, state)` for
one step. The per-step arithmetic is built from three pure functions defined
here and nowhere else:

  integrate(v, x, decay)  = decay * v + x
  fire(v, threshold)      = spike(v - threshold)      (exact Heaviside forward,
                                                       surrogate backward)
  reset(v, s, threshold)  = v - s * threshold         ("subtract")
                          = v * (1 - s)               ("zero")

Dtypes. Cores do not force a compute dtype: the membrane update runs in the
promotion of the input's and the state's dtypes, and the new state is cast
back to the incoming state's dtype, so a scan carry never changes dtype.
`initial_state` returns float32 zeros, so bfloat16 inputs integrate into a
float32 membrane unless a mixed-precision policy says otherwise. Outputs
(spikes, or the membrane for `LI`) come back in the input's dtype (0/1 is
exact in bfloat16).

Mixed precision: policies are NOT inherited by subclasses. Haiku looks a
policy up by the exact class of the module whose method runs
(`hk.mixed_precision.get_policy(type(module))`, keyed on module path and
qualname; it never walks the MRO), so `set_policy(SpikingCore, policy)` has no
effect on `LIF`, `PSU_LIF`, ... (`tests/neurons/base_test.py` pins this). To
target the whole family, set the policy on every class from
`spiking_core_classes()`. (A core with no policy of its own, called from a
module that has one, gets that module's parameter casting but no casting of
its inputs and outputs.) Note that a policy casts *everything* a method
returns, the new state included, to its output dtype: with `o=bf16` the
membrane carry is stored in bfloat16 between steps (stable in dtype, but
rounded every step). Give the neurons an `o=f32` policy (e.g.
`p=f32,c=f32,o=f32`) and cast their spikes downstream if the carry must stay
exact.
"""

import abc
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import surrogate as surrogate_lib

RESET_MODES = ("subtract", "zero")


# ----------------------------------------------------------------------------
# Pure per-step math, shared by every neuron (the only copy).
# ----------------------------------------------------------------------------


def integrate(v: jax.Array, x: jax.Array, decay) -> jax.Array:
  """Leaky integration `decay * v + x` (decay = 1: perfect integrator)."""
  return decay * v + x


def fire(v: jax.Array, threshold, surrogate, slope) -> jax.Array:
  """Spikes `1[v > threshold]` with the named surrogate gradient."""
  return surrogate_lib.spike(v - threshold, surrogate, slope)


def reset(v: jax.Array, s: jax.Array, threshold, mode: str,
          detach: bool) -> jax.Array:
  """Resets the membranes that spiked.

  Args:
    v: membrane after integration, any shape.
    s: spikes (0/1), same shape as `v`.
    threshold: amount removed per spike in "subtract" mode.
    mode: "subtract" (`v - s * threshold`) or "zero" (`v * (1 - s)`).
    detach: stop the gradient through `s` in the reset term (the spike itself
      still carries its surrogate gradient to the output).

  Returns:
    The reset membrane, same shape and dtype as `v`.
  """
  if detach:
    s = lax.stop_gradient(s)
  if mode == "subtract":
    return v - s * threshold
  return v * (1 - s)


# ----------------------------------------------------------------------------
# Argument checks (construction time, so bad values never reach a trace).
# ----------------------------------------------------------------------------


def _is_number(x) -> bool:
  return (isinstance(x, (int, float, np.number)) and
          not isinstance(x, (bool, np.bool_)))


def as_hidden_shape(hidden_shape) -> tuple[int, ...]:
  """Normalises `hidden_shape` (int or sequence of ints) to a tuple."""
  dims = (hidden_shape,) if _is_number(hidden_shape) else hidden_shape
  ok = isinstance(dims, Sequence) and all(
      isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
      for d in dims)
  if not ok:
    raise ValueError(
        "hidden_shape must be a positive int or a tuple of positive ints, got "
        f"{hidden_shape!r}.")
  return tuple(int(d) for d in dims)


def check_threshold(threshold) -> float:
  if not _is_number(threshold) or not np.isfinite(threshold) or threshold <= 0:
    raise ValueError(
        f"threshold must be a finite number > 0, got {threshold!r}.")
  return float(threshold)


def check_non_negative(name: str, value) -> float:
  if not _is_number(value) or not np.isfinite(value) or value < 0:
    raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
  return float(value)


def check_decay(name: str, value, hidden_shape: tuple[int, ...]):
  """Checks a decay factor in [0, 1]: a number or an array per unit.

  Returns:
    A Python float (weakly typed, so it never promotes the membrane), or a
    float32 NumPy array broadcastable to `hidden_shape`.
  """
  if _is_number(value):
    if not 0.0 <= value <= 1.0:
      raise ValueError(f"{name} must lie in [0, 1], got {value!r}.")
    return float(value)
  try:
    arr = np.asarray(value, np.float64)
  except (TypeError, ValueError):
    raise ValueError(
        f"{name} must be a number or an array in [0, 1], got {value!r}."
    ) from None
  if not np.all((arr >= 0.0) & (arr <= 1.0)):
    raise ValueError(
        f"{name} must lie in [0, 1], got values in [{arr.min()}, "
        f"{arr.max()}].")
  try:
    fits = np.broadcast_shapes(arr.shape, hidden_shape) == hidden_shape
  except ValueError:
    fits = False
  if not fits:
    raise ValueError(
        f"{name} of shape {arr.shape} does not broadcast to hidden_shape "
        f"{hidden_shape}.")
  return arr.astype(np.float32)


def check_reset(mode) -> str:
  if mode not in RESET_MODES:
    raise ValueError(f"reset must be one of {RESET_MODES}, got {mode!r}.")
  return mode


def check_surrogate(surrogate) -> None:
  """Unknown names raise `ops.surrogate`'s own ValueError."""
  if not callable(surrogate):
    surrogate_lib.default_slope(surrogate)


def check_float_input(who: str, x: jax.Array, arg: str = "x") -> None:
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"{who}: `{arg}` must be a floating array, got dtype "
                    f"{x.dtype}.")


# ----------------------------------------------------------------------------
# Sequence layout.
# ----------------------------------------------------------------------------


def to_time_major(x: jax.Array, hidden_shape: tuple[int, ...] | None,
                  time_major: bool, who: str) -> jax.Array:
  """Checks a sequence's rank and trailing shape; returns it `(T, B, ...)`."""
  layout = "(T, B, *hidden_shape)" if time_major else "(B, T, *hidden_shape)"
  if hidden_shape is None:
    if x.ndim < 2:
      raise ValueError(
          f"{who}: `x` must have a batch and a time axis, {layout}; got shape "
          f"{x.shape}.")
  else:
    want_rank = 2 + len(hidden_shape)
    if x.ndim != want_rank:
      raise ValueError(
          f"{who}: `x` must have rank {want_rank}, {layout} with hidden_shape "
          f"{hidden_shape}; got shape {x.shape} (rank {x.ndim}).")
    if x.shape[2:] != hidden_shape:
      raise ValueError(
          f"{who}: `x` has trailing shape {x.shape[2:]} but the core's "
          f"hidden_shape is {hidden_shape} (x shape {x.shape}).")
  return x if time_major else x.swapaxes(0, 1)  # [T, B, ...]


def from_time_major(tree: Any, time_major: bool) -> Any:
  """Inverse of `to_time_major` for every leaf of an output tree."""
  if time_major:
    return tree
  return jax.tree.map(lambda y: y.swapaxes(0, 1), tree)  # [B, T, ...]


def record_spike_rate(spikes: jax.Array, mask: jax.Array) -> None:
  """Stores the mean firing rate over valid positions as Haiku state.

  The training step averages every `spike_rate` state entry into its
  `spike_rate` metric.

  Args:
    spikes: `(B, T, ...)` spike trains (0/1).
    mask: `(B, T)`, 1 at valid positions, 0 at padding.
  """
  w = mask.reshape(mask.shape + (1,) * (spikes.ndim - mask.ndim))
  total = jnp.sum(spikes.astype(jnp.float32) * w)
  count = jnp.maximum(jnp.sum(jnp.broadcast_to(w, spikes.shape)), 1.0)
  hk.set_state("spike_rate", total / count)


# ----------------------------------------------------------------------------
# The base class.
# ----------------------------------------------------------------------------


class SpikingCore(hk.RNNCore):
  """Base of every spiking neuron core.

  Subclasses set `state_type` (a NamedTuple of arrays shaped
  `(B, *hidden_shape)`) and implement `__call__(x_t, state)`, and declare
  in `neuron_params` the names of their trainable dynamics (decays, poles,
  thresholds), which `training.optim` keeps out of weight decay.

  Attributes:
    hidden_shape: the per-example neuron shape, a tuple of ints.
  """

  state_type: type[NamedTuple]
  neuron_params: ClassVar[frozenset[str]] = frozenset()

  def __init__(self, hidden_shape, name: str | None = None):
    super().__init__(name=name)
    self.hidden_shape = as_hidden_shape(hidden_shape)

  def _set_firing(self, threshold, surrogate, slope, reset=None,
                  detach_reset=False) -> None:
    """Checks and stores the spike-generation options subclasses share.

    Sets `threshold`, `surrogate`, `slope` and, when `reset` is given,
    `reset_mode` and `detach_reset`.
    """
    self.threshold = check_threshold(threshold)
    check_surrogate(surrogate)
    self.surrogate = surrogate
    self.slope = slope
    if reset is not None:
      self.reset_mode = check_reset(reset)
      self.detach_reset = bool(detach_reset)

  def initial_state(self, batch_size: int | None):
    """Zero state.

    Args:
      batch_size: number of examples B, or None for no batch axis.

    Returns:
      A `state_type` whose fields are float32 zeros of shape
      `(batch_size, *hidden_shape)` (or `hidden_shape` when None).
    """
    if batch_size is None:
      shape = self.hidden_shape
    else:
      if (not isinstance(batch_size, (int, np.integer)) or
          isinstance(batch_size, bool) or batch_size < 0):
        raise ValueError(
            f"batch_size must be a non-negative int or None, got "
            f"{batch_size!r}.")
      shape = (int(batch_size), *self.hidden_shape)
    zeros = jnp.zeros(shape, jnp.float32)
    return self.state_type(*(zeros for _ in self.state_type._fields))

  @abc.abstractmethod
  def __call__(self, x_t, prev_state):
    """One step: `(x_t, state) -> (out_t, new_state)`."""


def spiking_core_classes() -> tuple[type[SpikingCore], ...]:
  """`SpikingCore` and every subclass defined so far (transitively).

  Haiku mixed-precision policies apply to exact classes only, so installing
  one policy for all neurons is
  `for cls in spiking_core_classes(): hk.mixed_precision.set_policy(cls, p)`.
  Call it after the modules defining custom cores have been imported.
  """
  seen, todo = [], [SpikingCore]
  while todo:
    cls = todo.pop()
    if cls not in seen:
      seen.append(cls)
      todo.extend(cls.__subclasses__())
  return tuple(seen)


# ----------------------------------------------------------------------------
# Helpers the cores call from their methods. Plain functions, not methods:
# Haiku's mixed-precision interceptor casts the arguments of every module
# method, which would round a decay's initial value to the compute dtype.
# ----------------------------------------------------------------------------


def check_step(core: "SpikingCore", x: jax.Array, state) -> None:
  """Trace-time checks of one step's input against the core and its state."""
  who = type(core).__name__
  check_float_input(who, x, "x_t")
  hidden_shape, n = core.hidden_shape, len(core.hidden_shape)
  if x.ndim not in (n, n + 1) or x.shape[x.ndim - n:] != hidden_shape:
    raise ValueError(
        f"{who}: `x_t` must have shape (B, *hidden_shape) with hidden_shape "
        f"{hidden_shape}; got x_t shape {x.shape}.")
  if not isinstance(state, core.state_type):
    raise TypeError(f"{who}: `state` must be a {core.state_type.__name__}, "
                    f"got {type(state).__name__}.")
  for field, value in zip(state._fields, state):
    if value.shape != x.shape:
      raise ValueError(
          f"{who}: state.{field} has shape {value.shape} but `x_t` has shape "
          f"{x.shape}; they must match.")


def decay_factor(name: str, value, learn: bool, hidden_shape: tuple[int, ...]):
  """A decay factor: the constant, or a per-unit parameter clipped to [0, 1].

  Call inside a module method. A learnable decay is the parameter `name` of
  shape `hidden_shape`, initialised at `value` and clipped in the forward
  pass only (the stored value may drift outside [0, 1], where its gradient
  is zero).
  """
  if not learn:
    return value
  init = hk.initializers.Constant(np.broadcast_to(value, hidden_shape))
  param = hk.get_parameter(name, hidden_shape, init=init)
  return jnp.clip(param, 0.0, 1.0)
