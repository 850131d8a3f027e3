"""Tests for spike_ssm.neurons.run."""

import re
import sys
from unittest import mock
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np

from spike_ssm import neurons
from tests import tolerances as tol
from tests.neurons import references as refs


class RunTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(False, True)
  def test_layouts_and_reference(self, time_major):
    # Given a batch-major sequence and its time-major transpose.
    rng = np.random.default_rng(int(time_major))
    x, ref = refs.draw_away_from_threshold(
        rng, (2, 15, 3), lambda x: refs.lif(x, 0.9, 1.0))
    xs = x.swapaxes(0, 1) if time_major else x

    @hk.testing.transform_and_run(jax_transform=self.variant)
    def f(xs):
      return neurons.run(neurons.LIF(3), xs, time_major=time_major)

    # When run over it.
    out, state = f(jnp.asarray(xs))
    # Then outputs come back in the input's layout and match the loop.
    self.assertEqual(out.shape, xs.shape)
    want = ref.outputs.swapaxes(0, 1) if time_major else ref.outputs
    np.testing.assert_array_equal(out, want)
    np.testing.assert_allclose(state.v, ref.final[0], **tol.F32_VS_F64)

  def test_default_initial_state_is_zeros(self):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(2, 7, 3)), jnp.float32)
    f = hk.transform(lambda x, s: neurons.run(neurons.CuBaLIF(3), x, s))
    zeros = neurons.CuBaLIFState(jnp.zeros((2, 3)), jnp.zeros((2, 3)))
    both = jax.jit(lambda x: (f.apply({}, None, x, None),
                              f.apply({}, None, x, zeros)))
    chex.assert_trees_all_equal(*both(x))

  def test_streaming_in_two_halves_equals_one_run(self):
    # Streaming: the final state of one chunk is the initial state of the
    # next, and the concatenation equals one run over the whole sequence.
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(0.3, 1.0, size=(2, 12, 3)), jnp.float32)

    def halves(x):
      core = neurons.ALIF(3, rho=0.9, gamma=0.3)
      out1, s1 = neurons.run(core, x[:, :5])
      out2, s2 = neurons.run(core, x[:, 5:], s1)
      return jnp.concatenate([out1, out2], axis=1), s2

    whole = hk.transform(lambda x: neurons.run(
        neurons.ALIF(3, rho=0.9, gamma=0.3), x))
    both = jax.jit(lambda x: (hk.transform(halves).apply({}, None, x),
                              whole.apply({}, None, x)))
    chex.assert_trees_all_close(*both(x), **tol.F32_VS_F64)

  def test_any_rnn_core(self):
    # Given a Haiku core that is not a SpikingCore (no hidden_shape).
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 6, 3)),
                    jnp.float32)

    def ours(x):
      return neurons.run(hk.VanillaRNN(4, name="rnn"), x)

    def haikus(x):
      core = hk.VanillaRNN(4, name="rnn")
      return hk.dynamic_unroll(core, x, core.initial_state(2),
                               time_major=False)

    # When unrolled by run and by hk.dynamic_unroll with the same params.
    params = jax.jit(hk.transform(ours).init)(jax.random.PRNGKey(0), x)
    both = jax.jit(lambda p, x: (hk.transform(ours).apply(p, None, x),
                                 hk.transform(haikus).apply(p, None, x)))
    # Then they agree.
    chex.assert_trees_all_close(*both(params, x), **tol.F32_VS_F64)


# LIF options for the fused-path tests: (reset, detach_reset, learn_beta,
# per-unit beta, surrogate). Every reset / detach / learnable combination
# once, the surrogates spread over them.
FUSED_CASES = (
    ("subtract", False, False, False, "fast_sigmoid"),
    ("subtract", False, True, True, "triangular"),
    ("subtract", True, True, False, "arctan"),
    ("zero", False, True, False, "sigmoid"),
    ("zero", True, False, True, "fast_sigmoid"),
    ("zero", False, False, False, "boxcar"),
)


