"""Complex values stored as real pairs, and real-arithmetic complex matmuls.

Storage. Haiku's mixed-precision creator casts every new parameter to the
policy's parameter dtype and jmp casts only floating leaves, so complex
parameters would be silently truncated. They are stored as a trailing axis
of 2 (`[..., 0]` real, `[..., 1]` imaginary) and rebuilt here.

Projections. The diagonal complex layers (S5, LRU) map a real input into a
complex state and read a real output out of it:

  project_in(x, W)  = x W^T            real x (..., D), complex W (K, D)
  project_out(h, W) = Re(h W^T)        complex h (..., K), complex W (D, K)

Both are written as one real matmul on stacked real / imaginary parts, a
quarter of the work of promoting `x` to complex. The `_split` variants keep
the complex side in "split" layout, a real trailing axis of 2K holding the K
real parts and then the K imaginary parts (what the matmul produces), so a
layer can scan it with `ops.scans.complex_pair_scan` and read it out without
ever building a complex array. Their matmul has a custom VJP (reverse mode
only, like that scan) whose weight gradient is one dot contracting the
flattened rows of both operands; XLA:CPU's autodiff form of the same
product first copies the cotangent transposed, recomputing it in that pass.
"""

import jax
from jax import lax
import jax.numpy as jnp


def to_complex(pair: jax.Array) -> jax.Array:
  """`[..., 2]` real pair -> complex `[...]` (float64 gives complex128)."""
  pair = jnp.asarray(pair)
  if pair.ndim < 1 or pair.shape[-1] != 2:
    raise ValueError(
        f"to_complex: expected a trailing axis of size 2 (real, imag), got "
        f"shape {pair.shape}.")
  if not jnp.issubdtype(pair.dtype, jnp.floating):
    raise TypeError(f"to_complex: expected a real floating array, got "
                    f"{pair.dtype}.")
  return lax.complex(pair[..., 0], pair[..., 1])


def from_complex(z: jax.Array, dtype=None) -> jax.Array:
  """Complex `[...]` -> `[..., 2]` real pair (real, imag), cast to `dtype`."""
  z = jnp.asarray(z)
  pair = jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1)
  return pair if dtype is None else pair.astype(dtype)


@jax.custom_vjp
def _matmul_t(x: jax.Array, w: jax.Array) -> jax.Array:
  """`x @ w.T` over the last axis of `x`: `(..., I)`, `(O, I)` -> `(..., O)`."""
  return jnp.einsum("...i,oi->...o", x, w)


def _matmul_t_fwd(x, w):
  return _matmul_t(x, w), (x, w)


def _matmul_t_bwd(res, g):
  x, w = res
  g_x = jnp.einsum("...o,oi->...i", g, w)
  # dW = g^T x over every leading position, as one dot on the flattened rows.
  g_w = lax.dot_general(g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1]),
                        (((0,), (0,)), ((), ())))  # [O, I]
  return g_x.astype(x.dtype), g_w.astype(w.dtype)


_matmul_t.defvjp(_matmul_t_fwd, _matmul_t_bwd)


def _in_pair(w: jax.Array) -> jax.Array:
  return jnp.concatenate([jnp.real(w), jnp.imag(w)], axis=0)  # [2K, D]


def _out_pair(w: jax.Array) -> jax.Array:
  return jnp.concatenate([jnp.real(w), -jnp.imag(w)], axis=-1)  # [D, 2K]


def project_in_split(x: jax.Array, w: jax.Array) -> jax.Array:
  """`x @ w.T` for real `x`, complex `w`, in split layout: one real matmul.

  Args:
    x: real, `(..., D)`.
    w: complex, `(K, D)`.

  Returns:
    Real, `(..., 2K)`: the K real parts, then the K imaginary parts.
  """
  return _matmul_t(x, _in_pair(w))  # [..., 2K]


def project_in(x: jax.Array, w: jax.Array) -> jax.Array:
  """Complex projection of a real input, `x @ w.T`.

  Args:
    x: real, `(..., D)`.
    w: complex, `(K, D)`.

  Returns:
    Complex, `(..., K)`.
  """
  k = w.shape[0]
  # Plain autodiff here (forward mode too): the complex path and `step`.
  z = jnp.einsum("...d,kd->...k", x, _in_pair(w))  # [..., 2K]
  return lax.complex(z[..., :k], z[..., k:])


def project_out_split(h: jax.Array, w: jax.Array) -> jax.Array:
  """`Re(h @ w.T)` for `h` in split layout, complex `w`: one real matmul.

  Args:
    h: real, `(..., 2K)`: K real parts, then K imaginary parts.
    w: complex, `(D, K)`.

  Returns:
    `Re(h) @ Re(w).T - Im(h) @ Im(w).T`, real, `(..., D)`.
  """
  return _matmul_t(h, _out_pair(w))


def project_out(h: jax.Array, w: jax.Array) -> jax.Array:
  """Real part of a complex readout, `Re(h @ w.T)`.

  Args:
    h: complex, `(..., K)`.
    w: complex, `(D, K)`.

  Returns:
    `Re(h) @ Re(w).T - Im(h) @ Im(w).T`, real, `(..., D)`.
  """
  h_pair = jnp.concatenate([jnp.real(h), jnp.imag(h)], axis=-1)  # [..., 2K]
  return jnp.einsum("...k,dk->...d", h_pair, _out_pair(w))
