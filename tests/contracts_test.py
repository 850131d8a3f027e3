"""The contract every public module owes, checked once over `descriptors`.

For each module in `descriptors.ALL_MODULES`:

* its parameter tree (names, shapes, dtypes) equals `tests/golden/*.json`
  (checkpoints and optimiser groups key on parameter paths);
* a bfloat16 input keeps float32 parameters and recurrent state and gives
  bfloat16 outputs (by `jax.eval_shape`: dtypes need no compiled run), and
  where the module promises it, the float32 result to output rounding;
* under a `p=f32,c=bf16,o=bf16` policy its parameters stay float32;
* jit and eager agree (no-jit catches Python-side shape logic, jit catches
  tracer leaks);
* a streaming module's `__call__` equals scanning `step` from
  `initial_state` over time.

Per-module files test the numerics particular to each module (float64
references, modes, gradients, bad input).
"""

import inspect
import re

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np

from spike_ssm import layers
from spike_ssm import neurons
from spike_ssm import nir as nir_lib
from spike_ssm import ssm
from spike_ssm.experimental import compress
from spike_ssm.experimental import phasor
from spike_ssm.experimental import raven
from spike_ssm.experimental import stochastic
from spike_ssm.models import backbone
from tests import descriptors
from tests import golden_util

KEY = jax.random.PRNGKey(0)
# Packages whose public hk.Module classes must each be described or ignored.
PUBLIC_PACKAGES = (ssm, neurons, layers, compress, phasor, raven, stochastic,
                   backbone, nir_lib)


def _named(predicate=lambda d: True):
  return [(d.name, d) for d in descriptors.ALL_MODULES if predicate(d)]


def _module_type(d):
  return hk.transform(lambda: type(d.create())).apply({}, None)


def _initial_state(module, x):
  """`initial_state` for the batch of `x`, with its width where it takes one
  (some layers cannot know their width before their parameters exist)."""
  kwargs = {}
  params = inspect.signature(module.initial_state).parameters
  for width in ("width", "features"):
    if width in params:
      kwargs[width] = x.shape[-1]
  return module.initial_state(x.shape[0], **kwargs)


def _streamed(module, x):
  """`step` scanned over time from `initial_state`: (B, T, ...) outputs."""
  def body(state, x_t):
    y_t, state = module.step(x_t, state)
    return state, y_t

  _, ys = hk.scan(body, _initial_state(module, x), jnp.swapaxes(x, 0, 1))
  return jnp.swapaxes(ys, 0, 1)


# Library bugs this contract found, reported and not yet fixed: the test
# asserts that the check still fails, so fixing the bug fails the test
# until its entry goes.
KNOWN_BUGS = {
}


def _unless_known_bug(test, key, check):
  if key not in KNOWN_BUGS:
    check()
    return
  with test.assertRaises((AssertionError, TypeError), msg=KNOWN_BUGS[key]):
    check()


def _random_params(d, x, seed=0):
  """`(params, state)` of `d` for input `x`.

  Parameters are drawn at random with the shapes `init` would create (by
  `jax.eval_shape`): compiling `init` (mostly the PRNG) costs seconds per
  module, and the contracts below hold for any parameters, not only initial
  ones. The draws keep every layer's dynamics stable with long memory (the
  regime where a recurrence computed in bfloat16 would drift): S5/S4 poles
  Re(lambda) in [-1, -0.05] with steps in [0.01, 0.3], LRU moduli in
  [0.9, 0.999], S4D/Mamba A = -exp(a_log) in [-(N + 1/2), -1/2], Mamba
  steps softplus(dt_bias) in [0.05, 0.5]; matrices scaled by
  1/sqrt(fan-in). Running statistics (state) are ones: a valid variance
  and any mean.
  """
  init, _ = d.transform()
  abstract, state = jax.eval_shape(init, KEY, x)
  state = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), state)
  rng = np.random.default_rng(seed)

  def leaf(path, spec):
    name, shape = getattr(path[-1], "key", None), spec.shape
    if name == "lambda_re":
      v = -rng.uniform(0.05, 1.0, shape)
    elif name in ("lambda_im", "a_im"):
      v = rng.normal(0.0, 3.0, shape)
    elif name == "log_dt":
      v = np.log(rng.uniform(0.01, 0.3, shape))
    elif name == "nu_log":
      v = np.log(-np.log(rng.uniform(0.9, 0.999, shape)))
    elif name == "theta_log":
      v = np.log(rng.uniform(0.01, 2 * np.pi, shape))
    elif name == "a_log":
      v = np.log(rng.uniform(0.5, shape[-1] + 0.5, shape))
    elif name == "dt_bias":
      v = np.log(np.expm1(rng.uniform(0.05, 0.5, shape)))
    elif len(shape) >= 2:
      v = rng.normal(size=shape) / np.sqrt(shape[0])
    else:
      v = rng.normal(size=shape)
    return jnp.asarray(v, spec.dtype)

  return jax.tree_util.tree_map_with_path(leaf, abstract), state


