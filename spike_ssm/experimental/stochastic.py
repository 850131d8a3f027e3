"""Stochastic (Bernoulli-spiking) reset-free neurons on a linear scan.

A deterministic LIF couples every step to the previous step's spike through
its reset, which forces a sequential loop. Dropping the reset makes the
membrane a linear recurrence, evaluated for the whole sequence at once by
`spike_ssm.ops.scans.linear_scan`; spiking is then a pointwise, stochastic
function of the membrane. This is the idea of the Stochastic Parallelizable
Spiking Neuron (SPSN, Yarga & Wood 2023, "Accelerating SNN Training with
Stochastic Parallelizable Spiking Neurons", arXiv:2306.12666), which
separates the linear integration from the non-linear spiking so that a
sequence runs in parallel over time.

Spike functions (pure JAX, no Haiku):

  sigmoid_bernoulli(v, key)            s ~ Bernoulli(p),
                                       p = sigmoid(k (v - threshold))
  refractory_sigmoid_bernoulli(v, key) the same, but a neuron cannot spike
                                       on the step right after a spike:
                                       s_t = b_t (1 - s_{t-1}),
                                       b_t ~ Bernoulli(p_t)

Gradient estimator (both functions): straight-through with the sigmoid's
derivative. The backward pass treats the spike as its expectation given the
past, `E[s_t] = (1 - s_{t-1}) p_t`, so

  d s_t / d v_t := (1 - s_{t-1}) * dp_t/dv_t
                 = (1 - s_{t-1}) * k p_t (1 - p_t)

with the previous spike s_{t-1} held constant (and s_{-1} := 0, i.e. no
gating, for `sigmoid_bernoulli`). The forward value is an exact 0/1 draw.

The refractory rule looks sequential but is not: within a run of consecutive
raw draws `b_t = 1` the kept spikes alternate 1, 0, 1, ..., so with the run
length `c_t = b_t (c_{t-1} + 1)` (a linear recurrence, `c_{-1} = s_{-1}`)
the spike is `s_t = b_t [c_t odd]`, evaluated with `linear_scan` too.
Counts are float32, exact for runs shorter than 2^24 steps.

Modules (Haiku; each needs an RNG key in `apply`):

  SPSN                          v_t = beta v_{t-1} + (1 - beta) x_t,
                                s_t = sigmoid_bernoulli(v_t)
  StochasticAssociativeLIF      v_t = beta v_{t-1} + x_t,
                                s_t = sigmoid_bernoulli(v_t)
  StochasticAssociativeCuBaLIF  i_t = alpha i_{t-1} + x_t,
                                v_t = beta v_{t-1} + i_t,
                                s_t = refractory_sigmoid_bernoulli(v_t)

Randomness of the modules, and why stepping equals the parallel pass: a
sequence consumes exactly one `hk.next_rng_key()`, taken by
`initial_state` (which `__call__` and `parallel` call when given no state)
and carried in the state as `key`, together with the step counter `t`. The
uniform noise of step t is `jax.random.uniform(fold_in(key, t), (B, *H))`
whichever way the step is computed, and spikes are `u < p`. So
`parallel(x)` and `initial_state` followed by T calls of `step` draw the same
numbers, and a sequence split into chunks (passing the state on) draws the
same numbers as the whole sequence.
"""

import abc
from collections.abc import Sequence
import functools
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.neurons import base
from spike_ssm.ops import checks
from spike_ssm.ops import scans


# ----------------------------------------------------------------------------
# Spike functions.
# ----------------------------------------------------------------------------


def _check_k(k) -> float:
  if (isinstance(k, bool) or not isinstance(k, (int, float, np.number)) or
      not np.isfinite(k) or k <= 0):
    raise ValueError(f"k must be a finite number > 0, got {k!r}.")
  return float(k)


def _check_real_threshold(threshold) -> float:
  if (isinstance(threshold, bool) or
      not isinstance(threshold, (int, float, np.number)) or
      not np.isfinite(threshold)):
    raise ValueError(f"threshold must be a finite number, got {threshold!r}.")
  return float(threshold)


