"""Tests for spike_ssm.ops.selective_scan."""

import itertools
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import selective_scan as sscan
from tests import tolerances as tol

MODES = ("sequential", "parallel", "chunked")


def reference_selective_scan(x, dt, a, b, c, d=None, h0=None):
  """float64 NumPy loop over time, written from the paper's equations.

  Args:
    x, dt: (T, B, D). a: (D, N). b, c: (T, B, N). d: (D,). h0: (B, D, N).

  Returns:
    (y (T, B, D), h_T (B, D, N)), float64.
  """
  x, dt, a, b, c = (np.asarray(v, np.float64) for v in (x, dt, a, b, c))
  length, batch, width = x.shape
  h = (np.zeros((batch, width, a.shape[1])) if h0 is None else
       np.array(h0, np.float64))
  y = np.zeros(x.shape)
  for t in range(length):
    for i in range(batch):
      for k in range(width):
        h[i, k] = (np.exp(dt[t, i, k] * a[k]) * h[i, k] +
                   dt[t, i, k] * x[t, i, k] * b[t, i])
        y[t, i, k] = h[i, k] @ c[t, i]
  if d is not None:
    y += np.asarray(d, np.float64) * x
  return y, h


def random_problem(seed, length, batch=2, width=3, n=4):
  """Inputs (float64 NumPy) of a stable problem: dt > 0, A < 0."""
  rng = np.random.default_rng(seed)
  return dict(
      x=rng.normal(size=(length, batch, width)),
      dt=rng.uniform(0.01, 0.6, size=(length, batch, width)),
      a=-rng.uniform(0.2, 3.0, size=(width, n)),
      b=rng.normal(size=(length, batch, n)),
      c=rng.normal(size=(length, batch, n)),
      d=rng.normal(size=(width,)),
      h0=rng.normal(size=(batch, width, n)),
  )


def as_f32(problem):
  return {k: jnp.asarray(v, jnp.float32) for k, v in problem.items()}


