"""ResonateFire: a reset-free complex resonate-and-fire neuron."""

import math
from typing import NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.neurons import base
from spike_ssm.ops import checks
from spike_ssm.ops import scans

# Pole ring of the default per-unit init: |a| spans [R_MIN, R_MAX], i.e. the
# oscillations decay over ~10 to ~100 steps.
R_MIN, R_MAX = 0.9, 0.99
# Fractional part of the golden ratio: the Kronecker sequence frac(j * phi)
# spreads the pole radii evenly and decorrelated from the frequency ladder.
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class ResonateFireState(NamedTuple):
  """State of a `ResonateFire`.

  Attributes:
    z: the complex membrane, `(B, *hidden_shape)`, complex64 from
      `initial_state`. Complex rather than a real pair: jmp policies cast
      only floating leaves, so a bfloat16 output policy never rounds the
      oscillator's phase between steps (the same choice as `ssm.LRUState`).
  """
  z: jax.Array


def resonator_pole(raw_lambda: jax.Array, omega: jax.Array,
                   dt: float) -> jax.Array:
  """The discrete pole `a = exp(dt (-softplus(raw_lambda) + i omega))`.

  `softplus >= 0` for every real input (it underflows to 0, never below), so
  `|a| = exp(-dt lambda) <= 1` whatever values the optimiser gives
  `raw_lambda` and `omega`. In float32 the computed modulus can exceed
  `exp(-dt lambda)` by the rounding of cos and sin (< 2**-24).

  Args:
    raw_lambda: unconstrained decay parameter, any shape, real.
    omega: angular frequency (radians per unit time), same shape.
    dt: time step > 0.

  Returns:
    Complex poles, the parameters' shape; complex64 for float32 or narrower
    inputs (a complex number needs at least float32 parts), complex128 for
    float64.
  """
  dtype = jnp.promote_types(jnp.result_type(raw_lambda, omega), jnp.float32)
  lam = jax.nn.softplus(jnp.asarray(raw_lambda, dtype))
  return jnp.exp(lax.complex(-dt * lam, dt * jnp.asarray(omega, dtype)))


def _inverse_softplus(lam: np.ndarray) -> np.ndarray:
  """`log(exp(lam) - 1)` for lam > 0, stable for large and small lam."""
  return lam + np.log(-np.expm1(-lam))


def _check_init(name: str, value, hidden_shape, positive: bool):
  """None, or a float64 array broadcast to `hidden_shape`."""
  if value is None:
    return None
  if isinstance(value, bool):
    raise ValueError(f"{name} must be None, a number or an array, got "
                     f"{value!r}.")
  try:
    arr = np.asarray(value, np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be None, a number or an array, got "
                     f"{value!r}.") from None
  if not np.all(np.isfinite(arr)) or (positive and not np.all(arr > 0)):
    want = "finite and > 0" if positive else "finite"
    raise ValueError(f"{name} must be {want}, got {value!r}.")
  try:
    return np.broadcast_to(arr, hidden_shape).copy()
  except ValueError:
    raise ValueError(f"{name} of shape {arr.shape} does not broadcast to "
                     f"hidden_shape {hidden_shape}.") from None


def _check_dt(dt) -> float:
  if (isinstance(dt, (bool, np.bool_)) or
      not isinstance(dt, (int, float, np.number)) or not np.isfinite(dt) or
      dt <= 0):
    raise ValueError(f"dt must be a finite number > 0, got {dt!r}.")
  return float(dt)


def _check_state(core: "ResonateFire", who: str, x, state) -> None:
  # A plain function, not a method: Haiku's mixed-precision interceptor
  # casts the arguments of module methods.
  base.check_step(core, x, state)
  if not jnp.issubdtype(state.z.dtype, jnp.complexfloating):
    raise TypeError(
        f"{who}: state.z must be complex (see initial_state), got dtype "
        f"{state.z.dtype}.")


