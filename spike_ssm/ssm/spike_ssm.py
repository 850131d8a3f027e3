"""SpikeSSM: a sparsely connected recurrent spiking layer with a leaky readout.

The seed layer `SpikeSSM` / `SpikeSSMState` (seeds/000) in Haiku form. The
module fetches its parameters and hands plain arrays to the pure functions
`dynamics_sequence` (whole sequence) and `dynamics_step` (one time step),
which share the same equations but not the same code path, so the
equivalence test between them means something.
"""

from collections.abc import Callable
import math
from typing import Any, NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import scans
from spike_ssm.ops import surrogate as surrogate_lib
from spike_ssm.ssm import base


class SpikeSSMState(NamedTuple):
  """State of a `SpikeSSM` layer (the seed's two fields).

  Attributes:
    hidden_state: membrane potential `h_t` of the hidden spiking units,
      shape `(B, hidden_dim)`, float32. It is the membrane *before* the
      reset of step t, so the spikes `s_t = H(h_t - threshold)` can be
      recomputed from it exactly and the subtract-reset is applied at the
      start of the next step.
    output_state: leaky readout `o_t` of the spikes (the layer's output at
      the last step), shape `(B, output_dim)`, float32.
  """
  hidden_state: jax.Array
  output_state: jax.Array


class SpikeSSMParams(NamedTuple):
  """Effective (masked) weights the pure functions consume.

  `w_in (I, H)`, `w_hid (H, H)`, `w_out (H, O)`, biases `b_in (H,)`,
  `b_hid (H,)`, `b_out (O,)`; weights already multiplied by their masks.
  """
  w_in: jax.Array
  b_in: jax.Array
  w_hid: jax.Array
  b_hid: jax.Array
  w_out: jax.Array
  b_out: jax.Array


# ----------------------------------------------------------------------------
# Pure dynamics (no Haiku). Shapes: x (T, B, I) time-major, h (B, H),
# o (B, O); `noise` is None or (T, B, H) / (B, H).
# ----------------------------------------------------------------------------


def _membrane_update(h_prev, current, noise, s_prev, alpha, threshold):
  """h_t = alpha (h_{t-1} - theta s_{t-1}) + (1 - alpha) i_t [+ noise_t]."""
  h = alpha * (h_prev - threshold * s_prev) + (1.0 - alpha) * current
  return h if noise is None else h + noise


def dynamics_step(params: SpikeSSMParams, x_t: jax.Array,
                  state: SpikeSSMState, noise_t: jax.Array | None, *,
                  alpha: float, threshold: float,
                  surrogate: Any) -> tuple[jax.Array, SpikeSSMState]:
  """One step of the SpikeSSM dynamics.

  Args:
    params: masked weights.
    x_t: input `(B, I)` in the compute dtype.
    state: previous state; fields in the carry dtype (>= float32).
    noise_t: membrane noise `(B, H)` or None.
    alpha: decay `exp(-dt / tau)`.
    threshold: firing threshold (> 0).
    surrogate: surrogate-gradient name or callable for `ops.surrogate.spike`.

  Returns:
    `(y_t, new_state)`: `y_t = o_t` of shape `(B, O)` in the compute dtype.
  """
  cdt = x_t.dtype
  h_prev, o_prev = state
  s_prev = surrogate_lib.spike(h_prev - threshold, surrogate).astype(cdt)
  current = (x_t @ params.w_in + params.b_in + params.b_hid) + (
      s_prev @ params.w_hid)
  h = _membrane_update(h_prev, current.astype(h_prev.dtype), noise_t,
                       s_prev.astype(h_prev.dtype), alpha, threshold)
  s = surrogate_lib.spike(h - threshold, surrogate).astype(cdt)
  drive = (s @ params.w_out + params.b_out).astype(o_prev.dtype)
  o = alpha * o_prev + (1.0 - alpha) * drive
  return o.astype(cdt), SpikeSSMState(h, o)


