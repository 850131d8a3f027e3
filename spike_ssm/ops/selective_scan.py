"""The selective scan of Mamba (Gu & Dao, 2023), without `[T, B, D, N]`.

Mamba's core is a diagonal linear recurrence whose step `dt`, input matrix
`B_t` and readout `C_t` depend on the input (arXiv:2312.00752, Alg. 2):

  h_t = exp(dt_t A) * h_{t-1} + (dt_t x_t) B_t        h: (..., D, N)
  y_t = C_t . h_t + d * x_t                           y: (..., D)

with `A` (D, N) real and negative, `dt_t`, `x_t` of width D and `B_t`, `C_t`
of width N shared by every channel. The input term is the simplified Euler
`dt B x` of the reference implementation, not the exact ZOH integral.

The state is D*N times wider than the input, so a whole-sequence layer must
never hold every step's state: at D = 128, N = 16, T = 1024 and a batch of 8
that is 64 MiB per activation in float32, and autodiff of a naive scan keeps
several such arrays for the backward pass. Here the sequence is cut into
chunks of C steps; an outer `lax.scan` carries the `(..., D, N)` state from
chunk to chunk, and the backward pass recomputes each chunk instead of
storing it (`jax.checkpoint` of the chunk function in the parallel modes, a
custom VJP that recomputes the chunk's states in the sequential mode), so

  forward   holds one chunk:  (C, ..., D, N) in the parallel modes, only
            (..., D, N) per step in the sequential mode;
  backward  stores only the chunk-boundary states (T/C, ..., D, N) and
            recomputes one chunk at a time: O((T/C + C) * B * D * N) memory
            instead of O(T * B * D * N); C ~ sqrt(T) minimises it.

Inside a chunk the recurrence runs in one of the `linear_scan` modes:

  sequential  a `lax.scan` over the chunk's steps whose step forms
              `exp(dt_t A)`, the input term and the contraction with `C_t`
              on the `(..., D, N)` carry, so no array has a time axis and a
              state axis at once.
  parallel    the chunk's `(C, ..., D, N)` decays and inputs go through
              `linear_scan(mode="parallel")` (associative scan) from the
              carried state; O(log C) depth for accelerators.
  chunked     the same through `linear_scan(mode="chunked")`.
  auto        `scans.auto_mode`: sequential on CPU, parallel on GPU/TPU.
              Measured on a 2-core CPU (B=8, T=1024, D=128, N=16): forward
              18 ms sequential vs 46 ms parallel (C=16, its best), forward
              + backward 110 ms vs 187 ms.

A length that is not a multiple of C is right-padded with `dt = 0` steps:
`exp(0 A) = 1` and a zero input leave the state unchanged, so the final
state is exact and the padded outputs are cropped.

Shapes: `T` time, `...` any batch dims (usually `B`), `D` channels, `N`
state size per channel (the paper's N). All math accumulates in at least
float32; outputs come back in the dtype of `x`.
"""

import functools
import math

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import scans

MODES = tuple(m.value for m in scans.ScanMode)


def softplus_inverse(y: jax.Array) -> jax.Array:
  """`x` with `softplus(x) = y` for `y > 0`: `y + log(-expm1(-y))`."""
  y = jnp.asarray(y)
  return y + jnp.log(-jnp.expm1(-y))


def default_chunk_size(length: int) -> int:
  """The remat chunk length used when none is given: ~sqrt(T), >= 1.

  Peak backward memory is about (T/C + C) states, minimised at C = sqrt(T);
  a power of two keeps the chunk count small for long sequences.
  """
  if length <= 1:
    return 1
  return 1 << max(0, round(math.log2(math.sqrt(length))))