def _fused_and_stepped(reset, detach, learn, per_unit, surrogate, n=4):
  """`run` (fused for LIF) and `hk.dynamic_unroll` of the same LIF step."""
  beta = np.linspace(0.5, 0.95, n).astype(np.float32) if per_unit else 0.8

  def make(fused):
    def f(x, v0):
      core = neurons.LIF(n, beta, learn_beta=learn, threshold=0.7,
                         reset=reset, detach_reset=detach,
                         surrogate=surrogate, slope=2.0)
      state = neurons.LIFState(v0)
      if fused:
        return neurons.run(core, x, state, time_major=True)
      return hk.dynamic_unroll(core, x, state)
    return hk.transform(f)

  return make(True), make(False)


class FusedLIFTest(parameterized.TestCase):
  """`run` of LIF / IF is one fused scan with a custom VJP (`lif_scan`)."""

  def test_run_takes_the_fused_path_only_where_it_is_equivalent(self):
    class Custom(neurons.LIF):

      def __call__(self, x_t, prev_state):
        return super().__call__(2.0 * x_t, prev_state)

    @hk.testing.transform_and_run
    def methods():
      return [neurons.base.whole_sequence_method(core) is not None
              for core in (neurons.LIF(3), neurons.IF(3), Custom(3),
                           neurons.CuBaLIF(3), neurons.LI(3))]

    self.assertEqual(methods(), [True, True, False, False, False])
    policy = hk.mixed_precision.push_policy(
        neurons.LIF, jmp.get_policy("p=f32,c=f32,o=f32"))
    with policy:
      self.assertEqual(methods()[0], False)

  @parameterized.parameters(*FUSED_CASES)
  def test_same_spikes_and_gradients_as_stepping(self, *case):
    # Given the fused and the stepped LIF, the same parameters (a learnable
    # beta moved off its init) and a random initial state.
    fused, stepped = _fused_and_stepped(*case)
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x = jnp.asarray(rng.normal(0.4, 1.0, (11, 3, 4)), jnp.float32)
    v0 = jnp.asarray(rng.uniform(0.0, 0.5, (3, 4)), jnp.float32)
    w = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    w_v = jnp.asarray(rng.normal(size=v0.shape), jnp.float32)
    params = jax.tree.map(
        lambda p: p + jnp.asarray(rng.uniform(-0.2, 0.05, p.shape),
                                  p.dtype), fused.init(None, x, v0))

    def loss(f):
      def fn(params, x, v0):
        spikes, state = f.apply(params, None, x, v0)
        return jnp.sum(w * spikes) + jnp.sum(w_v * jnp.sin(state.v))
      return jax.grad(fn, argnums=(0, 1, 2))

    run = jax.jit(lambda p, x, v0: (fused.apply(p, None, x, v0),
                                    stepped.apply(p, None, x, v0),
                                    loss(fused)(p, x, v0),
                                    loss(stepped)(p, x, v0)))
    # When both run and are differentiated.
    out_f, out_s, grad_f, grad_s = run(params, x, v0)
    # Then the spikes agree exactly and the states to float32 rounding (the
    # two programs run the same operations, but XLA may contract a
    # multiply-add differently in each), and the custom VJP's gradients
    # (input, initial state and, if learnable, beta) are autodiff's through
    # the stepped cells up to float32 summation order.
    np.testing.assert_array_equal(out_f[0], out_s[0])
    chex.assert_trees_all_close(out_f[1], out_s[1], **tol.F32_VS_F64)
    self.assertGreater(float(out_f[0].sum()), 0)
    self.assertLen(jax.tree.leaves(grad_f), 3 if case[2] else 2)
    self.assertGreater(float(jnp.abs(grad_f[1]).max()), 0)
    chex.assert_trees_all_close(grad_f, grad_s, **tol.F32_VS_F64)

  def test_only_the_fused_backends_take_the_fused_path(self):
    # Given LIF applied on this (CPU) backend and with the CPU taken out of
    # FUSED_BACKENDS (as on a GPU).
    fused, _ = _fused_and_stepped("zero", False, False, False, "fast_sigmoid")
    x = jnp.ones((5, 2, 4), jnp.float32)
    v0 = jnp.zeros((2, 4), jnp.float32)
    params = fused.init(None, x, v0)
    trace = lambda: str(jax.make_jaxpr(
        lambda p: fused.apply(p, None, x, v0))(params))
    here = trace()
    run_module = sys.modules["spike_ssm.neurons.run"]
    with mock.patch.object(run_module, "FUSED_BACKENDS", ()):
      elsewhere = trace()
    # Then only the first runs the fused custom-VJP scan.
    self.assertIn("name=_lif_scan", here)
    self.assertNotIn("name=_lif_scan", elsewhere)

  def test_bfloat16_input_with_a_float32_state(self):
    # The carry keeps the state's dtype and spikes come out in the input's,
    # as when stepping.
    fused, stepped = _fused_and_stepped("subtract", False, True, False,
                                        "fast_sigmoid")
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.normal(0.4, 1.0, (9, 2, 4)), jnp.bfloat16)
    v0 = jnp.zeros((2, 4), jnp.float32)
    params = fused.init(None, x, v0)
    grad = lambda f: jax.grad(lambda x: jnp.sum(
        f.apply(params, None, x, v0)[0].astype(jnp.float32)**2))
    out_f, out_s, g_f, g_s = jax.jit(lambda x: (
        fused.apply(params, None, x, v0), stepped.apply(params, None, x, v0),
        grad(fused)(x), grad(stepped)(x)))(x)
    self.assertEqual(out_f[0].dtype, jnp.bfloat16)
    self.assertEqual(out_f[1].v.dtype, jnp.float32)
    np.testing.assert_array_equal(out_f[0], out_s[0])
    chex.assert_trees_all_close(out_f[1], out_s[1], **tol.F32_VS_F64)
    self.assertEqual(g_f.dtype, jnp.bfloat16)
    chex.assert_trees_all_close(g_f.astype(jnp.float32),
                                g_s.astype(jnp.float32), **tol.BF16_INPUT)


