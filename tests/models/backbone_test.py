"""Tests for spike_ssm.models: backbone, pooling, heads, padding."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import numpy as np

from spike_ssm import zoo
from spike_ssm.models import backbone
from tests import tolerances as tol


def _model(layer="lru", layer_kwargs=None, norm="layer", prenorm=True,
           glu="half_glu1", pooling="masked_mean", target_kind="class",
           dual=False, input_kind="tokens", neuron=None):
  layer_kwargs = layer_kwargs or {"state_size": 8}

  def forward(batch, is_training):
    return backbone.SequenceModel(
        num_classes=5, input_kind=input_kind,
        vocab_size=12 if input_kind == "tokens" else None,
        target_kind=target_kind, dual=dual, pooling=pooling,
        backbone=dict(layer=zoo.layer_factory(layer, **layer_kwargs),
                      num_layers=2, width=16, norm=norm, prenorm=prenorm,
                      glu=glu, dropout=0.0,
                      neuron=zoo.neuron_factory(**(neuron or {}))))(
                          batch, is_training=is_training)
  return hk.transform_with_state(forward)


def _init(model, batch, is_training):
  """Jitted `model.init` (eager, it dispatches op by op: several times
  slower)."""
  return jax.jit(functools.partial(model.init, is_training=is_training))(
      jax.random.PRNGKey(0), batch)


def _apply(model, params, state, batch, is_training):
  """Jitted `model.apply` without an rng."""
  return jax.jit(functools.partial(model.apply, is_training=is_training))(
      params, state, None, batch)


def _token_batch(rng, b=3, t=20, lengths=(20, 13, 7), garbage=0):
  x = rng.integers(1, 12, size=(b, t)).astype(np.int32)
  lengths = np.asarray(lengths, np.int32)
  for i, n in enumerate(lengths):
    x[i, n:] = garbage
  return {"inputs": x, "lengths": lengths,
          "targets": np.zeros((b,), np.int32)}


class PaddingTest(parameterized.TestCase):

  # Every pair of (norm, prenorm, pooling) values, in 4 of the 8 products:
  # the three options act at different places (the norm's statistics, where
  # it sits in the block, the pooling), so pairs exercise every interaction
  # of two of them and each path of each.
  @parameterized.parameters(
      ("layer", True, "masked_mean"),
      ("layer", False, "last"),
      ("batch", True, "last"),
      ("batch", False, "masked_mean"),
  )
  def test_padded_positions_change_nothing(self, norm, prenorm, pooling):
    # Given a batch whose padded positions hold one kind of garbage...
    model = _model(layer_kwargs={"state_size": 8}, norm=norm,
                   prenorm=prenorm, pooling=pooling)
    rng = np.random.default_rng(0)
    a = _token_batch(rng, garbage=0)
    # ... and the same batch with other garbage and extra padding.
    b = {k: v.copy() for k, v in a.items()}
    b["inputs"] = np.concatenate(
        [b["inputs"], np.zeros((3, 9), np.int32)], axis=1)
    for i, n in enumerate(b["lengths"]):
      b["inputs"][i, n:] = rng.integers(1, 12, size=b["inputs"].shape[1] - n)
    params, state = jax.jit(functools.partial(model.init, is_training=True))(
        jax.random.PRNGKey(0), a)
    for is_training in (True, False):
      # When both go through the model (training mode: batch statistics).
      out_a, _ = jax.jit(model.apply, static_argnames="is_training")(
          params, state, None, a, is_training=is_training)
      out_b, _ = jax.jit(model.apply, static_argnames="is_training")(
          params, state, None, b, is_training=is_training)
      # Then the logits are the same.
      np.testing.assert_allclose(out_a, out_b, **tol.F32_SCAN_SHORT)

  def test_plain_mean_pooling_does_see_padding(self):
    # The control: "mean" averages over every position, padding included.
    model = _model(pooling="mean")
    rng = np.random.default_rng(1)
    a = _token_batch(rng)
    b = dict(a, inputs=np.concatenate([a["inputs"], np.zeros((3, 5), np.int32)],
                                      axis=1))
    params, state = _init(model, a, False)
    out_a, _ = _apply(model, params, state, a, False)
    out_b, _ = _apply(model, params, state, b, False)
    self.assertFalse(np.allclose(out_a, out_b, **tol.F32_SCAN_SHORT))


class HeadsTest(parameterized.TestCase):

  def test_output_shapes_per_target_kind(self):
    rng = np.random.default_rng(2)
    batch = _token_batch(rng)
    for kind, shape in (("class", (3, 5)), ("sequence", (3, 20, 5)),
                        ("regression", (3,))):
      model = _model(target_kind=kind)
      params, state = _init(model, batch, False)
      out, _ = _apply(model, params, state, batch, False)
      self.assertEqual(out.shape, shape, msg=kind)

  def test_dual_encoder_shares_the_backbone(self):
    rng = np.random.default_rng(3)
    batch = _token_batch(rng)
    batch.update(inputs2=batch["inputs"][::-1].copy(),
                 lengths2=batch["lengths"][::-1].copy())
    model = _model(dual=True)
    params, state = _init(model, batch, False)
    self.assertFalse(any("backbone_1" in k for k in params))
    self.assertTrue(any("dual_mlp" in k for k in params))
    out, _ = _apply(model, params, state, batch, False)
    self.assertEqual(out.shape, (3, 5))
    # Swapping the two documents changes the features [u, v, uv, u - v].
    swapped = dict(batch, inputs=batch["inputs2"], lengths=batch["lengths2"],
                   inputs2=batch["inputs"], lengths2=batch["lengths"])
    out2, _ = _apply(model, params, state, swapped, False)
    self.assertFalse(np.allclose(out, out2))

  def test_continuous_inputs(self):
    model = _model(input_kind="continuous")
    batch = {"inputs": np.ones((2, 7, 3), np.float32),
             "lengths": np.array([7, 4], np.int32)}
    params, state = _init(model, batch, False)
    self.assertIn("sequence_model/encoder", params)
    out, _ = _apply(model, params, state, batch, False)
    self.assertEqual(out.shape, (2, 5))

  def test_batch_norm_statistics_update_only_in_training(self):
    model = _model(norm="batch")
    batch = _token_batch(np.random.default_rng(5))
    params, state = _init(model, batch, True)
    _, s_train = _apply(model, params, state, batch, True)
    _, s_eval = _apply(model, params, state, batch, False)
    key = [k for k in state if k.endswith("norm")][0]
    self.assertFalse(np.allclose(s_train[key]["mean_ema"],
                                 state[key]["mean_ema"]))
    np.testing.assert_array_equal(s_eval[key]["mean_ema"],
                                  state[key]["mean_ema"])


class BadInputTest(parameterized.TestCase):

  def test_unknown_layer(self):
    with self.assertRaisesRegex(ValueError, "Unknown sequence layer 'nope'"):
      _model(layer="nope").init(jax.random.PRNGKey(0),
                                _token_batch(np.random.default_rng(0)),
                                is_training=False)

  @parameterized.parameters(("norm", "group"), ("glu", "swiglu"),
                            ("pooling", "max"))
  def test_unknown_option(self, key, value):
    with self.assertRaisesRegex(ValueError, f"{key} must be one of"):
      _model(**{key: value}).init(jax.random.PRNGKey(0),
                                  _token_batch(np.random.default_rng(0)),
                                  is_training=False)

  def test_wrong_input_rank(self):
    with self.assertRaisesRegex(ValueError, r"tokens inputs must have rank 2"):
      _model().init(jax.random.PRNGKey(0),
                    {"inputs": np.zeros((2, 3, 4), np.int32)},
                    is_training=False)

  def test_layer_and_neuron_must_be_factories(self):
    # A name is not a factory: the zoo turns names into factories.
    for kwargs, what in ((dict(layer="lru"), "layer"),
                         (dict(layer=zoo.layer_factory("lru", state_size=2),
                               neuron="lif"), "neuron")):
      with self.assertRaisesRegex(TypeError, f"`{what}` must be a factory"):
        hk.transform(lambda kwargs=kwargs: backbone.SequenceBackbone(
            num_layers=1, width=4, **kwargs)).init(None)


if __name__ == "__main__":
  absltest.main()
