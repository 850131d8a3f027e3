"""Tests for spike_ssm.ops.attention."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import attention
from tests import tolerances as tol


def reference(q, k, v, key_mask, causal):
  """float64 loops over batch, head and query."""
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  b, t, h, dh = q.shape
  out = np.zeros((b, t, h, v.shape[-1]))
  for bi in range(b):
    for hi in range(h):
      for ti in range(t):
        logits = k[bi, :, hi] @ q[bi, ti, hi] / np.sqrt(dh)
        allowed = np.asarray(key_mask[bi]) > 0
        if causal:
          allowed = allowed & (np.arange(k.shape[1]) <= ti)
        w = np.where(allowed, np.exp(logits - logits[allowed].max()), 0.0)
        out[bi, ti, hi] = (w / w.sum()) @ v[bi, :, hi]
  return out


def _rand(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


class DotProductAttentionTest(chex.TestCase, parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(False, True)
  def test_matches_float64_reference(self, causal):
    # Given multi-head q, k, v with a padded second row.
    q, k, v = _rand(0, (2, 6, 3, 4)), _rand(1, (2, 6, 3, 4)), _rand(
        2, (2, 6, 3, 5))
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], np.float32)
    # When attention runs.
    out = self.variant(lambda *a: attention.dot_product_attention(
        *a, key_mask=mask, causal=causal))(q, k, v)
    # Then it matches the float64 loops.
    self.assertEqual(out.shape, (2, 6, 3, 5))
    np.testing.assert_allclose(out, reference(q, k, v, mask, causal),
                               **tol.F32_VS_F64)

  def test_all_masked_row_is_finite(self):
    q = k = v = _rand(3, (1, 3, 1, 2))
    out = attention.dot_product_attention(q, k, v,
                                          key_mask=jnp.zeros((1, 3)))
    self.assertTrue(bool(jnp.all(jnp.isfinite(out))))
    # Uniform weights: every query returns the mean value.
    np.testing.assert_allclose(out, jnp.broadcast_to(v.mean(1, keepdims=True),
                                                     v.shape),
                               **tol.F32_VS_F64)

  def test_bfloat16_values_keep_their_dtype(self):
    q = k = v = _rand(4, (1, 5, 2, 4)).astype(jnp.bfloat16)
    out = attention.dot_product_attention(q, k, v)
    self.assertEqual(out.dtype, jnp.bfloat16)

  def test_dropout_zeroes_or_rescales_each_weight(self):
    # Given uniform weights 1/4 (q = k = 0) and one-hot values, so the
    # output rows are the attention weights themselves.
    q = k = jnp.zeros((1, 4, 1, 1))
    v = jnp.eye(4)[None, :, None, :]  # [1, S=4, 1, Dv=4]
    # When attention weights are dropped at rate 1/2.
    out = attention.dot_product_attention(
        q, k, v, dropout_rng=jax.random.PRNGKey(0), dropout_rate=0.5)
    w = np.asarray(out).ravel()
    # Then each is 0 or (1/4) / (1 - 1/2), and both occur.
    np.testing.assert_allclose(np.minimum(np.abs(w), np.abs(w - 0.5)), 0.0,
                               **tol.F32_VS_F64)
    self.assertTrue(np.any(w == 0.0) and np.any(w > 0.25))

  @parameterized.parameters(
      (dict(q=(2, 3, 4)), "rank 4"),
      (dict(k=(2, 6, 3, 2), v=(2, 6, 3, 2)), "expected q"),
      (dict(k=(2, 5, 1, 2), v=(2, 5, 1, 2), causal=True), "causal.*T=6.*S=5"),
      (dict(key_mask=(2, 5)), r"key_mask.*\(2, 6\)"),
      (dict(dropout_rate=1.0), "dropout_rate"),
  )
  def test_bad_inputs(self, overrides, regex):
    shapes = dict(q=(2, 6, 1, 2), k=(2, 6, 1, 2), v=(2, 6, 1, 2))
    shapes.update({n: overrides[n] for n in ("q", "k", "v")
                   if n in overrides})
    kwargs = {}
    if "key_mask" in overrides:
      kwargs["key_mask"] = jnp.ones(overrides["key_mask"])
    for name in ("causal", "dropout_rate"):
      if name in overrides:
        kwargs[name] = overrides[name]
    with self.assertRaisesRegex(ValueError, regex):
      attention.dot_product_attention(
          *(jnp.zeros(shapes[n]) for n in ("q", "k", "v")), **kwargs)


class SinusoidalPositionsTest(parameterized.TestCase):

  @parameterized.parameters(("length", 0, 4), ("width", 3, 0),
                            ("length", 2.5, 4))
  def test_bad_sizes(self, name, length, width):
    with self.assertRaisesRegex(ValueError, name):
      attention.sinusoidal_positions(length, width)


if __name__ == "__main__":
  absltest.main()