class PackedForwardTest(parameterized.TestCase):
  """`lif_scan`'s forward pass stores spikes as bits when rows divide by 8."""

  def _fused_stepped_and_inputs(self, case, shape, dtype=jnp.float32):
    # shape = (T, B, *hidden_shape); the core has hidden_shape shape[2:].
    reset, detach, learn, per_unit, surrogate = case
    hidden = shape[2:]
    beta = (np.linspace(0.5, 0.95, hidden[-1]).astype(np.float32)
            if per_unit else 0.8)

    def make(fused):
      def f(x, v0):
        core = neurons.LIF(hidden, beta, learn_beta=learn, threshold=0.7,
                           reset=reset, detach_reset=detach,
                           surrogate=surrogate)
        state = neurons.LIFState(v0)
        if fused:
          return neurons.run(core, x, state, time_major=True)
        return hk.dynamic_unroll(core, x, state)
      return hk.transform(f)

    rng = np.random.default_rng(zlib.crc32(repr((case, shape)).encode()))
    x = jnp.asarray(rng.normal(0.4, 1.0, shape), dtype)
    v0 = jnp.asarray(rng.uniform(0.0, 0.5, shape[1:]), jnp.float32)
    return make(True), make(False), x, v0, beta

  @parameterized.parameters(
      *[(case, (13, 8, 5)) for case in FUSED_CASES],
      (FUSED_CASES[1], (6, 2, 4, 3)),  # rows = B * 4 = 8
      (FUSED_CASES[3], (7, 24, 2)),
  )
  def test_packed_forward_is_the_stepped_forward(self, case, shape):
    # Given the fused and the stepped LIF on steps of 8k rows (packable).
    fused, stepped, x, v0, beta = self._fused_stepped_and_inputs(case, shape)
    self.assertTrue(neurons.base._packable(x.shape[1:]))
    params = fused.init(None, x, v0)
    # When both run forward only.
    (s_f, v_f), (s_s, v_s) = jax.jit(lambda p, x, v0: (
        fused.apply(p, None, x, v0), stepped.apply(p, None, x, v0)))(
            params, x, v0)
    # Then the fused program stored its spikes as bytes of bits, the spikes
    # agree exactly and the final states to float32 rounding.
    jaxpr = str(jax.make_jaxpr(lambda p: fused.apply(p, None, x, v0))(
        params))
    self.assertIn("u8[", jaxpr)
    np.testing.assert_array_equal(s_f, s_s)
    self.assertGreater(float(s_f.mean()), 0)
    self.assertLess(float(s_f.mean()), 1)
    chex.assert_trees_all_close(v_f, v_s, **tol.F32_VS_F64)

  @parameterized.parameters("subtract", "zero")
  def test_packed_forward_matches_float64_loop(self, reset):
    # Given inputs kept away from the threshold, 16 examples of 3 units.
    rng = np.random.default_rng(len(reset))
    beta = np.asarray([0.6, 0.8, 0.95], np.float32)
    x, ref = refs.draw_away_from_threshold(
        rng, (16, 9, 3), lambda x: refs.lif(x, beta.astype(np.float64), 1.0,
                                            reset))
    f = hk.transform(lambda x: neurons.run(neurons.LIF(3, beta, reset=reset),
                                           x))
    # When the fused LIF runs; then it is the float64 loop.
    spikes, final = jax.jit(f.apply)(f.init(None, x), None, x)
    np.testing.assert_array_equal(spikes, ref.outputs)
    self.assertGreater(ref.outputs.sum(), 0)
    np.testing.assert_allclose(final.v, ref.final[0], **tol.F32_VS_F64)

  def test_packed_and_membrane_forwards_agree(self):
    # Given bfloat16 inputs, a float32 state and a per-unit decay.
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(0.4, 1.0, (10, 8, 6)), jnp.bfloat16)
    v0 = jnp.asarray(rng.uniform(0.0, 0.5, (8, 6)), jnp.float32)
    beta = jnp.linspace(0.5, 0.95, 6)
    spec = neurons.base.LIFScanSpec(0.7, "zero", False, "fast_sigmoid", None,
                                    None)
    # When the packed forward and the membrane fill (the pass saved for the
    # backward) both run.
    packed, membranes = jax.jit(lambda x, v0: (
        neurons.base._lif_spikes_packed(x, v0, beta, spec),
        neurons.base._lif_outputs(
            neurons.base._lif_membranes(x, v0, beta, spec), x.dtype,
            v0.dtype, spec)))(x, v0)
    # Then spikes (in the input's dtype) agree exactly, states to rounding.
    self.assertEqual(packed[0].dtype, jnp.bfloat16)
    self.assertEqual(packed[1].dtype, jnp.float32)
    np.testing.assert_array_equal(packed[0], membranes[0])
    self.assertGreater(float(packed[0].astype(jnp.float32).sum()), 0)
    chex.assert_trees_all_close(packed[1], membranes[1], **tol.F32_VS_F64)

  @parameterized.parameters(((5, 3, 4),), ((5, 4, 3, 2),), ((5, 7),))
  def test_unpackable_steps_fill_membranes(self, shape):
    # Rows (B * prod(hidden_shape[:-1])) not a multiple of 8: no bits.
    self.assertFalse(neurons.base._packable(shape[1:]))
    spec = neurons.base.LIFScanSpec(1.0, "subtract", False, "fast_sigmoid",
                                    None, 0.9)
    jaxpr = str(jax.make_jaxpr(lambda x: neurons.base.lif_scan(
        x, jnp.zeros(x.shape[1:]), None, spec))(jnp.ones(shape)))
    self.assertNotIn("u8[", jaxpr)

  @parameterized.parameters(
      (1.0, np.float32), (0.7, np.float32), (2.0**-100, np.float32),
      (1e-35, np.float32), (0.7, jnp.bfloat16), (2.0**-100, jnp.bfloat16),
      (1e-35, jnp.bfloat16), (0.7, np.float16), (2.0**-10, np.float16))
  def test_loop_spikes_are_fires(self, threshold, dtype):
    # Given membranes at, one ulp around and near the threshold (and, for
    # the tiny thresholds, differences that flush to zero as subnormals).
    theta = np.asarray(threshold, dtype)
    zero, inf = np.asarray(0, dtype), np.asarray(np.inf, dtype)
    near = [theta, np.nextafter(theta, zero), np.nextafter(theta, inf),
            theta * 2, theta / 2, zero, -theta]
    u = jnp.asarray(np.asarray(near, dtype))
    spec = neurons.base.LIFScanSpec(threshold, "subtract", False,
                                    "fast_sigmoid", None, 0.9)
    # When the loops' spike test and `fire` are evaluated in one program.
    loop, fired = jax.jit(lambda u: (
        neurons.base._spikes_of(u, spec),
        neurons.base.fire(u, threshold, "fast_sigmoid", None)))(u)
    # Then they agree everywhere.
    np.testing.assert_array_equal(loop, fired)
    self.assertEqual(loop.dtype, u.dtype)

  @parameterized.parameters(("subtract", True), ("zero", False))
  def test_compiled_loops_copy_no_float_array(self, reset, learn):
    # The loops update their buffers in place and the packed forward's
    # carry in place: XLA copies a whole (T, B, ...) buffer (or the carry)
    # every step if a step reads its buffer outside the update, or its
    # kernels run in the other order (see `_lif_spikes_packed` and
    # `_lif_scan_bwd`), which is correct but several times slower.
    spec = neurons.base.LIFScanSpec(0.7, reset, False, "fast_sigmoid", None,
                                    None if learn else 0.9)
    x, v0 = jnp.ones((6, 8, 4)), jnp.zeros((8, 4))
    beta = jnp.full((4,), 0.9) if learn else None

    def spikes(x, beta):
      return neurons.base.lif_scan(x, v0, beta, spec)[0]

    loss = lambda x, beta: jnp.sum(spikes(x, beta)**2)
    for fn in (spikes, jax.grad(loss, argnums=(0, 1) if learn else 0)):
      hlo = jax.jit(fn).lower(x, beta).compile().as_text()
      copies = re.findall(r"= f\d+\[[^\]]*\]\S* copy\(", hlo)
      self.assertEqual(copies, [], msg=hlo)

  def test_gradient_at_a_packable_shape_is_steppings(self):
    # Given the fused and stepped LIF with a learnable per-unit decay, on a
    # packable step: the backward reads the membranes the differentiated
    # forward saved, and its spikes are the packed forward's.
    case = ("subtract", False, True, True, "triangular")
    fused, stepped, x, v0, _ = self._fused_stepped_and_inputs(case,
                                                              (12, 8, 4))
    params = fused.init(None, x, v0)
    w = jnp.asarray(np.random.default_rng(1).normal(size=x.shape),
                    jnp.float32)

    def loss(f):
      return jax.value_and_grad(
          lambda p, x, v0: jnp.sum(w * f.apply(p, None, x, v0)[0]),
          argnums=(0, 1, 2))

    (l_f, g_f), (l_s, g_s), s_f = jax.jit(lambda p, x, v0: (
        loss(fused)(p, x, v0), loss(stepped)(p, x, v0),
        fused.apply(p, None, x, v0)[0]))(params, x, v0)
    np.testing.assert_array_equal(l_f, l_s)
    self.assertGreater(float(s_f.sum()), 0)
    chex.assert_trees_all_close(g_f, g_s, **tol.F32_VS_F64)