# Bytes that one `(C, ..., D, N)` float32 chunk may take when a parallel or
# chunked scan picks its own chunk length on these backends; elsewhere (the
# CPU) the chunk stays ~sqrt(T), which minimises memory. Measured on an
# NVIDIA H200 (jax 0.11.2, 2026-12-04; Mamba T=1024 B=8 D=64 N=16, parallel
# mode, median of 20 interleaved calls, fwd / fwd+bwd ms): C=32 (sqrt) 0.62
# / 1.86, C=128 0.46 / 1.17, C=256 0.39 / 1.16, C=1024 (one chunk, no
# remat) 0.29 / 1.05, Spyx's materialised associative scan 0.31 / 1.15;
# MambaBlock 0.87 / 2.68 at C=32 and 0.36 / 1.84 at C=1024 (Spyx 0.45 /
# 2.11); `python -m benchmarks.sweeps --only=mamba_chunk`. Every chunk is an iteration of the outer loop, a round of kernel
# launches on a GPU, so there the chunk grows to this budget (at most T).
PARALLEL_CHUNK_BYTES = {"gpu": 512 << 20}


def parallel_chunk_size(length: int, state_size: int,
                        backend: str | None = None) -> int:
  """The default chunk length of the parallel and chunked modes.

  Args:
    length: T.
    state_size: elements of one step's state, `prod((..., D, N))`.
    backend: a JAX backend name; None for the default backend.

  Returns:
    `default_chunk_size(length)` on backends without an entry in
    `PARALLEL_CHUNK_BYTES`; on the others the longest chunk whose float32
    `(C, ..., D, N)` array fits the entry's bytes: T if it fits, else a
    power of two, never below `default_chunk_size(length)`.
  """
  base = default_chunk_size(length)
  budget = PARALLEL_CHUNK_BYTES.get(backend or jax.default_backend())
  if budget is None or length <= 1:
    return base
  fits = budget // (4 * max(int(state_size), 1))
  if fits >= length:
    return length
  return max(base, 1 << max(0, int(fits).bit_length() - 1))


def _resolve_mode(mode, length: int) -> scans.ScanMode:
  try:
    mode = scans.ScanMode(mode)
  except ValueError:
    raise ValueError(
        f"selective_scan: `mode` must be one of {MODES}, got {mode!r}."
    ) from None
  if mode == scans.ScanMode.AUTO:
    mode = scans.auto_mode(length)
  return mode


def _step(h, dt_t, dtx_t, b_t, c_t, a):
  """One step on the `(..., D, N)` carry; returns `(h_t, C_t . h_t)`."""
  decay = jnp.exp(dt_t[..., None] * a)  # [..., D, N]
  h = decay * h + dtx_t[..., None] * b_t[..., None, :]  # [..., D, N]
  # Multiply-and-reduce rather than a batched dot: it fuses with the update
  # into one loop over the carry on CPU.
  y = jnp.sum(h * c_t[..., None, :], axis=-1)  # [..., D]
  return h, y


def _sum_to(x: jax.Array, ndim: int) -> jax.Array:
  """Sums the leading axes of `x` away, keeping the last `ndim`."""
  return x.sum(axis=tuple(range(x.ndim - ndim))) if x.ndim > ndim else x


@jax.custom_vjp
def _sequential_chunk(h, xs, a):
  """A chunk of C steps by `lax.scan`; returns `(h_C, (C_t . h_t)_t)`."""
  return lax.scan(lambda h, x: _step(h, *x, a), h, xs)


def _sequential_chunk_fwd(h, xs, a):
  # Residuals are the chunk's inputs only, (C, ..., D) and (C, ..., N), and
  # the entering state: the backward recomputes the states it needs.
  return _sequential_chunk(h, xs, a), (h, xs, a)


