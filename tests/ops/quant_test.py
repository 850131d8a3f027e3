"""Tests for spike_ssm.ops.quant (fake quantisation, straight-through)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import quant
from tests import tolerances as tol


def _away_from_half(rng, shape, scaled):
  """Normal draws whose scaled values (float64) avoid k + 1/2 boundaries."""
  for _ in range(100):
    x = rng.normal(size=shape).astype(np.float32)
    y = scaled(x.astype(np.float64))
    if np.all(np.abs(np.abs(y - np.floor(y)) - 0.5) > tol.ROUNDING_MARGIN):
      return x
  raise AssertionError("could not draw inputs away from rounding boundaries")


def _int8_reference(x, axis):
  """float64 symmetric absmax int8: (codes, scale)."""
  absmax = np.max(np.abs(x), axis=axis, keepdims=True)
  scale = absmax / 127.0
  codes = np.clip(np.round(x / np.where(scale > 0, scale, 1.0)), -127, 127)
  return codes, scale


def _ternary_reference(w, eps=1e-5):
  gamma = np.mean(np.abs(w))
  return np.clip(np.round(w / (gamma + eps)), -1, 1), gamma


class Int8Test(parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(
      ((16, 8), 0),        # weight (in, out): one scale per output channel
      ((2, 5, 12), -1),    # activations (B, T, D): one scale per token
      ((6, 7), None),      # one scale for the tensor
      ((3, 4, 5), (0, 2)),
  )
  def test_matches_float64_reference(self, shape, axis):
    # Given inputs whose scaled values are clear of rounding boundaries.
    rng = np.random.default_rng(sum(shape))
    axes = axis
    x = _away_from_half(
        rng, shape, lambda x: x / _int8_reference(x, axes)[1])
    # When they are quantised.
    codes, scale = self.variant(lambda x: quant.quantize_int8(x, axis))(x)
    q = self.variant(lambda x: quant.fake_quant_int8(x, axis))(x)
    # Then codes, scales and values are the float64 reference's.
    want_codes, want_scale = _int8_reference(x.astype(np.float64), axis)
    self.assertEqual(codes.dtype, jnp.int8)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_allclose(scale, want_scale, **tol.F32_VS_F64)
    np.testing.assert_allclose(q, want_codes * want_scale, **tol.F32_VS_F64)
    # The value is exactly codes * scale (no straight-through rounding), on
    # at most 255 levels per slice, the largest magnitude at code +-127.
    np.testing.assert_array_equal(
        q, (np.asarray(codes, np.float32) * np.asarray(scale)))
    self.assertEqual(q.dtype, jnp.float32)
    self.assertEqual(np.abs(np.asarray(codes)).max(), 127)
    self.assertLessEqual(len(np.unique(np.asarray(codes))), 255)

  def test_rounds_half_to_even(self):
    # Given values at exactly 0.5, 1.5 and 2.5 quantisation steps (the step
    # is 1/16: 7.9375 = 127 / 16 is the absmax).
    x = np.array([0.5, 1.5, 2.5, -2.5, 127.0], np.float32) / 16
    codes, scale = quant.quantize_int8(x)
    # Then ties go to the even code, as np.round does.
    self.assertEqual(float(scale[0]), 1 / 16)
    np.testing.assert_array_equal(codes, [0, 2, 2, -2, 127])

  def test_zero_channel_stays_zero(self):
    w = np.zeros((4, 3), np.float32)
    w[:, 1] = [1.0, -2.0, 0.5, 0.25]
    q = quant.fake_quant_int8(w, axis=0)
    self.assertTrue(np.all(np.isfinite(q)))
    np.testing.assert_array_equal(np.asarray(q)[:, [0, 2]], 0.0)

  def test_bfloat16_input_keeps_its_dtype(self):
    x = jnp.linspace(-1.0, 1.0, 12, dtype=jnp.bfloat16).reshape(3, 4)
    self.assertEqual(quant.fake_quant_int8(x, axis=-1).dtype, jnp.bfloat16)


class TernaryTest(parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_float64_reference(self):
    # Given a weight clear of the +-0.5 gamma boundaries.
    rng = np.random.default_rng(1)
    w = _away_from_half(
        rng, (24, 10), lambda w: w / (np.mean(np.abs(w)) + 1e-5))
    # When it is quantised BitNet-style.
    codes, gamma = self.variant(quant.quantize_ternary)(w)
    q = self.variant(quant.fake_quant_ternary)(w)
    # Then codes are round-clip(w / (mean|w| + eps)) and values codes*gamma.
    want_codes, want_gamma = _ternary_reference(w.astype(np.float64))
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_allclose(gamma, want_gamma, **tol.F32_VS_F64)
    np.testing.assert_allclose(q, want_codes * want_gamma, **tol.F32_VS_F64)
    # Exactly three levels {-gamma, 0, gamma}, and some weights are clipped.
    levels = np.unique(np.asarray(q))
    np.testing.assert_array_equal(levels, [-gamma, 0.0, gamma])
    self.assertTrue(np.any(np.abs(w) > 1.5 * want_gamma))

  def test_all_zero_weight_maps_to_zero(self):
    np.testing.assert_array_equal(
        quant.fake_quant_ternary(np.zeros((3, 2), np.float32)), 0.0)


class StraightThroughTest(parameterized.TestCase):

  @parameterized.parameters(
      ("int8", lambda w: quant.fake_quant_int8(w, axis=0)),
      ("int8_tensor", lambda w: quant.fake_quant_int8(w)),
      ("ternary", quant.fake_quant_ternary),
  )
  def test_gradient_is_the_identity(self, name, fq):
    del name
    # Given a weight with entries far outside the ternary clip range.
    rng = np.random.default_rng(2)
    w = rng.normal(size=(8, 5)).astype(np.float32)
    w[0, 0] = 10.0
    g = jnp.asarray(rng.normal(size=(8, 5)), jnp.float32)
    # When a linear loss of the fake-quantised weight is differentiated in
    # reverse and in forward mode.
    grad = jax.jit(jax.grad(lambda w: jnp.sum(g * fq(w))))(w)
    _, tangent = jax.jvp(fq, (jnp.asarray(w),), (g,))
    # Then both are exactly the identity, clipped entries included.
    np.testing.assert_array_equal(grad, g)
    np.testing.assert_array_equal(tangent, g)

  def test_second_derivative_keeps_the_identity(self):
    # Higher derivatives see the straight-through identity too.
    hess = jax.jit(jax.hessian(
        lambda w: jnp.sum(quant.fake_quant_int8(w) ** 2) / 2))
    w = jnp.asarray([0.3, -1.2, 0.7], jnp.float32)
    # d/dw (q(w) * dq/dw) with dq/dw := 1 and d/dw q := 1 -> identity.
    np.testing.assert_array_equal(hess(w), np.eye(3))


class BadInputTest(parameterized.TestCase):

  @parameterized.parameters(
      (lambda: quant.fake_quant_int8(np.ones(3, np.int32)), TypeError,
       "`x` must be a floating array, got dtype int32"),
      (lambda: quant.fake_quant_int8(np.ones((2, 3)), axis=2), ValueError,
       r"`axis`=2 is out of range for an array of rank 2"),
      (lambda: quant.fake_quant_int8(np.ones((2, 3)), axis=(0, 0)),
       ValueError, "repeats an axis"),
      (lambda: quant.fake_quant_int8(np.ones((2, 3)), axis=0.5), TypeError,
       "`axis` must be None, an int or a tuple of ints"),
      (lambda: quant.fake_quant_int8(np.ones((2, 3)), axis=(0, 0.5)),
       TypeError,
       "`axis` must be None, an int or a tuple of ints"),
      (lambda: quant.fake_quant_ternary(np.ones(3, np.int8)), TypeError,
       "`x` must be a floating array"),
      (lambda: quant.fake_quant_ternary(np.ones((0, 3), np.float32)),
       ValueError, r"`w` is empty \(shape \(0, 3\)\)"),
      (lambda: quant.fake_quant_ternary(np.ones(3, np.float32), eps=-1.0),
       ValueError, "`eps` must be a finite number >= 0, got -1.0"),
  )
  def test_bad_arguments(self, fn, error, message):
    with self.assertRaisesRegex(error, message):
      fn()


if __name__ == "__main__":
  absltest.main()