def default_poles(hidden_shape: tuple[int, ...], dt: float):
  """The per-unit `(lambda, omega)` used when no init value is given.

  Unit `j` of the `N` units (row-major over `hidden_shape`) gets

    omega_j dt = pi (j + 1/2) / N                 (frequencies evenly over
                                                   the band (0, pi/dt))
    |a_j| = R_MIN + (R_MAX - R_MIN) frac(1/2 + j g),  g = (sqrt 5 - 1) / 2
    lambda_j = -log|a_j| / dt

  a deterministic version of the LRU ring initialisation (Orvieto et al.
  2023, arXiv:2303.06349: poles uniform on a ring `r_min <= |a| <= r_max`
  with phases spread over an arc). Frequencies stop below the Nyquist
  frequency pi/dt, above which a sampled resonator aliases; the golden-ratio
  (Kronecker) sequence spreads the radii evenly without tying them to the
  frequencies. No RNG is needed, so `init` is reproducible from the shape.

  Returns:
    `(lambda, omega)`, float64 arrays of shape `hidden_shape`.
  """
  n = int(np.prod(hidden_shape))
  j = np.arange(n, dtype=np.float64)
  omega = np.pi * (j + 0.5) / n / dt
  radius = R_MIN + (R_MAX - R_MIN) * np.mod(0.5 + j * _GOLDEN, 1.0)
  lam = -np.log(radius) / dt
  return lam.reshape(hidden_shape), omega.reshape(hidden_shape)


