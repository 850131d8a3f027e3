"""float64 finite-difference gradient check of CapibaraJAXSSM.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
import haiku as hk
import jax
import jax.numpy as jnp
from jax import test_util as jtu
import numpy as np

from spike_ssm.ssm.capibara import CapibaraJAXSSM
from tests import tolerances as tol

CONFIG = dict(state_dim=4, input_dim=3, output_dim=2, conv_dim=3)


class CapibaraGradTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  def test_gradients_wrt_params_state_and_input(self):
    # Given float64 params (the float32 init, upcast) and inputs.
    fn = hk.transform(lambda x, s: CapibaraJAXSSM(CONFIG)(x, s))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 3))
    h0 = rng.normal(size=(2, 4))
    params = jax.jit(fn.init)(jax.random.key(0),
                              jnp.asarray(x, jnp.float32),
                              jnp.asarray(h0, jnp.float32))
    params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64),
                                    params)
    # A larger step than the init draws, so every path carries signal.
    params["capibara_jaxssm"]["log_dt"] = jnp.float64(np.log(0.5))
    apply = lambda p, x, s: fn.apply(p, None, x, s)
    self.assertEqual(apply(params, x, h0).dtype, np.float64)
    # Then the autodiff gradients match finite differences.
    jtu.check_grads(jax.jit(apply), (params, x, h0), order=1, modes=["rev"],
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
