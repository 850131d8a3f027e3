"""float64 finite-difference gradient checks of the Raven slot memory.

The op's own check (the hold differentiated as the identity) is in
routed_scan_grad_test.py. Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
from jax import test_util as jtu
import jax.numpy as jnp
import numpy as np

from spike_ssm.experimental import raven
from tests import tolerances as tol

MODES = ("sequential", "parallel", "chunked")


class RavenGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.parameters(*MODES)
  def test_layer_gradient_matches_finite_differences(self, mode):
    # Given a RavenRSM with float64 parameters and inputs (soft router).
    rng = np.random.default_rng(1)
    u = rng.normal(size=(2, 6, 3))
    fn = hk.without_apply_rng(hk.transform(
        lambda u: raven.RavenRSM(3, 2, scan_mode=mode, chunk_size=3)(u)))
    shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), u)
    params = jax.tree.map(
        lambda s: jnp.asarray(rng.normal(0.0, 0.5, s.shape), jnp.float64),
        shapes)
    # Then the gradient with respect to every parameter and the input
    # matches central differences.
    jtu.check_grads(jax.jit(lambda p, u: jnp.sum(jnp.sin(fn.apply(p, u)))),
                    (params, u), order=1, modes=["rev"], **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
