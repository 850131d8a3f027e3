"""Tests for spike_ssm.experimental.phasor (phasor layers and spike codec)."""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import stats

from spike_ssm.experimental import phasor
from tests import tolerances as tol

ATOL = tol.PHASE_F32["atol"]


def circular_error(a, b):
  """|a - b| on the circle, float64, in [0, pi]."""
  d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
  return np.abs(np.angle(np.exp(1j * d)))


def reference_layer(theta, kernel_re, kernel_im):
  """float64: angle(exp(i theta) @ W) and its condition number.

  Returns:
    (phases, kappa) with kappa = sum_j |W_jk| / |z_k|, the amplification of
    relative rounding in the terms into the phase of their sum.
  """
  w = np.asarray(kernel_re, np.float64) + 1j * np.asarray(kernel_im,
                                                         np.float64)
  z = np.exp(1j * np.asarray(theta, np.float64)) @ w
  kappa = np.abs(w).sum(0) / np.abs(z)
  return np.angle(z), kappa


def reference_bins(theta, T):  # pylint: disable=invalid-name
  """float64: the documented bin round((theta + pi) / (2 pi) T) mod T.

  Also returns each phase's distance (in bins) to the nearest half-bin
  boundary, where float32 rounding may legitimately pick either side.
  """
  u = (np.asarray(theta, np.float64) + np.pi) / (2 * np.pi) * T
  return np.mod(np.round(u), T).astype(int), np.abs(u - np.floor(u) - 0.5)


# ----------------------------------------------------------------------------
# The codec.
# ----------------------------------------------------------------------------

# Eager: every T is a new static shape, and a handful of eager ops is cheaper
# than one compile; `CompositionTest` covers the codec under jit.
encode = phasor.phase_to_spikes
decode = phasor.spikes_to_phase


