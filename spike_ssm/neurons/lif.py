"""Leaky integrate-and-fire family: LIF, IF, LI, CuBaLIF and ALIF.

All cores integrate, fire and reset within one step, so the output at step t
depends on the input at step t. The leak / fire / reset arithmetic is
`base.integrate`, `base.fire` and `base.reset`; the classes only fetch their
parameters and chain those functions.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from spike_ssm.neurons import base


class LIFState(NamedTuple):
  v: jax.Array  # membrane after reset, (B, *hidden_shape)


class IFState(NamedTuple):
  v: jax.Array  # membrane after reset, (B, *hidden_shape)


class LIState(NamedTuple):
  v: jax.Array  # membrane, (B, *hidden_shape)


class CuBaLIFState(NamedTuple):
  v: jax.Array  # membrane after reset, (B, *hidden_shape)
  i: jax.Array  # synaptic current, (B, *hidden_shape)


class ALIFState(NamedTuple):
  v: jax.Array  # membrane after reset, (B, *hidden_shape)
  a: jax.Array  # threshold adaptation, (B, *hidden_shape)


class LIF(base.SpikingCore):
  """Leaky integrate-and-fire neuron.

  Per step, with input `x_t` of shape `(B, *hidden_shape)`:

    v'_t = beta * v_{t-1} + x_t                  (leak and integrate)
    s_t  = H(v'_t - theta)                       (fire; surrogate gradient)
    v_t  = v'_t - s_t * theta                    (reset="subtract")
         = v'_t * (1 - s_t)                      (reset="zero")

  Output `s_t`; state `LIFState(v_t)`. With `learn_beta=True`, beta is a
  per-unit parameter `beta` of shape `hidden_shape`, initialised at the given
  value and clipped to [0, 1] in the forward pass.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: firing threshold `theta > 0`.
    reset: "subtract" (`v - s * theta`, keeps the overshoot) or "zero"
      (`v * (1 - s)`).
    detach_reset: stop the gradient through the spike in the reset term; the
      forward pass is unchanged.
    surrogate: name from `spike_ssm.ops.surrogate.SURROGATES` or a callable
      `v -> sigma'(v)`; the backward pass of every spike.
    slope: the surrogate's width parameter; None takes its default.
    beta: membrane decay in [0, 1] (a number or an array broadcastable to
      `hidden_shape`).
    learn_beta: make beta a trainable per-unit parameter.
    name: module name.
  """

  state_type = LIFState
  neuron_params = frozenset({"beta"})

  def __init__(self,
               hidden_shape: int | tuple[int, ...],
               beta: float | jax.typing.ArrayLike = 0.9,
               *,
               learn_beta: bool = False,
               threshold: float = 1.0,
               reset: str = "subtract",
               detach_reset: bool = False,
               surrogate: str | Callable[[jax.Array], jax.Array] = (
                   "fast_sigmoid"),
               slope: float | None = None,
               name: str | None = None):
    super().__init__(hidden_shape, name=name)
    self.beta = base.check_decay("beta", beta, self.hidden_shape)
    self.learn_beta = bool(learn_beta)
    self._set_firing(threshold, surrogate, slope, reset, detach_reset)

  def __call__(self, x_t: jax.Array, prev_state):
    """One step.

    Args:
      x_t: input current, `(B, *hidden_shape)`.
      prev_state: `LIFState` with `v` of the same shape.

    Returns:
      `(spikes, new_state)`: spikes in `x_t`'s dtype, the state in
      `prev_state`'s dtype.
    """
    x_t = jnp.asarray(x_t)
    base.check_step(self, x_t, prev_state)
    beta = base.decay_factor("beta", self.beta, self.learn_beta,
                             self.hidden_shape)
    v = base.integrate(prev_state.v, x_t, beta)
    s = base.fire(v, self.threshold, self.surrogate, self.slope)
    v = base.reset(v, s, self.threshold, self.reset_mode, self.detach_reset)
    return s.astype(x_t.dtype), self.state_type(v.astype(prev_state.v.dtype))

  def _whole_sequence(self, x: jax.Array, state):
    """`run`'s fast path: `__call__` over `x` `(T, B, ...)` as one scan.

    `base.lif_scan` runs the step's own arithmetic (identical spikes;
    states equal up to an ulp of multiply-add contraction) with a custom
    VJP. `run` takes this path only where it is
    equivalent to scanning `__call__` (`base.whole_sequence_method`).
    """
    beta = base.decay_factor("beta", self.beta, self.learn_beta,
                             self.hidden_shape)
    number = isinstance(beta, float)
    spec = base.LIFScanSpec(self.threshold, self.reset_mode,
                            self.detach_reset, self.surrogate, self.slope,
                            beta if number else None)
    spikes, v = base.lif_scan(x, state.v, None if number else jnp.asarray(beta),
                              spec)
    return spikes, self.state_type(v)


base.register_whole_sequence(LIF, LIF.__call__, LIF._whole_sequence)


class IF(LIF):
  """Integrate-and-fire neuron: `LIF` without leak (beta = 1).

    v'_t = v_{t-1} + x_t,   s_t = H(v'_t - theta),   v_t = reset(v'_t, s_t)

  Output `s_t`; state `IFState(v_t)`. No parameters.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: firing threshold `theta > 0`.
    reset: "subtract" (`v - s * theta`, keeps the overshoot) or "zero"
      (`v * (1 - s)`).
    detach_reset: stop the gradient through the spike in the reset term; the
      forward pass is unchanged.
    surrogate: name from `spike_ssm.ops.surrogate.SURROGATES` or a callable
      `v -> sigma'(v)`; the backward pass of every spike.
    slope: the surrogate's width parameter; None takes its default.
    name: module name.
  """

  state_type = IFState

  def __init__(self,
               hidden_shape,
               *,
               threshold: float = 1.0,
               reset: str = "subtract",
               detach_reset: bool = False,
               surrogate="fast_sigmoid",
               slope: float | None = None,
               name: str | None = None):
    super().__init__(hidden_shape, 1.0, learn_beta=False, threshold=threshold,
                     reset=reset, detach_reset=detach_reset,
                     surrogate=surrogate, slope=slope, name=name)


class LI(base.SpikingCore):
  """Leaky integrator: a non-spiking readout.

    v_t = beta * v_{t-1} + x_t

  Output `v_t` (in `x_t`'s dtype); state `LIState(v_t)`.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    beta: decay in [0, 1] (a number or an array broadcastable to
      `hidden_shape`).
    learn_beta: make beta a per-unit parameter `beta` of shape
      `hidden_shape`, initialised at `beta`, clipped to [0, 1] when used.
    name: module name.
  """

  state_type = LIState
  neuron_params = frozenset({"beta"})

  def __init__(self,
               hidden_shape,
               beta=0.9,
               *,
               learn_beta: bool = False,
               name: str | None = None):
    super().__init__(hidden_shape, name=name)
    self.beta = base.check_decay("beta", beta, self.hidden_shape)
    self.learn_beta = bool(learn_beta)

  def __call__(self, x_t: jax.Array, prev_state: LIState):
    """One step: `(x_t, LIState) -> (v_t, LIState)`; x_t `(B, *hidden_shape)`.

    The output is the new membrane in `x_t`'s dtype.
    """
    x_t = jnp.asarray(x_t)
    base.check_step(self, x_t, prev_state)
    beta = base.decay_factor("beta", self.beta, self.learn_beta,
                             self.hidden_shape)
    v = base.integrate(prev_state.v, x_t, beta)
    return v.astype(x_t.dtype), LIState(v.astype(prev_state.v.dtype))


class CuBaLIF(base.SpikingCore):
  """Current-based LIF: a synaptic current filters the input.

    i_t  = alpha * i_{t-1} + x_t                 (synaptic current)
    v'_t = beta * v_{t-1} + i_t                  (membrane)
    s_t  = H(v'_t - theta)
    v_t  = reset(v'_t, s_t)                      (as in `LIF`)

  Output `s_t`; state `CuBaLIFState(v_t, i_t)`. The current is never reset.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: firing threshold `theta > 0`.
    reset: "subtract" (`v - s * theta`, keeps the overshoot) or "zero"
      (`v * (1 - s)`).
    detach_reset: stop the gradient through the spike in the reset term; the
      forward pass is unchanged.
    surrogate: name from `spike_ssm.ops.surrogate.SURROGATES` or a callable
      `v -> sigma'(v)`; the backward pass of every spike.
    slope: the surrogate's width parameter; None takes its default.
    alpha: synaptic decay in [0, 1]; `learn_alpha` makes it a per-unit
      parameter `alpha` (clipped to [0, 1] when used).
    beta: membrane decay in [0, 1]; `learn_beta` makes it a per-unit
      parameter `beta` (clipped to [0, 1] when used).
    name: module name.
  """

  state_type = CuBaLIFState
  neuron_params = frozenset({"alpha", "beta"})

  def __init__(self,
               hidden_shape,
               alpha=0.8,
               beta=0.9,
               *,
               learn_alpha: bool = False,
               learn_beta: bool = False,
               threshold: float = 1.0,
               reset: str = "subtract",
               detach_reset: bool = False,
               surrogate="fast_sigmoid",
               slope: float | None = None,
               name: str | None = None):
    super().__init__(hidden_shape, name="cuba_lif" if name is None else name)
    self.alpha = base.check_decay("alpha", alpha, self.hidden_shape)
    self.beta = base.check_decay("beta", beta, self.hidden_shape)
    self.learn_alpha = bool(learn_alpha)
    self.learn_beta = bool(learn_beta)
    self._set_firing(threshold, surrogate, slope, reset, detach_reset)

  def __call__(self, x_t: jax.Array, prev_state: CuBaLIFState):
    """One step: `(x_t, CuBaLIFState) -> (s_t, CuBaLIFState)`."""
    x_t = jnp.asarray(x_t)
    base.check_step(self, x_t, prev_state)
    alpha = base.decay_factor("alpha", self.alpha, self.learn_alpha,
                              self.hidden_shape)
    beta = base.decay_factor("beta", self.beta, self.learn_beta,
                             self.hidden_shape)
    i = base.integrate(prev_state.i, x_t, alpha)
    v = base.integrate(prev_state.v, i, beta)
    s = base.fire(v, self.threshold, self.surrogate, self.slope)
    v = base.reset(v, s, self.threshold, self.reset_mode, self.detach_reset)
    return s.astype(x_t.dtype), CuBaLIFState(v.astype(prev_state.v.dtype),
                                             i.astype(prev_state.i.dtype))


class ALIF(base.SpikingCore):
  """Adaptive LIF: each spike raises the neuron's threshold for a while.

  The adaptive neuron of LSNNs (Bellec et al. 2018, "Long short-term memory
  and learning-to-learn in networks of spiking neurons", NeurIPS), in the
  discrete-time form of Bellec et al. 2020 ("A solution to the learning
  dilemma for recurrent networks of spiking neurons", Nat. Commun.):

    v'_t    = beta * v_{t-1} + x_t
    theta_t = threshold + gamma * a_{t-1}        (adaptive threshold)
    s_t     = H(v'_t - theta_t)
    v_t     = v'_t - s_t * threshold             (reset="subtract")
            = v'_t * (1 - s_t)                   (reset="zero")
    a_t     = rho * a_{t-1} + s_t                (adaptation)

  so the threshold at step t reflects the spikes up to t-1, decaying with
  `rho`. The reset removes the baseline threshold, as in Bellec et al. 2020.
  Bellec et al. 2018 write the adaptation as `(1 - rho) * s`; that factor is
  folded into `gamma` here. Gradients flow through `a` into earlier spikes
  (full BPTT). The default `rho`/`gamma` are moderate values for step-based
  training, not the papers' task-specific ones.

  Output `s_t`; state `ALIFState(v_t, a_t)`.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: firing threshold `theta > 0`.
    reset: "subtract" (`v - s * theta`, keeps the overshoot) or "zero"
      (`v * (1 - s)`).
    detach_reset: stop the gradient through the spike in the reset term; the
      forward pass is unchanged.
    surrogate: name from `spike_ssm.ops.surrogate.SURROGATES` or a callable
      `v -> sigma'(v)`; the backward pass of every spike.
    slope: the surrogate's width parameter; None takes its default.
    beta: membrane decay in [0, 1]; `learn_beta` makes it a per-unit
      parameter `beta` (clipped to [0, 1] when used).
    rho: adaptation decay in [0, 1].
    gamma: adaptation strength >= 0 (threshold increase per recent spike).
    name: module name.
  """

  state_type = ALIFState
  neuron_params = frozenset({"beta"})

  def __init__(self,
               hidden_shape,
               beta=0.9,
               *,
               rho=0.97,
               gamma: float = 0.1,
               learn_beta: bool = False,
               threshold: float = 1.0,
               reset: str = "subtract",
               detach_reset: bool = False,
               surrogate="fast_sigmoid",
               slope: float | None = None,
               name: str | None = None):
    super().__init__(hidden_shape, name=name)
    self.beta = base.check_decay("beta", beta, self.hidden_shape)
    self.rho = base.check_decay("rho", rho, self.hidden_shape)
    self.gamma = base.check_non_negative("gamma", gamma)
    self.learn_beta = bool(learn_beta)
    self._set_firing(threshold, surrogate, slope, reset, detach_reset)

  def __call__(self, x_t: jax.Array, prev_state: ALIFState):
    """One step: `(x_t, ALIFState) -> (s_t, ALIFState)`."""
    x_t = jnp.asarray(x_t)
    base.check_step(self, x_t, prev_state)
    beta = base.decay_factor("beta", self.beta, self.learn_beta,
                             self.hidden_shape)
    v = base.integrate(prev_state.v, x_t, beta)
    s = base.fire(v, self.threshold + self.gamma * prev_state.a,
                  self.surrogate, self.slope)
    v = base.reset(v, s, self.threshold, self.reset_mode, self.detach_reset)
    a = base.integrate(prev_state.a, s, self.rho)
    return s.astype(x_t.dtype), ALIFState(v.astype(prev_state.v.dtype),
                                          a.astype(prev_state.a.dtype))
