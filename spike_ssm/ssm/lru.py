r"""Linear Recurrent Unit (Orvieto et al., 2023).

"Resurrecting Recurrent Neural Networks for Long Sequences", ICML 2023,
arXiv:2303.06349. For an input `x_t` of width `D` and `N` complex states:

.. math::

  \lambda &= \exp(-\exp(\nu) + i \exp(\theta))  \\
  h_t &= \lambda \odot h_{t-1} + \gamma \odot (B x_t), \qquad h_0 = 0  \\
  y_t &= \mathrm{Re}(C h_t) + d \odot x_t

with `|lambda| = exp(-exp(nu)) < 1` for every real `nu`, so the recurrence
is stable whatever the optimiser does. `nu`, `theta` are the parameters
`nu_log`, `theta_log` (logs of the decay rate and of the phase) and
`gamma = exp(gamma_log)`. The recurrence is `ssm.base.DiagonalSSM`'s
(`ops.scans.linear_scan` in `scan_mode`).

Initialisation (Sec. 3.2 and App. A): `|lambda|^2` uniform on
`[r_min^2, r_max^2]` (uniform in area on the ring), `arg(lambda)` uniform
on `[0, max_phase]`, `gamma = sqrt(1 - |lambda|^2)` (trainable), the real
and imaginary parts of `B` `N(0, 1/(2D))`, of `C` `N(0, 1/N)`, and
`d ~ N(0, 1)`.

Parameters (float32; complex matrices as real pairs on a trailing axis):
`nu_log`, `theta_log`, `gamma_log` `(N,)`, `b` `(N, D, 2)`, `c`
`(D, N, 2)`, `d` `(D,)`.
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp

from spike_ssm.ops import checks
from spike_ssm.ops import complex_pairs
from spike_ssm.ssm import base


class LRUState(NamedTuple):
  """Streaming state of an `LRU`: `h` `(B, N)`, complex64."""
  h: jax.Array


def lru_eigenvalues(nu_log: jax.Array, theta_log: jax.Array) -> jax.Array:
  """`lambda = exp(-exp(nu_log) + i exp(theta_log))`, shape `(N,)`."""
  return jnp.exp(lax.complex(-jnp.exp(nu_log), jnp.exp(theta_log)))


class LRU(base.DiagonalSSM):
  """Linear Recurrent Unit (module docstring), `(B, T, D) -> (B, T, D)`."""

  dynamics_params = frozenset({"nu_log", "theta_log", "gamma_log"})
  state_type = LRUState

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
      max_phase: eigenvalue phases are drawn uniformly from [0, max_phase];
        must be positive.
      scan_mode: `linear_scan` mode: "auto", "sequential", "parallel" or
        "chunked".
      chunk_size: chunk length of the chunked scan (must divide T), or None
        for the scan's default.
      name: module name.

    Raises:
      ValueError: a non-positive state size, a ring outside [0, 1] or with
        r_min > r_max, a non-positive max_phase, an unknown scan mode or a
        bad chunk size.
    """
    super().__init__(name=name)
    owner = "LRU"
    self.state_size = checks.check_int(owner, "state_size", state_size, 1)
    self.r_min = checks.check_float(owner, "r_min", r_min, at_least=0.0,
                                    at_most=1.0)
    self.r_max = checks.check_float(owner, "r_max", r_max, at_least=0.0,
                                    at_most=1.0)
    if self.r_min > self.r_max:
      raise ValueError(
          f"{owner}: `r_min` must be <= `r_max`, got r_min={self.r_min} > "
          f"r_max={self.r_max}.")
    self.max_phase = checks.check_float(owner, "max_phase", max_phase,
                                        above=0.0)
    self.scan_mode = checks.check_scan_mode(owner, scan_mode, chunk_size)
    self.chunk_size = chunk_size
    self.num_states = self.state_size

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

  def _discrete(self, features: int, dtype):
    """Lambda (N,), the gamma-normalised B (N, D), C (D, N), d (D,)."""
    n = self.state_size
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
    nu_log, theta_log, gamma_log, b, c, d = (
        p.astype(dtype) for p in (nu_log, theta_log, gamma_log, b, c, d))
    lam = lru_eigenvalues(nu_log, theta_log)
    b = complex_pairs.to_complex(b) * jnp.exp(gamma_log)[:, None]
    return lam, b, complex_pairs.to_complex(c), d
