"""Convolution kernels of S4 / S4D.

A linear time-invariant SSM run from a zero state is a causal convolution,

  y_t = sum_{s <= t} K[t - s] u_s + D u_t,    K[l] = C A_bar^l B_bar,

so a whole sequence costs one kernel evaluation plus one FFT convolution
instead of T sequential steps. This module computes the kernel `K` for

  diagonal systems (S4D)   `vandermonde_kernel`, `s4d_kernel`: a sum of
                           geometric sequences, `K[l] = sum_n c_n lam_n^l`;
  DPLR systems (S4)        `s4_dplr_kernel`: the truncated generating
                           function at the roots of unity through
                           `cauchy_kernel` and the Woodbury identity, then
                           an inverse FFT (Gu et al. 2022, S4 Algorithm 1);

which `ops.conv.fft_conv` / `fft_conv_bidirectional` then apply.

Conjugate symmetry. A real system of `N` states whose complex spectrum
comes in conjugate pairs is stored by one member of each pair, `M = N/2`
complex modes (`Lambda`, `B`, `C`, rows of `P` of shape `(..., M)`); the
other half is the elementwise conjugate. Sums over all `N` modes are then
`2 Re(sum over M)` when every term of a pair is the conjugate of the other
(the kernel), and the two explicit terms of `cauchy_kernel(conj_sym=True)`
otherwise. `dplr_real_form` writes the same system with a real `(N, N)`
state matrix for dense work (`dplr_c_tilde`, streaming S4).

The DPLR convention follows `ops.hippo.dplr`: the full state matrix is

  A = diag(Lambda) - sum_r p_r p_r^*,     p_r the rows of `P` (rank, N),

i.e. `A = Lambda - P Q^*` with `Q = P` (S4's tied low-rank factor).

Everything here is pure JAX (never Haiku) and safe under jit / vmap / grad.

References:
  S4   Gu, Goel, Re. "Efficiently Modeling Long Sequences with Structured
       State Spaces." ICLR 2022.
  S4D  Gu, Gupta, Goel, Re. "On the Parameterization and Initialization of
       Diagonal State Space Models." NeurIPS 2022.
"""

import functools
import math
import operator

import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import discretization

METHODS = discretization.METHODS


# ----------------------------------------------------------------------------
# Argument checks.
# ----------------------------------------------------------------------------


def _check_length(length) -> int:
  if isinstance(length, bool):
    raise ValueError(f"length must be a positive int, got {length!r}.")
  try:
    value = operator.index(length)
  except TypeError:
    raise ValueError(
        f"length must be a positive int (a static kernel length), got "
        f"{length!r}.") from None
  if value < 1:
    raise ValueError(f"length must be a positive int, got {value}.")
  return value


def _check_method(method) -> str:
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
  return method


def _broadcast(names_shapes: dict[str, tuple[int, ...]],
               what: str) -> tuple[int, ...]:
  try:
    return tuple(np.broadcast_shapes(*names_shapes.values()))
  except ValueError:
    listing = ", ".join(f"{k} {v}" for k, v in names_shapes.items())
    raise ValueError(f"{what} must broadcast against each other, got "
                     f"{listing}.") from None


def _highest_precision(fn):
  """Runs `fn`'s matrix products at full float32 precision on every backend.

  Kernels feed long convolutions and `C~` needs `A_bar^L` by repeated
  squaring; the default TPU (bfloat16 passes) and GPU (TF32) matmul
  precisions would cost several digits there, and these products are a
  small part of a layer's work.
  """
  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    with jax.default_matmul_precision("highest"):
      return fn(*args, **kwargs)
  return wrapped


def _as_complex(x) -> jax.Array:
  """`x` as a complex array (complex64 for float32, complex128 for f64)."""
  x = jnp.asarray(x)
  return x.astype(jnp.result_type(x.dtype, jnp.complex64))


def _real_dtype(x: jax.Array) -> jnp.dtype:
  return jnp.finfo(x.dtype).dtype


# ----------------------------------------------------------------------------
# Diagonal (S4D) kernels.
# ----------------------------------------------------------------------------


