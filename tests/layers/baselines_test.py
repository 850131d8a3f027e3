"""Tests for spike_ssm.layers.baselines and the backbone's positions / masks."""

import functools
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import layers
from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.models import backbone
from spike_ssm.ops import attention
from spike_ssm.training import optim
from spike_ssm.training import precision
from tests import tolerances as tol

# ----------------------------------------------------------------------------
# float64 NumPy references, written from the papers' equations.
# ----------------------------------------------------------------------------


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _layer_norm(x, p, eps=1e-5):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean)**2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * p["scale"] + p["offset"]


def _gelu(x):
  # The tanh form (Hendrycks & Gimpel 2016), jax.nn.gelu's default.
  return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def reference_attention(p, x, mask, *, heads, causal):
  """Softmax self-attention in float64. x (B, T, D), mask (B, T)."""
  b, t, _ = x.shape
  q, k, v = (x @ p[n] for n in ("w_q", "w_k", "w_v"))
  e = q.shape[-1]
  dh = e // heads
  q, k, v = (a.reshape(b, t, heads, dh) for a in (q, k, v))
  out = np.zeros((b, t, heads, dh))
  for bi in range(b):
    for h in range(heads):
      logits = q[bi, :, h] @ k[bi, :, h].T / np.sqrt(dh)  # (T, T)
      allowed = np.broadcast_to(mask[bi][None, :] > 0, (t, t))
      if causal:
        allowed = allowed & np.tril(np.ones((t, t), bool))
      logits = np.where(allowed, logits, -np.inf)
      w = np.exp(logits - logits.max(-1, keepdims=True))
      w /= w.sum(-1, keepdims=True)
      out[bi, :, h] = w @ v[bi, :, h]
  return out.reshape(b, t, e) @ p["w_o"]


def reference_transformer(params, x, mask, *, heads, causal, ffn):
  """The TransformerLayer in float64 (attention only, or a pre-LN block)."""
  p = {k: np.asarray(v, np.float64)
       for k, v in params["transformer_layer"].items()}
  x = np.asarray(x, np.float64)
  mask = np.asarray(mask)
  if not ffn:
    return reference_attention(p, x, mask, heads=heads, causal=causal)
  ln = lambda name, u: _layer_norm(  # pylint: disable=g-long-lambda
      u, {k: np.asarray(v, np.float64)
          for k, v in params[f"transformer_layer/{name}"].items()})
  a = reference_attention(p, ln("attn_norm", x), mask, heads=heads,
                          causal=causal)
  u = ln("ffn_norm", x + a)
  f = _gelu(u @ p["w_1"] + p["b_1"]) @ p["w_2"] + p["b_2"]
  return a + f


def _lstm_step(p, x, h, c):
  gates = np.concatenate([x, h], -1) @ p["w"] + p["b"]
  i, g, f, o = np.split(gates, 4, axis=-1)
  c = _sigmoid(f + 1.0) * c + _sigmoid(i) * np.tanh(g)
  return np.tanh(c) * _sigmoid(o), c


def _gru_step(p, x, h):
  hid = h.shape[-1]
  gx = x @ p["w_i"]
  zr = _sigmoid(gx[:, :2 * hid] + h @ p["w_h"][:, :2 * hid] +
                p["b"][:2 * hid])
  z, r = zr[:, :hid], zr[:, hid:]
  a = np.tanh(gx[:, 2 * hid:] + (r * h) @ p["w_h"][:, 2 * hid:] +
              p["b"][2 * hid:])
  return (1 - z) * h + z * a


