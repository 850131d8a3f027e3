"""float64 checks of ops.kernels: exact references and finite-difference grads.

Runs with 64-bit types on (tests/x64/conftest.py).
Complex arguments are passed as real pairs so `check_grads` perturbs real
and imaginary parts independently.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
from jax import test_util as jtu
import numpy as np

from spike_ssm.ops import hippo
from spike_ssm.ops import kernels
from tests import tolerances as tol
from tests.ops import kernels_test as ref


def cplx(pair):
  return jax.lax.complex(pair[..., 0], pair[..., 1])


def pair(z):
  z = np.asarray(z, np.complex128)
  return np.stack([z.real, z.imag], axis=-1)


class X64TestCase(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.assertTrue(jax.config.jax_enable_x64, "tests/x64/conftest.py: float64")


class ExactReferenceTest(X64TestCase):

  @parameterized.parameters(64, 63)
  def test_s4_kernel_equals_dense_recurrence_to_float64(self, length):
    # Given HiPPO-LegS (N = 16) at a step whose kernel is long-lived.
    M = 8
    Lambda, P, B, _ = hippo.dplr("legs", 2 * M)
    Lambda, P, B = Lambda[:M], P[:, :M], B[:M]
    C = np.random.default_rng(0).normal(size=(2, M)) + 0.5j
    step = np.array([0.01, 0.2])
    got = jax.jit(functools.partial(kernels.s4_dplr_kernel, length=length))(
        Lambda, P, B, C, step)
    self.assertEqual(got.dtype, np.float64)
    A = ref.full_dplr_matrix(Lambda, P)
    for d in range(2):
      A_bar, B_bar = ref.bilinear_dense(A, ref.full(B), step[d])
      np.testing.assert_allclose(
          got[d], ref.impulse_response(A_bar, B_bar, ref.full(C[d]), length),
          **tol.F64)

  @parameterized.parameters("zoh", "bilinear")
  def test_s4d_kernel_equals_dense_recurrence_to_float64(self, method):
    M, length = 6, 300
    Lambda = hippo.diagonal_init(2 * M, "inv")
    C = np.random.default_rng(1).normal(size=M) + 0j
    got = jax.jit(functools.partial(kernels.s4d_kernel, length=length,
                                    method=method))(
                                        Lambda[None], np.ones(M), C[None],
                                        np.array([0.05]))
    discretise = ref.zoh_dense if method == "zoh" else ref.bilinear_dense
    A_bar, B_bar = discretise(np.diag(ref.full(Lambda)), ref.full(np.ones(M)),
                              0.05)
    np.testing.assert_allclose(
        got[0], ref.impulse_response(A_bar, B_bar, ref.full(C), length),
        **tol.F64)


class GradientTest(X64TestCase):

  def setUp(self):
    super().setUp()
    self.rng = np.random.default_rng(0)

  def check(self, fn, *args):
    jtu.check_grads(jax.jit(fn), args, order=1, modes=["rev"],
                    **tol.GRAD_F64)

  def test_vandermonde(self):
    c = pair(self.rng.normal(size=(2, 3)) + 1j * self.rng.normal(size=(2, 3)))
    log_lam = pair(-self.rng.uniform(0.05, 0.3, (2, 3)) +
                   1j * self.rng.uniform(-2, 2, (2, 3)))
    for conj_sym in (True, False):
      def fn(c, log_lam, conj_sym=conj_sym):
        k = kernels.vandermonde_kernel(cplx(c), cplx(log_lam), 11,
                                       conj_sym=conj_sym, block_size=3)
        return k if conj_sym else k.real + 2 * k.imag
      self.check(fn, c, log_lam)

  def test_cauchy(self):
    v = pair(self.rng.normal(size=(2, 4)) + 1j)
    z = pair(1j * self.rng.uniform(-3, 3, 5))
    w = pair(-self.rng.uniform(0.2, 1, 4) + 1j * self.rng.uniform(-3, 3, 4))
    def fn(v, z, w):
      out = kernels.cauchy_kernel(cplx(v), cplx(z), cplx(w), conj_sym=True)
      return pair_out(out)
    self.check(fn, v, z, w)

  # Rank 2 takes the R x R solve; rank 1 (a division) and s4d_kernel are
  # checked through the layers in s4_grad_test.
  def test_s4_dplr_kernel(self, rank=2, length=9):
    D, M = 2, 3
    lam, P, B = ref.random_dplr(self.rng, D, M, rank)
    C = self.rng.normal(size=(D, M)) + 1j * self.rng.normal(size=(D, M))
    self.check(
        lambda lam, P, B, C, step: kernels.s4_dplr_kernel(
            cplx(lam), cplx(P), cplx(B), cplx(C), step, length),
        pair(lam), pair(P), pair(B), pair(C), np.array([0.3, 0.05]))

  def test_dplr_bilinear_real(self):
    lam, P, B = ref.random_dplr(self.rng, 2, 3, 1)
    def fn(lam, P, B, step):
      A_bar, B_bar = kernels.dplr_bilinear_real(cplx(lam), cplx(P), cplx(B),
                                                step)
      return A_bar.sum(-1) + B_bar
    self.check(fn, pair(lam), pair(P), pair(B), np.array([0.3, 0.05]))

def pair_out(z):
  return jax.numpy.stack([z.real, z.imag], axis=-1)


if __name__ == "__main__":
  absltest.main()
