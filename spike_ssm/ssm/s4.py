r"""S4 and S4D: structured state-space layers evaluated as long convolutions.

Both layers run D independent single-input single-output SSMs, one per
feature, with N real states stored as M = N/2 complex modes (one member of
each conjugate pair). `__call__` evaluates a whole sequence as the causal
convolution `y = K * u + d u` with the SSM's length-T kernel
`K[l] = C A_bar^l B_bar` (computed per call for the call's T) by FFT;
`step` runs the equivalent recurrence.

S4D (diagonal; Gu, Gupta, Goel, Re, NeurIPS 2022):

.. math::

  \Lambda_{dn} &= -\exp(a^{\log}_{dn}) + i\, a^{\mathrm{im}}_{dn},
      \qquad \Delta_d = \exp(\mathrm{log\_dt}_d)  \\
  \bar\Lambda, \bar B &= \mathrm{zoh\ or\ bilinear}(\Lambda, B, \Delta)  \\
  h_t &= \bar\Lambda \odot h_{t-1} + \bar B\, u_t, \qquad
  y_t = 2\,\mathrm{Re}(C h_t) + d\, u_t

with `K[l] = 2 Re(sum_n C_n Lambda_bar_n^l B_bar_n)`
(`ops.kernels.s4d_kernel`). Real parts stay negative for every parameter
value. Initialisation (S4D, Sec. 4): `Lambda` from `ops.hippo.
diagonal_init` ("legs": the diagonal of HiPPO-LegS's DPLR form; "lin":
`-1/2 + i pi n`; "inv"; "real": `-(n+1)`), the same for every feature;
`B` the matching half of `V^* B` of HiPPO-LegS for "legs", else 1.
Parameters: `log_dt` `(D,)`, `a_log`, `a_im` `(D, M)`, `b`, `c`
[, `c_bwd`] `(D, M, 2)`, `d` `(D,)`.

S4 (DPLR; Gu, Goel, Re, ICLR 2022), written in the eigenbasis of the normal
part of a HiPPO matrix (`ops.hippo.dplr`):

.. math::

  A &= \mathrm{diag}(\Lambda) - \textstyle\sum_r p_r p_r^*, \qquad
  \Lambda = \min(\mathrm{lambda\_re}, -10^{-4}) + i\,\mathrm{lambda\_im} \\
  \bar A &= (I - \tfrac{\Delta_d}{2} A)^{-1}(I + \tfrac{\Delta_d}{2} A),
  \quad \bar B = (I - \tfrac{\Delta_d}{2} A)^{-1} \Delta_d B  \\
  x_t &= \bar A x_{t-1} + \bar B u_t, \qquad y_t = C_d x_t + d_d u_t

on the full conjugate-symmetric system. `Lambda`, `p`, `B` are shared by
all features; `log_dt`, `C`, `d` are per feature. The real part of
`Lambda` is clipped at `LAMBDA_RE_MAX` (S5's eigenvalue clipping) so the
Cauchy poles stay off the imaginary axis, where the nodes
`(2/dt) i tan(pi k / L)` lie. The kernel is S4's Algorithm 1 (Cauchy kernel
and Woodbury at the roots of unity, `ops.kernels.s4_dplr_kernel`); the
truncation correction `C~ = C (I - A_bar^T)` is computed inside every call
for that call's T from the stored `C`, so `c` is always the true readout
and `__call__` and `step` agree for every T (S4 instead stores `C~` for a
fixed maximum length). `step` runs the real form `[Re x, Im x]`
(`ops.kernels.dplr_real_form`): the low-rank term couples each mode to its
conjugate partner, so only the real N-state form is closed under `A`.
Initialisation: the first (Im <= 0) half of `ops.hippo.dplr(measure, N,
rank)`; ranks above the measure's minimum add zero rows to `p` (as S4).
Parameters: `lambda_re`, `lambda_im` `(M,)`, `p` `(R, M, 2)`, `b`
`(M, 2)`, `c` [, `c_bwd`] `(D, M, 2)`, `log_dt` `(D,)`, `d` `(D,)`.

B clip and fixed B (both layers). `b_clip` (default 2.0) clips the
imaginary part of the initial `B` to `[-b_clip, b_clip]`, as S4's released
code does for S4 and S4D-LegS (state-spaces/s4 main,
`src/models/hippo/hippo.py:203,274-275`, `nplr(..., B_clip=2.0)`); None keeps
the unclipped eigenbasis `V^* B` (S4 at tag v1, S4D at v3.0.0). Only HiPPO
B's are affected: S4D's "lin", "inv" and "real" start at `B = 1`.
`trainable_b=False` makes `B` a constant at its initial value instead of
the parameter `b` (SpikingSSM's `trainable_B: false`, whose kernel has
`B = 1`).

Both: `C ~ CN(0, 1)` (real and imaginary parts `N(0, 1/2)`), `log_dt`
log-uniform on `[dt_min, dt_max]`, `d ~ N(0, 1)`. Bidirectional layers add
a readout `c_bwd` of the same SSM over the strict future,
`y_t += sum_{s > t} K_bwd[s - t - 1] u_s`
(`ops.conv.fft_conv_bidirectional`); they cannot stream.
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import checks
from spike_ssm.ops import complex_pairs
from spike_ssm.ops import conv
from spike_ssm.ops import discretization
from spike_ssm.ops import hippo
from spike_ssm.ops import kernels
from spike_ssm.ssm import base

# Largest real part S4 lets an eigenvalue of its diagonal part take.
LAMBDA_RE_MAX = -1e-4


class S4DState(NamedTuple):
  """Streaming state of an `S4D`: `h` `(B, D, N/2)`, complex64."""
  h: jax.Array


class S4State(NamedTuple):
  """Streaming state of an `S4`: the real form `h` `(B, D, N)`, float32."""
  h: jax.Array


def _check_b_clip(owner: str, b_clip) -> float | None:
  if b_clip is None:
    return None
  return checks.check_float(owner, "b_clip", b_clip, above=0.0)


def clip_b(b: np.ndarray, b_clip: float | None) -> np.ndarray:
  """`Re(b) + i clip(Im(b), -b_clip, b_clip)` (S4's `B_clip`); None: `b`."""
  if b_clip is None:
    return b
  return b.real + 1j * np.clip(b.imag, -b_clip, b_clip)


def _b_param(trainable: bool, shape, value: np.ndarray) -> jax.Array:
  """The `b` parameter `(..., 2)` initialised at `value`, or that constant."""
  pairs = np.broadcast_to(np.stack([value.real, value.imag], -1), shape)
  if not trainable:
    return jnp.asarray(pairs, jnp.float32)
  return hk.get_parameter("b", shape, jnp.float32, constant_init(pairs))


def _check_state_size(owner: str, state_size) -> int:
  n = checks.check_int(owner, "state_size", state_size, 2)
  if n % 2:
    raise ValueError(
        f"{owner}: `state_size` must be even (N/2 conjugate pairs), got "
        f"{n}.")
  return n


def constant_init(value: np.ndarray) -> hk.initializers.Initializer:
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


class _ConvSSM(base.SequenceLayer):
  """What S4 and S4D share: the FFT convolution over `(B, T, D)`."""

  input_params = frozenset({"b"})
  output_params = frozenset({"c", "c_bwd"})
  time_major_core = False  # The FFT convolution runs along axis -2.
  width_param = ("log_dt", 0)

  def initial_state(self, batch_size: int, features: int | None = None):
    """The zero state (`S4DState` / `S4State`, see the class).

    Args:
      batch_size: B.
      features: the width D; may be omitted once the parameters exist.

    Raises:
      ValueError: a bidirectional layer, bad sizes, or `features` omitted
        before the parameters exist.
    """
    return self._initial_state(batch_size, features, "features")

  def _sequence(self, u: jax.Array) -> jax.Array:
    k, d = self._kernel(u.shape[-1], u.shape[1], u.dtype)  # [(2,) D, T]
    if self.bidirectional:
      return conv.fft_conv_bidirectional(u, k[0].T, k[1].T, d)
    return conv.fft_conv(u, k.T, d)  # [B, T, D]


class S4D(_ConvSSM):
  """Diagonal state-space layer S4D (module docstring), `(B, T, D)`."""

  dynamics_params = frozenset({"log_dt", "a_log", "a_im"})

  def __init__(self,
               state_size: int = 64,
               *,
               init: str = "legs",
               discretization: str = "zoh",
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               bidirectional: bool = False,
               b_clip: float | None = 2.0,
               trainable_b: bool = True,
               name: str | None = None):
    """Constructs an S4D layer.

    Args:
      state_size: real state size N (even): N/2 complex modes per feature.
      init: diagonal initialisation, one of `ops.hippo.DIAGONAL_KINDS`.
      discretization: "zoh" or "bilinear".
      dt_min: smallest initial step, > 0.
      dt_max: largest initial step, >= dt_min.
      bidirectional: add an anti-causal readout of the future.
      b_clip: clip of Im(B) at init (> 0), None for none (module
        docstring); only "legs" has a complex B.
      trainable_b: B is the parameter `b`; False: a constant at its init.
      name: module name.

    Raises:
      ValueError: odd or non-positive `state_size`, unknown `init` or
        `discretization`, `dt_min <= 0` or `dt_min > dt_max`, `b_clip <= 0`.
      TypeError: non-bool `bidirectional` or `trainable_b`.
    """
    super().__init__(name=name)
    owner = type(self).__name__
    self.state_size = _check_state_size(owner, state_size)
    self.init = checks.check_choice(owner, "init", init,
                                    hippo.DIAGONAL_KINDS)
    self.discretization = checks.check_choice(owner, "discretization",
                                              discretization, kernels.METHODS)
    self.dt_min, self.dt_max = checks.check_step_range(owner, dt_min, dt_max)
    self.bidirectional = checks.check_bool(owner, "bidirectional",
                                           bidirectional)
    self.b_clip = _check_b_clip(owner, b_clip)
    self.trainable_b = checks.check_bool(owner, "trainable_b", trainable_b)

  def _spectrum_and_b(self) -> tuple[np.ndarray, np.ndarray]:
    """`Lambda` (M,) and `B` (M,) at init, complex128."""
    n, m = self.state_size, self.state_size // 2
    lam = hippo.diagonal_init(n, self.init)
    if self.init == "legs":
      # diagonal_init keeps dplr's upper (Im > 0) half: take B's match.
      b = hippo.dplr("legs", n)[2][n - m:]
    else:
      b = np.ones(m, np.complex128)
    return lam, clip_b(b, self.b_clip)

  def _params(self, features: int, dtype):
    """Lambda (D, M), B (D, M), C ((2,) D, M), step (D,), d (D,)."""
    m = self.state_size // 2
    lam, b0 = self._spectrum_and_b()
    shape = (features, m)
    log_dt = hk.get_parameter("log_dt", (features,), jnp.float32,
                              _log_dt_init(self.dt_min, self.dt_max))
    a_log = hk.get_parameter(
        "a_log", shape, jnp.float32,
        constant_init(np.broadcast_to(np.log(-lam.real), shape)))
    a_im = hk.get_parameter("a_im", shape, jnp.float32,
                            constant_init(np.broadcast_to(lam.imag, shape)))
    b = _b_param(self.trainable_b, shape + (2,), b0)
    c = hk.get_parameter("c", shape + (2,), jnp.float32, _C_INIT)
    if self.bidirectional:
      c_bwd = hk.get_parameter("c_bwd", shape + (2,), jnp.float32, _C_INIT)
      c = jnp.stack([c, c_bwd])
    d = hk.get_parameter("d", (features,), jnp.float32,
                         hk.initializers.RandomNormal(stddev=1.0))
    a_log, a_im, log_dt, b, c, d = (
        p.astype(dtype) for p in (a_log, a_im, log_dt, b, c, d))
    Lambda = lax.complex(-jnp.exp(a_log), a_im)
    return (Lambda, complex_pairs.to_complex(b), complex_pairs.to_complex(c),
            jnp.exp(log_dt), d)

  def _modes(self, features: int, dtype):
    """`(Lambda, B, C, step, d)` of the diagonal system the layer runs."""
    return self._params(features, dtype)

  def _num_modes(self) -> int:
    return self.state_size // 2

  def _kernel(self, features: int, length: int, dtype):
    Lambda, b, c, step, d = self._modes(features, dtype)
    k = kernels.s4d_kernel(Lambda, b, c, step, length,
                           method=self.discretization)  # [(2,) D, T]
    return k, d

  def _recur(self, u: jax.Array, h: jax.Array):
    """One step of the diagonal recurrence: `(y (B, D), h (B, D, modes))`."""
    Lambda, b, c, step, d = self._modes(u.shape[-1], u.dtype)
    lam_bar, b_bar = discretization.discretize(Lambda, b, step[:, None],
                                               self.discretization)
    h = lam_bar * h.astype(lam_bar.dtype) + b_bar * u[..., None]
    return 2 * jnp.real(jnp.sum(c * h, axis=-1)) + d * u, h

  def _step(self, u: jax.Array, state: S4DState):
    y, h = self._recur(u, state.h)
    return y, S4DState(h=h)

  def _zero_state(self, batch_size: int, width: int) -> S4DState:
    return S4DState(h=jnp.zeros((batch_size, width, self._num_modes()),
                                jnp.complex64))


class S4(_ConvSSM):
  """Structured state-space layer S4 (module docstring), `(B, T, D)`."""

  dynamics_params = frozenset({"lambda_re", "lambda_im", "log_dt", "p"})

  def __init__(self,
               state_size: int = 64,
               *,
               measure: str = "legs",
               rank: int = 1,
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               bidirectional: bool = False,
               b_clip: float | None = 2.0,
               trainable_b: bool = True,
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
      b_clip: clip of Im(B) at init (> 0), None for none (module docstring).
      trainable_b: B is the parameter `b`; False: a constant at its init.
      name: module name.

    Raises:
      ValueError: odd or non-positive `state_size`, unknown `measure`, a bad
        `rank`, `dt_min <= 0` or `dt_min > dt_max`, `b_clip <= 0`.
      TypeError: non-bool `bidirectional` or `trainable_b`.
    """
    super().__init__(name=name)
    owner = "S4"
    self.state_size = _check_state_size(owner, state_size)
    self.measure = checks.check_choice(owner, "measure", measure,
                                       hippo.MEASURES)
    self.rank = checks.check_int(owner, "rank", rank, 1)
    try:
      lam, p, b, _ = hippo.dplr(measure, self.state_size, self.rank)
    except ValueError as e:
      raise ValueError(f"{owner}: `rank`: {e}") from None
    self.dt_min, self.dt_max = checks.check_step_range(owner, dt_min, dt_max)
    self.bidirectional = checks.check_bool(owner, "bidirectional",
                                           bidirectional)
    self.b_clip = _check_b_clip(owner, b_clip)
    self.trainable_b = checks.check_bool(owner, "trainable_b", trainable_b)
    m = self.state_size // 2
    self._init_tables = (lam[:m], p[:, :m], clip_b(b[:m], self.b_clip))

  def _params(self, features: int, dtype):
    """Lambda (M,), P (R, M), B (M,), C ((2,) D, M), step (D,), d (D,)."""
    m = self.state_size // 2
    lam, p0, b0 = self._init_tables
    pair = lambda z: np.stack([z.real, z.imag], axis=-1)  # noqa: E731
    lambda_re = hk.get_parameter("lambda_re", (m,), jnp.float32,
                                 constant_init(lam.real))
    lambda_im = hk.get_parameter("lambda_im", (m,), jnp.float32,
                                 constant_init(lam.imag))
    p = hk.get_parameter("p", (self.rank, m, 2), jnp.float32,
                         constant_init(pair(p0)))
    b = _b_param(self.trainable_b, (m, 2), b0)
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
    return (Lambda, complex_pairs.to_complex(p), complex_pairs.to_complex(b),
            complex_pairs.to_complex(c), jnp.exp(log_dt), d)

  def _kernel(self, features: int, length: int, dtype):
    Lambda, p, b, c, step, d = self._params(features, dtype)
    return kernels.s4_dplr_kernel(Lambda, p, b, c, step, length), d

  def _step(self, u: jax.Array, state: S4State):
    Lambda, p, b, c, step, d = self._params(u.shape[-1], u.dtype)
    A_bar, B_bar = kernels.dplr_bilinear_real(Lambda, p, b, step)  # [D, N, N]
    C = kernels.real_output(c)  # [D, N]
    # Full float32 products: the state carries their rounding step to step.
    h = (jnp.einsum("dnm,bdm->bdn", A_bar, state.h.astype(u.dtype),
                    precision=lax.Precision.HIGHEST) +
         B_bar * u[..., None])  # [B, D, N]
    y = jnp.einsum("dn,bdn->bd", C, h, precision=lax.Precision.HIGHEST) + (
        d * u)
    return y, S4State(h=h)

  def _zero_state(self, batch_size: int, width: int) -> S4State:
    return S4State(h=jnp.zeros((batch_size, width, self.state_size),
                               jnp.float32))
