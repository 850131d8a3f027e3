"""Tests for spike_ssm.ssm.LRU."""

import math
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from spike_ssm import ssm
from tests import tolerances as tol

MODES = ("sequential", "parallel", "chunked", "auto")


def reference_lru(params, x):
  """float64 NumPy loop from the paper's equations, independent of the layer.

  Args:
    params: the layer's parameters, {'nu_log': ..., ...}.
    x: input, (B, T, D).

  Returns:
    y, (B, T, D), float64.
  """
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  x = np.asarray(x, np.float64)
  lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
  gamma = np.exp(p["gamma_log"])
  b = (p["b"][..., 0] + 1j * p["b"][..., 1]) * gamma[:, None]  # (N, D)
  c = p["c"][..., 0] + 1j * p["c"][..., 1]  # (D, N)
  batch, length, _ = x.shape
  h = np.zeros((batch, lam.shape[0]), np.complex128)
  y = np.zeros(x.shape)
  for t in range(length):
    h = lam * h + x[:, t] @ b.T
    y[:, t] = (h @ c.T).real + p["d"] * x[:, t]
  return y


def transformed(state_size, time_major=False, **kwargs):
  def forward(x):
    return ssm.LRU(state_size, **kwargs)(x, time_major=time_major)
  return hk.without_apply_rng(hk.transform(forward))


def streamed(state_size, **kwargs):
  """`step` scanned over T with `hk.scan`: (B, T, D) -> (B, T, D)."""
  def forward(x):
    core = ssm.LRU(state_size, **kwargs)

    def body(state, x_t):
      y_t, state = core.step(x_t, state)
      return state, y_t

    _, ys = hk.scan(body, core.initial_state(x.shape[0]),
                    x.swapaxes(0, 1))  # [T, B, D]
    return ys.swapaxes(0, 1)
  return hk.without_apply_rng(hk.transform(forward))


def init_and_apply(fn, key, x):
  """`(params, fn.apply(params, x))` from one compilation."""
  def both(key, x):
    params = fn.init(key, x)
    return params, fn.apply(params, x)
  return jax.jit(both)(key, x)


