"""Tests for spike_ssm.ssm.S5."""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from spike_ssm import ssm
from spike_ssm.ops import hippo
from tests import tolerances as tol

MODES = ("sequential", "parallel", "chunked", "auto")
# Standard deviation of a standard normal truncated to [-2, 2]: lecun_normal
# divides by it so that the truncated samples have variance 1/fan_in.
TRUNC_STD = stats.truncnorm(-2, 2).std()


def legs_normal_spectrum(n):
  """Eigenvalues of the normal part of HiPPO-LegS, from its definition.

  A[i, k] = -sqrt(2i+1) sqrt(2k+1) (i > k), -(i+1) (i = k), 0 (i < k), and
  S = A + p p^T with p_i = sqrt(i + 1/2) (Gu et al. 2022; S5 App. B).
  """
  i = np.arange(n)
  q = np.sqrt(2 * i + 1.0)
  a = -np.tril(np.outer(q, q), -1) - np.diag(i + 1.0)
  p = np.sqrt(i + 0.5)
  return np.linalg.eigvals(a + np.outer(p, p))


def sort_spectrum(z):
  z = np.asarray(z)
  return z[np.lexsort((z.real, z.imag))]


def reference_s5(params, x, *, conj_sym=True, bidirectional=False,
                 method="zoh", clip_eigs=False, step_rescale=1.0):
  """float64 NumPy S5 forward, written from the paper's equations.

  Args:
    params: the layer's parameters, {'lambda_re': ..., ...}.
    x: input, (B, T, D).
    conj_sym, bidirectional, method, clip_eigs, step_rescale: as the layer.

  Returns:
    y, (B, T, D), float64.
  """
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  x = np.asarray(x, np.float64)
  lam_re = np.minimum(p["lambda_re"], -1e-4) if clip_eigs else p["lambda_re"]
  lam = lam_re + 1j * p["lambda_im"]
  delta = step_rescale * np.exp(p["log_dt"])
  b = p["b"][..., 0] + 1j * p["b"][..., 1]  # (P', D)
  if method == "zoh":
    lam_bar = np.exp(lam * delta)
    b_bar = ((lam_bar - 1.0) / lam)[:, None] * b
  else:
    lam_bar = (1.0 + lam * delta / 2) / (1.0 - lam * delta / 2)
    b_bar = (delta / (1.0 - lam * delta / 2))[:, None] * b
  c = p["c"][..., 0] + 1j * p["c"][..., 1]  # (D, P') or (D, 2P')
  batch, length, _ = x.shape
  states = lam.shape[0]
  fwd = np.zeros((batch, length, states), np.complex128)
  h = np.zeros((batch, states), np.complex128)
  for t in range(length):
    h = lam_bar * h + x[:, t] @ b_bar.T
    fwd[:, t] = h
  hs = fwd
  if bidirectional:
    bwd = np.zeros_like(fwd)
    g = np.zeros((batch, states), np.complex128)
    for t in reversed(range(length)):
      g = lam_bar * g + x[:, t] @ b_bar.T
      bwd[:, t] = g
    hs = np.concatenate([fwd, bwd], axis=-1)
  scale = 2.0 if conj_sym else 1.0
  return scale * (hs @ c.T).real + p["d"] * x


def transformed(state_size, time_major=False, **kwargs):
  def forward(x):
    return ssm.S5(state_size, **kwargs)(x, time_major=time_major)
  return hk.without_apply_rng(hk.transform(forward))


def streamed(state_size, **kwargs):
  """`step` scanned over T with `hk.scan`: (B, T, D) -> (B, T, D)."""
  def forward(x):
    core = ssm.S5(state_size, **kwargs)

    def body(state, x_t):
      y_t, state = core.step(x_t, state)
      return state, y_t

    _, ys = hk.scan(body, core.initial_state(x.shape[0]),
                    x.swapaxes(0, 1))  # [T, B, D]
    return ys.swapaxes(0, 1)
  return hk.without_apply_rng(hk.transform(forward))


def init(fn, key, x):
  """Jitted init: eager init dispatches op by op and dominates test time."""
  return jax.jit(fn.init)(key, x)


def init_and_apply(fn, key, x):
  """`(params, fn.apply(params, x))` from one compilation."""
  def both(key, x):
    params = fn.init(key, x)
    return params, fn.apply(params, x)
  return jax.jit(both)(key, x)