def dynamics_sequence(params: SpikeSSMParams, x: jax.Array,
                      state: SpikeSSMState, noise: jax.Array | None, *,
                      alpha: float, threshold: float,
                      surrogate: Any) -> tuple[jax.Array, SpikeSSMState]:
  """The SpikeSSM dynamics over a whole time-major sequence.

  The input projection is one matmul over all steps, the spiking recurrence
  is a `lax.scan` over the hidden membrane only, and the leaky readout,
  linear in the spikes, is one matmul followed by `ops.scans.linear_scan`.

  Args:
    params: masked weights.
    x: input `(T, B, I)` in the compute dtype.
    state: initial state; fields in the carry dtype (>= float32).
    noise: membrane noise `(T, B, H)` or None.
    alpha, threshold, surrogate: as in `dynamics_step`.

  Returns:
    `(y, final_state)`: `y = o` of shape `(T, B, O)` in the compute dtype.
  """
  cdt = x.dtype
  h0, o0 = state
  currents = (x @ params.w_in + params.b_in + params.b_hid)  # (T, B, H)

  def body(h_prev, inputs):
    current, noise_t = inputs
    s_prev = surrogate_lib.spike(h_prev - threshold, surrogate).astype(cdt)
    current = current + s_prev @ params.w_hid
    h = _membrane_update(h_prev, current.astype(h_prev.dtype), noise_t,
                         s_prev.astype(h_prev.dtype), alpha, threshold)
    return h, surrogate_lib.spike(h - threshold, surrogate).astype(cdt)

  h_last, spikes = lax.scan(body, h0, (currents, noise))  # spikes (T, B, H)
  drive = (spikes @ params.w_out + params.b_out).astype(o0.dtype)
  o = scans.linear_scan(jnp.asarray(alpha, o0.dtype),
                        (1.0 - alpha) * drive, o0)  # (T, B, O)
  return o.astype(cdt), SpikeSSMState(h_last, o[-1])


# ----------------------------------------------------------------------------
# Haiku module.
# ----------------------------------------------------------------------------


def _check_dim(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"SpikeSSM: `{name}` must be an int, got "
                    f"{type(value).__name__} {value!r}.")
  if value < 1:
    raise ValueError(f"SpikeSSM: `{name}` must be >= 1, got {value}.")
  return int(value)


def _check_real(name: str, value, *, low: float, low_inclusive: bool,
                high: float | None = None) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
    raise TypeError(f"SpikeSSM: `{name}` must be a real number, got "
                    f"{type(value).__name__} {value!r}.")
  value = float(value)
  ok = value >= low if low_inclusive else value > low
  if high is not None:
    ok = ok and value < high
  if not ok or not math.isfinite(value):
    lo = "[" if low_inclusive else "("
    hi = f"{high})" if high is not None else "inf)"
    raise ValueError(f"SpikeSSM: `{name}` must be in {lo}{low}, {hi}, got "
                     f"{value}.")
  return value


def sparse_mask_init(sparsity_level: float) -> Callable[..., jax.Array]:
  """Initialiser of a fixed random 0/1 connectivity mask.

  Exactly `n_removed = min(round(sparsity_level * n), n - 1)` of the `n`
  entries are 0 (so at least one connection survives), chosen uniformly by a
  random permutation drawn from `hk.next_rng_key()`: the mask is a pure
  function of the init key.

  Args:
    sparsity_level: fraction of connections to remove, in [0, 1).

  Returns:
    A Haiku initialiser `(shape, dtype) -> mask`.
  """
  def init(shape, dtype):
    n = math.prod(shape)
    n_removed = min(int(round(sparsity_level * n)), n - 1)
    ranks = jax.random.permutation(hk.next_rng_key(), n)
    return (ranks >= n_removed).reshape(shape).astype(dtype)
  return init


