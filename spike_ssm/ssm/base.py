"""The sequence-layer contract, written once for every layer in `ssm/`.

A sequence layer maps `(B, T, D) -> (B, T, D)` (or `(T, B, D)` with
`time_major=True`) and streams:

  __call__(x, *, time_major=False) -> y        whole sequence (training)
  initial_state(batch_size, width=None)        the state before step 0
  step(x_t, state) -> (y_t, state)             one step (inference)

`step` scanned over `initial_state` equals `__call__` (tests prove it per
layer). `SequenceLayer` owns everything around the math:

  checks     rank, floating dtype, and the width D against the width the
             parameters were created with (`width_param`), at the public
             edge, with one error line naming the argument;
  dtypes     the hooks compute in `compute_dtype(x.dtype)` (at least
             float32); outputs come back in the input's dtype and a new
             state in the dtypes of the state it replaces;
  layout     one transpose into the layout the hooks declare
             (`time_major_core`) and one back, whatever the caller's;
  streaming  batch size and width checks, the state checked leaf by leaf
             against the one `initial_state` would build, and a clear
             refusal to stream a layer that reads the future
             (`bidirectional`).

A layer writes only its discretisation and recurrence, as three hooks:

  _sequence(u, **kwargs) -> y      u `(T, B, D)` or `(B, T, D)` (as
                                   declared), compute dtype; y alike
  _step(u_t, state) -> (y_t, new)  u_t `(B, D)`, compute dtype
  _zero_state(batch_size, width)   the state before step 0 (`width` is
                                   None when neither given nor known and
                                   the state does not need it)

A layer with its own call signature (the seed layers, `RavenRSM`) overrides
the public methods instead and still uses the declarations below.

Declarations (class attributes): the parameter names of each role, which
`training.optim` maps to optimiser groups (`optim.ROLE_GROUPS`) instead of
guessing from names:

  dynamics_params  SSM dynamics: eigenvalues, log steps, ... (SSM group:
                   own learning rate, no weight decay)
  input_params     the core's input matrix B (SSM group when
                   `ssm_b_in_ssm_group`, else an ordinary weight)
  output_params    the core's readout C (an ordinary weight)
  neuron_params    neuron dynamics inside the layer: thresholds, decays (no
                   weight decay)
  frozen_params    never trained (fixed random masks)

and `ssm_core`: whether `training.precision` gives the class the float32
`precision.ssm_core` policy.

Mixed precision. Haiku applies a class's policy around every method call,
private ones included, casting each result to the policy's output dtype: a
float32 core with `o=bf16` would round its eigenvalues to bfloat16 between
two private helpers. So a private method of a subclass, called from one of
the layer's own methods, runs transparently (`hk.transparent`) inside it,
and a policy casts only at the public edge; called from outside the layer,
it enters the layer's scope (and policy) as a public method would.
"""

from collections.abc import Callable, Iterator
import functools
import inspect
from typing import Any, ClassVar, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm.ops import checks
from spike_ssm.ops import complex_pairs
from spike_ssm.ops import scans

# Public method -> the hook that implements it in `SequenceLayer`.
_HOOKS = (("__call__", "_sequence"), ("step", "_step"),
          ("initial_state", "_zero_state"))


def compute_dtype(dtype) -> jnp.dtype:
  """The dtype a layer computes in for inputs of `dtype`: >= float32."""
  return jnp.promote_types(dtype, jnp.float32)


def _defining_class(cls: type, attr: str) -> type | None:
  return next((k for k in cls.__mro__ if attr in vars(k)), None)


def _private_helper(fn: Callable[..., Any]) -> Callable[..., Any]:
  """`fn` run in its caller's scope when the layer calls it (module doc)."""
  @functools.wraps(fn)
  def helper(self, *args, **kwargs):
    if hk.experimental.current_name() == self.module_name:
      return fn(self, *args, **kwargs)
    return self._in_scope(fn, *args, **kwargs)
  return hk.transparent(helper)


