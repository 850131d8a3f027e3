"""float64 finite-difference gradient checks of the selective scan and Mamba.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
from jax import test_util as jtu
import numpy as np

from spike_ssm import ssm
from spike_ssm.ops import selective_scan as sscan
from tests import tolerances as tol


class SelectiveScanGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.parameters("sequential", "parallel", "chunked")
  def test_gradients_wrt_every_input(self, mode):
    # Given a 7-step problem in chunks of 3 (the last one padded), with an
    # initial state; the sequential mode's gradient is its custom VJP.
    rng = np.random.default_rng(0)
    t, b, d, n = 7, 2, 3, 2
    args = (rng.normal(size=(t, b, d)), rng.uniform(0.05, 0.8, (t, b, d)),
            -rng.uniform(0.2, 2.0, (d, n)), rng.normal(size=(t, b, n)),
            rng.normal(size=(t, b, n)), rng.normal(size=(d,)),
            rng.normal(size=(b, d, n)))

    def fn(*args):
      return sscan.selective_scan(*args, mode=mode, chunk_size=3)

    # Then reverse-mode gradients w.r.t. all seven inputs match finite
    # differences.
    jtu.check_grads(jax.jit(fn), args, order=1, modes=["rev"], **tol.GRAD_F64)


class MambaGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.parameters("sequential", "parallel")
  def test_core_gradients_wrt_params_and_input(self, mode):
    # Given a tiny Mamba core with float64 parameters.
    fn = hk.without_apply_rng(hk.transform(
        lambda x: ssm.Mamba(3, scan_mode=mode, chunk_size=2)(x)))
    x = np.random.default_rng(1).normal(size=(2, 5, 3))
    params = jax.tree.map(lambda p: np.asarray(p, np.float64),
                          jax.jit(fn.init)(jax.random.PRNGKey(0), x))
    self.assertEqual(fn.apply(params, x).dtype, np.float64)
    # Then gradients w.r.t. every parameter and the input match finite
    # differences.
    jtu.check_grads(jax.jit(fn.apply), (params, x), order=1, modes=["rev"],
                    **tol.GRAD_F64)

  def test_block_gradients_wrt_params_and_input(self):
    # Given a tiny MambaBlock (conv, gate and projections around the core).
    fn = hk.without_apply_rng(hk.transform(
        lambda x: ssm.MambaBlock(2, conv_size=3, chunk_size=2)(x)))
    x = np.random.default_rng(2).normal(size=(1, 5, 2))
    params = jax.tree.map(lambda p: np.asarray(p, np.float64),
                          jax.jit(fn.init)(jax.random.PRNGKey(0), x))
    self.assertEqual(fn.apply(params, x).dtype, np.float64)
    jtu.check_grads(jax.jit(fn.apply), (params, x), order=1, modes=["rev"],
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
