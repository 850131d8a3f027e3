"""Tests for spike_ssm.neurons.lif: LIF, IF, LI, CuBaLIF, ALIF."""

import zlib

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import neurons
from tests import tolerances as tol
from tests.neurons import references as refs

B, T, N = 3, 20, 5
# A fixed per-unit decay, as the core stores it (float32).
PER_UNIT_BETA = np.linspace(0.5, 0.95, N).astype(np.float32)

# name -> (core factory, float64 reference (x, state) -> Ref, state type).
CASES = {
    "lif_subtract": (
        lambda: neurons.LIF(N, 0.8, threshold=1.0, reset="subtract"),
        lambda x, s: refs.lif(x, 0.8, 1.0, "subtract", s), neurons.LIFState),
    "lif_zero": (
        lambda: neurons.LIF(N, 0.85, threshold=0.7, reset="zero"),
        lambda x, s: refs.lif(x, 0.85, 0.7, "zero", s), neurons.LIFState),
    "lif_per_unit_beta": (
        lambda: neurons.LIF(N, PER_UNIT_BETA),
        lambda x, s: refs.lif(x, PER_UNIT_BETA.astype(np.float64), 1.0,
                              "subtract", s), neurons.LIFState),
    "if": (
        lambda: neurons.IF(N, threshold=1.5),
        lambda x, s: refs.lif(x, 1.0, 1.5, "subtract", s), neurons.IFState),
    "if_zero": (
        lambda: neurons.IF(N, reset="zero"),
        lambda x, s: refs.lif(x, 1.0, 1.0, "zero", s), neurons.IFState),
    "li": (
        lambda: neurons.LI(N, 0.75),
        lambda x, s: refs.li(x, 0.75, s), neurons.LIState),
    "cuba_lif": (
        lambda: neurons.CuBaLIF(N, alpha=0.6, beta=0.8, threshold=1.2),
        lambda x, s: refs.cuba_lif(x, 0.6, 0.8, 1.2, "subtract", s),
        neurons.CuBaLIFState),
    "cuba_lif_zero": (
        lambda: neurons.CuBaLIF(N, alpha=0.5, beta=0.7, reset="zero"),
        lambda x, s: refs.cuba_lif(x, 0.5, 0.7, 1.0, "zero", s),
        neurons.CuBaLIFState),
    "alif": (
        lambda: neurons.ALIF(N, 0.9, rho=0.8, gamma=0.5),
        lambda x, s: refs.alif(x, 0.9, 0.8, 0.5, 1.0, "subtract", s),
        neurons.ALIFState),
    "alif_zero": (
        lambda: neurons.ALIF(N, 0.7, rho=0.95, gamma=0.3, threshold=0.8,
                             reset="zero"),
        lambda x, s: refs.alif(x, 0.7, 0.95, 0.3, 0.8, "zero", s),
        neurons.ALIFState),
}

# Every public module of this file, with learnable variants, for goldens:
# golden name -> (core factory, hidden_shape).
GOLDEN_MODULES = {
    "neurons_lif": (lambda h: neurons.LIF(h), (4,)),
    "neurons_lif_learn_beta":
        (lambda h: neurons.LIF(h, learn_beta=True), (2, 3)),
    "neurons_if": (lambda h: neurons.IF(h), (4,)),
    "neurons_li": (lambda h: neurons.LI(h), (4,)),
    "neurons_li_learn_beta": (lambda h: neurons.LI(h, learn_beta=True), (4,)),
    "neurons_cuba_lif": (lambda h: neurons.CuBaLIF(h), (4,)),
    "neurons_cuba_lif_learn_alpha_beta":
        (lambda h: neurons.CuBaLIF(h, learn_alpha=True, learn_beta=True),
         (4,)),
    "neurons_alif": (lambda h: neurons.ALIF(h), (4,)),
    "neurons_alif_learn_beta":
        (lambda h: neurons.ALIF(h, learn_beta=True), (4,)),
}


def _run_fn(make_core, with_state):
  def f(x, state):
    return neurons.run(make_core(), x, state if with_state else None)
  return f


def _random_state(rng, state_type, shape):
  """Random float32 state fields in [0, 0.5) (a valid ALIF adaptation too)."""
  return state_type(*(rng.uniform(0.0, 0.5, size=shape).astype(np.float32)
                      for _ in state_type._fields))


