"""Tests for spike_ssm.ops.conv (causal depthwise convolution)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import conv
from tests import tolerances as tol


def reference_conv(x, kernel, activation=None):
  """float64 loop: y[b, t, d] = act(sum_k kernel[k, d] x[b, t - k, d])."""
  x = np.asarray(x, np.float64)
  kernel = np.asarray(kernel, np.float64)
  batch, length, channels = x.shape
  y = np.zeros((batch, length, channels))
  for t in range(length):
    for k in range(kernel.shape[0]):
      if t - k >= 0:
        y[:, t] += kernel[k] * x[:, t - k]
  if activation == "silu":
    y = y / (1.0 + np.exp(-y))
  return y


def direct_conv(u, k, D=None):
  """y[t] = sum_{s <= t} k[t - s] u[s] (+ D u[t]); u (..., T, H), k (L, H)."""
  u, k = np.asarray(u, np.float64), np.asarray(k, np.float64)
  y = np.zeros(u.shape)
  for t in range(u.shape[-2]):
    for s in range(max(0, t - k.shape[0] + 1), t + 1):
      y[..., t, :] += k[t - s] * u[..., s, :]
  if D is not None:
    y += np.asarray(D, np.float64) * u
  return y


def direct_anticausal(u, k):
  """y[t] = sum_{s > t} k[s - t - 1] u[s]."""
  u, k = np.asarray(u, np.float64), np.asarray(k, np.float64)
  y = np.zeros(u.shape)
  steps = u.shape[-2]
  for t in range(steps):
    for s in range(t + 1, min(steps, t + 1 + k.shape[0])):
      y[..., t, :] += k[s - t - 1] * u[..., s, :]
  return y


def random_problem(seed, batch, length, channels, taps):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(batch, length, channels))
  kernel = rng.normal(size=(taps, channels)) / np.sqrt(taps)
  return x, kernel


def scan_steps(x, kernel, activation=None):
  """Runs causal_conv_step over axis 1 of x (B, T, D) from zero history."""
  buffer = conv.conv_buffer_init(x.shape[0], kernel.shape[0], x.shape[-1],
                                 x.dtype)

  def body(buf, x_t):
    y_t, buf = conv.causal_conv_step(x_t, buf, kernel, activation)
    return buf, y_t

  buffer, ys = jax.lax.scan(body, buffer, jnp.swapaxes(x, 0, 1))
  return jnp.swapaxes(ys, 0, 1), buffer


def _primitive_names(jaxpr):
  for eqn in jaxpr.eqns:
    yield eqn.primitive.name
    for param in eqn.params.values():
      inner = getattr(param, "jaxpr", param)
      if hasattr(inner, "eqns"):
        yield from _primitive_names(inner)


class CausalConvReferenceTest(parameterized.TestCase):

  @parameterized.parameters(
      ("direct", 1, None), ("direct", 4, "silu"), ("direct", 70, None),
      ("fft", 1, "silu"), ("fft", 4, None), ("fft", 70, "silu"),
      ("auto", 4, None), ("auto", 70, "silu"))
  def test_matches_float64_reference(self, method, taps, activation):
    # Given a random problem; K=70 also exceeds T=50 (truncated taps) and
    # sends `auto` to the FFT. Every method meets every K and activation.
    x, kernel = random_problem(taps, 3, 50, 5, taps)
    # When it is convolved in float32.
    fn = jax.jit(lambda x, k: conv.causal_conv(x, k, activation, method=method))
    y = fn(jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32))
    # Then it equals the float64 loop.
    self.assertEqual(y.shape, x.shape)
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, reference_conv(x, kernel, activation),
                               **tol.F32_VS_F64)

  @parameterized.parameters(1, 3, 33)
  def test_direct_equals_fft(self, length):
    # Given a K=6 kernel and sequences shorter and longer than K.
    x, kernel = random_problem(length, 2, length, 4, 6)
    x, kernel = jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32)
    # When both methods run, Then they agree.
    run = jax.jit(conv.causal_conv, static_argnames="method")
    direct = run(x, kernel, method="direct")
    fft = run(x, kernel, method="fft")
    np.testing.assert_allclose(direct, fft, **tol.F32_VS_F64)

  def test_impulse_response_is_the_kernel(self):
    # Given a unit impulse at t=2, the output is the kernel shifted by 2:
    # this pins the tap order (kernel[0] multiplies the current input).
    kernel = jnp.asarray([[1.0], [2.0], [3.0]])
    x = jnp.zeros((1, 7, 1)).at[0, 2, 0].set(1.0)
    for method in ("direct", "fft"):
      y = jax.jit(lambda x, k, m=method: conv.causal_conv(x, k, method=m))(
          x, kernel)
      np.testing.assert_allclose(y[0, :, 0], [0, 0, 1, 2, 3, 0, 0],
                                 **tol.F32_VS_F64)

  def test_time_major_and_batch_shapes(self):
    x, kernel = random_problem(0, 2, 9, 3, 4)
    x, kernel = jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32)
    expected = reference_conv(x, kernel)
    # Time-major input gives the transposed output.
    run = jax.jit(conv.causal_conv,
                  static_argnames=("activation", "method", "time_major"))
    tm = run(jnp.swapaxes(x, 0, 1), kernel, time_major=True)
    np.testing.assert_allclose(jnp.swapaxes(tm, 0, 1), expected,
                               **tol.F32_VS_F64)
    # Unbatched (T, D) input.
    np.testing.assert_allclose(run(x[0], kernel), expected[0],
                               **tol.F32_VS_F64)
    # Two batch axes (B1, B2, T, D).
    x4 = jnp.stack([x, 2 * x])
    y4 = run(x4, kernel, method="fft")
    np.testing.assert_allclose(y4, np.stack([expected, 2 * expected]),
                               **tol.F32_VS_F64)

  def test_callable_activation(self):
    x, kernel = random_problem(1, 2, 10, 3, 3)
    y = jax.jit(lambda x, k: conv.causal_conv(x, k, jnp.tanh))(
        jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32))
    np.testing.assert_allclose(y, np.tanh(reference_conv(x, kernel)),
                               **tol.F32_VS_F64)

  @parameterized.parameters("direct", "fft")
  def test_bfloat16_input_keeps_dtype_and_accuracy(self, method):
    x, kernel = random_problem(2, 2, 40, 8, 5)
    x16 = jnp.asarray(x, jnp.bfloat16)
    k16 = jnp.asarray(kernel, jnp.bfloat16)
    y = conv.causal_conv(x16, k16, method=method)
    self.assertEqual(y.dtype, jnp.bfloat16)
    expected = reference_conv(np.asarray(x16, np.float64),
                              np.asarray(k16, np.float64))
    np.testing.assert_allclose(np.asarray(y, np.float32), expected,
                               **tol.BF16_INPUT)

  def test_auto_picks_fft_only_above_the_threshold(self):
    x = jnp.ones((1, 200, 2))
    def uses_fft(taps):
      jaxpr = jax.make_jaxpr(lambda x, k: conv.causal_conv(x, k))(
          x, jnp.ones((taps, 2)))
      return "fft" in set(_primitive_names(jaxpr.jaxpr))
    self.assertFalse(uses_fft(conv.FFT_MIN_TAPS))
    self.assertTrue(uses_fft(conv.FFT_MIN_TAPS + 1))

  def test_gradient_agrees_between_methods(self):
    x, kernel = random_problem(3, 2, 20, 3, 5)
    x, kernel = jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32)
    w = jnp.asarray(np.random.default_rng(3).normal(size=x.shape), jnp.float32)
    def loss(x, k, method):
      return jnp.sum(w * conv.causal_conv(x, k, "silu", method=method))
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    g_direct = grad(x, kernel, "direct")
    g_fft = grad(x, kernel, "fft")
    for a, b in zip(g_direct, g_fft):
      np.testing.assert_allclose(a, b, **tol.F32_SCAN_SHORT)


class CausalConvStepTest(parameterized.TestCase):

  @parameterized.parameters((1, None), (3, "silu"), (6, None))
  def test_scanned_steps_equal_full_conv(self, taps, activation):
    # Given T=11 (and, for K=6, more taps than the first few steps have seen).
    x, kernel = random_problem(taps, 2, 11, 4, taps)
    x32, k32 = jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32)
    # When the step is scanned over time.
    ys, buffer = jax.jit(lambda x, k: scan_steps(x, k, activation))(x32, k32)
    # Then it equals the whole-sequence conv and the reference.
    np.testing.assert_allclose(
        ys, conv.causal_conv(x32, k32, activation), **tol.F32_VS_F64)
    np.testing.assert_allclose(ys, reference_conv(x, kernel, activation),
                               **tol.F32_VS_F64)
    # And the buffer holds the last K-1 inputs, oldest first.
    self.assertEqual(buffer.shape, (2, taps - 1, 4))
    np.testing.assert_array_equal(buffer, x32[:, 11 - (taps - 1):])

  def test_short_history_is_zero_padded(self):
    # After 2 steps with K=5 the buffer is [0, 0, x0, x1].
    x = jnp.asarray([[[1.0], [2.0]]])
    _, buffer = scan_steps(x, jnp.ones((5, 1)))
    np.testing.assert_array_equal(buffer[0, :, 0], [0.0, 0.0, 1.0, 2.0])

  def test_buffer_init(self):
    buf = conv.conv_buffer_init(3, 4, 5, jnp.bfloat16)
    self.assertEqual(buf.shape, (3, 3, 5))
    self.assertEqual(buf.dtype, jnp.bfloat16)
    np.testing.assert_array_equal(buf, 0)


class CausalConvVariantsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters("direct", "fft")
  def test_jit_and_no_jit_agree_with_reference(self, method):
    x, kernel = random_problem(4, 2, 12, 3, 4)
    fn = self.variant(
        lambda x, k: conv.causal_conv(x, k, "silu", method=method))
    y = fn(jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32))
    np.testing.assert_allclose(y, reference_conv(x, kernel, "silu"),
                               **tol.F32_VS_F64)

  @chex.variants(with_jit=True, without_jit=True)
  def test_step_jit_and_no_jit(self):
    x, kernel = random_problem(5, 2, 1, 3, 4)
    buffer = jnp.asarray(np.random.default_rng(5).normal(size=(2, 3, 3)),
                         jnp.float32)
    step = self.variant(conv.causal_conv_step)
    y, new_buffer = step(jnp.asarray(x[:, 0], jnp.float32), buffer,
                         jnp.asarray(kernel, jnp.float32))
    # The step is the last output of a conv over [buffer, x_t].
    seq = np.concatenate([np.asarray(buffer, np.float64), x], axis=1)
    np.testing.assert_allclose(y, reference_conv(seq, kernel)[:, -1],
                               **tol.F32_VS_F64)
    np.testing.assert_array_equal(new_buffer, seq[:, 1:].astype(np.float32))


class CausalConvBadInputTest(parameterized.TestCase):

  def test_kernel_rank(self):
    with self.assertRaisesRegex(ValueError, r"`kernel` must have rank 2"):
      conv.causal_conv(jnp.ones((2, 5, 3)), jnp.ones((4,)))

  def test_kernel_channels(self):
    with self.assertRaisesRegex(ValueError, r"`kernel` has 2 channels.*D=3"):
      conv.causal_conv(jnp.ones((2, 5, 3)), jnp.ones((4, 2)))

  def test_zero_taps(self):
    with self.assertRaisesRegex(ValueError, r"K >= 1"):
      conv.causal_conv(jnp.ones((2, 5, 3)), jnp.ones((0, 3)))

  def test_bad_method(self):
    with self.assertRaisesRegex(ValueError, r"`method` must be one of"):
      conv.causal_conv(jnp.ones((2, 5, 3)), jnp.ones((4, 3)), method="fast")

  def test_bad_activation_name(self):
    with self.assertRaisesRegex(ValueError, r"`activation`.*'relu6'"):
      conv.causal_conv(jnp.ones((2, 5, 3)), jnp.ones((4, 3)), "relu6")

  def test_bad_activation_type(self):
    with self.assertRaisesRegex(TypeError, r"`activation`"):
      conv.causal_conv(jnp.ones((2, 5, 3)), jnp.ones((4, 3)), 3)

  def test_rank_one_input(self):
    with self.assertRaisesRegex(ValueError, r"`x` must have a time"):
      conv.causal_conv(jnp.ones((5,)), jnp.ones((4, 5)))

  def test_integer_input(self):
    with self.assertRaisesRegex(TypeError, r"`x` must be a floating"):
      conv.causal_conv(jnp.ones((2, 5, 3), jnp.int32), jnp.ones((4, 3)))

  def test_step_buffer_shape(self):
    with self.assertRaisesRegex(ValueError, r"`buffer` must have shape "
                                r"\(2, 3, 3\).*got \(2, 4, 3\)"):
      conv.causal_conv_step(jnp.ones((2, 3)), jnp.ones((2, 4, 3)),
                            jnp.ones((4, 3)))

  def test_step_kernel_channels(self):
    with self.assertRaisesRegex(ValueError, r"`kernel` has 5 channels"):
      conv.causal_conv_step(jnp.ones((2, 3)), jnp.ones((2, 3, 3)),
                            jnp.ones((4, 5)))

  def test_step_bad_activation(self):
    with self.assertRaisesRegex(ValueError, r"`activation`"):
      conv.causal_conv_step(jnp.ones((2, 3)), jnp.ones((2, 3, 3)),
                            jnp.ones((4, 3)), "gelu_fancy")

  @parameterized.parameters(("batch", -1, 4, 3), ("kernel_size", 2, 0, 3),
                            ("channels", 2, 4, 0), ("kernel_size", 2, 2.0, 3))
  def test_buffer_init_bad_sizes(self, name, batch, taps, channels):
    with self.assertRaisesRegex(ValueError, f"`{name}` must be an int"):
      conv.conv_buffer_init(batch, taps, channels)


# ----------------------------------------------------------------------------
# Long-kernel FFT convolution with a skip (S4 / S4D).
# ----------------------------------------------------------------------------


class FFTConvTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  # Kernels as long as, longer and shorter than T = 13.
  @parameterized.parameters((False, 13, False), (True, 20, True),
                            (True, 6, False))
  def test_matches_direct_convolution(self, batched, kernel_length, skip):
    # Given T = 13, an unbatched or batched input and an optional skip.
    rng = np.random.default_rng(kernel_length + 2 * skip + batched)
    shape = (2, 13, 3) if batched else (13, 3)
    u = rng.normal(size=shape).astype(np.float32)
    k = rng.normal(size=(kernel_length, 3)).astype(np.float32)
    D = rng.normal(size=3).astype(np.float32) if skip else None
    got = self.variant(conv.fft_conv)(u, k, D)
    self.assertEqual(got.shape, shape)
    self.assertEqual(got.dtype, jnp.float32)
    np.testing.assert_allclose(got, direct_conv(u, k, D), **tol.F32_VS_F64)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((11, 11, True), (4, 30, False))
  def test_bidirectional_matches_two_direct_sums(self, len_fwd, len_bwd,
                                                 skip):
    rng = np.random.default_rng(len_fwd)
    u = rng.normal(size=(2, 11, 3)).astype(np.float32)
    kf = rng.normal(size=(len_fwd, 3)).astype(np.float32)
    kb = rng.normal(size=(len_bwd, 3)).astype(np.float32)
    D = rng.normal(size=3).astype(np.float32) if skip else None
    got = self.variant(conv.fft_conv_bidirectional)(u, kf, kb, D)
    np.testing.assert_allclose(
        got, direct_conv(u, kf, D) + direct_anticausal(u, kb),
        **tol.F32_VS_F64)

  def test_backward_kernel_sees_only_the_strict_future(self):
    # Given an impulse at t = 5 and a backward kernel of ones.
    u = np.zeros((9, 1), np.float32)
    u[5] = 1.0
    y = conv.fft_conv_bidirectional(u, np.zeros((9, 1)), np.ones((9, 1)))
    # Then exactly the outputs before t = 5 respond.
    np.testing.assert_allclose(y[:, 0], [1, 1, 1, 1, 1, 0, 0, 0, 0],
                               **tol.F32_VS_F64)

  def test_bad_arguments(self):
    u, k = jnp.ones((2, 5, 3)), jnp.ones((5, 3))
    with self.assertRaisesRegex(ValueError, r"u must have shape \(T, H\)"):
      conv.fft_conv(jnp.ones(5), k)
    with self.assertRaisesRegex(TypeError, "u must be a floating.*int32"):
      conv.fft_conv(jnp.ones((5, 3), jnp.int32), k)
    with self.assertRaisesRegex(ValueError, r"k must have shape \(L, H\) with "
                                r"H = 3.*\(5, 4\)"):
      conv.fft_conv(u, jnp.ones((5, 4)))
    with self.assertRaisesRegex(ValueError, r"k_bwd must have shape"):
      conv.fft_conv_bidirectional(u, k, jnp.ones(5))
    with self.assertRaisesRegex(ValueError, r"D must have shape \(H,\)"):
      conv.fft_conv(u, k, jnp.ones(4))
    with self.assertRaisesRegex(TypeError, "k must be real floating"):
      conv.fft_conv(u, k.astype(jnp.complex64))


if __name__ == "__main__":
  absltest.main()
