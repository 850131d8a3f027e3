"""Tests for spike_ssm.ssm.ChunkedSSM."""

import functools
import itertools

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import ssm
from spike_ssm import zoo
from tests import tolerances as tol
from tests.ssm import mamba_test

PREFIX = "chunked_ssm/~/"
# Small kwargs for each zoo layer.
LAYER_KWARGS = {
    "lru": dict(state_size=4, r_min=0.5, r_max=0.95),
    "s5": dict(state_size=4),
    "mamba_core": dict(state_size=3, dt_min=0.05, dt_max=0.5),
    "mamba": dict(state_size=3, dt_min=0.05, dt_max=0.5),
}
# Layers and the class each zoo name builds (default module name).
STANDALONE = {
    "lru": lambda name: ssm.LRU(**LAYER_KWARGS["lru"], name=name),
    "mamba": lambda name: ssm.MambaBlock(**LAYER_KWARGS["mamba"], name=name),
}


def chunked(inner="lru", outer="lru", **kwargs):
  return lambda: ssm.ChunkedSSM(
      zoo.layer_factory(inner, **LAYER_KWARGS.get(inner, {})),
      zoo.layer_factory(outer, **LAYER_KWARGS.get(outer, {})), **kwargs)


def transformed(make, time_major=False):
  return hk.without_apply_rng(
      hk.transform(lambda x: make()(x, time_major=time_major)))


def streamed(make):
  """`step` scanned over T with `hk.scan`: (B, T, D) -> (B, T, D)."""
  def forward(x):
    layer = make()

    def body(state, x_t):
      y_t, state = layer.step(x_t, state)
      return state, y_t

    state = layer.initial_state(x.shape[0], width=x.shape[-1])
    _, ys = hk.scan(body, state, x.swapaxes(0, 1))  # [T, B, D]
    return ys.swapaxes(0, 1)
  return hk.without_apply_rng(hk.transform(forward))


@functools.lru_cache(maxsize=None)
def params_for(inner, outer, width):
  """Random parameters of a zoo pair (`mamba_test.random_params`: no
  init, no RNG compile); they depend on neither T nor the chunk size, pool
  or padding, so tests share them."""
  fn = transformed(chunked(inner, outer, chunk_size=1))
  return mamba_test.random_params(
      jax.eval_shape(fn.init, jax.random.PRNGKey(0),
                     jnp.zeros((1, 1, width))))