def reference_rnn(kind, params, x, mask, *, hidden, bidirectional):
  """LSTM / GRU layer in float64; the state is held where mask == 0."""
  prefix = f"{kind}_layer"
  p64 = {k: {n: np.asarray(v, np.float64) for n, v in leaves.items()}
         for k, leaves in params.items()}
  x = np.asarray(x, np.float64)
  b, t, d = x.shape

  def run(core, order):
    p = p64[f"{prefix}/{core}/linear" if kind == "lstm" else
            f"{prefix}/{core}"]
    h, c = np.zeros((b, hidden)), np.zeros((b, hidden))
    ys = np.zeros((b, t, hidden))
    for s in order:
      if kind == "lstm":
        h2, c2 = _lstm_step(p, x[:, s], h, c)
      else:
        h2 = c2 = _gru_step(p, x[:, s], h)
      ys[:, s] = h2
      keep = (np.asarray(mask)[:, s] > 0)[:, None]
      h, c = np.where(keep, h2, h), np.where(keep, c2, c)
    return ys

  ys = run("fwd", range(t))
  if bidirectional:
    ys = np.concatenate([ys, run("bwd", range(t - 1, -1, -1))], -1)
  if bidirectional or hidden != d:
    proj = p64[f"{prefix}/proj"]
    ys = ys @ proj["w"] + proj["b"]
  return ys


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def _seed(*parts) -> int:
  return zlib.crc32(repr(parts).encode())


def random_input(seed, shape, dtype=jnp.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


def lengths_mask(lengths, length):
  return (np.arange(length)[None, :] < np.asarray(lengths)[:, None]).astype(
      np.float32)


def transformed(cls, *args, time_major=False, with_mask=True, **kwargs):
  def forward(x, mask, is_training=False):
    layer = cls(*args, **kwargs)
    extra = {"mask": mask} if with_mask else {}
    if getattr(layer, "accepts_is_training", False):
      extra["is_training"] = is_training
    return layer(x, time_major=time_major, **extra)
  return hk.transform(forward)


def construct(cls, *args, **kwargs) -> None:
  """Constructs a module inside a transform (where Haiku allows it)."""
  hk.transform(lambda: cls(*args, **kwargs)).init(jax.random.PRNGKey(0))


def perturbed_params(fn, seed, *args):
  """Initialised parameters plus noise, so norms and biases are not 1/0."""
  params = jax.jit(fn.init)(jax.random.PRNGKey(seed), *args)
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda p: p + jnp.asarray(0.2 * rng.normal(size=p.shape), p.dtype),
      params)


# ----------------------------------------------------------------------------
# Attention.
# ----------------------------------------------------------------------------