class CodecTest(parameterized.TestCase):

  def test_bin_convention_by_hand(self):
    # Given the five quarter-turn phases on a 4-bin cycle.
    theta = np.array([-np.pi, -np.pi / 2, 0.0, np.pi / 2, np.pi], np.float32)
    # When encoded.
    spikes = np.asarray(encode(theta, 4))
    # Then -pi and pi share bin 0, -pi/2 is bin 1, 0 bin 2, pi/2 bin 3.
    self.assertEqual(spikes.shape, (4, 5))
    np.testing.assert_array_equal(spikes.argmax(0), [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(spikes.sum(0), np.ones(5))
    # And the bins decode to their documented phases, bin 0 as +pi.
    np.testing.assert_allclose(decode(spikes),
                               [np.pi, -np.pi / 2, 0.0, np.pi / 2, np.pi],
                               **tol.PHASE_F32)
    np.testing.assert_allclose(phasor.bin_phases(4),
                               [np.pi, -np.pi / 2, 0.0, np.pi / 2], **tol.F64)

  @parameterized.parameters(1, 2, 3, 7, 16, 100, 1000)
  def test_bins_and_round_trips(self, T):  # pylint: disable=invalid-name
    # Given many seeded phases (B, F) from a few turns around the circle,
    # then phases in (-pi, pi] plus the edges: +-pi, the float32 neighbours
    # of +-pi inside the interval, 0, and exact half-bin boundaries (where
    # rounding is a coin toss); and the T one-spike trains of the cycle.
    rng = np.random.default_rng(T)
    turns = rng.uniform(-3 * np.pi, 3 * np.pi, (64, 5)).astype(np.float32)
    pi32 = np.float32(np.pi)
    edges = [pi32, -pi32, np.nextafter(pi32, np.float32(0)),
             np.nextafter(-pi32, np.float32(0)), np.float32(0.0)]
    boundaries = 2 * np.pi * (np.arange(T) + 0.5) / T - np.pi
    circle = np.concatenate([
        rng.uniform(-np.pi, np.pi, 4000).astype(np.float32),
        np.asarray(edges, np.float32), boundaries.astype(np.float32)])
    trains = np.eye(T, dtype=np.float32)[:, :, None]  # [T, B=T, 1]

    # When encoded, decoded and re-encoded under one jit.
    @jax.jit
    def codec(turns, circle, trains):
      return (phasor.phase_to_spikes(turns, T),
              phasor.spikes_to_phase(phasor.phase_to_spikes(circle, T)),
              phasor.phase_to_spikes(phasor.spikes_to_phase(trains), T))

    spikes, back, again = jax.tree.map(np.asarray,
                                       codec(turns, circle, trains))
    # Then the train is time-major with exactly one spike per phase, in the
    # documented bin (wherever float32 cannot round across a boundary).
    self.assertEqual(spikes.shape, (T, 64, 5))
    self.assertEqual(spikes.dtype, np.float32)
    self.assertTrue(set(np.unique(spikes)) <= {0.0, 1.0})
    np.testing.assert_array_equal(spikes.sum(0), np.ones((64, 5)))
    want, boundary = reference_bins(turns, T)
    clear = boundary > tol.THRESHOLD_MARGIN
    self.assertGreater(clear.mean(), 0.9)
    np.testing.assert_array_equal(spikes.argmax(0)[clear], want[clear])
    # And every phase comes back within half a bin (pi/T <= 2 pi/T) on the
    # circle, and in (-pi, pi].
    err = circular_error(back, circle)
    self.assertLessEqual(err.max(), np.pi / T + ATOL)
    self.assertTrue(np.all(back > -np.pi) and np.all(back <= pi32))
    # And every one-spike train survives decoding and re-encoding exactly.
    np.testing.assert_array_equal(again, trains)

  def test_decoding_other_trains(self):
    T = 12  # pylint: disable=invalid-name
    phi = phasor.bin_phases(T)
    trains = np.zeros((T, 6), np.float32)
    trains[[2, 4], 0] = 1.0            # two spikes: circular mean
    trains[2, 1], trains[4, 1] = 3.0, 1.0  # graded: weighted circular mean
    trains[[1, 7], 2] = 1.0            # antipodal: phasors cancel
    # column 3 stays silent
    trains[[0, 11], 4] = 1.0           # a mean across the +-pi seam
    trains[:, 5] = 1.0                 # every bin: cancels
    want = [np.angle(np.exp(1j * phi[2]) + np.exp(1j * phi[4])),
            np.angle(3 * np.exp(1j * phi[2]) + np.exp(1j * phi[4])),
            0.0, 0.0,
            np.angle(np.exp(1j * phi[0]) + np.exp(1j * phi[11])),
            0.0]
    got = np.asarray(decode(trains))
    np.testing.assert_allclose(circular_error(got[:2], want[:2]), 0.0,
                               **tol.PHASE_F32)
    np.testing.assert_allclose(circular_error(got[4], want[4]), 0.0,
                               **tol.PHASE_F32)
    # The exactly-cancelling trains decode to 0 (their float32 sums are
    # rounding noise, which may give any phase, except for the silent one).
    self.assertEqual(got[3], 0.0)
    # Bool and int trains decode like float ones.
    one_hot = np.eye(T)[:, :3]
    np.testing.assert_array_equal(decode(one_hot.astype(bool)),
                                  decode(one_hot.astype(np.float32)))
    np.testing.assert_array_equal(decode(one_hot.astype(np.int32)),
                                  decode(one_hot.astype(np.float32)))

  def test_non_finite_phases_give_silent_trains(self):
    theta = np.array([np.nan, np.inf, -np.inf, 0.5], np.float32)
    spikes = np.asarray(encode(theta, 8))
    np.testing.assert_array_equal(spikes.sum(0), [0, 0, 0, 1])
    np.testing.assert_array_equal(decode(spikes)[:3], [0.0, 0.0, 0.0])

  def test_gradients(self):
    # The encoder is piecewise constant: zero gradient. The decoder is the
    # smooth circular mean: finite gradient in the spike values.
    theta = jnp.asarray([0.3, -2.0, 3.0])
    g = jax.jit(jax.grad(lambda t: jnp.sum(phasor.phase_to_spikes(t, 16) *
                                           jnp.arange(16.0)[:, None])))(theta)
    np.testing.assert_array_equal(g, np.zeros(3))
    trains = jnp.asarray(np.eye(16, dtype=np.float32)[:, 3:6])
    g = jax.jit(jax.grad(lambda s: jnp.sum(jnp.sin(
        phasor.spikes_to_phase(s)))))(trains)
    self.assertTrue(np.all(np.isfinite(g)))
    self.assertGreater(np.abs(g).max(), 0)

  def test_safe_angle(self):
    re = jnp.asarray([-1.0, -1.0, 0.0, 1.0])
    im = jnp.asarray([-0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(phasor.safe_angle(re, im),
                               [np.pi, np.pi, 0.0, np.pi / 4],
                               **tol.PHASE_F32)
    g = jax.grad(lambda r, i: phasor.safe_angle(r, i).sum(),
                 argnums=(0, 1))(re, im)
    self.assertTrue(np.all(np.isfinite(np.asarray(g))))
    np.testing.assert_array_equal(np.asarray(g)[:, 2], [0.0, 0.0])

  @parameterized.parameters(
      (0, ValueError, r"phase_to_spikes: `T` \(the number of bins per "
       r"cycle\) must be >= 1, got 0"),
      (-3, ValueError, r"must be >= 1, got -3"),
      (4.0, TypeError, r"`T` \(the number of bins per cycle\) must be a "
       r"Python int, got 4.0 of type float"),
      (True, TypeError, r"must be a Python int, got True"),
  )
  def test_bad_period(self, T, error, pattern):  # pylint: disable=invalid-name
    with self.assertRaisesRegex(error, pattern):
      phasor.phase_to_spikes(jnp.zeros((2, 3)), T)

  def test_bad_codec_inputs(self):
    with self.assertRaisesRegex(TypeError, r"phase_to_spikes: `theta` must be "
                                r"a real floating array, got dtype int32"):
      phasor.phase_to_spikes(jnp.zeros((2, 3), jnp.int32), 4)
    with self.assertRaisesRegex(TypeError, r"spikes_to_phase: `spikes` must "
                                r"be a real \(float, int or bool\) array, got "
                                r"dtype complex64"):
      phasor.spikes_to_phase(jnp.zeros((4, 3), jnp.complex64))
    with self.assertRaisesRegex(ValueError, r"spikes_to_phase: `spikes` must "
                                r"be a time-major train \(T, \.\.\.\) with "
                                r"T >= 1 bins; got shape \(\)"):
      phasor.spikes_to_phase(jnp.float32(1.0))
    with self.assertRaisesRegex(ValueError, r"got shape \(0, 2, 3\)"):
      phasor.spikes_to_phase(jnp.zeros((0, 2, 3)))


# ----------------------------------------------------------------------------
# PhasorLinear.
# ----------------------------------------------------------------------------


def _linear(out_features=5):
  return hk.transform(lambda t: phasor.PhasorLinear(out_features)(t))


class PhasorLinearTest(parameterized.TestCase):

  def test_matches_float64_reference(self):
    # Given random phases (B, in) and a randomly initialised layer.
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, (16, 7)).astype(np.float32)
    f = _linear()
    params = jax.jit(f.init)(jax.random.PRNGKey(0), theta)
    p = params["phasor_linear"]
    # When applied.
    out = np.asarray(jax.jit(f.apply)(params, None, theta))
    # Then it is angle(exp(i theta) @ W) of the float64 reference, to
    # float32 rounding amplified by the sum's condition number.
    want, kappa = reference_layer(theta, p["kernel_re"], p["kernel_im"])
    self.assertEqual(out.shape, (16, 5))
    self.assertEqual(out.dtype, np.float32)
    err = circular_error(out, want)
    self.assertTrue(np.all(err <= ATOL * kappa), (err / kappa).max())
    self.assertTrue(np.all(out > -np.pi) and np.all(out <= np.float32(np.pi)))

  def test_rotating_every_input_rotates_every_output(self):
    # exp(i (theta + c)) @ W = exp(i c) exp(i theta) @ W: a complex-linear
    # layer is equivariant to a global phase shift.
    rng = np.random.default_rng(1)
    theta = rng.uniform(-np.pi, np.pi, (8, 6)).astype(np.float32)
    f = _linear(4)
    params = jax.jit(f.init)(jax.random.PRNGKey(1), theta)
    apply = jax.jit(f.apply)
    base_out = np.asarray(apply(params, None, theta))
    _, kappa = reference_layer(theta, params["phasor_linear"]["kernel_re"],
                               params["phasor_linear"]["kernel_im"])
    for c in (0.4, -2.5, np.pi):
      shifted = np.asarray(apply(params, None, theta + np.float32(c)))
      err = circular_error(shifted, base_out + c)
      self.assertTrue(np.all(err <= 2 * ATOL * kappa), c)

  def test_init_is_a_circular_complex_gaussian(self):
    # Given a 128 -> 64 layer.
    fan_in = 128
    params = jax.jit(_linear(64).init)(
        jax.random.PRNGKey(2), jnp.zeros((1, fan_in)))["phasor_linear"]
    # Then kernel_re and kernel_im are independent N(0, 1/(2 in)) draws, so
    # E|W|^2 = 1/in (KS test on the standardised entries).
    scale = np.sqrt(2 * fan_in)
    for name in ("kernel_re", "kernel_im"):
      self.assertEqual(params[name].shape, (fan_in, 64))
      self.assertEqual(params[name].dtype, jnp.float32)
      p = stats.kstest(np.ravel(params[name]) * scale, "norm").pvalue
      self.assertGreater(p, tol.KS_ALPHA, name)
    corr = np.corrcoef(np.ravel(params["kernel_re"]),
                       np.ravel(params["kernel_im"]))[0, 1]
    # |corr| of 8192 independent pairs is ~N(0, 1/8192): 4 sigma is 0.044.
    self.assertLess(abs(corr), 4 / np.sqrt(fan_in * 64))

  def test_cancelling_inputs_give_phase_zero_and_finite_gradients(self):
    # Given a kernel column whose terms cancel exactly for equal inputs.
    params = {"phasor_linear": {
        "kernel_re": jnp.asarray([[1.0, 1.0], [-1.0, 0.5]]),
        "kernel_im": jnp.zeros((2, 2))}}
    theta = jnp.zeros((1, 2))
    f = _linear(2)
    out, grads = jax.jit(lambda p, t: (
        f.apply(p, None, t),
        jax.grad(lambda p, t: jnp.sum(jnp.cos(f.apply(p, None, t))),
                 argnums=(0, 1))(p, t)))(params, theta)
    np.testing.assert_array_equal(out[0, 0], 0.0)
    for g in jax.tree.leaves(grads):
      self.assertTrue(np.all(np.isfinite(g)))

  def test_bad_inputs(self):
    f = _linear()
    with self.assertRaisesRegex(ValueError, r"PhasorLinear: `theta` must have "
                                r"shape \(\.\.\., in\) \(rank >= 1\); got "
                                r"shape \(\)"):
      f.init(jax.random.PRNGKey(0), jnp.float32(0.0))
    with self.assertRaisesRegex(TypeError, r"PhasorLinear: `theta` must be a "
                                r"real floating array, got dtype int32"):
      f.init(jax.random.PRNGKey(0), jnp.zeros((2, 3), jnp.int32))
    params = f.init(jax.random.PRNGKey(0), jnp.zeros((2, 3)))
    with self.assertRaisesRegex(ValueError, r"PhasorLinear: `theta` has 4 "
                                r"input features but the kernel was created "
                                r"for 3 \(theta shape \(2, 4\)\)"):
      f.apply(params, None, jnp.zeros((2, 4)))
    for bad in (0, -1, 2.0, True):
      with self.assertRaisesRegex(ValueError, r"PhasorLinear: `out_features` "
                                  r"must be an int >= 1, got"):
        hk.testing.transform_and_run(lambda bad=bad: phasor.PhasorLinear(bad))()


class CompositionTest(parameterized.TestCase):

  def test_spiking_phasor_is_decode_apply_encode(self):
    # Given one cycle of spike trains (T, B, F) and a PhasorLinear.
    period = 32
    rng = np.random.default_rng(3)
    theta = rng.uniform(-np.pi, np.pi, (4, 6)).astype(np.float32)
    spikes = phasor.phase_to_spikes(theta, period)

    @hk.testing.transform_and_run(seed=0, jax_transform=jax.jit)
    def f(spikes):
      layer = phasor.PhasorLinear(3)
      out = phasor.SpikingPhasor(layer, period)(spikes)
      composed = phasor.phase_to_spikes(
          layer(phasor.spikes_to_phase(spikes)), period)
      return out, composed, layer(phasor.spikes_to_phase(spikes))

    out, composed, phases = f(spikes)
    # Then it equals the composition exactly, one spike per neuron.
    self.assertEqual(out.shape, (period, 4, 3))
    np.testing.assert_array_equal(out, composed)
    np.testing.assert_array_equal(np.asarray(out).sum(0), np.ones((4, 3)))
    np.testing.assert_array_equal(
        np.asarray(out).argmax(0), reference_bins(phases, period)[0])


class SpikingPhasorTest(parameterized.TestCase):

  def test_matches_float64_spike_pipeline(self):
    # Given random phases encoded on a 64-bin cycle, and a layer.
    period = 64
    rng = np.random.default_rng(4)
    theta = rng.uniform(-np.pi, np.pi, (32, 6)).astype(np.float32)
    spikes = phasor.phase_to_spikes(theta, period)

    def forward(spikes):
      return phasor.SpikingPhasor(phasor.PhasorLinear(5), period)(spikes)

    f = hk.transform(forward)
    params = jax.jit(f.init)(jax.random.PRNGKey(4), spikes)
    out = np.asarray(jax.jit(f.apply)(params, None, spikes))
    # Then it fires where the float64 pipeline (decode bins, complex
    # matmul, angle, documented bin rule) says, wherever the output phase is
    # not within float32 rounding of a half-bin boundary.
    in_phase = phasor.bin_phases(period)[np.asarray(spikes).argmax(0)]
    p = params["phasor_linear"]
    want_phase, _ = reference_layer(in_phase, p["kernel_re"], p["kernel_im"])
    want, boundary = reference_bins(want_phase, period)
    clear = boundary > tol.THRESHOLD_MARGIN
    self.assertGreater(clear.mean(), 0.9)
    np.testing.assert_array_equal(out.argmax(0)[clear], want[clear])
    np.testing.assert_array_equal(out.sum(0), np.ones((32, 5)))

  @parameterized.parameters(
      ((8, 3), ValueError, r"SpikingPhasor: `spikes` must be time-major "
       r"\(T, B, F\) \(rank 3\); got shape \(8, 3\)"),
      ((16, 2, 3), ValueError, r"SpikingPhasor: `spikes` must have "
       r"period_T=8 bins on axis 0 \(T, B, F\); got shape \(16, 2, 3\)"),
  )
  def test_bad_trains(self, shape, error, pattern):
    f = hk.transform(lambda s: phasor.SpikingPhasor(phasor.PhasorLinear(4),
                                                    8)(s))
    with self.assertRaisesRegex(error, pattern):
      f.init(jax.random.PRNGKey(0), jnp.zeros(shape))

  def test_bad_constructor_arguments(self):
    with self.assertRaisesRegex(TypeError, r"SpikingPhasor: `layer` must be a "
                                r"callable phases -> phases"):
      hk.testing.transform_and_run(lambda: phasor.SpikingPhasor(3, 8))()
    with self.assertRaisesRegex(ValueError, r"SpikingPhasor: `period_T` \(the "
                                r"number of bins per cycle\) must be >= 1, "
                                r"got 0"):
      hk.testing.transform_and_run(
          lambda: phasor.SpikingPhasor(phasor.PhasorLinear(2), 0))()


# ----------------------------------------------------------------------------
# PhasorMLP.
# ----------------------------------------------------------------------------


def _xor_task(n=128, features=4, seed=0):
  """Labels = XOR of the first two features' halves; the rest is noise."""
  rng = np.random.default_rng(seed)
  x = rng.uniform(0.0, 1.0, (n, features)).astype(np.float32)
  y = ((x[:, 0] > 0.5) ^ (x[:, 1] > 0.5)).astype(np.int32)
  return x, y


def _mlp(depth=2, **kwargs):
  return hk.without_apply_rng(hk.transform(
      lambda x: phasor.PhasorMLP(4, 16, 2, depth, **kwargs)(x)))


class PhasorMLPTest(parameterized.TestCase):

  def test_adam_trains_it_on_xor(self):
    # Given a two-class XOR problem (not linearly separable) and a plain
    # jitted optax.adam loop.
    x, y = _xor_task()
    f = _mlp()
    params = jax.jit(f.init)(jax.random.PRNGKey(0), x)
    opt = optax.adam(0.05)

    def loss_fn(params):
      logits = f.apply(params, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(params, opt_state):
      loss, grads = jax.value_and_grad(loss_fn)(params)
      updates, opt_state = opt.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), opt_state, loss, grads

    opt_state = opt.init(params)
    losses = []
    for _ in range(100):
      params, opt_state, loss, grads = step(params, opt_state)
      losses.append(float(loss))
      for g in jax.tree.leaves(grads):
        self.assertTrue(np.all(np.isfinite(g)))
    # Then the loss falls by more than half the label entropy (the loss of
    # the best constant predictor) and ends below half of it...
    prior = np.bincount(y) / len(y)
    entropy = -np.sum(prior * np.log(prior))
    self.assertLess(losses[-1], losses[0] - entropy / 2)
    self.assertLess(losses[-1], entropy / 2)
    # ...and training accuracy is past halfway from the majority class to
    # perfect.
    acc = np.mean(np.asarray(f.apply(params, x)).argmax(-1) == y)
    self.assertGreater(acc, (1 + prior.max()) / 2)
    self.assertEqual(set(params), {"phasor_mlp/~/phasor_linear_0",
                                   "phasor_mlp/~/phasor_linear_1"})

  def test_forward_is_the_documented_composition(self):
    # Given inputs in [0, 1] and a depth-3 MLP.
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (6, 4)).astype(np.float32)
    fwd = hk.without_apply_rng(hk.transform(lambda x: (
        lambda m: (m(x), m.phases(x)))(phasor.PhasorMLP(4, 8, 3, 3,
                                                        logit_scale=2.5))))
    params = jax.jit(fwd.init)(jax.random.PRNGKey(5), x)
    logits, phases = jax.jit(fwd.apply)(params, x)
    # Then phases = layer3(layer2(layer1(pi (x - 1/2)))) with widths 8, 8, 3,
    # and logits = 2.5 cos(phases).
    layers = [params[f"phasor_mlp/~/phasor_linear_{i}"] for i in range(3)]
    self.assertEqual([p["kernel_re"].shape for p in layers],
                     [(4, 8), (8, 8), (8, 3)])

    @jax.jit
    def composed(x):
      theta = jnp.pi * (x - 0.5)
      for p in layers:
        theta = phasor.phasor_matmul(theta, p["kernel_re"], p["kernel_im"])
      return theta

    theta = composed(x)
    np.testing.assert_allclose(circular_error(phases, theta), 0.0,
                               **tol.PHASE_F32)
    np.testing.assert_allclose(logits, 2.5 * np.cos(phases), **tol.F32_VS_F64)
    np.testing.assert_allclose(
        phasor.interval_to_phase(jnp.asarray([0.0, 0.5, 1.0])),
        [-np.pi / 2, 0.0, np.pi / 2], **tol.PHASE_F32)

  def test_spiking_run_converges_to_the_phase_run(self):
    # Given a random depth-2 MLP and inputs.
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, (16, 4)).astype(np.float32)
    g = hk.without_apply_rng(hk.transform(lambda x, period: (
        lambda m: (m.phases(x), m.spiking(x, period)))(
            phasor.PhasorMLP(4, 16, 2, 2))))
    params = jax.jit(g.init, static_argnums=2)(jax.random.PRNGKey(6), x, 8)
    apply = jax.jit(g.apply, static_argnums=2)
    # When run in the spike domain with finer and finer cycles.
    errors = []
    for period in (32, 512):
      phases, spikes = apply(params, x, period)
      self.assertEqual(spikes.shape, (period, 16, 2))
      np.testing.assert_array_equal(np.asarray(spikes).sum(0),
                                    np.ones((16, 2)))
      errors.append(circular_error(phasor.spikes_to_phase(spikes),
                                   phases).mean())
    # Then the decoded outputs approach the phase-domain outputs: 16x finer
    # bins cut the mean error by well over 4x (ideally 16x).
    self.assertLess(errors[1], errors[0] / 4)

  def test_bad_inputs(self):
    f = _mlp()
    with self.assertRaisesRegex(ValueError, r"PhasorMLP: `x` must have 4 "
                                r"features on its last axis \(in_features\); "
                                r"got shape \(2, 5\)"):
      f.init(jax.random.PRNGKey(0), jnp.zeros((2, 5)))
    with self.assertRaisesRegex(ValueError, r"PhasorMLP: `x` must have shape "
                                r"\(\.\.\., in_features\) \(rank >= 1\); got "
                                r"shape \(\)"):
      f.init(jax.random.PRNGKey(0), jnp.float32(0.5))
    with self.assertRaisesRegex(TypeError, r"PhasorMLP: `x` must be a real "
                                r"floating array, got dtype int32"):
      f.init(jax.random.PRNGKey(0), jnp.zeros((2, 4), jnp.int32))
    g = hk.transform(lambda x: phasor.PhasorMLP(4, 3, 2, 1).spiking(x, 8))
    with self.assertRaisesRegex(ValueError, r"PhasorMLP.spiking: `x` must "
                                r"have shape \(B, in_features\); got shape "
                                r"\(1, 2, 4\)"):
      g.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, 4)))

  @parameterized.parameters(
      (dict(depth=0), r"`depth` must be an int >= 1, got 0"),
      (dict(in_features=2.0), r"`in_features` must be an int >= 1, got 2.0"),
      (dict(hidden_features=-1), r"`hidden_features` must be an int >= 1"),
      (dict(out_features=True), r"`out_features` must be an int >= 1"),
      (dict(logit_scale=0.0), r"`logit_scale` must be a finite number > 0, "
       r"got 0.0"),
  )
  def test_bad_constructor_arguments(self, override, pattern):
    kwargs = dict(in_features=4, hidden_features=3, out_features=2, depth=2)
    kwargs.update(override)
    with self.assertRaisesRegex(ValueError, r"PhasorMLP: " + pattern):
      hk.testing.transform_and_run(lambda: phasor.PhasorMLP(**kwargs))()


if __name__ == "__main__":
  absltest.main()
