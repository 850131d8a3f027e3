"""float64 finite-difference gradient checks of ssm.LRU.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import numpy as np

from tests import tolerances as tol
from tests.ssm import lru_test


class LRUGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.parameters("sequential", "parallel")
  def test_gradients_wrt_params_and_input(self, mode):
    # Given a tiny LRU with random float64 parameters.
    fn = lru_test.transformed(3, scan_mode=mode)
    x = np.random.default_rng(0).normal(size=(2, 6, 2))
    params = jax.tree.map(lambda p: np.asarray(p, np.float64),
                          lru_test.random_params(fn, x, 1, r_max=0.95))
    self.assertEqual(jax.eval_shape(fn.apply, params, x).dtype, np.float64)
    # Then reverse-mode gradients w.r.t. every parameter and the input match
    # finite differences.
    jtu.check_grads(jax.jit(fn.apply), (params, x), order=1, modes=["rev"],
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
