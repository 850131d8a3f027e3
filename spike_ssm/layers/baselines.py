"""Non-SSM baselines behind the sequence-layer interface: attention, LSTM, GRU.

Each layer maps `(B, T, D) -> (B, T, D)` like the SSM layers, so the
backbone (`spike_ssm.models.SequenceBackbone`) builds it from a zoo factory
(`spike_ssm.zoo.layer_factory("lstm", ...)`) and wraps it in the same
norm / GLU / residual block.

Two class attributes tell the backbone which extra keywords a layer takes:

  accepts_mask         `mask=` the `(B, T)` validity mask (1 = real token),
                       so attention can ignore padded keys and a backward
                       RNN can start from its initial state at the last real
                       token.
  accepts_is_training  `is_training=` for the layer's own dropout.

Positions are not added here: `SequenceModel(positions=...)` adds them once
after the embedding, as the Transformer encoder does.
"""

import abc
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import attention


def _check_int(owner: str, name: str, value, minimum: int) -> int:
  if (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or
      value < minimum):
    raise ValueError(
        f"{owner}: `{name}` must be an int >= {minimum}, got {value!r}.")
  return int(value)


def _check_rate(owner: str, name: str, value) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
      0.0 <= value < 1.0):
    raise ValueError(f"{owner}: `{name}` must be a float in [0, 1), got "
                     f"{value!r}.")
  return float(value)


def _check_input(owner: str, name: str, x, rank: int, layout: str) -> None:
  if not hasattr(x, "ndim") or x.ndim != rank:
    raise ValueError(f"{owner}: `{name}` must have rank {rank} {layout}, got "
                     f"shape {getattr(x, 'shape', type(x).__name__)}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"{owner}: `{name}` must be floating point, got dtype "
                    f"{x.dtype}.")


def _check_mask(owner: str, mask, batch: int, length: int) -> None:
  if mask is not None and tuple(mask.shape) != (batch, length):
    raise ValueError(f"{owner}: `mask` must have shape (B, T)="
                     f"{(batch, length)}, got {tuple(mask.shape)}.")


def _dropout(x: jax.Array, rate: float, is_training: bool) -> jax.Array:
  if is_training and rate > 0.0:
    return hk.dropout(hk.next_rng_key(), rate, x)
  return x


def _param(name, shape, init, dtype) -> jax.Array:
  """A float32 parameter, read in the compute dtype `dtype`."""
  return hk.get_parameter(name, shape, jnp.float32, init).astype(dtype)


_GLOROT = hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform")


# ----------------------------------------------------------------------------
# Attention.
# ----------------------------------------------------------------------------


