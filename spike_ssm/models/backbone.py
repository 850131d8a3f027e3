"""Sequence backbone, pooling and task heads.

    inputs (B, T) ids or (B, T, C) features
      -> encoder: embedding (or one-hot x dense) or linear to width D
      -> positions (optional): + sinusoidal or learned table  (Transformer)
      -> N blocks:  x <- x + GLU(neuron(layer(norm(x))))   (prenorm)
                    x <- norm(x + GLU(neuron(layer(x))))   (postnorm)
         padded positions are zeroed after every block
      -> pooling (mean / masked_mean / last) -> head

Every block's sequence layer comes from a layer factory (a callable of no
arguments returning a module `(B, T, D) -> (B, T, D)`; `spike_ssm.zoo.
layer_factory(name, **options)` builds one from a config's names), and the
optional spiking stage from a neuron factory (`width -> SpikingCore`;
`spike_ssm.zoo.neuron_factory`). Padded positions (t >= length) are zeroed
before and after every block and excluded from batch-norm statistics and
from masked pooling, so for causal layers and for bidirectional layers alike
the padding changes nothing. Layers whose class sets `accepts_mask = True`
also get the `(B, T)` mask (attention uses it to ignore padded keys, a
backward RNN to start at the last real token), and those with
`accepts_is_training = True` get `is_training` for their own dropout.

Recipe options (each default keeps the behaviour above; each setting
reproduces a released training code, see configs/tables/README.md):

  token_encoder="onehot_dense"  token ids become a one-hot code of width
      `onehot_dim` (default vocab_size; S5 uses 20 for ListOps) through a
      dense layer with LeCun-normal weights (truncated normal, standard
      deviation 1/sqrt(onehot_dim)) and a zero bias: S5's encoder
      (`s5/train_helpers.py:310-311`, `s5/seq_model.py:39`). The default
      "embed" is `hk.Embed` (standard deviation 1, no bias).
  pooling="masked_mean"  the mean over valid positions only.
  dropout_tied=True  one dropout mask per (example, feature), shared by
      every time step (S5's `broadcast_dims=[0]`, S4's `DropoutNd`).
  bn_momentum  the batch norm's running-average momentum in the Flax
      convention, `running <- m running + (1 - m) batch` (PyTorch's
      momentum 0.1 is 0.9 here; S5 uses 0.95 on most LRA tasks).
  discard_postnorm=True  with `prenorm=False`, the norm is computed on the
      block's output and its result thrown away (batch-norm statistics
      still update), as SpikingSSM's released `ss4d.py:212-214` does; no
      effect with `prenorm=True`.

Quantisation (`quantize` = "none" | "int8" | "ternary", config key
`model.quantize`): the position-wise projections inside the model, i.e. the
GLU projections of every block (`glu/out1`, `glu/out2`) and the dual-encoder
MLP (`dual_mlp`), become `layers.QuantLinear` (fake-quantised weights,
straight-through gradients; `spike_ssm.layers.quant`). The input encoder /
embedding and the output head stay float, as BitNet keeps its embedding and
output layers in high precision: they are a small share of the weights and
the most sensitive to rounding. The sequence layers themselves (SSM
eigenvalues, steps, B, C, D) are never quantised. Parameter names and shapes
do not change with `quantize`.
"""

from collections.abc import Callable, Mapping
import numbers
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm import neurons
from spike_ssm.layers import quant as quant_layers
from spike_ssm.ops import attention
from spike_ssm.ops import fusion

NORMS = ("layer", "batch", "none")
GLUS = ("none", "gelu", "full_glu", "half_glu1", "half_glu2")
POOLINGS = ("mean", "masked_mean", "last", "none")
POSITIONS = ("none", "sinusoidal", "learned")
TOKEN_ENCODERS = ("embed", "onehot_dense")


def length_mask(lengths: jax.Array | None, seq_len: int,
                batch: int) -> jax.Array:
  """`(B, T)` float mask, 1 where `t < lengths[b]` (all ones if None)."""
  if lengths is None:
    return jnp.ones((batch, seq_len), jnp.float32)
  return (jnp.arange(seq_len)[None, :] < lengths[:, None]).astype(jnp.float32)