class TransformerLayerTest(parameterized.TestCase):

  @parameterized.parameters((False, None, None, False),
                            (True, None, 12, False), (False, 2, 12, False),
                            (True, 2, None, True))
  def test_matches_float64_reference(self, causal, ffn, qkv_dim, time_major):
    # Given random inputs with padding in two of three rows.
    b, t, d, heads = 3, 9, 8, 2
    seed = _seed(causal, ffn, qkv_dim)
    x = random_input(seed, (b, t, d))
    mask = lengths_mask([9, 5, 1], t)
    fn = transformed(layers.TransformerLayer, heads, causal=causal,
                     ffn_multiplier=ffn, qkv_dim=qkv_dim,
                     time_major=time_major)
    x_in = x.swapaxes(0, 1) if time_major else x
    params = perturbed_params(fn, seed, x_in, mask)
    # When the layer runs (jitted), batch- or time-major.
    y = jax.jit(fn.apply)(params, None, x_in, mask)
    y = y.swapaxes(0, 1) if time_major else y
    # Then it equals the float64 reference at every position.
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(
        y, reference_transformer(params, x, mask, heads=heads, causal=causal,
                                 ffn=ffn), **tol.F32_VS_F64)

  def test_causal_future_does_not_change_past(self):
    # Given an input and a copy changed from step 6 on.
    x = random_input(1, (2, 10, 8))
    x2 = x.at[:, 6:].add(random_input(21, (2, 4, 8)))
    mask = np.ones((2, 10), np.float32)
    fn = transformed(layers.TransformerLayer, 2, causal=True,
                     ffn_multiplier=4)
    params = perturbed_params(fn, 1, x, mask)
    apply = jax.jit(fn.apply)
    # When the causal layer runs on both.
    y, y2 = apply(params, None, x, mask), apply(params, None, x2, mask)
    # Then the outputs before step 6 are identical and later ones moved.
    np.testing.assert_array_equal(y[:, :6], y2[:, :6])
    moved = jnp.abs(y[:, 6:] - y2[:, 6:]).max(-1)  # [B, 4]
    self.assertGreater(float(moved.min()), 1e-3)

  def test_non_causal_sees_the_future(self):
    # The control for the causal test: without the mask the past moves too.
    x = random_input(2, (2, 10, 8))
    x2 = x.at[:, 6:].add(random_input(22, (2, 4, 8)))
    mask = np.ones((2, 10), np.float32)
    fn = transformed(layers.TransformerLayer, 2)
    params = perturbed_params(fn, 2, x, mask)
    apply = jax.jit(fn.apply)
    y, y2 = apply(params, None, x, mask), apply(params, None, x2, mask)
    moved = jnp.abs(y[:, :6] - y2[:, :6]).max(-1)  # [B, 6]
    self.assertGreater(float(moved.min()), 1e-3)

  def test_masked_keys_are_ignored(self):
    # Given padding (rows of length 7 and 3) holding two kinds of garbage.
    mask = lengths_mask([7, 3], 10)
    x = random_input(3, (2, 10, 8)) * mask[..., None]
    x2 = x + random_input(4, (2, 10, 8)) * (1 - mask[..., None])
    fn = transformed(layers.TransformerLayer, 2, ffn_multiplier=2)
    params = perturbed_params(fn, 3, x, mask)
    apply = jax.jit(fn.apply)
    # When the layer runs on both with the mask, and without it.
    y, y2 = apply(params, None, x, mask), apply(params, None, x2, mask)
    ones = np.ones_like(mask)
    z, z2 = apply(params, None, x, ones), apply(params, None, x2, ones)
    # Then with the mask the real positions agree; without it they do not.
    valid = mask > 0
    np.testing.assert_allclose(np.asarray(y)[valid], np.asarray(y2)[valid],
                               **tol.F32_VS_F64)
    self.assertGreater(
        float(np.abs(np.asarray(z)[valid] - np.asarray(z2)[valid]).max()),
        1e-3)

  def test_dropout_only_when_training(self):
    # Given a layer with both dropouts.
    x = random_input(6, (2, 6, 8))
    mask = np.ones((2, 6), np.float32)
    fn = transformed(layers.TransformerLayer, 2, dropout=0.3,
                     attention_dropout=0.3)
    params = perturbed_params(fn, 6, x, mask)
    # When it runs in evaluation mode, then it is the dropout-free layer;
    y = jax.jit(fn.apply)(params, None, x, mask)
    np.testing.assert_allclose(
        y, reference_transformer(params, x, mask, heads=2, causal=False,
                                 ffn=None), **tol.F32_VS_F64)
    # in training mode it depends on the key.
    train = jax.jit(functools.partial(fn.apply, is_training=True))
    a = train(params, jax.random.PRNGKey(0), x, mask)
    b = train(params, jax.random.PRNGKey(1), x, mask)
    self.assertGreater(float(jnp.abs(a - b).max()), 1e-3)


class TransformerBadInputTest(parameterized.TestCase):

  @parameterized.parameters(
      (dict(num_heads=0), ValueError, "num_heads"),
      (dict(num_heads=3, qkv_dim=8), ValueError, "num_heads.*qkv_dim"),
      (dict(qkv_dim=0), ValueError, "qkv_dim"),
      (dict(ffn_multiplier=0), ValueError, "ffn_multiplier"),
      (dict(dropout=1.0), ValueError, "dropout"),
      (dict(attention_dropout=-0.1), ValueError, "attention_dropout"),
      (dict(causal="yes"), TypeError, "causal"),
  )
  def test_bad_constructor_arguments(self, kwargs, error, regex):
    with self.assertRaisesRegex(error, regex):
      construct(layers.TransformerLayer, **kwargs)

  def test_num_heads_not_dividing_the_width(self):
    fn = transformed(layers.TransformerLayer, 3)
    with self.assertRaisesRegex(ValueError, r"num_heads`=3 must divide.*= 8"):
      fn.init(jax.random.PRNGKey(0), jnp.zeros((2, 5, 8)), jnp.ones((2, 5)))

  @parameterized.parameters(
      (jnp.zeros((5, 8)), jnp.ones((1, 5)), ValueError, "rank 3"),
      (jnp.zeros((2, 5, 8), jnp.int32), jnp.ones((2, 5)), TypeError,
       "floating"),
      (jnp.zeros((2, 5, 8)), jnp.ones((2, 4)), ValueError, r"mask.*\(2, 5\)"),
  )
  def test_bad_call_arguments(self, x, mask, error, regex):
    fn = transformed(layers.TransformerLayer, 2)
    with self.assertRaisesRegex(error, regex):
      fn.init(jax.random.PRNGKey(0), x, mask)


