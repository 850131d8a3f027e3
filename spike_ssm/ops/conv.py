"""Causal depthwise 1-D convolution: short (direct / FFT) and long (FFT) kernels.

For an input `x` with channels `d` and a kernel of `K` taps per channel,

  y[t, d] = act( sum_{k=0}^{K-1} kernel[k, d] * x[t - k, d] ),

with zero history (`x[t] = 0` for `t < 0`). Tap order: `kernel[0]`
multiplies the current input, `kernel[k]` the input `k` steps back, so
`kernel[::-1]` is the kernel a cross-correlation (`lax.conv`) would use.
Channels never mix (depthwise; Mamba's and H3's short convolution).

Two whole-sequence methods give the same result:

  direct  K shifted multiply-adds over the sequence left-padded with
          `K - 1` zeros, which XLA fuses into one loop: O(T K D) work,
          unrolled K times in the graph (compile time grows with K).
  fft     `rfft` of input and kernel zero-padded to a fast length
          `n >= T + K - 1` (so the circular wrap-around only touches the
          padding), pointwise product, `irfft`: O(T log T D).
  auto    `direct` for `K <= FFT_MIN_TAPS` (64), `fft` above. Measured
          roughly on XLA:CPU (jax 0.10, B=8, D=64, f32): at T=4096 the
          direct sum takes 0.6 ms at K=4, 7 ms at K=64 and 14 ms at K=96
          against a flat ~33 ms for the FFT; at T=256 they cross near K=96.
          Above ~100 taps XLA stops fusing the sum and it gets ~10x slower
          (144 ms at K=128, T=4096), so the FFT takes over at 64 with margin.
          (`lax.conv_general_dilated` with `feature_group_count=D` was
          20-100x slower than the shifted sum on CPU at every K, so it is not
          used.)

Taps beyond the sequence (`k >= T`) never touch a real input, so a kernel
longer than `T` is truncated to `T` taps first on both paths.

Streaming keeps the last `K - 1` inputs in a fixed-size buffer `(B, K-1, D)`,
oldest first: `causal_conv_step` consumes one `x_t`, emits `y_t` and shifts
the buffer. Scanning it over T steps from `conv_buffer_init` equals
`causal_conv`.

Long kernels (S4 / S4D, `ops.kernels`): `fft_conv` adds a skip `D u` to the
causal FFT convolution, and `fft_conv_bidirectional` adds an anti-causal
kernel that sees only the strict future, both in one circular convolution.

Accumulation is at least float32 whatever the input dtype; outputs come back
in `result_type(x, kernel)` (with the skip: of `D` too).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Activation = str | Callable[[jax.Array], jax.Array] | None

# `auto` switches from the direct convolution to the FFT above this many taps.
FFT_MIN_TAPS = 64

_METHODS = ("auto", "direct", "fft")
_ACTIVATIONS = {"silu": jax.nn.silu}


def _resolve_activation(activation: Activation, fn_name: str):
  """Returns a callable (or None) for `activation`, or raises."""
  if activation is None or callable(activation):
    return activation
  if isinstance(activation, str):
    try:
      return _ACTIVATIONS[activation]
    except KeyError:
      raise ValueError(
          f"{fn_name}: `activation` must be None, a callable or one of "
          f"{tuple(_ACTIVATIONS)}, got {activation!r}.") from None
  raise TypeError(
      f"{fn_name}: `activation` must be None, a callable or one of "
      f"{tuple(_ACTIVATIONS)}, got {type(activation).__name__} "
      f"{activation!r}.")


def _check_floating(fn_name: str, name: str, x: jax.Array) -> None:
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"{fn_name}: `{name}` must be a floating array, got dtype {x.dtype}.")


def _check_kernel(fn_name: str, kernel: jax.Array, channels: int) -> None:
  _check_floating(fn_name, "kernel", kernel)
  if kernel.ndim != 2:
    raise ValueError(
        f"{fn_name}: `kernel` must have rank 2, shape (K, D); got shape "
        f"{kernel.shape}.")
  if kernel.shape[0] < 1:
    raise ValueError(
        f"{fn_name}: `kernel` must have K >= 1 taps, got shape "
        f"{kernel.shape}.")
  if kernel.shape[1] != channels:
    raise ValueError(
        f"{fn_name}: `kernel` has {kernel.shape[1]} channels (shape "
        f"{kernel.shape}) but the input has D={channels}.")


def _accum_dtype(dtype) -> jnp.dtype:
  return jnp.promote_types(dtype, jnp.float32)


def _next_fast_len(n: int) -> int:
  """Smallest 2^a 3^b 5^c >= n (lengths pocketfft and cuFFT do quickly)."""
  best = 1 << max(0, (n - 1).bit_length())
  p5 = 1
  while p5 < best:
    p35 = p5
    while p35 < best:
      m = p35
      while m < n:
        m *= 2
      best = min(best, m)
      p35 *= 3
    p5 *= 5
  return best


def _direct(x: jax.Array, kernel: jax.Array, acc) -> jax.Array:
  """x (N, T, D), kernel (K, D) -> (N, T, D) in `acc`, as K shifted FMAs."""
  taps, length = kernel.shape[0], x.shape[1]
  xp = jnp.pad(x.astype(acc), ((0, 0), (taps - 1, 0), (0, 0)))  # (N, T+K-1, D)
  kernel = kernel.astype(acc)
  # xp[:, K-1-k + t] is x[t - k]; XLA fuses the K slices into one loop.
  y = kernel[0] * xp[:, taps - 1:]
  for k in range(1, taps):
    y = y + kernel[k] * xp[:, taps - 1 - k:taps - 1 - k + length]
  return y


def _circular(x: jax.Array, kernel: jax.Array, n: int, acc) -> jax.Array:
  """Circular convolution of length `n` over axis -2, first T outputs.

  x `(..., T, D)`, kernel `(n', D)` with `n' <= n` (zero-padded to n), the
  tap at index `j` acting at lag `j` (mod n); returns `(..., T, D)` in `acc`.
  """
  length = x.shape[-2]
  xf = jnp.fft.rfft(x.astype(acc), n=n, axis=-2)  # (..., n//2+1, D)
  kf = jnp.fft.rfft(kernel.astype(acc), n=n, axis=0)  # (n//2+1, D)
  return jnp.fft.irfft(xf * kf, n=n, axis=-2)[..., :length, :].astype(acc)


def _fft(x: jax.Array, kernel: jax.Array, acc) -> jax.Array:
  """x (..., T, D), kernel (K, D) with K <= T -> (..., T, D) in `acc`."""
  # Lags up to T + K - 2 occur, so this length never wraps onto an output.
  n = _next_fast_len(x.shape[-2] + kernel.shape[0] - 1)
  return _circular(x, kernel, n, acc)


def causal_conv(x: jax.Array,
                kernel: jax.Array,
                activation: Activation = None,
                *,
                method: str = "auto",
                time_major: bool = False) -> jax.Array:
  """Causal depthwise convolution `y[t] = act(sum_k kernel[k] * x[t-k])`.

  Args:
    x: input, shape `(B, T, D)`, or `(T, B, D)` with `time_major=True`. Any
      number of batch axes (including none) is allowed: `(..., T, D)` batch
      major, `(T, ..., D)` time major. Floating.
    kernel: taps, shape `(K, D)`, `K >= 1`; `kernel[0]` multiplies the current
      input, `kernel[k]` the input `k` steps earlier.
    activation: None, "silu", or a callable applied elementwise to the sum.
    method: "direct", "fft" or "auto" (direct for `K <= FFT_MIN_TAPS`).
    time_major: whether time is axis 0 of `x` (else axis -2).

  Returns:
    `y`, same shape as `x`, dtype `result_type(x, kernel)`.

  Raises:
    ValueError: bad kernel rank, channel count or K < 1, `x` of rank < 2,
      unknown method or activation name.
    TypeError: non-floating inputs or an activation of the wrong type.
  """
  fn = "causal_conv"
  x, kernel = jnp.asarray(x), jnp.asarray(kernel)
  _check_floating(fn, "x", x)
  if x.ndim < 2:
    raise ValueError(
        f"{fn}: `x` must have a time and a channel axis, shape (B, T, D) or "
        f"(T, D); got shape {x.shape}.")
  _check_kernel(fn, kernel, x.shape[-1])
  act = _resolve_activation(activation, fn)
  if method not in _METHODS:
    raise ValueError(f"{fn}: `method` must be one of {_METHODS}, got "
                     f"{method!r}.")
  out_dtype = jnp.result_type(x.dtype, kernel.dtype)
  acc = _accum_dtype(out_dtype)

  # Canonical layout (N, T, D): one batch axis, time second.
  time_axis = 0 if time_major else x.ndim - 2
  xt = jnp.moveaxis(x, time_axis, -2)  # (..., T, D)
  batch_shape, (length, channels) = xt.shape[:-2], xt.shape[-2:]
  xt = xt.reshape(-1, length, channels)  # (N, T, D)
  if length == 0:
    y = jnp.zeros(xt.shape, acc)
  else:
    kernel = kernel[:length]  # Taps older than the sequence see only zeros.
    if method == "auto":
      method = "fft" if kernel.shape[0] > FFT_MIN_TAPS else "direct"
    if method == "direct":
      y = _direct(xt, kernel, acc)
    else:
      y = _fft(xt, kernel, acc)
  if act is not None:
    y = act(y)
  y = y.astype(out_dtype).reshape(*batch_shape, length, channels)
  return jnp.moveaxis(y, -2, time_axis)


def conv_buffer_init(batch: int, kernel_size: int, channels: int,
                     dtype=jnp.float32) -> jax.Array:
  """Zero history for `causal_conv_step`: shape `(batch, K-1, channels)`.

  Args:
    batch: batch size B.
    kernel_size: number of taps K >= 1 (K = 1 gives an empty buffer).
    channels: D.
    dtype: buffer dtype (that of the inputs it will hold).

  Returns:
    Zeros of shape `(batch, kernel_size - 1, channels)`.
  """
  for name, value, low in (("batch", batch, 0), ("kernel_size", kernel_size, 1),
                           ("channels", channels, 1)):
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
        or value < low):
      raise ValueError(
          f"conv_buffer_init: `{name}` must be an int >= {low}, got "
          f"{value!r}.")
  return jnp.zeros((batch, kernel_size - 1, channels), dtype)


def causal_conv_step(x_t: jax.Array,
                     buffer: jax.Array,
                     kernel: jax.Array,
                     activation: Activation = None
                     ) -> tuple[jax.Array, jax.Array]:
  """One streaming step of `causal_conv`.

  Args:
    x_t: the current input, shape `(B, D)` (any batch shape `(..., D)`).
    buffer: the previous `K-1` inputs, shape `(B, K-1, D)` (`(..., K-1, D)`),
      oldest first; `conv_buffer_init` gives the zero history.
    kernel: taps, shape `(K, D)`, same tap order as `causal_conv`.
    activation: None, "silu" or a callable.

  Returns:
    `(y_t, new_buffer)`: `y_t` of shape `(B, D)` in
    `result_type(x_t, kernel)`; `new_buffer` the last `K-1` inputs including
    `x_t`, same shape and dtype as `buffer`.

  Raises:
    ValueError: bad kernel, or a buffer whose shape is not
      `x_t.shape[:-1] + (K-1, D)`.
    TypeError: non-floating inputs or a bad activation type.
  """
  fn = "causal_conv_step"
  x_t, buffer, kernel = (jnp.asarray(x_t), jnp.asarray(buffer),
                         jnp.asarray(kernel))
  _check_floating(fn, "x_t", x_t)
  _check_floating(fn, "buffer", buffer)
  if x_t.ndim < 1:
    raise ValueError(f"{fn}: `x_t` must have a channel axis, got shape "
                     f"{x_t.shape}.")
  _check_kernel(fn, kernel, x_t.shape[-1])
  act = _resolve_activation(activation, fn)
  taps = kernel.shape[0]
  want = (*x_t.shape[:-1], taps - 1, x_t.shape[-1])
  if buffer.shape != want:
    raise ValueError(
        f"{fn}: `buffer` must have shape {want} (batch, K-1, D) for `x_t` of "
        f"shape {x_t.shape} and K={taps}; got {buffer.shape}.")
  out_dtype = jnp.result_type(x_t.dtype, kernel.dtype)
  acc = _accum_dtype(out_dtype)
  hist = jnp.result_type(buffer.dtype, x_t.dtype)
  window = jnp.concatenate(
      [buffer.astype(hist), x_t[..., None, :].astype(hist)],
      axis=-2)  # (..., K, D)
  # window[j] is x[t - (K-1-j)], so it pairs with kernel[K-1-j].
  y = jnp.sum(window.astype(acc) * kernel[::-1].astype(acc), axis=-2)
  if act is not None:
    y = act(y)
  return y.astype(out_dtype), window[..., 1:, :].astype(buffer.dtype)


# ----------------------------------------------------------------------------
# Long kernels with a skip (S4 / S4D).
# ----------------------------------------------------------------------------


def _check_fft_conv_args(fn_name: str, u, kernels: dict, D):
  u = jnp.asarray(u)
  if u.ndim not in (2, 3):
    raise ValueError(
        f"{fn_name}: u must have shape (T, H) or (B, T, H), got shape "
        f"{u.shape}.")
  if not jnp.issubdtype(u.dtype, jnp.floating):
    raise TypeError(
        f"{fn_name}: u must be a floating array, got dtype {u.dtype}.")
  h = u.shape[-1]
  for name, k in kernels.items():
    k = jnp.asarray(k)
    if k.ndim != 2 or k.shape[-1] != h:
      raise ValueError(
          f"{fn_name}: {name} must have shape (L, H) with H = {h} (u "
          f"{u.shape}), got {k.shape}.")
    if not jnp.issubdtype(k.dtype, jnp.floating):
      raise TypeError(
          f"{fn_name}: {name} must be real floating, got {k.dtype}.")
  if D is not None and jnp.shape(D) != (h,):
    raise ValueError(
        f"{fn_name}: D must have shape (H,) = ({h},), got {jnp.shape(D)}.")


def _fit(k: jax.Array, length: int) -> jax.Array:
  """First `length` taps of `k` (L, H), zero-padded when shorter."""
  if k.shape[0] >= length:
    return k[:length]
  return jnp.pad(k, ((0, length - k.shape[0]), (0, 0)))


def _with_skip(y, u, D, out_dtype):
  if D is not None:
    y = y + D.astype(y.dtype) * u.astype(y.dtype)
  return y.astype(out_dtype)


def fft_conv(u: jax.Array, k: jax.Array,
             D: jax.Array | None = None) -> jax.Array:
  """Causal depthwise convolution by FFT, plus a skip: `y = k * u + D u`.

    y[t, h] = sum_{s <= t} k[t - s, h] u[s, h] + D[h] u[t, h]

  Taps of `k` past `T` cannot reach any output and are dropped; a kernel
  shorter than T is zero beyond its length.

  Args:
    u: `(T, H)` or `(B, T, H)` real input.
    k: `(L, H)` real kernel, any L >= 1.
    D: optional `(H,)` skip weights.

  Returns:
    `u`'s shape, in the promoted dtype of `u`, `k` (and `D`). Computed in at
    least float32.

  Raises:
    ValueError: shapes that do not fit. TypeError: non-floating input.
  """
  _check_fft_conv_args("fft_conv", u, {"k": k}, D)
  parts = (u, k) if D is None else (u, k, D)
  out_dtype = jnp.result_type(*parts)
  acc = _accum_dtype(out_dtype)
  u, k = jnp.asarray(u), jnp.asarray(k)
  y = _fft(u, k[:u.shape[-2]], acc)
  return _with_skip(y, u, None if D is None else jnp.asarray(D), out_dtype)


def fft_conv_bidirectional(u: jax.Array, k_fwd: jax.Array, k_bwd: jax.Array,
                           D: jax.Array | None = None) -> jax.Array:
  """A causal and an anti-causal convolution by one FFT, plus a skip.

    y[t] = sum_{s <= t} k_fwd[t - s] u[s]
         + sum_{s >  t} k_bwd[s - t - 1] u[s]  + D u[t]

  i.e. `k_bwd` is applied to the time-reversed sequence and sees only the
  strict future, so the present input is counted once (by `k_fwd[0]` and
  `D`). The backward part equals running a causal system over the reversed
  input and reading its state before it took in `u[t]`. One circular
  convolution of length `n >= 2T - 1` holds both: `k_fwd` at lags
  `0 .. T-1` and `k_bwd[j]` at lag `-(j + 1)`, i.e. index `n - 1 - j`.

  Args:
    u: `(T, H)` or `(B, T, H)`.
    k_fwd: `(L, H)` causal kernel.
    k_bwd: `(L', H)` anti-causal kernel (taps past `T - 2` are dropped).
    D: optional `(H,)`.

  Returns:
    `u`'s shape, in the promoted dtype.

  Raises:
    ValueError / TypeError: as `fft_conv`.
  """
  _check_fft_conv_args("fft_conv_bidirectional", u,
                       {"k_fwd": k_fwd, "k_bwd": k_bwd}, D)
  parts = (u, k_fwd, k_bwd) if D is None else (u, k_fwd, k_bwd, D)
  out_dtype = jnp.result_type(*parts)
  acc = _accum_dtype(out_dtype)
  u = jnp.asarray(u)
  t = u.shape[-2]
  n = _next_fast_len(2 * t - 1)
  fwd = _fit(jnp.asarray(k_fwd, acc), t)  # lags 0 .. T-1
  bwd = _fit(jnp.asarray(k_bwd, acc), t - 1)[::-1]  # lags -(T-1) .. -1
  gap = jnp.zeros((n - 2 * t + 1, fwd.shape[1]), acc)  # unreachable lags
  full = jnp.concatenate([fwd, gap, bwd], axis=0)  # [n, H]
  y = _circular(u, full, n, acc)
  return _with_skip(y, u, None if D is None else jnp.asarray(D), out_dtype)