class ReferenceTest(parameterized.TestCase):

  def _check_against_reference(self, case, with_state, jax_transform):
    # Given a core, random inputs kept away from the threshold and, maybe, a
    # random initial state.
    make_core, reference, state_type = CASES[case]
    rng = np.random.default_rng(zlib.crc32(f"{case}/{with_state}".encode()))
    state = _random_state(rng, state_type, (B, N)) if with_state else None
    x, ref = refs.draw_away_from_threshold(
        rng, (B, T, N), lambda x: reference(x, state))
    # When the core is run over the sequence.
    f = hk.testing.transform_and_run(_run_fn(make_core, with_state),
                                     jax_transform=jax_transform)
    out, final = f(jnp.asarray(x), state)
    # Then spikes (or LI membranes) and the final state match the loop.
    self.assertEqual(out.shape, (B, T, N))
    self.assertEqual(out.dtype, jnp.float32)
    if ref.distance.size:
      np.testing.assert_array_equal(out, ref.outputs)
      self.assertGreater(ref.outputs.sum(), 0)  # the test exercises spikes
      self.assertLess(ref.outputs.mean(), 1)
    else:
      np.testing.assert_allclose(out, ref.outputs, **tol.F32_VS_F64)
    self.assertIsInstance(final, state_type)
    for got, want in zip(final, ref.final):
      self.assertEqual(got.dtype, jnp.float32)
      np.testing.assert_allclose(got, want, **tol.F32_VS_F64)

  @parameterized.parameters(*CASES)
  def test_from_a_random_state_matches_float64_loop(self, case):
    self._check_against_reference(case, True, jax.jit)

  @parameterized.parameters("cuba_lif", "alif_zero")
  def test_from_rest_matches_float64_loop(self, case):
    self._check_against_reference(case, False, jax.jit)

  def test_two_dimensional_hidden_shape(self):
    # Given a LIF over a (2, 3) grid of neurons per example.
    rng = np.random.default_rng(0)
    x, ref = refs.draw_away_from_threshold(
        rng, (2, 12, 2, 3), lambda x: refs.lif(x, 0.9, 1.0))
    f = hk.transform(lambda x: neurons.run(neurons.LIF((2, 3)), x))
    # When it runs; then it is the same elementwise neuron.
    out, final = jax.jit(f.apply)(jax.jit(f.init)(None, x), None, x)
    np.testing.assert_array_equal(out, ref.outputs)
    np.testing.assert_allclose(final.v, ref.final[0], **tol.F32_VS_F64)


class ResetTest(parameterized.TestCase):

  @parameterized.parameters(
      # One neuron, beta = 0.5, inputs 1.5 then 0.6:
      # subtract: 1.5 fires -> 0.5; 0.5*0.5 + 0.6 = 0.85 silent.
      ("subtract", 0.85),
      # zero: 1.5 fires -> 0;   0 + 0.6 = 0.6 silent.
      ("zero", 0.6),
  )
  def test_reset_mode_by_hand(self, mode, final_v):
    f = hk.transform(
        lambda x: neurons.run(neurons.LIF(1, 0.5, reset=mode), x))
    x = jnp.asarray([[[1.5], [0.6]]])
    out, state = f.apply({}, None, x)
    np.testing.assert_array_equal(out[0, :, 0], [1.0, 0.0])
    np.testing.assert_allclose(state.v[0, 0], final_v, **tol.F32_VS_F64)

  @parameterized.parameters("subtract", "zero")
  def test_detach_reset_changes_gradient_not_forward(self, mode):
    # Given two steps of one LIF neuron (beta = 0.9, theta = 1, triangular
    # surrogate with slope 0.5 so sigma' is non-zero at both distances): the
    # first input fires, the second does not.
    beta, k = 0.9, 0.5
    x = jnp.asarray([[[1.3], [0.4]]])

    def second_spike(x, detach):
      core = neurons.LIF(1, beta, reset=mode, detach_reset=detach,
                         surrogate="triangular", slope=k)
      out, state = neurons.run(core, x)
      return out[0, 1, 0], (out, state)

    def grads(detach):
      f = hk.transform(lambda x: second_spike(x, detach))
      return jax.jit(jax.grad(lambda x: f.apply({}, None, x)[0]))(x)

    forward = hk.transform(lambda x: (second_spike(x, True)[1],
                                      second_spike(x, False)[1]))
    out_d, out_a = jax.jit(forward.apply)({}, None, x)
    # Then the forward pass is identical.
    chex.assert_trees_all_equal(out_d, out_a)
    # And the gradients of s_1 w.r.t. x_0 follow the chain rule by hand:
    # v0 = x0 (s0 = 1), v1 = beta * reset(v0) + x1, s1 = H(v1 - 1).
    x0, x1 = 1.3, 0.4
    tri = lambda d: k * max(0.0, 1.0 - k * abs(d))
    v0_reset = x0 - 1.0 if mode == "subtract" else 0.0
    d1 = tri(beta * v0_reset + x1 - 1.0)
    # d reset(v0) / d x0 when the reset term carries a gradient:
    if mode == "subtract":
      attached = 1.0 - 1.0 * tri(x0 - 1.0)  # d(v0 - s0)/dx0
      detached = 1.0
    else:
      attached = (1.0 - 1.0) - x0 * tri(x0 - 1.0)  # d(v0 (1 - s0))/dx0
      detached = 1.0 - 1.0  # (1 - s0) with s0 a constant 1
    g_d, g_a = grads(True), grads(False)
    np.testing.assert_allclose(g_a[0, 0, 0], d1 * beta * attached,
                               **tol.F32_VS_F64)
    np.testing.assert_allclose(g_d[0, 0, 0], d1 * beta * detached,
                               **tol.F32_VS_F64)
    self.assertNotAlmostEqual(float(g_a[0, 0, 0]), float(g_d[0, 0, 0]))