# ----------------------------------------------------------------------------
# LSTM / GRU.
# ----------------------------------------------------------------------------

RNNS = {"lstm": layers.LSTMLayer, "gru": layers.GRULayer}


class RecurrentLayerTest(parameterized.TestCase):

  @parameterized.product(kind=("lstm", "gru"),
                         case=((False, None, False), (False, 6, False),
                               (True, 6, True)))
  def test_matches_float64_reference(self, kind, case):
    bidirectional, hidden, time_major = case
    # Given padded inputs (rows of length 11, 6 and 2).
    b, t, d = 3, 11, 4
    seed = _seed(kind, bidirectional, hidden)
    x = random_input(seed, (b, t, d))
    mask = lengths_mask([11, 6, 2], t)
    fn = transformed(RNNS[kind], hidden, bidirectional=bidirectional,
                     time_major=time_major)
    x_in = x.swapaxes(0, 1) if time_major else x
    params = perturbed_params(fn, seed, x_in, mask)
    # When the layer runs (jitted) with the mask, batch- or time-major.
    y = jax.jit(fn.apply)(params, None, x_in, mask)
    y = y.swapaxes(0, 1) if time_major else y
    # Then it equals the float64 recurrence that holds the state at padding.
    self.assertEqual(y.dtype, jnp.float32)
    want = reference_rnn(kind, params, x, mask, hidden=hidden or d,
                         bidirectional=bidirectional)
    np.testing.assert_allclose(y, want, **tol.F32_VS_F64)

  def test_backward_pass_needs_the_mask(self):
    kind = "lstm"
    # Given a bidirectional layer on a padded row, with and without the mask.
    x = random_input(9, (1, 8, 4)) * lengths_mask([5], 8)[..., None]
    mask = lengths_mask([5], 8)
    with_mask = transformed(RNNS[kind], bidirectional=True)
    without = transformed(RNNS[kind], bidirectional=True, with_mask=False)
    params = perturbed_params(with_mask, 9, x, mask)
    y = jax.jit(with_mask.apply)(params, None, x, mask)
    z = jax.jit(without.apply)(params, None, x, mask)
    # Then without it the zero padding reaches the real positions (the core
    # moves on zero inputs), with it the backward core starts at t = 4.
    self.assertGreater(float(jnp.abs(y[:, :5] - z[:, :5]).max()), 1e-4)
    want = reference_rnn(kind, params, x[:, :5], mask[:, :5], hidden=4,
                         bidirectional=True)
    np.testing.assert_allclose(y[:, :5], want, **tol.F32_VS_F64)

  @parameterized.parameters("lstm", "gru")
  def test_step_state_types(self, kind):
    def forward(x_t):
      core = RNNS[kind](5)
      return core.step(x_t, core.initial_state(2))
    fn = hk.transform(forward)
    (y, state) = jax.eval_shape(
        lambda k, x: fn.apply(fn.init(k, x), None, x),
        jax.random.PRNGKey(0), jnp.zeros((2, 3)))
    self.assertEqual(y.shape, (2, 3))
    want = layers.LSTMLayerState if kind == "lstm" else layers.GRULayerState
    self.assertIsInstance(state, want)
    for leaf in state:
      self.assertEqual((leaf.shape, leaf.dtype), ((2, 5), jnp.float32))


