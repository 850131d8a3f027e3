"""The SequenceLayer contract (spike_ssm.ssm.base), through every layer.

Each layer writes only its recurrence; these tests hold the base's promises
for all of them at once: bad inputs get one clear error naming the
argument, `time_major` is a pure transpose, the core computes in float32
whatever the input dtype (and under a mixed-precision policy), and the
streaming contract checks its state.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np

from spike_ssm import experimental
from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.training import precision
from tests.zoo_test import SMALL_OPTIONS

B, T, D = 2, 8, 3
# The zoo's layers built on the base.
LAYERS = tuple(n for n in zoo.layer_names()
               if issubclass(zoo.layer_class(n), ssm.SequenceLayer))
STREAMING = LAYERS
# RavenRSM keeps its own call signature: its input is called `u`.
ARG = {"raven": "u"}


def layer(name, **options):
  return zoo.layer_factory(name, **dict(SMALL_OPTIONS[name], **options))()


def transformed(name, time_major=False, **options):
  return hk.transform_with_state(
      lambda x: layer(name, **options)(x, time_major=time_major))


def random_input(seed, shape=(B, T, D), dtype=jnp.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


@functools.lru_cache(maxsize=None)
def init(name):
  """The layer's initial (params, state) for a (B, T, D) float32 input.

  Shared by the tests of one layer (initialising compiles the forward
  pass; the values do not depend on the input's values).
  """
  return jax.jit(transformed(name).init)(jax.random.PRNGKey(0),
                                         jnp.zeros((B, T, D), jnp.float32))


class ContractTest(parameterized.TestCase):

  def test_every_ssm_layer_of_the_zoo_is_on_the_base(self):
    self.assertContainsSubset(
        {"s5", "lru", "s4d", "s4", "mamba", "mamba_core", "spiking_ssm",
         "loongspike", "chunked", "raven"}, LAYERS)
    self.assertContainsSubset(
        {ssm.S5, ssm.LRU, ssm.S4D, ssm.S4, ssm.Mamba, ssm.MambaBlock,
         ssm.SpikingSSM, ssm.LoongSpike, ssm.ChunkedSSM, ssm.SpikeSSM,
         ssm.CapibaraJAXSSM, experimental.RavenRSM},
        ssm.sequence_layer_classes())

  @parameterized.parameters(*LAYERS)
  def test_time_major_is_a_pure_transpose(self, name):
    # Given one input in both layouts and one set of parameters.
    x = random_input(1)
    fn, fn_tm = transformed(name), transformed(name, time_major=True)
    params, state = init(name)
    # When the layer runs on each.
    y, _ = jax.jit(fn.apply)(params, state, None, x)
    y_tm, _ = jax.jit(fn_tm.apply)(params, state, None, x.swapaxes(0, 1))
    # Then the outputs are the same numbers, transposed.
    self.assertEqual(y_tm.shape, (T, B, D))
    np.testing.assert_array_equal(y_tm.swapaxes(0, 1), y)

  @parameterized.parameters(*LAYERS)
  def test_core_computes_in_float32_for_bfloat16_inputs(self, name):
    # Given a bfloat16 input and the same values in float32.
    x16 = random_input(2, dtype=jnp.bfloat16)
    fn = transformed(name)
    params, state = init(name)
    apply = jax.jit(fn.apply)
    y16, _ = apply(params, state, None, x16)
    y32, _ = apply(params, state, None, x16.astype(jnp.float32))
    # Then the bfloat16 output is the float32 output, rounded once.
    self.assertEqual(y16.dtype, jnp.bfloat16)
    np.testing.assert_array_equal(y16, y32.astype(jnp.bfloat16))

  # Chunked is a container without a policy; RavenRSM keeps helpers of its
  # own base (`_SlotMemoryBase`) that a policy still casts.
  @parameterized.parameters(*(n for n in LAYERS
                              if n not in ("chunked", "raven")))
  def test_core_policy_casts_only_at_the_public_edge(self, name):
    # Given the layer under the float32-compute, bfloat16-output core policy.
    x = random_input(3)
    fn = transformed(name)
    params, state = init(name)
    y32, _ = jax.jit(fn.apply)(params, state, None, x)
    cls = zoo.layer_class(name)
    self.assertIn(cls, precision.ssm_core_classes())
    policy = jmp.get_policy("p=f32,c=f32,o=bf16")
    with hk.mixed_precision.push_policy(cls, policy):
      y, _ = jax.jit(lambda p, s, x: fn.apply(p, s, None, x))(params, state,
                                                               x)
    # Then no helper's result was rounded on the way: the output is the
    # float32 output, rounded once.
    self.assertEqual(y.dtype, jnp.bfloat16)
    np.testing.assert_array_equal(y, y32.astype(jnp.bfloat16))


class BadInputTest(parameterized.TestCase):

  @parameterized.parameters(*LAYERS)
  def test_call_rejects_bad_inputs(self, name):
    arg = ARG.get(name, "x")
    fn = transformed(name)
    key = jax.random.PRNGKey(0)
    with self.assertRaisesRegex(ValueError, f"`{arg}` must have rank 3"):
      fn.init(key, jnp.zeros((B, D)))
    with self.assertRaisesRegex(TypeError, f"`{arg}` must be a floating"):
      fn.init(key, jnp.zeros((B, T, D), jnp.int32))
    with self.assertRaisesRegex(TypeError, f"`{arg}` must be an array"):
      fn.init(key, [[1.0]])

  @parameterized.parameters(*(n for n in LAYERS if n != "chunked"))
  def test_call_rejects_another_width(self, name):
    # Chunked has no parameters of its own; its layers check their width.
    fn = transformed(name)
    params, state = jax.eval_shape(fn.init, jax.random.PRNGKey(0),
                                   jnp.zeros((B, T, D)))
    with self.assertRaisesRegex(ValueError,
                                f"D={D + 1} does not match D={D}"):
      jax.eval_shape(fn.apply, params, state, None, jnp.zeros((B, T, D + 1)))

  @parameterized.parameters(*STREAMING)
  def test_step_rejects_bad_inputs_and_states(self, name):
    arg = ARG.get(name, "x") + "_t"

    def streamed(x_t, state_fn=None):
      module = layer(name)
      state = module.initial_state(B, D)
      if state_fn is not None:
        state = state_fn(state)
      return module.step(x_t, state)

    def run(x_t, state_fn=None):
      # The checks run while tracing: eval_shape needs no compilation.
      return jax.eval_shape(hk.transform_with_state(
          lambda x: streamed(x, state_fn)).init, jax.random.PRNGKey(0), x_t)

    x_t = jnp.zeros((B, D))
    run(x_t)  # The contract holds for the right arguments.
    with self.assertRaisesRegex(ValueError, f"`{arg}` must have rank 2"):
      run(jnp.zeros((B, T, D)))
    with self.assertRaisesRegex(TypeError, f"`{arg}` must be a floating"):
      run(jnp.zeros((B, D), jnp.int32))
    # A state for another batch size: the first leaf is named.
    grow = lambda s: jax.tree.map(lambda a: jnp.zeros((B + 1,) + a.shape[1:],
                                                      a.dtype), s)
    with self.assertRaisesRegex(ValueError, r"`?state\.\w+.*must have shape"):
      run(x_t, lambda s: jax.tree.map(
          lambda a: a if a.ndim == 0 else grow(a), s))
    if name != "raven":  # RavenRSM keeps its own step.
      with self.assertRaisesRegex(TypeError, "`state` must be a"):
        run(x_t, lambda s: (s,))

  @parameterized.parameters(*STREAMING)
  def test_initial_state_rejects_bad_sizes(self, name):
    def make(batch_size, width=D):
      return hk.transform_with_state(
          lambda: layer(name).initial_state(batch_size, width)).init(None)
    for batch_size in (0, 1.5, True):
      with self.assertRaisesRegex(ValueError, "`batch_size`"):
        make(batch_size)

  @parameterized.parameters(("s5", {}), ("s4d", {}), ("s4", {}),
                            ("spiking_ssm", {}))
  def test_bidirectional_layers_refuse_to_stream(self, name, options):
    def forward(x_t):
      module = layer(name, bidirectional=True, **options)
      return module.step(x_t, module.initial_state(B, D))
    with self.assertRaisesRegex(ValueError,
                                "needs a causal layer.*bidirectional"):
      hk.transform_with_state(forward).init(None, jnp.zeros((B, D)))


class SubclassTest(absltest.TestCase):

  def test_a_layer_without_hooks_fails_at_construction(self):
    class NoStep(ssm.SequenceLayer):

      def _sequence(self, u):
        return u

      def _zero_state(self, batch_size, width):
        return ()

    with self.assertRaisesRegex(TypeError, "neither `_step` nor its own "
                                "`step`"):
      hk.transform(lambda: NoStep()).init(None)

  def test_a_minimal_layer_gets_the_whole_contract(self):
    # Given a layer that only writes its recurrence (a running sum).
    class Cumsum(ssm.SequenceLayer):
      time_major_core = True

      def _sequence(self, u):
        return jnp.cumsum(u, axis=0)

      def _step(self, u, state):
        return u + state, u + state

      def _zero_state(self, batch_size, width):
        return jnp.zeros((batch_size, width), jnp.float32)

    def forward(x):
      module = Cumsum()
      y = module(x)
      state = module.initial_state(B, D)
      steps = []
      for t in range(T):
        y_t, state = module.step(x[:, t], state)
        steps.append(y_t)
      return y, jnp.stack(steps, axis=1)

    x = random_input(4, dtype=jnp.bfloat16)
    y, y_steps = hk.transform(forward).apply({}, None, x)
    # Then the whole sequence equals the stream, in the input's dtype.
    self.assertEqual((y.dtype, y_steps.dtype), (jnp.bfloat16, jnp.bfloat16))
    np.testing.assert_array_equal(y, y_steps)
    np.testing.assert_array_equal(
        y, jnp.cumsum(x.astype(jnp.float32), axis=1).astype(jnp.bfloat16))


if __name__ == "__main__":
  absltest.main()
