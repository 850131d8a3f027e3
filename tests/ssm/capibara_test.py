"""Tests for spike_ssm.ssm.capibara (CapibaraJAXSSM, hippo_initialization)."""

import dataclasses

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
from ml_collections import config_dict
import numpy as np

from spike_ssm.ops import conv
from spike_ssm.ssm import capibara
from spike_ssm.ssm.capibara import CapibaraJAXSSM
from spike_ssm.ssm.capibara import hippo_initialization
from tests import tolerances as tol

B, T = 3, 10
# Same width in and out (identity residual) and different (projection).
SAME = dict(state_dim=6, input_dim=4, output_dim=4, conv_dim=3)
PROJ = dict(state_dim=5, input_dim=4, output_dim=2, conv_dim=4)
RATE = 0.25


def make_fns(config, rate=RATE):
  """(forward, stepped) transforms for one config."""
  def forward(x, state=None, deterministic=True):
    return CapibaraJAXSSM(config, rate)(x, state, deterministic)

  def stepped(x, h0):
    layer = CapibaraJAXSSM(config, rate)
    state = layer.initial_state(x.shape[0])._replace(ssm=h0)

    def body(state, x_t):
      y_t, state = layer.step(x_t, state)
      return state, y_t

    _, ys = hk.scan(body, state, jnp.swapaxes(x, 0, 1))
    return jnp.swapaxes(ys, 0, 1)

  return hk.transform(forward), hk.transform(stepped)


FNS = {"same": make_fns(SAME), "proj": make_fns(PROJ)}
INITS = {kind: jax.jit(fwd.init) for kind, (fwd, _) in FNS.items()}
APPLIES = {kind: jax.jit(fwd.apply) for kind, (fwd, _) in FNS.items()}
CONFIGS = {"same": SAME, "proj": PROJ}


def reference_legs(n):
  """HiPPO-LegS written elementwise from the paper (eq. (2))."""
  a = np.zeros((n, n))
  for i in range(n):
    for k in range(n):
      if i > k:
        a[i, k] = -np.sqrt(2 * i + 1) * np.sqrt(2 * k + 1)
      elif i == k:
        a[i, k] = -(i + 1)
  return a


def reference_capibara(params, x, h0, config):
  """float64: silu(causal conv) -> bilinear dense SSM -> C h + residual."""
  p = {k: np.asarray(v, np.float64)
       for k, v in params["capibara_jaxssm"].items()}
  x = np.asarray(x, np.float64)
  kernel = p["conv_kernel"]
  length = x.shape[1]
  pre = np.zeros_like(x)
  for t in range(length):
    for k in range(kernel.shape[0]):
      if t >= k:
        pre[:, t] += kernel[k] * x[:, t - k]
  u = pre / (1.0 + np.exp(-pre))
  dt = np.exp(p["log_dt"])
  eye = np.eye(config["state_dim"])
  inv = np.linalg.inv(eye - dt / 2 * p["a"])
  a_bar = inv @ (eye + dt / 2 * p["a"])
  b_bar = inv @ (dt * p["b"])
  h = np.asarray(h0, np.float64)
  ys = []
  for t in range(length):
    h = h @ a_bar.T + u[:, t] @ b_bar.T
    ys.append(h @ p["c"].T)
  y = np.stack(ys, 1)
  residual = x if "w_res" not in p else x @ p["w_res"]
  return y + residual


def random_inputs(seed, config, batch=B, length=T):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(batch, length, config["input_dim"]))
  h0 = rng.normal(size=(batch, config["state_dim"]))
  return x, h0


def init(kind, seed=0):
  x, h0 = random_inputs(seed, CONFIGS[kind])
  params = INITS[kind](jax.random.key(seed), jnp.asarray(x, jnp.float32),
                       jnp.asarray(h0, jnp.float32))
  return params, x, h0