def _sequential_chunk_bwd(res, g):
  """Adjoint of one sequential chunk, recomputing its states.

  With `G_t = dL/dh_t` (through every later step), `m_t = exp(dt_t A) G_t`
  and the chunk's outgoing cotangent `m_C = dL/dh_C`:

    G_t      = dy_t C_t + m_{t+1}
    dC_t     = sum_D dy_t h_t            dB_t = sum_D G_t (dt_t x_t)
    d(dt x)_t = sum_N G_t B_t            dA  += sum G_t h_{t-1} e_t dt_t
    d(dt)_t  = sum_N G_t h_{t-1} e_t A   (e_t = exp(dt_t A))

  One forward scan re-forms `h_{t-1}` for the chunk, `(C, ..., D, N)`, and
  one reverse scan applies the rules above, fused per step: this is what
  autodiff of the remat'd chunk would compute, without stacking its
  per-step residuals. On a 2-core CPU (B=8, T=1024, D=128, N=16, C=32) the
  forward+backward is 13-20% faster than `jax.checkpoint` + autodiff of
  the same `lax.scan`.
  """
  h0, xs, a = res
  g_h, g_y = g
  dt, dtx, b, c = xs

  def forward(h, x):
    dt_t, dtx_t, b_t = x
    h_next = (jnp.exp(dt_t[..., None] * a) * h +
              dtx_t[..., None] * b_t[..., None, :])
    return h_next, h

  _, h_prev = lax.scan(forward, h0, (dt, dtx, b))  # [C, ..., D, N]

  def backward(carry, x):
    m, g_a = carry
    dt_t, dtx_t, b_t, c_t, dy_t, hp_t = x
    decay = jnp.exp(dt_t[..., None] * a)  # [..., D, N]
    h_t = decay * hp_t + dtx_t[..., None] * b_t[..., None, :]
    grad_c = jnp.sum(dy_t[..., None] * h_t, axis=-2)  # [..., N]
    big_g = dy_t[..., None] * c_t[..., None, :] + m  # [..., D, N]
    grad_b = jnp.sum(big_g * dtx_t[..., None], axis=-2)  # [..., N]
    grad_dtx = jnp.sum(big_g * b_t[..., None, :], axis=-1)  # [..., D]
    g_exp = big_g * hp_t * decay  # dL/d(dt_t A), [..., D, N]
    grad_dt = jnp.sum(g_exp * a, axis=-1)  # [..., D]
    g_a = g_a + _sum_to(g_exp * dt_t[..., None], 2)
    return (decay * big_g, g_a), (grad_dt, grad_dtx, grad_b, grad_c)

  (g_h0, g_a), grads = lax.scan(
      backward, (g_h, jnp.zeros_like(a)), (dt, dtx, b, c, g_y, h_prev),
      reverse=True)
  return g_h0, grads, g_a


_sequential_chunk.defvjp(_sequential_chunk_fwd, _sequential_chunk_bwd)


def _chunk(h, xs, a, mode: scans.ScanMode):
  """Runs one chunk of C steps from the carried state `h`.

  Args:
    h: state entering the chunk, `(..., D, N)`, carry dtype.
    xs: `(dt, dt * x, b, c)`, each `(C, ..., D)` or `(C, ..., N)`.
    a: `(D, N)`, negative.
    mode: a concrete mode (not AUTO).

  Returns:
    `(h_C, y)`: the state after the chunk and `C_t . h_t`, `(C, ..., D)`.
  """
  if mode == scans.ScanMode.SEQUENTIAL:
    return _sequential_chunk(h, xs, a)
  dt, dtx, b, c = xs
  decay = jnp.exp(dt[..., None] * a)  # [C, ..., D, N]
  inputs = dtx[..., None] * b[..., None, :]  # [C, ..., D, N]
  hs = scans.linear_scan(decay, inputs, h, mode=mode)  # [C, ..., D, N]
  y = jnp.sum(hs * c[..., None, :], axis=-1)  # [C, ..., D]
  return hs[-1], y