def _all_eqns(jaxpr):
  """Every equation of a jaxpr, sub-jaxprs (scan, remat, pjit) included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _all_eqns(inner)


def largest_intermediate(fn, *args) -> int:
  """Element count of the largest array any equation of `fn` creates."""
  jaxpr = jax.make_jaxpr(fn)(*args)
  return max(int(np.prod(v.aval.shape)) for e in _all_eqns(jaxpr.jaxpr)
             for v in e.outvars if hasattr(v.aval, "shape"))


class SelectiveScanReferenceTest(parameterized.TestCase):

  @parameterized.parameters(("sequential", None), ("sequential", 1),
                            ("sequential", 5), ("parallel", 5),
                            ("parallel", 40), ("chunked", 5))
  def test_matches_float64_reference(self, mode, chunk_size):
    # Given a 23-step problem with an initial state and a skip term; the
    # chunk sizes include one that does not divide T (padded) and one
    # longer than T.
    p = random_problem(1, 23)
    # When it is scanned in float32.
    y, h = sscan.selective_scan(**as_f32(p), mode=mode, chunk_size=chunk_size)
    # Then outputs and final state equal the float64 loop.
    y_ref, h_ref = reference_selective_scan(**p)
    self.assertEqual(y.dtype, jnp.float32)
    self.assertEqual(h.dtype, jnp.float32)
    np.testing.assert_allclose(y, y_ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(h, h_ref, **tol.F32_VS_F64)

  def test_defaults_are_zero_state_and_no_skip(self):
    p = random_problem(2, 9)
    y, h = sscan.selective_scan(*(jnp.asarray(p[k], jnp.float32)
                                  for k in ("x", "dt", "a", "b", "c")))
    y_ref, h_ref = reference_selective_scan(p["x"], p["dt"], p["a"], p["b"],
                                            p["c"])
    np.testing.assert_allclose(y, y_ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(h, h_ref, **tol.F32_VS_F64)

  def test_step_matches_reference(self):
    # Given the same problem stepped one time step at a time.
    p = random_problem(3, 6)
    q = as_f32(p)
    h, ys = q["h0"], []
    for t in range(6):
      y_t, h = sscan.selective_step(q["x"][t], q["dt"][t], q["a"], q["b"][t],
                                    q["c"][t], q["d"], h)
      ys.append(y_t)
    # Then it equals the float64 loop.
    y_ref, h_ref = reference_selective_scan(**p)
    np.testing.assert_allclose(jnp.stack(ys), y_ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(h, h_ref, **tol.F32_VS_F64)

  def test_no_batch_axis_and_two_batch_axes(self):
    # `...` may be empty or several axes.
    p = random_problem(4, 10, batch=6)
    y_ref, h_ref = reference_selective_scan(**p)
    q = as_f32(p)
    y, h = sscan.selective_scan(q["x"][:, 0], q["dt"][:, 0], q["a"],
                                q["b"][:, 0], q["c"][:, 0], q["d"],
                                q["h0"][0], chunk_size=3)
    np.testing.assert_allclose(y, y_ref[:, 0], **tol.F32_VS_F64)
    np.testing.assert_allclose(h, h_ref[0], **tol.F32_VS_F64)
    r = lambda v: v.reshape(v.shape[0], 2, 3, *v.shape[2:])
    y, h = sscan.selective_scan(r(q["x"]), r(q["dt"]), q["a"], r(q["b"]),
                                r(q["c"]), q["d"],
                                q["h0"].reshape(2, 3, 3, 4), chunk_size=3)
    np.testing.assert_allclose(y, r(y_ref), **tol.F32_VS_F64)
    np.testing.assert_allclose(h, h_ref.reshape(2, 3, 3, 4), **tol.F32_VS_F64)

  def test_empty_sequence_returns_initial_state(self):
    q = as_f32(random_problem(5, 0))
    y, h = sscan.selective_scan(**q)
    self.assertEqual(y.shape, (0, 2, 3))
    np.testing.assert_array_equal(h, q["h0"])


def _naive(x, dt, a, b, c, d, h0):
  """The recurrence as a plain lax.scan: no custom VJP, remat or chunks."""
  def step(h, xs):
    x_t, dt_t, b_t, c_t = xs
    h = (jnp.exp(dt_t[..., None] * a) * h +
         (dt_t * x_t)[..., None] * b_t[:, None, :])
    return h, jnp.einsum("bdn,bn->bd", h, c_t) + d * x_t
  h, y = jax.lax.scan(step, h0, (x, dt, b, c))
  return y, h


@jax.jit
def _naive_grad(args, w, wh):
  def loss(args):
    y, h = _naive(*args)
    return jnp.sum(w * jnp.sin(y)) + jnp.sum(wh * h)
  return jax.grad(loss)(args)


class SelectiveScanModeEquivalenceTest(parameterized.TestCase):

  def test_every_pair_of_modes_and_chunk_sizes_agrees(self):
    # Given a 200-step problem with long memory (small dt).
    p = random_problem(6, 200, width=5, n=6)
    q = as_f32(p)
    # When every mode evaluates it, with default chunks (~sqrt(T)), chunks
    # of 64 (the last one padded) and of 7.
    runs = (("sequential", None), ("parallel", 64), ("chunked", None),
            ("auto", 7))
    results = {(mode, cs): sscan.selective_scan(**q, mode=mode, chunk_size=cs)
               for mode, cs in runs}
    # Then every pair agrees, outputs and final states.
    for (k1, r1), (k2, r2) in itertools.combinations(results.items(), 2):
      for v1, v2 in zip(r1, r2):
        np.testing.assert_allclose(v1, v2, err_msg=f"{k1} vs {k2}",
                                   **tol.F32_SCAN_SHORT)

  @parameterized.parameters(("sequential", 4), ("parallel", 4),
                            ("chunked", 9))
  def test_gradients_agree_with_autodiff_of_a_plain_loop(self, mode,
                                                         chunk_size):
    # Given a loss on the outputs and the final state, over 18 steps (a
    # chunk size of 4 pads the last chunk). The reference
    # gradient is JAX's own autodiff of a naive lax.scan (no custom VJP,
    # no remat, no chunks).
    q = as_f32(random_problem(7, 18))
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=q["x"].shape), jnp.float32)
    wh = jnp.asarray(rng.normal(size=q["h0"].shape), jnp.float32)

    def loss(fn, args):
      y, h = fn(*args)
      return jnp.sum(w * jnp.sin(y)) + jnp.sum(wh * h)

    args = tuple(q[k] for k in ("x", "dt", "a", "b", "c", "d", "h0"))
    fn = lambda *a: sscan.selective_scan(*a, mode=mode, chunk_size=chunk_size)
    # When both are differentiated w.r.t. every input.
    got = jax.jit(jax.grad(lambda a: loss(fn, a)))(args)
    ref = _naive_grad(args, w, wh)
    # Then all seven gradients agree.
    for name, g, r in zip(("x", "dt", "a", "b", "c", "d", "h0"), got, ref):
      np.testing.assert_allclose(g, r, err_msg=name, **tol.F32_SCAN_SHORT)


class SelectiveScanMemoryTest(parameterized.TestCase):
  """No intermediate holds every step's state, forward or backward."""

  @parameterized.product(mode=MODES, grad=(False, True))
  def test_no_array_spans_time_and_state(self, mode, grad):
    # Given T = 64 steps of a (B=2, D=3, N=5) state in chunks of 8: one
    # chunk's states are 8*2*3*5 = 240 elements and the chunk-boundary
    # states 8*2*3*5 = 240, while any array spanning T and D*N has at least
    # 64*3*5 = 960.
    length, batch, width, n = 64, 2, 3, 5
    q = as_f32(random_problem(8, length, batch, width, n))
    args = tuple(q[k] for k in ("x", "dt", "a", "b", "c", "d", "h0"))

    def forward(*args):
      y, h = sscan.selective_scan(*args, mode=mode, chunk_size=8)
      return jnp.sum(jnp.sin(y)) + jnp.sum(h)

    fn = jax.grad(forward, argnums=tuple(range(7))) if grad else forward
    # When the (forward or forward+backward) program is traced.
    biggest = largest_intermediate(fn, *args)
    # Then no equation creates an array as large as T * D * N.
    self.assertLess(biggest, length * width * n)

  def test_sequential_step_never_materialises_a_time_state_array(self):
    # A single chunk (chunk_size = T): the sequential mode still only holds
    # (B, D, N) per step, while the parallel mode builds (T, B, D, N).
    length, batch, width, n = 64, 2, 3, 5
    q = as_f32(random_problem(9, length, batch, width, n))
    args = tuple(q[k] for k in ("x", "dt", "a", "b", "c"))
    seq = largest_intermediate(
        lambda *a: sscan.selective_scan(*a, mode="sequential",
                                        chunk_size=length), *args)
    par = largest_intermediate(
        lambda *a: sscan.selective_scan(*a, mode="parallel",
                                        chunk_size=length), *args)
    self.assertLess(seq, length * width * n)
    self.assertGreaterEqual(par, length * batch * width * n)


