"""Softmax attention and sinusoidal positions (Vaswani et al., 2017).

Pure JAX; used by the Transformer baseline (`spike_ssm.layers.baselines`)
and by the position encodings of `spike_ssm.models.SequenceModel`.
"""

import jax
import jax.numpy as jnp
import numpy as np


def sinusoidal_positions(length: int, width: int, *,
                         max_timescale: float = 10_000.0,
                         dtype=jnp.float32) -> jax.Array:
  """The fixed sinusoidal position table of Vaswani et al. (2017), Sec. 3.5.

  `P[t, 2i] = sin(t / s^(2i / D))` and `P[t, 2i + 1] = cos(t / s^(2i / D))`
  with `s = max_timescale`; an odd width ends with a sine column.

  Args:
    length: number of positions T (>= 1).
    width: model width D (>= 1).
    max_timescale: the base `s` of the geometric wavelengths.
    dtype: dtype of the result.

  Returns:
    The table, shape `(T, D)`.

  Raises:
    ValueError: on a non-positive length or width.
  """
  for name, value in (("length", length), ("width", width)):
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"sinusoidal_positions: `{name}` must be an int >= 1, "
                       f"got {value!r}.")
  # Built in float32 from integer positions: the angles t * freq reach
  # t ~ 1e4 radians, where float32 keeps ~1e-3 absolute accuracy in sin.
  t = jnp.arange(length, dtype=jnp.float32)[:, None]  # [T, 1]
  pair = jnp.arange(width) // 2  # i for columns 2i and 2i + 1
  inv_freq = jnp.power(jnp.float32(max_timescale),
                       -2.0 * pair.astype(jnp.float32) / width)  # [D]
  angle = t * inv_freq  # [T, D]
  even = (jnp.arange(width) % 2) == 0
  return jnp.where(even, jnp.sin(angle), jnp.cos(angle)).astype(dtype)


def dot_product_attention(q: jax.Array, k: jax.Array, v: jax.Array, *,
                          key_mask: jax.Array | None = None,
                          causal: bool = False,
                          dropout_rng: jax.Array | None = None,
                          dropout_rate: float = 0.0) -> jax.Array:
  """Multi-head scaled dot-product attention.

  `out[b, t, h] = sum_s p[b, h, t, s] v[b, s, h]` with
  `p = softmax_s(q[b, t, h] . k[b, s, h] / sqrt(Dh))` over the allowed keys:
  key `s` is allowed for query `t` when `key_mask[b, s]` is true and, if
  `causal`, `s <= t`. Logits and softmax are computed in float32 whatever the
  input dtype (a bfloat16 softmax over thousands of keys loses the small
  weights); the output has the dtype of `v`.

  A query with no allowed key (only possible for an all-masked row) gets
  uniform weights over all keys rather than NaN; callers zero such rows.

  Args:
    q: queries, shape `(B, T, H, Dh)`.
    k: keys, shape `(B, S, H, Dh)`.
    v: values, shape `(B, S, H, Dv)`.
    key_mask: optional `(B, S)` mask, nonzero/True for keys that may be
      attended to (e.g. not padding).
    causal: whether query `t` may only attend to keys `s <= t` (needs
      `S == T`).
    dropout_rng: PRNG key for dropout on the attention weights, or None for
      no dropout.
    dropout_rate: probability of dropping an attention weight (inverted
      dropout: kept weights are scaled by `1 / (1 - rate)`).

  Returns:
    The attended values, shape `(B, T, H, Dv)`.

  Raises:
    ValueError: on inconsistent shapes, a causal call with `S != T`, or a
      dropout rate outside [0, 1).
  """
  if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
    raise ValueError("dot_product_attention: q, k, v must be rank 4 "
                     f"(B, T, H, D), got shapes {q.shape}, {k.shape}, "
                     f"{v.shape}.")
  if k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0] or (
      q.shape[2:] != k.shape[2:]):
    raise ValueError("dot_product_attention: expected q (B, T, H, Dh), k "
                     "(B, S, H, Dh), v (B, S, H, Dv); got shapes "
                     f"{q.shape}, {k.shape}, {v.shape}.")
  b, t, _, dh = q.shape
  s = k.shape[1]
  if causal and s != t:
    raise ValueError(f"dot_product_attention: causal attention needs as many "
                     f"keys as queries, got T={t} queries and S={s} keys.")
  if key_mask is not None and key_mask.shape != (b, s):
    raise ValueError(f"dot_product_attention: `key_mask` must have shape "
                     f"(B, S)={(b, s)}, got {key_mask.shape}.")
  if not 0.0 <= dropout_rate < 1.0:
    raise ValueError(f"dot_product_attention: `dropout_rate` must be in "
                     f"[0, 1), got {dropout_rate}.")
  logits = jnp.einsum("bthd,bshd->bhts", q.astype(jnp.float32),
                      k.astype(jnp.float32)) / np.sqrt(dh)  # [B, H, T, S]
  allowed = jnp.ones((b, 1, t, s), bool)
  if key_mask is not None:
    allowed = allowed & (key_mask != 0)[:, None, None, :]
  if causal:
    allowed = allowed & jnp.tril(jnp.ones((t, s), bool))[None, None]
  # A finite floor, not -inf: an all-masked row then softmaxes to uniform
  # instead of 0/0 = NaN, and exp(floor - max) is exactly 0 otherwise.
  logits = jnp.where(allowed, logits, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(logits, axis=-1)
  if dropout_rng is not None and dropout_rate > 0.0:
    keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate,
                                weights.shape)
    weights = jnp.where(keep, weights / (1.0 - dropout_rate), 0.0)
  out = jnp.einsum("bhts,bshd->bthd", weights, v.astype(jnp.float32))
  return out.astype(v.dtype)