class UnrollTest(parameterized.TestCase):
  """`run(..., unroll=k)`: k steps per loop iteration, the same results."""

  def _unrolled(self, unroll, core=neurons.CuBaLIF):
    return hk.without_apply_rng(hk.transform(
        lambda x: neurons.run(core(4, beta=0.8), x, time_major=True,
                              unroll=unroll)))

  @parameterized.parameters(3, 16)
  def test_same_outputs_and_gradients_as_one_step(self, unroll):
    # Given 11 steps (no multiple of 3; fewer than 16) of a core without a fused
    # method, and the same parameters for every unroll factor.
    rng = np.random.default_rng(unroll)
    x = jnp.asarray(rng.normal(0.4, 1.0, (11, 3, 4)), jnp.float32)
    one, many = self._unrolled(1), self._unrolled(unroll)
    params = one.init(None, x)

    def loss(f):
      return jax.grad(lambda p, x: jnp.sum(
          jnp.sin(f.apply(p, x)[0]) + f.apply(p, x)[1].v.sum()),
                      argnums=(0, 1))

    # When both run and are differentiated.
    out_one, out_many = one.apply(params, x), many.apply(params, x)
    # Then the spikes are identical, and the states and gradients agree to
    # float32 rounding (XLA may contract a multiply-add differently once
    # several steps share a loop body).
    np.testing.assert_array_equal(out_one[0], out_many[0])
    chex.assert_trees_all_close(out_one[1], out_many[1], **tol.F32_VS_F64)
    self.assertGreater(float(out_one[0].sum()), 0)
    chex.assert_trees_all_close(loss(one)(params, x), loss(many)(params, x),
                                **tol.F32_VS_F64)

  def test_default_comes_from_the_backend_table(self):
    # Given LIF off the fused path (as on a GPU) and the table patched so
    # that this backend unrolls 4 steps.
    f = self._unrolled(None, neurons.LIF)
    x = jnp.ones((8, 2, 4), jnp.float32)
    params = f.init(None, x)
    run_module = sys.modules["spike_ssm.neurons.run"]
    backend = jax.default_backend()
    scan_unrolls = lambda: re.findall(
        r"unroll=(\d+)",
        str(jax.make_jaxpr(lambda p, x: f.apply(p, x))(params, x)))
    with mock.patch.object(run_module, "FUSED_BACKENDS", ()):
      with mock.patch.object(run_module, "UNROLL", {backend: 4}):
        patched = scan_unrolls()
      with mock.patch.object(run_module, "UNROLL", {}):
        default = scan_unrolls()
    # Then the scan unrolls 4 steps with the entry and 1 without.
    self.assertEqual(patched, ["4"])
    self.assertEqual(default, ["1"])

  @parameterized.parameters(0, -2, 1.5, True, "8")
  def test_bad_unroll_raises(self, unroll):
    f = self._unrolled(unroll)
    with self.assertRaisesRegex(ValueError, r"run: unroll must be an int >= "
                                r"1 or None, got"):
      f.init(None, jnp.zeros((3, 2, 4)))


