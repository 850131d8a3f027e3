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
import functools
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
# The LIF recurrence over a whole sequence: one scan, one custom VJP.
# ----------------------------------------------------------------------------


# The smallest threshold at which `1[v > threshold]` is `fire`'s forward
# value `1[v - threshold > 0]` for float32, bfloat16 (float32's exponent
# range) and float64 membranes, even with denormals flushed to zero as
# XLA:CPU flushes them: for two such floats of at least this size a
# non-zero difference is at least 2**-124, never subnormal, so never
# flushed to zero. (float16's normal range is narrow; it keeps `fire`.)
_DIRECT_COMPARE_MIN_THRESHOLD = 2.0**-100
_DIRECT_COMPARE_DTYPES = (jnp.float32, jnp.bfloat16, jnp.float64)


def _fires(u: jax.Array, spec: "LIFScanSpec") -> jax.Array:
  """Where `fire(u, ...)` is 1, as a boolean array (no gradient).

  Inside `lif_scan`'s loops the membrane is compared with the threshold
  directly: XLA:CPU compiles `u - theta > 0` next to the reset's
  `u - s theta` into markedly slower loop kernels (1.5 ms of 4 ms in the
  forward loop at T=1000 B=32 D=256) than `u > theta`, which has the same
  value for any threshold of at least `_DIRECT_COMPARE_MIN_THRESHOLD` in
  the dtypes of `_DIRECT_COMPARE_DTYPES`.
  """
  if (spec.threshold >= _DIRECT_COMPARE_MIN_THRESHOLD and
      u.dtype in _DIRECT_COMPARE_DTYPES):
    return u > spec.threshold
  return lax.stop_gradient(
      fire(u, spec.threshold, spec.surrogate, spec.slope)) > 0


def _spikes_of(u: jax.Array, spec: "LIFScanSpec") -> jax.Array:
  """`fire(u, ...)`'s forward value (0/1 in `u`'s dtype), no gradient."""
  return _fires(u, spec).astype(u.dtype)


class LIFScanSpec(NamedTuple):
  """The static (hashable) options of `lif_scan`.

  Attributes:
    threshold: firing threshold, a Python float.
    reset_mode: "subtract" or "zero".
    detach_reset: stop the gradient through the spike in the reset term.
    surrogate: a surrogate name or callable (see `fire`).
    slope: the surrogate's slope, or None for its default.
    beta: the decay when it is a Python number (weakly typed, as the step
      uses it), else None and the decay is `lif_scan`'s `beta` argument.
  """
  threshold: float
  reset_mode: str
  detach_reset: bool
  surrogate: Any
  slope: float | None
  beta: float | None


def _lif_membranes(x, v0, decay, spec: LIFScanSpec) -> jax.Array:
  """All pre-reset membranes `u_t = integrate(reset(u_{t-1}), x_t)`.

  One loop that fills a `(T, B, ...)` buffer in place: step t reads
  `u_{t-1}` back from the buffer, rebuilds `v_{t-1}` with `fire` and
  `reset`, and writes `u_t`. Compared with `lax.scan` carrying `v` and
  stacking spikes, XLA:CPU compiles this to one fused kernel per step
  instead of two (the scan's carry and its stacked output each get their
  own, recomputing the step), and the spikes come out of one vectorised
  pass over the buffer afterwards. Not unrolled: with two steps per
  iteration, the second reads the row the first wrote, and XLA then copies
  the whole buffer every iteration (measured: 300x slower).
  """
  length = x.shape[0]
  dtype = jnp.result_type(v0.dtype, x.dtype, decay)

  def body(t, buf):
    prev = lax.dynamic_index_in_dim(buf, t - 1, 0, False)
    s = _spikes_of(prev, spec)
    v = reset(prev, s, spec.threshold, spec.reset_mode, False).astype(
        v0.dtype)
    x_t = lax.dynamic_index_in_dim(x, t, 0, False)
    return lax.dynamic_update_index_in_dim(buf, integrate(v, x_t, decay), t,
                                           0)

  # Step 0 starts from v0; the loop reads x from x itself (reading it back
  # from the row that step t overwrites costs XLA a copy of the row).
  u0 = integrate(v0, x[0], decay)
  buf = jnp.zeros(x.shape, dtype).at[0].set(u0)
  return lax.fori_loop(1, length, body, buf)


def _lif_outputs(u, x_dtype, v0_dtype, spec: LIFScanSpec):
  """Spikes (in `x_dtype`) and the last state from the membranes `u`."""
  s = _spikes_of(u, spec)
  v_last = reset(u[-1], s[-1], spec.threshold, spec.reset_mode, False)
  return s.astype(x_dtype), v_last.astype(v0_dtype)


# Spikes of this many rows of a step are packed into the bits of one byte.
_PACK = 8


def _packable(shape: tuple[int, ...]) -> bool:
  """Whether a step of this shape `(B, *hidden_shape)` packs (see below)."""
  rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
  return rows % _PACK == 0


