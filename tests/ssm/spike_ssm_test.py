"""Tests for spike_ssm.ssm.spike_ssm (SpikeSSM, SpikeSSMState)."""

import math

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ssm import spike_ssm
from spike_ssm.ssm.spike_ssm import SpikeSSM
from spike_ssm.ssm.spike_ssm import SpikeSSMState
from tests import tolerances as tol

B, T, I, H, O = 3, 12, 5, 16, 4
# Short time constant and strong input so the test sees spikes, silences and
# resets within 12 steps.
KWARGS = dict(input_dim=I, output_dim=O, hidden_dim=H, sparsity_level=0.5,
              tau=3.0, dt=1.0, noise_std=0.05)
INPUT_SCALE = 3.0


def make_layer(**overrides):
  return SpikeSSM(**{**KWARGS, **overrides})


def forward(x, state, is_training=False, **overrides):
  return make_layer(**overrides)(x, state, is_training)


def stepped(x, state, is_training=False, **overrides):
  layer = make_layer(**overrides)

  def body(state, x_t):
    y_t, state = layer.step(x_t, state, is_training)
    return state, y_t

  state, ys = hk.scan(body, state, jnp.swapaxes(x, 0, 1))
  return jnp.swapaxes(ys, 0, 1), state


FWD = hk.transform(forward)
STEP = hk.transform(stepped)
FWD_INIT = jax.jit(FWD.init)
FWD_APPLY = jax.jit(FWD.apply)
FWD_TRAIN_APPLY = jax.jit(hk.transform(
    lambda x, s: forward(x, s, is_training=True)).apply)


def reference_spike_ssm(params, x, h0, o0, alpha, theta, noise=None):
  """float64 LIF with subtract reset, written with a post-reset membrane u.

  v_t = alpha u_{t-1} + (1-alpha)(W_in x_t + b_in + W_hid s_{t-1} + b_hid)
  s_t = [v_t > theta], u_t = v_t - theta s_t,
  o_t = alpha o_{t-1} + (1-alpha)(W_out s_t + b_out).
  Returns outputs (B, T, O), last v, last o, spikes (B, T, H) and the
  smallest |v - theta| seen.
  """
  p = {k: np.asarray(v, np.float64) for k, v in params["spike_ssm"].items()}
  w_in = p["w_in"] * p["w_in_mask"]
  w_hid = p["w_hid"] * p["w_hid_mask"]
  w_out = p["w_out"] * p["w_out_mask"]
  x = np.asarray(x, np.float64)
  v = np.asarray(h0, np.float64)
  o = np.asarray(o0, np.float64)
  s = (v > theta).astype(np.float64)
  u = v - theta * s
  ys, spikes, margin = [], [], np.inf
  for t in range(x.shape[1]):
    v = alpha * u + (1 - alpha) * (x[:, t] @ w_in + p["b_in"] + s @ w_hid +
                                   p["b_hid"])
    if noise is not None:
      v = v + noise[t]
    margin = min(margin, np.abs(v - theta).min())
    s = (v > theta).astype(np.float64)
    u = v - theta * s
    o = alpha * o + (1 - alpha) * (s @ w_out + p["b_out"])
    ys.append(o)
    spikes.append(s)
  return np.stack(ys, 1), v, o, np.stack(spikes, 1), margin


def random_inputs(seed, batch=B, length=T):
  rng = np.random.default_rng(seed)
  x = INPUT_SCALE * rng.normal(size=(batch, length, I))
  h0 = rng.uniform(0.0, 1.5, size=(batch, H))  # Some units start above.
  o0 = rng.normal(size=(batch, O))
  return x, h0, o0


def as_state(h0, o0):
  return SpikeSSMState(jnp.asarray(h0, jnp.float32),
                       jnp.asarray(o0, jnp.float32))


MASK_SPARSITIES = (0.0, 0.8, 0.99)


def mask_layers(x_t, state):
  """One layer per sparsity level, built through `step` only (the same
  parameters as `__call__`, without a sequence scan to compile)."""
  return [make_layer(sparsity_level=sparsity, name=f"layer_{i}").step(
      x_t, state) for i, sparsity in enumerate(MASK_SPARSITIES)]