class HippoTest(parameterized.TestCase):

  @parameterized.parameters(1, 2, 7)
  def test_hippo_initialization_is_legs(self, n):
    a = hippo_initialization(n)
    self.assertEqual(a.shape, (n, n))
    self.assertEqual(a.dtype, jnp.float32)
    np.testing.assert_allclose(a, reference_legs(n), **tol.F32_VS_F64)

  def test_a_parameter_starts_at_legs(self):
    params, *_ = init("same")
    np.testing.assert_allclose(params["capibara_jaxssm"]["a"],
                               reference_legs(SAME["state_dim"]),
                               **tol.F32_VS_F64)

  def test_discretised_transition_is_stable(self):
    # LegS is Hurwitz, so the bilinear A_bar is a contraction for every step.
    a = hippo_initialization(16)
    b = jnp.ones((16, 2))
    discretize = jax.jit(capibara.bilinear_dense)
    for step in (1e-3, 1e-1, 1.0, 10.0, 1e3):
      a_bar, _ = discretize(a, b, jnp.float32(step))
      radius = np.abs(np.linalg.eigvals(np.asarray(a_bar, np.float64))).max()
      self.assertLess(radius, 1.0, msg=step)

  def test_bad_size(self):
    with self.assertRaisesRegex(ValueError, "N"):
      hippo_initialization(0)


class CapibaraReferenceTest(parameterized.TestCase):

  @parameterized.parameters("same", "proj")
  def test_matches_float64_reference(self, kind):
    # Given initialised params and a non-zero initial SSM state.
    params, x, h0 = init(kind, seed=1)
    # When the layer runs deterministically in float32.
    y = APPLIES[kind](params, None, jnp.asarray(x, jnp.float32),
                           jnp.asarray(h0, jnp.float32))
    # Then it equals the float64 reference.
    self.assertEqual(y.shape, (B, T, CONFIGS[kind]["output_dim"]))
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, reference_capibara(params, x, h0,
                                                     CONFIGS[kind]),
                               **tol.F32_VS_F64)

  def test_two_dimensional_input_is_one_step(self):
    # The seed's example feeds (B, input_dim): a length-1 sequence.
    params, x, h0 = init("proj", seed=2)
    x2 = jnp.asarray(x[:, 0], jnp.float32)
    y = APPLIES["proj"](params, None, x2, jnp.asarray(h0, jnp.float32))
    self.assertEqual(y.shape, (B, PROJ["output_dim"]))
    np.testing.assert_allclose(
        y, reference_capibara(params, x[:, :1], h0, PROJ)[:, 0],
        **tol.F32_VS_F64)

  def test_ssm_step(self):
    # One step with given discrete matrices, against float64 arithmetic.
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(size=s) for s in ((5, 5), (5, 4), (2, 5)))
    h, y_prev, x_t = (rng.normal(size=s) for s in ((3, 5), (3, 2), (3, 4)))
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    fn = hk.transform(lambda *args: CapibaraJAXSSM(PROJ).ssm_step(*args))
    (h_new, y_carry), y = fn.apply({}, None, (f32(h), f32(y_prev)), f32(x_t),
                                   f32(a), f32(b), f32(c))
    np.testing.assert_allclose(h_new, h @ a.T + x_t @ b.T, **tol.F32_VS_F64)
    np.testing.assert_allclose(y, (h @ a.T + x_t @ b.T) @ c.T,
                               **tol.F32_VS_F64)
    np.testing.assert_array_equal(y_carry, y)

  def test_causal_conv_method_is_silu_of_ops_conv(self):
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(2, 7, 4)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    fn = hk.transform(lambda x, k: CapibaraJAXSSM(SAME).causal_conv(x, k))
    np.testing.assert_allclose(fn.apply({}, None, x, k),
                               jax.nn.silu(conv.causal_conv(x, k)),
                               **tol.F32_VS_F64)