class SelectiveScanDtypeTest(parameterized.TestCase):

  @parameterized.parameters(*MODES)
  def test_bfloat16_input_accumulates_in_float32(self, mode):
    # Given 512 steps of h <- h + 1 (dt = 1, A = 0 so exp(dt A) = 1, x = 1,
    # B = C = 1) in bfloat16; a bfloat16 carry would stall at 256.
    ones = jnp.ones((512, 1, 1), jnp.bfloat16)
    y, h = sscan.selective_scan(ones, ones, jnp.zeros((1, 1), jnp.bfloat16),
                                ones, ones, mode=mode, chunk_size=32)
    self.assertEqual(y.dtype, jnp.bfloat16)
    self.assertEqual(h.dtype, jnp.float32)
    self.assertEqual(float(h[0, 0, 0]), 512.0)
    np.testing.assert_allclose(
        np.asarray(y, np.float32)[:, 0, 0], np.arange(1, 513), rtol=2**-8)


class SelectiveScanVariantsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*MODES)
  def test_jit_and_no_jit_agree_with_reference(self, mode):
    p = random_problem(10, 11)
    fn = self.variant(
        lambda q: sscan.selective_scan(**q, mode=mode, chunk_size=4))
    y, h = fn(as_f32(p))
    y_ref, h_ref = reference_selective_scan(**p)
    np.testing.assert_allclose(y, y_ref, **tol.F32_VS_F64)
    np.testing.assert_allclose(h, h_ref, **tol.F32_VS_F64)


class SoftplusInverseTest(absltest.TestCase):

  def test_inverts_softplus(self):
    y = np.geomspace(1e-4, 10.0, 50)
    np.testing.assert_allclose(
        jax.nn.softplus(sscan.softplus_inverse(jnp.asarray(y, jnp.float32))),
        y, rtol=tol.F32_VS_F64["rtol"] * 10)

  def test_default_chunk_size(self):
    self.assertEqual(sscan.default_chunk_size(1024), 32)
    self.assertEqual(sscan.default_chunk_size(1), 1)
    for length in (2, 7, 100, 4096, 5000):
      c = sscan.default_chunk_size(length)
      self.assertBetween(c, np.sqrt(length) / 2, np.sqrt(length) * 2)