MASK_INIT = jax.jit(hk.transform(mask_layers).init)
ALPHA = math.exp(-KWARGS["dt"] / KWARGS["tau"])


class SpikeSSMReferenceTest(parameterized.TestCase):

  def test_matches_float64_reference(self):
    # Given initialised params and an input with a margin to the threshold.
    x, h0, o0 = random_inputs(0)
    params = FWD_INIT(jax.random.key(0), jnp.asarray(x, jnp.float32),
                      as_state(h0, o0))
    y_ref, v_ref, o_ref, s_ref, margin = reference_spike_ssm(
        params, x, h0, o0, ALPHA, 1.0)
    self.assertGreater(margin, tol.SPIKE_MARGIN_F32)
    self.assertBetween(s_ref.mean(), 0.05, 0.95)  # Spikes and silences.
    # When the layer runs in float32 (eval: no noise, no rng).
    y, state = FWD_APPLY(params, None, jnp.asarray(x, jnp.float32),
                                  as_state(h0, o0))
    # Then outputs and state match, and so does the last spike vector.
    self.assertEqual(y.shape, (B, T, O))
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, y_ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(state.hidden_state, v_ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(state.output_state, o_ref, **tol.F32_VS_F64)
    np.testing.assert_array_equal(state.hidden_state > 1.0, s_ref[:, -1] > 0)

  def test_noise_enters_the_membrane_additively(self):
    # Given explicit noise, the pure dynamics equal the reference with it.
    x, h0, o0 = random_inputs(1)
    params = FWD_INIT(jax.random.key(1), jnp.asarray(x, jnp.float32),
                      as_state(h0, o0))
    noise = 0.3 * np.random.default_rng(1).normal(size=(T, B, H))
    y_ref, *_, margin = reference_spike_ssm(params, x, h0, o0, ALPHA, 1.0,
                                            noise)
    self.assertGreater(margin, tol.SPIKE_MARGIN_F32)
    p = params["spike_ssm"]
    masked = lambda n: p[n] * p[f"{n}_mask"]
    eff = spike_ssm.SpikeSSMParams(masked("w_in"), p["b_in"], masked("w_hid"),
                                   p["b_hid"], masked("w_out"), p["b_out"])
    y, _ = jax.jit(lambda x, s, n: spike_ssm.dynamics_sequence(
        eff, x, s, n, alpha=ALPHA, threshold=1.0, surrogate="fast_sigmoid"))(
            jnp.asarray(x.swapaxes(0, 1), jnp.float32), as_state(h0, o0),
            jnp.asarray(noise, jnp.float32))
    np.testing.assert_allclose(y.swapaxes(0, 1), y_ref, **tol.F32_VS_F64)


class SpikeSSMModesTest(parameterized.TestCase):

  def test_stepping_equals_full_call(self):
    # Given one set of params.
    x, h0, o0 = random_inputs(2)
    x32, state = jnp.asarray(x, jnp.float32), as_state(h0, o0)
    params = FWD_INIT(jax.random.key(2), x32, state)
    *_, margin = reference_spike_ssm(params, x, h0, o0, ALPHA, 1.0)
    self.assertGreater(margin, tol.SPIKE_MARGIN_F32)
    # When the sequence is run whole and step by step.
    y_full, s_full = FWD_APPLY(params, None, x32, state)
    y_step, s_step = jax.jit(STEP.apply)(params, None, x32, state)
    # Then outputs and final states agree.
    np.testing.assert_allclose(y_step, y_full, **tol.F32_SCAN_SHORT)
    chex.assert_trees_all_close(s_step, s_full, **tol.F32_SCAN_SHORT)

  def test_state_carries_across_calls(self):
    # Two calls on halves with the state handed over equal one call.
    x, h0, o0 = random_inputs(3)
    x32, state = jnp.asarray(x, jnp.float32), as_state(h0, o0)
    params = FWD_INIT(jax.random.key(3), x32, state)
    apply = FWD_APPLY
    y_full, s_full = apply(params, None, x32, state)
    y1, s1 = apply(params, None, x32[:, :5], state)
    y2, s2 = apply(params, None, x32[:, 5:], s1)
    np.testing.assert_allclose(jnp.concatenate([y1, y2], 1), y_full,
                               **tol.F32_SCAN_SHORT)
    chex.assert_trees_all_close(s2, s_full, **tol.F32_SCAN_SHORT)

  def test_time_major(self):
    x, h0, o0 = random_inputs(4)
    x32, state = jnp.asarray(x, jnp.float32), as_state(h0, o0)
    tm = hk.transform(lambda x, s: make_layer()(x, s, time_major=True))
    params = FWD_INIT(jax.random.key(4), x32, state)
    y_tm, s_tm = jax.jit(tm.apply)(params, None, x32.swapaxes(0, 1), state)
    y, s = FWD_APPLY(params, None, x32, state)
    np.testing.assert_allclose(y_tm.swapaxes(0, 1), y, **tol.F32_SCAN_SHORT)
    chex.assert_trees_all_close(s_tm, s, **tol.F32_SCAN_SHORT)

  def test_default_state_is_initial_state(self):
    x = jnp.asarray(random_inputs(5)[0], jnp.float32)
    fn = hk.transform(lambda x: make_layer()(x))
    zero = SpikeSSMState(jnp.zeros((B, H)), jnp.zeros((B, O)))
    params = FWD_INIT(jax.random.key(5), x, zero)
    chex.assert_trees_all_close(jax.jit(fn.apply)(params, None, x),
                                FWD_APPLY(params, None, x, zero))

  def test_gradients_agree_between_call_and_step(self):
    # The surrogate gradients through the scanned and stepped paths agree.
    x, h0, o0 = random_inputs(6)
    x32, state = jnp.asarray(x, jnp.float32), as_state(h0, o0)
    params = FWD_INIT(jax.random.key(6), x32, state)
    w = jnp.asarray(np.random.default_rng(6).normal(size=(B, T, O)),
                    jnp.float32)
    def loss(params, fn):
      y, s = fn.apply(params, None, x32, state)
      return jnp.sum(w * y) + jnp.sum(s.hidden_state**2)
    g_full = jax.jit(jax.grad(lambda p: loss(p, FWD)))(params)
    g_step = jax.jit(jax.grad(lambda p: loss(p, STEP)))(params)
    chex.assert_trees_all_close(g_full, g_step, **tol.F32_SCAN_SHORT)
    # And the recurrent weights do receive gradient through the spikes.
    self.assertGreater(float(jnp.abs(g_full["spike_ssm"]["w_hid"]).max()), 0)


class SpikeSSMMaskTest(parameterized.TestCase):

  def _init(self, seed):
    x, h0, o0 = random_inputs(0)
    return MASK_INIT(jax.random.key(seed), jnp.asarray(x[:, 0], jnp.float32),
                     as_state(h0, o0))

  def test_exact_fraction_removed(self):
    params = self._init(0)
    for i, sparsity in enumerate(MASK_SPARSITIES):
      p = params[f"layer_{i}"]
      for name in ("w_in", "w_hid", "w_out"):
        mask = np.asarray(p[f"{name}_mask"])
        n = mask.size
        self.assertEqual(mask.shape, p[name].shape)
        self.assertEqual(mask.dtype, np.float32)
        self.assertTrue(np.isin(mask, (0.0, 1.0)).all())
        self.assertEqual(int((mask == 0).sum()),
                         min(round(sparsity * n), n - 1), msg=(sparsity, name))

  def test_masks_reproducible_from_init_key(self):
    a, b, c = self._init(7), self._init(7), self._init(8)
    for name in ("w_in_mask", "w_hid_mask", "w_out_mask"):
      for layer in ("layer_1", "layer_2"):  # 0.0 removes nothing.
        np.testing.assert_array_equal(a[layer][name], b[layer][name])
        self.assertFalse(np.array_equal(a[layer][name], c[layer][name]),
                         msg=(layer, name))

  def test_masks_and_masked_weights_get_zero_gradient(self):
    x, h0, o0 = random_inputs(9)
    x32, state = jnp.asarray(x, jnp.float32), as_state(h0, o0)
    params = FWD_INIT(jax.random.key(9), x32, state)
    grads = jax.jit(jax.grad(
        lambda p: jnp.sum(FWD.apply(p, None, x32, state)[0]**2)))(params)
    g, p = grads["spike_ssm"], params["spike_ssm"]
    for name in ("w_in", "w_hid", "w_out"):
      np.testing.assert_array_equal(g[f"{name}_mask"], 0.0)
      np.testing.assert_array_equal(
          np.asarray(g[name])[np.asarray(p[f"{name}_mask"]) == 0], 0.0)
      self.assertGreater(float(jnp.abs(g[name]).max()), 0.0, msg=name)


class SpikeSSMNoiseTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    x, h0, o0 = random_inputs(10)
    self.x, self.state = jnp.asarray(x, jnp.float32), as_state(h0, o0)
    self.params = FWD_INIT(jax.random.key(10), self.x, self.state)
    self.apply = lambda p, r, x, s, training: (
        FWD_TRAIN_APPLY if training else FWD_APPLY)(p, r, x, s)

  def test_eval_needs_no_rng_and_ignores_it(self):
    y0, _ = self.apply(self.params, None, self.x, self.state, False)
    y1, _ = self.apply(self.params, jax.random.key(1), self.x, self.state,
                       False)
    np.testing.assert_array_equal(y0, y1)

  def test_training_noise_reproducible_from_rng(self):
    y_eval, _ = self.apply(self.params, None, self.x, self.state, False)
    y1, _ = self.apply(self.params, jax.random.key(1), self.x, self.state, True)
    y1b, _ = self.apply(self.params, jax.random.key(1), self.x, self.state,
                        True)
    y2, _ = self.apply(self.params, jax.random.key(2), self.x, self.state, True)
    np.testing.assert_array_equal(y1, y1b)
    self.assertFalse(np.allclose(y1, y2))
    self.assertFalse(np.allclose(y1, y_eval))

  def test_training_without_rng_raises(self):
    with self.assertRaises(ValueError):
      FWD.apply(self.params, None, self.x, self.state, True)

  def test_zero_noise_training_is_deterministic(self):
    fn = hk.transform(lambda x, s: forward(x, s, True, noise_std=0.0))
    y_train, _ = fn.apply(self.params, None, self.x, self.state)
    y_eval, _ = self.apply(self.params, None, self.x, self.state, False)
    np.testing.assert_array_equal(y_train, y_eval)

  def test_step_noise_reproducible_from_rng(self):
    step = hk.transform(lambda x, s: make_layer().step(x, s, True))
    run = jax.jit(step.apply)
    y1, _ = run(self.params, jax.random.key(3), self.x[:, 0], self.state)
    y1b, _ = run(self.params, jax.random.key(3), self.x[:, 0], self.state)
    y2, _ = run(self.params, jax.random.key(4), self.x[:, 0], self.state)
    np.testing.assert_array_equal(y1, y1b)
    self.assertFalse(np.allclose(y1, y2))


class SpikeSSMStructureTest(chex.TestCase):

  def test_initial_state(self):
    state = hk.transform(lambda: make_layer().initial_state(7)).apply({}, None)
    self.assertIsInstance(state, SpikeSSMState)
    self.assertEqual(state.hidden_state.shape, (7, H))
    self.assertEqual(state.output_state.shape, (7, O))
    self.assertEqual(state.hidden_state.dtype, jnp.float32)
    np.testing.assert_array_equal(state.hidden_state, 0.0)

  def test_bfloat16_compute_keeps_a_float32_carry(self):
    # Given params and inputs in bfloat16 (what a c=bf16 policy hands over).
    x, h0, o0 = random_inputs(13)
    params = FWD_INIT(jax.random.key(13), jnp.asarray(x, jnp.float32),
                      as_state(h0, o0))
    p = params["spike_ssm"]
    masked = lambda n: p[n] * p[f"{n}_mask"]
    eff = spike_ssm.SpikeSSMParams(masked("w_in"), p["b_in"], masked("w_hid"),
                                   p["b_hid"], masked("w_out"), p["b_out"])
    run = jax.jit(lambda e, x: spike_ssm.dynamics_sequence(
        e, x, as_state(h0, o0), None, alpha=ALPHA, threshold=1.0,
        surrogate="fast_sigmoid"))
    x_tm = jnp.asarray(x.swapaxes(0, 1), jnp.bfloat16)
    eff16 = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), eff)
    # When the dynamics run in bfloat16 compute.
    y16, state16 = run(eff16, x_tm)
    # Then outputs (and spikes) are bfloat16 but the carried state is float32,
    # and the outputs track the float32 run (same spike trains).
    self.assertEqual(y16.dtype, jnp.bfloat16)
    self.assertEqual(state16.hidden_state.dtype, jnp.float32)
    self.assertEqual(state16.output_state.dtype, jnp.float32)
    y32, _ = run(eff16, x_tm.astype(jnp.float32))
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32,
                               **tol.BF16_INPUT)