def random_input(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


@functools.lru_cache(maxsize=None)
def standalone_apply(kind, module_name):
  """Jitted apply of one sub-layer built on its own (cached: one compile)."""
  fn = hk.without_apply_rng(
      hk.transform(lambda x: STANDALONE[kind](module_name)(x)))
  return jax.jit(fn.apply)


def run_standalone(kind, module_name, params, x):
  """Applies one sub-layer on its own, with its params from the composite."""
  sub = {k[len(PREFIX):]: v for k, v in params.items()
         if k[len(PREFIX):].split("/")[0] == module_name}
  return np.asarray(standalone_apply(kind, module_name)(sub, x), np.float64)


class ChunkedSSMCompositionTest(parameterized.TestCase):

  @parameterized.product(pair=(("lru", "lru"), ("mamba", "lru")),
                         pool=("mean", "last"))
  def test_equals_manual_composition(self, pair, pool):
    # Given a ChunkedSSM over 12 steps in chunks of 4.
    inner, outer = pair
    x = random_input(1, (2, 12, 3))
    fn = transformed(chunked(inner, outer, chunk_size=4, pool=pool))
    params = params_for(inner, outer, 3)
    y = jax.jit(fn.apply)(params, x)
    # When the same sub-layers are composed by hand with the same params:
    # inner, pool each chunk, outer over the 3 summaries, and each chunk k
    # gets the outer output of chunk k - 1.
    inner_name = "mamba_block" if inner == "mamba" else "lru"
    outer_name = "lru_1" if inner == "lru" else "lru"
    u = run_standalone(inner, inner_name, params, x)  # (2, 12, 3)
    chunks = u.reshape(2, 3, 4, 3)
    s = chunks.mean(axis=2) if pool == "mean" else chunks[:, :, -1]
    z = run_standalone(outer, outer_name, params,
                       jnp.asarray(s, jnp.float32))  # (2, 3, 3)
    expected = u.copy()
    for k in range(1, 3):
      expected[:, 4 * k:4 * k + 4] += z[:, k - 1][:, None]
    # Then the composite equals it, and the outer path did contribute.
    np.testing.assert_allclose(y, expected, **tol.F32_SCAN_SHORT)
    self.assertGreater(np.abs(expected - u).max(), 1e-3)

  def test_pooling_modes_differ(self):
    x = random_input(2, (2, 8, 3))
    fn_mean = transformed(chunked(chunk_size=4, pool="mean"))
    fn_last = transformed(chunked(chunk_size=4, pool="last"))
    params = params_for("lru", "lru", 3)
    y_mean = jax.jit(fn_mean.apply)(params, x)
    y_last = jax.jit(fn_last.apply)(params, x)
    # Same first chunk (no context yet), different second chunk.
    np.testing.assert_array_equal(y_mean[:, :4], y_last[:, :4])
    self.assertGreater(float(jnp.abs(y_mean[:, 4:] - y_last[:, 4:]).max()),
                       1e-3)

  def test_factories(self):
    # Given modules from hand-written factories.
    make = lambda: ssm.ChunkedSSM(
        lambda: ssm.LRU(4, name="fine"), lambda: ssm.LRU(2, name="coarse"),
        chunk_size=2)
    fn = transformed(make)
    x = random_input(3, (1, 6, 3))
    params = jax.eval_shape(fn.init, jax.random.PRNGKey(0), x)
    # Then they keep their own names and run.
    self.assertEqual(sorted(params), [PREFIX + "coarse", PREFIX + "fine"])
    self.assertEqual(params[PREFIX + "coarse"]["nu_log"].shape, (2,))
    self.assertEqual(jax.eval_shape(fn.apply, params, x).shape, (1, 6, 3))

  def test_every_zoo_pair_composes(self):
    # Every zoo sequence layer (but chunked itself) as inner and as outer
    # composes into a (B, T, D) -> (B, T, D) layer.
    names = [n for n in zoo.layer_names() if n != "chunked"]
    self.assertContainsSubset(("lru", "mamba_core"), names)
    x = jax.ShapeDtypeStruct((2, 8, 4), jnp.float32)
    pairs = itertools.chain(itertools.product(names, ["lru"]),
                            itertools.product(["lru"], names))
    for inner, outer in pairs:
      # With state: the spiking layers record their spike rate.
      make = chunked(inner, outer, chunk_size=4)
      fn = hk.transform_with_state(lambda x, make=make: make()(x))
      params, state = jax.eval_shape(fn.init, jax.random.PRNGKey(0), x)
      y, _ = jax.eval_shape(fn.apply, params, state, None, x)
      self.assertEqual((y.shape, y.dtype), (x.shape, x.dtype),
                       msg=f"{inner}+{outer}")

  def test_time_major_equals_batch_major(self):
    x = random_input(4, (2, 8, 3))
    fn = transformed(chunked(chunk_size=2))
    fn_tm = transformed(chunked(chunk_size=2), time_major=True)
    params = params_for("lru", "lru", 3)
    np.testing.assert_allclose(
        jax.jit(fn_tm.apply)(params, x.swapaxes(0, 1)).swapaxes(0, 1),
        jax.jit(fn.apply)(params, x), **tol.F32_SCAN_SHORT)

  def test_zoo_builds_it(self):
    def forward(x):
      make = zoo.layer_factory(
          "chunked", inner="lru", outer="lru", chunk_size=2,
          inner_kwargs=dict(state_size=2), outer_kwargs=dict(state_size=2))
      return make()(x)
    fn = hk.without_apply_rng(hk.transform(forward))
    x = random_input(5, (1, 4, 3))
    params = jax.eval_shape(fn.init, jax.random.PRNGKey(0), x)
    self.assertEqual(sorted(params), [PREFIX + "lru", PREFIX + "lru_1"])
    self.assertFalse(ssm.ChunkedSSM.ssm_core)


class ChunkedSSMCausalityTest(parameterized.TestCase):

  @parameterized.parameters(("lru", "lru", "mean"),
                            ("mamba", "lru", "last"),
                            ("lru", "mamba_core", "mean"))
  def test_perturbing_one_step_changes_nothing_before_it(self, inner, outer,
                                                         pool):
    # Given an input and copies perturbed at step t (first, middle and last
    # step of chunk 1 with chunks of 4).
    x = random_input(6, (2, 16, 3))
    fn = transformed(chunked(inner, outer, chunk_size=4, pool=pool))
    params = params_for(inner, outer, 3)
    apply = jax.jit(fn.apply)
    y = apply(params, x)
    for t in (4, 5, 7):
      y2 = apply(params, x.at[:, t].add(3.0))
      # Then every output before t is bit-identical, and the outputs of the
      # next chunk moved (through the inner layer and the summary).
      np.testing.assert_array_equal(y[:, :t], y2[:, :t], err_msg=str(t))
      self.assertGreater(float(jnp.abs(y[:, 8:] - y2[:, 8:]).max()), 1e-3)


class ChunkedSSMStreamingTest(parameterized.TestCase):

  @parameterized.parameters(("lru", "lru", "mean", False),
                            ("mamba", "lru", "last", False),
                            ("lru", "mamba_core", "mean", True))
  def test_step_matches_call(self, inner, outer, pool, pad):
    # Given T = 11 with chunks of 4 when padding (a partial last chunk),
    # else T = 12.
    length = 11 if pad else 12
    x = random_input(7, (2, length, 3))
    make = chunked(inner, outer, chunk_size=4, pool=pool, pad=pad)
    fn = transformed(make)
    params = params_for(inner, outer, 3)
    # When the sequence is streamed step by step.
    y_step = jax.jit(streamed(make).apply)(params, x)
    # Then it equals the whole-sequence call.
    np.testing.assert_allclose(y_step, jax.jit(fn.apply)(params, x),
                               **tol.F32_SCAN_SHORT)

  def test_padding_changes_nothing_it_precedes(self):
    # Given T = 10 with chunks of 4 and pad=True.
    x = random_input(8, (1, 10, 3))
    fn = transformed(chunked(chunk_size=4, pad=True))
    params = params_for("lru", "lru", 3)
    y = jax.jit(fn.apply)(params, x)
    # Then the first 8 outputs equal those of the unpadded 8-step input.
    np.testing.assert_allclose(y[:, :8], jax.jit(fn.apply)(params, x[:, :8]),
                               **tol.F32_SCAN_SHORT)

  def test_state_after_one_chunk(self):
    def forward(x):
      layer = chunked(chunk_size=2)()
      state = layer.initial_state(1, width=3)
      for t in range(3):
        _, state = layer.step(x[:, t], state)
      return state
    fn = hk.without_apply_rng(hk.transform(forward))
    x = random_input(9, (1, 3, 3))
    state = jax.jit(fn.apply)(params_for("lru", "lru", 3), x)
    # One chunk done plus one step: position 1, a context from the outer
    # layer, and the running sum of one inner output.
    self.assertEqual(int(state.position), 1)
    self.assertEqual(state.position.dtype, jnp.int32)
    self.assertEqual(state.pooled.shape, (1, 3))
    self.assertGreater(float(jnp.abs(state.context).max()), 0.0)


class ChunkedSSMBadInputTest(parameterized.TestCase):

  def build(self, *args, **kwargs):
    return hk.transform(lambda: ssm.ChunkedSSM(*args, **kwargs)).init(None)

  def test_length_not_divisible(self):
    fn = transformed(chunked(chunk_size=4))
    with self.assertRaisesRegex(ValueError, r"T=10.*`chunk_size`=4.*pad"):
      jax.eval_shape(fn.init, jax.random.PRNGKey(0), jnp.zeros((1, 10, 3)))

  @parameterized.named_parameters(
      ("chunk_size_zero", dict(chunk_size=0), ValueError, "`chunk_size`"),
      ("chunk_size_float", dict(chunk_size=2.0), ValueError, "`chunk_size`"),
      ("pool", dict(chunk_size=2, pool="max"), ValueError, "`pool`"),
      ("pad", dict(chunk_size=2, pad="yes"), TypeError, "`pad`"),
      ("not_a_factory", dict(chunk_size=2, outer=3), TypeError,
       "`outer` must be a factory"),
      ("factory_returns_junk", dict(chunk_size=2, inner=lambda: 3),
       TypeError, "`inner` factory must return a callable"),
  )
  def test_bad_arguments(self, kwargs, error, pattern):
    kwargs = dict(dict(inner=lambda: ssm.LRU(2), outer=lambda: ssm.LRU(2)),
                  **kwargs)
    with self.assertRaisesRegex(error, pattern):
      self.build(**kwargs)

  @parameterized.named_parameters(
      ("unknown_layer", dict(inner="gru2"), "Unknown sequence layer 'gru2'"),
      ("unknown_option", dict(outer_kwargs=dict(size=3)),
       r"`outer_kwargs`.*Unknown option\(s\) \['size'\] for layer 'lru'"),
      ("no_chunk_size", dict(chunk_size=None), r"\['chunk_size'\]"),
  )
  def test_zoo_names_are_checked_before_building(self, kwargs, pattern):
    # Names and options resolve when the factory is made, outside any
    # transform.
    kwargs = dict(dict(inner="lru", outer="lru", chunk_size=2,
                       inner_kwargs=dict(state_size=2),
                       outer_kwargs=dict(state_size=2)), **kwargs)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with self.assertRaisesRegex(ValueError, pattern):
      zoo.layer_factory("chunked", **kwargs)

  def test_step_with_a_layer_that_cannot_stream(self):
    def forward(x_t):
      layer = ssm.ChunkedSSM(lambda: ssm.LRU(2), lambda: hk.Linear(3),
                             chunk_size=2)
      return layer.initial_state(2, width=3)
    with self.assertRaisesRegex(TypeError, r"`outer` \(Linear\) does not"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))

  def test_initial_state_needs_width(self):
    with self.assertRaisesRegex(ValueError, "pass `width=`"):
      hk.transform(lambda: chunked(chunk_size=2)().initial_state(2)).init(
          None)

  def test_step_with_mismatched_state(self):
    def forward(x_t):
      layer = chunked(chunk_size=2)()
      return layer.step(x_t, layer.initial_state(2, width=4))
    with self.assertRaisesRegex(ValueError, r"`state.pooled`.*\(2, 3\)"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))


if __name__ == "__main__":
  absltest.main()
