"""Tests for spike_ssm.experimental.compress (bit-packed spike residuals)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np

from benchmarks import packed_bptt
from spike_ssm.experimental import compress
from tests import tolerances as tol


def _binary(rng, shape, dtype=np.float32):
  return rng.integers(0, 2, size=shape).astype(dtype)


class PackTest(parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(0, 1, 2, -1)
  def test_matches_numpy_packbits_and_round_trips(self, axis):
    # Given spikes whose axes (11, 6, 13) are not all multiples of 8.
    x = _binary(np.random.default_rng(axis + 5), (11, 6, 13))
    # When they are packed and unpacked along `axis`.
    packed = self.variant(lambda x: compress.pack_spikes(x, axis))(x)
    back = self.variant(lambda p: compress.unpack_spikes(
        p, x.shape[axis], axis, jnp.float32))(packed)
    # Then the bytes are NumPy's big-endian, zero-padded packbits and the
    # round trip is exact, in the requested dtype.
    self.assertEqual(packed.dtype, jnp.uint8)
    np.testing.assert_array_equal(packed, np.packbits(x != 0, axis=axis))
    self.assertEqual(back.dtype, jnp.float32)
    np.testing.assert_array_equal(back, x)

  def test_bit_order_is_big_endian(self):
    # The first spike of a group is the most significant bit.
    x = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], np.float32)
    np.testing.assert_array_equal(compress.pack_spikes(x), [128, 64])

  def test_any_nonzero_packs_as_one(self):
    x = np.array([[0.0, 2.0, -1.0, 0.5, 0.0, 0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(compress.pack_spikes(x), [[0b01110001]])
    np.testing.assert_array_equal(
        compress.pack_spikes(x.astype(bool)), [[0b01110001]])

  def test_unpack_default_dtype_is_uint8(self):
    packed = compress.pack_spikes(np.ones((2, 9), np.float32))
    out = compress.unpack_spikes(packed, 9)
    self.assertEqual(out.dtype, jnp.uint8)
    np.testing.assert_array_equal(out, np.ones((2, 9)))


class PackedSpikeDenseTest(parameterized.TestCase):

  @parameterized.parameters(jnp.float32, jnp.bfloat16)
  def test_forward_and_gradients_are_bit_identical_to_dense(self, dtype):
    # Given binary spikes (3, 5, 13) and a float32 weight (13, 7).
    rng = np.random.default_rng(0)
    s = jnp.asarray(_binary(rng, (3, 5, 13)), dtype)
    w = jnp.asarray(rng.normal(size=(13, 7)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(3, 5, 7)), jnp.float32)

    # (Arguments, not closures: XLA would constant-fold a closed-over
    # product with its own evaluator.)
    def outputs(fn, s, w, g):
      out, pullback = jax.vjp(fn, s, w)
      return (out, *pullback(g))

    # When the packed product and the plain matmul are differentiated.
    got = jax.jit(outputs, static_argnums=0)(compress.packed_spike_dense, s,
                                             w, g)
    want = jax.jit(outputs, static_argnums=0)(jnp.matmul, s, w, g)
    # Then output, dL/ds and dL/dW agree bit for bit, dtypes included.
    for a, b in zip(got, want):
      self.assertEqual(a.dtype, b.dtype)
      self.assertGreater(np.abs(np.asarray(b, np.float32)).max(), 0)
      np.testing.assert_array_equal(a, b)

  def test_only_the_packed_spikes_are_saved(self):
    # Given spikes (3, 5, 13) and a weight (13, 7).
    s = jax.ShapeDtypeStruct((3, 5, 13), jnp.float32)
    w = jax.ShapeDtypeStruct((13, 7), jnp.float32)

    def residuals(fn):
      return jax.eval_shape(
          lambda s, w: jax.tree.leaves(jax.vjp(fn, s, w)[1]), s, w)

    # When the pullbacks' residuals are listed.
    packed = residuals(compress.packed_spike_dense)
    dense = residuals(jnp.matmul)
    # Then the packed product keeps one uint8 array of ceil(13 / 8) = 2
    # bytes per row and no float array of the spikes' shape...
    shapes = [(r.shape, r.dtype) for r in packed]
    self.assertIn(((3, 5, 2), jnp.uint8), shapes)
    self.assertNotIn(((3, 5, 13), jnp.float32), shapes)
    # ... where the plain product keeps the float spikes (the control).
    self.assertIn(((3, 5, 13), jnp.float32),
                  [(r.shape, r.dtype) for r in dense])
    nbytes = lambda rs: sum(r.size * r.dtype.itemsize for r in rs
                            if r.shape[:2] == (3, 5))
    self.assertEqual(nbytes(dense) / nbytes(packed), 13 * 4 / 2)

  def test_non_binary_input_is_binarised_consistently(self):
    # Given a non-binary "spike" tensor (the documented default: binarise).
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.choice([0.0, 0.5, 1.0, 2.0, -3.0], size=(4, 9)),
                    jnp.float32)
    w = jnp.asarray(rng.normal(size=(9, 3)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    # When it goes through the packed product.
    out, pullback = jax.vjp(compress.packed_spike_dense, x, w)
    dx, dw = pullback(g)
    # Then forward and weight gradient see `x != 0`, and the input gradient
    # is passed straight through.
    b = (np.asarray(x) != 0).astype(np.float64)
    wn, gn = np.asarray(w, np.float64), np.asarray(g, np.float64)
    np.testing.assert_allclose(out, b @ wn, **tol.F32_VS_F64)
    np.testing.assert_allclose(dw, b.T @ gn, **tol.F32_VS_F64)
    np.testing.assert_allclose(dx, gn @ wn.T, **tol.F32_VS_F64)

  def test_check_rejects_non_binary_eagerly_and_under_checkify(self):
    w = jnp.ones((4, 2), jnp.float32)
    bad = jnp.array([[0.0, 1.0, 0.5, 1.0]], jnp.float32)
    good = jnp.array([[0.0, 1.0, 1.0, 0.0]], jnp.float32)
    # Eagerly the check raises, naming the argument and the bad value.
    with self.assertRaisesRegex(checkify.JaxRuntimeError,
                                r"`spikes` must be binary.*0\.5"):
      compress.packed_spike_dense(bad, w, check=True)
    # Under jit the caller functionalises the check.
    checked = jax.jit(checkify.checkify(
        lambda s: compress.packed_spike_dense(s, w, check=True)))
    err, _ = checked(bad)
    self.assertIn("must be binary", err.get())
    err, out = checked(good)
    self.assertIsNone(err.get())
    np.testing.assert_array_equal(out, good @ w)

  @parameterized.parameters(
      (np.zeros((2, 4), np.int32), np.zeros((4, 3), np.float32), TypeError,
       "`spikes` must be a floating array"),
      (np.zeros((2, 4), np.float32), np.zeros((4, 3), np.int32), TypeError,
       "`weight` must be a floating array"),
      (np.zeros((2, 4), np.float32), np.zeros((4, 3, 1), np.float32),
       ValueError, r"`weight` must be 2-D \(in, out\), got shape \(4, 3, 1\)"),
      (np.zeros((2, 5), np.float32), np.zeros((4, 3), np.float32), ValueError,
       r"`spikes` must have shape \(\.\.\., 4\).*got \(2, 5\)"),
  )
  def test_bad_inputs(self, s, w, error, message):
    with self.assertRaisesRegex(error, message):
      compress.packed_spike_dense(s, w)

  @parameterized.parameters(
      (lambda: compress.pack_spikes(np.float32(1.0)), ValueError,
       "`x` must have rank >= 1"),
      (lambda: compress.pack_spikes(np.ones((2, 3)), axis=2), ValueError,
       "`axis`=2 is out of range"),
      (lambda: compress.pack_spikes(np.ones((2, 3)), axis=1.0), TypeError,
       "`axis` must be an int"),
      (lambda: compress.unpack_spikes(np.ones((2, 3), np.int32), 20),
       TypeError, "`packed` must be uint8"),
      (lambda: compress.unpack_spikes(np.ones((2, 3), np.uint8), 25),
       ValueError, r"`length`=25 needs 4 bytes.*has 3"),
      (lambda: compress.unpack_spikes(np.ones((2, 3), np.uint8), 2.0),
       TypeError, "`length` must be an int"),
  )
  def test_bad_pack_arguments(self, fn, error, message):
    with self.assertRaisesRegex(error, message):
      fn()


class PackedSpikeLinearTest(parameterized.TestCase):

  def _pair(self, with_bias=True):
    def f(s, packed):
      cls = compress.PackedSpikeLinear if packed else hk.Linear
      return cls(6, with_bias=with_bias, name="linear")(s)
    return hk.transform(f)

  @parameterized.parameters(True, False)
  def test_equals_hk_linear_with_the_same_parameters(self, with_bias):
    # Given binary spikes (2, 7, 10) (batch, time, features).
    rng = np.random.default_rng(2)
    s = jnp.asarray(_binary(rng, (2, 7, 10)))
    f = self._pair(with_bias)
    key = jax.random.PRNGKey(0)
    # When both layers are initialised with one key.
    p_packed = f.init(key, s, True)
    p_dense = f.init(key, s, False)
    # Then they create the same parameters, names and values alike...
    chex.assert_trees_all_equal(p_packed, p_dense)
    # ... and give the same outputs and parameter gradients.
    loss = lambda p, packed: jnp.sum(jnp.sin(f.apply(p, None, s, packed)))
    grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    chex.assert_trees_all_equal(grad(p_packed, True), grad(p_dense, False))

  @parameterized.parameters(
      (dict(out_features=0), ValueError, "out_features must be a positive"),
      (dict(out_features=2.0), ValueError, "out_features must be a positive"),
  )
  def test_bad_constructor_arguments(self, kwargs, error, message):
    with self.assertRaisesRegex(error, message):
      hk.transform(lambda: compress.PackedSpikeLinear(**kwargs)).init(None)

  def test_integer_input_is_rejected(self):
    f = hk.transform(lambda s: compress.PackedSpikeLinear(2)(s))
    with self.assertRaisesRegex(TypeError, "`spikes` must be a floating"):
      f.init(jax.random.PRNGKey(0), jnp.zeros((2, 3), jnp.int32))


class BenchmarkTest(absltest.TestCase):

  def test_smoke_benchmark_shrinks_the_spike_residual(self):
    # Given the memory benchmark on tiny shapes (B=2, T=16, D=16, 3 layers).
    payload = packed_bptt.main(["--smoke"])
    dense, packed = payload["rows"]
    self.assertEqual((dense["variant"], packed["variant"]),
                     ("dense", "packed"))
    # Then the packed variant keeps uint8 spikes only: 16 spikes in 2 bytes
    # instead of 64 (32x), and less residual memory overall.
    self.assertEqual(dense["residuals"]["packed_spikes"], 0)
    self.assertEqual(packed["residuals"]["packed_spikes"], 3 * 16 * 2 * 2)
    membranes = 3 * 16 * 2 * 16 * 4
    self.assertEqual(dense["residuals"]["float_TBD"], 2 * membranes)
    self.assertEqual(packed["residuals"]["float_TBD"], membranes)
    self.assertLess(packed["residuals"]["total"], dense["residuals"]["total"])


if __name__ == "__main__":
  absltest.main()
