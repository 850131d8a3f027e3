"""float64 finite-difference gradient checks of ssm.S5.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import numpy as np

from tests import tolerances as tol
from tests.ssm import s5_test


class S5GradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.named_parameters(
      ("zoh_sequential", dict(scan_mode="sequential")),
      ("zoh_chunked", dict(scan_mode="chunked", chunk_size=2)),
      ("bilinear_bidirectional_no_conj_sym_parallel",
       dict(discretization="bilinear", bidirectional=True, conj_sym=False,
            clip_eigs=True, step_rescale=2.0, scan_mode="parallel")),
  )
  def test_gradients_wrt_params_and_input(self, kwargs):
    # Given a tiny S5 layer with random float64 parameters.
    fn = s5_test.transformed(4, **kwargs)
    x = np.random.default_rng(0).normal(size=(2, 6, 2))
    params = jax.tree.map(lambda p: np.asarray(p, np.float64),
                          s5_test.random_params(fn, x, 1))
    self.assertEqual(jax.eval_shape(fn.apply, params, x).dtype, np.float64)
    # Then reverse-mode gradients w.r.t. every parameter (eigenvalues, log
    # step, B, C, D) and the input match finite differences.
    jtu.check_grads(jax.jit(fn.apply), (params, x), order=1, modes=["rev"],
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
