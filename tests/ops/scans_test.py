"""Tests for spike_ssm.ops.scans.linear_scan."""

import itertools
import re
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import scans
from tests import tolerances as tol

MODES = ("sequential", "parallel", "chunked")
# (length, time_varying, reverse, complex_): every flag combination at
# T = 64, and at each other length (1: a single step; 7: shorter than a
# chunk; 300: not a power of two, the long-sequence tolerance; 1024: long)
# a complementary pair, so that every length meets every value of every
# flag and every pair of flag values occurs. (The full 5 x 8 product ran
# these same paths 40 times.)
MODE_EQUIVALENCE_CASES = (
    [(64, tv, r, c) for tv, r, c in itertools.product((True, False),
                                                      repeat=3)] +
    [(1, True, False, True), (1, False, True, False),
     (7, True, True, False), (7, False, False, True),
     (300, True, False, False), (300, False, True, True),
     (1024, True, True, True), (1024, False, False, False)])


def _loop_body_copies(fn, *args, shape):
  """`copy` ops of a `shape` array inside the while bodies of fn's program.

  The compiled (XLA) text of `jit(fn)`: a body that copies a whole
  `(T, ...)` buffer does it every step, which makes the loop quadratic in T.
  """
  text = jax.jit(fn).lower(*args).compile().as_text()
  bodies = set(re.findall(r"body=%([\w.-]+)", text))
  self_check = bool(bodies)
  dims = ",".join(str(d) for d in shape)
  copies = []
  for name, comp in re.findall(r"^%([\w.-]+) [^\n]*\{\n(.*?)^\}", text,
                               re.M | re.S):
    if name in bodies:
      copies += re.findall(rf"f32\[{dims}\]\{{[0-9,]*\}} copy\(", comp)
  return self_check, copies


def reference_scan(a, b, h0=None, reverse=False):
  """float64 NumPy loop, written independently of the library."""
  b = np.asarray(b, np.complex128 if np.iscomplexobj(b) or np.iscomplexobj(a)
                 else np.float64)
  a = np.asarray(a, b.dtype)
  length = b.shape[0]
  time_varying = a.ndim == b.ndim and a.shape[0] == length and length != 1
  if a.ndim == b.ndim and not time_varying:
    a = a[0]
  state_shape = np.broadcast_shapes(b.shape[1:],
                                    a.shape[1:] if time_varying else a.shape,
                                    () if h0 is None else np.shape(h0))
  h = np.zeros(state_shape, b.dtype) if h0 is None else np.broadcast_to(
      np.asarray(h0, b.dtype), state_shape).copy()
  out = np.zeros((length, *state_shape), b.dtype)
  order = range(length - 1, -1, -1) if reverse else range(length)
  for t in order:
    a_t = a[t] if time_varying else a
    h = a_t * h + b[t]
    out[t] = h
  return out


def random_problem(rng, length, state_shape, *, time_varying, complex_,
                   with_h0):
  """A stable random recurrence: |a| in [0.5, 1)."""
  a_shape = (length, *state_shape) if time_varying else state_shape[-1:]
  a = rng.uniform(0.5, 1.0, size=a_shape)
  b = rng.normal(size=(length, *state_shape))
  if complex_:
    a = a * np.exp(1j * rng.uniform(-np.pi, np.pi, size=a_shape))
    b = b + 1j * rng.normal(size=b.shape)
  h0 = rng.normal(size=state_shape) if with_h0 else None
  dtype = jnp.complex64 if complex_ else jnp.float32
  cast = lambda x: None if x is None else jnp.asarray(x, dtype)
  return (a, b, h0), (cast(a), cast(b), cast(h0))


