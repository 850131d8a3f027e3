"""float64 finite-difference gradient checks of the smooth neuron paths.

The leaky integrator's output and PSU_LIF's (reset-free) membrane are smooth
functions of inputs, decay parameters and initial state, so their autodiff
gradients must match finite differences. (Spikes are piecewise constant:
their gradients are surrogates, checked analytically in tests/neurons.)

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import chex
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
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")
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

  @parameterized.parameters(("subtract", False), ("subtract", True),
                            ("zero", False), ("zero", True))
  def test_fused_lif_gradients_are_autodiffs_of_the_step(self, reset, detach):
    # `run` evaluates LIF as one loop with a custom VJP; in float64 its
    # gradients must equal autodiff through the stepped cell (surrogate
    # spikes included) to float64 rounding.
    def forward(fused):
      def f(x, v0):
        core = neurons.LIF(N, 0.8, learn_beta=True, threshold=0.7,
                           reset=reset, detach_reset=detach,
                           surrogate="triangular", slope=0.5)
        state = neurons.LIFState(v0)
        if fused:
          return neurons.run(core, x, state)
        return hk.dynamic_unroll(core, x, state, time_major=False)
      return hk.transform(f)

    def loss(fused):
      f = forward(fused)

      def fn(beta, x, v0):
        out, state = f.apply({"lif": {"beta": beta}}, None, x, v0)
        return jnp.sum(self.w * out) + jnp.sum(jnp.sin(state.v))
      return jax.jit(jax.grad(fn, argnums=(0, 1, 2)))

    args = (self.beta, self.x, self.v0)
    got, want = loss(True)(*args), loss(False)(*args)
    for g in got:
      self.assertEqual(g.dtype, jnp.float64)
      self.assertGreater(float(jnp.abs(g).max()), 0.0)
    chex.assert_trees_all_close(got, want, **tol.F64)


if __name__ == "__main__":
  absltest.main()
