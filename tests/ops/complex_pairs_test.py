"""Tests for spike_ssm.ops.complex_pairs against float64 NumPy."""

from absl.testing import absltest
import chex
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import complex_pairs
from tests import tolerances as tol


def _complex(rng, shape):
  return rng.normal(size=shape) + 1j * rng.normal(size=shape)


class ComplexPairsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_projections_equal_complex_matmuls(self):
    # Given a real input, a complex state and complex matrices (float64).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3))
    w_in = _complex(rng, (4, 3))
    h = _complex(rng, (2, 5, 4))
    w_out = _complex(rng, (3, 4))
    # When projected with real matmuls in float32.
    f32 = lambda a: jnp.asarray(a, jnp.complex64)
    z = self.variant(complex_pairs.project_in)(jnp.asarray(x, jnp.float32),
                                               f32(w_in))
    y = self.variant(complex_pairs.project_out)(f32(h), f32(w_out))
    # Then they equal x W^T and Re(h W^T).
    self.assertEqual((z.dtype, y.dtype), (jnp.complex64, jnp.float32))
    np.testing.assert_allclose(z, x @ w_in.T, **tol.F32_VS_F64)
    np.testing.assert_allclose(y, np.real(h @ w_out.T), **tol.F32_VS_F64)

  def test_pairs_round_trip_and_keep_precision(self):
    rng = np.random.default_rng(1)
    z = _complex(rng, (3, 2))
    pair = complex_pairs.from_complex(jnp.asarray(z, jnp.complex64),
                                      jnp.float32)
    self.assertEqual((pair.shape, pair.dtype), ((3, 2, 2), jnp.float32))
    np.testing.assert_array_equal(pair[..., 0], np.float32(z.real))
    back = complex_pairs.to_complex(pair)
    self.assertEqual(back.dtype, jnp.complex64)
    np.testing.assert_array_equal(back, z.astype(np.complex64))

  def test_to_complex_rejects_bad_pairs(self):
    with self.assertRaisesRegex(ValueError, "trailing axis of size 2"):
      complex_pairs.to_complex(jnp.zeros((3, 3)))
    with self.assertRaisesRegex(TypeError, "real floating"):
      complex_pairs.to_complex(jnp.zeros((3, 2), jnp.int32))


if __name__ == "__main__":
  absltest.main()