def _surrogate_derivative(name, v, k):
  """Pseudo-derivatives written out in float64 from their definitions."""
  if name == "fast_sigmoid":
    return 1.0 / (1.0 + k * np.abs(v))**2
  if name == "triangular":
    return np.maximum(0.0, k * (1.0 - k * np.abs(v)))
  if name == "arctan":
    return (k / 2.0) / (1.0 + (np.pi / 2.0 * k * v)**2)
  if name == "sigmoid":
    s = 1.0 / (1.0 + np.exp(-k * v))
    return k * s * (1.0 - s)
  raise AssertionError(name)


class SurrogateGradientTest(parameterized.TestCase):

  @parameterized.parameters(
      ("fast_sigmoid", None, 25.0),
      ("fast_sigmoid", 4.0, 4.0),
      ("triangular", 0.8, 0.8),
      ("arctan", None, 2.0),
      ("sigmoid", 3.0, 3.0),
  )
  def test_one_step_spike_gradient_is_the_surrogate(self, name, slope, k):
    # Given one LIF step from rest (v = 0), so v' = x, and theta = 0.7.
    threshold = 0.7
    x = np.array([[-0.4, 0.1, 0.65, 0.74, 1.3, 2.2]], np.float32)
    f = hk.transform(lambda x: neurons.LIF(
        6, 0.9, threshold=threshold, surrogate=name, slope=slope)(
            x, neurons.LIFState(jnp.zeros_like(x)))[0])
    # When the spikes are differentiated w.r.t. the input.
    grad = jax.jit(jax.grad(lambda x: f.apply({}, None, x).sum()))(x)
    # Then the gradient is the analytic surrogate at v' - theta.
    expected = _surrogate_derivative(name, x.astype(np.float64) - threshold, k)
    np.testing.assert_allclose(grad, expected, **tol.F32_VS_F64)

  def test_alif_gradient_reaches_the_adaptation(self):
    # The adaptive threshold is differentiable: d s_t / d a_{t-1} =
    # -gamma sigma'(v' - theta - gamma a).
    gamma, a0, x0 = 0.5, 0.4, 1.1
    def spike(a):
      core = neurons.ALIF(1, 0.9, rho=0.9, gamma=gamma)
      state = neurons.ALIFState(jnp.zeros((1, 1)), a)
      return core(jnp.full((1, 1), x0), state)[0].sum()
    f = hk.transform(spike)
    grad = jax.jit(jax.grad(lambda a: f.apply({}, None, a)))(
        jnp.full((1, 1), a0))
    expected = -gamma * _surrogate_derivative(
        "fast_sigmoid", x0 - 1.0 - gamma * a0, 25.0)
    np.testing.assert_allclose(grad[0, 0], expected, **tol.F32_VS_F64)