class SequenceLayer(hk.Module):
  """Base of the sequence layers (see the module docstring)."""

  dynamics_params: ClassVar[frozenset[str]] = frozenset()
  input_params: ClassVar[frozenset[str]] = frozenset()
  output_params: ClassVar[frozenset[str]] = frozenset()
  neuron_params: ClassVar[frozenset[str]] = frozenset()
  frozen_params: ClassVar[frozenset[str]] = frozenset()
  ssm_core: ClassVar[bool] = True
  # The layout `_sequence` works in: True `(T, B, D)`, False `(B, T, D)`.
  time_major_core: ClassVar[bool] = True
  # `(parameter, axis)` whose size is the input width D, or None.
  width_param: ClassVar[tuple[str, int] | None] = None
  # Whether the streaming state's shape depends on the width D.
  state_needs_width: ClassVar[bool] = True
  # A bidirectional layer reads the future and cannot stream.
  bidirectional: bool = False

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    # Runs before Haiku wraps the new class's methods (see the module
    # docstring, "Mixed precision").
    for key, value in list(vars(cls).items()):
      if (key.startswith("_") and not key.startswith("__") and
          inspect.isfunction(value)):
        setattr(cls, key, _private_helper(value))

  def __init__(self, name: str | None = None):
    super().__init__(name=name)
    cls = type(self)
    for public, hook in _HOOKS:
      if (_defining_class(cls, public) is SequenceLayer and
          not hasattr(cls, hook)):
        raise TypeError(
            f"{cls.__name__} subclasses SequenceLayer but implements neither "
            f"`{hook}` nor its own `{public}`.")

  # --------------------------------------------------------------------------
  # Public contract.
  # --------------------------------------------------------------------------

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the layer over a whole sequence.

    Args:
      x: `(B, T, D)`, or `(T, B, D)` with `time_major=True`; floating.
      time_major: the layout of `x` and of the output.

    Returns:
      y, the shape and dtype of `x`.

    Raises:
      ValueError: `x` not rank 3, or a width other than the parameters'.
      TypeError: `x` not a floating array.
    """
    return self._whole_sequence(x, time_major)

  def initial_state(self, batch_size: int, width: int | None = None) -> Any:
    """The state before the first step.

    Args:
      batch_size: B.
      width: the input width D; optional once the parameters exist, or when
        the state does not depend on it.

    Returns:
      The layer's state NamedTuple.

    Raises:
      ValueError: a bidirectional layer, a bad batch size or width, or a
        width that is needed but unknown.
    """
    return self._initial_state(batch_size, width, "width")

  def step(self, x_t: jax.Array, state: Any) -> tuple[jax.Array, Any]:
    """Advances the layer by one time step.

    Args:
      x_t: input at one step, `(B, D)`.
      state: the previous state (`initial_state` or a `step`).

    Returns:
      `(y_t, next_state)`: y_t `(B, D)` in the dtype of `x_t`, the state in
      the dtypes of `state`.

    Raises:
      ValueError: a bidirectional layer, `x_t` not rank 2, a width other than
        the parameters', or a state of the wrong shape.
      TypeError: `x_t` not floating, or a state of another type.
    """
    owner = self.module_name
    self._check_causal("step")
    checks.check_array(owner, "x_t", x_t, 2, "(B, D)")
    self._check_width(x_t.shape[-1])
    checks.check_like(owner, "state", state,
                      self._zero_state(x_t.shape[0], x_t.shape[-1]))
    u = x_t.astype(compute_dtype(x_t.dtype))
    y, new_state = self._step(u, state)
    new_state = jax.tree.map(lambda new, old: new.astype(old.dtype),
                             new_state, state)
    return y.astype(x_t.dtype), new_state

  # --------------------------------------------------------------------------
  # The mechanics (transparent: see the module docstring).
  # --------------------------------------------------------------------------

  def _in_scope(self, fn, *args, **kwargs):
    """Runs `fn(self, ...)` as a method of this layer (Haiku wraps this one)."""
    return fn(self, *args, **kwargs)

  @hk.transparent
  def _whole_sequence(self, x, time_major: bool, **kwargs) -> jax.Array:
    """`__call__`'s body; `kwargs` go to `_sequence` (e.g. `is_training`)."""
    checks.check_array(self.module_name, "x", x, 3,
                       "(T, B, D)" if time_major else "(B, T, D)")
    self._check_width(x.shape[-1])
    u = x.astype(compute_dtype(x.dtype))
    flip = time_major != self.time_major_core
    if flip:
      u = u.swapaxes(0, 1)  # Into the hooks' layout, once.
    y = self._sequence(u, **kwargs)
    if flip:
      y = y.swapaxes(0, 1)  # Back into the caller's.
    return y.astype(x.dtype)

  @hk.transparent
  def _initial_state(self, batch_size, width, arg: str) -> Any:
    """`initial_state`'s body; `arg` names the width argument in messages."""
    self._check_causal("initial_state")
    batch_size = checks.check_int(self.module_name, "batch_size", batch_size,
                                  1)
    return self._zero_state(batch_size, self._resolve_width(width, arg))

  @hk.transparent
  def _stored_width(self) -> int | None:
    """The width D the parameters were created with (None before)."""
    if self.width_param is None:
      return None
    name, axis = self.width_param
    value = self.params_dict().get(f"{self.module_name}/{name}")
    return None if value is None else int(value.shape[axis])

  @hk.transparent
  def _check_width(self, features: int) -> None:
    stored = self._stored_width()
    if stored is not None and stored != features:
      name = self.width_param[0]
      shape = self.params_dict()[f"{self.module_name}/{name}"].shape
      raise ValueError(
          f"{self.module_name}: input feature size D={features} does not "
          f"match D={stored} that the parameters were created with "
          f"(`{name}` has shape {tuple(shape)}).")

  @hk.transparent
  def _resolve_width(self, width, arg: str) -> int | None:
    owner = self.module_name
    stored = self._stored_width()
    if width is None:
      if stored is None and self.state_needs_width:
        raise ValueError(
            f"{owner}: initial_state needs the input width D, `{arg}`: pass "
            f"`{arg}=` (no parameters exist yet to take it from).")
      return stored
    width = checks.check_int(owner, arg, width, 1)
    if stored is not None and stored != width:
      raise ValueError(
          f"{owner}: `{arg}`={width} does not match D={stored} that the "
          "parameters were created with.")
    return width

  @hk.transparent
  def _check_causal(self, what: str) -> None:
    if self.bidirectional:
      raise ValueError(
          f"{self.module_name}: `{what}` needs a causal layer, but this "
          f"{type(self).__name__} was built with bidirectional=True: its "
          "backward pass reads future inputs, so it cannot run one step at "
          "a time. Use __call__ on the whole sequence.")