def _all_eqns(jaxpr):
  """Every equation of a jaxpr, sub-jaxprs (custom_vjp, pjit) included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      inner = getattr(param, "jaxpr", param)
      if hasattr(inner, "eqns"):
        yield from _all_eqns(inner)


class LinearScanReferenceTest(parameterized.TestCase):

  @parameterized.product(
      mode=MODES,
      time_varying=(True, False),
      reverse=(False, True),
      complex_=(False, True),
      with_h0=(False, True),
  )
  def test_matches_float64_reference(self, mode, time_varying, reverse,
                                     complex_, with_h0):
    # Given a random stable recurrence of 24 steps over a [3, 5] state.
    # A seed that is stable across processes (str hashes are salted).
    rng = np.random.default_rng(zlib.crc32(
        repr((mode, time_varying, reverse, complex_, with_h0)).encode()))
    (a, b, h0), (a32, b32, h032) = random_problem(
        rng, 24, (3, 5), time_varying=time_varying, complex_=complex_,
        with_h0=with_h0)
    # When it is scanned in float32.
    h = scans.linear_scan(a32, b32, h032, mode=mode, reverse=reverse,
                          chunk_size=6)
    # Then it equals the float64 loop.
    expected = reference_scan(a, b, h0, reverse=reverse)
    self.assertEqual(h.shape, expected.shape)
    self.assertEqual(h.dtype, jnp.complex64 if complex_ else jnp.float32)
    np.testing.assert_allclose(h, expected, **tol.F32_VS_F64)


class LinearScanModeEquivalenceTest(parameterized.TestCase):

  @parameterized.parameters(*MODE_EQUIVALENCE_CASES)
  def test_every_pair_of_modes_agrees(self, length, time_varying, reverse,
                                      complex_):
    # Given a random problem with a random state shape and an initial state.
    rng = np.random.default_rng(length * 16 + time_varying * 4 + reverse * 2 +
                                complex_)
    state_shape = tuple(rng.integers(1, 5, size=rng.integers(1, 3)))
    _, (a, b, h0) = random_problem(rng, length, state_shape,
                                   time_varying=time_varying,
                                   complex_=complex_, with_h0=True)
    # When every mode evaluates it (chunked with two chunk sizes).
    results = {
        mode: scans.linear_scan(a, b, h0, mode=mode, reverse=reverse)
        for mode in MODES
    }
    results["chunked_1"] = scans.linear_scan(a, b, h0, mode="chunked",
                                             reverse=reverse, chunk_size=1)
    results["auto"] = scans.linear_scan(a, b, h0, reverse=reverse)
    # Then every pair agrees.
    for (m1, r1), (m2, r2) in itertools.combinations(results.items(), 2):
      np.testing.assert_allclose(r1, r2, err_msg=f"{m1} vs {m2}",
                                 **tol.scan_tol(length))

  @parameterized.parameters(*MODES)
  def test_gradients_agree_across_modes(self, mode):
    # Given a loss that depends non-linearly on every state.
    rng = np.random.default_rng(3)
    _, (a, b, h0) = random_problem(rng, 48, (2, 3), time_varying=True,
                                   complex_=False, with_h0=True)
    w = jnp.asarray(rng.normal(size=(48, 2, 3)), jnp.float32)

    def loss(a, b, h0, mode):
      return jnp.sum(w * scans.linear_scan(a, b, h0, mode=mode,
                                           chunk_size=8)**2)

    # When the gradient is taken through the mode under test and sequential.
    got = jax.grad(loss, argnums=(0, 1, 2))(a, b, h0, mode)
    ref = jax.grad(loss, argnums=(0, 1, 2))(a, b, h0, "sequential")
    # Then all three gradients agree.
    for g, r in zip(got, ref):
      np.testing.assert_allclose(g, r, **tol.F32_SCAN_SHORT)

  def test_gradient_through_plain_lax_scan_agrees(self):
    # Given the same recurrence written as a naive lax.scan, differentiated
    # by JAX itself rather than by the custom VJP.
    rng = np.random.default_rng(4)
    _, (a, b, h0) = random_problem(rng, 32, (4,), time_varying=False,
                                   complex_=True, with_h0=True)

    def naive(a, b, h0):
      def step(h, b_t):
        h = a * h + b_t
        return h, h
      return jax.lax.scan(step, h0, b)[1]

    def loss(fn, a, b, h0):
      return jnp.sum(jnp.abs(fn(a, b, h0))**2)

    for mode in MODES:
      fn = lambda a, b, h0, m=mode: scans.linear_scan(a, b, h0, mode=m)
      got = jax.grad(lambda *x: loss(fn, *x), argnums=(0, 1, 2))(a, b, h0)
      ref = jax.grad(lambda *x: loss(naive, *x), argnums=(0, 1, 2))(a, b, h0)
      for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, err_msg=mode, **tol.F32_SCAN_SHORT)


class LinearScanDtypeTest(parameterized.TestCase):

  @parameterized.parameters(*MODES)
  def test_bfloat16_input_accumulates_in_float32(self, mode):
    # Given 1000 steps of h_t = h_{t-1} + 1 in bfloat16. A bfloat16 carry
    # would stall at 256 (256 + 1 rounds back to 256).
    ones = jnp.ones((1000, 2), jnp.bfloat16)
    # When it is scanned.
    h = scans.linear_scan(ones, ones, mode=mode, chunk_size=40)
    # Then the output is bfloat16 and the count is right to bf16 rounding.
    self.assertEqual(h.dtype, jnp.bfloat16)
    np.testing.assert_allclose(
        np.asarray(h, np.float32)[:, 0], np.arange(1, 1001), rtol=2**-8)

  @parameterized.parameters(*MODES)
  def test_bfloat16_matches_float32(self, mode):
    rng = np.random.default_rng(5)
    _, (a, b, h0) = random_problem(rng, 200, (4, 8), time_varying=True,
                                   complex_=False, with_h0=True)
    h32 = scans.linear_scan(a, b, h0, mode=mode)
    h16 = scans.linear_scan(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16),
                            h0.astype(jnp.bfloat16), mode=mode)
    self.assertEqual(h16.dtype, jnp.bfloat16)
    np.testing.assert_allclose(np.asarray(h16, np.float32), h32,
                               **tol.BF16_PATH)

  @parameterized.parameters(*MODES)
  def test_gradient_dtypes_follow_inputs(self, mode):
    a = jnp.full((16, 3), 0.9, jnp.bfloat16)
    b = jnp.ones((16, 3), jnp.float32)
    h0 = jnp.ones((3,), jnp.bfloat16)
    grads = jax.grad(
        lambda a, b, h0: scans.linear_scan(a, b, h0, mode=mode).sum(),
        argnums=(0, 1, 2))(a, b, h0)
    self.assertEqual([g.dtype for g in grads],
                     [jnp.bfloat16, jnp.float32, jnp.bfloat16])

  def test_time_invariant_decay_is_not_materialised_sequentially(self):
    # Given a time-invariant decay of shape [P] and an input [T, B, P].
    a = jnp.full((8,), 0.9)
    b = jnp.ones((512, 4, 8))
    # When the sequential scan is traced.
    jaxpr = jax.make_jaxpr(
        lambda a, b: scans.linear_scan(a, b, mode="sequential"))(a, b)
    # Then the only scanned-over operand is b; `a` is a loop constant.
    scan_eqns = [e for e in _all_eqns(jaxpr.jaxpr) if e.primitive.name == "scan"]
    self.assertNotEmpty(scan_eqns)
    for eqn in scan_eqns:
      n_xs = (len(eqn.invars) - eqn.params["num_consts"] -
              eqn.params["num_carry"])
      self.assertEqual(n_xs, 1)
    # And apart from the loop itself (and the calls that wrap it), no
    # operation creates a length-512 array: `a` is never broadcast over time.
    wrappers = ("scan", "jit", "pjit", "custom_vjp_call")
    shapes = [v.aval.shape for e in _all_eqns(jaxpr.jaxpr)
              if e.primitive.name not in wrappers for v in e.outvars]
    self.assertEmpty([s for s in shapes if s and s[0] == 512])

  @parameterized.parameters(*MODES)
  def test_time_invariant_gradient_equals_broadcast_gradient(self, mode):
    # The gradient of a time-invariant `a` is the sum over time of the
    # gradient of the same `a` broadcast to every step.
    rng = np.random.default_rng(9)
    a = jnp.asarray(rng.uniform(0.5, 1.0, size=(8,)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(64, 4, 8)), jnp.float32)
    loss = lambda h: jnp.sum(jnp.sin(h))
    got = jax.grad(lambda a: loss(scans.linear_scan(a, b, mode=mode)))(a)
    ref = jax.grad(lambda a: loss(scans.linear_scan(
        jnp.broadcast_to(a, b.shape), b, mode=mode)))(a)
    np.testing.assert_allclose(got, ref, **tol.F32_SCAN_SHORT)

  @parameterized.product(time_varying=(True, False), reverse=(False, True))
  def test_sequential_gradient_loop_updates_in_place(self, time_varying,
                                                     reverse):
    # The adjoint loop overwrites the cotangent slot by slot: no step may copy
    # the whole (T, ...) buffer (XLA:CPU does when a read of the slot is not
    # ordered before the write), or the backward is quadratic in T.
    a = jnp.full((16, 4, 8) if time_varying else (8,), 0.9)
    b = jnp.ones((16, 4, 8))
    grad = jax.grad(lambda a, b: jnp.sum(scans.linear_scan(
        a, b, mode="sequential", reverse=reverse) ** 2), argnums=(0, 1))
    has_loop, copies = _loop_body_copies(grad, a, b, shape=(16, 4, 8))
    self.assertTrue(has_loop)
    self.assertEmpty(copies)


class LinearScanVariantsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*MODES)
  def test_jit_and_no_jit_agree_with_reference(self, mode):
    rng = np.random.default_rng(6)
    (a, b, h0), (a32, b32, h032) = random_problem(
        rng, 20, (3,), time_varying=True, complex_=True, with_h0=True)
    fn = self.variant(
        lambda a, b, h0: scans.linear_scan(a, b, h0, mode=mode, chunk_size=5))
    np.testing.assert_allclose(fn(a32, b32, h032), reference_scan(a, b, h0),
                               **tol.F32_VS_F64)

  @chex.variants(with_pmap=True)
  @parameterized.parameters(*MODES)
  def test_pmap_across_four_devices(self, mode):
    # Given one independent problem per device (4 fake CPU devices).
    self.assertEqual(jax.device_count(), 4)
    rng = np.random.default_rng(7)
    a = rng.uniform(0.5, 1.0, size=(4, 16, 3))
    b = rng.normal(size=(4, 16, 3))
    fn = self.variant(lambda a, b: scans.linear_scan(a, b, mode=mode),
                      broadcast_args_to_devices=False, reduce_fn=None)
    h = fn(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    expected = np.stack([reference_scan(a[i], b[i]) for i in range(4)])
    np.testing.assert_allclose(h, expected, **tol.F32_VS_F64)

  def test_vmap_over_a_leading_batch(self):
    rng = np.random.default_rng(8)
    a = rng.uniform(0.5, 1.0, size=(3, 10, 2))
    b = rng.normal(size=(3, 10, 2))
    h = jax.vmap(lambda a, b: scans.linear_scan(a, b, mode="chunked"))(
        jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32))
    expected = np.stack([reference_scan(a[i], b[i]) for i in range(3)])
    np.testing.assert_allclose(h, expected, **tol.F32_VS_F64)


class LinearScanAutoTest(absltest.TestCase):

  def test_auto_is_sequential_on_cpu_and_parallel_on_accelerators(self):
    self.assertEqual(scans.auto_mode(4096, "cpu"), scans.ScanMode.SEQUENTIAL)
    self.assertEqual(scans.auto_mode(4096, "gpu"), scans.ScanMode.PARALLEL)
    self.assertEqual(scans.auto_mode(4096, "tpu"), scans.ScanMode.PARALLEL)
    self.assertEqual(scans.auto_mode(8, "gpu"), scans.ScanMode.SEQUENTIAL)

  def test_table_rows_are_concrete_modes_in_increasing_order(self):
    for backend, rows in scans.AUTO_TABLE.items():
      bounds = [b for b, _ in rows]
      self.assertIsNone(bounds[-1], msg=backend)  # every T is covered
      self.assertEqual(bounds[:-1], sorted(bounds[:-1]), msg=backend)
      for _, mode in rows:
        self.assertIn(mode, ("sequential", "parallel", "chunked"))
    self.assertEqual(scans.auto_mode(4096, "some_plugin"),
                     scans.ScanMode.PARALLEL)

  def test_default_chunk_size_divides_length(self):
    for length in (1, 2, 7, 12, 64, 100, 1000, 1024, 4096, 97):
      c = scans.default_chunk_size(length)
      self.assertEqual(length % c, 0, msg=str(length))
    self.assertEqual(scans.default_chunk_size(1024), 32)
    self.assertEqual(scans.default_chunk_size(100), 10)

  def test_empty_sequence(self):
    h = scans.linear_scan(jnp.ones((0, 3)), jnp.ones((0, 3)))
    self.assertEqual(h.shape, (0, 3))


def _split(z):
  """Complex `(..., K)` -> real split layout `(..., 2K)`: [re | im]."""
  return np.concatenate([np.real(z), np.imag(z)], axis=-1)


class ComplexPairScanTest(parameterized.TestCase):

  @parameterized.parameters(False, True)
  def test_matches_float64_complex_reference(self, reverse):
    # Given a stable complex recurrence with K = 5 states over a (3,) batch.
    rng = np.random.default_rng(11 + reverse)
    (a, b, _), _ = random_problem(rng, 19, (3, 5), time_varying=False,
                                  complex_=True, with_h0=False)
    # When it runs on real pairs in split layout.
    h = scans.complex_pair_scan(np.real(a).astype(np.float32),
                                np.imag(a).astype(np.float32),
                                _split(b).astype(np.float32), reverse=reverse)
    # Then it is the complex recurrence, in split layout and float32.
    self.assertEqual(h.dtype, jnp.float32)
    np.testing.assert_allclose(
        h, _split(reference_scan(a, b, reverse=reverse)), **tol.F32_VS_F64)

  @parameterized.parameters(False, True)
  def test_gradients_equal_the_complex_linear_scans(self, reverse):
    # The custom VJP against linear_scan's (itself checked against finite
    # differences in tests/x64), through the same real loss.
    rng = np.random.default_rng(5)
    (a, b, _), _ = random_problem(rng, 23, (2, 4), time_varying=False,
                                  complex_=True, with_h0=False)
    w = jnp.asarray(rng.normal(size=(23, 2, 8)), jnp.float32)
    a_re, a_im = (jnp.asarray(p, jnp.float32) for p in (a.real, a.imag))
    b_re, b_im = (jnp.asarray(p, jnp.float32) for p in (b.real, b.imag))

    def pairs(a_re, a_im, b_re, b_im):
      z = jnp.concatenate([b_re, b_im], axis=-1)
      return jnp.sum(w * scans.complex_pair_scan(a_re, a_im, z,
                                                 reverse=reverse))

    def complex_(a_re, a_im, b_re, b_im):
      h = scans.linear_scan(jax.lax.complex(a_re, a_im),
                            jax.lax.complex(b_re, b_im), mode="sequential",
                            reverse=reverse)
      return jnp.sum(w * jnp.concatenate([h.real, h.imag], axis=-1))

    args = (a_re, a_im, b_re, b_im)
    grads = jax.jit(lambda *a: (jax.grad(pairs, argnums=(0, 1, 2, 3))(*a),
                                jax.grad(complex_, argnums=(0, 1, 2, 3))(*a)))
    got, want = grads(*args)
    chex.assert_trees_all_close(got, want, **tol.F32_VS_F64)

  @parameterized.parameters(False, True)
  def test_loops_update_in_place(self, reverse):
    # Forward and adjoint loops overwrite their buffers slot by slot: no step
    # copies a whole (T, ...) buffer.
    grad = jax.grad(lambda a, z: jnp.sum(scans.complex_pair_scan(
        a, a, z, reverse=reverse) ** 2), argnums=(0, 1))
    has_loop, copies = _loop_body_copies(grad, jnp.full((4,), 0.5),
                                         jnp.ones((16, 4, 8)),
                                         shape=(16, 4, 8))
    self.assertTrue(has_loop)
    self.assertEmpty(copies)

  def test_bad_inputs_name_the_argument(self):
    a = jnp.ones((3,))
    with self.assertRaisesRegex(ValueError, r"`b` must be \(T, \.\.\., 2K\) "
                                r"with K = 3 from `a_re`; got shape \(4, 5\)"):
      scans.complex_pair_scan(a, a, jnp.ones((4, 5)))
    with self.assertRaisesRegex(ValueError, r"`a_re` \(3,\) and `a_im` "
                                r"\(2,\)"):
      scans.complex_pair_scan(a, jnp.ones((2,)), jnp.ones((4, 6)))
    with self.assertRaisesRegex(TypeError, r"`b` must be a real floating"):
      scans.complex_pair_scan(a, a, jnp.ones((4, 6), jnp.complex64))


class LinearScanBadInputTest(parameterized.TestCase):

  def test_scalar_b(self):
    with self.assertRaisesRegex(ValueError, r"`b` must have a leading time"):
      scans.linear_scan(jnp.float32(0.5), jnp.float32(1.0))

  def test_wrong_time_axis(self):
    with self.assertRaisesRegex(ValueError, r"`a` has shape \(5, 3\)"):
      scans.linear_scan(jnp.ones((5, 3)), jnp.ones((8, 3)))

  def test_feature_mismatch(self):
    with self.assertRaisesRegex(ValueError, r"do not broadcast"):
      scans.linear_scan(jnp.ones((4,)), jnp.ones((8, 3)))

  def test_h0_mismatch(self):
    with self.assertRaisesRegex(ValueError, r"h0"):
      scans.linear_scan(jnp.ones((3,)), jnp.ones((8, 3)), jnp.ones((2,)))

  def test_a_with_more_dims_than_b(self):
    with self.assertRaisesRegex(ValueError, r"more dims"):
      scans.linear_scan(jnp.ones((8, 2, 3)), jnp.ones((8,)))

  def test_unknown_mode(self):
    with self.assertRaisesRegex(ValueError, r"`mode` must be one of"):
      scans.linear_scan(jnp.ones((3,)), jnp.ones((8, 3)), mode="fast")

  @parameterized.parameters(3, 5, 0, -2, 2.5, True)
  def test_bad_chunk_size(self, chunk_size):
    with self.assertRaisesRegex(ValueError, r"`chunk_size`"):
      scans.linear_scan(jnp.ones((3,)), jnp.ones((8, 3)), mode="chunked",
                        chunk_size=chunk_size)

  def test_integer_input(self):
    with self.assertRaisesRegex(TypeError, r"`b` must be a floating"):
      scans.linear_scan(jnp.ones((3,)), jnp.ones((8, 3), jnp.int32))


if __name__ == "__main__":
  absltest.main()