class RunBadInputTest(parameterized.TestCase):

  @parameterized.parameters(
      ((2, 3), False, r"run: `x` must have rank 3, \(B, T, \*hidden_shape\) "
       r"with hidden_shape \(3,\); got shape \(2, 3\) \(rank 2\)"),
      ((2, 4, 1, 3), True, r"run: `x` must have rank 3, \(T, B, "
       r"\*hidden_shape\) with hidden_shape \(3,\); got shape \(2, 4, 1, 3\) "
       r"\(rank 4\)"),
      ((2, 4, 5), False, r"run: `x` has trailing shape \(5,\) but the core's "
       r"hidden_shape is \(3,\)"),
  )
  def test_wrong_rank_or_shape(self, shape, time_major, pattern):
    f = hk.transform(lambda x: neurons.run(neurons.LIF(3), x,
                                           time_major=time_major))
    with self.assertRaisesRegex(ValueError, pattern):
      f.init(None, jnp.zeros(shape))

  def test_missing_time_axis_for_a_generic_core(self):
    f = hk.transform(lambda x: neurons.run(hk.VanillaRNN(4), x))
    with self.assertRaisesRegex(ValueError, r"run: `x` must have a batch and "
                                r"a time axis.*got shape \(5,\)"):
      f.init(jax.random.PRNGKey(0), jnp.zeros((5,)))


if __name__ == "__main__":
  absltest.main()
