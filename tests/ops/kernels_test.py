"""Tests for spike_ssm.ops.kernels (float32 JAX vs float64 NumPy).

Every reference here is the impulse response of a recurrence written out in
float64 NumPy from dense matrices: the conjugate-symmetric half systems the
kernels take are expanded to their full complex `2M`-state form, discretised
densely (scipy's matrix exponential for ZOH, a matrix inverse for bilinear)
and iterated, `K[l] = C A_bar^l B_bar`.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
from scipy import linalg

from spike_ssm.ops import hippo
from spike_ssm.ops import kernels
from tests import tolerances as tol

# ----------------------------------------------------------------------------
# float64 references.
# ----------------------------------------------------------------------------


def full(z):
  """Half `(..., M)` -> full conjugate-symmetric `(..., 2M)`."""
  z = np.asarray(z, np.complex128)
  return np.concatenate([z, np.conj(z)], axis=-1)


def full_dplr_matrix(Lambda, P):
  """Dense `diag(Lambda_full) - sum_r p_r p_r^*` (2M, 2M)."""
  Pf = full(P)  # (R, 2M)
  return np.diag(full(Lambda)) - Pf.T @ np.conj(Pf)


def bilinear_dense(A, B, step):
  eye = np.eye(A.shape[0])
  inv = np.linalg.inv(eye - step / 2 * A)
  return inv @ (eye + step / 2 * A), inv @ (step * B)


def zoh_dense(A, B, step):
  """Van Loan: expm([[A, B], [0, 0]] s) = [[A_bar, B_bar], [0, 1]]."""
  n = A.shape[0]
  block = np.zeros((n + 1, n + 1), np.complex128)
  block[:n, :n], block[:n, n] = A, B
  e = linalg.expm(block * step)
  return e[:n, :n], e[:n, n]


def impulse_response(A_bar, B_bar, C, length):
  """`K[l] = C A_bar^l B_bar` by iterating the state; real part checked."""
  out, x = [], np.asarray(B_bar, np.complex128)
  for _ in range(length):
    out.append(C @ x)
    x = A_bar @ x
  out = np.asarray(out)
  assert np.abs(out.imag).max() <= 1e-9 * max(1.0, np.abs(out).max())
  return out.real


def crandn(rng, *shape):
  """Complex normal samples, rounded to complex64 (see `as_f32`)."""
  return as_f32(rng.normal(size=shape) + 1j * rng.normal(size=shape))


def as_f32(x):
  """`x` rounded to float32 / complex64 and back to 64 bits.

  The references take exactly the values the float32 code sees, so the
  comparisons measure the computation, not the rounding of the inputs.
  """
  x = np.asarray(x)
  if np.iscomplexobj(x):
    return x.astype(np.complex64).astype(np.complex128)
  return x.astype(np.float32).astype(np.float64)


def c64(x):
  return jnp.asarray(np.asarray(x, np.complex64))


def legs_half(M):
  Lambda, P, B, _ = hippo.dplr("legs", 2 * M)
  return as_f32(Lambda[:M]), as_f32(P[:, :M]), as_f32(B[:M])


def random_dplr(rng, D, M, rank):
  """Per-feature stable Lambda (D, M), small P (R, D, M), B (D, M)."""
  Lambda = -rng.uniform(0.2, 1.0, (D, M)) + 1j * rng.uniform(-4, 4, (D, M))
  return (as_f32(Lambda), as_f32(0.3 * crandn(rng, rank, D, M)),
          crandn(rng, D, M))


# ----------------------------------------------------------------------------
# Diagonal kernels.
# ----------------------------------------------------------------------------


class VandermondeTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  # Default block, one tap per block, a block not dividing L, one block.
  @parameterized.parameters((True, None), (False, 7), (True, 1), (True, 64))
  def test_matches_repeated_multiplication(self, conj_sym, block_size):
    # Given decaying and rotating modes with a leading batch (2, 3) of c and
    # a broadcast (3,) batch of eigenvalues; L = 37 is no multiple of 7.
    rng = np.random.default_rng(int(conj_sym) + 2 * (block_size or 0))
    length, M = 37, 5
    log_lam = as_f32(-rng.uniform(0.01, 0.3, (3, M)) +
                     1j * rng.uniform(-np.pi, np.pi, (3, M)))
    lam_bar = np.exp(log_lam)
    c = as_f32(crandn(rng, 2, 3, M) / M)
    # When the kernel is evaluated in float32.
    fn = functools.partial(kernels.vandermonde_kernel, length=length,
                           conj_sym=conj_sym, block_size=block_size)
    got = self.variant(fn)(c64(c), c64(log_lam))
    # Then it equals sum_n c_n lam_n^l by repeated multiplication, within
    # the tolerance of a float32 recurrence of that length (the phase
    # l * Im(log lam) carries a float32 rounding that grows with l).
    powers = np.ones((3, M), np.complex128)
    ref = []
    for _ in range(length):
      ref.append(np.sum(c * powers, axis=-1))
      powers = powers * lam_bar
    ref = np.moveaxis(np.asarray(ref), 0, -1)  # (2, 3, L)
    if conj_sym:
      ref = 2 * ref.real
      self.assertEqual(got.dtype, jnp.float32)
    else:
      self.assertEqual(got.dtype, jnp.complex64)
    self.assertEqual(got.shape, (2, 3, length))
    np.testing.assert_allclose(got, ref, **tol.scan_tol(length))


class S4DKernelTest(chex.TestCase):

  def check_against_dense_recurrence(self, method, transform):
    # Given three systems (own steps) of M = 4 conjugate-pair modes, shared
    # B and a forward and a backward readout C (2, D, M).
    rng = np.random.default_rng(3)
    D, M, length = 3, 4, 40
    Lambda = as_f32(-rng.uniform(0.1, 1.0, (D, M)) +
                    1j * np.pi * np.arange(M) * rng.uniform(0.5, 2.0, (D, 1)))
    B, C = crandn(rng, M), crandn(rng, 2, D, M)
    step = as_f32([0.02, 0.1, 0.5])
    # When the S4D kernel is computed.
    fn = functools.partial(kernels.s4d_kernel, length=length, method=method)
    got = transform(fn)(c64(Lambda), c64(B), c64(C),
                        jnp.asarray(step, jnp.float32))
    # Then it is the impulse response of the full 2M-state system
    # discretised densely.
    discretise = zoh_dense if method == "zoh" else bilinear_dense
    ref = np.zeros((2, D, length))
    for d in range(D):
      A_bar, B_bar = discretise(np.diag(full(Lambda[d])), full(B), step[d])
      for e in range(2):
        ref[e, d] = impulse_response(A_bar, B_bar, full(C[e, d]), length)
    self.assertEqual(got.shape, (2, D, length))
    np.testing.assert_allclose(got, ref, **tol.scan_tol(length))

  @chex.variants(with_jit=True, without_jit=True)
  def test_zoh_equals_impulse_response_of_dense_recurrence(self):
    self.check_against_dense_recurrence("zoh", self.variant)

  def test_bilinear_equals_impulse_response_of_dense_recurrence(self):
    self.check_against_dense_recurrence("bilinear", jax.jit)

  def test_real_modes(self):
    # Given S4D-Real modes (real Lambda, real B and C, no conjugate pairs).
    Lambda = -np.arange(1.0, 5.0)
    C = np.linspace(-1.0, 1.0, 4)
    got = jax.jit(functools.partial(kernels.s4d_kernel, length=9,
                                    conj_sym=False))(
                                        Lambda[None], np.ones(4), C[None],
                                        jnp.array([0.3]))
    A_bar, B_bar = zoh_dense(np.diag(Lambda), np.ones(4), 0.3)
    ref = impulse_response(A_bar, B_bar, C, 9)
    np.testing.assert_allclose(np.real(got[0]), ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(np.imag(got[0]), 0.0, **tol.F32_VS_F64)

  def test_bilinear_pole_at_zero_is_finite(self):
    # Given Lambda * step = -2: the bilinear lambda_bar is exactly 0.
    def kernel(lam):
      return kernels.s4d_kernel(lam, jnp.ones((1, 1)), jnp.ones((1, 1)),
                                jnp.array([0.5]), 6, method="bilinear")

    lam = jnp.full((1, 1), -4.0 + 0j, jnp.complex64)
    got = jax.jit(kernel)(lam)
    grad = jax.jit(jax.grad(lambda re: jnp.sum(kernel(
        jax.lax.complex(re, jnp.zeros_like(re))))))(jnp.real(lam))
    # Then K = [2 Re(B_bar), 0, 0, ...] with B_bar = s / (1 - z/2) = 0.25,
    # and the gradient is finite.
    np.testing.assert_allclose(got[0], [0.5, 0, 0, 0, 0, 0], **tol.F32_VS_F64)
    self.assertTrue(np.all(np.isfinite(grad)))

  def test_bad_arguments(self):
    lam, b = jnp.ones((2, 3), jnp.complex64), jnp.ones(3)
    with self.assertRaisesRegex(ValueError, "method must be one of"):
      kernels.s4d_kernel(lam, b, b, jnp.ones(2), 4, method="euler")
    with self.assertRaisesRegex(ValueError, r"step must be.*\(2,\).*\(3,\)"):
      kernels.s4d_kernel(lam, b, b, jnp.ones(3), 4)
    with self.assertRaisesRegex(ValueError, "length must be a positive int"):
      kernels.s4d_kernel(lam, b, b, jnp.ones(2), 0)
    with self.assertRaisesRegex(ValueError, "length must be a positive int"):
      kernels.vandermonde_kernel(b, b, 2.5)
    with self.assertRaisesRegex(ValueError, "block_size"):
      kernels.vandermonde_kernel(b, b, 4, block_size=0)
    with self.assertRaisesRegex(ValueError, "must broadcast"):
      kernels.vandermonde_kernel(jnp.ones(3), jnp.ones(4), 4)
    with self.assertRaisesRegex(ValueError, "B and Lambda must broadcast"):
      kernels.s4d_kernel(lam, jnp.ones(4), b, jnp.ones(2), 4)


# ----------------------------------------------------------------------------
# Cauchy and DPLR kernels.
# ----------------------------------------------------------------------------


class CauchyTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(False, True)
  def test_matches_direct_sum(self, conj_sym):
    # Given numerators (2, M), nodes (2, K) and shared poles (M,).
    rng = np.random.default_rng(int(conj_sym))
    M, K = 6, 9
    v, z = crandn(rng, 2, M), as_f32(1j * rng.uniform(-5, 5, (2, K)))
    w = as_f32(-rng.uniform(0.1, 1.0, M) + 1j * rng.uniform(-5, 5, M))
    got = self.variant(functools.partial(kernels.cauchy_kernel,
                                         conj_sym=conj_sym))(
                                             c64(v), c64(z), c64(w))
    ref = np.zeros((2, K), np.complex128)
    for i in range(2):
      for k in range(K):
        for n in range(M):
          ref[i, k] += v[i, n] / (z[i, k] - w[n])
          if conj_sym:
            ref[i, k] += np.conj(v[i, n]) / (z[i, k] - np.conj(w[n]))
    np.testing.assert_allclose(got, ref, **tol.F32_VS_F64)

  def test_bad_shapes(self):
    with self.assertRaisesRegex(ValueError, "same trailing .* M"):
      kernels.cauchy_kernel(jnp.ones(3), jnp.ones(4), jnp.ones(2))
    with self.assertRaisesRegex(ValueError, "leading axes .* broadcast"):
      kernels.cauchy_kernel(jnp.ones((2, 3)), jnp.ones((5, 4)), jnp.ones(3))


class DPLRTest(chex.TestCase):

  def check_legs(self, M, length, transform):
    # Given HiPPO-LegS in DPLR form (Lambda, P, B shared), three features
    # with their own steps and two readouts.
    rng = np.random.default_rng(length)
    Lambda, P, B = legs_half(M)
    C = crandn(rng, 2, 3, M) / 2
    step = as_f32([0.01, 0.1, 0.7])
    # When the S4 kernel is computed (C~ correction included).
    fn = functools.partial(kernels.s4_dplr_kernel, length=length)
    got = transform(fn)(c64(Lambda), c64(P), c64(B), c64(C),
                        jnp.asarray(step, jnp.float32))
    # Then it is C A_bar^l B_bar of the dense 2M-state DPLR matrix.
    A = full_dplr_matrix(Lambda, P)
    ref = np.zeros((2, 3, length))
    for d in range(3):
      A_bar, B_bar = bilinear_dense(A, full(B), step[d])
      for e in range(2):
        ref[e, d] = impulse_response(A_bar, B_bar, full(C[e, d]), length)
    self.assertEqual(got.dtype, jnp.float32)
    np.testing.assert_allclose(got, ref, **tol.scan_tol(length))

  # Even L has a Nyquist node (z = -1), odd L does not.
  @parameterized.parameters(16, 15)
  def test_legs_kernel_equals_dense_bilinear_recurrence(self, length):
    self.check_legs(4, length, jax.jit)

  @chex.variants(with_jit=True, without_jit=True)
  def test_jit_and_eager_agree_with_the_reference(self):
    self.check_legs(2, 6, self.variant)

  def test_rank_two_per_feature_lambda(self):
    # Given a random stable rank-2 DPLR system per feature.
    rng = np.random.default_rng(7)
    D, M, rank, length = 2, 3, 2, 12
    Lambda, P, B = random_dplr(rng, D, M, rank)
    C = crandn(rng, D, M)
    step = as_f32([0.2, 0.05])
    got = jax.jit(functools.partial(kernels.s4_dplr_kernel, length=length))(
        c64(Lambda), c64(P), c64(B), c64(C), jnp.asarray(step, jnp.float32))
    for d in range(D):
      A_bar, B_bar = bilinear_dense(full_dplr_matrix(Lambda[d], P[:, d]),
                                    full(B[d]), step[d])
      np.testing.assert_allclose(
          got[d], impulse_response(A_bar, B_bar, full(C[d]), length),
          **tol.scan_tol(length))

  def test_c_tilde_and_precomputed_c_tilde(self):
    # Given LegS and a readout C.
    rng = np.random.default_rng(11)
    M, length = 4, 10
    Lambda, P, B = legs_half(M)
    C, step = crandn(rng, 1, M), as_f32([0.3])
    args = (c64(Lambda), c64(P))
    c_t = jax.jit(functools.partial(kernels.dplr_c_tilde, length=length))(
        *args, c64(C), jnp.asarray(step, jnp.float32))
    # Then C~ = C (I - A_bar^L) of the full system (its first half), and
    # passing C~ with c_is_tilde gives the kernel of C.
    A_bar, B_bar = bilinear_dense(full_dplr_matrix(Lambda, P), full(B),
                                  step[0])
    ref = full(C[0]) @ (np.eye(2 * M) - np.linalg.matrix_power(A_bar, length))
    np.testing.assert_allclose(c_t[0], ref[:M], **tol.F32_VS_F64)
    np.testing.assert_allclose(np.conj(c_t[0]), ref[M:], **tol.F32_VS_F64)
    k = jax.jit(functools.partial(kernels.s4_dplr_kernel, length=length,
                                  c_is_tilde=True))(
                                      *args, c64(B), c_t,
                                      jnp.asarray(step, jnp.float32))
    np.testing.assert_allclose(
        k[0], impulse_response(A_bar, B_bar, full(C[0]), length),
        **tol.scan_tol(length))

  def test_real_form_is_similar_to_the_full_complex_system(self):
    # Given x_full = T r, r = [Re x, Im x]: T = [[I, iI], [I, -iI]].
    rng = np.random.default_rng(5)
    D, M, rank = 2, 3, 2
    Lambda, P, B = random_dplr(rng, D, M, rank)
    C = crandn(rng, D, M)
    A_r, B_r, C_r = jax.jit(kernels.dplr_real_form)(c64(Lambda), c64(P),
                                                    c64(B), c64(C))
    eye = np.eye(M)
    T = np.block([[eye, 1j * eye], [eye, -1j * eye]])
    for d in range(D):
      A = full_dplr_matrix(Lambda[d], P[:, d])
      # Then A_real = T^{-1} A_full T, B_real = T^{-1} B_full and
      # C_real = C_full T (all real).
      np.testing.assert_allclose(A_r[d], np.linalg.solve(T, A @ T).real,
                                 **tol.F32_VS_F64)
      np.testing.assert_allclose(B_r[d], np.linalg.solve(T, full(B[d])).real,
                                 **tol.F32_VS_F64)
      np.testing.assert_allclose(C_r[d], (full(C[d]) @ T).real,
                                 **tol.F32_VS_F64)
      np.testing.assert_allclose(kernels.complex_output(C_r[d]), C[d],
                                 **tol.F32_VS_F64)

  @parameterized.parameters(1, 2)
  def test_bilinear_real_is_the_dense_tustin_of_the_real_form(self, rank):
    rng = np.random.default_rng(rank)
    D, M = 3, 4
    Lambda, P, B = random_dplr(rng, D, M, rank)
    step = as_f32([0.01, 0.3, 1.5])
    A_bar, B_bar = jax.jit(kernels.dplr_bilinear_real)(
        c64(Lambda), c64(P), c64(B), jnp.asarray(step, jnp.float32))
    eye = np.eye(M)
    T = np.block([[eye, 1j * eye], [eye, -1j * eye]])
    for d in range(D):
      ref_A, ref_B = bilinear_dense(full_dplr_matrix(Lambda[d], P[:, d]),
                                    full(B[d]), step[d])
      np.testing.assert_allclose(A_bar[d], np.linalg.solve(T, ref_A @ T).real,
                                 **tol.F32_VS_F64)
      np.testing.assert_allclose(B_bar[d], np.linalg.solve(T, ref_B).real,
                                 **tol.F32_VS_F64)

  def test_bad_shapes(self):
    lam, P, B = jnp.ones(4, jnp.complex64), jnp.ones((1, 4)), jnp.ones(4)
    C, step = jnp.ones((3, 4)), jnp.ones(3)
    cases = (
        (dict(step=jnp.ones((3, 1))), r"step must have shape \(D,\)"),
        (dict(Lambda=jnp.ones((2, 4))), r"Lambda must have shape \(M,\)"),
        (dict(P=jnp.ones(4)), "P must have shape"),
        (dict(P=jnp.ones((1, 5))), "P must have shape"),
        (dict(B=jnp.ones(5)), "B must have shape"),
        (dict(C=jnp.ones((2, 4))), r"C must have shape \(..., D, M\)"),
        (dict(length=-1), "length must be a positive int"),
    )
    for change, pattern in cases:
      kwargs = dict(Lambda=lam, P=P, B=B, C=C, step=step, length=8)
      kwargs.update(change)
      with self.assertRaisesRegex(ValueError, pattern):
        kernels.s4_dplr_kernel(**kwargs)


if __name__ == "__main__":
  absltest.main()
