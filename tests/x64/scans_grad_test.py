"""float64 finite-difference gradient checks of linear_scan's custom VJP.

Runs with 64-bit types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import numpy as np

from spike_ssm.ops import scans
from tests import tolerances as tol


class LinearScanGradTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")

  @parameterized.product(
      mode=("sequential", "parallel", "chunked"),
      time_varying=(True, False),
      reverse=(False, True),
      complex_=(False, True),
  )
  def test_vjp_matches_finite_differences(self, mode, time_varying, reverse,
                                          complex_):
    rng = np.random.default_rng(0)
    length, state = 12, (2, 3)
    a = rng.uniform(0.5, 1.0, size=(length, *state) if time_varying else (3,))
    b = rng.normal(size=(length, *state))
    h0 = rng.normal(size=(3,))  # Broadcast over the leading state axis.
    if complex_:
      a = a * np.exp(1j * rng.uniform(-1, 1, size=a.shape))
      b = b + 1j * rng.normal(size=b.shape)
    fn = lambda a, b, h0: scans.linear_scan(a, b, h0, mode=mode,
                                            reverse=reverse, chunk_size=4)
    self.assertEqual(fn(a, b, h0).dtype,
                     np.complex128 if complex_ else np.float64)
    jtu.check_grads(jax.jit(fn), (a, b, h0), order=1, modes=["rev"],
                    **tol.GRAD_F64)

  @parameterized.parameters(False, True)
  def test_complex_pair_scan_vjp_matches_finite_differences(self, reverse):
    rng = np.random.default_rng(1)
    k = 3
    a_re = rng.uniform(0.3, 0.7, size=(k,))
    a_im = rng.uniform(-0.6, 0.6, size=(k,))
    b = rng.normal(size=(10, 2, 2 * k))
    fn = lambda a_re, a_im, b: scans.complex_pair_scan(a_re, a_im, b,
                                                       reverse=reverse)
    self.assertEqual(fn(a_re, a_im, b).dtype, np.float64)
    jtu.check_grads(jax.jit(fn), (a_re, a_im, b), order=1, modes=["rev"],
                    **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