def _assert_finite(test, tree):
  for leaf in jax.tree.leaves(tree):
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
      test.assertTrue(np.all(np.isfinite(np.asarray(leaf))))


def _bfloat16(tree):
  return jax.tree.map(lambda a: a.astype(jnp.bfloat16), tree)


def _floating_dtypes(tree):
  return {leaf.dtype for leaf in jax.tree.leaves(tree)
          if jnp.issubdtype(leaf.dtype, jnp.floating)}


def _assert_trees_close(got, want, tolerance, msg=""):
  self_check = jax.tree.structure(got) == jax.tree.structure(want)
  assert self_check, (msg, jax.tree.structure(got), jax.tree.structure(want))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    if jnp.issubdtype(a.dtype, jnp.floating) or jnp.issubdtype(
        a.dtype, jnp.complexfloating):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=msg,
                                 **tolerance)
    else:  # integers, keys, counters: exactly.
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b),
                                    err_msg=msg)


class CoverageTest(absltest.TestCase):

  def test_every_public_module_is_described_or_ignored(self):
    # Given every hk.Module class the public packages export.
    public = {value for package in PUBLIC_PACKAGES
              for name, value in vars(package).items()
              if not name.startswith("_") and isinstance(value, type) and
              issubclass(value, hk.Module)}
    # When the descriptors build their modules.
    described = {_module_type(d) for d in descriptors.ALL_MODULES}
    # Then each public module has a descriptor or a reason to have none.
    missing = public - described - set(descriptors.IGNORED)
    self.assertEmpty(sorted(cls.__qualname__ for cls in missing))
    self.assertEmpty(described & set(descriptors.IGNORED))

  def test_names_are_unique(self):
    names = [d.name for d in descriptors.ALL_MODULES]
    self.assertLen(set(names), len(names))


class GoldenTest(parameterized.TestCase):

  @parameterized.named_parameters(*_named(lambda d: d.golden))
  def test_parameter_tree(self, d):
    # Shapes only: eval_shape builds the tree without running anything.
    init, _ = d.transform()
    params, _ = jax.eval_shape(init, KEY, d.example())
    golden_util.assert_matches_golden(d.golden, params)


class DtypeTest(parameterized.TestCase):

  @parameterized.named_parameters(*_named(lambda d: d.floating))
  def test_bfloat16_input(self, d):
    # Given a bfloat16 input.
    x = _bfloat16(d.example())
    rng = KEY if d.rng else None

    def method(module, x):
      result = d.apply(module, x)
      _, carry = d.outputs(result)
      # The state a recurrence starts from, when it returns one.
      start = None if carry is None else _initial_state(module, x)
      return result, start

    init, apply = d.transform(method)
    # When the module is initialised and applied (shapes only).
    params, state = jax.eval_shape(init, KEY, x)
    (result, start), _ = jax.eval_shape(apply, params, state, rng, x)
    outputs, carry = d.outputs(result)
    # Then the outputs have the module's declared dtype (bfloat16: they
    # follow the input) and the recurrent state keeps the dtypes it starts
    # with (float32 or complex64).
    self.assertEqual(_floating_dtypes(outputs), {jnp.dtype(d.bf16_output)})
    if carry is not None:
      self.assertEqual(jax.tree.map(lambda a: a.dtype, carry),
                       jax.tree.map(lambda a: a.dtype, start))
      self.assertNotIn(jnp.dtype(jnp.bfloat16), _floating_dtypes(carry))

  @parameterized.named_parameters(*_named(lambda d: d.streaming))
  def test_bfloat16_step_keeps_its_state_dtypes(self, d):
    # Given one bfloat16 step from the initial state.
    x = _bfloat16(d.example())

    def method(module, x):
      d.apply(module, x)  # Parameters exist before the state is built.
      state = _initial_state(module, x)
      return state, module.step(x[:, 0], state)

    init, apply = d.transform(method)
    params, state = jax.eval_shape(init, KEY, x)
    (start, (y, end)), _ = jax.eval_shape(apply, params, state,
                                          KEY if d.rng else None, x)
    # Then the output has the dtype of `__call__`'s and the state keeps its
    # dtypes.
    self.assertEqual(_floating_dtypes(y), {jnp.dtype(d.bf16_output)})
    self.assertEqual(jax.tree.map(lambda a: a.dtype, end),
                     jax.tree.map(lambda a: a.dtype, start))

  @parameterized.named_parameters(*_named(lambda d: d.bf16_tol))
  def test_bfloat16_input_computes_in_float32(self, d):
    # Given a bfloat16 input of 64 steps (long enough for rounding in a
    # bfloat16 recurrence to accumulate) and the same values in float32.
    x16 = _bfloat16(d.example(1, length=64))
    x32 = jax.tree.map(lambda a: a.astype(jnp.float32), x16)
    _, apply = d.transform()
    params, state = _random_params(d, x32)
    # When the module runs on both (one compilation).
    y16, y32 = jax.jit(lambda p, s, a, b: (
        d.outputs(apply(p, s, None, a)[0])[0],
        d.outputs(apply(p, s, None, b)[0])[0]))(params, state, x16, x32)
    # Then they differ by the output's rounding only: the core did not
    # compute in bfloat16.
    self.assertEqual(_floating_dtypes(y16), {jnp.dtype(d.bf16_output)})
    _assert_trees_close(jax.tree.map(lambda a: a.astype(jnp.float32), y16),
                        y32, d.bf16_tol)

  @parameterized.named_parameters(*_named())
  def test_bfloat16_policy(self, d):
    # Given a policy that computes and outputs bfloat16 for the class.
    policy = jmp.get_policy("p=f32,c=bf16,o=bf16")
    x = d.example()
    init, apply = d.transform()

    def check():
      # When the module is initialised and applied under it (shapes only).
      with hk.mixed_precision.push_policy(_module_type(d), policy):
        params, state = jax.eval_shape(init, KEY, x)
        result, _ = jax.eval_shape(apply, params, state,
                                   KEY if d.rng else None, x)
      # Then the parameters are still created float32 (checkpoints and
      # optimiser states do not change with the policy), and the outputs
      # take the policy's output dtype.
      self.assertContainsSubset(_floating_dtypes(params),
                                {jnp.dtype(jnp.float32)})
      outputs, _ = d.outputs(result)
      self.assertEqual(_floating_dtypes(outputs), {jnp.dtype(jnp.bfloat16)})

    _unless_known_bug(self, ("policy", d.name), check)


