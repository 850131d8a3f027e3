"""Linear Recurrent Unit (Orvieto et al., 2023).

"Resurrecting Recurrent Neural Networks for Long Sequences", ICML 2023,
arXiv:2303.06349. A diagonal complex linear recurrence with an exponential
eigenvalue parameterisation (stable by construction), a ring initialisation
of the eigenvalues and a per-state input normalisation `gamma`.
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp

from spike_ssm.ops import scans
from spike_ssm.ssm import _diagonal


class LRUState(NamedTuple):
  """Streaming state of an `LRU`.

  Attributes:
    h: the complex hidden state, shape `(B, N)`, complex64 (`step` returns
      the dtype it was given). Kept complex rather than as real pairs: jmp
      casts only floating leaves, so a complex state is never truncated to
      a half-precision compute dtype by a mixed-precision policy.
  """
  h: jax.Array


def lru_eigenvalues(nu_log: jax.Array, theta_log: jax.Array) -> jax.Array:
  """`lambda = exp(-exp(nu_log) + i exp(theta_log))`, shape `(N,)`."""
  return jnp.exp(lax.complex(-jnp.exp(nu_log), jnp.exp(theta_log)))


class LRU(hk.Module):
  """Linear Recurrent Unit (Orvieto et al., 2023, arXiv:2303.06349).

  For an input sequence `x_t` of width `D` and `N` complex states:

  .. math::

    \\lambda &= \\exp(-\\exp(\\nu) + i \\exp(\\theta))  \\\\
    h_t &= \\lambda \\odot h_{t-1} + \\gamma \\odot (B x_t),
        \\qquad h_0 = 0  \\\\
    y_t &= \\mathrm{Re}(C h_t) + d \\odot x_t

  with `|lambda| = exp(-exp(nu)) < 1` for every real `nu`, so the recurrence
  is stable whatever the optimiser does. In the equations `nu` and `theta`
  are the parameters `nu_log` and `theta_log` (logs of the decay rate and
  of the phase), and `gamma = exp(gamma_log)`.

  Initialisation (Orvieto et al., 2023, Sec. 3.2 and App. A): `|lambda|^2`
  is uniform on `[r_min^2, r_max^2]` (eigenvalues uniform in area on the
  ring `r_min <= |lambda| <= r_max`), the phase `arg(lambda)` is uniform on
  `[0, max_phase]`, `gamma = sqrt(1 - |lambda|^2)` (stored as `gamma_log`,
  trainable), the real and imaginary parts of `B` are `N(0, 1/(2D))`, those
  of `C` are `N(0, 1/N)`, and `d` is `N(0, 1)`.

  Parameters (float32; complex matrices as real pairs on a trailing axis):
    `nu_log` `(N,)`, `theta_log` `(N,)`, `gamma_log` `(N,)`, `b` `(N, D, 2)`,
    `c` `(D, N, 2)`, `d` `(D,)`.

  The core runs in float32 (complex64) whatever the input dtype and the
  output comes back in the input dtype. The recurrence is evaluated by
  `spike_ssm.ops.scans.linear_scan` in `scan_mode`.
  """

  def __init__(self,
               state_size: int,
               *,
               r_min: float = 0.0,
               r_max: float = 1.0,
               max_phase: float = 2 * math.pi,
               scan_mode: str = "auto",
               chunk_size: int | None = None,
               name: str | None = None):
    """Constructs an LRU.

    Args:
      state_size: number of complex states N.
      r_min: smallest eigenvalue modulus at init, in [0, 1].
      r_max: largest eigenvalue modulus at init, in [r_min, 1].
      max_phase: eigenvalue phases are drawn uniformly from
        [0, max_phase]; must be positive.
      scan_mode: `linear_scan` mode: "auto", "sequential", "parallel" or
        "chunked".
      chunk_size: chunk length for the chunked scan (must divide T), or None
        for the scan's default.
      name: module name.

    Raises:
      ValueError: on a non-positive state size, a ring outside [0, 1] or
        with r_min > r_max, a non-positive max_phase, an unknown scan mode
        or a bad chunk size.
    """
    super().__init__(name=name)
    self.state_size = _diagonal.check_int("LRU", "state_size", state_size, 1)
    r_min, r_max, max_phase = float(r_min), float(r_max), float(max_phase)
    if not 0.0 <= r_min <= 1.0:
      raise ValueError(f"LRU: `r_min` must be in [0, 1], got {r_min}.")
    if not 0.0 <= r_max <= 1.0:
      raise ValueError(f"LRU: `r_max` must be in [0, 1], got {r_max}.")
    if r_min > r_max:
      raise ValueError(
          f"LRU: `r_min` must be <= `r_max`, got r_min={r_min} > "
          f"r_max={r_max}.")
    if not max_phase > 0.0:
      raise ValueError(f"LRU: `max_phase` must be > 0, got {max_phase}.")
    _diagonal.check_scan_mode("LRU", scan_mode, chunk_size)
    self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase
    self.scan_mode = scan_mode
    self.chunk_size = chunk_size

  # --------------------------------------------------------------------------
  # Parameters.
  # --------------------------------------------------------------------------

  def _nu_log_init(self, shape, dtype):
    # |lambda|^2 = u (r_max^2 - r_min^2) + r_min^2 with u ~ U[0, 1) is
    # uniform in area on the ring; nu = -log(|lambda|^2) / 2. The clip keeps
    # nu finite at the ring's edges (|lambda| = 0 or 1).
    u = jax.random.uniform(hk.next_rng_key(), shape, jnp.float32)
    mod2 = u * (self.r_max**2 - self.r_min**2) + self.r_min**2
    eps = jnp.finfo(jnp.float32).eps
    mod2 = jnp.clip(mod2, jnp.finfo(jnp.float32).tiny, 1.0 - eps)
    return jnp.log(-0.5 * jnp.log(mod2)).astype(dtype)

  def _theta_log_init(self, shape, dtype):
    # minval > 0 keeps log(theta) finite.
    u = jax.random.uniform(hk.next_rng_key(), shape, jnp.float32,
                           minval=jnp.finfo(jnp.float32).tiny)
    return jnp.log(self.max_phase * u).astype(dtype)

  def _params(self, features: int):
    """Fetches (lambda, gamma-normalised B, C, d) in the compute dtype."""
    n = self.state_size
    _diagonal.check_features(self.module_name, self.params_dict(), features)
    nu_log = hk.get_parameter("nu_log", (n,), jnp.float32, self._nu_log_init)
    theta_log = hk.get_parameter("theta_log", (n,), jnp.float32,
                                 self._theta_log_init)

    def gamma_log_init(shape, dtype):
      # gamma = sqrt(1 - |lambda|^2), |lambda|^2 = exp(-2 exp(nu));
      # -expm1 keeps precision when |lambda| is close to 1.
      del shape
      return 0.5 * jnp.log(-jnp.expm1(-2.0 * jnp.exp(nu_log))).astype(dtype)

    gamma_log = hk.get_parameter("gamma_log", (n,), jnp.float32,
                                 gamma_log_init)
    b = hk.get_parameter(
        "b", (n, features, 2), jnp.float32,
        hk.initializers.RandomNormal(stddev=1.0 / math.sqrt(2 * features)))
    c = hk.get_parameter(
        "c", (features, n, 2), jnp.float32,
        hk.initializers.RandomNormal(stddev=1.0 / math.sqrt(n)))
    d = hk.get_parameter("d", (features,), jnp.float32,
                         hk.initializers.RandomNormal(stddev=1.0))
    return nu_log, theta_log, gamma_log, b, c, d

  def _discrete(self, features: int, dtype):
    """Lambda (N,), the gamma-normalised B (N, D) and C (D, N), d (D,)."""
    nu_log, theta_log, gamma_log, b, c, d = (
        p.astype(dtype) for p in self._params(features))
    lam = lru_eigenvalues(nu_log, theta_log)
    b_c = _diagonal.pair_to_complex(b) * jnp.exp(gamma_log)[:, None]
    c_c = _diagonal.pair_to_complex(c)
    return lam, b_c, c_c, d

  # --------------------------------------------------------------------------
  # Whole sequence.
  # --------------------------------------------------------------------------

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the LRU over a whole sequence.

    Args:
      x: input, shape `(B, T, D)`, or `(T, B, D)` with `time_major=True`;
        any floating dtype.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3 or its width differs from the width
        the parameters were created with.
      TypeError: if `x` is not floating point.
    """
    # [T, B, D] in the compute dtype: the scan runs over axis 0.
    u = _diagonal.sequence_input(self.module_name, x, time_major)
    lam, b_c, c_c, d = self._discrete(x.shape[-1], u.dtype)
    bu = _diagonal.project_in(u, b_c)  # [T, B, N]
    h = scans.linear_scan(lam, bu, mode=self.scan_mode,
                          chunk_size=self.chunk_size)  # [T, B, N]
    y = _diagonal.project_out(h, c_c) + d * u  # [T, B, D]
    if not time_major:
      y = y.swapaxes(0, 1)  # [B, T, D]
    return y.astype(x.dtype)

  # --------------------------------------------------------------------------
  # Streaming.
  # --------------------------------------------------------------------------

  def initial_state(self, batch_size: int) -> LRUState:
    """The zero state for `batch_size` sequences: `h` of shape `(B, N)`."""
    batch_size = _diagonal.check_int(self.module_name, "batch_size",
                                      batch_size, 1)
    return LRUState(h=jnp.zeros((batch_size, self.state_size), jnp.complex64))

  def step(self, x_t: jax.Array,
           state: LRUState) -> tuple[jax.Array, LRUState]:
    """Advances the recurrence by one time step.

    Args:
      x_t: input at one step, shape `(B, D)`.
      state: the previous `LRUState`.

    Returns:
      `(y_t, next_state)`: y_t of shape `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: if `x_t` is not rank 2, its width differs from the
        parameters', or `state.h` does not have shape `(B, N)`.
      TypeError: if `x_t` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    _diagonal.check_state(self.module_name, state.h,
                          (x_t.shape[0], self.state_size))
    dtype = _diagonal.compute_dtype(x_t.dtype)
    lam, b_c, c_c, d = self._discrete(x_t.shape[-1], dtype)
    u = x_t.astype(dtype)
    bu = _diagonal.project_in(u, b_c)  # [B, N]
    h = lam * state.h.astype(lam.dtype) + bu
    y = _diagonal.project_out(h, c_c) + d * u  # [B, D]
    return y.astype(x_t.dtype), LRUState(h=h.astype(state.h.dtype))