class SequenceBatchNorm(hk.Module):
  """Batch norm over (B, T) for (B, T, D) inputs, ignoring padded positions.

  Statistics are means over the valid positions only; running averages (for
  evaluation) live in Haiku state as `mean_ema` / `var_ema`.
  """

  def __init__(self, decay: float = 0.9, eps: float = 1e-5,
               name: str | None = None):
    super().__init__(name=name)
    self.decay = decay
    self.eps = eps

  def __call__(self, x: jax.Array, mask: jax.Array,
               is_training: bool) -> jax.Array:
    d = x.shape[-1]
    scale = hk.get_parameter("scale", (d,), jnp.float32, jnp.ones)
    offset = hk.get_parameter("offset", (d,), jnp.float32, jnp.zeros)
    mean_ema = hk.get_state("mean_ema", (d,), jnp.float32, jnp.zeros)
    var_ema = hk.get_state("var_ema", (d,), jnp.float32, jnp.ones)
    if is_training:
      xf = x.astype(jnp.float32)
      w = mask[..., None]
      count = jnp.maximum(w.sum(), 1.0)
      mean = (xf * w).sum((0, 1)) / count
      var = (jnp.square(xf - mean) * w).sum((0, 1)) / count
      if not hk.running_init():
        hk.set_state("mean_ema", self.decay * mean_ema + (1 - self.decay) * mean)
        hk.set_state("var_ema", self.decay * var_ema + (1 - self.decay) * var)
    else:
      mean, var = mean_ema, var_ema
    inv = jax.lax.rsqrt(var + self.eps) * scale
    return ((x - mean.astype(x.dtype)) * inv.astype(x.dtype) +
            offset.astype(x.dtype))


def _norm(kind: str, name: str, bn_momentum: float = 0.9):
  if kind == "layer":
    ln = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True,
                      name=name)
    return lambda x, mask, is_training: ln(x)
  if kind == "batch":
    bn = SequenceBatchNorm(decay=bn_momentum, name=name)
    return bn
  return lambda x, mask, is_training: x


def _dropout(x, rate, is_training, tied: bool = False):
  """Dropout of `(B, T, D)` x; `tied`: one mask per (example, feature)."""
  if not (is_training and rate > 0):
    return x
  if not tied:
    return hk.dropout(hk.next_rng_key(), rate, x)
  # The mask broadcasts over time (axis -2): whole channels are dropped.
  shape = x.shape[:-2] + (1,) + x.shape[-1:]
  keep = jax.random.bernoulli(hk.next_rng_key(), 1.0 - rate, shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))


def _check_rate(name: str, value) -> float:
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0.0 <= value < 1.0):
    raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
  return float(value)


def _check_flag(name: str, value) -> bool:
  if not isinstance(value, bool):
    raise TypeError(f"{name} must be a bool, got {value!r}.")
  return value


class GatedOutput(hk.Module):
  """The position-wise output stage of an S5 block (Smith et al. 2023).

  none      y = x
  gelu      y = gelu(x)
  full_glu  y = W1 gelu(x) * sigmoid(W2 gelu(x))
  half_glu1 y = gelu(x) * sigmoid(W gelu(x))
  half_glu2 y = x * sigmoid(W gelu(x))
  Dropout follows the activation and the gate; with `dropout_tied` each
  site draws one mask per (example, feature), shared over time. With
  `quantize` "int8" or "ternary" the projections W, W1, W2 are
  `QuantLinear`s.
  """

  def __init__(self, kind: str, dropout: float, *, quantize: str = "none",
               dropout_tied: bool = False, name: str | None = None):
    super().__init__(name=name)
    if kind not in GLUS:
      raise ValueError(f"glu must be one of {GLUS}, got {kind!r}.")
    self.kind = kind
    self.dropout = dropout
    self.dropout_tied = _check_flag("dropout_tied", dropout_tied)
    self.quantize = quant_layers.check_quantize(quantize)

  def __call__(self, x: jax.Array, is_training: bool) -> jax.Array:
    if self.kind == "none":
      return x
    d = x.shape[-1]
    g = _dropout(jax.nn.gelu(x), self.dropout, is_training,
                 self.dropout_tied)
    if self.kind == "gelu":
      return g
    linear = lambda name: quant_layers.linear(d, quantize=self.quantize,
                                              name=name)
    if self.kind == "full_glu":
      y = linear("out1")(g) * jax.nn.sigmoid(linear("out2")(g))
    elif self.kind == "half_glu1":
      y = g * jax.nn.sigmoid(linear("out2")(g))
    else:
      y = x * jax.nn.sigmoid(linear("out2")(g))
    return _dropout(y, self.dropout, is_training, self.dropout_tied)