class SpikeSSMBadInputTest(parameterized.TestCase):

  @parameterized.parameters(
      ("input_dim", 0, ValueError), ("output_dim", -1, ValueError),
      ("hidden_dim", 2.0, TypeError), ("hidden_dim", True, TypeError),
      ("sparsity_level", 1.0, ValueError), ("sparsity_level", -0.1, ValueError),
      ("tau", 0.0, ValueError), ("dt", -1.0, ValueError),
      ("noise_std", -0.01, ValueError), ("threshold", 0.0, ValueError),
      ("tau", "10", TypeError), ("surrogate", "smooth", ValueError))
  def test_bad_hyperparameters(self, name, value, error):
    with self.assertRaisesRegex(error, f"`{name}`"):
      hk.transform(lambda: make_layer(**{name: value})).init(None)

  def _call(self, x, state):
    return FWD.init(jax.random.key(0), x, state)

  def test_x_rank(self):
    with self.assertRaisesRegex(ValueError, r"`x` must have shape \(B, T, "
                                r"input_dim\).*got \(3, 5\)"):
      self._call(jnp.zeros((3, I)), None)

  def test_x_features(self):
    with self.assertRaisesRegex(ValueError, r"input_dim=5, got \(3, 4, 6\)"):
      self._call(jnp.zeros((3, 4, 6)), None)

  def test_integer_x(self):
    with self.assertRaisesRegex(TypeError, r"`x` must be a floating"):
      self._call(jnp.zeros((3, 4, I), jnp.int32), None)

  def test_state_shapes(self):
    with self.assertRaisesRegex(ValueError, r"`state.hidden_state` must have "
                                r"shape \(B, hidden_dim\) = \(3, 16\)"):
      self._call(jnp.zeros((3, 4, I)),
                 SpikeSSMState(jnp.zeros((3, 8)), jnp.zeros((3, O))))
    with self.assertRaisesRegex(ValueError, r"`state.output_state`"):
      self._call(jnp.zeros((3, 4, I)),
                 SpikeSSMState(jnp.zeros((3, H)), jnp.zeros((2, O))))

  def test_state_type(self):
    with self.assertRaisesRegex(TypeError, r"`state` must be a SpikeSSMState"):
      self._call(jnp.zeros((3, 4, I)), jnp.zeros((3, H)))

  def test_step_x_shape(self):
    step = hk.transform(lambda x, s: make_layer().step(x, s))
    with self.assertRaisesRegex(ValueError, r"`x_t` must have shape \(B, "
                                r"input_dim\)"):
      step.init(jax.random.key(0), jnp.zeros((3, 4, I)),
                SpikeSSMState(jnp.zeros((3, H)), jnp.zeros((3, O))))


if __name__ == "__main__":
  absltest.main()