class TransformerLayer(hk.Module):
  """Multi-head softmax self-attention (Vaswani et al., 2017).

  For an input `x` of shape `(B, T, D)`, `H = num_heads` heads of width
  `Dh = qkv_dim / H`:

  .. math::

    q_h = x W_q^h,\\; k_h = x W_k^h,\\; v_h = x W_v^h  \\\\
    A_h = \\mathrm{softmax}(q_h k_h^\\top / \\sqrt{D_h} + M)  \\\\
    \\mathrm{attn}(x) = [A_1 v_1, \\dots, A_H v_H] W_o

  where `M` is `-inf` on keys that are padding (`mask`) or, with
  `causal=True`, in the future. Softmax runs in float32.

  Two modes:

  * `ffn_multiplier=None` (default): the layer is attention only,
    `y = attn(x)`. The backbone block around it supplies the pre-norm, the
    residual and the position-wise stage (its GLU), i.e. an S5-style block
    with attention as the sequence mixer.
  * `ffn_multiplier=m`: the layer is the residual branch of a pre-LN
    Transformer block (Xiong et al., 2020; the LRA Transformer of Tay et
    al., 2021) with its own LayerNorms and a GELU MLP of width `m * D`:

    .. math::

      a = \\mathrm{attn}(\\mathrm{LN}_1(x)),\\quad
      y = a + \\mathrm{MLP}(\\mathrm{LN}_2(x + a))

    so that with the backbone's `norm="none"`, `glu="none"` the block
    `x + y` is exactly `u = x + a; u + MLP(LN_2(u))`.

  Projections have no biases and Glorot-uniform kernels, as in the LRA
  Transformer. Dropout (`dropout` on the attention output and inside the
  MLP, `attention_dropout` on the attention weights) is active only when
  the backbone passes `is_training=True`.

  Parameters: `w_q`, `w_k`, `w_v` `(D, qkv_dim)`, `w_o` `(qkv_dim, D)`;
  with an MLP also `attn_norm/{scale,offset}`, `ffn_norm/{scale,offset}`,
  `w_1` `(D, m D)`, `b_1` `(m D,)`, `w_2` `(m D, D)`, `b_2` `(D,)`.

  There is no streaming `step`: a KV cache is not implemented.
  """

  accepts_mask = True
  accepts_is_training = True

  def __init__(self,
               num_heads: int = 4,
               *,
               qkv_dim: int | None = None,
               causal: bool = False,
               ffn_multiplier: int | None = None,
               dropout: float = 0.0,
               attention_dropout: float = 0.0,
               name: str | None = None):
    """Constructs a TransformerLayer.

    Args:
      num_heads: number of attention heads H; must divide `qkv_dim`.
      qkv_dim: total width of the queries, keys and values (H * Dh); None
        means the model width D.
      causal: whether position t attends only to positions <= t.
      ffn_multiplier: None for attention only, or the MLP width as a
        multiple of D for a full pre-LN Transformer block (see class doc).
      dropout: dropout rate on the attention output and in the MLP.
      attention_dropout: dropout rate on the attention weights.
      name: module name.

    Raises:
      ValueError: on a non-positive num_heads, qkv_dim or ffn_multiplier, a
        qkv_dim not divisible by num_heads, or a rate outside [0, 1).
      TypeError: if causal is not a bool.
    """
    super().__init__(name=name)
    owner = "TransformerLayer"
    self.num_heads = _check_int(owner, "num_heads", num_heads, 1)
    if qkv_dim is not None:
      qkv_dim = _check_int(owner, "qkv_dim", qkv_dim, 1)
      if qkv_dim % self.num_heads:
        raise ValueError(f"{owner}: `num_heads`={self.num_heads} must divide "
                         f"`qkv_dim`={qkv_dim}.")
    self.qkv_dim = qkv_dim
    if not isinstance(causal, bool):
      raise TypeError(f"{owner}: `causal` must be a bool, got {causal!r}.")
    self.causal = causal
    if ffn_multiplier is not None:
      ffn_multiplier = _check_int(owner, "ffn_multiplier", ffn_multiplier, 1)
    self.ffn_multiplier = ffn_multiplier
    self.dropout = _check_rate(owner, "dropout", dropout)
    self.attention_dropout = _check_rate(owner, "attention_dropout",
                                         attention_dropout)

  def _attention(self, x: jax.Array, mask: jax.Array | None,
                 is_training: bool) -> jax.Array:
    """Multi-head self-attention, (B, T, D) -> (B, T, D)."""
    b, t, d = x.shape
    e = d if self.qkv_dim is None else self.qkv_dim
    if e % self.num_heads:
      raise ValueError(
          f"{self.module_name}: `num_heads`={self.num_heads} must divide the "
          f"attention width (qkv_dim, or the input width D when qkv_dim is "
          f"None) = {e}.")
    heads, dh = self.num_heads, e // self.num_heads
    w_q, w_k, w_v = (_param(n, (d, e), _GLOROT, x.dtype)
                     for n in ("w_q", "w_k", "w_v"))
    w_o = _param("w_o", (e, d), _GLOROT, x.dtype)
    q, k, v = ((x @ w).reshape(b, t, heads, dh)  # [B, T, H, Dh]
               for w in (w_q, w_k, w_v))
    rate = self.attention_dropout if is_training else 0.0
    out = attention.dot_product_attention(
        q, k, v, key_mask=mask, causal=self.causal,
        dropout_rng=hk.next_rng_key() if rate > 0.0 else None,
        dropout_rate=rate)  # [B, T, H, Dh]
    return out.reshape(b, t, e) @ w_o

  def _mlp(self, x: jax.Array, is_training: bool) -> jax.Array:
    d = x.shape[-1]
    m = self.ffn_multiplier * d
    w_1 = _param("w_1", (d, m), _GLOROT, x.dtype)
    b_1 = _param("b_1", (m,), jnp.zeros, x.dtype)
    w_2 = _param("w_2", (m, d), _GLOROT, x.dtype)
    b_2 = _param("b_2", (d,), jnp.zeros, x.dtype)
    h = _dropout(jax.nn.gelu(x @ w_1 + b_1), self.dropout, is_training)
    return h @ w_2 + b_2

  def __call__(self, x: jax.Array, *, mask: jax.Array | None = None,
               is_training: bool = False,
               time_major: bool = False) -> jax.Array:
    """Applies the layer to a whole sequence.

    Args:
      x: input, shape `(B, T, D)`, or `(T, B, D)` with `time_major=True`.
      mask: optional `(B, T)` validity mask; keys where it is 0 are never
        attended to. Batch-major whatever `time_major` is.
      is_training: enables dropout (needs an RNG key).
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3, `mask` has the wrong shape, or
        num_heads does not divide the attention width.
      TypeError: if `x` is not floating point.
    """
    _check_input(self.module_name, "x", x, 3,
                 "(T, B, D)" if time_major else "(B, T, D)")
    if time_major:
      x = x.swapaxes(0, 1)  # [B, T, D]: attention is batch-major here.
    _check_mask(self.module_name, mask, x.shape[0], x.shape[1])
    if self.ffn_multiplier is None:
      y = _dropout(self._attention(x, mask, is_training), self.dropout,
                   is_training)
    else:
      ln1 = hk.LayerNorm(-1, create_scale=True, create_offset=True,
                         name="attn_norm")
      ln2 = hk.LayerNorm(-1, create_scale=True, create_offset=True,
                         name="ffn_norm")
      a = _dropout(self._attention(ln1(x), mask, is_training), self.dropout,
                   is_training)
      f = _dropout(self._mlp(ln2(x + a), is_training), self.dropout,
                   is_training)
      y = a + f
    y = y.astype(x.dtype)
    return y.swapaxes(0, 1) if time_major else y