def _check_v(fn: str, v) -> jax.Array:
  v = jnp.asarray(v)
  if not jnp.issubdtype(v.dtype, jnp.floating):
    raise TypeError(f"{fn}: `v` must be a floating array, got dtype {v.dtype}.")
  return v


def _probability(v, k, threshold):
  """p = sigmoid(k (v - threshold)), computed in at least float32."""
  v = v.astype(jnp.promote_types(v.dtype, jnp.float32))
  return jax.nn.sigmoid(k * (v - threshold))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _bernoulli(v, u, k, threshold):
  return (u < _probability(v, k, threshold)).astype(v.dtype)


def _bernoulli_fwd(v, u, k, threshold):
  p = _probability(v, k, threshold)
  return (u < p).astype(v.dtype), (p, jnp.zeros((0,), v.dtype))


def _bernoulli_bwd(k, threshold, res, g):
  del threshold
  p, proto = res
  # Straight-through: the derivative of the expectation p(v).
  g_v = (g * (k * p * (1.0 - p))).astype(proto.dtype)
  return g_v, None


_bernoulli.defvjp(_bernoulli_fwd, _bernoulli_bwd)


def _refractory(v, u, prev_spike, k, threshold, mode):
  """Refractory Bernoulli spikes from uniforms `u`; time on axis 0."""
  b = _bernoulli(v, u, k, threshold)  # raw draws, straight-through gradient
  hard = jax.lax.stop_gradient(b).astype(jnp.float32)
  prev = jnp.broadcast_to(
      jax.lax.stop_gradient(prev_spike).astype(jnp.float32), hard.shape[1:])
  # c_t = b_t * (c_{t-1} + 1), c_{-1} = s_{-1}: the position in the current
  # run of raw draws; the kept spikes are the odd positions.
  run = scans.linear_scan(hard, hard, prev, mode=mode)  # [T, ...]
  kept = hard * (jnp.mod(run, 2.0) == 1.0)
  previous = jnp.concatenate([prev[None], kept[:-1]], axis=0)
  # gate * b is exactly `kept` in the forward pass (0/1 products) and
  # carries the gated straight-through gradient backwards.
  return (1.0 - previous).astype(b.dtype) * b


def sigmoid_bernoulli(v: jax.Array,
                      key: jax.Array,
                      *,
                      k: float = 10.0,
                      threshold: float = 1.0) -> jax.Array:
  """Bernoulli spikes with probability `sigmoid(k (v - threshold))`.

  Forward: `s = 1[u < p]` with `u ~ Uniform[0, 1)` drawn as
  `jax.random.uniform(key, v.shape)`, so `P(s = 1) = p`, exactly 0/1.
  Backward (straight-through): `ds/dv := dp/dv = k p (1 - p)`.

  Args:
    v: membrane potentials, floating, any shape.
    key: a JAX PRNG key.
    k: steepness of the sigmoid (> 0); large k approaches a deterministic
      threshold.
    threshold: membrane value at which p = 1/2.

  Returns:
    Spikes in {0, 1}, shape and dtype of `v`.

  Raises:
    TypeError: non-floating `v`.
    ValueError: `k <= 0` or a non-finite `k` / `threshold`.
  """
  v = _check_v("sigmoid_bernoulli", v)
  k, threshold = _check_k(k), _check_real_threshold(threshold)
  u = jax.random.uniform(key, v.shape, jnp.float32)
  return _bernoulli(v, u, k, threshold)


