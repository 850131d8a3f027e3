"""S4 and S4D: structured state-space layers evaluated as long convolutions.

Both layers run D independent single-input single-output SSMs, one per
feature, and evaluate a whole sequence as a causal convolution with the
SSM's kernel (computed per call for the sequence length T) by FFT; the
streaming `step` runs the equivalent recurrence one step at a time.

References:
  S4   Gu, Goel, Re. "Efficiently Modeling Long Sequences with Structured
       State Spaces." ICLR 2022.
  S4D  Gu, Gupta, Goel, Re. "On the Parameterization and Initialization of
       Diagonal State Space Models." NeurIPS 2022.
  HiPPO Gu, Dao, Ermon, Rudra, Re. "HiPPO: Recurrent Memory with Optimal
       Polynomial Projections." NeurIPS 2020.
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import conv
from spike_ssm.ops import discretization
from spike_ssm.ops import hippo
from spike_ssm.ops import kernels
from spike_ssm.ssm import _diagonal

# Largest real part S4 lets an eigenvalue of its diagonal part take (S5's
# eigenvalue clipping): keeps the Cauchy poles off the imaginary axis, where
# the nodes g = (2/dt) i tan(pi k / L) lie.
LAMBDA_RE_MAX = -1e-4


class S4DState(NamedTuple):
  """Streaming state of an `S4D`.

  Attributes:
    h: complex diagonal state, one member of each conjugate pair, shape
      `(B, D, N/2)`, complex64 (kept complex: jmp casts only floating
      leaves, so a policy never truncates it).
  """
  h: jax.Array


class S4State(NamedTuple):
  """Streaming state of an `S4`.

  Attributes:
    h: the real state `[Re x, Im x]` of the conjugate-symmetric DPLR
      system (`ops.kernels.dplr_real_form`), shape `(B, D, N)`, float32.
  """
  h: jax.Array


# ----------------------------------------------------------------------------
# Shared checks and helpers.
# ----------------------------------------------------------------------------


def _check_state_size(owner: str, state_size) -> int:
  n = _diagonal.check_int(owner, "state_size", state_size, 2)
  if n % 2:
    raise ValueError(
        f"{owner}: `state_size` must be even (N/2 conjugate pairs), got "
        f"{n}.")
  return n


def _check_steps(owner: str, dt_min, dt_max) -> tuple[float, float]:
  dt_min, dt_max = float(dt_min), float(dt_max)
  if not dt_min > 0:
    raise ValueError(f"{owner}: `dt_min` must be > 0, got {dt_min}.")
  if not dt_min <= dt_max:
    raise ValueError(
        f"{owner}: `dt_min` must be <= `dt_max`, got dt_min={dt_min} > "
        f"dt_max={dt_max}.")
  return dt_min, dt_max


def _check_bool(owner: str, name: str, value) -> bool:
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{owner}: `{name}` must be a bool, got {value!r}.")
  return bool(value)


def _check_features(owner: str, params: dict, features: int) -> None:
  """Clear error when the input width differs from the stored `log_dt`."""
  for key, value in params.items():
    if key.rsplit("/", 1)[-1] == "log_dt" and value.shape[0] != features:
      raise ValueError(
          f"{owner}: input feature size D={features} does not match D="
          f"{value.shape[0]} that the parameters were created with "
          f"(`log_dt` has shape {tuple(value.shape)}).")


def _constant(value: np.ndarray):
  """Initialiser returning a precomputed table (checked against `shape`)."""
  def init(shape, dtype):
    if tuple(shape) != value.shape:
      raise ValueError(
          f"initialiser built for shape {value.shape}, asked for {shape}.")
    return jnp.asarray(value, dtype)
  return init


def _log_dt_init(dt_min: float, dt_max: float):
  def init(shape, dtype):
    return discretization.log_step_init(hk.next_rng_key(), shape, dt_min,
                                        dt_max, dtype)
  return init


# C ~ CN(0, 1): real and imaginary parts N(0, 1/2) (S4 / S4D).
_C_INIT = hk.initializers.RandomNormal(stddev=math.sqrt(0.5))


def _to_batch_major(x, time_major):
  return x.swapaxes(0, 1) if time_major else x


class _ConvSSM(hk.Module):
  """The parts S4 and S4D share: input handling, convolution, step loop."""

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the layer over a whole sequence (kernel + FFT convolution).

    Args:
      x: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`; any
        floating dtype.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3 or its width differs from the width
        the parameters were created with.
      TypeError: if `x` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x", x, 3,
                          "(T, B, D)" if time_major else "(B, T, D)")
    dtype = _diagonal.compute_dtype(x.dtype)
    # The FFT convolution runs along axis -2, so go batch-major once.
    u = _to_batch_major(x, time_major).astype(dtype)  # [B, T, D]
    k, d = self._kernel(u.shape[-1], u.shape[1], dtype)  # [(2,) D, T]
    if self.bidirectional:
      y = conv.fft_conv_bidirectional(u, k[0].T, k[1].T, d)
    else:
      y = conv.fft_conv(u, k.T, d)  # [B, T, D]
    return _to_batch_major(y, time_major).astype(x.dtype)

  def _state_dims(self, batch_size, features) -> tuple[int, int]:
    owner = self.module_name
    batch_size = _diagonal.check_int(owner, "batch_size", batch_size, 1)
    known = [v.shape[0] for k, v in self.params_dict().items()
             if k.rsplit("/", 1)[-1] == "log_dt"]
    if features is None:
      if not known:
        raise ValueError(
            f"{owner}: `features` (the width D) is needed before the layer "
            f"has parameters; pass initial_state(batch_size, features=D).")
      return batch_size, known[0]
    features = _diagonal.check_int(owner, "features", features, 1)
    if known and known[0] != features:
      raise ValueError(
          f"{owner}: `features`={features} does not match D={known[0]} that "
          f"the parameters were created with.")
    return batch_size, features

  def _check_streaming(self, x_t, state_h, expected_state):
    if self.bidirectional:
      raise ValueError(
          f"{self.module_name}: `step` needs a causal layer; a bidirectional "
          f"layer reads the future (construct with bidirectional=False).")
    _diagonal.check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    if not hasattr(state_h, "shape") or tuple(state_h.shape) != expected_state:
      raise ValueError(
          f"{self.module_name}: `state.h` must have shape {expected_state} "
          f"(batch, features, state), got "
          f"{tuple(getattr(state_h, 'shape', ()))}.")


# ----------------------------------------------------------------------------
# S4D.
# ----------------------------------------------------------------------------


class S4D(_ConvSSM):
  """Diagonal state-space layer S4D (Gu, Gupta, Goel, Re, 2022).

  Each feature `d` of a `(B, T, D)` input drives its own SSM of `N/2`
  complex modes, stored by one member of each conjugate pair so the real
  system has `N` states:

  .. math::

    \\Lambda_{dn} &= -\\exp(a^{\\log}_{dn}) + i\\, a^{\\mathrm{im}}_{dn},
        \\qquad \\Delta_d = \\exp(\\mathrm{log\\_dt}_d)  \\\\
    \\bar\\Lambda, \\bar B &= \\mathrm{zoh\\ or\\ bilinear}(\\Lambda, B,
        \\Delta)  \\\\
    h_{t} &= \\bar\\Lambda \\odot h_{t-1} + \\bar B\\, u_{t}  \\\\
    y_t &= 2\\,\\mathrm{Re}(C h_t) + d\\, u_t

  `__call__` evaluates this as `y = K * u + d u` with the kernel
  `K[l] = 2 Re(sum_n C_n Lambda_bar_n^l B_bar_n)` (`ops.kernels.s4d_kernel`,
  built for the call's T) and an FFT convolution; `step` runs the
  recurrence. Real parts stay negative for every parameter value.

  Bidirectional: a second readout `c_bwd` of the same SSM runs over the
  reversed sequence and sees only the strict future,
  `y_t += sum_{s > t} K_bwd[s - t - 1] u_s` with
  `K_bwd[l] = 2 Re(sum_n c_bwd_n Lambda_bar_n^l B_bar_n)`
  (`ops.conv.fft_conv_bidirectional`); such a layer cannot `step`.

  Initialisation (S4D, Sec. 4): `Lambda` from `ops.hippo.diagonal_init`:
  "legs" (S4D-LegS, the diagonal of HiPPO-LegS's DPLR form), "lin"
  (S4D-Lin, `-1/2 + i pi n`), "inv" (S4D-Inv), "real" (S4D-Real,
  `-(n+1)`), the same for every feature; `B` learnable, initialised to the
  matching half of `V^* B` of HiPPO-LegS for "legs" (the diagonalised
  HiPPO input) and to 1 otherwise; `C ~ CN(0, 1)` (real and imaginary parts
  `N(0, 1/2)`); `log_dt` log-uniform on `[dt_min, dt_max]` (S4); `d ~
  N(0, 1)`.

  Parameters (float32, complex as real pairs on a trailing axis; M = N/2):
    `log_dt` `(D,)`, `a_log` `(D, M)` (log of minus the real part),
    `a_im` `(D, M)`, `b` `(D, M, 2)`, `c` `(D, M, 2)`, [`c_bwd`
    `(D, M, 2)`], `d` `(D,)`.

  The core computes in float32 (complex64) whatever the input dtype; the
  output comes back in the input dtype.
  """

  def __init__(self,
               state_size: int = 64,
               *,
               init: str = "legs",
               discretization: str = "zoh",
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               bidirectional: bool = False,
               name: str | None = None):
    """Constructs an S4D layer.

    Args:
      state_size: real state size N (even): N/2 complex modes per feature.
      init: diagonal initialisation, one of `ops.hippo.DIAGONAL_KINDS`
        ("legs", "lin", "inv", "real").
      discretization: "zoh" or "bilinear".
      dt_min: smallest initial step, > 0.
      dt_max: largest initial step, >= dt_min.
      bidirectional: add an anti-causal readout of the future.
      name: module name.

    Raises:
      ValueError: odd or non-positive `state_size`, unknown `init` or
        `discretization`, `dt_min <= 0` or `dt_min > dt_max`.
      TypeError: non-bool `bidirectional`.
    """
    super().__init__(name=name)
    owner = "S4D"
    self.state_size = _check_state_size(owner, state_size)
    if init not in hippo.DIAGONAL_KINDS:
      raise ValueError(
          f"{owner}: `init` must be one of {hippo.DIAGONAL_KINDS}, got "
          f"{init!r}.")
    if discretization not in kernels.METHODS:
      raise ValueError(
          f"{owner}: `discretization` must be one of {kernels.METHODS}, got "
          f"{discretization!r}.")
    self.dt_min, self.dt_max = _check_steps(owner, dt_min, dt_max)
    self.bidirectional = _check_bool(owner, "bidirectional", bidirectional)
    self.init = init
    self.discretization = discretization

  def _spectrum_and_b(self) -> tuple[np.ndarray, np.ndarray]:
    """`Lambda` (M,) and `B` (M,) at init, complex128."""
    n, m = self.state_size, self.state_size // 2
    lam = hippo.diagonal_init(n, self.init)
    if self.init == "legs":
      # diagonal_init keeps dplr's upper (Im > 0) half: take B's match.
      b = hippo.dplr("legs", n)[2][n - m:]
    else:
      b = np.ones(m, np.complex128)
    return lam, b

  def _params(self, features: int, dtype):
    """Lambda (D, M), B (D, M), C ((2,) D, M), step (D,), d (D,)."""
    m = self.state_size // 2
    _check_features(self.module_name, self.params_dict(), features)
    lam, b0 = self._spectrum_and_b()
    shape = (features, m)
    log_dt = hk.get_parameter("log_dt", (features,), jnp.float32,
                              _log_dt_init(self.dt_min, self.dt_max))
    a_log = hk.get_parameter(
        "a_log", shape, jnp.float32,
        _constant(np.broadcast_to(np.log(-lam.real), shape)))
    a_im = hk.get_parameter("a_im", shape, jnp.float32,
                            _constant(np.broadcast_to(lam.imag, shape)))
    b = hk.get_parameter(
        "b", shape + (2,), jnp.float32,
        _constant(np.broadcast_to(np.stack([b0.real, b0.imag], -1),
                                  shape + (2,))))
    c = hk.get_parameter("c", shape + (2,), jnp.float32, _C_INIT)
    if self.bidirectional:
      c_bwd = hk.get_parameter("c_bwd", shape + (2,), jnp.float32, _C_INIT)
      c = jnp.stack([c, c_bwd])
    d = hk.get_parameter("d", (features,), jnp.float32,
                         hk.initializers.RandomNormal(stddev=1.0))
    a_log, a_im, log_dt, b, c, d = (
        p.astype(dtype) for p in (a_log, a_im, log_dt, b, c, d))
    Lambda = lax.complex(-jnp.exp(a_log), a_im)
    return (Lambda, _diagonal.pair_to_complex(b), _diagonal.pair_to_complex(c),
            jnp.exp(log_dt), d)

  def _kernel(self, features: int, length: int, dtype):
    Lambda, b, c, step, d = self._params(features, dtype)
    k = kernels.s4d_kernel(Lambda, b, c, step, length,
                           method=self.discretization)  # [(2,) D, T]
    return k, d

  def initial_state(self, batch_size: int,
                    features: int | None = None) -> S4DState:
    """The zero state `h` `(B, D, N/2)` (complex64) for `batch_size` rows.

    Args:
      batch_size: B.
      features: the width D. May be omitted once the layer's parameters
        exist (e.g. in `apply`, or after `__call__` in the same transform):
        the state is per feature, so D must come from one or the other.

    Returns:
      An `S4DState`.

    Raises:
      ValueError: bad `batch_size` / `features`, or `features` omitted
        before the parameters exist.
    """
    b, d = self._state_dims(batch_size, features)
    return S4DState(h=jnp.zeros((b, d, self.state_size // 2), jnp.complex64))

  def step(self, x_t: jax.Array,
           state: S4DState) -> tuple[jax.Array, S4DState]:
    """Advances the diagonal recurrence by one step (causal layers only).

    Args:
      x_t: input at one step, `(B, D)`.
      state: the previous `S4DState`, `h` of shape `(B, D, N/2)`.

    Returns:
      `(y_t, next_state)`, `y_t` `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: a bidirectional layer, `x_t` not rank 2, a width that
        differs from the parameters', or a state of the wrong shape.
      TypeError: non-floating `x_t`.
    """
    self._check_streaming(x_t, state.h, (x_t.shape[0], x_t.shape[-1],
                                         self.state_size // 2))
    dtype = _diagonal.compute_dtype(x_t.dtype)
    Lambda, b, c, step, d = self._params(x_t.shape[-1], dtype)
    lam_bar, b_bar = discretization.discretize(Lambda, b, step[:, None],
                                               self.discretization)
    u = x_t.astype(dtype)
    h = lam_bar * state.h.astype(lam_bar.dtype) + b_bar * u[..., None]
    y = 2 * jnp.real(jnp.sum(c * h, axis=-1)) + d * u  # [B, D]
    return y.astype(x_t.dtype), S4DState(h=h.astype(state.h.dtype))


# ----------------------------------------------------------------------------
# S4.
# ----------------------------------------------------------------------------


class S4(_ConvSSM):
  """Structured state-space layer S4 with a DPLR state matrix (Gu et al.).

  Each feature `d` drives a SISO SSM with state size N, written in the
  eigenbasis of the normal part of a HiPPO matrix (`ops.hippo.dplr`) and
  stored by one member of each conjugate pair (M = N/2 complex modes):

  .. math::

    A &= \\mathrm{diag}(\\Lambda) - \\textstyle\\sum_r p_r p_r^*,
        \\qquad \\Lambda = \\min(\\mathrm{lambda\\_re}, -10^{-4})
        + i\\, \\mathrm{lambda\\_im}  \\\\
    \\bar A &= (I - \\tfrac{\\Delta_d}{2} A)^{-1}
        (I + \\tfrac{\\Delta_d}{2} A), \\quad
    \\bar B = (I - \\tfrac{\\Delta_d}{2} A)^{-1} \\Delta_d B  \\\\
    x_t &= \\bar A x_{t-1} + \\bar B u_t, \\qquad
    y_t = C_d x_t + d_d u_t

  on the full conjugate-symmetric system (so `C x` is real). `Lambda`, `p`
  and `B` are shared by all features; `log_dt`, `C` and `d` are per
  feature. The real part of `Lambda` is clipped at `LAMBDA_RE_MAX` (S5's
  eigenvalue clipping) so the Cauchy poles stay off the imaginary axis.

  `__call__` computes the length-T kernel `K[l] = C A_bar^l B_bar` with
  `ops.kernels.s4_dplr_kernel` (Cauchy kernel + Woodbury at the roots of
  unity, then an inverse FFT; S4 Algorithm 1) and applies it by FFT. The
  truncation correction `C~ = C (I - A_bar^T)` is computed inside every
  call for that call's T from the stored `C`, so the parameter `c` is
  always the true readout: `step` uses it directly and the two modes agree
  for every T (S4 instead stores `C~` for a fixed maximum length).

  `step` runs the same system in its real form (`ops.kernels.
  dplr_real_form`): the low-rank term couples each mode to its conjugate
  partner, so the M-mode complex half is not closed under `A`, while the
  real N-state form `[Re x, Im x]` is; `A_bar` is the dense bilinear
  `(D, N, N)` matrix, `h_t = A_bar h_{t-1} + B_bar u_t`, `y_t = C_real h_t
  + d u_t`, with `C_real = 2 [Re C, -Im C]`.

  Bidirectional: a second readout `c_bwd` (its own `C~`) applied to the
  strict future as in `S4D`; such a layer cannot `step`.

  Initialisation: `Lambda`, `p`, `B` are the first (Im <= 0) half of
  `ops.hippo.dplr(measure, N, rank)` (HiPPO; S4, Sec. 3); ranks above the
  measure's minimum add zero rows to `p` (as S4). `C ~ CN(0, 1)`, `log_dt`
  log-uniform on `[dt_min, dt_max]`, `d ~ N(0, 1)`.

  Parameters (float32, complex as real pairs on a trailing axis; M = N/2,
  R = rank): `lambda_re` `(M,)`, `lambda_im` `(M,)`, `p` `(R, M, 2)`, `b`
  `(M, 2)`, `c` `(D, M, 2)`, [`c_bwd` `(D, M, 2)`], `log_dt` `(D,)`, `d`
  `(D,)`.
  """

  def __init__(self,
               state_size: int = 64,
               *,
               measure: str = "legs",
               rank: int = 1,
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               bidirectional: bool = False,
               name: str | None = None):
    """Constructs an S4 layer.

    Args:
      state_size: real state size N (even).
      measure: HiPPO measure, one of `ops.hippo.MEASURES`.
      rank: rank R of the low-rank term; at least the measure's minimum
        (1, or 2 for "legt").
      dt_min: smallest initial step, > 0.
      dt_max: largest initial step, >= dt_min.
      bidirectional: add an anti-causal readout of the future.
      name: module name.

    Raises:
      ValueError: odd or non-positive `state_size`, unknown `measure`, a bad
        `rank`, `dt_min <= 0` or `dt_min > dt_max`.
      TypeError: non-bool `bidirectional`.
    """
    super().__init__(name=name)
    owner = "S4"
    self.state_size = _check_state_size(owner, state_size)
    if measure not in hippo.MEASURES:
      raise ValueError(
          f"{owner}: `measure` must be one of {hippo.MEASURES}, got "
          f"{measure!r}.")
    self.rank = _diagonal.check_int(owner, "rank", rank, 1)
    try:
      lam, p, b, _ = hippo.dplr(measure, self.state_size, self.rank)
    except ValueError as e:
      raise ValueError(f"{owner}: `rank`: {e}") from None
    self.dt_min, self.dt_max = _check_steps(owner, dt_min, dt_max)
    self.bidirectional = _check_bool(owner, "bidirectional", bidirectional)
    self.measure = measure
    m = self.state_size // 2
    self._init_tables = (lam[:m], p[:, :m], b[:m])

  def _params(self, features: int, dtype):
    """Lambda (M,), P (R, M), B (M,), C ((2,) D, M), step (D,), d (D,)."""
    m = self.state_size // 2
    _check_features(self.module_name, self.params_dict(), features)
    lam, p0, b0 = self._init_tables
    pair = lambda z: np.stack([z.real, z.imag], axis=-1)  # noqa: E731
    lambda_re = hk.get_parameter("lambda_re", (m,), jnp.float32,
                                 _constant(lam.real))
    lambda_im = hk.get_parameter("lambda_im", (m,), jnp.float32,
                                 _constant(lam.imag))
    p = hk.get_parameter("p", (self.rank, m, 2), jnp.float32,
                         _constant(pair(p0)))
    b = hk.get_parameter("b", (m, 2), jnp.float32, _constant(pair(b0)))
    c = hk.get_parameter("c", (features, m, 2), jnp.float32, _C_INIT)
    if self.bidirectional:
      c_bwd = hk.get_parameter("c_bwd", (features, m, 2), jnp.float32,
                               _C_INIT)
      c = jnp.stack([c, c_bwd])
    log_dt = hk.get_parameter("log_dt", (features,), jnp.float32,
                              _log_dt_init(self.dt_min, self.dt_max))
    d = hk.get_parameter("d", (features,), jnp.float32,
                         hk.initializers.RandomNormal(stddev=1.0))
    lambda_re, lambda_im, p, b, c, log_dt, d = (
        v.astype(dtype) for v in (lambda_re, lambda_im, p, b, c, log_dt, d))
    Lambda = lax.complex(jnp.minimum(lambda_re, LAMBDA_RE_MAX), lambda_im)
    return (Lambda, _diagonal.pair_to_complex(p), _diagonal.pair_to_complex(b),
            _diagonal.pair_to_complex(c), jnp.exp(log_dt), d)

  def _kernel(self, features: int, length: int, dtype):
    Lambda, p, b, c, step, d = self._params(features, dtype)
    return kernels.s4_dplr_kernel(Lambda, p, b, c, step, length), d

  def initial_state(self, batch_size: int,
                    features: int | None = None) -> S4State:
    """The zero real state `h` `(B, D, N)` (float32).

    Args:
      batch_size: B.
      features: the width D; may be omitted once the parameters exist (see
        `S4D.initial_state`).

    Returns:
      An `S4State`.

    Raises:
      ValueError: as `S4D.initial_state`.
    """
    b, d = self._state_dims(batch_size, features)
    return S4State(h=jnp.zeros((b, d, self.state_size), jnp.float32))

  def step(self, x_t: jax.Array,
           state: S4State) -> tuple[jax.Array, S4State]:
    """Advances the dense real-form recurrence by one step.

    Args:
      x_t: input at one step, `(B, D)`.
      state: the previous `S4State`, `h` of shape `(B, D, N)`.

    Returns:
      `(y_t, next_state)`, `y_t` `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: a bidirectional layer, `x_t` not rank 2, a width that
        differs from the parameters', or a state of the wrong shape.
      TypeError: non-floating `x_t`.
    """
    self._check_streaming(x_t, state.h,
                          (x_t.shape[0], x_t.shape[-1], self.state_size))
    dtype = _diagonal.compute_dtype(x_t.dtype)
    Lambda, p, b, c, step, d = self._params(x_t.shape[-1], dtype)
    A_bar, B_bar = kernels.dplr_bilinear_real(Lambda, p, b, step)  # [D, N, N]
    C = kernels.real_output(c)  # [D, N]
    u = x_t.astype(dtype)
    # Full float32 products: the state carries their rounding step to step.
    h = (jnp.einsum("dnm,bdm->bdn", A_bar, state.h.astype(dtype),
                    precision=lax.Precision.HIGHEST) +
         B_bar * u[..., None])  # [B, D, N]
    y = jnp.einsum("dn,bdn->bd", C, h, precision=lax.Precision.HIGHEST) + (
        d * u)
    return y.astype(x_t.dtype), S4State(h=h.astype(state.h.dtype))