class BadInputTest(parameterized.TestCase):
  """One clear error naming the argument, for the shared layer checks."""

  @parameterized.named_parameters(*_named(lambda d: d.checks_input))
  def test_rank_dtype_and_width(self, d):
    init, apply = d.transform()
    x = d.example()
    batch, length, width = x.shape
    # A sequence without its batch axis names the argument and its shape,
    with self.assertRaisesRegex(
        ValueError, rf"must have rank 3.*{re.escape(str((length, width)))}"):
      jax.eval_shape(init, KEY, x[0])
    # an integer sequence its dtype,
    with self.assertRaisesRegex(TypeError, "floating.*int32"):
      jax.eval_shape(init, KEY, x.astype(jnp.int32))
    # and a width other than the parameters' both widths.
    params, state = jax.eval_shape(init, KEY, x)
    with self.assertRaisesRegex(
        ValueError, f"D={width + 1} does not match D={width}"):
      jax.eval_shape(apply, params, state, None,
                     jnp.zeros((batch, length, width + 1)))

  @parameterized.named_parameters(*_named(lambda d: d.checks_input))
  def test_width_changes_between_calls(self, d):
    def method(module, x):
      d.apply(module, x)
      return d.apply(module, jnp.concatenate([x, x], axis=-1))

    init, _ = d.transform(method)
    x = d.example()
    with self.assertRaisesRegex(
        ValueError, f"D={2 * x.shape[-1]} does not match D={x.shape[-1]}"):
      jax.eval_shape(init, KEY, x)


class JitTest(parameterized.TestCase):

  @parameterized.named_parameters(*_named())
  def test_jit_equals_eager(self, d):
    # Given parameters and the example input.
    x = d.example(2)
    _, apply = d.transform()
    params, state = _random_params(d, x)
    rng = jax.random.PRNGKey(1) if d.rng else None
    # When the module runs eagerly and under jit.
    eager = apply(params, state, rng, x)
    jitted = jax.jit(apply)(params, state, rng, x)
    # Then both give the same (finite) outputs and states.
    _assert_finite(self, eager)
    _assert_trees_close(jitted, eager, d.tol)


class StreamingTest(parameterized.TestCase):

  @parameterized.named_parameters(*_named(lambda d: d.streaming))
  def test_call_equals_scanned_step(self, d):
    # Given one set of parameters (the tree of `__call__`).
    x = d.example(3)
    _, apply = d.transform()
    _, stream = d.transform(_streamed)
    params, state = _random_params(d, x)
    rng = jax.random.PRNGKey(1) if d.rng else None
    # When the sequence goes through `__call__` and through `step`, one
    # step at a time from `initial_state`, with the same random key.
    whole, stepped = jax.jit(lambda p, s, r, x: (
        d.outputs(apply(p, s, r, x)[0])[0], stream(p, s, r, x)[0]))(
            params, state, rng, x)
    # Then the outputs agree.
    _assert_finite(self, whole)
    _assert_trees_close(stepped, whole, d.tol)


if __name__ == "__main__":
  absltest.main()
