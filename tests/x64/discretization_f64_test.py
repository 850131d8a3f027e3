"""float64 checks of ops.discretization against dense matrix references.

The diagonal systems come from ops.hippo; the references are the dense
HiPPO matrices and scipy's matrix exponential. Runs with 64-bit
types on (tests/x64/conftest.py).
"""

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import jax.numpy as jnp
import numpy as np
from scipy import linalg

from spike_ssm.ops import discretization
from spike_ssm.ops import hippo
from tests import tolerances as tol


def dense_normal_system(measure, N):
  """The dense normal HiPPO matrix S = A + P^T P and its input B."""
  A, P, B = hippo.nplr(measure, N)
  return A + P.T @ P, B


def van_loan(M, B, step):
  """expm(M s) and int_0^s expm(M t) dt B, from one block exponential."""
  N = M.shape[0]
  block = np.zeros((N + 1, N + 1), np.result_type(M, B))
  block[:N, :N], block[:N, N] = M, B
  e = linalg.expm(block * step)
  return e[:N, :N], e[:N, N]


class X64TestCase(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")


class DenseReferenceTest(X64TestCase):

  @parameterized.product(measure=("legs", "legt", "fourier"),
                         step=(1e-3, 0.1, 1.0))
  def test_zoh_of_diagonalised_hippo_is_the_matrix_exponential(
      self, measure, step):
    # Given the S5 system: S = V diag(Lambda) V^*, input V^* B.
    N = 8
    S, B = dense_normal_system(measure, N)
    Lambda, _, B_tilde, V = hippo.dplr(measure, N)
    # When the diagonal system is discretised by ZOH.
    lam_bar, b_bar = jax.jit(discretization.discretize_zoh)(Lambda, B_tilde,
                                                            step)
    lam_bar, b_bar = np.asarray(lam_bar), np.asarray(b_bar)
    self.assertEqual(lam_bar.dtype, np.complex128)
    # Then mapped back it is expm(S s), and its input matrix is the
    # integral int_0^s expm(S t) dt B.
    expected_a, expected_b = van_loan(S, B, step)
    np.testing.assert_allclose(V @ np.diag(lam_bar) @ V.conj().T, expected_a,
                               **tol.F64)
    np.testing.assert_allclose(V @ b_bar, expected_b, **tol.F64)

  @parameterized.parameters(1e-3, 0.1, 1.0)
  def test_zoh_input_matrix_is_the_closed_form_integral(self, step):
    # LegS's S is invertible (Re = -1/2), so the integral is also
    # S^{-1} (expm(S s) - I) B.
    N = 8
    S, B = dense_normal_system("legs", N)
    Lambda, _, B_tilde, V = hippo.dplr("legs", N)
    _, b_bar = discretization.discretize_zoh(Lambda, B_tilde, step)
    expected = np.linalg.solve(S, (linalg.expm(S * step) - np.eye(N)) @ B)
    np.testing.assert_allclose(V @ np.asarray(b_bar), expected, **tol.F64)

  def test_zoh_of_legs_eigenbasis_is_expm_of_a(self):
    # Given LegS's own A (not normal), diagonalised by np.linalg.eig: its
    # real spectrum -(n+1) is S4D-Real's. Small N keeps eig well
    # conditioned.
    N = 4
    A, B = hippo.hippo_initialization(N, "legs")
    w, W = np.linalg.eig(A)
    step = 0.3
    lam_bar, b_bar = discretization.discretize_zoh(
        jnp.asarray(w), jnp.asarray(np.linalg.solve(W, B)), step)
    expected_a, expected_b = van_loan(A, B, step)
    np.testing.assert_allclose(
        W @ np.diag(np.asarray(lam_bar)) @ np.linalg.inv(W), expected_a,
        **tol.F64)
    np.testing.assert_allclose(W @ np.asarray(b_bar), expected_b, **tol.F64)

  @parameterized.product(measure=("legs", "lagt"), step=(1e-3, 0.1, 1.0))
  def test_bilinear_is_the_dense_tustin_map(self, measure, step):
    N = 8
    S, B = dense_normal_system(measure, N)
    Lambda, _, B_tilde, V = hippo.dplr(measure, N)
    lam_bar, b_bar = jax.jit(discretization.discretize_bilinear)(
        Lambda, B_tilde, step)
    left = np.eye(N) - S * step / 2
    np.testing.assert_allclose(
        V @ np.diag(np.asarray(lam_bar)) @ V.conj().T,
        np.linalg.solve(left, np.eye(N) + S * step / 2), **tol.F64)
    np.testing.assert_allclose(V @ np.asarray(b_bar),
                               np.linalg.solve(left, step * B), **tol.F64)


class OrderOfAgreementTest(X64TestCase):

  @parameterized.parameters(1e-4, 5e-4)
  def test_zoh_and_bilinear_agree_to_third_order(self, step):
    # Given modes with |Lambda| <= 2, so |Lambda s| <= 1e-3.
    Lambda = np.array([-0.5 + 1.5j, -1.0, 0.3j, -0.2 - 1.9j])
    B = np.array([1.0, -0.5, 2.0, 0.25])
    zoh = discretization.discretize_zoh(Lambda, B, step)
    bil = discretization.discretize_bilinear(Lambda, B, step)
    # Then exp(z) - (1+z/2)/(1-z/2) = -z^3/12 + O(z^4) and
    # s phi1(z) - s/(1-z/2) = -s z^2/12 + O(s z^3): both O(s^3) per step,
    # i.e. B_bar (itself O(s)) agrees to relative O(s^2).
    diff_a = (np.asarray(zoh[0]) - np.asarray(bil[0])) / step**3
    diff_b = (np.asarray(zoh[1]) - np.asarray(bil[1])) / step**3
    np.testing.assert_allclose(diff_a, -Lambda**3 / 12, **tol.ASYMPTOTIC_F64)
    np.testing.assert_allclose(diff_b, -Lambda**2 * B / 12,
                               **tol.ASYMPTOTIC_F64)


class GradTest(X64TestCase):

  @parameterized.parameters(("zoh", 0.0), ("zoh", 1e-9), ("zoh", 0.24),
                            ("zoh", 0.26), ("zoh", 2.0), ("bilinear", 0.0),
                            ("bilinear", 2.0))
  def test_grads_match_finite_differences(self, method, magnitude):
    # Given stable modes at |Lambda s| = magnitude (on both sides of the
    # series switch at 1/4), per-state steps and a (P, D) input matrix.
    rng = np.random.default_rng(0)
    phases = np.exp(1j * np.array([np.pi / 2 + 0.3, 2.0, -2.5]))
    step = np.array([0.1, 0.2, 0.05])
    Lambda = magnitude * phases / step
    B = rng.normal(size=(3, 2))
    # jit: check_grads calls fn many times, and eager JAX is slow.
    fn = jax.jit(lambda lam, b, s: discretization.discretize(
        lam, b, s, method=method))
    jtu.check_grads(fn, (Lambda, B, step), order=1, modes=["rev"],
                    **tol.GRAD_F64)

  def test_real_lambda_grads_at_zero(self):
    fn = jax.jit(
        lambda lam, s: discretization.discretize_zoh(lam, jnp.ones(3), s))
    jtu.check_grads(fn, (np.zeros(3), np.array([0.1, 0.2, 0.3])), order=1,
                    modes=["rev"], **tol.GRAD_F64)


if __name__ == "__main__":
  absltest.main()
