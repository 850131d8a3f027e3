"""float64 finite-difference gradient checks of experimental.phasor.

The output phases of a phasor network are smooth in the kernels and inputs
wherever no pre-activation is 0, so reverse-mode gradients w.r.t.
`kernel_re` / `kernel_im` (two real leaves, no Wirtinger calculus) must
match finite differences.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
import haiku as hk
import jax
from jax import test_util as jtu
import jax.numpy as jnp
import numpy as np
import optax

from spike_ssm.experimental import phasor
from tests import tolerances as tol


class PhasorGradTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  def test_mlp_loss_gradients_match_finite_differences(self):
    # Given a depth-2 PhasorMLP with float64 parameters and a softmax loss.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 1, (5, 3)))
    y = jnp.asarray(rng.integers(0, 2, 5))
    f = hk.without_apply_rng(hk.transform(
        lambda x: phasor.PhasorMLP(3, 4, 2, 2)(x)))
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64),
                          jax.jit(f.init)(jax.random.PRNGKey(0), x))

    @jax.jit
    def loss(params):
      logits = f.apply(params, x)
      self.assertEqual(logits.dtype, jnp.float64)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()

    # Then gradients w.r.t. every kernel_re / kernel_im match finite
    # differences, and none is zero.
    jtu.check_grads(loss, (params,), order=1, modes=("rev",),
                    eps=tol.GRAD_F64_STEP, **tol.GRAD_F64)
    grads = jax.grad(loss)(params)
    self.assertLen(jax.tree.leaves(grads), 4)
    for g in jax.tree.leaves(grads):
      self.assertTrue(np.all(np.isfinite(g)))
      self.assertGreater(np.abs(g).max(), 0)

  def test_layer_gradient_wrt_input_phases(self):
    rng = np.random.default_rng(2)
    theta = jnp.asarray(rng.uniform(-np.pi, np.pi, (4, 6)))
    f = hk.transform(lambda t: phasor.PhasorLinear(3)(t))
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64),
                          jax.jit(f.init)(jax.random.PRNGKey(2), theta))
    loss = jax.jit(lambda p, t: jnp.sum(jnp.sin(f.apply(p, None, t))))
    jtu.check_grads(loss, (params, theta), order=1, modes=("rev",),
                    **tol.GRAD_F64)

  def test_spike_decoder_gradient_matches_finite_differences(self):
    # The circular-mean decoder is smooth in graded spike values.
    rng = np.random.default_rng(1)
    spikes = jnp.asarray(rng.uniform(0.1, 1.0, (6, 2, 3)))
    loss = jax.jit(lambda s: jnp.sum(jnp.sin(phasor.spikes_to_phase(s))))
    jtu.check_grads(loss, (spikes,), order=1, modes=("rev",),
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
