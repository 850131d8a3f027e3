"""Tests for spike_ssm.experimental.stochastic (Bernoulli-spiking neurons)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.experimental import stochastic as st
from tests import tolerances as tol

B, T, N = 3, 24, 4
K = 4.0          # gentle slope: float32 p stays far inside PROBABILITY_MARGIN
THRESHOLD = 0.7
KINDS = ("spsn", "lif", "cuba")
CLASSES = {"spsn": st.SPSN, "lif": st.StochasticAssociativeLIF,
           "cuba": st.StochasticAssociativeCuBaLIF}
DECAYS = {"alpha": np.array([0.2, 0.5, 0.7, 0.9]),
          "beta": np.array([0.3, 0.6, 0.85, 0.95])}


def _module(kind, scan_mode="auto"):
  return CLASSES[kind](N, threshold=THRESHOLD, k=K, scan_mode=scan_mode)


def _set_decays(params):
  """Replaces every initialised decay by the fixed DECAYS values."""
  return {mod: {name: jnp.asarray(DECAYS[name], jnp.float32) for name in p}
          for mod, p in params.items()}


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def _reference(kind, x, v0, i0, s0, u):
  """float64 loop: membranes, probabilities and spikes, all (B, T, N).

  `u` is the (B, T, N) noise; spikes are `u < p`, with the refractory rule
  `s_t = b_t (1 - s_{t-1})` for the CuBa neuron.
  """
  x = np.asarray(x, np.float64)
  alpha, beta = DECAYS["alpha"], DECAYS["beta"]
  v, i, s = (np.array(a, np.float64) for a in (v0, i0, s0))
  vs, ps, ss = (np.zeros_like(x) for _ in range(3))
  for t in range(x.shape[1]):
    if kind == "spsn":
      v = beta * v + (1 - beta) * x[:, t]
    elif kind == "lif":
      v = beta * v + x[:, t]
    else:
      i = alpha * i + x[:, t]
      v = beta * v + i
    p = _sigmoid(K * (v - THRESHOLD))
    b = (u[:, t] < p).astype(np.float64)
    s = b * (1 - s) if kind == "cuba" else b
    vs[:, t], ps[:, t], ss[:, t] = v, p, s
  return vs, ps, ss, (v, i, s)


def _initial_state(kind, rng, key, t0):
  v0 = rng.uniform(-0.5, 0.5, (B, N)).astype(np.float32)
  if kind == "cuba":
    i0 = rng.uniform(-0.5, 0.5, (B, N)).astype(np.float32)
    s0 = rng.integers(0, 2, (B, N)).astype(np.float32)
    state = st.StochasticCuBaLIFState(jnp.asarray(v0), jnp.asarray(i0),
                                      jnp.asarray(s0), key,
                                      jnp.asarray(t0, jnp.int32))
  else:
    i0 = s0 = np.zeros((B, N), np.float32)
    state = st.StochasticLIFState(jnp.asarray(v0), key,
                                  jnp.asarray(t0, jnp.int32))
  return state, (v0, i0, s0)


class ParallelMatchesReferenceTest(parameterized.TestCase):

  # Every neuron, every scan mode at least once (linear_scan's own tests
  # cover the modes against each other).
  @parameterized.parameters(("spsn", "sequential"), ("lif", "parallel"),
                            ("cuba", "chunked"), ("cuba", "sequential"))
  def test_membranes_and_spikes_match_float64_reference(self, kind,
                                                        scan_mode):
    # Given fixed decays, an initial state at step t0 = 5 with its own key,
    # and inputs around the threshold.
    rng = np.random.default_rng(KINDS.index(kind))
    x = rng.normal(0.6, 0.8, (B, T, N)).astype(np.float32)
    key, t0 = jax.random.PRNGKey(11), 5
    state, (v0, i0, s0) = _initial_state(kind, rng, key, t0)
    f = hk.transform(lambda x, s: _module(kind, scan_mode).parallel(x, s))
    params = _set_decays(jax.jit(f.init)(jax.random.PRNGKey(0), x, state))
    # When the whole sequence is scored at once.
    spikes, v, final = jax.jit(f.apply)(params, None, x, state)
    # Then the membranes are the float64 recurrence's...
    u = np.asarray(st.step_uniforms(key, t0, T, (B, N))).swapaxes(0, 1)
    v_ref, p_ref, s_ref, last = _reference(kind, x, v0, i0, s0, u)
    np.testing.assert_allclose(v, v_ref, **tol.F32_VS_F64)
    # ... and, with every draw clear of its probability, the spikes are
    # exactly `u < p` for the documented noise stream u.
    self.assertGreater(np.abs(u - p_ref).min(), tol.PROBABILITY_MARGIN)
    self.assertTrue(0 < s_ref.mean() < 1)
    np.testing.assert_array_equal(spikes, s_ref)
    # The final state holds the last membrane (and current, spike), the
    # same key, and the step count advanced by T.
    np.testing.assert_allclose(final.v, last[0], **tol.F32_VS_F64)
    if kind == "cuba":
      np.testing.assert_allclose(final.i, last[1], **tol.F32_VS_F64)
      np.testing.assert_array_equal(final.s, last[2])
    np.testing.assert_array_equal(final.key, key)
    self.assertEqual(int(final.t), t0 + T)

  def test_dtypes_and_layout(self):
    # Given bfloat16 inputs in time-major layout.
    x = jnp.ones((T, B, N), jnp.bfloat16)
    f = hk.transform(
        lambda x: _module("spsn").parallel(x, time_major=True))
    params = jax.jit(f.init)(jax.random.PRNGKey(0), x)
    spikes, v, final = jax.jit(f.apply)(params, jax.random.PRNGKey(1), x)
    # Then spikes follow the input (dtype and layout); membranes and state
    # stay float32.
    self.assertEqual((spikes.shape, spikes.dtype), ((T, B, N), jnp.bfloat16))
    self.assertEqual((v.shape, v.dtype), ((T, B, N), jnp.float32))
    self.assertEqual(final.v.dtype, jnp.float32)


def _stepped(kind, x):
  """Steps a fresh module over `x` (B, T, N) from `initial_state`."""
  m = _module(kind)

  def body(state, x_t):
    s, state = m.step(x_t, state)
    return state, s

  final, s = hk.scan(body, m.initial_state(x.shape[0]), x.swapaxes(0, 1))
  return s.swapaxes(0, 1), final


class ModesAgreeTest(parameterized.TestCase):

  @parameterized.parameters(*KINDS)
  def test_step_draws_the_same_spikes_as_parallel(self, kind):
    # Given a parallel pass and a stepped pass, each starting from a fresh
    # initial_state, applied with the same RNG key.
    x = np.random.default_rng(3).normal(0.6, 0.8, (B, T, N)).astype(
        np.float32)
    par = hk.transform(lambda x: _module(kind).parallel(x))
    step = hk.transform(lambda x: _stepped(kind, x))
    params = _set_decays(jax.jit(par.init)(jax.random.PRNGKey(0), x))
    # When both run.
    s_par, _, st_par = jax.jit(par.apply)(params, jax.random.PRNGKey(5), x)
    s_step, st_step = jax.jit(step.apply)(params, jax.random.PRNGKey(5), x)
    # Then they draw identical spikes and end in the same state.
    self.assertTrue(0 < float(s_par.mean()) < 1)
    np.testing.assert_array_equal(s_step, s_par)
    np.testing.assert_allclose(st_step.v, st_par.v, **tol.scan_tol(T))
    np.testing.assert_array_equal(st_step.key, st_par.key)
    self.assertEqual(int(st_step.t), int(st_par.t))

  def test_chunks_continue_the_noise_stream(self):
    # Given one initial state, the sequence scored whole and in two chunks
    # that pass the state on. (The CuBa state's extra fields are restarted
    # from a nonzero state in the float64 reference test.)
    kind = "lif"
    x = np.random.default_rng(4).normal(0.6, 0.8, (B, T, N)).astype(
        np.float32)

    def f(x):
      m = _module(kind)
      state = m.initial_state(x.shape[0])
      whole, _, last = m.parallel(x, state)
      first, _, mid = m.parallel(x[:, :10], state)
      second, _, end = m.parallel(x[:, 10:], mid)
      return whole, jnp.concatenate([first, second], axis=1), last, end

    f = hk.transform(f)
    params = _set_decays(jax.jit(f.init)(jax.random.PRNGKey(0), x))
    whole, chunked, last, end = jax.jit(f.apply)(params,
                                                 jax.random.PRNGKey(2), x)
    # Then both draw the same spikes and reach the same state.
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_allclose(end.v, last.v, **tol.scan_tol(T))
    self.assertEqual(int(end.t), int(last.t))

  @parameterized.parameters("spsn", "cuba")
  def test_gradients_agree_between_modes(self, kind):
    # Given a loss on the spikes and the final membrane.
    rng = np.random.default_rng(6)
    x = jnp.asarray(rng.normal(0.6, 0.8, (B, T, N)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(B, T, N)), jnp.float32)
    par = hk.transform(lambda x: _module(kind).parallel(x))
    step = hk.transform(lambda x: _stepped(kind, x))
    params = _set_decays(jax.jit(par.init)(jax.random.PRNGKey(0), x))

    def loss(params, x, which):
      if which == "step":
        spikes, state = step.apply(params, jax.random.PRNGKey(7), x)
      else:
        spikes, _, state = par.apply(params, jax.random.PRNGKey(7), x)
      return jnp.sum(w * spikes) + jnp.sum(jnp.sin(state.v))

    # When it is differentiated through each mode.
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    g_step, g_par = grad(params, x, "step"), grad(params, x, "parallel")
    # Then the decay and input gradients agree (and are not trivially 0).
    for got, want in zip(jax.tree.leaves(g_par), jax.tree.leaves(g_step)):
      self.assertGreater(np.abs(want).max(), 0)
      np.testing.assert_allclose(got, want, **tol.scan_tol(T))


class SpikeFunctionTest(parameterized.TestCase):

  def test_firing_rate_matches_the_sigmoid(self):
    # Given 20000 independent draws at each of five membrane values.
    n = 20_000
    levels = np.array([0.5, 0.9, 1.0, 1.1, 1.5])
    v = jnp.asarray(np.repeat(levels[:, None], n, axis=1), jnp.float32)
    # When they spike.
    draw = jax.jit(lambda v, key: st.sigmoid_bernoulli(v, key, k=5.0,
                                                       threshold=1.0))
    s = draw(v, jax.random.PRNGKey(0))
    # Then each rate is within 5 binomial sigmas of sigmoid(k (v - theta)).
    p = _sigmoid(5.0 * (levels - 1.0))
    bound = tol.BINOMIAL_SIGMAS * np.sqrt(p * (1 - p) / n)
    rate = np.asarray(s).mean(axis=1)
    np.testing.assert_array_less(np.abs(rate - p), bound)
    self.assertEqual(set(np.unique(s)), {0.0, 1.0})

  def test_refractory_second_step_rate(self):
    # Given 20000 independent neurons over two steps at probability p, with
    # no spike before the first.
    n, p_level = 20_000, 0.6
    v0 = 1.0 + np.log(p_level / (1 - p_level)) / 5.0  # sigmoid(5 (v - 1)) = p
    v = jnp.full((2, n), v0, jnp.float32)
    s = jax.jit(lambda v: st.refractory_sigmoid_bernoulli(
        v, jax.random.PRNGKey(1), k=5.0, threshold=1.0))(v)
    # Then step 0 fires with p, step 1 with p (1 - p) (it must not have fired
    # at step 0), and never twice in a row.
    for rate, q in ((s[0].mean(), p_level),
                    (s[1].mean(), p_level * (1 - p_level))):
      self.assertLess(abs(float(rate) - q),
                      tol.BINOMIAL_SIGMAS * np.sqrt(q * (1 - q) / n))
    self.assertEqual(float(jnp.sum(s[0] * s[1])), 0.0)

  @parameterized.parameters("sequential", "parallel", "chunked")
  def test_refractory_rule_matches_the_sequential_definition(self, scan_mode):
    # Given membranes (T=40, 6) often above threshold and a previous spike.
    rng = np.random.default_rng(8)
    v = rng.normal(1.2, 0.5, (40, 6)).astype(np.float32)
    prev = np.array([1, 0, 1, 0, 1, 0], np.float32)
    key = jax.random.PRNGKey(3)
    # When the parallel (run-length scan) form spikes.
    s = jax.jit(lambda v: st.refractory_sigmoid_bernoulli(
        v, key, k=K, threshold=1.0, prev_spike=prev, scan_mode=scan_mode))(v)
    # Then it equals s_t = b_t (1 - s_{t-1}) with b_t = u_t < p_t.
    u = np.asarray(jax.random.uniform(key, v.shape, jnp.float32))
    p = _sigmoid(K * (v.astype(np.float64) - 1.0))
    self.assertGreater(np.abs(u - p).min(), tol.PROBABILITY_MARGIN)
    b, want, last = (u < p).astype(np.float64), np.zeros(v.shape), prev
    for t in range(v.shape[0]):
      want[t] = b[t] * (1 - last)
      last = want[t]
    self.assertGreater(b.sum(), want.sum())  # the rule removed some spikes
    np.testing.assert_array_equal(s, want)

  def test_same_key_same_spikes_other_key_other_spikes(self):
    v = jnp.full((64, 32), 1.0)
    draw = jax.jit(lambda v, key: st.sigmoid_bernoulli(v, key))
    a = draw(v, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(a, draw(v, jax.random.PRNGKey(0)))
    self.assertFalse(np.array_equal(a, draw(v, jax.random.PRNGKey(1))))

  def test_module_same_rng_same_spikes_other_rng_other_spikes(self):
    x = jnp.full((B, T, N), 0.7)
    f = hk.transform(lambda x: _module("lif")(x))
    params = jax.jit(f.init)(jax.random.PRNGKey(0), x)
    apply = jax.jit(f.apply)
    a = apply(params, jax.random.PRNGKey(1), x)
    np.testing.assert_array_equal(a, apply(params, jax.random.PRNGKey(1), x))
    self.assertFalse(np.array_equal(a, apply(params, jax.random.PRNGKey(2), x)))

  @chex.variants(with_jit=True, without_jit=True)
  def test_gradient_is_the_sigmoid_derivative(self):
    # Given membranes and a weighted-sum loss on the spikes.
    rng = np.random.default_rng(9)
    v = jnp.asarray(rng.normal(1.0, 0.4, (5, 7)), jnp.float32)
    w = rng.normal(size=(5, 7))
    key = jax.random.PRNGKey(4)
    loss = lambda v: jnp.sum(w * st.sigmoid_bernoulli(v, key, k=K,
                                                      threshold=1.0))
    # When it is differentiated.
    g = self.variant(jax.grad(loss))(v)
    # Then dL/dv = w * k p (1 - p), the straight-through estimator.
    p = _sigmoid(K * (np.asarray(v, np.float64) - 1.0))
    np.testing.assert_allclose(g, w * K * p * (1 - p), **tol.F32_VS_F64)

  def test_refractory_gradient_is_gated_by_the_previous_spike(self):
    rng = np.random.default_rng(10)
    v = jnp.asarray(rng.normal(1.3, 0.4, (12, 5)), jnp.float32)
    w = rng.normal(size=(12, 5))
    prev = jnp.asarray([1.0, 0.0, 1.0, 0.0, 0.0])
    key = jax.random.PRNGKey(6)
    fn = lambda v: st.refractory_sigmoid_bernoulli(
        v, key, k=K, threshold=1.0, prev_spike=prev)
    s, pullback = jax.vjp(fn, v)
    (g,) = pullback(jnp.asarray(w, jnp.float32))
    # dL/dv_t = w_t (1 - s_{t-1}) k p_t (1 - p_t), previous spikes constant.
    s_prev = np.concatenate([np.asarray(prev)[None], np.asarray(s)[:-1]])
    p = _sigmoid(K * (np.asarray(v, np.float64) - 1.0))
    self.assertGreater(s_prev.sum(), 0)
    np.testing.assert_allclose(g, w * (1 - s_prev) * K * p * (1 - p),
                               **tol.F32_VS_F64)

  def test_steep_sigmoid_is_a_threshold(self):
    # Far from the threshold a very steep sigmoid fires deterministically.
    v = jnp.asarray([[0.0, 0.5, 1.5, 2.0]] * 8, jnp.float32)
    s = st.sigmoid_bernoulli(v, jax.random.PRNGKey(0), k=1e3, threshold=1.0)
    np.testing.assert_array_equal(s, np.asarray(v) > 1.0)


class InitTest(parameterized.TestCase):

  @parameterized.parameters(*KINDS)
  def test_decays_start_inside_the_unit_interval(self, kind):
    f = hk.transform(lambda x: CLASSES[kind](N)(x))
    params = jax.jit(f.init)(jax.random.PRNGKey(0), jnp.zeros((2, 5, N)))
    # Decays start inside [0, 1] (truncated normal around 0.5).
    for leaf in jax.tree.leaves(params):
      self.assertTrue(np.all((leaf >= 0) & (leaf <= 1)))


class BadInputTest(parameterized.TestCase):

  @parameterized.parameters(
      (lambda: st.sigmoid_bernoulli(jnp.ones(3, jnp.int32),
                                    jax.random.PRNGKey(0)),
       TypeError, "`v` must be a floating array, got dtype int32"),
      (lambda: st.sigmoid_bernoulli(jnp.ones(3), jax.random.PRNGKey(0), k=0),
       ValueError, "k must be a finite number > 0, got 0"),
      (lambda: st.sigmoid_bernoulli(jnp.ones(3), jax.random.PRNGKey(0),
                                    threshold=float("nan")),
       ValueError, "threshold must be a finite number, got nan"),
      (lambda: st.refractory_sigmoid_bernoulli(jnp.float32(1.0),
                                               jax.random.PRNGKey(0)),
       ValueError, r"`v` must have a leading time axis"),
      (lambda: st.refractory_sigmoid_bernoulli(
          jnp.ones((4, 3)), jax.random.PRNGKey(0), prev_spike=jnp.ones(2)),
       ValueError, r"`prev_spike` of shape \(2,\) does not broadcast"),
      (lambda: st.refractory_sigmoid_bernoulli(
          jnp.ones((4, 3)), jax.random.PRNGKey(0), scan_mode="fast"),
       ValueError, "scan_mode must be one of .* got 'fast'"),
  )
  def test_spike_function_arguments(self, fn, error, message):
    with self.assertRaisesRegex(error, message):
      fn()

  @parameterized.parameters(
      (dict(hidden_shape=0), "hidden_shape must be a positive int"),
      (dict(hidden_shape=4, k=-1.0), "k must be a finite number > 0"),
      (dict(hidden_shape=4, scan_mode="fast"), "scan_mode must be one of"),
      (dict(hidden_shape=4, threshold=float("inf")),
       "threshold must be a finite number"),
  )
  def test_constructor_arguments(self, kwargs, message):
    for cls in CLASSES.values():
      with self.assertRaisesRegex(ValueError, message):
        hk.transform(lambda: cls(**kwargs)).init(None)

  def test_call_arguments(self):
    key = jax.random.PRNGKey(0)

    def run(fn):
      return hk.transform(fn).init(key)

    with self.assertRaisesRegex(TypeError, "`x` must be a floating array"):
      run(lambda: _module("spsn")(jnp.ones((B, T, N), jnp.int32)))
    with self.assertRaisesRegex(ValueError, r"trailing shape \(5,\)"):
      run(lambda: _module("spsn")(jnp.ones((B, T, 5))))
    with self.assertRaisesRegex(ValueError, "`x_t` must have shape"):
      run(lambda: _module("lif").step(
          jnp.ones((B, 5)), _module("lif").initial_state(B)))
    with self.assertRaisesRegex(TypeError,
                                "`state` must be a StochasticCuBaLIFState"):
      run(lambda: _module("cuba").parallel(
          jnp.ones((B, T, N)), _module("lif").initial_state(B)))
    with self.assertRaisesRegex(ValueError, r"state.v has shape \(2, 4\)"):
      run(lambda: _module("lif").parallel(
          jnp.ones((B, T, N)), _module("lif").initial_state(2)))
    with self.assertRaisesRegex(ValueError, "batch_size must be"):
      run(lambda: _module("lif").initial_state(-1))


if __name__ == "__main__":
  absltest.main()
