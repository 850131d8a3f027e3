"""Fake-quantised linear layers for the projections around SSM cores.

`QuantLinear` is `hk.Linear` with its weight (and optionally its input)
fake-quantised in the forward pass and straight-through gradients
(`spike_ssm.ops.quant`), for quantisation-aware training:

  mode="int8"     W -> symmetric absmax int8, one scale per output channel
                  (absmax over the input axis)
  mode="ternary"  W -> BitNet b1.58 absmean ternary, {-1, 0, 1} * mean|W|
                  (one scale per matrix; Ma et al. 2024, arXiv:2402.17764)
  quantize_activations=True
                  x -> symmetric absmax int8 per token (one scale per row of
                  the last axis), as BitNet pairs with its ternary weights
                  (W1.58A8); off by default (weight-only quantisation)

The bias stays float (it would be added to an int32 accumulator at full
precision in an integer kernel). Parameters are exactly `hk.Linear`'s (`w`
of shape `(in, out)`, `b` of shape `(out,)`, same initialisers, same dtype
rule), so a quantised model has the same parameter tree, optimiser labels
and checkpoints as its float twin.

The SSM cores' own parameters and dynamics (eigenvalues, B, C, steps) are
never quantised: only these projections are.
"""

from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import quant as quant_ops

QUANT_MODES = ("int8", "ternary")
# The values of `config.model.quantize`: "none" means plain `hk.Linear`.
QUANTIZE_OPTIONS = ("none",) + QUANT_MODES


def check_quantize(quantize: Any, arg: str = "quantize") -> str:
  """Validates a `quantize` option ("none", "int8" or "ternary")."""
  if not isinstance(quantize, str) or quantize not in QUANTIZE_OPTIONS:
    raise ValueError(
        f"{arg} must be one of {QUANTIZE_OPTIONS}, got {quantize!r}.")
  return quantize


class QuantLinear(hk.Module):
  """`hk.Linear` with fake-quantised weights (and optionally inputs).

    y = Qx(x) Qw(W) + b

  with `Qw` the int8 (per output channel) or ternary (BitNet b1.58)
  fake-quantiser and `Qx` per-token int8 or the identity; gradients pass
  straight through both quantisers (`dQ/dW := 1`). Parameters `w` `(in,
  out)` ~ truncated normal with stddev `1 / sqrt(in)` and `b` `(out,)` = 0,
  in the input's dtype, as in `hk.Linear`.

  Args:
    out_features: output width.
    mode: "int8" or "ternary".
    quantize_activations: also fake-quantise the input to int8 per token.
    with_bias: add the (float) bias `b`.
    w_init: initialiser of `w`; None for `hk.Linear`'s default.
    b_init: initialiser of `b`; None for zeros.
    name: module name.
  """

  def __init__(self,
               out_features: int,
               *,
               mode: str = "int8",
               quantize_activations: bool = False,
               with_bias: bool = True,
               w_init: hk.initializers.Initializer | None = None,
               b_init: hk.initializers.Initializer | None = None,
               name: str | None = None):
    super().__init__(name=name)
    if (isinstance(out_features, bool) or
        not isinstance(out_features, (int, np.integer)) or out_features < 1):
      raise ValueError(
          f"out_features must be a positive int, got {out_features!r}.")
    if not isinstance(mode, str) or mode not in QUANT_MODES:
      raise ValueError(f"mode must be one of {QUANT_MODES}, got {mode!r}.")
    self.out_features = int(out_features)
    self.mode = mode
    self.quantize_activations = bool(quantize_activations)
    self.with_bias = bool(with_bias)
    self.w_init = w_init
    self.b_init = b_init

  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the layer.

    Args:
      x: floating input `(..., in)`.

    Returns:
      `(..., out_features)` in `x`'s dtype.
    """
    x = jnp.asarray(x)
    if x.ndim < 1:
      raise ValueError("QuantLinear: `x` must have rank >= 1, got a scalar.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(
          f"QuantLinear: `x` must be a floating array, got dtype {x.dtype}.")
    in_features = x.shape[-1]
    w_init = self.w_init
    if w_init is None:
      w_init = hk.initializers.TruncatedNormal(1.0 / np.sqrt(in_features))
    w = hk.get_parameter("w", (in_features, self.out_features), x.dtype,
                         init=w_init)
    if self.mode == "int8":
      w = quant_ops.fake_quant_int8(w, axis=0)
    else:
      w = quant_ops.fake_quant_ternary(w)
    if self.quantize_activations:
      x = quant_ops.fake_quant_int8(x, axis=-1)
    out = jnp.dot(x, w)
    if self.with_bias:
      b = hk.get_parameter("b", (self.out_features,), x.dtype,
                           init=self.b_init or jnp.zeros)
      out = out + jnp.broadcast_to(b, out.shape)
    return out


def linear(out_features: int, *, quantize: str = "none",
           name: str | None = None) -> hk.Module:
  """`hk.Linear` for quantize="none", else `QuantLinear(mode=quantize)`.

  Either way the parameters are named `w`, `b` with the same shapes, so the
  switch never changes a parameter tree.
  """
  check_quantize(quantize)
  if quantize == "none":
    return hk.Linear(out_features, name=name)
  return QuantLinear(out_features, mode=quantize, name=name)