# ----------------------------------------------------------------------------
# Recurrent baselines.
# ----------------------------------------------------------------------------


class LSTMLayerState(NamedTuple):
  """Streaming state of an `LSTMLayer`: hidden and cell, each `(B, H)`."""
  hidden: jax.Array
  cell: jax.Array


class GRULayerState(NamedTuple):
  """Streaming state of a `GRULayer`: the hidden state `(B, H)`."""
  hidden: jax.Array


class _RecurrentLayer(hk.Module):
  """A Haiku RNN core unrolled over time, projected back to the width D.

  Subclasses name the core (`_core`) and convert states. With
  `bidirectional=True` a second core runs over the reversed sequence and
  the two hidden sequences are concatenated before the projection. When the
  backbone passes a `mask`, the carried state is held fixed at padded steps,
  so the backward core starts from its initial state at each sequence's last
  real token and padding changes no output at a real position.
  """

  accepts_mask = True
  _owner = "_RecurrentLayer"

  def __init__(self, hidden_size: int | None = None, *,
               bidirectional: bool = False, name: str | None = None):
    super().__init__(name=name)
    if hidden_size is not None:
      hidden_size = _check_int(self._owner, "hidden_size", hidden_size, 1)
    if not isinstance(bidirectional, bool):
      raise TypeError(f"{self._owner}: `bidirectional` must be a bool, got "
                      f"{bidirectional!r}.")
    self.hidden_size = hidden_size
    self.bidirectional = bidirectional

  # Subclass hooks: the Haiku core class and state conversions.
  _core_cls: type[hk.RNNCore]

  @hk.transparent
  def _core(self, hidden: int, name: str) -> hk.RNNCore:
    # Transparent, so the core is named `<layer>/fwd`, not `<layer>/~_core`.
    return self._core_cls(hidden, name=name)

  @abc.abstractmethod
  def _to_core_state(self, state):
    """This layer's state NamedTuple -> the Haiku core's state."""

  @abc.abstractmethod
  def _from_core_state(self, core_state):
    """The Haiku core's state -> this layer's state NamedTuple."""

  def _hidden(self, width: int) -> int:
    return width if self.hidden_size is None else self.hidden_size

  def _needs_projection(self, width: int) -> bool:
    return self.bidirectional or self._hidden(width) != width

  def _unroll(self, core: hk.RNNCore, xs: jax.Array, ms: jax.Array | None,
              reverse: bool) -> jax.Array:
    """(T, B, D) inputs, optional (T, B) mask -> (T, B, H) outputs."""
    batch = xs.shape[1]
    state0 = core.initial_state(batch)
    if ms is None:
      ys, _ = hk.dynamic_unroll(core, xs, state0, reverse=reverse)
      return ys

    def masked_core(inputs, state):
      x_t, m_t = inputs
      y_t, new = core(x_t, state)
      keep = (m_t != 0)[:, None]  # [B, 1]
      # Padded steps leave the state as it was.
      new = jax.tree.map(lambda n, s: jnp.where(keep, n, s), new, state)
      return y_t, new

    ys, _ = hk.dynamic_unroll(masked_core, (xs, ms), state0, reverse=reverse)
    return ys

  def __call__(self, x: jax.Array, *, mask: jax.Array | None = None,
               time_major: bool = False) -> jax.Array:
    """Runs the RNN over a whole sequence.

    Args:
      x: input, shape `(B, T, D)`, or `(T, B, D)` with `time_major=True`.
      mask: optional `(B, T)` validity mask (batch-major); the state is held
        fixed where it is 0.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3 or `mask` has the wrong shape.
      TypeError: if `x` is not floating point.
    """
    _check_input(self.module_name, "x", x, 3,
                 "(T, B, D)" if time_major else "(B, T, D)")
    xs = x if time_major else x.swapaxes(0, 1)  # [T, B, D]: the scan axis.
    length, batch, width = xs.shape
    _check_mask(self.module_name, mask, batch, length)
    ms = None if mask is None else mask.swapaxes(0, 1)  # [T, B]
    hidden = self._hidden(width)
    ys = self._unroll(self._core(hidden, "fwd"), xs, ms, reverse=False)
    if self.bidirectional:
      ys_rev = self._unroll(self._core(hidden, "bwd"), xs, ms, reverse=True)
      ys = jnp.concatenate([ys, ys_rev], axis=-1)  # [T, B, 2H]
    if self._needs_projection(width):
      ys = hk.Linear(width, name="proj")(ys)  # [T, B, D]
    ys = ys.astype(x.dtype)
    return ys if time_major else ys.swapaxes(0, 1)

  def initial_state(self, batch_size: int, width: int | None = None):
    """The zero state for `batch_size` sequences.

    Args:
      batch_size: B.
      width: the input width D; needed only when `hidden_size` is None
        (the hidden size is then D).

    Raises:
      ValueError: on a bad batch size or width, or a missing width.
    """
    batch_size = _check_int(self.module_name, "batch_size", batch_size, 1)
    if self.hidden_size is None:
      if width is None:
        raise ValueError(
            f"{self.module_name}: `hidden_size` is None (the input width), "
            "so initial_state needs `width`=D.")
      hidden = _check_int(self.module_name, "width", width, 1)
    else:
      hidden = self.hidden_size
    zeros = jnp.zeros((batch_size, hidden), jnp.float32)
    return self._from_core_state(self._zero_core_state(zeros))

  @abc.abstractmethod
  def _zero_core_state(self, zeros):
    """The core's zero state built from a `(B, hidden)` zeros array."""

  @hk.experimental.name_like("__call__")
  def step(self, x_t: jax.Array, state):
    """Advances the forward RNN by one step (shares `__call__`'s params).

    Args:
      x_t: input at one step, shape `(B, D)`.
      state: the previous state (from `initial_state` or `step`).

    Returns:
      `(y_t, next_state)`, y_t of shape `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: for a bidirectional layer (it needs the whole sequence),
        if `x_t` is not rank 2, or the state does not have shape (B, H).
      TypeError: if `x_t` is not floating point.
    """
    if self.bidirectional:
      raise ValueError(f"{self.module_name}: a bidirectional layer cannot "
                       "stream (its backward pass needs the whole sequence);"
                       " use bidirectional=False for step().")
    _check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    batch, width = x_t.shape
    hidden = self._hidden(width)
    for leaf in jax.tree.leaves(state):
      if leaf.shape != (batch, hidden):
        raise ValueError(f"{self.module_name}: state arrays must have shape "
                         f"(B, H)={(batch, hidden)}, got {leaf.shape}.")
    y_t, core_state = self._core(hidden, "fwd")(x_t,
                                                self._to_core_state(state))
    if self._needs_projection(width):
      y_t = hk.Linear(width, name="proj")(y_t)
    return y_t.astype(x_t.dtype), self._from_core_state(core_state)