def refractory_sigmoid_bernoulli(v: jax.Array,
                                 key: jax.Array,
                                 *,
                                 k: float = 10.0,
                                 threshold: float = 1.0,
                                 prev_spike: jax.Array | None = None,
                                 scan_mode: str = "auto") -> jax.Array:
  """`sigmoid_bernoulli` with a one-step refractory period along axis 0.

  Rule: `s_t = b_t (1 - s_{t-1})` with raw draws `b_t = 1[u_t < p_t]`, so a
  neuron never spikes on two consecutive steps; `s_{-1} = prev_spike`.
  Uniforms are `jax.random.uniform(key, v.shape)`. Gradient:
  `ds_t/dv_t := (1 - s_{t-1}) k p_t (1 - p_t)` (previous spikes constant).

  Args:
    v: membrane potentials, time-major `(T, ...)`, floating.
    key: a JAX PRNG key.
    k: steepness of the sigmoid (> 0).
    threshold: membrane value at which p = 1/2.
    prev_spike: the spike before the first step, broadcastable to
      `v.shape[1:]`; None means no spike (0).
    scan_mode: `linear_scan` mode for the run-length recurrence.

  Returns:
    Spikes in {0, 1}, shape and dtype of `v`.

  Raises:
    TypeError: non-floating `v`.
    ValueError: a scalar `v`, bad `k` / `threshold` / `scan_mode`, or a
      `prev_spike` that does not broadcast to `v.shape[1:]`.
  """
  v = _check_v("refractory_sigmoid_bernoulli", v)
  if v.ndim < 1:
    raise ValueError(
        "refractory_sigmoid_bernoulli: `v` must have a leading time axis, "
        f"(T, ...); got shape {v.shape}.")
  k, threshold = _check_k(k), _check_real_threshold(threshold)
  mode = checks.check_scan_mode("refractory_sigmoid_bernoulli", scan_mode)
  if prev_spike is None:
    prev_spike = jnp.zeros(v.shape[1:], jnp.float32)
  prev_spike = jnp.asarray(prev_spike)
  try:
    jnp.broadcast_shapes(prev_spike.shape, v.shape[1:])
  except ValueError:
    raise ValueError(
        f"refractory_sigmoid_bernoulli: `prev_spike` of shape "
        f"{prev_spike.shape} does not broadcast to v.shape[1:] = "
        f"{v.shape[1:]}.") from None
  u = jax.random.uniform(key, v.shape, jnp.float32)
  return _refractory(v, u, prev_spike, k, threshold, mode)


def step_uniforms(key: jax.Array, start: jax.Array, length: int,
                  step_shape: Sequence[int]) -> jax.Array:
  """The modules' noise for steps `start .. start + length - 1`.

  Args:
    key: the sequence's key (a module state's `key`).
    start: index of the first step (a state's `t`), int.
    length: number of steps T.
    step_shape: shape of one step's noise, `(B, *hidden_shape)`.

  Returns:
    float32 `(T, *step_shape)`; row j is
    `jax.random.uniform(jax.random.fold_in(key, start + j), step_shape)`.
  """
  steps = jnp.asarray(start, jnp.int32) + jnp.arange(length, dtype=jnp.int32)
  draw = lambda t: jax.random.uniform(jax.random.fold_in(key, t),
                                      tuple(step_shape), jnp.float32)
  return jax.vmap(draw)(steps)


# ----------------------------------------------------------------------------
# Modules.
# ----------------------------------------------------------------------------


class StochasticLIFState(NamedTuple):
  v: jax.Array    # membrane, (B, *hidden_shape), float32
  key: jax.Array  # the sequence's PRNG key (from hk.next_rng_key())
  t: jax.Array    # int32 scalar: steps taken so far (indexes the noise)


class StochasticCuBaLIFState(NamedTuple):
  v: jax.Array    # membrane, (B, *hidden_shape), float32
  i: jax.Array    # synaptic current, (B, *hidden_shape), float32
  s: jax.Array    # last spike (refractory gate), (B, *hidden_shape), float32
  key: jax.Array  # the sequence's PRNG key (from hk.next_rng_key())
  t: jax.Array    # int32 scalar: steps taken so far (indexes the noise)


def _decay_param(name: str, hidden_shape: tuple[int, ...]) -> jax.Array:
  """A per-unit decay in [0, 1]: parameter `name`, clipped when used.

  Initialised at 0.5 + N(0, 0.25^2) truncated to two standard deviations,
  i.e. within [0, 1] (the initialisation of the Spyx prototypes of these
  neurons).
  """
  init = hk.initializers.TruncatedNormal(stddev=0.25, mean=0.5)
  return jnp.clip(hk.get_parameter(name, hidden_shape, jnp.float32, init),
                  0.0, 1.0)