# Learnable decays, all initialised at INIT: (core factory, parameter name,
# reference with that decay).
INIT = 0.7
LEARNABLE = {
    "lif": (lambda h: neurons.LIF(h, INIT, learn_beta=True), "beta",
            lambda x, d: refs.lif(x, d, 1.0)),
    "li": (lambda h: neurons.LI(h, INIT, learn_beta=True), "beta",
           lambda x, d: refs.li(x, d)),
    "cuba_alpha": (lambda h: neurons.CuBaLIF(h, INIT, 0.8, learn_alpha=True),
                   "alpha", lambda x, d: refs.cuba_lif(x, d, 0.8, 1.0)),
    "cuba_beta": (lambda h: neurons.CuBaLIF(h, 0.6, INIT, learn_beta=True),
                  "beta", lambda x, d: refs.cuba_lif(x, 0.6, d, 1.0)),
    "alif": (lambda h: neurons.ALIF(h, INIT, rho=0.9, gamma=0.2,
                                    learn_beta=True), "beta",
             lambda x, d: refs.alif(x, d, 0.9, 0.2, 1.0)),
}


class LearnableDecayTest(parameterized.TestCase):

  @parameterized.parameters(*LEARNABLE)
  def test_parameter_shape_init_clipping_and_gradient(self, case):
    make_core, pname, reference = LEARNABLE[case]
    f = hk.transform(lambda x: neurons.run(make_core(3), x))
    x0 = jnp.zeros((2, 4, 3))
    # Given the initialised parameters.
    params = jax.jit(f.init)(None, x0)
    (module,) = params
    # Then the decay is a per-unit parameter at its initial value.
    self.assertEqual(set(params[module]), {pname})
    np.testing.assert_array_equal(params[module][pname],
                                  np.full((3,), INIT, np.float32))
    # When the stored values leave [0, 1].
    stored = np.array([1.4, -0.3, 0.55], np.float32)
    params = {module: {pname: jnp.asarray(stored)}}
    rng = np.random.default_rng(1)
    x, ref = refs.draw_away_from_threshold(
        rng, (2, 10, 3), lambda x: reference(x, np.array([1.0, 0.0, 0.55],
                                                         np.float32)))
    out, final = jax.jit(f.apply)(params, None, x)
    # Then the forward pass uses them clipped to [1, 0, 0.55].
    if ref.distance.size:
      np.testing.assert_array_equal(out, ref.outputs)
    else:
      np.testing.assert_allclose(out, ref.outputs, **tol.F32_VS_F64)
    np.testing.assert_allclose(final[0], ref.final[0], **tol.F32_VS_F64)
    # And the in-range unit gets a gradient; the clipped ones none.
    w = jnp.asarray(rng.normal(size=(2, 10, 3)), jnp.float32)
    loss = lambda p: (jnp.sum(w * f.apply(p, None, x)[0]) +
                      jnp.sum(f.apply(p, None, x)[1][0]**2))
    grad = jax.jit(jax.grad(loss))(params)[module][pname]
    self.assertNotEqual(float(grad[2]), 0.0)
    np.testing.assert_array_equal(grad[:2], [0.0, 0.0])


class DtypeTest(parameterized.TestCase):

  @parameterized.parameters(("lif_subtract", neurons.LIF),
                            ("if", neurons.IF),
                            ("cuba_lif", neurons.CuBaLIF),
                            ("alif", neurons.ALIF),
                            ("li", neurons.LI))
  def test_bfloat16_policy_keeps_a_stable_carry(self, case, cls):
    # Given a policy that computes and outputs in bfloat16 for the core class.
    make_core = CASES[case][0]
    policy = "p=f32,c=bf16,o=bf16"
    x = jnp.asarray(np.random.default_rng(3).normal(0.3, 1.0, (B, T, N)),
                    jnp.float32)
    f = hk.transform(lambda x: neurons.run(make_core(), x))
    with hk.mixed_precision.push_policy(cls, _policy(policy)):
      out, final = jax.eval_shape(lambda x: f.apply({}, None, x), x)
    # Then the carry is bfloat16 from initial_state to the last step.
    self.assertEqual(out.dtype, jnp.bfloat16)
    for leaf in final:
      self.assertEqual(leaf.dtype, jnp.bfloat16)


