"""Tests for spike_ssm.ops.complex_pairs against float64 NumPy."""

from absl.testing import absltest
import chex
import jax
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

  def test_split_projection_gradients_match_float64_reference(self):
    # Given a real input, a split state, complex weights as (re, im) parts
    # and a random linear loss on each output (float64 NumPy references).
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 2, 3))
    h = rng.normal(size=(6, 2, 8))  # K = 4: [re | im]
    w_in = _complex(rng, (4, 3))
    w_out = _complex(rng, (3, 4))
    v_in = rng.normal(size=(6, 2, 8))
    v_out = rng.normal(size=(6, 2, 3))
    f32 = lambda a: jnp.asarray(a, jnp.float32)

    def loss_in(x, wr, wi):
      z = complex_pairs.project_in_split(x, jax.lax.complex(wr, wi))
      return jnp.sum(f32(v_in) * z)

    def loss_out(h, wr, wi):
      y = complex_pairs.project_out_split(h, jax.lax.complex(wr, wi))
      return jnp.sum(f32(v_out) * y)

    # When differentiated through the custom VJP (under jit).
    g_in = jax.jit(jax.grad(loss_in, argnums=(0, 1, 2)))(
        f32(x), f32(w_in.real), f32(w_in.imag))
    g_out = jax.jit(jax.grad(loss_out, argnums=(0, 1, 2)))(
        f32(h), f32(w_out.real), f32(w_out.imag))
    # Then z = x [Wr; Wi]^T and y = h [Wr, -Wi]^T have these gradients.
    rows = lambda a: a.reshape(-1, a.shape[-1])
    want_in = (v_in @ np.concatenate([w_in.real, w_in.imag]),
               rows(v_in[..., :4]).T @ rows(x),
               rows(v_in[..., 4:]).T @ rows(x))
    want_out = (v_out @ np.concatenate([w_out.real, -w_out.imag], axis=-1),
                rows(v_out).T @ rows(h[..., :4]),
                -rows(v_out).T @ rows(h[..., 4:]))
    for got, want in zip(g_in + g_out, want_in + want_out):
      self.assertEqual(got.dtype, jnp.float32)
      np.testing.assert_allclose(got, want, **tol.F32_VS_F64)

  def test_split_projection_gradient_dtypes_follow_inputs(self):
    # A bfloat16 input with float32 weights: each gradient in its primal's
    # dtype, as plain autodiff of the same product gives.
    x = jnp.ones((5, 3), jnp.bfloat16)
    w = jnp.ones((2, 3), jnp.float32)
    g_x, g_w = jax.grad(
        lambda x, w: complex_pairs.project_in_split(
            x, jax.lax.complex(w, w)).sum(), argnums=(0, 1))(x, w)
    self.assertEqual((g_x.dtype, g_w.dtype), (jnp.bfloat16, jnp.float32))

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
