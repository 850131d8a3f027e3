"""float64 checks of spike_ssm.ops.conv: exact references and gradients.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import numpy as np

from spike_ssm.ops import conv
from tests import tolerances as tol
from tests.ops import conv_test as ref


class CausalConvGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.product(method=("direct", "fft"), activation=(None, "silu"))
  def test_causal_conv_gradients(self, method, activation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 3))
    kernel = rng.normal(size=(4, 3))
    fn = lambda x, k: conv.causal_conv(x, k, activation, method=method)
    self.assertEqual(fn(x, kernel).dtype, np.float64)
    jtu.check_grads(jax.jit(fn), (x, kernel), order=1, modes=["rev"],
                    **tol.GRAD_F64)

  def test_step_gradients(self):
    rng = np.random.default_rng(1)
    x_t = rng.normal(size=(2, 3))
    buffer = rng.normal(size=(2, 3, 3))
    kernel = rng.normal(size=(4, 3))
    fn = lambda x, b, k: conv.causal_conv_step(x, b, k, "silu")
    jtu.check_grads(jax.jit(fn), (x_t, buffer, kernel), order=1, modes=["rev"],
                    **tol.GRAD_F64)


class FFTConvF64Test(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")
    self.rng = np.random.default_rng(0)

  def test_fft_conv_to_float64(self):
    rng = np.random.default_rng(2)
    u, k = rng.normal(size=(2, 40, 3)), rng.normal(size=(40, 3))
    kb, D = rng.normal(size=(40, 3)), rng.normal(size=3)
    np.testing.assert_allclose(conv.fft_conv(u, k, D),
                               ref.direct_conv(u, k, D), **tol.F64)
    np.testing.assert_allclose(
        conv.fft_conv_bidirectional(u, k, kb, D),
        ref.direct_conv(u, k, D) + ref.direct_anticausal(u, kb), **tol.F64)

  def test_fft_convs(self):
    u, k = self.rng.normal(size=(2, 7, 3)), self.rng.normal(size=(7, 3))
    kb, D = self.rng.normal(size=(5, 3)), self.rng.normal(size=3)
    for fn, args in ((conv.fft_conv, (u, k, D)),
                     (conv.fft_conv_bidirectional, (u, k, kb, D))):
      jtu.check_grads(jax.jit(fn), args, order=1, modes=["rev"],
                      **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
