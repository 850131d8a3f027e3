"""float64 finite-difference gradient checks of ops.routed_scan.

The hold that makes unrouted slots bit-exact in the parallel modes is
differentiated as the identity; these checks show that this is the true
gradient, also with respect to gates that are exactly 0 (where a gather
differentiated by JAX would cut the gate off). Runs with 64-bit
types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import numpy as np

from spike_ssm.ops import routed_scan
from tests import tolerances as tol

MODES = ("sequential", "parallel", "chunked")


class RoutedScanGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.parameters(*MODES)
  def test_vjp_matches_finite_differences_with_zero_gates(self, mode):
    # Given gates of which about half are exactly 0, decays, writes and an
    # initial memory, in float64.
    rng = np.random.default_rng(0)
    length, batch, slots, width = 8, 2, 3, 2
    gates = rng.uniform(0.1, 0.9, (length, batch, slots))
    gates[rng.random(gates.shape) < 0.5] = 0.0
    decay = rng.uniform(0.3, 0.9, (slots, width))
    writes = rng.normal(size=(length, batch, slots, width))
    h0 = rng.normal(size=(batch, slots, width))
    fn = lambda g, a, w, h: routed_scan.routed_scan(
        g, a, w, h, mode=mode, chunk_size=4)
    self.assertEqual(fn(gates, decay, writes, h0).dtype, np.float64)
    # Then reverse-mode gradients match central differences.
    jtu.check_grads(jax.jit(fn), (gates, decay, writes, h0), order=1,
                    modes=["rev"], **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