class ResonateFire(base.SpikingCore):
  """Reset-free complex resonate-and-fire neuron.

    a   = exp(dt (-lambda + i omega)),   lambda = softplus(raw_lambda) >= 0
    z_t = a z_{t-1} + x_t                (complex membrane, real input)
    s_t = H(Re(z_t) - theta)             (surrogate gradient)

  Izhikevich's (2001) resonate-and-fire neuron is a damped oscillator
  `dz/dt = (-lambda + i omega) z + I(t)` that responds most to inputs at its
  own frequency `omega`; `a` is its exact discretisation for an input held
  over each step of length `dt` (with the input absorbed into `x_t`). As in
  `PSU_LIF` there is no reset, so the membrane is a linear recurrence and a
  whole sequence can be scored by `spike_ssm.ops.scans.linear_scan` with the
  complex pole, the spike applied pointwise afterwards. (Izhikevich fires
  on the imaginary part crossing a threshold; here the real part does, as
  in the Loihi-2 style resonators of Orchard et al. 2021.)

  Stability: `|a| = exp(-dt lambda) <= 1` for every value of the parameters
  (softplus is never negative), so no optimiser step can make the membrane
  grow geometrically; at worst (`lambda` -> 0) it is a lossless oscillator
  and `|z_t| <= |z_0| + sum_s |x_s|`.

  Parameters, float32, shape `hidden_shape`:
    `raw_lambda`  decay, `lambda = softplus(raw_lambda)` (per unit time);
    `omega`       angular frequency, radians per unit time.
  Initialisation: `lambda_init` / `omega_init` when given (a number or an
  array broadcastable to `hidden_shape`), else the deterministic per-unit
  ring of `default_poles` (frequencies evenly over (0, pi/dt), radii
  |a| in [0.9, 0.99], after the LRU ring init of Orvieto et al. 2023).

  State: `ResonateFireState(z)`, complex64 (see there). Spikes come back in
  the input's dtype. The pole is always computed in at least float32, even
  under a bfloat16 compute policy (complex numbers need float32 parts).

  Modes, same parameters and results: `__call__(x_t, state)` is one step (for
  `neurons.run` and streaming); `parallel(x, state)` scores a sequence with
  one `linear_scan` (the pole time-invariant, never broadcast over T). Spike
  trains agree exactly wherever no real membrane sits within float32
  rounding of the threshold.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    lambda_init: None (per-unit default) or the initial decay rate
      `lambda > 0` (number or array broadcastable to `hidden_shape`).
    omega_init: None (per-unit default) or the initial angular frequency
      (number or array broadcastable to `hidden_shape`).
    threshold: firing threshold `theta > 0` on `Re(z)`.
    dt: time step > 0.
    surrogate: name from `spike_ssm.ops.surrogate.SURROGATES` or a callable
      `v -> sigma'(v)`.
    slope: the surrogate's width parameter; None takes its default.
    scan_mode: `linear_scan` mode of `parallel`: "auto", "sequential",
      "parallel" or "chunked".
    name: module name.
  """

  state_type = ResonateFireState
  neuron_params = frozenset({"raw_lambda", "omega"})

  def __init__(self,
               hidden_shape,
               *,
               lambda_init=None,
               omega_init=None,
               threshold: float = 1.0,
               dt: float = 1.0,
               surrogate="fast_sigmoid",
               slope: float | None = None,
               scan_mode: str = "auto",
               name: str | None = None):
    super().__init__(hidden_shape, name=name)
    self.dt = _check_dt(dt)
    self.lambda_init = _check_init("lambda_init", lambda_init,
                                   self.hidden_shape, positive=True)
    self.omega_init = _check_init("omega_init", omega_init, self.hidden_shape,
                                  positive=False)
    self._set_firing(threshold, surrogate, slope)
    self.scan_mode = checks.check_scan_mode("ResonateFire", scan_mode)

  def initial_state(self, batch_size: int | None) -> ResonateFireState:
    """Zero state: `z` complex64 zeros `(batch_size, *hidden_shape)`."""
    zeros = super().initial_state(batch_size).z
    return ResonateFireState(zeros.astype(jnp.complex64))

  def _pole(self) -> jax.Array:
    lam0, omega0 = default_poles(self.hidden_shape, self.dt)
    lam0 = lam0 if self.lambda_init is None else self.lambda_init
    omega0 = omega0 if self.omega_init is None else self.omega_init
    raw_lambda = hk.get_parameter(
        "raw_lambda", self.hidden_shape, jnp.float32,
        hk.initializers.Constant(_inverse_softplus(lam0)))
    omega = hk.get_parameter("omega", self.hidden_shape, jnp.float32,
                             hk.initializers.Constant(omega0))
    return resonator_pole(raw_lambda, omega, self.dt)

  def __call__(self, x_t: jax.Array, prev_state: ResonateFireState):
    """One reset-free step.

    Args:
      x_t: real input current, `(B, *hidden_shape)`.
      prev_state: `ResonateFireState` with complex `z` of the same shape.

    Returns:
      `(spikes, new_state)`: spikes in `x_t`'s dtype, the state in
      `prev_state.z`'s (complex) dtype.
    """
    x_t = jnp.asarray(x_t)
    _check_state(self, "ResonateFire", x_t, prev_state)
    z = base.integrate(prev_state.z, x_t, self._pole())
    s = base.fire(jnp.real(z), self.threshold, self.surrogate, self.slope)
    return s.astype(x_t.dtype), ResonateFireState(z.astype(prev_state.z.dtype))

  def parallel(self,
               x: jax.Array,
               initial_state: ResonateFireState | None = None,
               *,
               time_major: bool = False):
    """Scores a whole sequence with one complex linear scan.

    Args:
      x: real input currents, `(B, T, *hidden_shape)`, or
        `(T, B, *hidden_shape)` with `time_major=True`.
      initial_state: `ResonateFireState` with complex `z` of shape
        `(B, *hidden_shape)`; None means zeros (`initial_state(B)`).
      time_major: layout of `x` and of the returned spikes.

    Returns:
      `(spikes, final_state)`: spikes in `x`'s layout and dtype; the state
      after the last step, in the initial state's dtype.
    """
    who = "ResonateFire.parallel"
    x = jnp.asarray(x)
    base.check_float_input(who, x)
    x = base.to_time_major(x, self.hidden_shape, time_major, who)  # [T, B, *H]
    state = (self.initial_state(x.shape[1]) if initial_state is None
             else initial_state)
    _check_state(self, who, jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)
    a = self._pole()
    # The step computes in the promotion of the pole's, input's and state's
    # dtypes; so must the scan, or the two modes would round differently.
    dtype = jnp.result_type(a.dtype, x.dtype, state.z.dtype)
    z = scans.linear_scan(a.astype(dtype), x.astype(dtype),
                          state.z.astype(dtype),
                          mode=self.scan_mode)  # [T, B, *H]
    s = base.fire(jnp.real(z), self.threshold, self.surrogate, self.slope)
    final_z = z[-1] if x.shape[0] else state.z
    return (base.from_time_major(s.astype(x.dtype), time_major),
            ResonateFireState(final_z.astype(state.z.dtype)))