class _StochasticNeuron(hk.Module):
  """Shared machinery: layout, state, noise stream, parallel vs step."""

  state_type: type[NamedTuple] = StochasticLIFState
  refractory: bool = False

  def __init__(self, hidden_shape, *, threshold: float, k: float,
               scan_mode: str, name: str | None):
    super().__init__(name=name)
    self.hidden_shape = base.as_hidden_shape(hidden_shape)
    self.threshold = _check_real_threshold(threshold)
    self.k = _check_k(k)
    self.scan_mode = checks.check_scan_mode(type(self).__name__, scan_mode)

  # Subclasses: the parameters, and the membrane update in both forms.
  @abc.abstractmethod
  def _params(self):
    """The neuron's Haiku parameters, as `_scan` / `_update` take them."""

  @abc.abstractmethod
  def _scan(self, x, state, params):
    """`x` (T, B, *H) -> (membranes (T, B, *H), new float state fields)."""

  @abc.abstractmethod
  def _update(self, x_t, state, params):
    """One step -> (membrane, new float state fields)."""

  def initial_state(self, batch_size: int):
    """Zero membranes, a fresh `hk.next_rng_key()` and t = 0.

    Args:
      batch_size: number of examples B.

    Returns:
      A state NamedTuple with float32 fields of shape
      `(batch_size, *hidden_shape)`, `key` and `t`.
    """
    if (not isinstance(batch_size, (int, np.integer)) or
        isinstance(batch_size, bool) or batch_size < 0):
      raise ValueError(
          f"batch_size must be a non-negative int, got {batch_size!r}.")
    zeros = jnp.zeros((int(batch_size), *self.hidden_shape), jnp.float32)
    floats = {f: zeros for f in self.state_type._fields
              if f not in ("key", "t")}
    return self.state_type(**floats, key=hk.next_rng_key(),
                           t=jnp.zeros((), jnp.int32))

  def _check_state(self, state, batch_shape, who: str) -> None:
    if not isinstance(state, self.state_type):
      raise TypeError(f"{who}: `state` must be a {self.state_type.__name__},"
                      f" got {type(state).__name__}.")
    for field in self.state_type._fields:
      if field in ("key", "t"):
        continue
      value = getattr(state, field)
      if value.shape != batch_shape:
        raise ValueError(
            f"{who}: state.{field} has shape {value.shape} but the input "
            f"needs {batch_shape} (B, *hidden_shape).")

  def _fire(self, v, u, prev_spike):
    if self.refractory:
      return _refractory(v, u, prev_spike, self.k, self.threshold,
                         self.scan_mode)
    return _bernoulli(v, u, self.k, self.threshold)

  def parallel(self, x: jax.Array, initial_state=None, *,
               time_major: bool = False):
    """The whole sequence at once: membranes by `linear_scan`, then spikes.

    Args:
      x: input currents `(B, T, *hidden_shape)`, or `(T, B, *hidden_shape)`
        with `time_major=True`.
      initial_state: a state from `initial_state` or a previous call; None
        calls `initial_state(B)` (one `hk.next_rng_key()`).
      time_major: layout of `x` and of the returned sequences.

    Returns:
      `(spikes, membranes, final_state)`: spikes in `x`'s dtype and
      membranes in float32, both in `x`'s layout; the state after the last
      step (its `t` advanced by T, the same `key`).
    """
    x = jnp.asarray(x)
    who = f"{type(self).__name__}.parallel"
    base.check_float_input(who, x)
    x = base.to_time_major(x, self.hidden_shape, time_major, who)  # [T, B, H]
    state = (self.initial_state(x.shape[1]) if initial_state is None
             else initial_state)
    self._check_state(state, x.shape[1:], who)
    params = self._params()
    v, fields = self._scan(x.astype(jnp.float32), state, params)  # [T, B, H]
    u = step_uniforms(state.key, state.t, x.shape[0], x.shape[1:])
    prev = getattr(state, "s", None)
    s = self._fire(v, u, prev)
    if self.refractory:
      fields["s"] = s[-1] if x.shape[0] else state.s
    new_state = state._replace(**{f: a.astype(jnp.float32)
                                  for f, a in fields.items()},
                               t=state.t + x.shape[0])
    return (base.from_time_major(s.astype(x.dtype), time_major),
            base.from_time_major(v, time_major), new_state)

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Spikes for a whole sequence from a zero state (`parallel(x)[0]`).

    Args:
      x: `(B, T, *hidden_shape)` (or `(T, B, ...)` with `time_major=True`).
      time_major: layout of `x` and of the spikes.

    Returns:
      Spikes in {0, 1}, same shape, layout and dtype as `x`.
    """
    return self.parallel(x, time_major=time_major)[0]

  def step(self, x_t: jax.Array, state):
    """One step, drawing step `state.t`'s noise.

    Args:
      x_t: input current `(B, *hidden_shape)`.
      state: the previous state (from `initial_state` or a step).

    Returns:
      `(spikes_t, new_state)`, spikes in `x_t`'s dtype.
    """
    x_t = jnp.asarray(x_t)
    who = f"{type(self).__name__}.step"
    base.check_float_input(who, x_t, "x_t")
    if x_t.ndim != len(self.hidden_shape) + 1 or (
        x_t.shape[1:] != self.hidden_shape):
      raise ValueError(
          f"{who}: `x_t` must have shape (B, *hidden_shape) with "
          f"hidden_shape {self.hidden_shape}; got {x_t.shape}.")
    self._check_state(state, x_t.shape, who)
    params = self._params()
    v, fields = self._update(x_t.astype(jnp.float32), state, params)
    u = jax.random.uniform(jax.random.fold_in(state.key, state.t), x_t.shape,
                           jnp.float32)
    s = _bernoulli(v, u, self.k, self.threshold)
    if self.refractory:
      # The one-step form of `_refractory`: s_t = (1 - s_{t-1}) b_t.
      s = (1.0 - jax.lax.stop_gradient(state.s)).astype(s.dtype) * s
      fields["s"] = s
    new_state = state._replace(**{f: a.astype(jnp.float32)
                                  for f, a in fields.items()},
                               t=state.t + 1)
    return s.astype(x_t.dtype), new_state


def _last(seq, fallback):
  return seq[-1] if seq.shape[0] else fallback


class SPSN(_StochasticNeuron):
  """Stochastic Parallelizable Spiking Neuron (Yarga & Wood 2023).

    v_t = beta v_{t-1} + (1 - beta) x_t          (reset-free, linear_scan)
    p_t = sigmoid(k (v_t - threshold))
    s_t ~ Bernoulli(p_t)                         (straight-through gradient
                                                  ds/dv := dp/dv)

  The input is scaled by (1 - beta), a normalised leaky integrator (impulse
  response (1 - beta) beta^t, the kernel of the Spyx prototype), so a
  constant input x drives v towards x. `beta` is a per-unit parameter of
  shape `hidden_shape`, initialised at 0.5 + N(0, 0.25^2) truncated to
  [0, 1] and clipped to [0, 1] when used. arXiv:2306.12666.

  Modes: `__call__(x)` / `parallel(x, state)` for a whole sequence,
  `initial_state(B)` + `step(x_t, state)` for streaming; both draw the same
  spikes (see the module docstring for the key stream).

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: membrane value with firing probability 1/2.
    k: sigmoid steepness (> 0).
    scan_mode: `linear_scan` mode: "auto", "sequential", "parallel" or
      "chunked".
    name: module name.
  """

  state_type = StochasticLIFState
  neuron_params = frozenset({"beta"})

  def __init__(self, hidden_shape, *, threshold: float = 1.0, k: float = 10.0,
               scan_mode: str = "auto", name: str | None = None):
    super().__init__(hidden_shape, threshold=threshold, k=k,
                     scan_mode=scan_mode, name=name)

  def _params(self):
    return _decay_param("beta", self.hidden_shape)

  def _scan(self, x, state, beta):
    v = scans.linear_scan(beta, (1.0 - beta) * x, state.v,
                          mode=self.scan_mode)
    return v, {"v": _last(v, state.v)}

  def _update(self, x_t, state, beta):
    v = beta * state.v + (1.0 - beta) * x_t
    return v, {"v": v}


class StochasticAssociativeLIF(_StochasticNeuron):
  """Reset-free LIF with Bernoulli spikes, evaluated with a linear scan.

    v_t = beta v_{t-1} + x_t                     (associative scan)
    s_t ~ Bernoulli(sigmoid(k (v_t - threshold)))

  Gradient: straight-through, ds/dv := k p (1 - p). `beta` is a per-unit
  parameter (shape `hidden_shape`, init 0.5 + truncated N(0, 0.25^2), clipped
  to [0, 1] when used).

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: membrane value with firing probability 1/2.
    k: sigmoid steepness (> 0); the default 100 makes firing nearly
      deterministic away from the threshold.
    scan_mode: `linear_scan` mode.
    name: module name.
  """

  state_type = StochasticLIFState
  neuron_params = frozenset({"beta"})

  def __init__(self, hidden_shape, *, threshold: float = 1.0,
               k: float = 100.0, scan_mode: str = "auto",
               name: str | None = None):
    super().__init__(hidden_shape, threshold=threshold, k=k,
                     scan_mode=scan_mode, name=name)

  def _params(self):
    return _decay_param("beta", self.hidden_shape)

  def _scan(self, x, state, beta):
    v = scans.linear_scan(beta, x, state.v, mode=self.scan_mode)
    return v, {"v": _last(v, state.v)}

  def _update(self, x_t, state, beta):
    v = beta * state.v + x_t
    return v, {"v": v}


class StochasticAssociativeCuBaLIF(_StochasticNeuron):
  """Current-based reset-free LIF, Bernoulli spikes with a refractory step.

    i_t = alpha i_{t-1} + x_t                    (first linear scan)
    v_t = beta v_{t-1} + i_t                     (second linear scan)
    b_t ~ Bernoulli(sigmoid(k (v_t - threshold)))
    s_t = b_t (1 - s_{t-1})                      (no spike right after one)

  Gradient: ds_t/dv_t := (1 - s_{t-1}) k p_t (1 - p_t). `alpha` and `beta`
  are per-unit parameters (shape `hidden_shape`, init 0.5 + truncated
  N(0, 0.25^2), clipped to [0, 1] when used). The state also carries the
  last spike `s` for the refractory gate.

  Args:
    hidden_shape: per-example neuron shape, an int or a tuple of ints.
    threshold: membrane value with firing probability 1/2.
    k: sigmoid steepness (> 0).
    scan_mode: `linear_scan` mode (for both membranes and the refractory
      run-length scan).
    name: module name.
  """

  state_type = StochasticCuBaLIFState
  neuron_params = frozenset({"alpha", "beta"})
  refractory = True

  def __init__(self, hidden_shape, *, threshold: float = 1.0,
               k: float = 100.0, scan_mode: str = "auto",
               name: str | None = None):
    super().__init__(hidden_shape, threshold=threshold, k=k,
                     scan_mode=scan_mode,
                     name="stochastic_associative_cuba_lif" if name is None
                     else name)

  def _params(self):
    return (_decay_param("alpha", self.hidden_shape),
            _decay_param("beta", self.hidden_shape))

  def _scan(self, x, state, params):
    alpha, beta = params
    i = scans.linear_scan(alpha, x, state.i, mode=self.scan_mode)
    v = scans.linear_scan(beta, i, state.v, mode=self.scan_mode)
    return v, {"v": _last(v, state.v), "i": _last(i, state.i)}

  def _update(self, x_t, state, params):
    alpha, beta = params
    i = alpha * state.i + x_t
    v = beta * state.v + i
    return v, {"v": v, "i": i}


__all__ = [
    "SPSN",
    "StochasticAssociativeCuBaLIF",
    "StochasticAssociativeLIF",
    "StochasticCuBaLIFState",
    "StochasticLIFState",
    "refractory_sigmoid_bernoulli",
    "sigmoid_bernoulli",
    "step_uniforms",
]