def random_params(fn, x, seed):
  """Stable random S5 parameters of the layer's shapes, without an init.

  Compiling `init` costs seconds of CPU (mostly the PRNG), so tests that
  are not about the initialisation draw parameters here: eigenvalues in
  the left half-plane with assorted frequencies, steps in [0.01, 0.3].
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), x)["s5"]
  n = shapes["lambda_re"].shape
  values = dict(
      lambda_re=-rng.uniform(0.05, 1.0, n),
      lambda_im=rng.normal(0.0, 3.0, n),
      log_dt=np.log(rng.uniform(0.01, 0.3, n)),
      b=rng.normal(0.0, 0.5, shapes["b"].shape),
      c=rng.normal(0.0, 0.5, shapes["c"].shape),
      d=rng.normal(0.0, 1.0, shapes["d"].shape))
  return {"s5": {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}}


def random_input(seed, shape, dtype=jnp.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


class S5ReferenceTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("zoh", dict(), "sequential", False),
      ("bilinear_parallel", dict(discretization="bilinear"), "parallel",
       False),
      ("no_conj_sym_chunked", dict(conj_sym=False, blocks=2), "chunked",
       False),
      ("bidirectional", dict(bidirectional=True, blocks=2), "sequential",
       False),
      ("bidirectional_bilinear_time_major",
       dict(bidirectional=True, conj_sym=False, discretization="bilinear"),
       "parallel", True),
      ("rescaled_step", dict(step_rescale=3.0), "sequential", False),
  )
  def test_matches_float64_reference(self, kwargs, mode, time_major):
    # Given an S5 layer with random parameters on random shapes.
    rng = np.random.default_rng(len(str(kwargs)) + 7 * time_major)
    batch, width = (int(v) for v in rng.integers(1, 6, size=2))
    length = 6 * int(rng.integers(1, 9))
    x = random_input(int(rng.integers(1 << 30)), (batch, length, width))
    x_in = x.swapaxes(0, 1) if time_major else x
    fn = transformed(8, time_major=time_major, scan_mode=mode, **kwargs)
    params = random_params(fn, x_in, int(rng.integers(1 << 30)))
    # When it runs.
    y = jax.jit(fn.apply)(params, x_in)
    # Then it equals the float64 loop, in the input's layout and dtype.
    y = y.swapaxes(0, 1) if time_major else y
    self.assertEqual(y.dtype, jnp.float32)
    ref_kwargs = {k: v for k, v in kwargs.items()
                  if k in ("conj_sym", "bidirectional", "step_rescale")}
    ref_kwargs["method"] = kwargs.get("discretization", "zoh")
    np.testing.assert_allclose(
        y, reference_s5(params["s5"], x, **ref_kwargs),
        **tol.scan_tol(x.shape[1]))

  @parameterized.parameters(True, False)
  def test_clip_eigs(self, clip_eigs):
    # Given parameters with one eigenvalue in the right half-plane.
    x = random_input(0, (2, 24, 3))
    fn = transformed(4, clip_eigs=clip_eigs)
    params = random_params(fn, x, 1)
    params["s5"]["lambda_re"] = jnp.asarray([0.05, -0.5], jnp.float32)
    # When the layer runs.
    y = jax.jit(fn.apply)(params, x)
    # Then it follows the reference with Re(lambda) clipped to -1e-4 exactly
    # when clip_eigs is set.
    expected = reference_s5(params["s5"], x, clip_eigs=clip_eigs)
    np.testing.assert_allclose(y, expected, **tol.scan_tol(x.shape[1]))
    other = reference_s5(params["s5"], x, clip_eigs=not clip_eigs)
    self.assertGreater(np.abs(other - expected).max(), 1e-3)


class S5ModeEquivalenceTest(parameterized.TestCase):

  def test_every_scan_mode_and_step_agree(self):
    # Given one set of parameters and a 96-step input.
    x = random_input(1, (3, 96, 5))
    params = random_params(transformed(8), x, 2)
    # When every scan mode and the streaming step evaluate it.
    outputs = {
        mode: jax.jit(transformed(8, scan_mode=mode).apply)(params, x)
        for mode in MODES}
    outputs["step"] = jax.jit(streamed(8).apply)(params, x)
    # Then all agree with the sequential scan.
    for name, y in outputs.items():
      np.testing.assert_allclose(y, outputs["sequential"], err_msg=name,
                                 **tol.F32_SCAN_SHORT)

  def test_bidirectional_scan_modes_agree(self):
    x = random_input(2, (2, 64, 3))
    params = random_params(transformed(4, bidirectional=True), x, 3)
    outputs = {
        mode: jax.jit(transformed(4, bidirectional=True,
                                  scan_mode=mode).apply)(params, x)
        for mode in ("sequential", "parallel", "chunked")}
    for name, y in outputs.items():
      np.testing.assert_allclose(y, outputs["sequential"], err_msg=name,
                                 **tol.F32_SCAN_SHORT)

  def test_step_state_is_half_size_complex(self):
    def forward(x_t):
      core = ssm.S5(8)
      return core.step(x_t, core.initial_state(2))
    fn = hk.transform(forward)
    _, state = jax.eval_shape(lambda k, x: fn.apply(fn.init(k, x), None, x),
                              jax.random.PRNGKey(0), jnp.zeros((2, 3)))
    self.assertEqual(state.h.shape, (2, 4))
    self.assertEqual(state.h.dtype, jnp.complex64)


class S5BidirectionalTest(absltest.TestCase):

  def test_causal_and_bidirectional_dependence_on_the_future(self):
    # Given an input and a copy perturbed at the last step only.
    x = random_input(3, (2, 16, 3))
    x2 = x.at[:, -1].add(5.0)
    causal, bidir = transformed(4), transformed(4, bidirectional=True)
    p_causal = random_params(causal, x, 4)
    p_bidir = random_params(bidir, x, 4)
    y_c, y_c2 = (jax.jit(causal.apply)(p_causal, v) for v in (x, x2))
    y_b, y_b2 = (jax.jit(bidir.apply)(p_bidir, v) for v in (x, x2))
    # Then the causal layer's earlier outputs are unchanged,
    np.testing.assert_array_equal(y_c[:, :-1], y_c2[:, :-1])
    # while the bidirectional layer's first output already moved.
    self.assertGreater(float(jnp.abs(y_b[:, 0] - y_b2[:, 0]).max()), 1e-3)

  def test_forward_half_is_the_causal_layer(self):
    # Given bidirectional parameters whose backward readout is zeroed, and
    # the causal layer holding the same forward readout.
    x = random_input(4, (2, 12, 3))
    bidir = transformed(4, bidirectional=True)
    params = random_params(bidir, x, 5)
    c = params["s5"]["c"]  # (D, 2P', 2)
    half = c.shape[1] // 2
    p_fwd = {"s5": dict(params["s5"], c=c.at[:, half:].set(0.0))}
    p_causal = {"s5": dict(params["s5"], c=c[:, :half])}
    apply = jax.jit(bidir.apply)
    # Then the outputs agree, and the full bidirectional output differs.
    y_fwd = apply(p_fwd, x)
    y_causal = jax.jit(transformed(4).apply)(p_causal, x)
    np.testing.assert_allclose(y_fwd, y_causal, **tol.F32_SCAN_SHORT)
    self.assertGreater(float(jnp.abs(apply(params, x) - y_causal).max()),
                       1e-3)

  def test_streaming_raises(self):
    def forward(x_t):
      core = ssm.S5(4, bidirectional=True)
      core(x_t[:, None])
      return core.step(x_t, ssm.S5State(h=jnp.zeros((2, 2), jnp.complex64)))
    with self.assertRaisesRegex(ValueError, "bidirectional.*future"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))
    with self.assertRaisesRegex(ValueError, "bidirectional"):
      hk.transform(lambda: ssm.S5(4, bidirectional=True).initial_state(2)
                  ).init(None)


def complex_param(params, name):
  p = np.asarray(params[name], np.float64)
  return p[..., 0] + 1j * p[..., 1]


class S5InitTest(parameterized.TestCase):

  def assert_hippo_spectrum(self, params, p, blocks, conj_sym):
    lam = np.asarray(params["lambda_re"], np.float64) + 1j * np.asarray(
        params["lambda_im"], np.float64)
    # conj_sym halves the state (every per-state parameter),
    pc = p // 2 if conj_sym else p
    self.assertEqual(lam.shape, (pc,))
    self.assertEqual(params["log_dt"].shape, (pc,))
    self.assertEqual(params["b"].shape[0], pc)
    self.assertEqual(params["c"].shape[1], pc)
    # and the eigenvalues (with their conjugates under conj_sym) are J
    # copies of the LegS block spectrum.
    expected = np.tile(legs_normal_spectrum(p // blocks), blocks)
    got = np.concatenate([lam, lam.conj()]) if conj_sym else lam
    np.testing.assert_allclose(sort_spectrum(got), sort_spectrum(expected),
                               **tol.F32_VS_F64)

  def assert_truncated_normal(self, values, std):
    """Samples of lecun_normal: N(0, std^2) truncated at +-2 raw std."""
    scale = std / TRUNC_STD
    np.testing.assert_array_less(np.abs(values),
                                 2 * scale * (1 + tol.F32_VS_F64["rtol"]))
    self.assertGreater(
        stats.kstest(np.ravel(values), "truncnorm",
                     args=(-2, 2, 0, scale)).pvalue, tol.KS_ALPHA)

  @parameterized.named_parameters(
      ("trunc_standard_normal", 1, "trunc_standard_normal",
       lambda p, d: 1 / np.sqrt(p)),
      ("lecun_normal_4_blocks", 4, "lecun_normal",
       lambda p, d: 1 / np.sqrt(p * d)))
  def test_full_spectrum_init(self, blocks, c_init, std_fn):
    # Given a layer without conj_sym: V is square and unitary.
    p, width = 32, 64
    fn = transformed(p, blocks=blocks, conj_sym=False, c_init=c_init)
    params = init(fn, jax.random.PRNGKey(4), jnp.zeros((1, 1, width)))["s5"]
    self.assert_hippo_spectrum(params, p, blocks, conj_sym=False)
    _, v, vinv = hippo.block_diagonal_init(p, blocks, conj_sym=False)
    # B = V B~ is real and lecun-normal on its (P, D) shape (fan_in = P),
    b = v @ complex_param(params, "b")
    np.testing.assert_allclose(b.imag, 0.0, **tol.F32_VS_F64)
    self.assert_truncated_normal(b.real, 1 / np.sqrt(p))
    # and C = C~ V^{-1} has truncated-normal parts of the option's scale.
    c = complex_param(params, "c") @ vinv
    self.assert_truncated_normal(np.concatenate([c.real, c.imag]),
                                 std_fn(p, width))

  def test_conj_sym_init(self):
    # Given a conj_sym layer in 2 blocks with complex_normal C.
    p, width, dt_min, dt_max = 64, 64, 0.002, 0.2
    fn = transformed(p, blocks=2, c_init="complex_normal", dt_min=dt_min,
                     dt_max=dt_max)
    x = random_input(6, (2, 12, width))
    params, y = init_and_apply(fn, jax.random.PRNGKey(5), x)
    params = params["s5"]
    # The initialised layer runs as the float64 reference says,
    np.testing.assert_allclose(y, reference_s5(params, x),
                               **tol.scan_tol(x.shape[1]))
    self.assert_hippo_spectrum(params, p, 2, conj_sym=True)
    # B = V B~ + conj(V B~) recovers the real lecun-normal (P, D) matrix,
    _, v, _ = hippo.block_diagonal_init(p, 2, conj_sym=True)
    self.assert_truncated_normal(2 * (v @ complex_param(params, "b")).real,
                                 1 / np.sqrt(p))
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    # C~ entries are N(0, 1/2) directly (no V),
    self.assertGreater(
        stats.kstest(params["c"].ravel() / np.sqrt(0.5), "norm").pvalue,
        tol.KS_ALPHA)
    # d ~ N(0, 1), and log_dt is uniform on [log dt_min, log dt_max].
    self.assertGreater(stats.kstest(params["d"], "norm").pvalue,
                       tol.KS_ALPHA)
    lo, hi = np.log(dt_min), np.log(dt_max)
    self.assertGreaterEqual(params["log_dt"].min(), lo)
    self.assertLessEqual(params["log_dt"].max(), hi)
    self.assertGreater(
        stats.kstest(params["log_dt"], "uniform", args=(lo, hi - lo)).pvalue,
        tol.KS_ALPHA)


class S5BadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("state_size_zero", dict(state_size=0), "`state_size`"),
      ("blocks_zero", dict(blocks=0), "`blocks`"),
      ("blocks_do_not_divide", dict(state_size=10, blocks=3),
       "`state_size` must be divisible by `blocks`.*10.*3"),
      ("odd_state_with_conj_sym", dict(state_size=7), "`conj_sym=True`.*7"),
      ("odd_block_with_conj_sym", dict(state_size=6, blocks=2),
       "`conj_sym=True`.*block size 3"),
      ("dt_min_above_dt_max", dict(dt_min=0.5, dt_max=0.1),
       "`dt_min` must be <= `dt_max`"),
      ("dt_min_zero", dict(dt_min=0.0), "`dt_min` must be > 0"),
      ("dt_min_negative", dict(dt_min=-1.0), "`dt_min` must be > 0"),
      ("unknown_discretization", dict(discretization="euler"),
       "`discretization`.*'euler'"),
      ("unknown_c_init", dict(c_init="zeros"), "`c_init`.*'zeros'"),
      ("unknown_scan_mode", dict(scan_mode="fast"), "`scan_mode`"),
      ("step_rescale_zero", dict(step_rescale=0.0), "`step_rescale`"),
  )
  def test_bad_hyperparameters(self, kwargs, pattern):
    kwargs = dict(dict(state_size=8), **kwargs)
    with self.assertRaisesRegex(ValueError, pattern):
      hk.transform(lambda: ssm.S5(**kwargs)).init(None)

  def test_odd_state_size_is_fine_without_conj_sym(self):
    fn = transformed(7, conj_sym=False)
    params = jax.eval_shape(fn.init, jax.random.PRNGKey(0),
                            jnp.zeros((1, 2, 3)))
    self.assertEqual(params["s5"]["lambda_re"].shape, (7,))

  def test_step_with_wrong_state_shape(self):
    def forward(x_t):
      core = ssm.S5(4)
      return core.step(x_t, core.initial_state(3))
    with self.assertRaisesRegex(ValueError, r"`state.h`.*\(2, 2\).*\(3, 2\)"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))


if __name__ == "__main__":
  absltest.main()