@functools.partial(jax.jit, static_argnames=("mode", "chunk_size"))
def _selective_scan(x, dt, a, b, c, d, h0, *, mode, chunk_size):
  ct = scans.carry_dtype(x.dtype, dt.dtype, a.dtype, b.dtype, c.dtype)
  length = x.shape[0]
  x_c, dt_c = x.astype(ct), dt.astype(ct)
  xs = (dt_c, dt_c * x_c, b.astype(ct), c.astype(ct))  # [T, ...]
  n = -(-length // chunk_size)
  pad = n * chunk_size - length
  if pad:
    # dt = 0 and zero inputs: exp(0 * A) = 1 carries the state unchanged.
    xs = tuple(jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1)) for v in xs)
  # [T, ...] -> [n, C, ...]: the outer scan runs over chunks.
  xs = tuple(v.reshape(n, chunk_size, *v.shape[1:]) for v in xs)
  chunk = functools.partial(_chunk, a=a.astype(ct), mode=mode)
  if n > 1 and mode != scans.ScanMode.SEQUENTIAL:
    # Rematerialise each chunk in the backward pass: the outer scan then
    # saves only its carry (the chunk-boundary states, [n, ..., D, N]) and
    # the chunk inputs, and the backward recomputes one chunk's [C, ..., D,
    # N] intermediates at a time. Without it autodiff would keep every
    # step's decay and state, [T, ..., D, N]. (With one chunk there is
    # nothing to save by recomputing.) prevent_cse=False is safe inside a
    # scan body. The sequential chunk needs no remat: its custom VJP saves
    # only its inputs and recomputes the states itself.
    chunk = jax.checkpoint(chunk, prevent_cse=False)
  h_last, y = lax.scan(chunk, h0.astype(ct), xs)  # y: [n, C, ..., D]
  y = y.reshape(n * chunk_size, *y.shape[2:])[:length]  # [T, ..., D]
  y = y + d.astype(ct) * x_c
  return y.astype(x.dtype), h_last


def _check_array(name: str, v, ndim_min: int) -> jax.Array:
  if not hasattr(v, "shape") or not hasattr(v, "dtype"):
    raise TypeError(
        f"selective_scan: `{name}` must be an array, got {type(v).__name__}.")
  v = jnp.asarray(v)
  if not jnp.issubdtype(v.dtype, jnp.floating):
    raise TypeError(
        f"selective_scan: `{name}` must be a real floating array, got dtype "
        f"{v.dtype}.")
  if v.ndim < ndim_min:
    raise ValueError(
        f"selective_scan: `{name}` must have rank >= {ndim_min}, got shape "
        f"{v.shape}.")
  return v


def _check_shapes(x, dt, a, b, c, d, *, leading: str):
  """Validates the shapes of the inputs against `a`'s (D, N)."""
  if a.ndim != 2:
    raise ValueError(
        f"selective_scan: `a` must have shape (D, N), got {a.shape}.")
  width, n = a.shape
  if x.shape[-1] != width:
    raise ValueError(
        f"selective_scan: `x` must have width D={width} (from `a` of shape "
        f"{a.shape}), got shape {x.shape}.")
  if dt.shape != x.shape:
    raise ValueError(
        f"selective_scan: `dt` must have the shape of `x` {x.shape}, got "
        f"{dt.shape}.")
  for name, v in (("b", b), ("c", c)):
    want = x.shape[:-1] + (n,)
    if v.shape != want:
      raise ValueError(
          f"selective_scan: `{name}` must have shape {leading}N) = {want}, "
          f"got {v.shape}.")
  if d is not None and d.shape != (width,):
    raise ValueError(
        f"selective_scan: `d` must have shape (D,) = ({width},), got "
        f"{d.shape}.")


