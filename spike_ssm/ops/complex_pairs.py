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
quarter of the work of promoting `x` to complex.
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


def project_in(x: jax.Array, w: jax.Array) -> jax.Array:
  """Complex projection of a real input, `x @ w.T`.

  Args:
    x: real, `(..., D)`.
    w: complex, `(K, D)`.

  Returns:
    Complex, `(..., K)`.
  """
  k = w.shape[0]
  w_pair = jnp.concatenate([jnp.real(w), jnp.imag(w)], axis=0)  # [2K, D]
  z = jnp.einsum("...d,kd->...k", x, w_pair)  # [..., 2K]
  return lax.complex(z[..., :k], z[..., k:])


def project_out(h: jax.Array, w: jax.Array) -> jax.Array:
  """Real part of a complex readout, `Re(h @ w.T)`.

  Args:
    h: complex, `(..., K)`.
    w: complex, `(D, K)`.

  Returns:
    `Re(h) @ Re(w).T - Im(h) @ Im(w).T`, real, `(..., D)`.
  """
  h_pair = jnp.concatenate([jnp.real(h), jnp.imag(h)], axis=-1)  # [..., 2K]
  w_pair = jnp.concatenate([jnp.real(w), -jnp.imag(w)], axis=-1)  # [D, 2K]
  return jnp.einsum("...k,dk->...d", h_pair, w_pair)