class RecurrentBadInputTest(parameterized.TestCase):

  @parameterized.parameters("lstm", "gru")
  def test_bad_constructor_arguments(self, kind):
    with self.assertRaisesRegex(ValueError, "hidden_size"):
      construct(RNNS[kind], 0)
    with self.assertRaisesRegex(TypeError, "bidirectional"):
      construct(RNNS[kind], 4, bidirectional=1)

  def test_bidirectional_layer_cannot_step(self):
    def forward(x_t):
      core = layers.LSTMLayer(4, bidirectional=True)
      return core.step(x_t, core.initial_state(2))
    with self.assertRaisesRegex(ValueError, "bidirectional.*cannot stream"):
      hk.transform(forward).init(jax.random.PRNGKey(0), jnp.zeros((2, 3)))

  def test_initial_state_needs_a_width_without_hidden_size(self):
    def forward():
      return layers.GRULayer().initial_state(2)
    with self.assertRaisesRegex(ValueError, "width"):
      hk.transform(forward).init(jax.random.PRNGKey(0))

  def test_state_of_the_wrong_shape(self):
    def forward(x_t):
      core = layers.GRULayer(4)
      return core.step(x_t, core.initial_state(3))
    with self.assertRaisesRegex(ValueError, r"\(B, H\)=\(2, 4\).*\(3, 4\)"):
      hk.transform(forward).init(jax.random.PRNGKey(0), jnp.zeros((2, 3)))

  @parameterized.parameters(
      (jnp.zeros((5, 4)), ValueError, "rank 3"),
      (jnp.zeros((2, 5, 4), jnp.int32), TypeError, "floating"),
  )
  def test_bad_call_arguments(self, x, error, regex):
    fn = transformed(layers.LSTMLayer, with_mask=False)
    with self.assertRaisesRegex(error, regex):
      fn.init(jax.random.PRNGKey(0), x, None)


# ----------------------------------------------------------------------------
# Positions.
# ----------------------------------------------------------------------------