class CapibaraModesTest(parameterized.TestCase):

  @parameterized.parameters("same", "proj")
  def test_stepping_equals_call(self, kind):
    params, x, h0 = init(kind, seed=5)
    _, stepped = FNS[kind]
    x32, h032 = jnp.asarray(x, jnp.float32), jnp.asarray(h0, jnp.float32)
    y_full = APPLIES[kind](params, None, x32, h032)
    y_step = jax.jit(stepped.apply)(params, None, x32, h032)
    np.testing.assert_allclose(y_step, y_full, **tol.F32_SCAN_SHORT)

  def test_time_major(self):
    params, x, h0 = init("proj", seed=6)
    tm = hk.transform(
        lambda x, s: CapibaraJAXSSM(PROJ, RATE)(x, s, time_major=True))
    x32, h032 = jnp.asarray(x, jnp.float32), jnp.asarray(h0, jnp.float32)
    y_tm = jax.jit(tm.apply)(params, None, x32.swapaxes(0, 1), h032)
    np.testing.assert_allclose(y_tm.swapaxes(0, 1),
                               APPLIES["proj"](params, None, x32, h032),
                               **tol.F32_SCAN_SHORT)

  def test_default_state_is_zero(self):
    params, x, _ = init("same", seed=7)
    x32 = jnp.asarray(x, jnp.float32)
    np.testing.assert_allclose(
        APPLIES["same"](params, None, x32, None),
        APPLIES["same"](params, None, x32, jnp.zeros((B, SAME["state_dim"]))),
        **tol.F32_SCAN_SHORT)


class CapibaraDropoutTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.params, x, h0 = init("same", seed=8)
    self.x, self.h0 = jnp.asarray(x, jnp.float32), jnp.asarray(h0, jnp.float32)
    self.eval = APPLIES["same"]
    self.train = jax.jit(hk.transform(
        lambda x, s: CapibaraJAXSSM(SAME, RATE)(x, s, False)).apply)

  def test_deterministic_needs_no_rng_and_ignores_it(self):
    np.testing.assert_array_equal(
        self.eval(self.params, None, self.x, self.h0),
        self.eval(self.params, jax.random.key(1), self.x, self.h0))

  def test_dropout_masks_the_ssm_branch_only(self):
    # Given the deterministic SSM branch y = out - x (identity residual).
    y_eval = self.eval(self.params, None, self.x, self.h0) - self.x
    # When dropout is on.
    y_train = self.train(self.params, jax.random.key(1), self.x, self.h0)
    y_train = y_train - self.x
    # Then each entry is dropped (0) or kept and scaled by 1 / (1 - rate).
    kept = np.abs(np.asarray(y_train)) > 0
    np.testing.assert_allclose(np.asarray(y_train)[kept],
                               np.asarray(y_eval)[kept] / (1 - RATE),
                               **tol.F32_SCAN_SHORT)
    self.assertBetween(1 - kept.mean(), 0.1, 0.4)  # ~RATE of B*T*O = 120.

  def test_dropout_reproducible_from_rng(self):
    a = self.train(self.params, jax.random.key(2), self.x, self.h0)
    b = self.train(self.params, jax.random.key(2), self.x, self.h0)
    c = self.train(self.params, jax.random.key(3), self.x, self.h0)
    np.testing.assert_array_equal(a, b)
    self.assertFalse(np.array_equal(a, c))

  def test_dropout_needs_rng(self):
    with self.assertRaises(ValueError):
      self.train(self.params, None, self.x, self.h0)

  def test_zero_rate_is_identity(self):
    fn = hk.transform(lambda x, s: CapibaraJAXSSM(SAME, 0.0)(x, s, False))
    np.testing.assert_array_equal(
        jax.jit(fn.apply)(self.params, None, self.x, self.h0),
        self.eval(self.params, None, self.x, self.h0))


@dataclasses.dataclass
class _AttrConfig:
  state_dim: int = 6
  input_dim: int = 4
  output_dim: int = 4
  conv_dim: int = 3