class LSTMLayer(_RecurrentLayer):
  """An LSTM (Hochreiter & Schmidhuber, 1997) as a sequence layer.

  Haiku's `hk.LSTM` core (forget-gate bias +1) unrolled with
  `hk.dynamic_unroll`:

  .. math::

    [i, g, f, o] = W [x_t, h_{t-1}] + b  \\\\
    c_t = \\sigma(f + 1) \\odot c_{t-1} + \\sigma(i) \\odot \\tanh(g)  \\\\
    h_t = \\sigma(o) \\odot \\tanh(c_t)

  then `y_t = h_t` when `H = D`, else `y_t = P h_t + p` (a `proj` Linear).
  With `bidirectional=True`, `y_t = P [h_t, \\overleftarrow{h}_t] + p`
  where the backward core runs from the last real token to the first.

  Parameters: `fwd/linear/{w (D + H, 4H), b (4H,)}`, the same under `bwd`
  when bidirectional, and `proj/{w, b}` when projecting.
  """

  _owner = "LSTMLayer"
  _core_cls = hk.LSTM

  def __init__(self, hidden_size: int | None = None, *,
               bidirectional: bool = False, name: str | None = None):
    """Constructs an LSTMLayer.

    Args:
      hidden_size: LSTM hidden size H; None for the input width D.
      bidirectional: add a backward LSTM (no streaming then).
      name: module name.

    Raises:
      ValueError: on a non-positive hidden size.
      TypeError: if bidirectional is not a bool.
    """
    super().__init__(hidden_size, bidirectional=bidirectional, name=name)

  def _to_core_state(self, state: LSTMLayerState) -> hk.LSTMState:
    return hk.LSTMState(hidden=state.hidden, cell=state.cell)

  def _from_core_state(self, core_state) -> LSTMLayerState:
    return LSTMLayerState(hidden=core_state.hidden, cell=core_state.cell)

  def _zero_core_state(self, zeros):
    return hk.LSTMState(hidden=zeros, cell=zeros)