LayerFactory = Callable[[], hk.Module]
NeuronFactory = Callable[[int], neurons.SpikingCore]


class SpikingStage(hk.Module):
  """A spiking neuron applied position-wise over time after a layer.

  The neuron runs its whole-sequence `parallel` form when it has one (the
  reset-free neurons), else it is stepped with `neurons.run`.
  """

  def __init__(self, neuron: NeuronFactory, width: int,
               name: str | None = None):
    super().__init__(name=name)
    self.neuron = neuron
    self.width = width

  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    core = self.neuron(self.width)
    parallel = getattr(core, "parallel", None)
    spikes, _ = parallel(x) if parallel is not None else neurons.run(core, x)
    neurons.record_spike_rate(spikes, mask)
    return spikes


def _check_factory(what: str, factory, example: str) -> None:
  if not callable(factory) or isinstance(factory, hk.Module):
    raise TypeError(
        f"SequenceBackbone: `{what}` must be a factory ({example}), got "
        f"{type(factory).__name__} {factory!r}.")


class SequenceBackbone(hk.Module):
  """N residual blocks around a sequence layer, `(B, T, D) -> (B, T, D)`.

  Each block is `x + GLU(neuron(layer(norm(x))))` (prenorm) or
  `norm(x + GLU(neuron(layer(x))))` (postnorm; `x + GLU(...)` with
  `discard_postnorm`), with padded positions zeroed before the layer and
  after the residual. `dropout_tied`, `bn_momentum`: module docstring.
  `quantize` ("none", "int8", "ternary") fake-quantises the GLU projections
  (see the module docstring).
  """

  def __init__(self,
               layer: LayerFactory,
               num_layers: int,
               width: int,
               *,
               norm: str = "layer",
               prenorm: bool = True,
               glu: str = "half_glu1",
               dropout: float = 0.0,
               neuron: NeuronFactory | None = None,
               quantize: str = "none",
               dropout_tied: bool = False,
               bn_momentum: float = 0.9,
               discard_postnorm: bool = False,
               name: str | None = None):
    """Constructs the backbone.

    Args:
      layer: factory of one block's sequence layer, called once per block
        (e.g. `spike_ssm.zoo.layer_factory("s5", state_size=64)`).
      num_layers: the number of blocks N.
      width: the model width D.
      norm: "layer", "batch" or "none".
      prenorm: normalise before the layer (else after the residual).
      glu: the output stage, one of `GLUS`.
      dropout: dropout rate of the output stage.
      neuron: None, or a factory `width -> SpikingCore` of the spiking stage
        after the layer (e.g. `spike_ssm.zoo.neuron_factory("lif")`).
      quantize: "none", "int8" or "ternary" (module docstring).
      dropout_tied: one dropout mask per (example, feature), shared over
        time (S5, S4), instead of one per element.
      bn_momentum: running-average momentum of `norm="batch"` in [0, 1),
        Flax convention (module docstring); 0.9 = PyTorch's 0.1.
      discard_postnorm: with `prenorm=False`, compute the norm of the
        block's output and discard it (SpikingSSM's released code; module
        docstring). No effect with `prenorm=True`.
      name: module name.

    Raises:
      ValueError: an unknown norm, GLU or quantize mode, a size < 1, a
        dropout rate or `bn_momentum` outside [0, 1).
      TypeError: a layer or neuron that is not a factory, a non-bool flag.
    """
    super().__init__(name=name)
    _check_factory("layer", layer, "spike_ssm.zoo.layer_factory(name, ...)")
    if neuron is not None:
      _check_factory("neuron", neuron,
                     "spike_ssm.zoo.neuron_factory(kind, ...), or None")
    self.quantize = quant_layers.check_quantize(quantize)
    if norm not in NORMS:
      raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    if glu not in GLUS:
      raise ValueError(f"glu must be one of {GLUS}, got {glu!r}.")
    if num_layers < 1 or width < 1:
      raise ValueError(f"num_layers and width must be >= 1, got {num_layers}, "
                       f"{width}.")
    self.layer = layer
    self.neuron = neuron
    self.num_layers = num_layers
    self.width = width
    self.norm = norm
    self.prenorm = prenorm
    self.glu = glu
    self.dropout = _check_rate("dropout", dropout)
    self.dropout_tied = _check_flag("dropout_tied", dropout_tied)
    self.bn_momentum = _check_rate("bn_momentum", bn_momentum)
    self.discard_postnorm = _check_flag("discard_postnorm", discard_postnorm)
    _check_flag("prenorm", prenorm)

  def __call__(self, x: jax.Array, mask: jax.Array, *,
               is_training: bool) -> jax.Array:
    """x: (B, T, D); mask: (B, T) 1 for valid positions. Returns (B, T, D)."""
    m = mask[..., None].astype(x.dtype)
    x = x * m
    for i in range(self.num_layers):
      with hk.experimental.name_scope(f"block_{i}"):
        # Stored once per block (ops/fusion.py: on the CPU, 3.5-4x faster
        # S5 ListOps steps than letting XLA recompute the residual stream).
        x = fusion.fusion_barrier(x)
        norm = _norm(self.norm, "norm", self.bn_momentum)
        skip = x
        h = norm(x, mask, is_training) * m if self.prenorm else x
        layer = self.layer()
        extra = {}
        if getattr(layer, "accepts_mask", False):
          extra["mask"] = mask
        if getattr(layer, "accepts_is_training", False):
          extra["is_training"] = is_training
        h = layer(h, **extra)
        if self.neuron is not None:
          h = SpikingStage(self.neuron, self.width, name="neuron")(h, mask)
        h = GatedOutput(self.glu, self.dropout, quantize=self.quantize,
                        dropout_tied=self.dropout_tied,
                        name="glu")(h, is_training)
        x = skip + h.astype(skip.dtype)
        if not self.prenorm:
          if self.discard_postnorm:
            # ss4d.py:212-214: `z = norm(z)` of the block's output, never
            # read again; only the batch-norm statistics keep its trace.
            norm(h.astype(skip.dtype) * m, mask, is_training)
          else:
            x = norm(x, mask, is_training)
        x = x * m
    return x


