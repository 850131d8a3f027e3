"""Tests for spike_ssm.neurons.psu.PSU_LIF (step mode and parallel mode)."""

from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np

from spike_ssm import neurons
from spike_ssm.ops import scans
from tests import tolerances as tol
from tests.neurons import references as refs

B, T, N = 3, 48, 4
BETA, THRESHOLD = 0.85, 1.2
SCAN_MODES = ("sequential", "parallel", "chunked", "auto")


def _both_modes(scan_mode, learn_beta=False):
  """A transform whose apply returns (run outputs, parallel outputs)."""
  def f(x, state, time_major):
    core = neurons.PSU_LIF(N, BETA, learn_beta=learn_beta, threshold=THRESHOLD,
                           scan_mode=scan_mode)
    stepped = neurons.run(core, x, state, time_major=time_major)
    parallel = core.parallel(x, state, time_major=time_major)
    return stepped, parallel
  return hk.transform(f)


class ParallelEqualsStepTest(parameterized.TestCase):

  # Every mode with and without an initial state, and in both layouts.
  @parameterized.parameters(
      *[(mode, False, False) for mode in SCAN_MODES],
      *[(mode, True, True) for mode in SCAN_MODES])
  def test_parallel_equals_run_and_reference(self, scan_mode, with_state,
                                             time_major):
    # Given inputs kept away from the threshold and, maybe, an initial state.
    rng = np.random.default_rng(SCAN_MODES.index(scan_mode) * 4 +
                                with_state * 2 + time_major)
    v0 = (rng.uniform(-1.0, 1.0, (B, N)).astype(np.float32) if with_state
          else None)
    x, ref = refs.draw_away_from_threshold(
        rng, (B, T, N), lambda x: refs.psu_lif(x, BETA, THRESHOLD, None if
                                               v0 is None else (v0,)),
        loc=0.1, scale=0.6)
    state = None if v0 is None else neurons.PSULIFState(jnp.asarray(v0))
    xs = jnp.asarray(x.swapaxes(0, 1) if time_major else x)
    # When the sequence is scored by scanning __call__ and by .parallel.
    f = _both_modes(scan_mode)
    params = f.init(None, xs, state, time_major)
    apply = jax.jit(lambda p, x, s: f.apply(p, None, x, s, time_major))
    (s_run, st_run), (s_par, st_par) = apply(params, xs, state)
    # Then both give the reference spike train bit for bit, in x's layout.
    expected = ref.outputs.swapaxes(0, 1) if time_major else ref.outputs
    self.assertGreater(expected.sum(), 0)
    np.testing.assert_array_equal(s_run, expected)
    np.testing.assert_array_equal(s_par, expected)
    # And final membranes agree with each other and with the float64 loop.
    np.testing.assert_allclose(st_par.v, st_run.v, **tol.scan_tol(T))
    np.testing.assert_allclose(st_par.v, ref.final[0], **tol.F32_VS_F64)
    self.assertEqual(st_par.v.dtype, jnp.float32)

  @parameterized.parameters(*SCAN_MODES)
  def test_gradients_agree_between_modes(self, scan_mode):
    # Given a learnable beta and a loss on spikes and the final membrane.
    rng = np.random.default_rng(11)
    x, _ = refs.draw_away_from_threshold(
        rng, (B, T, N), lambda x: refs.psu_lif(x, BETA, THRESHOLD),
        loc=0.1, scale=0.6)
    x = jnp.asarray(x)
    v0 = jnp.asarray(rng.uniform(-1, 1, (B, N)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(B, T, N)), jnp.float32)
    f = _both_modes(scan_mode, learn_beta=True)
    params = f.init(None, x, neurons.PSULIFState(v0), False)

    def loss(params, x, v0, which):
      out = f.apply(params, None, x, neurons.PSULIFState(v0), False)[which]
      spikes, state = out
      return jnp.sum(w * spikes) + jnp.sum(jnp.sin(state.v))

    # When it is differentiated through each mode.
    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)
    g_run, g_par = grad(params, x, v0, 0), grad(params, x, v0, 1)
    # Then the gradients w.r.t. beta, the inputs and the state agree.
    for got, want in zip(jax.tree.leaves(g_par), jax.tree.leaves(g_run)):
      self.assertGreater(np.abs(want).max(), 0)
      np.testing.assert_allclose(got, want, **tol.scan_tol(T))

  def test_modes_share_the_beta_parameter(self):
    # Given a PSU_LIF initialised through .parallel only and through run only.
    x = jnp.zeros((2, 5, N))
    make = lambda: neurons.PSU_LIF(N, 0.6, learn_beta=True)
    p_par = hk.transform(lambda x: make().parallel(x)).init(None, x)
    p_run = hk.transform(lambda x: neurons.run(make(), x)).init(None, x)
    # Then both create the same parameter, at the same value.
    chex.assert_trees_all_equal(p_par, p_run)
    self.assertEqual(list(p_par["psu_lif"]), ["beta"])

  def test_beta_is_passed_time_invariant(self):
    # Given a learnable per-unit beta.
    x = jnp.ones((2, 16, N))
    f = hk.transform(lambda x: neurons.PSU_LIF(N, learn_beta=True).parallel(x))
    # When .parallel is traced, spying on linear_scan.
    with mock.patch.object(scans, "linear_scan",
                           wraps=scans.linear_scan) as spy:
      jax.eval_shape(lambda x: f.apply(f.init(None, x), None, x), x)
    # Then the decay reaches the scan as (N,), never broadcast over T.
    a = spy.call_args.args[0]
    self.assertEqual(a.shape, (N,))

  def test_empty_sequence_keeps_the_initial_state(self):
    v0 = neurons.PSULIFState(jnp.full((2, N), 0.5))
    f = hk.transform(lambda x: neurons.PSU_LIF(N).parallel(x, v0))
    spikes, state = f.apply({}, None, jnp.zeros((2, 0, N)))
    self.assertEqual(spikes.shape, (2, 0, N))
    np.testing.assert_array_equal(state.v, v0.v)


