"""Linear recurrences `h_t = a_t * h_{t-1} + b_t`, the one place they live.

Every SSM core, reset-free neuron and slot memory in spike_ssm reduces its
state update to this diagonal first-order recurrence and calls
`linear_scan`. Four evaluation modes share one signature and one result:

  sequential  `lax.scan` over T steps; a time-invariant `a` is closed over,
              never broadcast to `[T, ...]`.
  parallel    `lax.associative_scan` with the affine-map combine
              `(a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2)`: O(log T) depth.
  chunked     T is split into T/C chunks of C steps; a `lax.scan` of C steps
              runs all chunks at once from a zero state, a scan of T/C steps
              carries the true state across chunk boundaries, and one
              elementwise fix-up adds `(prod of a within the chunk) * carry`.
              C + T/C sequential steps instead of T.
  auto        the mode measured fastest for the backend (`auto_mode`).

Gradients come from a custom VJP: the transpose of a linear recurrence is the
same recurrence run in the other direction with `a` shifted by one step, so
the backward pass is one more `linear_scan` in the same mode, and only the
outputs `h` are saved (no associative-scan tree, no per-step residuals). In
sequential mode that scan is one loop that overwrites the cotangent's
buffer in place (`_in_place_loop`): no zero-filled `(T, ...)` output array.

Carries accumulate in float32 (complex64 for complex input) whatever the
input dtype; outputs come back in the inputs' result dtype.
"""

import enum
import functools
import math

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np


class ScanMode(str, enum.Enum):
  """Evaluation strategy for `linear_scan`."""
  SEQUENTIAL = "sequential"
  PARALLEL = "parallel"
  CHUNKED = "chunked"
  AUTO = "auto"


_MODES = tuple(m.value for m in ScanMode)


# What `auto` runs, per backend: `(longest T, mode)` rows in increasing T,
# the first row whose bound is >= T wins (None: any T). One table for every
# caller (linear_scan, the selective and routed scans, the SSM layers).
# Measured with
#   PYTHONPATH=$PWD python -m benchmarks.run --only=linear_scan,PSU_LIF,S5,LRU
# (fwd+bwd, every mode, interleaved in one process):
#   cpu  2-core AMD EPYC, jax 0.10.2 (2026-12-04): sequential is fastest at
#        every T measured (256..16384) and in every layer; the associative
#        tree does ~2x the flops and XLA:CPU runs a scan step cheaply. On
#        the LIF recurrence (T=1000, B*D=8192 per step), lax.scan with
#        unroll=2..8 and a blocked scan (K=2..40 steps per iteration) were
#        each slower than unroll=1, so no unrolled mode is offered.
#        complex_pair_scan (T=1024, state 16 x 128, 2026-12-04, load 1-4):
#        splitting the batch or the states into two independent loops, for
#        XLA:CPU to run on both cores, was 1.7-2.9x slower fwd and f+b
#        than one loop; running 2..16 chunks side by side as a wider state
#        (strided in-place reads, a carry pass and a fix-up) 2.6x slower
#        fwd; unroll=2..8 1.4-3x slower. So `sequential` stays one loop.
#   gpu  NVIDIA H200, jax 0.11.2 (2026-12-04, benchmarks/results_gpu.json,
#        via benchmarks/gpu_bench.sh): parallel is fastest at every T
#        measured, 256..16384 (linear_scan fwd+bwd at T=256: parallel 0.17
#        ms, chunked 0.85, sequential 5.6; S5/LRU T=1024: parallel 0.5 ms,
#        sequential 13.7): each sequential step is a kernel launch. T below
#        256 was not measured; the threshold 32 is the earlier rule's.
#   tpu  not measured; follows the GPU rows.
AUTO_TABLE: dict[str, tuple[tuple[int | None, str], ...]] = {
    "cpu": ((None, "sequential"),),
    "gpu": ((32, "sequential"), (None, "parallel")),
    "tpu": ((32, "sequential"), (None, "parallel")),
}
# Backends absent from the table (e.g. a plugin) use this one's rows.
_AUTO_FALLBACK = "gpu"


