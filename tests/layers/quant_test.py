"""Tests for spike_ssm.layers.quant and the `quantize` switch of the models."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import layers
from spike_ssm import zoo
from spike_ssm.models import backbone
from spike_ssm.ops import quant as quant_ops
from tests import golden_util
from tests import tolerances as tol
from tests.training import train_test


def _linear_pair(mode, quantize_activations=False):
  def f(x, quantized):
    if quantized:
      return layers.QuantLinear(
          6, mode=mode, quantize_activations=quantize_activations,
          name="proj")(x)
    return hk.Linear(6, name="proj")(x)
  return hk.transform(f)


class QuantLinearTest(parameterized.TestCase):

  @parameterized.parameters(("int8", False), ("int8", True),
                            ("ternary", False), ("ternary", True))
  def test_forward_and_gradients(self, mode, quantize_activations):
    # Given inputs (2, 5, 9) and a QuantLinear and hk.Linear initialised
    # with one key.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 5, 9)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(2, 5, 6)), jnp.float32)
    f = _linear_pair(mode, quantize_activations)
    params = f.init(jax.random.PRNGKey(0), x, True)
    # Then the parameters are hk.Linear's, names and values alike.
    chex.assert_trees_all_equal(params, f.init(jax.random.PRNGKey(0), x,
                                               False))
    # When the layer runs and is differentiated.
    def run(p, x, g):
      y, pullback = jax.vjp(lambda p, x: f.apply(p, None, x, True), p, x)
      return (y, *pullback(g))
    y, dp, dx = jax.jit(run)(params, x, g)
    # Then y = Qx(x) Qw(W) + b, computed here in float64 from the
    # quantisers' own codes and scales...
    w, b = params["proj"]["w"], params["proj"]["b"]
    if mode == "int8":
      codes, scale = quant_ops.quantize_int8(w, axis=0)
    else:
      codes, scale = quant_ops.quantize_ternary(w)
    wq = np.asarray(codes, np.float64) * np.asarray(scale, np.float64)
    xq = np.asarray(x, np.float64)
    if quantize_activations:
      xc, xs = quant_ops.quantize_int8(x, axis=-1)
      xq = np.asarray(xc, np.float64) * np.asarray(xs, np.float64)
    np.testing.assert_allclose(y, xq @ wq + np.asarray(b), **tol.F32_VS_F64)
    # ... the quantisation changed the output ...
    self.assertFalse(np.allclose(y, f.apply(params, None, x, False),
                                 **tol.F32_VS_F64))
    # ... and gradients pass straight through both quantisers:
    # dL/dW = Qx(x)^T g, dL/dx = g Qw(W)^T, dL/db = sum g.
    gn = np.asarray(g, np.float64)
    np.testing.assert_allclose(
        dp["proj"]["w"], np.einsum("bti,bto->io", xq, gn), **tol.F32_VS_F64)
    np.testing.assert_allclose(dx, gn @ wq.T, **tol.F32_VS_F64)
    np.testing.assert_allclose(dp["proj"]["b"], gn.sum((0, 1)),
                               **tol.F32_VS_F64)

  def test_ternary_weights_take_three_values(self):
    # Feeding the identity (and a zero bias) reads the effective weights.
    x = jnp.eye(9)
    f = _linear_pair("ternary")
    params = f.init(jax.random.PRNGKey(0), x, True)
    w_eff = np.asarray(f.apply(params, None, x, True))
    self.assertEqual(len(np.unique(w_eff)), 3)

  @parameterized.parameters(
      (dict(out_features=4, mode="int4"), ValueError,
       r"mode must be one of \('int8', 'ternary'\), got 'int4'"),
      (dict(out_features=0), ValueError, "out_features must be a positive"),
  )
  def test_bad_constructor_arguments(self, kwargs, error, message):
    with self.assertRaisesRegex(error, message):
      hk.transform(lambda: layers.QuantLinear(**kwargs)).init(None)

  def test_integer_input_is_rejected(self):
    f = hk.transform(lambda x: layers.QuantLinear(2)(x))
    with self.assertRaisesRegex(TypeError, "`x` must be a floating array"):
      f.init(jax.random.PRNGKey(0), jnp.zeros((2, 3), jnp.int32))


def _model(quantize, dual=False, backbone_quantize=None):
  backbone_extra = ({} if backbone_quantize is None else
                    {"quantize": backbone_quantize})

  def forward(batch, is_training):
    return backbone.SequenceModel(
        num_classes=5, input_kind="tokens", vocab_size=12, dual=dual,
        pooling="masked_mean", quantize=quantize,
        backbone=dict(layer=zoo.layer_factory("lru", state_size=8),
                      num_layers=2, width=16, norm="batch",
                      glu="full_glu", dropout=0.0, **backbone_extra))(
                          batch, is_training=is_training)
  return hk.transform_with_state(forward)


def _batch(dual=False):
  rng = np.random.default_rng(4)
  x = rng.integers(1, 12, size=(3, 20)).astype(np.int32)
  batch = {"inputs": x, "lengths": np.array([20, 13, 7], np.int32),
           "targets": np.zeros((3,), np.int32)}
  if dual:
    batch.update(inputs2=x[::-1].copy(), lengths2=batch["lengths"][::-1])
  return batch


@functools.lru_cache(maxsize=None)
def _initial_params(quantize):
  """Initial parameters of `_model(quantize)` (cached: the float model's are
  compared with both quantised ones)."""
  batch = _batch()
  return jax.jit(lambda key: _model(quantize).init(
      key, batch, is_training=True)[0])(jax.random.PRNGKey(0))


class ModelSwitchTest(parameterized.TestCase):

  @parameterized.parameters("int8", "ternary")
  def test_parameter_tree_and_values_unchanged(self, quantize):
    # Given the golden model of backbone_test (full GLU, batch norm).
    # When it is initialised quantised and not.
    params, float_params = (_initial_params(quantize),
                            _initial_params("none"))
    # Then quantising changes no parameter name, shape or initial value
    # (QuantLinear's effect on the outputs is tested above).
    golden_util.assert_matches_golden("sequence_model_lru", params)
    chex.assert_trees_all_equal(params, float_params)

  @parameterized.parameters("none", "int8")
  def test_which_projections_are_quantised(self, quantize):
    # Given a dual-encoder model, recording every module method call.
    batch = _batch(dual=True)
    model = _model(quantize, dual=True)
    calls = set()

    def spy(next_f, args, kwargs, context):
      if context.method_name == "__call__":
        calls.add((context.module.module_name,
                   type(context.module).__name__))
      return next_f(*args, **kwargs)

    # When it is traced (the modules called are the same as in a run).
    with hk.intercept_methods(spy):
      jax.eval_shape(functools.partial(model.init, is_training=False),
                     jax.random.PRNGKey(0), batch)
    kinds = {}
    for name, cls in calls:
      kinds.setdefault(name.rsplit("/", 1)[-1], set()).add(cls)
    # Then the GLU projections and the dual MLP are QuantLinear exactly when
    # quantising; the embedding and the head never are.
    want = "QuantLinear" if quantize != "none" else "Linear"
    for name in ("out1", "out2", "dual_mlp"):
      self.assertEqual(kinds[name], {want}, msg=name)
    self.assertEqual(kinds["head"], {"Linear"})
    self.assertEqual(kinds["embed"], {"Embed"})

  def test_bad_quantize_option(self):
    with self.assertRaisesRegex(
        ValueError,
        r"quantize must be one of \('none', 'int8', 'ternary'\), got 'int4'"):
      _model("int4").init(jax.random.PRNGKey(0), _batch(), is_training=False)

  def test_conflicting_backbone_quantize(self):
    with self.assertRaisesRegex(ValueError, "conflicts with backbone"):
      _model("int8", backbone_quantize="ternary").init(
          jax.random.PRNGKey(0), _batch(), is_training=False)


class TrainingTest(parameterized.TestCase):

  @parameterized.parameters("int8", "ternary")
  def test_quantized_model_traces_a_training_step(self, quantize):
    # Given the digits smoke config with a quantised model.
    config = train_test.load_config("digits.py", "smoke")
    config.model.quantize = quantize
    # When its training step is traced, then the update keeps every
    # parameter (QuantLinearTest checks the straight-through gradients).
    train_test.trace_training_step(self, config)


if __name__ == "__main__":
  absltest.main()
