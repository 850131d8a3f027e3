"""Tests for spike_ssm.models: backbone, pooling, heads, padding."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
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



# ----------------------------------------------------------------------------
# Recipe options (issue 9): each default keeps the behaviour above.
# ----------------------------------------------------------------------------


def _dense_backbone(num_layers=1, width=6, **kwargs):
  """A backbone of zoo "dense" layers on continuous (B, T, width) inputs."""
  def forward(x, mask, is_training):
    return backbone.SequenceBackbone(
        zoo.layer_factory("dense"), num_layers, width, **kwargs)(
            x, mask, is_training=is_training)
  return hk.transform_with_state(forward)


def _ragged(rng, b=3, t=9, d=6, lengths=(9, 5, 2)):
  x = rng.standard_normal((b, t, d)).astype(np.float32)
  mask = (np.arange(t)[None] < np.asarray(lengths)[:, None]).astype(
      np.float32)
  return x, mask


class TokenEncoderTest(parameterized.TestCase):

  def test_onehot_dense_is_one_hot_times_a_dense_layer(self):
    # Given a one-hot width above the vocabulary (S5: 20 for ListOps' 18).
    enc = hk.transform(lambda ids: backbone.OneHotDense(5, 20)(ids))
    ids = np.random.default_rng(0).integers(0, 20, (3, 11)).astype(np.int32)
    params = enc.init(jax.random.PRNGKey(0), ids)["one_hot_dense"]
    self.assertEqual(params["w"].shape, (20, 5))
    np.testing.assert_array_equal(params["b"], np.zeros(5))
    # With a non-zero bias.
    params = dict(params, b=np.arange(5, dtype=np.float32))
    got = jax.jit(enc.apply)({"one_hot_dense": params}, None, ids)
    # Then the output is one_hot(ids, 20) @ w + b (float64 NumPy).
    w = np.asarray(params["w"], np.float64)
    want = np.eye(20)[ids] @ w + np.arange(5)
    np.testing.assert_allclose(got, want, **tol.F32_VS_F64)

  def test_lecun_normal_init(self):
    # Flax's lecun_normal: a truncated normal rescaled to std 1/sqrt(in).
    in_dim = 20
    enc = hk.transform(lambda ids: backbone.OneHotDense(4096, in_dim)(ids))
    w = np.asarray(enc.init(jax.random.PRNGKey(1), np.zeros((1, 1), np.int32))
                   ["one_hot_dense"]["w"], np.float64)
    std = 1 / np.sqrt(in_dim)
    # 81920 draws: the sample std is within ~0.3% of the truth (1 sigma).
    self.assertAlmostEqual(w.std() / std, 1.0, delta=0.015)
    self.assertAlmostEqual(w.mean() / std, 0.0, delta=0.015)
    # Truncated at two standard deviations of the untruncated normal.
    self.assertLessEqual(np.abs(w).max(), 2 * std / 0.87962566103423978)
    self.assertGreater(np.abs(w).max(), 1.9 * std / 0.87962566103423978)

  def test_sequence_model_uses_it_for_tokens(self):
    batch = _token_batch(np.random.default_rng(2))

    def forward(batch, **kwargs):
      return backbone.SequenceModel(
          num_classes=5, input_kind="tokens", vocab_size=12,
          pooling="masked_mean",
          backbone=dict(layer=zoo.layer_factory("dense"), num_layers=1,
                        width=8), **kwargs)(batch, is_training=False)

    shapes = {}
    for kwargs in ({}, dict(token_encoder="onehot_dense"),
                   dict(token_encoder="onehot_dense", onehot_dim=20)):
      params, _ = jax.eval_shape(
          hk.transform_with_state(functools.partial(forward, **kwargs)).init,
          jax.random.PRNGKey(0), batch)
      shapes[len(shapes)] = {k: v.shape for k, v in
                             params["sequence_model/embed"].items()}
    # The default stays hk.Embed (golden trees unchanged); the one-hot
    # encoder is (in_dim, D) + (D,), in_dim = vocab_size unless given.
    self.assertEqual(shapes[0], {"embeddings": (12, 8)})
    self.assertEqual(shapes[1], {"w": (12, 8), "b": (8,)})
    self.assertEqual(shapes[2], {"w": (20, 8), "b": (8,)})

  @parameterized.named_parameters(
      ("unknown_encoder", dict(token_encoder="bpe"),
       r"token_encoder must be one of \('embed', 'onehot_dense'\), got 'bpe'"),
      ("dim_below_vocab", dict(token_encoder="onehot_dense", onehot_dim=11),
       "onehot_dim must be None or an int >= vocab_size=12, got 11"),
      ("dim_without_onehot", dict(onehot_dim=20),
       "onehot_dim=20 is the one-hot width of token_encoder='onehot_dense'"),
  )
  def test_bad_encoder_options(self, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      hk.transform(lambda: backbone.SequenceModel(
          num_classes=2, input_kind="tokens", vocab_size=12,
          backbone=dict(layer=zoo.layer_factory("dense"), num_layers=1,
                        width=4), **kwargs)).init(None)

  def test_bad_one_hot_dense_arguments(self):
    with self.assertRaisesRegex(ValueError, "`in_dim` must be an int >= 1"):
      hk.transform(lambda: backbone.OneHotDense(4, 0)).init(None)
    with self.assertRaisesRegex(TypeError, "`ids` must be integers"):
      hk.transform(lambda: backbone.OneHotDense(4, 3)(
          jnp.zeros((2, 3)))).init(jax.random.PRNGKey(0))


class MaskedMeanPoolingTest(absltest.TestCase):

  def test_equals_float64_masked_mean_and_ignores_padding(self):
    # Given ragged features whose padded positions hold garbage.
    rng = np.random.default_rng(3)
    x, mask = _ragged(rng)
    garbage = np.where(mask[..., None] > 0, x, 1e6 * rng.standard_normal(
        x.shape)).astype(np.float32)
    # When pooled.
    got = jax.jit(lambda x, m: backbone.pool(x, m, "masked_mean"))
    # Then the result is sum_{t < len} x_t / len in float64 ...
    want = (x.astype(np.float64) * mask[..., None]).sum(1) / mask.sum(
        1, keepdims=True)
    np.testing.assert_allclose(got(x, mask), want, **tol.F32_VS_F64)
    # ... whatever the padded positions hold (bit for bit).
    np.testing.assert_array_equal(got(x, mask), got(garbage, mask))
    # While the plain mean does see them (the control).
    self.assertFalse(np.allclose(backbone.pool(x, mask, "mean"),
                                 backbone.pool(garbage, mask, "mean")))

  def test_model_output_ignores_padded_tokens(self):
    model = _model(pooling="masked_mean", norm="batch", prenorm=True)
    rng = np.random.default_rng(4)
    a = _token_batch(rng, garbage=0)
    b = dict(a, inputs=a["inputs"].copy())
    for i, n in enumerate(a["lengths"]):
      b["inputs"][i, n:] = rng.integers(1, 12, size=20 - n)
    params, state = _init(model, a, True)
    out_a, _ = _apply(model, params, state, a, True)
    out_b, _ = _apply(model, params, state, b, True)
    np.testing.assert_array_equal(out_a, out_b)


class TiedDropoutTest(parameterized.TestCase):

  def _dropped_channels(self, tied, rate=0.25, shape=(8, 6, 256)):
    """Per-(example, feature) fractions of time steps that were dropped."""
    x = np.abs(np.random.default_rng(5).standard_normal(shape)) + 0.1
    out = hk.transform(lambda x: backbone.GatedOutput(
        "gelu", rate, dropout_tied=tied)(x, is_training=True))
    y = np.asarray(jax.jit(out.apply)({}, jax.random.PRNGKey(7),
                                      jnp.asarray(x, jnp.float32)))
    g = np.asarray(jax.nn.gelu(jnp.asarray(x, jnp.float32)))
    kept = y != 0
    # Kept values are scaled by 1 / (1 - rate).
    np.testing.assert_allclose(y[kept], g[kept] / (1 - rate), rtol=1e-6)
    return 1.0 - kept.mean(axis=1)  # (B, D)

  def test_tied_drops_whole_channels_across_time(self):
    dropped = self._dropped_channels(tied=True)
    # Every (example, feature) channel is dropped at all steps or at none,
    self.assertTrue(np.all((dropped == 0) | (dropped == 1)))
    # at the rate asked (2048 channels: the std of the fraction is ~0.01).
    self.assertAlmostEqual(dropped.mean(), 0.25, delta=0.04)

  def test_untied_default_drops_elements(self):
    dropped = self._dropped_channels(tied=False)
    self.assertGreater(np.mean((dropped > 0) & (dropped < 1)), 0.5)
    self.assertAlmostEqual(dropped.mean(), 0.25, delta=0.02)

  def test_backbone_passes_it_to_both_sites(self):
    # half_glu1: dropout after the GELU and after the gate. A tied mask at
    # both sites still zeroes whole channels of the block's update.
    model = _dense_backbone(width=64, glu="half_glu1", norm="none",
                            dropout=0.5, dropout_tied=True)
    x = np.random.default_rng(6).standard_normal((4, 7, 64)).astype(
        np.float32)
    mask = np.ones((4, 7), np.float32)
    params, state = model.init(jax.random.PRNGKey(0), x, mask, True)
    y, _ = jax.jit(model.apply, static_argnums=5)(
        params, state, jax.random.PRNGKey(1), x, mask, True)
    update = np.asarray(y) - x
    zero = np.all(update == 0, axis=1)  # (B, D): a whole channel is zero.
    some = np.any(update == 0, axis=1)
    np.testing.assert_array_equal(zero, some)
    self.assertGreater(zero.mean(), 0.5)  # Two sites at 0.5: ~75%.

  def test_bad_flag(self):
    with self.assertRaisesRegex(TypeError, "dropout_tied must be a bool"):
      hk.transform(lambda: backbone.GatedOutput(
          "gelu", 0.1, dropout_tied="yes")).init(None)


class BatchNormMomentumTest(parameterized.TestCase):

  @parameterized.parameters(None, 0.95, 0.0)
  def test_running_statistics_follow_the_flax_convention(self, momentum):
    # Given a pre-norm batch-norm block over ragged inputs.
    kwargs = {} if momentum is None else dict(bn_momentum=momentum)
    model = _dense_backbone(norm="batch", **kwargs)
    x, mask = _ragged(np.random.default_rng(8))
    params, state = model.init(jax.random.PRNGKey(0), x, mask, True)
    # When one training step runs.
    _, new = jax.jit(model.apply, static_argnums=5)(
        params, state, None, x, mask, True)
    # Then running = m running + (1 - m) batch, the batch statistics over
    # the valid positions (float64), running starting at (0, 1), m = 0.9
    # by default.
    m = 0.9 if momentum is None else momentum
    valid = x[mask > 0].astype(np.float64)
    stats = new["sequence_backbone/block_0/norm"]
    np.testing.assert_allclose(stats["mean_ema"], (1 - m) * valid.mean(0),
                               **tol.F32_VS_F64)
    np.testing.assert_allclose(stats["var_ema"],
                               m + (1 - m) * valid.var(0), **tol.F32_VS_F64)

  @parameterized.parameters(1.0, -0.1, "0.9")
  def test_bad_momentum(self, momentum):
    with self.assertRaisesRegex(ValueError, "bn_momentum must be a number in"):
      _dense_backbone(norm="batch", bn_momentum=momentum).init(
          jax.random.PRNGKey(0), *_ragged(np.random.default_rng(0)), True)


class DiscardPostnormTest(parameterized.TestCase):

  @parameterized.parameters("layer", "batch")
  def test_output_is_the_unnormalised_residual(self, norm):
    # Given a post-norm backbone whose norm result is discarded, and one
    # without any norm, sharing every other parameter.
    x, mask = _ragged(np.random.default_rng(9))
    discard = _dense_backbone(num_layers=2, norm=norm, prenorm=False,
                              discard_postnorm=True)
    plain = _dense_backbone(num_layers=2, norm="none", prenorm=False)
    params, state = discard.init(jax.random.PRNGKey(0), x, mask, True)
    shared = {k: v for k, v in params.items() if not k.endswith("/norm")}
    # The parameter tree is the post-norm backbone's (checkpoints match).
    normal = _dense_backbone(num_layers=2, norm=norm, prenorm=False)
    self.assertEqual(
        jax.tree.structure(params),
        jax.tree.structure(normal.init(jax.random.PRNGKey(0), x, mask,
                                       True)[0]))
    for is_training in (True, False):
      got, new_state = jax.jit(discard.apply, static_argnums=5)(
          params, state, None, x, mask, is_training)
      want, _ = jax.jit(plain.apply, static_argnums=5)(
          shared, {}, None, x, mask, is_training)
      # Then the output equals the norm-free backbone's,
      np.testing.assert_array_equal(got, want)
      # while batch-norm statistics still move in training (ss4d.py).
      if norm == "batch":
        key = "sequence_backbone/block_0/norm"
        moved = not np.allclose(new_state[key]["mean_ema"],
                                state[key]["mean_ema"])
        self.assertEqual(moved, is_training)

  def test_no_effect_with_prenorm(self):
    x, mask = _ragged(np.random.default_rng(10))
    a = _dense_backbone(num_layers=2, norm="layer", prenorm=True)
    b = _dense_backbone(num_layers=2, norm="layer", prenorm=True,
                        discard_postnorm=True)
    params, state = a.init(jax.random.PRNGKey(0), x, mask, False)
    np.testing.assert_array_equal(
        a.apply(params, state, None, x, mask, False)[0],
        b.apply(params, state, None, x, mask, False)[0])

  def test_bad_flag(self):
    with self.assertRaisesRegex(TypeError, "discard_postnorm must be a bool"):
      _dense_backbone(prenorm=False, discard_postnorm=1).init(
          jax.random.PRNGKey(0), *_ragged(np.random.default_rng(0)), True)


if __name__ == "__main__":
  absltest.main()
