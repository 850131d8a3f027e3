"""ops.fusion.fusion_barrier: the identity, bit for bit, that XLA:CPU keeps."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import fusion


def _special(dtype, first):
  """Values with NaN, infinities and both zeros; `first` at index 0."""
  x = np.array([first, 1.5, -0.0, 0.0, np.inf, -np.inf, np.nan, -3.25e-3],
               np.float32).reshape(2, 4)
  return jnp.asarray(x, dtype)


def _bits(x):
  x = np.asarray(x)
  if np.iscomplexobj(x):
    return _bits(x.real.copy()), _bits(x.imag.copy())
  return np.ascontiguousarray(x).view(np.uint8).tobytes()


class FusionBarrierTest(parameterized.TestCase):

  @parameterized.product(dtype=(jnp.float32, jnp.bfloat16, jnp.float16),
                         first=(2.0, np.nan, -0.0),
                         jit=(False, True))
  def test_returns_the_input_bit_for_bit(self, dtype, first, jit):
    # Given values with every special case, NaN at index 0 included (the
    # loop then runs zero times) ...
    x = _special(dtype, first)
    f = jax.jit(fusion.fusion_barrier) if jit else fusion.fusion_barrier
    # ... the barrier returns them unchanged, dtype and shape included.
    y = f(x)
    self.assertEqual((y.dtype, y.shape), (x.dtype, x.shape))
    self.assertEqual(_bits(y), _bits(x))

  def test_complex_empty_and_integer_inputs(self):
    z = jnp.asarray([[1 + 2j, -0.0 - 1j], [np.nan + 0j, 3j]], jnp.complex64)
    self.assertEqual(_bits(fusion.fusion_barrier(z)), _bits(z))
    e = jnp.zeros((0, 3), jnp.float32)
    self.assertEqual(fusion.fusion_barrier(e).shape, (0, 3))
    i = jnp.arange(6, dtype=jnp.int32).reshape(2, 3)
    np.testing.assert_array_equal(jax.jit(fusion.fusion_barrier)(i), i)
    self.assertEqual(fusion.fusion_barrier(i).dtype, jnp.int32)

  def test_cotangent_passes_unchanged(self):
    # The VJP of the identity is the identity, NaN and -0.0 included.
    x = _special(jnp.float32, 2.0)
    g = _special(jnp.float32, np.nan)[::-1]
    _, vjp = jax.vjp(fusion.fusion_barrier, x)
    (gx,) = jax.jit(vjp)(g)
    self.assertEqual(_bits(gx), _bits(g))
    w = jnp.arange(8.0).reshape(2, 4)
    grad = jax.grad(lambda v: jnp.sum(fusion.fusion_barrier(v) * w))(x)
    np.testing.assert_array_equal(grad, w)

  def test_vmap_matches_the_unbatched_calls(self):
    x = jnp.stack([_special(jnp.float32, 2.0), _special(jnp.float32, np.nan)])
    y = jax.vmap(fusion.fusion_barrier)(x)
    self.assertEqual(_bits(y), _bits(x))

  def test_cpu_compiles_a_stored_value_in_both_passes(self):
    # The point of the op: on the CPU the compiled program keeps a loop
    # for the value and one for its cotangent (lax.optimization_barrier
    # would be gone by then), so consumers read it instead of recomputing.
    if jax.default_backend() != "cpu":
      self.skipTest("the barrier is the identity off the CPU")

    def loss(x):
      y = fusion.fusion_barrier(jnp.sin(x))
      return jnp.sum(y * y + jnp.cos(y))

    text = jax.jit(jax.grad(loss)).lower(
        jnp.ones((4, 8))).compile().as_text()
    self.assertEqual(text.count(" while("), 2, msg=text[-4000:])


if __name__ == "__main__":
  absltest.main()
