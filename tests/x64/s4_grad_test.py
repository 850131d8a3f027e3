"""float64 finite-difference gradient checks of ssm.S4D and ssm.S4.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
from jax import test_util as jtu
import numpy as np

from spike_ssm import ssm
from tests import tolerances as tol


class S4GradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.named_parameters(
      ("s4d_zoh_bidirectional", ssm.S4D, dict(bidirectional=True)),
      ("s4d_bilinear", ssm.S4D, dict(discretization="bilinear")),
      ("s4", ssm.S4, {}),
  )
  def test_gradients_wrt_params_and_input(self, cls, kwargs):
    # Given a tiny layer whose parameters are promoted to float64.
    fn = hk.without_apply_rng(hk.transform(
        lambda x: cls(4, dt_min=0.05, dt_max=0.5, **kwargs)(x)))
    x = np.random.default_rng(0).normal(size=(2, 6, 2))
    params = jax.tree.map(lambda p: np.asarray(p, np.float64),
                          jax.jit(fn.init)(jax.random.PRNGKey(0), x))
    apply = jax.jit(fn.apply)
    self.assertEqual(apply(params, x).dtype, np.float64)
    # Then reverse-mode gradients w.r.t. every parameter and the input match
    # finite differences.
    jtu.check_grads(apply, (params, x), order=1, modes=["rev"],
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