class GRULayer(_RecurrentLayer):
  """A GRU (Cho et al., 2014) as a sequence layer.

  Haiku's `hk.GRU` core unrolled with `hk.dynamic_unroll`:

  .. math::

    z_t = \\sigma(W_{iz} x_t + W_{hz} h_{t-1} + b_z)  \\\\
    r_t = \\sigma(W_{ir} x_t + W_{hr} h_{t-1} + b_r)  \\\\
    a_t = \\tanh(W_{ia} x_t + W_{ha} (r_t \\odot h_{t-1}) + b_a)  \\\\
    h_t = (1 - z_t) \\odot h_{t-1} + z_t \\odot a_t

  then projected back to D as in `LSTMLayer`.

  Parameters: `fwd/{w_i (D, 3H), w_h (H, 3H), b (3H,)}`, the same under
  `bwd` when bidirectional, and `proj/{w, b}` when projecting.
  """

  _owner = "GRULayer"
  _core_cls = hk.GRU

  def __init__(self, hidden_size: int | None = None, *,
               bidirectional: bool = False, name: str | None = None):
    """Constructs a GRULayer (arguments as `LSTMLayer`)."""
    super().__init__(hidden_size, bidirectional=bidirectional, name=name)

  def _to_core_state(self, state: GRULayerState) -> jax.Array:
    return state.hidden

  def _from_core_state(self, core_state) -> GRULayerState:
    return GRULayerState(hidden=core_state)

  def _zero_core_state(self, zeros):
    return zeros
