"""PSU_LIF: the reset-free LIF that can score a whole sequence in parallel."""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from spike_ssm.neurons import base
from spike_ssm.ops import checks
from spike_ssm.ops import scans


class PSULIFState(NamedTuple):
  v: jax.Array  # membrane, (B, *hidden_shape)


class PSU_LIF(base.SpikingCore):  # pylint: disable=invalid-name
  """Parallel Spiking Unit LIF: a leaky integrate-and-fire neuron with no reset.

    v_t = beta * v_{t-1} + x_t
    s_t = H(v_t - theta)                         (surrogate gradient)

  Without the reset the membrane is a linear recurrence, so the whole
  sequence can be evaluated by `spike_ssm.ops.scans.linear_scan`
  (associative scan: O(log T) depth on accelerators), with the spike applied
  pointwise afterwards. The price is that the neuron never depresses after
  firing and can fire on consecutive steps. Two modes, same parameters and
  same results:

    `__call__(x_t, state)`  one step, for `run` / streaming inference;
    `parallel(x, state)`    the whole sequence via `linear_scan`, with beta
                            time-invariant (never broadcast over T).

  Spike trains agree exactly between the modes wherever no membrane sits
  within float32 rounding of the threshold; membranes agree to float32
  tolerance. `linear_scan` always accumulates in float32, so under a
  bfloat16 compute policy `parallel` is the more accurate of the two (the
  step rounds its membrane to bfloat16 every step).

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    beta: membrane decay in [0, 1] (a number or an array broadcastable to
      `hidden_shape`).
    learn_beta: make beta a per-unit parameter `beta` of shape
      `hidden_shape`, initialised at `beta`, clipped to [0, 1] when used.
    threshold: firing threshold `theta > 0`.
    surrogate: name from `spike_ssm.ops.surrogate.SURROGATES` or a callable
      `v -> sigma'(v)`.
    slope: the surrogate's width parameter; None takes its default.
    scan_mode: `linear_scan` mode of `parallel`: "auto", "sequential",
      "parallel" or "chunked".
    name: module name.
  """

  state_type = PSULIFState
  neuron_params = frozenset({"beta"})

  def __init__(self,
               hidden_shape: int | tuple[int, ...],
               beta: float | jax.typing.ArrayLike = 0.9,
               *,
               learn_beta: bool = False,
               threshold: float = 1.0,
               surrogate: str | Callable[[jax.Array], jax.Array] = (
                   "fast_sigmoid"),
               slope: float | None = None,
               scan_mode: str = "auto",
               name: str | None = None):
    super().__init__(hidden_shape, name=name)
    self.beta = base.check_decay("beta", beta, self.hidden_shape)
    self.learn_beta = bool(learn_beta)
    self._set_firing(threshold, surrogate, slope)
    self.scan_mode = checks.check_scan_mode("PSU_LIF", scan_mode)

  def _beta(self):
    return base.decay_factor("beta", self.beta, self.learn_beta,
                             self.hidden_shape)

  def __call__(self, x_t: jax.Array, prev_state: PSULIFState):
    """One reset-free step.

    Args:
      x_t: input current, `(B, *hidden_shape)`.
      prev_state: `PSULIFState` with `v` of the same shape.

    Returns:
      `(spikes, new_state)`: spikes in `x_t`'s dtype, the state in
      `prev_state`'s dtype.
    """
    x_t = jnp.asarray(x_t)
    base.check_step(self, x_t, prev_state)
    v = base.integrate(prev_state.v, x_t, self._beta())
    s = base.fire(v, self.threshold, self.surrogate, self.slope)
    return s.astype(x_t.dtype), PSULIFState(v.astype(prev_state.v.dtype))

  def parallel(self,
               x: jax.Array,
               initial_state: PSULIFState | None = None,
               *,
               time_major: bool = False):
    """Scores a whole sequence with one linear scan.

    Args:
      x: input currents, `(B, T, *hidden_shape)`, or `(T, B, *hidden_shape)`
        with `time_major=True`.
      initial_state: `PSULIFState` with `v` of shape `(B, *hidden_shape)`;
        None means zeros (`initial_state(B)`).
      time_major: layout of `x` and of the returned spikes.

    Returns:
      `(spikes, final_state)`: spikes in `x`'s layout and dtype; the state
      after the last step, in the initial state's dtype.
    """
    x = jnp.asarray(x)
    base.check_float_input("PSU_LIF.parallel", x)
    x = base.to_time_major(x, self.hidden_shape, time_major,
                           "PSU_LIF.parallel")  # [T, B, *H]
    state = (self.initial_state(x.shape[1]) if initial_state is None
             else initial_state)
    base.check_step(self, jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)
    # The step computes in the promotion of input and state dtypes; so must
    # the scan, or the two modes would round differently.
    dtype = jnp.result_type(x.dtype, state.v.dtype)
    v = scans.linear_scan(self._beta(), x.astype(dtype), state.v.astype(dtype),
                          mode=self.scan_mode)  # [T, B, *H]
    s = base.fire(v, self.threshold, self.surrogate, self.slope)
    final_v = v[-1] if x.shape[0] else state.v
    return (base.from_time_major(s.astype(x.dtype), time_major),
            PSULIFState(final_v.astype(state.v.dtype)))
