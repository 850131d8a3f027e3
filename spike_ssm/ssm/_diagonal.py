"""Pieces shared by the diagonal complex SSM layers (`S5`, `LRU`).

Both layers project a real input into a complex diagonal state, run
`h_t = lambda * h_{t-1} + B x_t` through `ops.scans.linear_scan`, and read
out a real output. The projections here keep every matmul real, and the
checks give both layers the same error messages.
"""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import scans

SCAN_MODES = tuple(m.value for m in scans.ScanMode)


def compute_dtype(dtype) -> jnp.dtype:
  """The real dtype the core computes in: at least float32."""
  return jnp.promote_types(dtype, jnp.float32)


def project_in(x: jax.Array, w: jax.Array) -> jax.Array:
  """Complex projection of a real input, `x @ w.T`, as one real matmul.

  Args:
    x: real input, shape `(..., D)`.
    w: complex matrix, shape `(K, D)`.

  Returns:
    Complex, shape `(..., K)`. The real and imaginary rows of `w` are stacked
    into one `(2K, D)` real matrix: one real matmul, a quarter of the work of
    promoting `x` to complex.
  """
  k = w.shape[0]
  w_pair = jnp.concatenate([jnp.real(w), jnp.imag(w)], axis=0)  # [2K, D]
  z = jnp.einsum("...d,kd->...k", x, w_pair)  # [..., 2K]
  return lax.complex(z[..., :k], z[..., k:])


def project_out(h: jax.Array, w: jax.Array) -> jax.Array:
  """Real part of a complex readout, `Re(h @ w.T)`, as one real matmul.

  Args:
    h: complex state, shape `(..., K)`.
    w: complex matrix, shape `(D, K)`.

  Returns:
    `Re(h) @ Re(w).T - Im(h) @ Im(w).T`, real, shape `(..., D)`.
  """
  h_pair = jnp.concatenate([jnp.real(h), jnp.imag(h)], axis=-1)  # [..., 2K]
  w_pair = jnp.concatenate([jnp.real(w), -jnp.imag(w)], axis=-1)  # [D, 2K]
  return jnp.einsum("...k,dk->...d", h_pair, w_pair)


def pair_to_complex(p: jax.Array) -> jax.Array:
  """`[..., 2]` real pair -> complex `[...]` (keeps float64 as complex128)."""
  return lax.complex(p[..., 0], p[..., 1])


# ----------------------------------------------------------------------------
# Argument checks.
# ----------------------------------------------------------------------------


def check_int(owner: str, name: str, value, minimum: int) -> int:
  if (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or
      value < minimum):
    raise ValueError(
        f"{owner}: `{name}` must be an int >= {minimum}, got {value!r}.")
  return int(value)


def check_scan_mode(owner: str, scan_mode, chunk_size) -> None:
  if not isinstance(scan_mode, str) or scan_mode not in SCAN_MODES:
    raise ValueError(
        f"{owner}: `scan_mode` must be one of {SCAN_MODES}, got "
        f"{scan_mode!r}.")
  if chunk_size is not None:
    check_int(owner, "chunk_size", chunk_size, 1)


def check_input(owner: str, name: str, x, ndim: int, layout: str) -> None:
  """Rank and dtype checks for a layer input."""
  if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
    raise TypeError(
        f"{owner}: `{name}` must be an array of shape {layout}, got "
        f"{type(x).__name__}.")
  if x.ndim != ndim:
    raise ValueError(
        f"{owner}: `{name}` must have rank {ndim}, shape {layout}; got shape "
        f"{x.shape}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"{owner}: `{name}` must be a floating array, got dtype {x.dtype}.")


def sequence_input(owner: str, x, time_major: bool) -> jax.Array:
  """Checks a whole-sequence input and returns it time-major for a scan.

  Args:
    owner: the module name, for error messages.
    x: `(B, T, D)`, or `(T, B, D)` with `time_major=True`.
    time_major: the layout of `x`.

  Returns:
    `(T, B, D)` in the layer's compute dtype (float32 for half inputs).
  """
  check_input(owner, "x", x, 3, "(T, B, D)" if time_major else "(B, T, D)")
  u = x.astype(compute_dtype(x.dtype))
  return u if time_major else u.swapaxes(0, 1)


def check_state(owner: str, h, expected: tuple[int, ...]) -> None:
  if not hasattr(h, "shape") or tuple(h.shape) != expected:
    raise ValueError(
        f"{owner}: `state.h` must have shape {expected} (batch, state size), "
        f"got {tuple(getattr(h, 'shape', ()))}.")


def check_features(owner: str, params: dict, features: int) -> None:
  """Clear error when the input width differs from the stored `b`.

  Args:
    owner: the module name for the message.
    params: the module's `params_dict()`.
    features: the input width D of this call.
  """
  for key, value in params.items():
    if key.rsplit("/", 1)[-1] == "b" and value.shape[1] != features:
      raise ValueError(
          f"{owner}: input feature size D={features} does not match D="
          f"{value.shape[1]} that the parameters were created with (`b` has "
          f"shape {tuple(value.shape)}).")