def selective_scan(x: jax.Array,
                   dt: jax.Array,
                   a: jax.Array,
                   b: jax.Array,
                   c: jax.Array,
                   d: jax.Array | None = None,
                   h0: jax.Array | None = None,
                   *,
                   mode: str | scans.ScanMode = "auto",
                   chunk_size: int | None = None
                   ) -> tuple[jax.Array, jax.Array]:
  """Mamba's selective scan over a time-major sequence.

  `h_t = exp(dt_t A) * h_{t-1} + (dt_t x_t) B_t`, `y_t = C_t . h_t + d x_t`
  (see the module docstring), in chunks with a rematerialised backward.

  Args:
    x: input, `(T, ..., D)`, floating.
    dt: positive step sizes, `(T, ..., D)` (e.g. a softplus output).
    a: state matrix diagonal, `(D, N)` (negative for a stable recurrence).
    b: input-dependent input matrix, `(T, ..., N)`.
    c: input-dependent readout, `(T, ..., N)`.
    d: optional skip weights, `(D,)` (default 0).
    h0: optional initial state, `(..., D, N)` (default 0).
    mode: "sequential", "parallel", "chunked" or "auto" (see module doc).
    chunk_size: chunk length C (any positive int; T need not be a multiple).
      Defaults to `default_chunk_size(T)`, except for the parallel and
      chunked modes on the backends of `PARALLEL_CHUNK_BYTES` (GPUs):
      `parallel_chunk_size`.

  Returns:
    `(y, h_T)`: y of shape `(T, ..., D)` in the dtype of `x`, and the final
    state `(..., D, N)` in the carry dtype (at least float32).

  Raises:
    ValueError: on mismatched shapes, an unknown mode or a bad chunk size.
    TypeError: on non-floating inputs.
  """
  x = _check_array("x", x, 1)
  dt = _check_array("dt", dt, 1)
  a = _check_array("a", a, 2)
  b = _check_array("b", b, 1)
  c = _check_array("c", c, 1)
  if x.ndim < 2:
    raise ValueError(
        f"selective_scan: `x` must have shape (T, ..., D), got {x.shape}.")
  d = None if d is None else _check_array("d", d, 1)
  _check_shapes(x, dt, a, b, c, d, leading="(T, ..., ")
  state_shape = x.shape[1:] + (a.shape[1],)
  if h0 is not None:
    h0 = _check_array("h0", h0, 2)
    if h0.shape != state_shape:
      raise ValueError(
          f"selective_scan: `h0` must have shape (..., D, N) = {state_shape}, "
          f"got {h0.shape}.")
  length = x.shape[0]
  mode = _resolve_mode(mode, length)
  if chunk_size is None:
    chunk_size = (default_chunk_size(length)
                  if mode == scans.ScanMode.SEQUENTIAL else
                  parallel_chunk_size(length, math.prod(state_shape)))
  elif (not isinstance(chunk_size, (int, np.integer)) or
        isinstance(chunk_size, bool) or chunk_size < 1):
    raise ValueError(
        f"selective_scan: `chunk_size` must be a positive int, got "
        f"{chunk_size!r}.")
  chunk_size = int(min(chunk_size, max(length, 1)))
  ct = scans.carry_dtype(x.dtype, dt.dtype, a.dtype, b.dtype, c.dtype)
  if h0 is None:
    h0 = jnp.zeros(state_shape, ct)
  if d is None:
    d = jnp.zeros(a.shape[:1], ct)
  if length == 0:
    return jnp.zeros(x.shape, x.dtype), h0.astype(ct)
  return _selective_scan(x, dt, a, b, c, d, h0, mode=mode,
                         chunk_size=chunk_size)


def selective_step(x_t: jax.Array,
                   dt_t: jax.Array,
                   a: jax.Array,
                   b_t: jax.Array,
                   c_t: jax.Array,
                   d: jax.Array | None,
                   h: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One step of the selective scan (streaming inference).

  Args:
    x_t: input, `(..., D)`.
    dt_t: positive steps, `(..., D)`.
    a: `(D, N)`.
    b_t: `(..., N)`.
    c_t: `(..., N)`.
    d: skip weights `(D,)`, or None for none.
    h: previous state, `(..., D, N)`.

  Returns:
    `(y_t, h_t)`: y_t `(..., D)` in the dtype of `x_t`; h_t in the carry
    dtype (at least float32).
  """
  ct = scans.carry_dtype(x_t.dtype, dt_t.dtype, a.dtype, b_t.dtype,
                         c_t.dtype, h.dtype)
  x_c, dt_c = x_t.astype(ct), dt_t.astype(ct)
  h, y = _step(h.astype(ct), dt_c, dt_c * x_c, b_t.astype(ct),
               c_t.astype(ct), a.astype(ct))
  if d is not None:
    y = y + d.astype(ct) * x_c
  return y.astype(x_t.dtype), h
