"""Tests for spike_ssm.layers.pointwise.Dense."""

from absl.testing import absltest
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import layers
from spike_ssm import zoo
from tests import tolerances


def _apply(x, **kwargs):
  f = hk.without_apply_rng(hk.transform(
      lambda x: layers.Dense(**kwargs)(x)))
  params = f.init(jax.random.PRNGKey(0), x)
  return params, f.apply(params, x)


class DenseTest(absltest.TestCase):

  def test_matches_a_float64_reference_at_every_position(self):
    # Given a (B, T, D) input.
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    # When the layer maps it to 4 channels.
    params, y = _apply(jnp.asarray(x), output_size=4)
    w = np.asarray(params["dense/linear"]["w"], np.float64)
    b = np.asarray(params["dense/linear"]["b"], np.float64)
    # Then y_t = x_t W + b at each position, in x's dtype.
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(np.asarray(y), x.astype(np.float64) @ w + b,
                               **tolerances.F32_VS_F64)

  def test_no_mixing_over_time_and_width_kept_by_default(self):
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype(np.float32)
    _, y = _apply(jnp.asarray(x))
    self.assertEqual(y.shape, (2, 6, 3))
    x2 = x.copy()
    x2[:, 4] += 10.0
    _, y2 = _apply(jnp.asarray(x2))
    changed = np.any(np.asarray(y2) != np.asarray(y), axis=(0, 2))
    np.testing.assert_array_equal(changed, [0, 0, 0, 0, 1, 0])

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, "Dense: `x` must have rank 3"):
      _apply(jnp.zeros((2, 3)))
    with self.assertRaisesRegex(TypeError, "Dense: `x` must be floating"):
      _apply(jnp.zeros((2, 3, 4), jnp.int32))
    with self.assertRaisesRegex(ValueError, "`output_size` must be an int"):
      _apply(jnp.zeros((2, 3, 4)), output_size=0)

  def test_zoo_entry(self):
    # The parameter tree (golden), bfloat16 and jit contracts: descriptors.
    self.assertIs(zoo.layer_class("dense"), layers.Dense)
    self.assertFalse(getattr(layers.Dense, "ssm_core", False))


if __name__ == "__main__":
  absltest.main()