class DtypeTest(parameterized.TestCase):

  def test_bfloat16_input(self):
    # Given bfloat16 inputs and the default float32 state.
    x = jnp.asarray(np.random.default_rng(6).normal(size=(2, 40, N)),
                    jnp.bfloat16)
    f = hk.transform(lambda x: _both_modes_outputs(x))
    (s_run, st_run), (s_par, st_par) = jax.jit(f.apply)({}, None, x)
    # Then both modes output bfloat16 spikes and keep a float32 state.
    self.assertEqual((s_run.dtype, s_par.dtype), (jnp.bfloat16, jnp.bfloat16))
    self.assertEqual((st_run.v.dtype, st_par.v.dtype),
                     (jnp.float32, jnp.float32))
    np.testing.assert_allclose(st_par.v, st_run.v, **tol.F32_SCAN_SHORT)

  def test_bfloat16_policy(self):
    x = jnp.zeros((2, 40, N), jnp.float32)
    f = hk.transform(lambda x: _both_modes_outputs(x))
    with hk.mixed_precision.push_policy(neurons.PSU_LIF,
                                        jmp.get_policy("p=f32,c=bf16,o=bf16")):
      out = jax.eval_shape(lambda x: f.apply({}, None, x), x)
    self.assertEqual({leaf.dtype for leaf in jax.tree.leaves(out)},
                     {jnp.dtype(jnp.bfloat16)})


def _both_modes_outputs(x):
  core = neurons.PSU_LIF(N)
  return neurons.run(core, x), core.parallel(x)


class BadInputTest(parameterized.TestCase):

  @hk.testing.transform_and_run
  def test_constructor_arguments(self):
    with self.assertRaisesRegex(ValueError, r"threshold must be a finite "
                                r"number > 0, got -1"):
      neurons.PSU_LIF(N, threshold=-1)
    with self.assertRaisesRegex(ValueError, r"beta must lie in \[0, 1\], got "
                                r"1.1"):
      neurons.PSU_LIF(N, beta=1.1)
    with self.assertRaisesRegex(ValueError, r"surrogate must be one of"):
      neurons.PSU_LIF(N, surrogate="nope")
    with self.assertRaisesRegex(ValueError, r"scan_mode must be one of "
                                r"\('sequential', .*\), got 'fast'"):
      neurons.PSU_LIF(N, scan_mode="fast")

  @parameterized.parameters(
      ((2, 5), False, r"`x` must have rank 3, \(B, T, \*hidden_shape\) with "
       r"hidden_shape \(4,\); got shape \(2, 5\) \(rank 2\)"),
      ((2, 5, 3), True, r"`x` has trailing shape \(3,\) but the core's "
       r"hidden_shape is \(4,\)"),
  )
  def test_parallel_input_shape(self, shape, time_major, pattern):
    f = hk.transform(lambda x: neurons.PSU_LIF(N).parallel(
        x, time_major=time_major))
    with self.assertRaisesRegex(ValueError, r"PSU_LIF.parallel: " + pattern):
      f.init(None, jnp.zeros(shape))

  def test_parallel_state_shape(self):
    f = hk.transform(lambda x: neurons.PSU_LIF(N).parallel(
        x, neurons.PSULIFState(jnp.zeros((3, N)))))
    with self.assertRaisesRegex(ValueError, r"state.v has shape \(3, 4\) but "
                                r"`x_t` has shape \(2, 4\)"):
      f.init(None, jnp.zeros((2, 5, N)))

  def test_parallel_integer_input(self):
    f = hk.transform(lambda x: neurons.PSU_LIF(N).parallel(x))
    with self.assertRaisesRegex(TypeError, r"`x` must be a floating array"):
      f.init(None, jnp.zeros((2, 5, N), jnp.int32))


if __name__ == "__main__":
  absltest.main()