def reference_sinusoid(length, width):
  table = np.zeros((length, width))
  for pos in range(length):
    for j in range(width):
      angle = pos / 10_000.0**(2 * (j // 2) / width)
      table[pos, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
  return table


def positions_fn(kind, max_len=None):
  return hk.transform(
      lambda x: backbone.PositionalEncoding(kind, max_len, name="pos")(x))


class PositionsTest(parameterized.TestCase):

  @parameterized.parameters((50, 16), (7, 5), (1, 1))
  def test_sinusoidal_table_matches_formula(self, length, width):
    table = attention.sinusoidal_positions(length, width)
    self.assertEqual(table.shape, (length, width))
    np.testing.assert_allclose(table, reference_sinusoid(length, width),
                               **tol.F32_VS_F64)

  def test_sinusoidal_encoding_adds_the_table(self):
    x = random_input(12, (2, 9, 6))
    fn = positions_fn("sinusoidal")
    params = fn.init(jax.random.PRNGKey(0), x)
    self.assertEqual(params, {})
    y = fn.apply(params, None, x)
    np.testing.assert_allclose(y, np.asarray(x) + reference_sinusoid(9, 6),
                               **tol.F32_VS_F64)

  def test_learned_table_shape_and_use(self):
    # Given a learned table for up to 12 positions.
    fn = positions_fn("learned", max_len=12)
    x = random_input(13, (2, 9, 6))
    params = fn.init(jax.random.PRNGKey(0), x)
    # Then it holds (max_len, D) values, and T = 9 uses the first 9 rows.
    table = params["pos"]["pos_embed"]
    self.assertEqual(table.shape, (12, 6))
    np.testing.assert_allclose(fn.apply(params, None, x),
                               np.asarray(x) + np.asarray(table)[None, :9],
                               **tol.F32_VS_F64)

  def test_learned_table_too_short(self):
    fn = positions_fn("learned", max_len=8)
    with self.assertRaisesRegex(ValueError, "T=9.*max_len=8"):
      fn.init(jax.random.PRNGKey(0), jnp.zeros((2, 9, 6)))

  @parameterized.parameters(("learned", None, "max_len"),
                            ("rotary", None, "positions must be one of"))
  def test_bad_position_arguments(self, kind, max_len, regex):
    with self.assertRaisesRegex(ValueError, regex):
      positions_fn(kind, max_len).init(jax.random.PRNGKey(0),
                                       jnp.zeros((2, 4, 6)))

  def test_sequence_model_rejects_unknown_positions(self):
    with self.assertRaisesRegex(ValueError, "positions must be one of"):
      _model("gru", {}, positions="alibi").init(
          jax.random.PRNGKey(0), _token_batch(np.random.default_rng(0)),
          is_training=False)


# ----------------------------------------------------------------------------
# Through the backbone.
# ----------------------------------------------------------------------------


def _model(layer, layer_kwargs, positions="none", norm="layer", glu="gelu",
           dual=False):
  def forward(batch, is_training):
    return backbone.SequenceModel(
        num_classes=5, input_kind="tokens", vocab_size=12,
        pooling="masked_mean", positions=positions, max_len=32, dual=dual,
        backbone=dict(layer=zoo.layer_factory(layer, **layer_kwargs),
                      num_layers=1, width=8, norm=norm, glu=glu))(
                          batch, is_training=is_training)
  return hk.transform_with_state(forward)


def _token_batch(rng, t=14, lengths=(14, 9, 4)):
  x = rng.integers(1, 12, size=(len(lengths), t)).astype(np.int32)
  lengths = np.asarray(lengths, np.int32)
  for i, n in enumerate(lengths):
    x[i, n:] = 0
  return {"inputs": x, "lengths": lengths,
          "targets": np.zeros((len(lengths),), np.int32)}


class BackboneTest(parameterized.TestCase):

  @parameterized.parameters(
      ("transformer", dict(num_heads=2), "sinusoidal", "layer", "gelu"),
      ("transformer", dict(num_heads=2, ffn_multiplier=2, causal=True),
       "learned", "none", "none"),
      ("gru", dict(hidden_size=6, bidirectional=True), "none", "layer",
       "gelu"),
  )
  def test_padded_positions_change_nothing(self, layer, layer_kwargs,
                                           positions, norm, glu):
    # Given a batch, and the same batch with other garbage and more padding.
    model = _model(layer, layer_kwargs, positions, norm, glu)
    rng = np.random.default_rng(0)
    a = _token_batch(rng)
    b = dict(a, inputs=np.concatenate(
        [a["inputs"], np.zeros((3, 9), np.int32)], axis=1))
    for i, n in enumerate(b["lengths"]):
      b["inputs"][i, n:] = rng.integers(1, 12, size=b["inputs"].shape[1] - n)
    params, state = jax.jit(functools.partial(model.init, is_training=False))(
        jax.random.PRNGKey(0), a)
    apply = jax.jit(model.apply, static_argnames="is_training")
    # When both go through the model.
    out_a, _ = apply(params, state, None, a, is_training=False)
    out_b, _ = apply(params, state, None, b, is_training=False)
    # Then the logits are the same.
    np.testing.assert_allclose(out_a, out_b, **tol.F32_SCAN_SHORT)

  def test_dual_encoder_shares_one_position_table(self):
    batch = _token_batch(np.random.default_rng(1))
    batch.update(inputs2=batch["inputs"][::-1].copy(),
                 lengths2=batch["lengths"][::-1].copy())
    model = _model("transformer", dict(num_heads=2), "learned", dual=True)
    params, _ = jax.eval_shape(
        functools.partial(model.init, is_training=False),
        jax.random.PRNGKey(0), batch)
    self.assertEqual([k for k in params if "positions" in k],
                     ["sequence_model/positions"])

  @parameterized.parameters("transformer", "lstm", "gru")
  def test_in_the_zoo_as_non_ssm_layers(self, name):
    # Given the zoo's class and a model built from it.
    cls = zoo.layer_class(name)
    self.assertFalse(issubclass(cls, ssm.SequenceLayer))
    self.assertEqual(hasattr(cls, "step"), name != "transformer")
    self.assertNotIn(cls, precision.ssm_core_classes())
    kwargs = dict(num_heads=2, ffn_multiplier=2) if name == "transformer" else (
        dict(hidden_size=6, bidirectional=True))
    (params, _), owners = optim.param_owners(
        _model(name, kwargs, "learned").init, jax.random.PRNGKey(0),
        _token_batch(np.random.default_rng(3)), is_training=True)
    # Then no parameter lands in the optimiser's SSM group.
    labels = jax.tree.leaves(optim.label_params(params, owners))
    self.assertNotIn("ssm", labels)
    self.assertIn("default", labels)


if __name__ == "__main__":
  absltest.main()
