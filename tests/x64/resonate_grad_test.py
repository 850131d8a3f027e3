"""float64 finite-difference gradient checks of neurons.resonate.ResonateFire.

The complex membrane is a smooth function of `raw_lambda`, `omega`, the
inputs and the initial state, so autodiff through the step and through every
`linear_scan` mode (complex pole, custom VJP) must match finite differences.
(The spikes are piecewise constant; their surrogate gradient is checked
against float64 forward sensitivities in tests/neurons/resonate_test.py.)

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
from jax import test_util as jtu
import jax.numpy as jnp
import numpy as np

from spike_ssm import neurons
from spike_ssm.neurons import resonate
from tests import tolerances as tol

B, T, N = 2, 9, 3
DT = 0.7


class ResonateFireGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")
    rng = np.random.default_rng(0)
    self.x = jnp.asarray(rng.normal(size=(B, T, N)))
    # A complex128 initial state keeps the whole recurrence in float64.
    self.z0 = jnp.asarray(rng.normal(size=(B, N)) +
                          1j * rng.normal(size=(B, N)))
    self.raw_lambda = jnp.asarray(rng.uniform(-2.0, 0.5, size=(N,)))
    self.omega = jnp.asarray(rng.uniform(-3.0, 3.0, size=(N,)))

  @parameterized.parameters("step", "sequential", "parallel", "chunked")
  def test_membrane_gradients_match_finite_differences(self, mode):
    def forward(x):
      core = resonate.ResonateFire(
          N, dt=DT, scan_mode="auto" if mode == "step" else mode)
      state = resonate.ResonateFireState(self.z0)
      if mode == "step":
        return neurons.run(core, x, state)[1].z
      return core.parallel(x, state)[1].z

    f = hk.transform(forward)

    @jax.jit
    def loss(raw_lambda, omega, x):
      params = {"resonate_fire": {"raw_lambda": raw_lambda, "omega": omega}}
      z = f.apply(params, None, x)
      self.assertEqual(z.dtype, jnp.complex128)
      return jnp.sum(jnp.sin(z.real)) + jnp.sum(jnp.cos(2.0 * z.imag))

    args = (self.raw_lambda, self.omega, self.x)
    jtu.check_grads(loss, args, order=1, modes=("rev",), **tol.GRAD_F64)
    g_raw, g_omega, _ = jax.grad(loss, argnums=(0, 1, 2))(*args)
    self.assertGreater(np.abs(g_raw).min(), 0)
    self.assertGreater(np.abs(g_omega).min(), 0)


if __name__ == "__main__":
  absltest.main()