@_highest_precision
def vandermonde_kernel(c: jax.Array, log_lambda_bar: jax.Array,
                       length: int, *, conj_sym: bool = True,
                       block_size: int | None = None) -> jax.Array:
  """`K[..., l] = sum_n c[..., n] * lambda_bar[..., n] ** l`, `l < length`.

  The kernel of a diagonal SSM `x_l = lambda_bar x_{l-1} + B_bar u_l`,
  `y_l = C x_l` is this sum with `c = C * B_bar` (a Vandermonde matrix-vector
  product). Powers are taken in log space, `lambda_bar^l = exp(l log
  lambda_bar)`, which for ZOH is exact in the continuous parameters
  (`log lambda_bar = Lambda * step`) and never multiplies rounding errors
  step by step.

  Evaluation: with `l = i * b + j` (`b = block_size`, `0 <= j < b`),
  `lambda^l = lambda^j * (lambda^b)^i`, so

    K[i * b + j] = sum_n (c_n lambda_n^j) (lambda_n^b)^i,

  one (b, M) x (M, L/b) matrix product per batch entry. This needs
  `M (b + L/b)` complex exponentials instead of `M L` and never builds the
  `(M, L)` Vandermonde matrix; `b = ceil(sqrt(L))` by default.

  Args:
    c: `(..., M)` complex (or real) coefficients, e.g. `C * B_bar`.
    log_lambda_bar: `(..., M)` complex (or real) logarithms of the discrete
      eigenvalues; must be finite. Broadcasts against `c`.
    length: number of kernel taps L, a positive int (static).
    conj_sym: if True, `c` and `lambda_bar` hold one member of each
      conjugate pair of a real system and the real kernel
      `2 Re(sum_n ...)` is returned; if False the complex sum is returned.
    block_size: the factorisation block `b` (static); default
      `ceil(sqrt(length))`.

  Returns:
    `(..., L)`: real (float32 for complex64 inputs) with `conj_sym`, else
    complex.

  Raises:
    ValueError: bad `length` / `block_size`, or `c` and `log_lambda_bar`
      that do not broadcast.
  """
  length = _check_length(length)
  c, log_lam = _as_complex(c), _as_complex(log_lambda_bar)
  c, log_lam = jnp.asarray(c), jnp.asarray(log_lam)
  if c.ndim < 1 or log_lam.ndim < 1:
    raise ValueError(
        f"c and log_lambda_bar must have a trailing mode axis M, got shapes "
        f"{c.shape} and {log_lam.shape}.")
  shape = _broadcast({"c": c.shape, "log_lambda_bar": log_lam.shape},
                     "c and log_lambda_bar")
  if block_size is None:
    block_size = math.isqrt(length - 1) + 1  # ceil(sqrt(L))
  elif isinstance(block_size, bool) or not isinstance(
      block_size, (int, np.integer)) or block_size < 1:
    raise ValueError(
        f"block_size must be a positive int or None, got {block_size!r}.")
  b = min(int(block_size), length)
  nb = -(-length // b)
  c = jnp.broadcast_to(c, shape)
  log_lam = jnp.broadcast_to(log_lam, shape)
  real = _real_dtype(c)
  j = jnp.arange(b, dtype=real)
  i = jnp.arange(nb, dtype=real) * b
  inner = c[..., None] * jnp.exp(log_lam[..., None] * j)  # [..., M, b]
  outer = jnp.exp(log_lam[..., None] * i)  # [..., M, nb]
  if conj_sym:
    # 2 Re(sum_n a_n e_n) = 2 sum_n (Re a Re e - Im a Im e): one real
    # matmul over the stacked (real, imaginary) mode axis.
    a = jnp.concatenate([inner.real, -inner.imag], axis=-2)  # [..., 2M, b]
    e = jnp.concatenate([outer.real, outer.imag], axis=-2)  # [..., 2M, nb]
    k = 2 * jnp.einsum("...mj,...mi->...ij", a, e)  # [..., nb, b]
  else:
    k = jnp.einsum("...mj,...mi->...ij", inner, outer)  # [..., nb, b]
  return k.reshape(shape[:-1] + (nb * b,))[..., :length]


def log_discrete_eigenvalues(Lambda: jax.Array, step: jax.Array | float,
                             method: str = "zoh") -> jax.Array:
  """`log(lambda_bar)` of a diagonal system, for `vandermonde_kernel`.

    zoh       log lambda_bar = Lambda * step                       (exact)
    bilinear  log lambda_bar = log(1 + z/2) - log(1 - z/2),  z = Lambda step

  The bilinear `lambda_bar` is 0 at `z = -2`; there its logarithm is
  floored at `log(tiny)` (finite, about -87 in float32), which gives
  `lambda_bar^0 = 1` and `lambda_bar^l ~ 0` for `l >= 1`, as it should.

  Args:
    Lambda: `(..., M)` continuous diagonal, complex or real.
    step: step sizes broadcasting to `Lambda` (e.g. `(..., 1)`), > 0.
    method: one of `METHODS`.

  Returns:
    `(..., M)` complex.

  Raises:
    ValueError: unknown `method`.
  """
  method = _check_method(method)
  z = _as_complex(Lambda) * step
  if method == "zoh":
    return z
  tiny = jnp.finfo(_real_dtype(z)).tiny
  half = z / 2
  # Double-where: log1p only ever sees arguments it is finite at.
  degenerate = jnp.abs(1 + half) < tiny
  safe = jnp.where(degenerate, jnp.zeros_like(half), half)
  return jnp.where(degenerate, jnp.log(tiny) + 0j,
                   jnp.log1p(safe)) - jnp.log1p(-half)


def s4d_kernel(Lambda: jax.Array, B: jax.Array, C: jax.Array,
               step: jax.Array | float, length: int, *,
               method: str = "zoh", conj_sym: bool = True) -> jax.Array:
  """The S4D convolution kernel `K[l] = C lambda_bar^l B_bar` (S4D, Sec. 3).

  Discretises the diagonal system with `ops.discretization` (`method`) and
  evaluates the Vandermonde sum `vandermonde_kernel(C * B_bar, log
  lambda_bar, length)`.

  Args:
    Lambda: `(..., M)` continuous diagonal state matrix (complex).
    B: input vector broadcasting to `Lambda`, e.g. `(..., M)` or `(M,)`.
    C: output vector `(..., M)`; may carry extra leading axes (e.g. a
      forward and a backward readout `(2, ..., M)`).
    step: step sizes of shape `Lambda.shape[:-1]` (one per system) or a
      scalar; > 0.
    length: kernel length L (static).
    method: `"zoh"` or `"bilinear"`.
    conj_sym: as in `vandermonde_kernel`.

  Returns:
    `broadcast(C, Lambda).shape[:-1] + (L,)`: real with `conj_sym`.

  Raises:
    ValueError: bad `method`, `length`, `step` or shapes.
  """
  method = _check_method(method)
  Lambda = _as_complex(Lambda)
  step = jnp.asarray(step)
  if step.ndim and step.shape != Lambda.shape[:-1]:
    raise ValueError(
        f"step must be a scalar or have shape Lambda.shape[:-1] = "
        f"{Lambda.shape[:-1]} (one step per system), got {step.shape}.")
  step = step[..., None]  # Broadcasts over the mode axis.
  B = jnp.broadcast_to(
      _as_complex(B),
      _broadcast({"B": jnp.shape(B), "Lambda": Lambda.shape}, "B and Lambda"))
  Lambda = jnp.broadcast_to(Lambda, B.shape)
  _, B_bar = discretization.discretize(Lambda, B, step, method)
  log_lam = log_discrete_eigenvalues(Lambda, step, method)
  return vandermonde_kernel(_as_complex(C) * B_bar, log_lam, length,
                            conj_sym=conj_sym)


# ----------------------------------------------------------------------------
# Cauchy kernel and the DPLR (S4) kernel.
# ----------------------------------------------------------------------------


def _cauchy_matrices(z: jax.Array, w: jax.Array, conj_sym: bool):
  """`1/(z_k - w_n)` (and `1/(z_k - conj w_n)`): `(..., K, M)` each."""
  first = 1.0 / (z[..., :, None] - w[..., None, :])
  if not conj_sym:
    return first, None
  return first, 1.0 / (z[..., :, None] - jnp.conj(w)[..., None, :])


def _contract(v: jax.Array, matrices) -> jax.Array:
  """`sum_n v_n R1[k, n] (+ conj(v_n) R2[k, n])`: `(..., K)`."""
  first, second = matrices
  out = jnp.einsum("...kn,...n->...k", first, v)
  if second is not None:
    out = out + jnp.einsum("...kn,...n->...k", second, jnp.conj(v))
  return out


@_highest_precision
def cauchy_kernel(v: jax.Array, z: jax.Array, w: jax.Array, *,
                  conj_sym: bool = False) -> jax.Array:
  """The Cauchy kernel `sum_n v_n / (z_k - w_n)` (S4, Sec. 3.3).

  With `conj_sym`, `v` and `w` hold one member of each conjugate pair of a
  `2M`-term sum, whose other half is added explicitly:

    sum_n [ v_n / (z_k - w_n) + conj(v_n) / (z_k - conj(w_n)) ].

  (The two terms are not conjugates of each other, since the nodes `z` are
  complex.) The `(..., K, M)` matrix of reciprocals is materialised;
  `M` is a state size, so that is the usual trade of the non-CUDA S4
  implementations.

  Args:
    v: `(..., M)` numerators.
    z: `(..., K)` nodes; must not coincide with a pole.
    w: `(..., M)` poles.
    conj_sym: add the conjugate half as above.

  Returns:
    `(..., K)` complex, the leading axes of `v`, `z` and `w` broadcast.

  Raises:
    ValueError: an argument without a trailing axis, mode axes of `v` and
      `w` that differ, or leading axes that do not broadcast.
  """
  v, z, w = _as_complex(v), _as_complex(z), _as_complex(w)
  if min(v.ndim, z.ndim, w.ndim) < 1:
    raise ValueError(
        f"v, z and w need a trailing axis, got shapes {v.shape}, {z.shape}, "
        f"{w.shape}.")
  if v.shape[-1] != w.shape[-1]:
    raise ValueError(
        f"v and w must have the same trailing (mode) size M, got v "
        f"{v.shape} and w {w.shape}.")
  _broadcast({"v": v.shape[:-1], "z": z.shape[:-1], "w": w.shape[:-1]},
             "the leading axes of v, z and w")
  return _contract(v, _cauchy_matrices(z, w, conj_sym))


@_highest_precision
def dplr_real_form(Lambda: jax.Array, P: jax.Array, B: jax.Array | None = None,
                   C: jax.Array | None = None):
  """A conjugate-symmetric DPLR system as a real `N = 2M` state system.

  The complex half-state `x` (M,) of the full system
  `x_full = [x, conj(x)]` maps to the real state `[Re x, Im x]` (N,). With
  `A_full = diag(Lambda_full) - sum_r p_r p_r^*`, `B_full = [B, conj B]`,
  `C_full = [C, conj C]`:

    A_real = [[diag(Re L), -diag(Im L)],      - 2 sum_r q_r q_r^T,
              [diag(Im L),  diag(Re L)]]        q_r = [Re p_r, Im p_r]
    B_real = [Re B, Im B]
    C_real = 2 [Re C, -Im C]

  so `C_full x_full = 2 Re(C x) = C_real [Re x, Im x]` and the real system
  has the same transfer function and kernel as the complex one.

  Args:
    Lambda: `(..., M)` diagonal.
    P: `(R, ..., M)` low-rank rows (rank first).
    B: optional `(..., M)`.
    C: optional `(..., M)`.

  Returns:
    `(A_real, B_real, C_real)`: `(..., N, N)`, `(..., N)`, `(..., N)` real;
    `B_real` / `C_real` are None when `B` / `C` are.

  Raises:
    ValueError: when `P` has no rank axis or its mode axis differs.
  """
  Lambda, P = _as_complex(Lambda), _as_complex(P)
  if P.ndim < 2 or P.shape[-1] != Lambda.shape[-1]:
    raise ValueError(
        f"P must have shape (rank, ..., M) with M = {Lambda.shape[-1]} "
        f"(Lambda {Lambda.shape}), got {P.shape}.")
  q = _pair(P)  # [R, ..., N]
  A = _rot(Lambda) - 2 * jnp.einsum("r...n,r...m->...nm", q, q)
  B_real = None if B is None else _pair(_as_complex(B))
  C_real = None if C is None else real_output(C)
  return A, B_real, C_real


def _diag(x: jax.Array) -> jax.Array:
  return x[..., :, None] * jnp.eye(x.shape[-1], dtype=x.dtype)


def real_output(C: jax.Array) -> jax.Array:
  """`(..., M)` complex half readout -> `(..., 2M)` real `2 [Re C, -Im C]`."""
  C = _as_complex(C)
  return 2 * jnp.concatenate([C.real, -C.imag], axis=-1)


def complex_output(C_real: jax.Array) -> jax.Array:
  """Inverse of `real_output`: `(..., 2M)` real -> `(..., M)` complex."""
  m = C_real.shape[-1] // 2
  return jax.lax.complex(C_real[..., :m], -C_real[..., m:]) / 2


def _rot(z: jax.Array) -> jax.Array:
  """`(..., M)` complex -> `(..., 2M, 2M)` real matrix of `x -> z * x`."""
  top = jnp.concatenate([_diag(z.real), _diag(-z.imag)], axis=-1)
  bottom = jnp.concatenate([_diag(z.imag), _diag(z.real)], axis=-1)
  return jnp.concatenate([top, bottom], axis=-2)


def _pair(z: jax.Array) -> jax.Array:
  """`(..., M)` complex -> `(..., 2M)` real `[Re z, Im z]`."""
  return jnp.concatenate([z.real, z.imag], axis=-1)


@_highest_precision
def dplr_bilinear_real(Lambda: jax.Array, P: jax.Array, B: jax.Array | None,
                       step: jax.Array):
  """Dense bilinear discretisation of a DPLR system, in its real form.

  With `A_real = Rot(Lambda) - 2 Q Q^T` (`dplr_real_form`; `Rot(z)` is the
  real matrix of `x -> z x`, `Q = [q_1 .. q_R]`), bilinear (Tustin) gives

    A_bar = (I - s/2 A)^{-1} (I + s/2 A) = 2 (I - s/2 A)^{-1} - I,
    B_bar = (I - s/2 A)^{-1} s B,

  and `I - s/2 A = Rot(g) + s Q Q^T`, `g = 1 - s/2 Lambda`, is inverted in
  closed form by Woodbury: with `E = Rot(1/g)`,

    (I - s/2 A)^{-1} = E - E Q (I_R / s + Q^T E Q)^{-1} Q^T E,

  where `E Q` and `E^T Q` are the complex products `p_r / g` and
  `p_r / conj(g)` and `Q^T E Q = Re sum_n conj(p_r) p_s / g`: O(N^2) per
  system and no dense LU.

  Args:
    Lambda: `(M,)` or `(D, M)` complex.
    P: `(R, M)` or `(R, D, M)` complex.
    B: `(M,)` or `(D, M)` complex, or None.
    step: `(D,)` step sizes, > 0.

  Returns:
    `(A_bar, B_bar)`: real `(D, N, N)` and `(D, N)` (None without `B`),
    `N = 2M`, acting on the real state `[Re x, Im x]`.
  """
  Lambda, P = _as_complex(Lambda), _as_complex(P)
  if P.ndim == 2:
    P = P[:, None]  # [R, 1, M]: shared by the D systems.
  step = jnp.asarray(step)
  s = step[:, None]  # [D, 1]
  e = 1.0 / (1.0 - s / 2 * Lambda)  # [D, M]
  n = 2 * Lambda.shape[-1]
  rank = P.shape[0]
  u = _pair(P * e)  # [R, D, N]: E Q
  w = _pair(P * jnp.conj(e))  # [R, D, N]: E^T Q
  q = jnp.broadcast_to(_pair(P), u.shape)  # [R, D, N]
  small = (jnp.eye(rank, dtype=u.dtype) / step[:, None, None] +
           jnp.einsum("rdn,sdn->drs", w, q))  # [D, R, R]
  # (small^{-1} W^T) by an R x R solve (a scalar division for R = 1).
  if rank == 1:
    wt = w[0][:, None, :] / small  # [D, 1, N]
  else:
    wt = jnp.linalg.solve(small, jnp.swapaxes(w, 0, 1))  # [D, R, N]
  inv = _rot(jnp.broadcast_to(e, step.shape + e.shape[-1:])) - jnp.einsum(
      "rdn,drm->dnm", u, wt)  # [D, N, N]
  A_bar = 2 * inv - jnp.eye(n, dtype=inv.dtype)
  if B is None:
    return A_bar, None
  b = jnp.broadcast_to(_pair(_as_complex(B)), inv.shape[:-1])  # [D, N]
  B_bar = step[:, None] * jnp.einsum("dnm,dm->dn", inv, b)
  return A_bar, B_bar


@_highest_precision
def dplr_c_tilde(Lambda: jax.Array, P: jax.Array, C: jax.Array,
                 step: jax.Array, length: int) -> jax.Array:
  """`C~ = C (I - A_bar^L)` of a bilinear-discretised DPLR system (S4).

  The truncated generating function of the kernel at the L-th roots of
  unity `z` is `C (I - A_bar^L) (I - A_bar z)^{-1} B_bar`, so the Cauchy
  computation uses `C~` in place of `C`. It is computed per call, for the
  requested L, from the dense real form (`dplr_real_form`) by repeated
  squaring (`ceil(log2 L)` batched `(N, N)` products): the layer stores the
  true `C`, which its streaming step uses, and the two stay consistent for
  every sequence length.

  Args:
    Lambda: `(M,)` or `(D, M)`.
    P: `(R, M)` or `(R, D, M)`.
    C: `(..., D, M)`.
    step: `(D,)`.
    length: L (static).

  Returns:
    `(..., D, M)` complex, like `C`.
  """
  length = _check_length(length)
  A_bar, _ = dplr_bilinear_real(Lambda, P, None, step)  # [D, N, N]
  power = jnp.linalg.matrix_power(A_bar, length)
  c = real_output(C)  # [..., D, N]
  return complex_output(c - jnp.einsum("...n,...nm->...m", c, power))


@_highest_precision
def s4_dplr_kernel(Lambda: jax.Array, P: jax.Array, B: jax.Array,
                   C: jax.Array, step: jax.Array, length: int, *,
                   c_is_tilde: bool = False) -> jax.Array:
  """The S4 convolution kernel of a bilinear-discretised DPLR system.

  For `A = diag(Lambda) - sum_r p_r p_r^*` (conjugate-symmetric halves),
  step `s` and bilinear `A_bar, B_bar`, returns `K[l] = C A_bar^l B_bar`,
  `l < L` (S4 Algorithm 1), computed as follows.

  1. `C~ = C (I - A_bar^L)` (`dplr_c_tilde`; skipped if `c_is_tilde`).
  2. At `z_k = exp(-2 pi i k / L)` the truncated generating function is
     `K^(z) = C~ (I - A_bar z)^{-1} B_bar = 2/(1+z) C~ (g I - A)^{-1} B`
     with `g(z) = (2/s)(1-z)/(1+z) = (2/s) i tan(pi k / L)`.
  3. Woodbury with `R = (g - Lambda)^{-1}` (diagonal):
       `(g - A)^{-1} = R - R P^T (I + P^* R P^T)^{-1} P^* R`,
     so `K^ = 2/(1+z) [k00 - k01 (I + k11)^{-1} k10]` with the four Cauchy
     sums `k00 = C~ R B`, `k01 = C~ R P^T`, `k10 = P^* R B`,
     `k11 = P^* R P^T` (`cauchy_kernel`, conjugate pairs included).
  4. At `z = -1` (`k = L/2`, L even) `g` is infinite; the limit is
     `K^(-1) = C~ (I + A_bar)^{-1} B_bar = (s/2) C~ B`, used directly.
  5. `K = irfft(K^, L)`; only `k <= L/2` is needed since K is real.

  Args:
    Lambda: `(M,)` (shared by all D systems) or `(D, M)`, complex.
    P: `(R, M)` or `(R, D, M)`, complex.
    B: `(M,)` or `(D, M)`, complex.
    C: `(..., D, M)` complex: the true `C` (or `C~` with `c_is_tilde`);
      leading axes are extra readouts of the same systems.
    step: `(D,)` step sizes, > 0.
    length: L (static).
    c_is_tilde: `C` already is `C (I - A_bar^L)` for this `length`.

  Returns:
    `(..., D, L)` real kernel.

  Raises:
    ValueError: bad `length` or inconsistent shapes.
  """
  length = _check_length(length)
  Lambda, P, B, C = (_as_complex(x) for x in (Lambda, P, B, C))
  step = jnp.asarray(step)
  m = Lambda.shape[-1]
  if step.ndim != 1:
    raise ValueError(f"step must have shape (D,), got {step.shape}.")
  d = step.shape[0]
  if Lambda.shape not in ((m,), (d, m)):
    raise ValueError(
        f"Lambda must have shape (M,) or (D, M) = {(d, m)}, got "
        f"{Lambda.shape}.")
  if P.ndim not in (2, 3) or P.shape[1:] not in ((m,), (d, m)):
    raise ValueError(
        f"P must have shape (rank, M) or (rank, D, M) with M = {m}, D = {d}, "
        f"got {P.shape}.")
  if B.shape not in ((m,), (d, m)):
    raise ValueError(
        f"B must have shape (M,) or (D, M) = {(d, m)}, got {B.shape}.")
  if C.ndim < 2 or C.shape[-2:] != (d, m):
    raise ValueError(
        f"C must have shape (..., D, M) = (..., {d}, {m}), got {C.shape}.")
  if c_is_tilde:
    c_t = C
  else:
    c_t = dplr_c_tilde(Lambda, P, C, step, length)
  real = _real_dtype(C)
  rank = P.shape[0]

  # Nodes k = 0 .. ceil(L/2) - 1; the Nyquist node of even L comes in step 4.
  k = np.arange((length + 1) // 2)
  tan = np.tan(np.pi * k / length)
  rho = 2.0 / (1.0 + np.exp(-2j * np.pi * k / length))  # 2 / (1 + z)
  g = jax.lax.complex(jnp.zeros((d, k.size), real),
                      (2.0 / step)[:, None] * tan.astype(real))  # [D, K]
  lam = Lambda if Lambda.ndim == 2 else Lambda[None]  # [D or 1, M]
  mats = _cauchy_matrices(g, lam, conj_sym=True)  # [D, K, M] each
  pc = jnp.conj(P)
  k00 = _contract(c_t * B, mats)  # [..., D, K]
  k01 = jnp.stack([_contract(c_t * P[s], mats) for s in range(rank)],
                  axis=-1)  # [..., D, K, R]
  k10 = jnp.stack([_contract(pc[r] * B, mats) for r in range(rank)],
                  axis=-1)  # [D, K, R]
  k11 = jnp.stack([
      jnp.stack([_contract(pc[r] * P[s], mats) for s in range(rank)],
                axis=-1) for r in range(rank)
  ], axis=-2)  # [D, K, R, R]
  if rank == 1:
    woodbury = k01[..., 0] * k10[..., 0] / (1.0 + k11[..., 0, 0])
  else:
    eye = jnp.eye(rank, dtype=k11.dtype)
    solved = jnp.linalg.solve(eye + k11, k10[..., None])[..., 0]  # [D, K, R]
    woodbury = jnp.einsum("...r,...r->...", k01, solved)
  spectrum = rho.astype(k00.dtype) * (k00 - woodbury)  # [..., D, K]
  if length % 2 == 0:
    nyquist = step * jnp.real(jnp.sum(c_t * B, axis=-1))  # (s/2) 2 Re(C~B)
    spectrum = jnp.concatenate(
        [spectrum, nyquist[..., None].astype(spectrum.dtype)], axis=-1)
  return jnp.fft.irfft(spectrum, n=length, axis=-1).astype(real)