def auto_mode(length: int, backend: str | None = None) -> ScanMode:
  """The mode `auto` resolves to for a sequence of `length` on `backend`.

  Looked up in `AUTO_TABLE` (measured per backend; see the comment there).

  Args:
    length: sequence length T.
    backend: a JAX backend name; defaults to `jax.default_backend()`.

  Returns:
    A concrete `ScanMode` (never `AUTO`).
  """
  backend = backend or jax.default_backend()
  rows = AUTO_TABLE.get(backend, AUTO_TABLE[_AUTO_FALLBACK])
  for bound, mode in rows:
    if bound is None or length <= bound:
      return ScanMode(mode)
  return ScanMode(rows[-1][1])


def default_chunk_size(length: int) -> int:
  """The divisor of `length` closest to sqrt(length) (ties: the larger)."""
  if length <= 0:
    return 1
  root = math.sqrt(length)
  best = 1
  for c in range(1, int(root) + 2):
    if length % c == 0:
      for cand in (c, length // c):
        if abs(cand - root) < abs(best - root) or (
            abs(cand - root) == abs(best - root) and cand > best):
          best = cand
  return best


def carry_dtype(*dtypes) -> jnp.dtype:
  """Accumulation dtype: at least float32, complex if any input is complex."""
  return jnp.promote_types(jnp.result_type(*dtypes), jnp.float32)


def _sum_to_shape(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Sums `x` over the axes along which `shape` was broadcast to `x.shape`."""
  lead = x.ndim - len(shape)
  if lead:
    x = x.sum(axis=tuple(range(lead)))
  axes = tuple(
      i for i, (s, t) in enumerate(zip(shape, x.shape)) if s == 1 and t != 1)
  if axes:
    x = x.sum(axis=axes, keepdims=True)
  return x


# ----------------------------------------------------------------------------
# The three evaluation strategies. All take `a` either time-varying
# ([T, *Sa], broadcastable to [T, *S]) or time-invariant ([*Sa], broadcastable
# to [*S]), `b` of shape [T, *S] and `h0` of shape [*S], all already in the
# carry dtype, and return h of shape [T, *S] in `out_dtype`.
# ----------------------------------------------------------------------------


def _sequential(a, b, h0, reverse, time_varying, out_dtype):
  if time_varying:
    def step(h, ab):
      a_t, b_t = ab
      h = a_t * h + b_t
      return h, h.astype(out_dtype)
    xs = (a, b)
  else:
    def step(h, b_t):
      h = a * h + b_t
      return h, h.astype(out_dtype)
    xs = b
  _, hs = lax.scan(step, h0, xs, reverse=reverse)
  return hs


def _affine_combine(earlier, later):
  a1, b1 = earlier
  a2, b2 = later
  return a1 * a2, a2 * b1 + b2


def _parallel(a, b, h0, reverse, time_varying, out_dtype):
  del time_varying  # The tree needs every step's `a` explicitly.
  a = jnp.broadcast_to(a, b.shape)
  # Fold the initial state into the first step to be applied.
  first = -1 if reverse else 0
  b = b.at[first].add(a[first] * h0)
  _, h = lax.associative_scan(_affine_combine, (a, b), reverse=reverse, axis=0)
  return h.astype(out_dtype)


def _chunked(a, b, h0, reverse, time_varying, out_dtype, chunk_size):
  if reverse:
    a = a[::-1] if time_varying else a
    h = _chunked(a, b[::-1], h0, False, time_varying, out_dtype, chunk_size)
    return h[::-1]
  length, state_shape = b.shape[0], b.shape[1:]
  c, n = chunk_size, b.shape[0] // chunk_size
  bc = b.reshape(n, c, *state_shape).swapaxes(0, 1)  # [C, n, *S]
  zeros = jnp.zeros((n, *state_shape), b.dtype)
  if time_varying:
    ac = a.reshape(n, c, *a.shape[1:]).swapaxes(0, 1)  # [C, n, *Sa]

    def step(carry, ab):
      h, prod = carry
      a_t, b_t = ab
      h, prod = a_t * h + b_t, a_t * prod
      return (h, prod), (h, prod)

    ones = jnp.ones((n, *a.shape[1:]), a.dtype)
    _, (h_loc, a_cum) = lax.scan(step, (zeros, ones), (ac, bc))
    a_end = a_cum[-1]  # [n, *Sa]: product of a over each whole chunk.
  else:
    def step(h, b_t):
      h = a * h + b_t
      return h, h

    _, h_loc = lax.scan(step, zeros, bc)
    # Powers a^1..a^C are shared by every chunk: [C, *Sa], not [C, n, *Sa].
    a_cum = lax.scan(lambda p, _: (a * p, a * p), jnp.ones_like(a), None,
                     length=c)[1]
    a_end = a_cum[-1]
    a_cum = a_cum[:, None]  # [C, 1, *Sa]
  # carry_in[k] = h at the last step of chunk k-1 (h0 for k = 0).
  if time_varying:
    def cross(h, xs):
      a_k, hl_k = xs
      return a_k * h + hl_k, h
    _, carry_in = lax.scan(cross, h0, (a_end, h_loc[-1]))
  else:
    def cross(h, hl_k):
      return a_end * h + hl_k, h
    _, carry_in = lax.scan(cross, h0, h_loc[-1])
  h = h_loc + a_cum * carry_in[None]  # [C, n, *S]
  return h.swapaxes(0, 1).reshape(length, *state_shape).astype(out_dtype)


def _evaluate(a, b, h0, mode, reverse, chunk_size, time_varying, out_dtype):
  if mode == ScanMode.SEQUENTIAL:
    return _sequential(a, b, h0, reverse, time_varying, out_dtype)
  if mode == ScanMode.PARALLEL:
    return _parallel(a, b, h0, reverse, time_varying, out_dtype)
  return _chunked(a, b, h0, reverse, time_varying, out_dtype, chunk_size)


# ----------------------------------------------------------------------------
# Custom VJP: the backward pass is one more linear scan.
# ----------------------------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6))
def _scan(a, b, h0, mode, reverse, chunk_size, time_varying):
  ct = carry_dtype(a.dtype, b.dtype, h0.dtype)
  out_dtype = jnp.result_type(a.dtype, b.dtype)
  return _evaluate(a.astype(ct), b.astype(ct), h0.astype(ct), mode, reverse,
                   chunk_size, time_varying, out_dtype)


def _scan_fwd(a, b, h0, mode, reverse, chunk_size, time_varying):
  h = _scan(a, b, h0, mode, reverse, chunk_size, time_varying)
  return h, (a, h0, h, jnp.zeros((0,), b.dtype))


def _cotangent(x: jax.Array, shape, dtype) -> jax.Array:
  """Reduces a cotangent to a primal's shape and dtype.

  A real primal that fed a complex computation gets the real part of its
  cotangent (JAX's convention for the transpose of real -> complex).
  """
  x = _sum_to_shape(x, shape)
  if jnp.iscomplexobj(x) and not jnp.issubdtype(dtype, jnp.complexfloating):
    x = jnp.real(x)
  return x.astype(dtype)


def _in_place_loop(step, buf, carry, reverse: bool):
  """Runs `carry, buf[t] = step(carry, buf[t], t, live)` for every t, in place.

  A loop that reads slot t of `buf` and overwrites it with the step's
  output, so the results take the input's buffer: no zero-filled output
  array is allocated, filled and copied (what `lax.scan`'s stacked outputs
  cost on XLA:CPU, one fresh array of `buf`'s size per loop), and when the
  caller's `buf` is dead afterwards (a cotangent, a projection's output) XLA
  updates it without a copy. Other per-step operands are read with
  `lax.dynamic_index_in_dim(x, t)` inside `step`.

  Each iteration first writes the previous step's output and then reads its
  own slot from the written buffer, so every read of the buffer follows the
  write in dataflow order. (Writing after the step instead lets XLA:CPU fuse
  the slot's read into a consumer the write does not depend on, e.g. the new
  carry, and it then copies the whole buffer every step.) One extra
  iteration writes the last output (a write after the loop is duplicated
  into each consumer of the result, each on its own copy of the buffer);
  its step sees `live=False` and a clamped `t`, and must leave every carry
  the caller reads afterwards unchanged (e.g. add `where(live, term, 0)` to
  an accumulator); the others may take any value.

  Returns:
    `(final carry, buf)`.
  """
  length = buf.shape[0]
  index = (lambda i: length - 1 - i) if reverse else (lambda i: i)

  def body(i, state):
    carry, buf, y_prev = state
    # At i = 0 this writes slot 0's own value back (y_prev starts as it).
    buf = lax.dynamic_update_index_in_dim(
        buf, y_prev, index(jnp.maximum(i - 1, 0)), 0)
    t = index(i)  # Out of range at i = length: clamped by the reads.
    carry, y_t = step(carry, lax.dynamic_index_in_dim(buf, t, keepdims=False),
                      t, i < length)
    return carry, buf, y_t

  first = lax.dynamic_index_in_dim(buf, index(0), keepdims=False)
  carry, buf, _ = lax.fori_loop(0, length + 1, body, (carry, buf, first))
  return carry, buf


def _sequential_bwd(a, h0, h, g_out, reverse, time_varying, b_dtype):
  """Adjoint of the sequential scan: one in-place loop over the cotangent.

  For the forward recurrence the adjoint is g_t = dL/dh_t + a_{t+1} g_{t+1},
  with dL/db_t = g_t and dL/da_t = g_t h_{t-1}. Walking t backwards, the
  carry holds m = a_{t+1} g_{t+1} (and, for a time-invariant `a`, g_{t+1} and
  the running sum of g_{t+1} h_t, its gradient); step t overwrites dL/dh_t
  with g_t in the cotangent's own buffer (`_in_place_loop`). A time-varying
  `a` gets its gradient g_t h_{t-1} from one elementwise pass afterwards.
  """
  ct = carry_dtype(a.dtype, b_dtype, h0.dtype)
  zeros = jnp.zeros(h.shape[1:], ct)
  a_c = a.astype(ct)
  read = lambda x, t: lax.dynamic_index_in_dim(x, t, keepdims=False)

  if time_varying:
    def step(m, ct_t, t, live):
      del live  # The final m is not read.
      g = ct_t + m
      return read(a_c, t) * g, g
    _, g = _in_place_loop(step, g_out.astype(ct), zeros, not reverse)
  else:
    h_c = h.astype(ct)

    def step(carry, ct_t, t, live):
      m, g_next, a_acc = carry
      g = ct_t + m
      a_acc = a_acc + jnp.where(live, g_next * read(h_c, t), 0)
      return (a_c * g, g, a_acc), g
    (_, _, a_acc), g = _in_place_loop(step, g_out.astype(ct),
                                      (zeros, zeros, zeros), not reverse)
  first = -1 if reverse else 0
  g_first = g[first]
  # dL/dh0 = a_first g_first; g_first h0 is the a-gradient of the first step
  # applied, which no loop step added.
  h0_c = jnp.broadcast_to(h0.astype(ct), h.shape[1:])
  if time_varying:
    m0 = a_c[first] * g_first
    h_c = h.astype(ct)
    h_prev = (jnp.concatenate([h_c[1:], h0_c[None]]) if reverse else
              jnp.concatenate([h0_c[None], h_c[:-1]]))
    a_bar = g * h_prev
  else:
    m0 = a_c * g_first
    a_bar = a_acc + g_first * h0_c
  return a_bar, _cotangent(g, g.shape, b_dtype), m0


def _scan_bwd(mode, reverse, chunk_size, time_varying, res, g_out):
  a, h0, h, b_proto = res
  g_out = jnp.asarray(g_out)
  if mode == ScanMode.SEQUENTIAL:
    a_bar, b_bar, h0_bar = _sequential_bwd(a, h0, h, g_out, reverse,
                                           time_varying, b_proto.dtype)
    return (_cotangent(a_bar, a.shape, a.dtype), b_bar,
            _cotangent(h0_bar, h0.shape, h0.dtype))
  ct = carry_dtype(a.dtype, b_proto.dtype, h0.dtype)
  a_c = a.astype(ct)
  if time_varying:
    # The transposed recurrence g_t = a_{t+1} g_{t+1} + dL/dh_t (forward case)
    # runs the other way and pairs step t with a of the step after it.
    zero_step = jnp.zeros((1, *a.shape[1:]), ct)
    a_next = (jnp.concatenate([zero_step, a_c[:-1]]) if reverse else
              jnp.concatenate([a_c[1:], zero_step]))
  else:
    a_next = a_c
  g = _evaluate(a_next, g_out.astype(ct), jnp.zeros(h.shape[1:], ct), mode,
                not reverse, chunk_size, time_varying, ct)
  h_c = h.astype(ct)
  h0_b = jnp.broadcast_to(h0.astype(ct), h.shape[1:])[None]
  h_prev = (jnp.concatenate([h_c[1:], h0_b]) if reverse else
            jnp.concatenate([h0_b, h_c[:-1]]))
  first = -1 if reverse else 0
  a_first = a_c[first] if time_varying else a_c
  a_bar = _cotangent(g * h_prev, a.shape, a.dtype)
  b_bar = _cotangent(g, g.shape, b_proto.dtype)
  h0_bar = _cotangent(a_first * g[first], h0.shape, h0.dtype)
  return a_bar, b_bar, h0_bar


_scan.defvjp(_scan_fwd, _scan_bwd)
# Compiled as one unit so that eager (op-by-op) callers do not dispatch the
# associative-scan tree one slice at a time; inside an outer jit it inlines.
_scan_jit = jax.jit(_scan, static_argnums=(3, 4, 5, 6))


# ----------------------------------------------------------------------------
# Public entry point.
# ----------------------------------------------------------------------------


def _check_inexact(name: str, x: jax.Array) -> None:
  if not jnp.issubdtype(x.dtype, jnp.inexact):
    raise TypeError(
        f"linear_scan: `{name}` must be a floating or complex array, got "
        f"dtype {x.dtype}.")


def linear_scan(a: jax.Array,
                b: jax.Array,
                h0: jax.Array | None = None,
                *,
                mode: str | ScanMode = "auto",
                reverse: bool = False,
                chunk_size: int | None = None) -> jax.Array:
  """Evaluates `h_t = a_t * h_{t-1} + b_t` along axis 0.

  With `reverse=True` the recurrence runs backwards in time,
  `h_t = a_t * h_{t+1} + b_t`, and `h0` is the state after the last step.

  Args:
    a: decay, real or complex. Either time-varying, shape `(T, ...)`
      broadcastable to `b.shape`, or time-invariant, shape `(...)` (fewer
      dims than `b`, or a leading axis of 1) broadcastable to `b.shape[1:]`;
      a time-invariant `a` is never materialised `T` times by the
      sequential and chunked modes.
    b: input, shape `(T, ...)`, real or complex.
    h0: optional initial state broadcastable to `b.shape[1:]` (default 0).
    mode: "sequential", "parallel", "chunked" or "auto" (see `auto_mode`).
    reverse: run from the last step to the first.
    chunk_size: chunk length C for `mode="chunked"`; must divide T. Defaults
      to the divisor of T closest to sqrt(T).

  Returns:
    All states `h`, shape `(T, *S)` with `S` the broadcast of the trailing
    shapes of `a`, `b` and `h0`, in dtype `result_type(a, b)`. Internally the
    carry is at least float32.

  Raises:
    ValueError: on a missing time axis, shapes that do not broadcast, an
      unknown mode, or a chunk size that is not a positive divisor of T.
    TypeError: on integer or boolean inputs.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  _check_inexact("a", a)
  _check_inexact("b", b)
  if b.ndim < 1:
    raise ValueError(
        "linear_scan: `b` must have a leading time axis, shape (T, ...); got "
        f"a scalar of shape {b.shape}.")
  try:
    mode = ScanMode(mode)
  except ValueError:
    raise ValueError(
        f"linear_scan: `mode` must be one of {_MODES}, got {mode!r}.") from None
  length = b.shape[0]
  time_varying = a.ndim == b.ndim and a.shape[0] == length and length != 1
  if a.ndim == b.ndim and not time_varying:
    if a.shape[0] != 1:
      raise ValueError(
          f"linear_scan: `a` has shape {a.shape}: its leading (time) axis must "
          f"be {length} (time-varying) or 1 (time-invariant) to match `b` of "
          f"shape {b.shape}.")
    a = a[0]
  if a.ndim > b.ndim:
    raise ValueError(
        f"linear_scan: `a` of shape {a.shape} has more dims than `b` of shape "
        f"{b.shape}.")
  trailing = [b.shape[1:], a.shape[1:] if time_varying else a.shape]
  if h0 is not None:
    h0 = jnp.asarray(h0)
    _check_inexact("h0", h0)
    trailing.append(h0.shape)
  try:
    state_shape = jnp.broadcast_shapes(*trailing)
  except ValueError:
    names = "`a`, `b`" + (" and `h0`" if h0 is not None else "")
    raise ValueError(
        f"linear_scan: {names} do not broadcast to one state shape: a "
        f"{a.shape} ({'time-varying' if time_varying else 'time-invariant'}), "
        f"b {b.shape}" + (f", h0 {h0.shape}" if h0 is not None else "") +
        ".") from None
  if chunk_size is not None:
    if (not isinstance(chunk_size, (int, np.integer)) or
        isinstance(chunk_size, bool) or chunk_size <= 0):
      raise ValueError(
          f"linear_scan: `chunk_size` must be a positive int, got "
          f"{chunk_size!r}.")
    if length % chunk_size:
      raise ValueError(
          f"linear_scan: `chunk_size`={chunk_size} does not divide the "
          f"sequence length T={length}.")
  if mode == ScanMode.AUTO:
    mode = auto_mode(length)
  if mode == ScanMode.CHUNKED and chunk_size is None:
    chunk_size = default_chunk_size(length)
  if mode != ScanMode.CHUNKED:
    chunk_size = None
  b = jnp.broadcast_to(b, (length, *state_shape))
  if not time_varying:
    # Right-align a time-invariant `a` with the state so that chunked mode
    # can put a chunk axis in front of it.
    a = a.reshape((1,) * (len(state_shape) - a.ndim) + a.shape)
  if h0 is None:
    h0 = jnp.zeros(state_shape, carry_dtype(a.dtype, b.dtype))
  else:
    h0 = jnp.broadcast_to(h0, state_shape)
  if length == 0:
    return b.astype(jnp.result_type(a.dtype, b.dtype))
  return _scan_jit(a, b, h0, mode, bool(reverse), chunk_size, time_varying)


# ----------------------------------------------------------------------------
# The diagonal complex recurrence on real pairs (sequential).
# ----------------------------------------------------------------------------


def _rotate(a_re, a_im, h, conjugate: bool):
  """`a * h` (or `conj(a) * h`) for `h` in split layout `[re | im]`."""
  k = a_re.shape[-1]
  h_re, h_im = h[..., :k], h[..., k:]
  if conjugate:
    return jnp.concatenate([a_re * h_re + a_im * h_im,
                            a_re * h_im - a_im * h_re], axis=-1)
  return jnp.concatenate([a_re * h_re - a_im * h_im,
                          a_re * h_im + a_im * h_re], axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _pair_scan(a_re, a_im, b, reverse):
  def step(h, b_t, t, live):
    del t, live  # The final h is not read.
    h = _rotate(a_re, a_im, h, False) + b_t
    return h, h
  return _in_place_loop(step, b, jnp.zeros(b.shape[1:], b.dtype), reverse)[1]


def _pair_scan_fwd(a_re, a_im, b, reverse):
  h = _pair_scan(a_re, a_im, b, reverse)
  return h, (a_re, a_im, h)


def _pair_scan_bwd(reverse, res, g_out):
  """The adjoint recurrence `g_t = dL/dh_t + conj(a) g_{t+1}`, one loop.

  As `_sequential_bwd`: the carry holds `(conj(a) g_{t+1}, g_{t+1})` and the
  per-example a-gradient `sum_t conj(h_t) g_{t+1}` (its real and imaginary
  parts are the gradients of `a_re` and `a_im`), and g_t overwrites dL/dh_t
  in the cotangent's buffer; the state before the first step is zero, so it
  adds nothing.
  """
  a_re, a_im, h = res
  k = a_re.shape[-1]
  zeros = jnp.zeros(h.shape[1:], h.dtype)
  half = jnp.zeros(h.shape[1:-1] + (k,), h.dtype)

  def step(carry, g_t, t, live):
    m, g_next, acc_re, acc_im = carry
    g = g_t + m
    h_t = lax.dynamic_index_in_dim(h, t, keepdims=False)
    gn_re, gn_im = g_next[..., :k], g_next[..., k:]
    h_re, h_im = h_t[..., :k], h_t[..., k:]
    acc_re = acc_re + jnp.where(live, gn_re * h_re + gn_im * h_im, 0)
    acc_im = acc_im + jnp.where(live, gn_im * h_re - gn_re * h_im, 0)
    return (_rotate(a_re, a_im, g, True), g, acc_re, acc_im), g

  (_, _, acc_re, acc_im), g = _in_place_loop(
      step, g_out.astype(h.dtype), (zeros, zeros, half, half), not reverse)
  return (_sum_to_shape(acc_re, a_re.shape), _sum_to_shape(acc_im, a_im.shape),
          g)


_pair_scan.defvjp(_pair_scan_fwd, _pair_scan_bwd)


def complex_pair_scan(a_re: jax.Array,
                      a_im: jax.Array,
                      b: jax.Array,
                      *,
                      reverse: bool = False) -> jax.Array:
  """`h_t = a * h_{t-1} + b_t` for complex `a`, `b`, `h` kept as real pairs.

  The diagonal complex recurrence of S5 / LRU in "split" layout: the last
  axis of `b` and `h` holds `K` real parts followed by `K` imaginary parts,
  the layout one real matmul against `[Re(W); Im(W)]` produces, so the
  layers go from input projection to scan to readout without building a
  complex array. Evaluated sequentially from `h_{-1} = 0` (the fastest mode
  on CPU) in one loop that overwrites `b`'s buffer with `h`, with a custom
  VJP that saves only `h` and runs the adjoint as one reverse loop over the
  cotangent's buffer. Equals `linear_scan(a_re + i a_im, b_re + i
  b_im, mode="sequential")` in split layout.

  Args:
    a_re: real parts of the time-invariant decay, `(K,)` (or broadcastable
      to `b.shape[1:-1] + (K,)`).
    a_im: imaginary parts, same shape as `a_re`.
    b: inputs `(T, ..., 2K)`, real, split layout.
    reverse: run from the last step to the first.

  Returns:
    `h`, the shape and dtype of `b`, split layout.

  Raises:
    ValueError: a `b` without a time axis or whose last axis is not twice
      the size of `a_re`'s, or `a_re` and `a_im` of different shapes.
    TypeError: complex or integer inputs.
  """
  a_re, a_im, b = jnp.asarray(a_re), jnp.asarray(a_im), jnp.asarray(b)
  for name, x in (("a_re", a_re), ("a_im", a_im), ("b", b)):
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(f"complex_pair_scan: `{name}` must be a real floating "
                      f"array, got dtype {x.dtype}.")
  if a_re.shape != a_im.shape or a_re.ndim < 1:
    raise ValueError(
        f"complex_pair_scan: `a_re` {a_re.shape} and `a_im` {a_im.shape} must "
        "have the same shape, with K on the last axis.")
  if b.ndim < 2 or b.shape[-1] != 2 * a_re.shape[-1]:
    raise ValueError(
        f"complex_pair_scan: `b` must be (T, ..., 2K) with K = "
        f"{a_re.shape[-1]} from `a_re`; got shape {b.shape}.")
  dtype = jnp.result_type(a_re.dtype, a_im.dtype, b.dtype)
  if b.shape[0] == 0:
    return b.astype(dtype)
  return _pair_scan(a_re.astype(dtype), a_im.astype(dtype), b.astype(dtype),
                    bool(reverse))