def pool(x: jax.Array, mask: jax.Array, kind: str) -> jax.Array:
  """(B, T, D) -> (B, D) by `kind` in POOLINGS ("none" returns x)."""
  if kind == "none":
    return x
  if kind == "mean":
    return x.mean(axis=1)
  if kind == "masked_mean":
    w = mask[..., None].astype(x.dtype)
    return (x * w).sum(1) / jnp.maximum(w.sum(1), 1).astype(x.dtype)
  if kind == "last":
    last = jnp.maximum(mask.sum(1).astype(jnp.int32) - 1, 0)
    return jnp.take_along_axis(x, last[:, None, None], axis=1)[:, 0]
  raise ValueError(f"pooling must be one of {POOLINGS}, got {kind!r}.")


class PositionalEncoding(hk.Module):
  """Adds a position table to `(B, T, D)` features: `x + P[:T]`.

  sinusoidal  the fixed table of Vaswani et al. (2017), computed for T
              (`spike_ssm.ops.attention.sinusoidal_positions`).
  learned     a trained table `pos_embed` of shape `(max_len, D)`, drawn
              from N(0, 0.02^2) as in BERT and the LRA Transformer.
  none        x unchanged.
  """

  def __init__(self, kind: str, max_len: int | None = None,
               name: str | None = None):
    """Constructs a PositionalEncoding.

    Args:
      kind: one of `POSITIONS`.
      max_len: the most positions a learned table holds (required for
        "learned", ignored otherwise).
      name: module name.

    Raises:
      ValueError: an unknown kind, or a learned table without a positive
        max_len.
    """
    super().__init__(name=name)
    if kind not in POSITIONS:
      raise ValueError(f"positions must be one of {POSITIONS}, got {kind!r}.")
    if kind == "learned" and (not isinstance(max_len, int) or
                              isinstance(max_len, bool) or max_len < 1):
      raise ValueError("positions='learned' needs `max_len`, an int >= 1 "
                       f"(the longest sequence), got {max_len!r}.")
    self.kind = kind
    self.max_len = max_len

  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, T, D) -> x + P[:T], same shape and dtype.

    Raises:
      ValueError: if T exceeds `max_len` for a learned table.
    """
    if self.kind == "none":
      return x
    t, d = x.shape[-2:]
    if self.kind == "sinusoidal":
      return x + attention.sinusoidal_positions(t, d, dtype=x.dtype)
    if t > self.max_len:
      raise ValueError(f"The sequence has T={t} positions, more than the "
                       f"learned position table's max_len={self.max_len}.")
    table = hk.get_parameter("pos_embed", (self.max_len, d), jnp.float32,
                             hk.initializers.RandomNormal(stddev=0.02))
    return x + table[:t].astype(x.dtype)


class OneHotDense(hk.Module):
  """Token ids through a one-hot code and a dense layer, `(B, T) -> (B, T, D)`.

  `y = one_hot(ids, in_dim) @ w + b`, computed as the row lookup `w[ids] + b`
  (the same numbers, exactly). `w` `(in_dim, D)` is LeCun-normal: a normal
  truncated at two standard deviations and rescaled so its standard
  deviation is `1/sqrt(in_dim)` (Flax's `lecun_normal`, the default of the
  `nn.Dense` S5 encodes tokens with); `b` `(D,)` starts at zero. Ids must lie
  in `[0, in_dim)`.
  """

  def __init__(self, width: int, in_dim: int, name: str | None = None):
    """Constructs the encoder.

    Args:
      width: the output width D >= 1.
      in_dim: the one-hot width >= 1 (at least the vocabulary size).
      name: module name.

    Raises:
      ValueError: a size that is not an int >= 1.
    """
    super().__init__(name=name)
    for arg, value in (("width", width), ("in_dim", in_dim)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"OneHotDense: `{arg}` must be an int >= 1, got "
                         f"{value!r}.")
    self.width = width
    self.in_dim = in_dim

  def __call__(self, ids: jax.Array) -> jax.Array:
    """ids: integer `(...)` -> float32 `(..., D)`."""
    ids = jnp.asarray(ids)
    if not jnp.issubdtype(ids.dtype, jnp.integer):
      raise TypeError(f"OneHotDense: `ids` must be integers, got dtype "
                      f"{ids.dtype}.")
    w = hk.get_parameter(
        "w", (self.in_dim, self.width), jnp.float32,
        hk.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal"))
    b = hk.get_parameter("b", (self.width,), jnp.float32, jnp.zeros)
    return jnp.take(w, ids, axis=0) + b


class SequenceModel(hk.Module):
  """Encoder + backbone + pooling + head for every task kind.

  Outputs logits `(B, num_classes)` for class targets, `(B, T, num_classes)`
  for sequence targets, `(B,)` for regression. With `dual=True` (LRA
  retrieval) both documents go through the same encoder/backbone and the head
  sees `[u, v, u * v, u - v]` of their pooled features (Tay et al. 2021).
  `positions` adds a position table after the encoder (`PositionalEncoding`;
  attention layers need one, recurrent and SSM layers do not).
  `quantize` ("none", "int8", "ternary") fake-quantises the backbone's GLU
  projections and the dual MLP; the encoder and the head stay float (see
  the module docstring). `token_encoder` ("embed" or "onehot_dense", with
  `onehot_dim`) chooses how token ids are encoded (module docstring);
  continuous inputs always go through a linear encoder.
  """

  def __init__(self,
               *,
               num_classes: int,
               input_kind: str,
               vocab_size: int | None = None,
               target_kind: str = "class",
               dual: bool = False,
               pooling: str = "mean",
               positions: str = "none",
               max_len: int | None = None,
               backbone: Mapping[str, Any],
               quantize: str = "none",
               token_encoder: str = "embed",
               onehot_dim: int | None = None,
               name: str | None = None):
    super().__init__(name=name)
    if token_encoder not in TOKEN_ENCODERS:
      raise ValueError(f"token_encoder must be one of {TOKEN_ENCODERS}, got "
                       f"{token_encoder!r}.")
    if onehot_dim is not None:
      if token_encoder != "onehot_dense":
        raise ValueError(
            f"onehot_dim={onehot_dim!r} is the one-hot width of "
            "token_encoder='onehot_dense'; token_encoder is "
            f"{token_encoder!r}.")
      if (isinstance(onehot_dim, bool) or not isinstance(onehot_dim, int)
          or onehot_dim < (vocab_size or 1)):
        raise ValueError(
            f"onehot_dim must be None or an int >= vocab_size={vocab_size}, "
            f"got {onehot_dim!r}.")
    if positions not in POSITIONS:
      raise ValueError(
          f"positions must be one of {POSITIONS}, got {positions!r}.")
    quant_layers.check_quantize(quantize)
    inner = backbone.get("quantize", quantize)
    if inner != quantize:
      raise ValueError(
          f"quantize={quantize!r} conflicts with backbone['quantize']="
          f"{inner!r}; set it once, on SequenceModel.")
    if input_kind not in ("tokens", "continuous"):
      raise ValueError(
          f"input_kind must be tokens|continuous, got {input_kind!r}.")
    if input_kind == "tokens" and not vocab_size:
      raise ValueError("vocab_size is required for token inputs.")
    if target_kind not in ("class", "sequence", "regression"):
      raise ValueError(f"target_kind must be class|sequence|regression, got "
                       f"{target_kind!r}.")
    if pooling not in POOLINGS:
      raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    self.num_classes = num_classes
    self.input_kind = input_kind
    self.vocab_size = vocab_size
    self.target_kind = target_kind
    self.dual = dual
    self.pooling = pooling
    self.positions = positions
    self.max_len = max_len
    self.quantize = quantize
    self.token_encoder = token_encoder
    self.onehot_dim = onehot_dim
    self.backbone_kwargs = dict(backbone, quantize=quantize)

  def __call__(self, batch: Mapping[str, jax.Array], *,
               is_training: bool) -> jax.Array:
    """Logits (or regression outputs) for a batch dict (see class doc)."""
    width = self.backbone_kwargs["width"]
    # Created here (not in a helper method) so parameter paths stay
    # `sequence_model/~/embed`, `.../backbone/block_i/...`; both documents of
    # a dual task share these two modules.
    if self.input_kind == "tokens" and self.token_encoder == "onehot_dense":
      embed = OneHotDense(width, self.onehot_dim or self.vocab_size,
                          name="embed")
    elif self.input_kind == "tokens":
      embed = hk.Embed(self.vocab_size, width, name="embed")
    else:
      embed = hk.Linear(width, name="encoder")
    add_positions = PositionalEncoding(self.positions, self.max_len,
                                       name="positions")
    body = SequenceBackbone(**self.backbone_kwargs, name="backbone")

    def encode(inputs, lengths):
      want = 2 if self.input_kind == "tokens" else 3
      if inputs.ndim != want:
        raise ValueError(
            f"{self.input_kind} inputs must have rank {want} "
            f"({'(B, T)' if want == 2 else '(B, T, C)'}), got shape "
            f"{inputs.shape}.")
      mask = length_mask(lengths, inputs.shape[1], inputs.shape[0])
      x = add_positions(embed(inputs))
      return body(x, mask, is_training=is_training), mask

    x, mask = encode(batch["inputs"], batch.get("lengths"))
    if self.target_kind == "sequence":
      return hk.Linear(self.num_classes, name="head")(x)
    pooled = pool(x, mask, self.pooling)
    if self.dual:
      x2, mask2 = encode(batch["inputs2"], batch.get("lengths2"))
      v = pool(x2, mask2, self.pooling)
      u = pooled
      pooled = jnp.concatenate([u, v, u * v, u - v], axis=-1)
      pooled = jax.nn.gelu(quant_layers.linear(
          self.backbone_kwargs["width"], quantize=self.quantize,
          name="dual_mlp")(pooled))
    if self.target_kind == "regression":
      return hk.Linear(1, name="head")(pooled)[..., 0]
    return hk.Linear(self.num_classes, name="head")(pooled)
