"""float64 finite-difference gradient checks of the smooth neuron paths.

The leaky integrator's output and PSU_LIF's (reset-free) membrane are smooth
functions of inputs, decay parameters and initial state, so their autodiff
gradients must match finite differences. (Spikes are piecewise constant:
their gradients are surrogates, checked analytically in tests/neurons.)

Run with JAX_ENABLE_X64=1 (the Makefile runs tests/x64 separately).
"""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
from jax import test_util as jtu
import jax.numpy as jnp
import numpy as np

from spike_ssm import neurons
from tests import tolerances as tol

B, T, N = 2, 9, 3


class NeuronGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    if not jax.config.jax_enable_x64:
      self.skipTest("needs JAX_ENABLE_X64=1")
    rng = np.random.default_rng(0)
    self.x = jnp.asarray(rng.normal(size=(B, T, N)))
    self.v0 = jnp.asarray(rng.normal(size=(B, N)))
    self.beta = jnp.asarray(rng.uniform(0.3, 0.9, size=(N,)))
    self.w = jnp.asarray(rng.normal(size=(B, T, N)))

  def test_leaky_integrator(self):
    f = hk.transform(lambda x, v0: neurons.run(
        neurons.LI(N, learn_beta=True), x, neurons.LIState(v0)))

    def loss(beta, x, v0):
      out, state = f.apply({"li": {"beta": beta}}, None, x, v0)
      return jnp.sum(self.w * out) + jnp.sum(jnp.sin(state.v))

    jtu.check_grads(jax.jit(loss), (self.beta, self.x, self.v0), order=1,
                    modes=("rev",), **tol.GRAD_F64)

  @parameterized.parameters("step", "sequential", "parallel", "chunked")
  def test_psu_lif_membrane(self, mode):
    def forward(x, v0):
      core = neurons.PSU_LIF(N, learn_beta=True,
                             scan_mode="auto" if mode == "step" else mode)
      state = neurons.PSULIFState(v0)
      if mode == "step":
        return neurons.run(core, x, state)[1].v
      return core.parallel(x, state)[1].v

    f = hk.transform(forward)

    def loss(beta, x, v0):
      return jnp.sum(jnp.sin(f.apply({"psu_lif": {"beta": beta}}, None, x,
                                     v0)))

    jtu.check_grads(jax.jit(loss), (self.beta, self.x, self.v0), order=1,
                    modes=("rev",), **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
