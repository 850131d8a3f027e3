"""Mixed precision: per-class jmp policies keep SSM cores and neurons in f32."""

import functools

from absl.testing import absltest
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import optax

from spike_ssm import neurons
from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.models import backbone
from spike_ssm.training import precision
from spike_ssm.training import step as step_lib
from tests import tolerances as tol

F32 = {"model": "p=f32,c=f32,o=f32", "ssm_core": "p=f32,c=f32,o=f32",
       "neuron": "p=f32,c=f32,o=f32", "loss_scale": "none"}
MIXED = dict(F32, model="p=f32,c=bf16,o=f32", ssm_core="p=f32,c=f32,o=bf16",
             neuron="p=f32,c=f32,o=bf16")


def _forward(batch, is_training):
  return backbone.SequenceModel(
      num_classes=4, input_kind="continuous", pooling="masked_mean",
      backbone=dict(layer=zoo.layer_factory("s5", state_size=32, blocks=2,
                                            dt_min=1e-3, dt_max=1e-2),
                    num_layers=2, width=32, norm="layer", glu="half_glu1",
                    dropout=0.0))(
                        batch, is_training=is_training)


class PrecisionTest(absltest.TestCase):
  """Dtypes are read with `jax.eval_shape` (Haiku's mixed_precision_test
  does the same): only the closeness of the mixed run needs a compiled
  program."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    # Long, slowly varying input: the recurrence accumulates over 512 steps.
    self.batch = {"inputs": rng.normal(size=(4, 512, 3)).astype(np.float32),
                  "lengths": np.full((4,), 512, np.int32)}
    self.model = hk.transform_with_state(_forward)

  def _init(self):
    return jax.eval_shape(functools.partial(self.model.init,
                                            is_training=False),
                          jax.random.PRNGKey(0), self.batch)

  def test_model_output_follows_policy_and_stays_close(self):
    # Given the model's parameters.
    params, state = jax.jit(functools.partial(
        self.model.init, is_training=False))(jax.random.PRNGKey(0),
                                             self.batch)

    # When it runs under full f32 and under the mixed policy, in one
    # program (a policy is read while tracing, so each apply below is
    # traced under its own).
    def both(p, s, b):
      outs = []
      for policy in (F32, MIXED):
        with precision.installed(policy):
          outs.append(self.model.apply(p, s, None, b, is_training=False)[0])
      return outs

    ref, mixed = jax.jit(both)(params, state, self.batch)
    # Then the output has the model policy's output dtype, and is close.
    self.assertEqual(mixed.dtype, jnp.float32)
    np.testing.assert_allclose(mixed, ref, **tol.BF16_PATH)

  def test_core_and_neuron_policies_reach_their_classes(self):
    # Given an S5 core and a LIF neuron called on bfloat16 inputs.
    def f(x):
      y = ssm.S5(8, blocks=2)(x)
      s, _ = neurons.run(neurons.LIF(8), x)
      return y, s
    f = hk.transform(f)
    x = jnp.ones((2, 16, 8), jnp.bfloat16)
    params = jax.eval_shape(f.init, jax.random.PRNGKey(0), x)
    for out_dtype in ("bf16", "f32", "f16"):
      policy = dict(MIXED, ssm_core=f"p=f32,c=f32,o={out_dtype}",
                    neuron=f"p=f32,c=f32,o={out_dtype}")
      # eval_shape traces afresh, under this policy.
      with precision.installed(policy):
        y, s = jax.eval_shape(lambda p, x: f.apply(p, None, x), params, x)
      # Then each returns its policy's output dtype.
      want = jmp.get_policy(f"o={out_dtype}").output_dtype
      self.assertEqual((y.dtype, s.dtype), (want, want))

  def test_parameters_are_created_float32_under_a_bf16_policy(self):
    with precision.installed(MIXED):
      params, _ = self._init()
    dtypes = {x.dtype for x in jax.tree.leaves(params)}
    self.assertEqual(dtypes, {jnp.dtype(jnp.float32)})

  def test_policies_cover_every_core_and_neuron_class(self):
    table = precision.policies(MIXED)
    names = {cls.__name__ for cls in table}
    self.assertTrue({"S5", "LRU", "LIF", "PSU_LIF", "SequenceModel"} <= names)
    s5 = [p for c, p in table.items() if c.__name__ == "S5"][0]
    self.assertEqual(s5.compute_dtype, jnp.float32)
    self.assertEqual(s5.output_dtype, jnp.bfloat16)

  def test_policies_do_not_leak_out_of_the_context(self):
    with precision.installed(MIXED):
      self.assertIsNotNone(hk.mixed_precision.get_policy(backbone.SequenceModel))
    self.assertIsNone(hk.mixed_precision.get_policy(backbone.SequenceModel))

  def test_dynamic_loss_scale_for_float16(self):
    # A float16 model with dynamic loss scaling trains; an overflowing step
    # halves the scale and is skipped.
    scale = precision.loss_scale("dynamic")
    self.assertIsInstance(scale, jmp.DynamicLossScale)
    model = hk.transform_with_state(
        lambda b, is_training: hk.Linear(3)(b["inputs"]))
    params, state = model.init(jax.random.PRNGKey(0),
                               {"inputs": jnp.ones((2, 4))}, is_training=True)
    opt = optax.sgd(0.1)
    ts = step_lib.TrainState(jnp.int32(0), params, state, opt.init(params),
                             scale, jax.random.PRNGKey(1), jnp.int32(0),
                             jnp.int32(0))
    fn = jax.jit(step_lib.make_train_step(model.apply, opt,
                                          target_kind="class"))
    big = {"inputs": jnp.full((2, 4), 1e38, jnp.float32),
           "targets": jnp.array([0, 1]), "weights": jnp.ones(2)}
    ts2, m = fn(ts, big)
    self.assertFalse(bool(m["finite"]))
    self.assertLess(float(ts2.loss_scale.loss_scale),
                    float(ts.loss_scale.loss_scale))
    with self.assertRaisesRegex(ValueError, "loss_scale must be"):
      precision.loss_scale("auto")


if __name__ == "__main__":
  absltest.main()