def sequence_layer_classes() -> tuple[type[SequenceLayer], ...]:
  """`SequenceLayer` and every subclass imported so far (transitively).

  Haiku mixed-precision policies key on exact classes, so a policy for
  every core is `for cls in sequence_layer_classes(): set_policy(cls, p)`
  (after importing the modules that define them).
  """
  return tuple(_subclasses(SequenceLayer))


def _subclasses(cls: type) -> Iterator[type]:
  seen, todo = [], [cls]
  while todo:
    k = todo.pop(0)
    if k not in seen:
      seen.append(k)
      yield k
      todo.extend(k.__subclasses__())


# ----------------------------------------------------------------------------
# Diagonal complex layers (S5, LRU): one recurrence, two discretisations.
# ----------------------------------------------------------------------------


class DiagonalSSM(SequenceLayer):
  """`h_t = lambda * h_{t-1} + B x_t`, `y_t = Re(C h_t) + d * x_t`.

  The shared recurrence of `S5` and `LRU` (K complex states, D features):
  subclasses write `_discrete(features, dtype) -> (lambda (K,), B (K, D),
  C (D, K), d (D,))`, the discretised system, and set `num_states` (K),
  `scan_mode`, `chunk_size` and `state_type` (a NamedTuple whose one
  field `h` is the complex state `(B, K)`, complex64: kept complex rather
  than as real pairs because jmp casts only floating leaves, so a policy
  never truncates it to a half-precision dtype). With `bidirectional` a second
  state runs backwards in time, `g_t = lambda g_{t+1} + B x_t`, and `C` is
  `(D, 2K)`: `y_t = Re(C [h_t; g_t]) + d x_t`.
  """

  input_params = frozenset({"b"})
  output_params = frozenset({"c"})
  width_param = ("b", 1)
  state_needs_width = False
  state_type: ClassVar[type[NamedTuple]]
  num_states: int
  scan_mode: str
  chunk_size: int | None

  def _sequence(self, u: jax.Array) -> jax.Array:
    lam, b, c, d = self._discrete(u.shape[-1], u.dtype)
    mode = scans.ScanMode(self.scan_mode)
    if mode == scans.ScanMode.AUTO:
      mode = scans.auto_mode(u.shape[0])
    if mode == scans.ScanMode.SEQUENTIAL:
      return self._sequence_split(u, lam, b, c, d)
    bu = complex_pairs.project_in(u, b)  # [T, B, K]
    h = scans.linear_scan(lam, bu, mode=self.scan_mode,
                          chunk_size=self.chunk_size)  # [T, B, K]
    if self.bidirectional:
      g = scans.linear_scan(lam, bu, mode=self.scan_mode, reverse=True,
                            chunk_size=self.chunk_size)  # [T, B, K]
      h = jnp.concatenate([h, g], axis=-1)  # [T, B, 2K], matches C.
    return complex_pairs.project_out(h, c) + d * u  # [T, B, D]

  def _sequence_split(self, u, lam, b, c, d) -> jax.Array:
    """The sequential scan on real pairs: matmul, scan, matmul.

    `B u` for all T * B positions is one real matmul in split layout
    (`complex_pairs.project_in_split`), the recurrence runs on the real
    pairs (`scans.complex_pair_scan`) and the readout is one more real
    matmul, so no complex array of `(T, B, K)` is built, converted or
    differentiated (the complex path spends more time in those passes than
    in the scan itself on CPU).
    """
    k = self.num_states
    lam_re, lam_im = jnp.real(lam), jnp.imag(lam)
    z = complex_pairs.project_in_split(u, b)  # [T, B, 2K]
    h = scans.complex_pair_scan(lam_re, lam_im, z)  # [T, B, 2K]
    y = complex_pairs.project_out_split(h, c[:, :k])
    if self.bidirectional:
      g = scans.complex_pair_scan(lam_re, lam_im, z, reverse=True)
      y = y + complex_pairs.project_out_split(g, c[:, k:])
    return y + d * u  # [T, B, D]

  def _step(self, u: jax.Array, state) -> tuple[jax.Array, Any]:
    lam, b, c, d = self._discrete(u.shape[-1], u.dtype)
    h = lam * state.h.astype(lam.dtype) + complex_pairs.project_in(u, b)
    return complex_pairs.project_out(h, c) + d * u, self.state_type(h=h)

  def _zero_state(self, batch_size: int, width: int | None):
    del width  # The state is (B, K) whatever D.
    return self.state_type(
        h=jnp.zeros((batch_size, self.num_states), jnp.complex64))