class ParallelChunkSizeTest(parameterized.TestCase):
  """The parallel modes' default chunk on backends with a memory budget."""

  @parameterized.parameters(
      # (T, state elements, budget entry, expected C)
      (1024, 8 * 64 * 16, None, 32),            # No entry: ~sqrt(T).
      (1024, 8 * 64 * 16, 512 << 20, 1024),     # 32 KiB a step: all of T.
      (4096, 1 << 20, 512 << 20, 128),          # 4 MiB a step: 128 fit.
      (4096, 3 << 20, 512 << 20, 64),           # 42 fit: a power of two.
      (4096, 1 << 24, 512 << 20, 64),           # 8 fit: never below sqrt.
      (1, 1 << 30, 1, 1),
  )
  def test_chunk_fits_the_budget(self, length, state, budget, expected):
    table = {} if budget is None else {"gpu": budget}
    with mock.patch.object(sscan, "PARALLEL_CHUNK_BYTES", table):
      self.assertEqual(sscan.parallel_chunk_size(length, state, "gpu"),
                       expected)

  @parameterized.parameters("parallel", "chunked", "sequential")
  def test_selective_scan_takes_it_in_the_parallel_modes(self, mode):
    # Given this backend with a budget that fits 16 of 40 steps of a
    # (2, 3, 4) state (24 floats: 96 bytes a step).
    rng = np.random.default_rng(0)
    t, bsz, d, n = 40, 2, 3, 4
    x = jnp.asarray(rng.normal(size=(t, bsz, d)), jnp.float32)
    dt = jnp.asarray(rng.uniform(0.01, 0.2, (t, bsz, d)), jnp.float32)
    a = -jnp.asarray(rng.uniform(0.5, 2.0, (d, n)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(t, bsz, n)), jnp.float32)
    c = jnp.asarray(rng.normal(size=(t, bsz, n)), jnp.float32)
    table = {jax.default_backend(): 16 * 96 + 50}
    seen = []
    inner = sscan._selective_scan

    def spy(*args, **kwargs):
      seen.append(kwargs["chunk_size"])
      return inner(*args, **kwargs)

    # When it runs with the default chunk.
    with mock.patch.object(sscan, "PARALLEL_CHUNK_BYTES", table), \
        mock.patch.object(sscan, "_selective_scan", spy):
      y, h = sscan.selective_scan(x, dt, a, b, c, mode=mode)
    # Then the parallel modes chunk by 16 (the sequential one by ~sqrt(T)),
    # and the results are those of the explicit chunk.
    want = sscan.default_chunk_size(t) if mode == "sequential" else 16
    self.assertEqual(seen, [want])
    y_ref, h_ref = sscan.selective_scan(x, dt, a, b, c, mode=mode,
                                        chunk_size=want)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h, h_ref)


class SelectiveScanBadInputTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.q = as_f32(random_problem(11, 5))

  def call(self, **overrides):
    return sscan.selective_scan(**dict(self.q, **overrides))

  @parameterized.named_parameters(
      ("a_rank", dict(a=jnp.ones((3,))), r"`a` must have rank >= 2"),
      ("a_width", dict(a=-jnp.ones((4, 4))), r"`x` must have width D=4"),
      ("dt_shape", dict(dt=jnp.ones((5, 2, 2))), r"`dt` must have the shape"),
      ("b_shape", dict(b=jnp.ones((5, 2, 3))), r"`b` must have shape"),
      ("c_shape", dict(c=jnp.ones((4, 2, 4))), r"`c` must have shape"),
      ("d_shape", dict(d=jnp.ones((2,))), r"`d` must have shape \(D,\)"),
      ("h0_shape", dict(h0=jnp.ones((2, 3, 5))), r"`h0` must have shape"),
      ("x_rank", dict(x=jnp.ones((3,))), r"`x` must have shape \(T, \.\.\., D"),
      ("mode", dict(mode="fast"), r"`mode` must be one of"),
      ("chunk_zero", dict(chunk_size=0), r"`chunk_size` must be a positive"),
      ("chunk_float", dict(chunk_size=2.0), r"`chunk_size` must be a"),
  )
  def test_value_errors(self, overrides, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      self.call(**overrides)

  def test_integer_input(self):
    with self.assertRaisesRegex(TypeError, r"`x` must be a real floating.*int"):
      self.call(x=jnp.ones((5, 2, 3), jnp.int32))

  def test_not_an_array(self):
    with self.assertRaisesRegex(TypeError, r"`b` must be an array, got list"):
      self.call(b=[[1.0]])


if __name__ == "__main__":
  absltest.main()