class CapibaraStructureTest(chex.TestCase):

  def test_initial_state(self):
    state = hk.transform(
        lambda: CapibaraJAXSSM(PROJ).initial_state(7)).apply({}, None)
    self.assertIsInstance(state, capibara.CapibaraState)
    self.assertEqual(state.ssm.shape, (7, PROJ["state_dim"]))
    self.assertEqual(state.conv.shape, (7, PROJ["conv_dim"] - 1,
                                        PROJ["input_dim"]))
    self.assertEqual(state.ssm.dtype, jnp.float32)

  def test_config_forms(self):
    # A dict, a ConfigDict and an attribute object give the same params tree
    # (extra entries are ignored).
    x = jnp.zeros((B, T, 4))
    trees = []
    for config in ({**SAME, "vocab_size": 7}, config_dict.ConfigDict(SAME),
                   _AttrConfig()):
      fn = hk.transform(lambda x, c=config: CapibaraJAXSSM(c)(x))
      trees.append(jax.tree_util.tree_map(
          lambda a: a.shape, jax.eval_shape(fn.init, jax.random.key(0), x)))
    self.assertEqual(trees[0], trees[1])
    self.assertEqual(trees[0], trees[2])

  def test_gradients_reach_every_parameter(self):
    params, x, h0 = init("proj", seed=10)
    fwd, _ = FNS["proj"]
    grads = jax.jit(jax.grad(lambda p: jnp.sum(fwd.apply(
        p, None, jnp.asarray(x, jnp.float32), jnp.asarray(h0, jnp.float32))**2
                                             )))(params)
    for name, g in grads["capibara_jaxssm"].items():
      self.assertTrue(np.isfinite(g).all(), msg=name)
      self.assertGreater(float(jnp.abs(g).max()), 0.0, msg=name)


class CapibaraBadInputTest(parameterized.TestCase):

  def _build(self, config, rate=RATE):
    hk.transform(lambda: CapibaraJAXSSM(config, rate)).init(None)

  @parameterized.parameters(*capibara._CONFIG_KEYS)
  def test_missing_key(self, key):
    config = {k: v for k, v in SAME.items() if k != key}
    with self.assertRaisesRegex(ValueError, f"missing key '{key}'"):
      self._build(config)

  @parameterized.parameters(("state_dim", 0, ValueError),
                            ("conv_dim", -2, ValueError),
                            ("input_dim", 4.0, TypeError),
                            ("output_dim", True, TypeError))
  def test_bad_value(self, key, value, error):
    with self.assertRaisesRegex(error, rf"`config\['{key}'\]`"):
      self._build({**SAME, key: value})

  def test_config_type(self):
    with self.assertRaisesRegex(TypeError, r"`config` must be a mapping"):
      self._build(None)

  @parameterized.parameters((1.0, ValueError), (-0.1, ValueError),
                            ("0.1", TypeError))
  def test_bad_dropout_rate(self, rate, error):
    with self.assertRaisesRegex(error, r"`dropout_rate`"):
      self._build(SAME, rate)

  def _call(self, x, state=None):
    fwd, _ = FNS["same"]
    return fwd.init(jax.random.key(0), x, state)

  def test_x_rank(self):
    with self.assertRaisesRegex(ValueError, r"`x` must have shape \(B, "
                                r"input_dim\) or \(B, T, input_dim\)"):
      self._call(jnp.zeros((2, 3, 4, 4)))

  def test_x_features(self):
    with self.assertRaisesRegex(ValueError, r"input_dim=4, got \(2, 3, 5\)"):
      self._call(jnp.zeros((2, 3, 5)))

  def test_integer_x(self):
    with self.assertRaisesRegex(TypeError, r"`x` must be a floating"):
      self._call(jnp.zeros((2, 3, 4), jnp.int32))

  def test_state_shape(self):
    with self.assertRaisesRegex(ValueError, r"`state` must have shape \(B, "
                                r"state_dim\) = \(2, 6\), got \(2, 5\)"):
      self._call(jnp.zeros((2, 3, 4)), jnp.zeros((2, 5)))

  def test_step_state(self):
    fn = hk.transform(lambda x, s: CapibaraJAXSSM(SAME).step(x, s))
    with self.assertRaisesRegex(TypeError, r"`state` must be a CapibaraState"):
      fn.init(jax.random.key(0), jnp.zeros((2, 4)), jnp.zeros((2, 6)))
    bad = capibara.CapibaraState(jnp.zeros((2, 6)), jnp.zeros((2, 3, 4)))
    with self.assertRaisesRegex(ValueError, r"`state.conv` must have shape"):
      fn.init(jax.random.key(0), jnp.zeros((2, 4)), bad)


if __name__ == "__main__":
  absltest.main()