def random_params(fn, x, seed, r_min=0.5, r_max=0.99):
  """Random LRU parameters of the layer's shapes, without an init.

  Compiling `init` costs seconds of CPU (mostly the PRNG), so tests that
  are not about the initialisation draw parameters here: |lambda| uniform
  on [r_min, r_max], phases on (0, 2 pi), gamma from its definition.
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), x)["lru"]
  n, width = shapes["b"].shape[:2]
  modulus = rng.uniform(r_min, r_max, n)
  values = dict(
      nu_log=np.log(-np.log(modulus)),
      theta_log=np.log(rng.uniform(0.01, 2 * np.pi, n)),
      gamma_log=0.5 * np.log(1 - modulus**2),
      b=rng.normal(0.0, 1 / np.sqrt(2 * width), shapes["b"].shape),
      c=rng.normal(0.0, 1 / np.sqrt(n), shapes["c"].shape),
      d=rng.normal(0.0, 1.0, shapes["d"].shape))
  return {"lru": {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}}


def random_input(seed, shape, dtype=jnp.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


class LRUReferenceTest(parameterized.TestCase):

  @parameterized.parameters(("sequential", False), ("parallel", False),
                            ("chunked", False), ("sequential", True))
  def test_matches_float64_reference(self, mode, time_major):
    # Given an LRU with near-unit eigenvalues (long memory) on random shapes.
    rng = np.random.default_rng(zlib.crc32(f"{mode}{time_major}".encode()))
    batch, length, width, n = (int(v) for v in rng.integers(1, 9, size=4))
    length *= 6
    x = random_input(int(rng.integers(1 << 30)), (batch, length, width))
    fn = transformed(n, time_major=time_major, scan_mode=mode)
    x_in = x.swapaxes(0, 1) if time_major else x
    params = random_params(fn, x_in, int(rng.integers(1 << 30)))
    # When the layer runs (jitted).
    y = jax.jit(fn.apply)(params, x_in)
    # Then it equals the float64 loop, in the input's layout and dtype.
    y = y.swapaxes(0, 1) if time_major else y
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, reference_lru(params["lru"], x),
                               **tol.scan_tol(x.shape[1]))


class LRUModeEquivalenceTest(parameterized.TestCase):

  def test_every_scan_mode_and_step_agree(self):
    # Given one set of parameters and a 96-step input.
    x = random_input(1, (3, 96, 5))
    params = random_params(transformed(8), x, 1)
    # When every scan mode and the streaming step evaluate it.
    outputs = {mode: jax.jit(transformed(8, scan_mode=mode).apply)(params, x)
               for mode in MODES}
    outputs["chunked_4"] = jax.jit(
        transformed(8, scan_mode="chunked", chunk_size=4).apply)(params, x)
    outputs["step"] = jax.jit(streamed(8).apply)(params, x)
    # Then all agree with the sequential scan.
    for name, y in outputs.items():
      np.testing.assert_allclose(y, outputs["sequential"], err_msg=name,
                                 **tol.F32_SCAN_SHORT)

  def test_step_state_is_complex64(self):
    def forward(x_t):
      core = ssm.LRU(8)
      return core.step(x_t, core.initial_state(2))
    fn = hk.transform(forward)
    _, state = jax.eval_shape(lambda k, x: fn.apply(fn.init(k, x), None, x),
                              jax.random.PRNGKey(0), jnp.zeros((2, 3)))
    self.assertEqual(state.h.shape, (2, 8))
    self.assertEqual(state.h.dtype, jnp.complex64)

  def test_causal(self):
    # Given an input and a copy perturbed at the last step only.
    x = random_input(3, (2, 12, 3))
    x2 = x.at[:, -1].add(5.0)
    fn = transformed(6)
    params = random_params(fn, x, 2)
    apply = jax.jit(fn.apply)
    # When the layer runs on both.
    y, y2 = apply(params, x), apply(params, x2)
    # Then earlier outputs are identical and the last one moved.
    np.testing.assert_array_equal(y[:, :-1], y2[:, :-1])
    self.assertGreater(float(jnp.abs(y[:, -1] - y2[:, -1]).max()), 1e-3)


class LRUInitTest(parameterized.TestCase):

  @parameterized.parameters((0.0, 1.0, 2 * math.pi),
                            (0.99, 0.999, math.pi / 10))
  def test_ring_initialisation(self, r_min, r_max, max_phase):
    # Given a wide LRU initialised on a ring.
    n, width = 4096, 16
    fn = transformed(n, r_min=r_min, r_max=r_max, max_phase=max_phase)
    x = random_input(8, (1, 4, width))
    params, y = init_and_apply(fn, jax.random.PRNGKey(7), x)
    p = {k: np.asarray(v, np.float64) for k, v in params["lru"].items()}
    # Then the initialised layer runs as the float64 reference says,
    np.testing.assert_allclose(y, reference_lru(p, x),
                               **tol.scan_tol(x.shape[1]))
    modulus = np.exp(-np.exp(p["nu_log"]))
    phase = np.exp(p["theta_log"])
    # |lambda| lies on the ring and |lambda|^2 is uniform on it (uniform in
    # area), phases are uniform on [0, max_phase],
    for v in p.values():
      self.assertTrue(np.all(np.isfinite(v)))
    self.assertGreaterEqual(modulus.min(), r_min)
    self.assertLessEqual(modulus.max(), r_max)
    self.assertLess(modulus.max(), 1.0)
    self.assertGreaterEqual(phase.min(), 0.0)
    self.assertLessEqual(phase.max(), max_phase)
    self.assertGreater(
        stats.kstest(modulus**2, "uniform",
                     args=(r_min**2, r_max**2 - r_min**2)).pvalue,
        tol.KS_ALPHA)
    self.assertGreater(
        stats.kstest(phase, "uniform", args=(0.0, max_phase)).pvalue,
        tol.KS_ALPHA)
    # gamma = sqrt(1 - |lambda|^2),
    np.testing.assert_allclose(np.exp(p["gamma_log"]),
                               np.sqrt(1.0 - modulus**2), **tol.F32_VS_F64)
    # and B ~ N(0, 1/(2D)), C ~ N(0, 1/N), d ~ N(0, 1) entrywise.
    for name, std in (("b", 1 / math.sqrt(2 * width)),
                      ("c", 1 / math.sqrt(n)), ("d", 1.0)):
      self.assertGreater(
          stats.kstest(p[name].ravel() / std, "norm").pvalue,
          tol.KS_ALPHA, msg=name)


class LRUBadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("state_size_zero", dict(state_size=0), "state_size"),
      ("state_size_float", dict(state_size=4.0), "state_size"),
      ("r_min_above_r_max", dict(r_min=0.9, r_max=0.5), "r_min"),
      ("r_min_negative", dict(r_min=-0.1), "r_min"),
      ("r_max_above_one", dict(r_max=1.5), "r_max"),
      ("max_phase_zero", dict(max_phase=0.0), "max_phase"),
      ("unknown_scan_mode", dict(scan_mode="fast"), "scan_mode"),
      ("chunk_size_zero", dict(chunk_size=0), "chunk_size"),
  )
  def test_bad_hyperparameters(self, kwargs, name):
    kwargs = dict(dict(state_size=4), **kwargs)
    with self.assertRaisesRegex(ValueError, f"`{name}`"):
      hk.transform(lambda: ssm.LRU(**kwargs)).init(None)

  def test_step_with_wrong_state_shape(self):
    def forward(x_t):
      core = ssm.LRU(4)
      return core.step(x_t, core.initial_state(3))
    with self.assertRaisesRegex(ValueError, r"`state.h`.*\(2, 4\).*\(3, 4\)"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))

  def test_chunk_size_must_divide_length(self):
    fn = transformed(4, scan_mode="chunked", chunk_size=4)
    with self.assertRaisesRegex(ValueError, "chunk_size"):
      jax.eval_shape(fn.init, jax.random.PRNGKey(0), jnp.zeros((1, 6, 3)))


if __name__ == "__main__":
  absltest.main()