def _lif_spikes_packed(x, v0, decay, spec: LIFScanSpec):
  """The forward pass alone (nothing saved for a backward pass), packed.

  One loop carries the membrane and stores each step's spikes as bits: the
  step `(B, *hidden_shape)` is viewed as `(8, rows / 8, last)` and the 8
  spikes at `[:, j, l]` become the bits of one uint8, 1/32 of the bytes of
  float32 spikes. The loop runs on one core and its time goes into reading
  `x` and writing its output, so writing bits instead of floats (or instead
  of the membranes plus a separate spike pass) shortens it; one vectorised
  pass afterwards expands the bits into spikes, and XLA splits that pass
  over the cores.

  Each step computes the bits in the kernel that stores them, then resets
  the membrane from the stored row. Reading the row back orders the two
  kernels of the step (bits first, then the reset, which rewrites the carry
  in place); when XLA schedules the reset first it copies the carry every
  step and the loop is ~1.5x slower. The step is `LIF.__call__`'s:
  `integrate`, `fire` (`_fires`), `reset`, in the same dtypes, so spikes
  are identical.
  """
  shape = x.shape[1:]
  rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
  last = shape[-1]
  grouped = (_PACK, rows // _PACK, last)
  # NumPy constants, so that XLA folds them into the loop's kernels. (A
  # select of the weights where the neurons fire: XLA vectorises it better
  # than a float -> uint8 conversion.)
  weights = (1 << np.arange(_PACK, dtype=np.uint8)).reshape(_PACK, 1, 1)
  shifts = np.arange(_PACK, dtype=np.uint8).reshape(_PACK, 1, 1)

  def body(t, carry):
    v, bits = carry
    u = integrate(v, lax.dynamic_index_in_dim(x, t, 0, False), decay)
    row = jnp.sum(jnp.where(_fires(u, spec).reshape(grouped), weights, 0),
                  axis=0, dtype=jnp.uint8)
    bits = lax.dynamic_update_index_in_dim(bits, row, t, 0)
    row = lax.dynamic_index_in_dim(bits, t, 0, False)
    s = ((row >> shifts) & 1).reshape(u.shape).astype(u.dtype)
    v = reset(u, s, spec.threshold, spec.reset_mode, False).astype(v0.dtype)
    return v, bits

  bits = jnp.zeros((x.shape[0],) + grouped[1:], jnp.uint8)
  v_last, bits = lax.fori_loop(0, x.shape[0], body, (v0, bits))
  spikes = ((bits[:, None] >> shifts[None]) & 1).astype(x.dtype)
  return spikes.reshape(x.shape), v_last


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _lif_scan(x, v0, beta, spec):
  decay = spec.beta if beta is None else beta
  if _packable(x.shape[1:]):
    return _lif_spikes_packed(x, v0, decay, spec)
  return _lif_outputs(_lif_membranes(x, v0, decay, spec), x.dtype, v0.dtype,
                      spec)


def _lif_scan_fwd(x, v0, beta, spec):
  decay = spec.beta if beta is None else beta
  u = _lif_membranes(x, v0, decay, spec)
  # Only the pre-reset membranes are saved: spikes, surrogate slopes and the
  # post-reset states v_t = reset(u_t) are recomputed from them.
  return (_lif_outputs(u, x.dtype, v0.dtype, spec),
          (u, v0, beta, jnp.zeros((0,), x.dtype)))


def _lif_scan_bwd(spec, res, cts):
  """The LIF adjoint, one backward loop, summed as autodiff would sum it.

  With u_t the pre-reset membrane, s_t = H(u_t - theta) and sigma'_t the
  surrogate at u_t - theta, walking t backwards with m = dL/dv_t
  (= beta dL/du_{t+1}, or the final state's cotangent at t = T - 1):

    subtract: dL/du_t = m + (dL/ds_t - m theta) sigma'_t
    zero:     dL/du_t = m (1 - s_t) + (dL/ds_t - m u_t) sigma'_t
    (detach_reset drops the reset's spike term: dL/ds_t sigma'_t alone)

  then dL/dx_t = dL/du_t, dL/dv_0 = beta dL/du_0 and
  dL/dbeta = sum_t dL/du_t v_{t-1}. The loop updates the spikes' cotangent
  in place, row by row, into dL/du, and sums the beta gradient per unit as
  it goes; reading only that buffer and the saved membranes.
  """
  u, v0, beta, x_proto = res
  g_spikes, g_last = cts
  decay = spec.beta if beta is None else beta
  dtype = u.dtype
  theta = spec.threshold
  length = u.shape[0]

  def adjoint(m, u_t, g_t):
    """dL/du_t from m = dL/dv_t, the membrane u_t and dL/ds_t."""
    g_t = g_t.astype(dtype)
    sg = surrogate_lib.surrogate_gradient(u_t - theta, spec.surrogate,
                                          spec.slope)
    if spec.reset_mode == "subtract":
      direct = m
      g_s = g_t if spec.detach_reset else g_t - m * theta
    else:
      direct = m * (1 - _spikes_of(u_t, spec))
      g_s = g_t if spec.detach_reset else g_t - m * u_t
    return direct + g_s * sg

  learn = beta is not None

  def body(i, carry):
    buf, acc = carry
    t = length - 1 - i
    later = lax.dynamic_index_in_dim(buf, t + 1, 0, False)
    m = (decay * later).astype(v0.dtype).astype(dtype)
    u_t = lax.dynamic_index_in_dim(u, t, 0, False)
    g_t = lax.dynamic_index_in_dim(buf, t, 0, False)
    buf = lax.dynamic_update_index_in_dim(buf, adjoint(m, u_t, g_t), t, 0)
    if learn:
      # The beta gradient's term of step t + 1, dL/du_{t+1} v_t, with
      # v_t = reset(u_t) rebuilt as the forward built it. dL/du_{t+1} is
      # read from the updated buffer: any other read of the buffer before
      # the update makes XLA copy the whole buffer every step.
      v_t = reset(u_t, _spikes_of(u_t, spec), theta,
                  spec.reset_mode, False).astype(v0.dtype)
      acc = acc + lax.dynamic_index_in_dim(buf, t + 1, 0, False) * v_t
    return buf, acc

  # The loop turns the cotangent of the spikes into dL/du in place: step t
  # reads dL/ds_t and dL/du_{t+1} from rows t and t + 1 of one buffer and
  # overwrites row t (the cotangent is usually a temporary, so no fresh
  # (T, B, ...) buffer is touched). The beta gradient accumulates per unit
  # in the carry, in autodiff's order.
  m_last = jnp.broadcast_to(g_last.astype(dtype), u.shape[1:])
  g_end = adjoint(m_last, u[-1], g_spikes[-1])
  buf = g_spikes.astype(dtype).at[-1].set(g_end)
  acc = jnp.zeros(u.shape[1:], dtype) if learn else jnp.zeros((), dtype)
  g_u, acc = lax.fori_loop(1, length, body, (buf, acc))
  g_x = g_u.astype(x_proto.dtype)
  g_v0 = (decay * g_u[0]).astype(v0.dtype)
  if not learn:
    return g_x, g_v0, None
  # sum_t dL/du_t v_{t-1}: the loop summed t >= 1 per unit; t = 0 uses v_0.
  acc = jnp.sum(acc + g_u[0] * v0, axis=0)
  return g_x, g_v0, _sum_like(acc, beta.shape).astype(beta.dtype)


def _sum_like(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Sums `x` over the axes along which `shape` was broadcast to it."""
  lead = x.ndim - len(shape)
  if lead:
    x = x.sum(axis=tuple(range(lead)))
  axes = tuple(i for i, (a, b) in enumerate(zip(shape, x.shape))
               if a == 1 and b != 1)
  return x.sum(axis=axes, keepdims=True) if axes else x


_lif_scan.defvjp(_lif_scan_fwd, _lif_scan_bwd)


def lif_scan(x: jax.Array, v0: jax.Array, beta, spec: LIFScanSpec):
  """Runs the LIF step (`integrate`, `fire`, `reset`) over a whole sequence.

  The forward pass of scanning `LIF.__call__`: the same operations in the
  same order and dtypes (spikes agree exactly; a membrane may differ by an
  ulp where XLA contracts a multiply-add in one program and not in the
  other). Its gradient
  is a custom VJP (`_lif_scan_bwd`): one backward loop that reads only the
  saved pre-reset membranes, instead of autodiff through every step's
  Heaviside, surrogate and reset.

  Args:
    x: input currents `(T, B, *hidden_shape)`, T >= 1.
    v0: initial membranes `(B, *hidden_shape)`; the carry keeps its dtype.
    beta: the decay as an array broadcastable to `hidden_shape` (a
      learnable or per-unit decay; differentiated), or None to use the
      Python number `spec.beta`.
    spec: the static options.

  Returns:
    `(spikes, v_last)`: spikes `(T, B, *hidden_shape)` in `x`'s dtype and the
    membrane after the last step in `v0`'s dtype.
  """
  if beta is None and spec.beta is None:
    raise ValueError("lif_scan: give the decay as `beta` or `spec.beta`.")
  return _lif_scan(x, v0, beta, spec)


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


# Cores whose whole-sequence method `run` may call instead of scanning
# `__call__`: class -> (the `__call__` it is equivalent to, that method).
_WHOLE_SEQUENCE: dict[type, tuple[Any, Any]] = {}


def register_whole_sequence(cls: type, step, method) -> None:
  """Declares `method(core, x, state)` equivalent to scanning `step`."""
  _WHOLE_SEQUENCE[cls] = (step, method)


def whole_sequence_method(core) -> Any:
  """The method `run` may call for `core` over a whole sequence, or None.

  Found for a registered class and its subclasses while they keep the
  registered `__call__` and no mixed-precision policy targets their class (a
  policy casts every step's carry, which a fused scan would not).
  """
  cls = type(core)
  for owner in cls.__mro__:
    if owner in _WHOLE_SEQUENCE:
      step, method = _WHOLE_SEQUENCE[owner]
      if cls.__call__ is not step or getattr(cls, method.__name__) is not (
          method):
        return None
      if hk.mixed_precision.get_policy(cls) is not None:
        return None
      return getattr(core, method.__name__)
  return None


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