def _policy(spec):
  import jmp  # pylint: disable=g-import-not-at-top
  return jmp.get_policy(spec)


class BadInputTest(parameterized.TestCase):

  @parameterized.parameters(0.0, -1.0, float("nan"), "1")
  @hk.testing.transform_and_run
  def test_threshold(self, threshold):
    with self.assertRaisesRegex(ValueError, r"threshold must be a finite "
                                r"number > 0, got"):
      neurons.LIF(3, threshold=threshold)

  @parameterized.parameters(
      (lambda: neurons.LIF(3, beta=1.5), r"beta must lie in \[0, 1\], got 1.5"),
      (lambda: neurons.LI(3, beta=-0.1),
       r"beta must lie in \[0, 1\], got -0.1"),
      (lambda: neurons.CuBaLIF(3, alpha=1.2),
       r"alpha must lie in \[0, 1\], got 1.2"),
      (lambda: neurons.CuBaLIF(3, beta=-2.0),
       r"beta must lie in \[0, 1\], got -2.0"),
      (lambda: neurons.ALIF(3, rho=1.01), r"rho must lie in \[0, 1\]"),
      (lambda: neurons.LIF(3, beta=np.array([0.5, 1.5, 0.2])),
       r"beta must lie in \[0, 1\], got values in \[0.2, 1.5\]"),
      (lambda: neurons.LIF(3, beta=np.array([0.5, 0.5])),
       r"beta of shape \(2,\) does not broadcast to hidden_shape \(3,\)"),
      (lambda: neurons.ALIF(3, gamma=-1.0),
       r"gamma must be a finite number >= 0, got -1.0"),
  )
  @hk.testing.transform_and_run
  def test_decay_and_adaptation_range(self, make, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      make()

  @hk.testing.transform_and_run
  def test_unknown_reset(self):
    with self.assertRaisesRegex(
        ValueError, r"reset must be one of \('subtract', 'zero'\), got 'hard'"):
      neurons.LIF(3, reset="hard")

  @parameterized.parameters(neurons.LIF, neurons.IF, neurons.CuBaLIF,
                            neurons.ALIF)
  @hk.testing.transform_and_run
  def test_unknown_surrogate(self, cls):
    with self.assertRaisesRegex(ValueError, r"surrogate must be one of .*"
                                r"got 'gaussian'"):
      cls(3, surrogate="gaussian")

  @parameterized.parameters((0,), (-2,), ((3, 0),), (2.5,), ("4",), (None,))
  @hk.testing.transform_and_run
  def test_hidden_shape(self, hidden_shape):
    with self.assertRaisesRegex(ValueError, r"hidden_shape must be a positive"):
      neurons.LIF(hidden_shape)

  def test_step_input_of_the_wrong_shape_names_both_shapes(self):
    f = hk.transform(lambda x: neurons.LIF((4,))(x, neurons.LIFState(x)))
    with self.assertRaisesRegex(
        ValueError, r"hidden_shape \(4,\); got x_t shape \(2, 5\)"):
      f.init(None, jnp.zeros((2, 5)))

  def test_state_of_the_wrong_shape(self):
    f = hk.transform(lambda x: neurons.LIF(4)(
        x, neurons.LIFState(jnp.zeros((3, 4)))))
    with self.assertRaisesRegex(
        ValueError, r"state.v has shape \(3, 4\) but `x_t` has shape \(2, 4\)"):
      f.init(None, jnp.zeros((2, 4)))

  def test_state_of_the_wrong_type(self):
    f = hk.transform(lambda x: neurons.ALIF(4)(
        x, neurons.LIFState(jnp.zeros((2, 4)))))
    with self.assertRaisesRegex(TypeError, r"`state` must be a ALIFState, got "
                                r"LIFState"):
      f.init(None, jnp.zeros((2, 4)))

  def test_integer_input(self):
    f = hk.transform(lambda x: neurons.run(neurons.LIF(4), x))
    with self.assertRaisesRegex(TypeError, r"`x_t` must be a floating array, "
                                r"got dtype int32"):
      f.init(None, jnp.zeros((2, 3, 4), jnp.int32))


if __name__ == "__main__":
  absltest.main()