class SpikeSSM(base.SequenceLayer):
  r"""Recurrent spiking layer with sparse fixed connectivity (seeds/000).

  Per step t, with `alpha = exp(-dt / tau)`, threshold `theta`, Heaviside
  `H` (exact forward, surrogate gradient `surrogate`) and masked weights
  `W = w * stop_gradient(w_mask)`:

  .. math::
    s_{t-1} &= H(h_{t-1} - \theta)                     \\
    h_t &= \alpha (h_{t-1} - \theta s_{t-1})
           + (1 - \alpha)(W_{in} x_t + b_{in} + W_{hid} s_{t-1} + b_{hid})
           + \sigma \epsilon_t                          \\
    s_t &= H(h_t - \theta)                              \\
    o_t &= \alpha o_{t-1} + (1 - \alpha)(W_{out} s_t + b_{out}),
    \qquad y_t = o_t

  i.e. a leaky integrate-and-fire population with subtract reset driven by
  the input and its own spikes, read out through a leaky (first-order,
  same-alpha) filter of the output projection of the spikes. `h_t` is kept
  *before* its reset in `SpikeSSMState.hidden_state` so `s_t` is
  recoverable from the state alone; the reset `- theta s_t` is applied at
  the start of step t+1, which is the usual subtract reset. `b_in` and
  `b_hid` enter the same sum (kept for parity with the seed's three dense
  maps). Noise `epsilon_t ~ N(0, 1)`, `sigma = noise_std`, is added to the
  membrane only when `is_training=True` and `noise_std > 0` (then
  `hk.next_rng_key()` is needed); otherwise the layer is deterministic.

  Parameters (all float32): `w_in (I, H)`, `b_in (H,)`, `w_hid (H, H)`,
  `b_hid (H,)`, `w_out (H, O)`, `b_out (O,)` and the masks `w_in_mask`,
  `w_hid_mask`, `w_out_mask` of the weights' shapes. Weights are
  truncated-normal with stddev `1 / sqrt((1 - sparsity_level) fan_in)`:
  `hk.Linear`'s LeCun init with the expected number of surviving inputs as
  fan-in, so the masked pre-activations keep the dense layer's scale; biases
  start at zero. Each mask has exactly `round(sparsity_level * n)` zeros
  (capped to keep one connection) at positions drawn from the init RNG, so
  the same init key gives the same masks. Masks enter only through
  `lax.stop_gradient` and receive zero gradient, and the class declares
  them `frozen_params`, so the optimiser never updates them.

  Dtypes: the compute dtype is `result_type(x, w_in)` (the policy's compute
  dtype under mixed precision); spikes and outputs use it, while the
  membrane and the readout carry (the state) stay at least float32.
  """

  frozen_params = frozenset({"w_in_mask", "w_hid_mask", "w_out_mask"})

  def __init__(self,
               input_dim: int,
               output_dim: int,
               hidden_dim: int,
               sparsity_level: float = 0.8,
               tau: float = 10.0,
               dt: float = 1.0,
               noise_std: float = 0.01,
               *,
               threshold: float = 1.0,
               surrogate: str | Callable[[jax.Array], jax.Array] = (
                   "fast_sigmoid"),
               name: str | None = None):
    """Creates the layer.

    Args:
      input_dim: input features I (>= 1).
      output_dim: output features O (>= 1).
      hidden_dim: number of spiking hidden units H (>= 1).
      sparsity_level: fraction of each weight matrix's connections removed,
        in [0, 1).
      tau: membrane and readout time constant (> 0).
      dt: simulation step (> 0); `alpha = exp(-dt / tau)`.
      noise_std: std of the Gaussian membrane noise in training (>= 0).
      threshold: firing threshold (> 0).
      surrogate: surrogate-gradient name from `ops.surrogate.SURROGATES`, or
        a callable `v -> sigma'(v)`.
      name: module name.

    Raises:
      TypeError: non-integer dims or non-numeric hyperparameters.
      ValueError: out-of-range values or an unknown surrogate.
    """
    super().__init__(name=name)
    self.input_dim = _check_dim("input_dim", input_dim)
    self.output_dim = _check_dim("output_dim", output_dim)
    self.hidden_dim = _check_dim("hidden_dim", hidden_dim)
    self.sparsity_level = _check_real("sparsity_level", sparsity_level, low=0.0,
                                      low_inclusive=True, high=1.0)
    self.tau = _check_real("tau", tau, low=0.0, low_inclusive=False)
    self.dt = _check_real("dt", dt, low=0.0, low_inclusive=False)
    self.noise_std = _check_real("noise_std", noise_std, low=0.0,
                                 low_inclusive=True)
    self.threshold = _check_real("threshold", threshold, low=0.0,
                                 low_inclusive=False)
    if not callable(surrogate) and surrogate not in surrogate_lib.SURROGATES:
      raise ValueError(
          f"SpikeSSM: `surrogate` must be one of {surrogate_lib.SURROGATES} "
          f"or a callable, got {surrogate!r}.")
    self.surrogate = surrogate
    self.alpha = math.exp(-self.dt / self.tau)

  # -- parameters -------------------------------------------------------------

  def _weight(self, name: str, fan_in: int, fan_out: int):
    stddev = 1.0 / math.sqrt((1.0 - self.sparsity_level) * fan_in)
    w = hk.get_parameter(name, (fan_in, fan_out), jnp.float32,
                         init=hk.initializers.TruncatedNormal(stddev))
    mask = hk.get_parameter(f"{name}_mask", (fan_in, fan_out), jnp.float32,
                            init=sparse_mask_init(self.sparsity_level))
    return w * lax.stop_gradient(mask).astype(w.dtype)

  def _bias(self, name: str, size: int):
    return hk.get_parameter(name, (size,), jnp.float32, init=jnp.zeros)

  def _params(self) -> SpikeSSMParams:
    i, h, o = self.input_dim, self.hidden_dim, self.output_dim
    return SpikeSSMParams(
        w_in=self._weight("w_in", i, h), b_in=self._bias("b_in", h),
        w_hid=self._weight("w_hid", h, h), b_hid=self._bias("b_hid", h),
        w_out=self._weight("w_out", h, o), b_out=self._bias("b_out", o))

  # -- state ------------------------------------------------------------------

  def initial_state(self, batch_size: int) -> SpikeSSMState:
    """Resting state: zero membrane and zero readout, float32.

    Args:
      batch_size: B (>= 1).

    Returns:
      `SpikeSSMState` with `hidden_state (B, hidden_dim)` and
      `output_state (B, output_dim)`.
    """
    batch_size = _check_dim("batch_size", batch_size)
    return SpikeSSMState(
        hidden_state=jnp.zeros((batch_size, self.hidden_dim), jnp.float32),
        output_state=jnp.zeros((batch_size, self.output_dim), jnp.float32))

  def _check_state(self, state, batch: int) -> SpikeSSMState:
    if state is None:
      return self.initial_state(batch)
    if not (hasattr(state, "hidden_state") and hasattr(state, "output_state")):
      raise TypeError(
          "SpikeSSM: `state` must be a SpikeSSMState(hidden_state, "
          f"output_state), got {type(state).__name__}.")
    fields = (("hidden_state", state.hidden_state, self.hidden_dim),
              ("output_state", state.output_state, self.output_dim))
    out = []
    for field, value, width in fields:
      value = jnp.asarray(value)
      if value.shape != (batch, width):
        raise ValueError(
            f"SpikeSSM: `state.{field}` must have shape (B, "
            f"{field.split('_')[0]}_dim) = {(batch, width)}, got "
            f"{value.shape}.")
      if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"SpikeSSM: `state.{field}` must be floating, got "
                        f"dtype {value.dtype}.")
      out.append(value.astype(jnp.promote_types(value.dtype, jnp.float32)))
    return SpikeSSMState(*out)

  def _check_input(self, x, rank: int, what: str) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(f"SpikeSSM: `{what}` must be a floating array, got "
                      f"dtype {x.dtype}.")
    shape = "(B, T, input_dim)" if rank == 3 else "(B, input_dim)"
    if x.ndim != rank or x.shape[-1] != self.input_dim:
      raise ValueError(
          f"SpikeSSM: `{what}` must have shape {shape} with input_dim="
          f"{self.input_dim}, got {x.shape}.")
    return x

  # -- forward ----------------------------------------------------------------

  def __call__(self,
               x: jax.Array,
               state: SpikeSSMState | None = None,
               is_training: bool = False,
               *,
               time_major: bool = False) -> tuple[jax.Array, SpikeSSMState]:
    """Runs the layer over a whole sequence.

    Args:
      x: input `(B, T, input_dim)`, or `(T, B, input_dim)` with
        `time_major=True`.
      state: initial `SpikeSSMState` (`hidden_state (B, hidden_dim)`,
        `output_state (B, output_dim)`); None means `initial_state(B)`.
      is_training: add membrane noise (needs an RNG key if noise_std > 0).
      time_major: layout of `x` and of the output.

    Returns:
      `(output, new_state)`: output `(B, T, output_dim)` (or time-major) in
      the compute dtype, and the state after the last step.

    Raises:
      ValueError: `x` of the wrong rank or feature size, bad state shapes.
      TypeError: non-floating `x`, or a `state` of the wrong type.
    """
    x = self._check_input(x, 3, "x")
    x_tm = x if time_major else jnp.swapaxes(x, 0, 1)  # (T, B, I)
    length, batch = x_tm.shape[:2]
    state = self._check_state(state, batch)
    params = self._params()
    cdt = jnp.result_type(x.dtype, params.w_in.dtype)
    noise = None
    if is_training and self.noise_std > 0:
      noise = self.noise_std * jax.random.normal(
          hk.next_rng_key(), (length, batch, self.hidden_dim),
          state.hidden_state.dtype)
    y, new_state = dynamics_sequence(params, x_tm.astype(cdt), state, noise,
                            alpha=self.alpha, threshold=self.threshold,
                            surrogate=self.surrogate)
    return (y if time_major else jnp.swapaxes(y, 0, 1)), new_state

  def step(self,
           x_t: jax.Array,
           state: SpikeSSMState,
           is_training: bool = False) -> tuple[jax.Array, SpikeSSMState]:
    """Advances the layer by one time step (streaming inference).

    Args:
      x_t: input `(B, input_dim)`.
      state: previous `SpikeSSMState`.
      is_training: add membrane noise (needs an RNG key if noise_std > 0).

    Returns:
      `(y_t, new_state)` with `y_t` of shape `(B, output_dim)`.
    """
    x_t = self._check_input(x_t, 2, "x_t")
    state = self._check_state(state, x_t.shape[0])
    params = self._params()
    cdt = jnp.result_type(x_t.dtype, params.w_in.dtype)
    noise = None
    if is_training and self.noise_std > 0:
      noise = self.noise_std * jax.random.normal(
          hk.next_rng_key(), (x_t.shape[0], self.hidden_dim),
          state.hidden_state.dtype)
    return dynamics_step(params, x_t.astype(cdt), state, noise,
                         alpha=self.alpha, threshold=self.threshold,
                         surrogate=self.surrogate)
