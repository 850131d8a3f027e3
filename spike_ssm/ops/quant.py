"""Fake quantisation with straight-through gradients (pure JAX).

Quantisation-aware training keeps float parameters and, in the forward
pass, replaces them by their quantised values; the backward pass treats the
rounding as the identity (the straight-through estimator, STE):

  forward  q(x)             (exactly the quantised value)
  backward dq/dx := 1       (everywhere: int8 absmax scaling never clips,
                             and the ternary clip at +-1.5 gamma is passed
                             straight through as well, as in BitNet)

which is the estimator of the usual `x + stop_gradient(q(x) - x)`, written
as a `jax.custom_jvp` so that the forward value is `q(x)` bit for bit (the
sum `x + (q - x)` can be an ulp away from `q`) and forward mode, reverse mode
and higher derivatives all work.

int8, symmetric absmax. With `m = max |x|` over the reduced axes,
`scale = m / 127`, codes `c = clip(round(x / scale), -127, 127)` and
`q = c * scale`: 255 levels, zero exact, no clipping (|x| <= m). Rounding is
half to even (`jnp.round`, like `np.round`). A slice that is all zero gets
codes 0. For a weight `(in, out)` reduce over axis 0 to get one scale per
output channel; for activations `(..., D)` reduce over the last axis to get
one scale per token.

Ternary, BitNet b1.58 (Ma et al. 2024, "The Era of 1-bit LLMs: All Large
Language Models are in 1.58 Bits", arXiv:2402.17764), "absmean":
`gamma = mean |W|` over the whole matrix, codes
`c = RoundClip(W / (gamma + eps), -1, 1)` in {-1, 0, 1}, `q = c * gamma`.

All arithmetic runs in at least float32; results come back in the input's
dtype.
"""

import jax
import jax.numpy as jnp
import numpy as np

INT8_MAX = 127
TERNARY_EPS = 1e-5


@jax.custom_jvp
def straight_through(x: jax.Array, q: jax.Array) -> jax.Array:
  """Returns `q` with the derivative of the identity in `x` (zero in `q`).

  Args:
    x: the float value that was quantised.
    q: its quantised value, same shape and dtype.

  Returns:
    `q`, bit for bit; `d/dx = identity`, `d/dq = 0`.
  """
  del x
  return q


@straight_through.defjvp
def _straight_through_jvp(primals, tangents):
  x, q = primals
  x_dot, _ = tangents
  # The primal output goes through `straight_through` again (not `q`
  # itself), so that differentiating this rule, i.e. taking higher
  # derivatives, keeps the identity derivative instead of q's zero one.
  return straight_through(x, q), x_dot


def _compute_dtype(dtype):
  return jnp.promote_types(dtype, jnp.float32)


def _check_float(fn: str, x: jax.Array) -> jax.Array:
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"{fn}: `x` must be a floating array, got dtype "
                    f"{x.dtype}.")
  return x


def _normalise_axes(fn: str, axis, ndim: int) -> tuple[int, ...] | None:
  if axis is None:
    return None
  if isinstance(axis, (int, np.integer)):
    axes = (axis,)
  elif isinstance(axis, (tuple, list)):
    axes = tuple(axis)
  else:
    raise TypeError(f"{fn}: `axis` must be None, an int or a tuple of ints, "
                    f"got {axis!r}.")
  out = []
  for a in axes:
    if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
      raise TypeError(f"{fn}: `axis` must be None, an int or a tuple of ints, "
                      f"got {axis!r}.")
    if not -ndim <= a < ndim:
      raise ValueError(
          f"{fn}: `axis`={axis!r} is out of range for an array of rank "
          f"{ndim}.")
    out.append(int(a) % ndim)
  if len(set(out)) != len(out):
    raise ValueError(f"{fn}: `axis`={axis!r} repeats an axis.")
  return tuple(out)


def quantize_int8(x: jax.Array, axis=None) -> tuple[jax.Array, jax.Array]:
  """Symmetric absmax int8 codes and scales (no gradient).

  Args:
    x: floating array.
    axis: axis or axes to reduce for the absmax (each remaining index gets
      its own scale); None: one scale for the whole array.

  Returns:
    `(codes, scale)`: int8 codes in [-127, 127] of `x`'s shape, and float32
    scales `max|x| / 127` with the reduced axes kept as size 1, so that
    `codes * scale` is the dequantised value.

  Raises:
    TypeError: non-floating `x`, or a non-integer `axis`.
    ValueError: an out-of-range or repeated `axis`.
  """
  x = _check_float("quantize_int8", x)
  axes = _normalise_axes("quantize_int8", axis, x.ndim)
  xf = x.astype(_compute_dtype(x.dtype))
  absmax = jnp.max(jnp.abs(xf), axis=axes, keepdims=True)
  scale = absmax / INT8_MAX
  # A zero slice divides by 1 instead (its codes are 0 either way).
  safe = jnp.where(scale > 0, scale, jnp.ones_like(scale))
  codes = jnp.clip(jnp.round(xf / safe), -INT8_MAX, INT8_MAX)
  return codes.astype(jnp.int8), scale.astype(jnp.float32)


def fake_quant_int8(x: jax.Array, axis=None) -> jax.Array:
  """`x` rounded to symmetric absmax int8 levels, straight-through gradient.

  Args:
    x: floating array (a weight, or activations).
    axis: axis or axes reduced for the absmax: `axis=0` for a `(in, out)`
      weight gives per-output-channel scales; `axis=-1` for `(..., D)`
      activations gives per-token scales; None: one per-tensor scale.

  Returns:
    `codes * scale` in `x`'s dtype and shape; gradient w.r.t. `x` is the
    identity.
  """
  x = _check_float("fake_quant_int8", x)
  codes, scale = quantize_int8(jax.lax.stop_gradient(x), axis)
  q = (codes.astype(scale.dtype) * scale).astype(x.dtype)
  return straight_through(x, q)


def quantize_ternary(w: jax.Array,
                     eps: float = TERNARY_EPS) -> tuple[jax.Array, jax.Array]:
  """BitNet b1.58 absmean codes in {-1, 0, 1} and the scale (no gradient).

  Args:
    w: floating array (one scale for the whole array).
    eps: added to the scale in the division, so an all-zero `w` maps to 0.

  Returns:
    `(codes, gamma)`: int8 codes `clip(round(w / (gamma + eps)), -1, 1)` and
    the float32 scalar `gamma = mean |w|`; `codes * gamma` dequantises.

  Raises:
    TypeError: non-floating `w`.
    ValueError: an empty `w`, or `eps` not a finite number >= 0.
  """
  w = _check_float("quantize_ternary", w)
  if w.size == 0:
    raise ValueError(f"quantize_ternary: `w` is empty (shape {w.shape}); the "
                     "absmean scale is undefined.")
  if (isinstance(eps, bool) or not isinstance(eps, (int, float, np.number))
      or not np.isfinite(eps) or eps < 0):
    raise ValueError(
        f"quantize_ternary: `eps` must be a finite number >= 0, got {eps!r}.")
  wf = w.astype(_compute_dtype(w.dtype))
  gamma = jnp.mean(jnp.abs(wf))
  codes = jnp.clip(jnp.round(wf / (gamma + eps)), -1, 1)
  return codes.astype(jnp.int8), gamma.astype(jnp.float32)


def fake_quant_ternary(w: jax.Array, eps: float = TERNARY_EPS) -> jax.Array:
  """`w` as BitNet b1.58 ternary values `{-1, 0, 1} * mean|w|`, STE gradient.

  Args:
    w: floating array; one absmean scale over all of it.
    eps: see `quantize_ternary`.

  Returns:
    `codes * gamma` in `w`'s dtype and shape; gradient w.r.t. `w` is the
    identity (straight through the rounding and the clip).
  """
  w = _check_float("fake_quant_ternary", w)
  codes, gamma = quantize_ternary(jax.lax.stop_gradient(w), eps)
  q = (codes.astype(gamma.dtype) * gamma).astype(w.dtype)
  return straight_through(w, q)
