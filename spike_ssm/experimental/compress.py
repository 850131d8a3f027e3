"""Bit-packed spike residuals for memory-efficient BPTT.

Backpropagation through time keeps the forward activations that the backward
pass needs. In a spiking network the input of every linear layer after the
first is a spike tensor with values in {0, 1}, yet a plain `spikes @ weight`
keeps it as a full float array (4 bytes per spike in float32, 2 in bfloat16)
to form `dW = spikes^T g` later. One bit per spike is enough.

`packed_spike_dense` computes the same product with a custom VJP whose only
saved activation is `pack_spikes(spikes)`: a uint8 array holding 8 spikes per
byte (32x smaller than float32, 16x smaller than bfloat16). The backward pass
unpacks it and runs the reference product's own pullback, so for binary
spikes the forward output and both first-order gradients are those of
`spikes @ weight`, bit for bit.

Packing follows `np.packbits`: along `axis`, every group of 8 consecutive
values becomes one byte, the first value in the most significant bit
("big" bit order); a length that is not a multiple of 8 is zero-padded in
the low bits of the last byte, so `unpack_spikes` needs the original length.

Non-binary inputs are binarised, silently and consistently: the op computes
`(spikes != 0) @ weight` in the forward pass, the weight gradient
`(spikes != 0)^T g`, and passes `g weight^T` straight through to `spikes`.
For spikes in {0, 1} that is exactly `spikes @ weight`. Pass `check=True` to
verify instead that every value is 0 or 1, with `jax.experimental.checkify`:
eagerly a violation raises `checkify.JaxRuntimeError`; under `jit` the caller
must functionalise the check, `err, out = checkify.checkify(fn)(...)` then
`err.throw()` (an unfunctionalised `checkify.check` under `jit` fails at
trace time, by JAX's design).

Memory in practice. The residual is what autodiff keeps; whether the float
spikes' buffer is then actually released is up to XLA's scheduler. The
forward product therefore reads the spikes back from their packed form (so
nothing but the packing needs the float array) and the backward pass unpacks
with a differently written (shift-based) unpacking that XLA cannot merge
with the forward one. `benchmarks/PACKED_BPTT.md` has the measured effect,
including XLA:CPU's default scheduler, which allocates every scan's output
buffers up front and so hides any saving in peak memory.

Limitations: only first-order reverse mode. The packed residual is an
integer array, so differentiating the backward pass again (grad of grad)
gives zero where it should not, and forward mode (`jax.jvp`) is not
available for a `jax.custom_vjp` function.
"""

import haiku as hk
import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np


def _check_axis(fn: str, axis, ndim: int) -> int:
  if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
    raise TypeError(f"{fn}: `axis` must be an int, got {axis!r}.")
  if not -ndim <= axis < ndim:
    raise ValueError(
        f"{fn}: `axis`={axis} is out of range for an array of rank {ndim}.")
  return int(axis) % ndim


# Bit i of a byte (from the most significant) holds value i of its group.
_BIT_WEIGHTS = np.array([128, 64, 32, 16, 8, 4, 2, 1], np.uint8)
_BIT_SHIFTS = np.array([7, 6, 5, 4, 3, 2, 1, 0], np.uint8)


def pack_spikes(x: jax.Array, axis: int = -1) -> jax.Array:
  """Packs a binary tensor into uint8, 8 values per byte, along `axis`.

  Args:
    x: spikes, any shape of rank >= 1 and any dtype; every nonzero value is
      stored as a 1 bit (the packing binarises).
    axis: the axis to pack (default the last).

  Returns:
    uint8 array of `x`'s shape with `ceil(x.shape[axis] / 8)` entries along
    `axis`, big-endian bit order, the last byte zero-padded.

  Raises:
    ValueError: a scalar `x` or an out-of-range `axis`.
    TypeError: a non-integer `axis`.
  """
  x = jnp.asarray(x)
  if x.ndim == 0:
    raise ValueError(
        "pack_spikes: `x` must have rank >= 1, got a scalar of shape ().")
  axis = _check_axis("pack_spikes", axis, x.ndim)
  bits = jnp.moveaxis(x != 0, axis, -1).astype(jnp.uint8)
  length = bits.shape[-1]
  pad = -length % 8
  bits = jnp.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, pad)])
  bits = bits.reshape(*bits.shape[:-1], (length + pad) // 8, 8)
  # Summed in uint8 (at most 255, no overflow) rather than with
  # `jnp.packbits`, whose uint32 accumulator XLA may keep alive as the
  # residual instead of the 4x smaller bytes.
  packed = jnp.sum(bits * _BIT_WEIGHTS, axis=-1, dtype=jnp.uint8)
  return jnp.moveaxis(packed, -1, axis)


def unpack_spikes(packed: jax.Array,
                  length: int,
                  axis: int = -1,
                  dtype=jnp.uint8) -> jax.Array:
  """Inverts `pack_spikes`: recovers `length` values in {0, 1} along `axis`.

  Args:
    packed: uint8 array from `pack_spikes`.
    length: the original size of `axis` before packing (trims the padding).
    axis: the packed axis (default the last).
    dtype: dtype of the result (uint8 by default; a float dtype gives exact
      0.0 / 1.0).

  Returns:
    Array of `packed`'s shape with `length` entries along `axis`, values 0
    and 1 in `dtype`.

  Raises:
    TypeError: `packed` that is not uint8, or a non-integer `length`/`axis`.
    ValueError: a scalar `packed`, an out-of-range `axis`, or a `length`
      that does not need exactly `packed.shape[axis]` bytes.
  """
  packed = jnp.asarray(packed)
  if packed.dtype != jnp.uint8:
    raise TypeError(
        f"unpack_spikes: `packed` must be uint8 (from pack_spikes), got dtype "
        f"{packed.dtype}.")
  if packed.ndim == 0:
    raise ValueError(
        "unpack_spikes: `packed` must have rank >= 1, got a scalar.")
  axis = _check_axis("unpack_spikes", axis, packed.ndim)
  if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
    raise TypeError(f"unpack_spikes: `length` must be an int, got {length!r}.")
  if length < 0 or -(-length // 8) != packed.shape[axis]:
    raise ValueError(
        f"unpack_spikes: `length`={length} needs {-(-max(length, 0) // 8)} "
        f"bytes along axis {axis}, but `packed` has {packed.shape[axis]} "
        f"(shape {packed.shape}).")
  bits = jnp.unpackbits(packed, axis=axis, count=length, bitorder="big")
  return bits.astype(dtype)


# ----------------------------------------------------------------------------
# The product with a packed residual.
# ----------------------------------------------------------------------------


def _unpack_last_by_shifts(packed, length, dtype):
  """`unpack_spikes(packed, length, -1, dtype)` written with shifts.

  The backward pass uses this second formulation on purpose: were it the
  same computation as the forward pass's unpacking, XLA would merge the two
  (CSE) and keep the forward's float copy alive until the backward.
  """
  bits = (packed[..., None] >> _BIT_SHIFTS) & np.uint8(1)
  bits = bits.reshape(*packed.shape[:-1], packed.shape[-1] * 8)
  return bits[..., :length].astype(dtype)


def _binarise(spikes):
  return (spikes != 0).astype(spikes.dtype)


@jax.custom_vjp
def _packed_dense(spikes, weight):
  return jnp.matmul(_binarise(spikes), weight)


def _packed_dense_fwd(spikes, weight):
  # The forward product reads the spikes back from their packed form, so the
  # float spikes have no use left once packed and XLA can free them; had it
  # read `spikes` itself, XLA is free to postpone the packing to the
  # backward pass, keeping the float array alive after all.
  packed = pack_spikes(spikes, axis=-1)
  unpacked = unpack_spikes(packed, weight.shape[0], axis=-1,
                           dtype=spikes.dtype)
  out = jnp.matmul(unpacked, weight)
  # The zero-size array only carries the spikes' dtype into the backward
  # pass (custom_vjp residuals must be arrays).
  return out, (packed, weight, jnp.zeros((0,), spikes.dtype))


def _packed_dense_bwd(res, g):
  packed, weight, proto = res
  spikes = _unpack_last_by_shifts(packed, weight.shape[0], proto.dtype)
  # The pullback of the very product the forward computed, evaluated at the
  # unpacked spikes: same ops as differentiating `spikes @ weight` directly,
  # hence the same bits. Its unused primal output is dead code for XLA.
  _, pullback = jax.vjp(jnp.matmul, spikes, weight)
  return pullback(g)


_packed_dense.defvjp(_packed_dense_fwd, _packed_dense_bwd)


def packed_spike_dense(spikes: jax.Array,
                       weight: jax.Array,
                       *,
                       check: bool = False) -> jax.Array:
  """`spikes @ weight` that saves only bit-packed spikes for its backward.

  Args:
    spikes: binary (0/1) floating array, `(..., in)`.
    weight: floating matrix, `(in, out)`.
    check: verify with `checkify.check` that every spike is 0 or 1 (see the
      module docstring; under `jit` wrap the caller with
      `checkify.checkify`). Without it a non-binary input is binarised
      (`spikes != 0`) in the forward and weight-gradient computations.

  Returns:
    `(..., out)` in the promoted dtype of `spikes` and `weight`, equal to
    `jnp.matmul(spikes, weight)` for binary spikes, whose gradients w.r.t.
    both arguments it also reproduces exactly.

  Raises:
    TypeError: non-floating `spikes` or `weight`.
    ValueError: `weight` not 2-D, scalar `spikes`, or `spikes.shape[-1] !=
      weight.shape[0]`.
  """
  spikes, weight = jnp.asarray(spikes), jnp.asarray(weight)
  for name, arr in (("spikes", spikes), ("weight", weight)):
    if not jnp.issubdtype(arr.dtype, jnp.floating):
      raise TypeError(
          f"packed_spike_dense: `{name}` must be a floating array, got dtype "
          f"{arr.dtype}.")
  if weight.ndim != 2:
    raise ValueError(
        f"packed_spike_dense: `weight` must be 2-D (in, out), got shape "
        f"{weight.shape}.")
  if spikes.ndim < 1 or spikes.shape[-1] != weight.shape[0]:
    raise ValueError(
        f"packed_spike_dense: `spikes` must have shape (..., {weight.shape[0]})"
        f" to match `weight` of shape {weight.shape}; got {spikes.shape}.")
  if check:
    binary = jnp.all((spikes == 0) | (spikes == 1))
    # Report one offending value: the first element that is neither 0 nor 1.
    flat = spikes.reshape(-1)
    bad = flat[jnp.argmax((flat != 0) & (flat != 1))] if flat.size else 0.0
    checkify.check(
        binary, "packed_spike_dense: `spikes` must be binary (every value 0 "
        "or 1) with check=True; got the value {bad}.", bad=bad)
  return _packed_dense(spikes, weight)


class PackedSpikeLinear(hk.Module):
  """A linear layer on spikes whose backward residual is bit-packed.

    y = s W + b,   s in {0, 1}^(..., in),  W: (in, out),  b: (out,)

  The forward pass and gradients equal those of `hk.Linear` with the same
  parameters (`packed_spike_dense`), but only the packed spikes (1 bit each)
  are kept for the backward pass. Parameter names, shapes, dtypes and
  default initialisers are `hk.Linear`'s: `w` ~ truncated normal with
  stddev `1 / sqrt(in)`, `b` = 0, both in the input's dtype.

  Args:
    out_features: output width.
    with_bias: add the bias `b`.
    w_init: initialiser of `w`; None for `hk.Linear`'s default.
    b_init: initialiser of `b`; None for zeros.
    check: verify that the input is binary (`packed_spike_dense`).
    name: module name.
  """

  def __init__(self,
               out_features: int,
               *,
               with_bias: bool = True,
               w_init: hk.initializers.Initializer | None = None,
               b_init: hk.initializers.Initializer | None = None,
               check: bool = False,
               name: str | None = None):
    super().__init__(name=name)
    if (isinstance(out_features, bool) or
        not isinstance(out_features, (int, np.integer)) or out_features < 1):
      raise ValueError(
          f"out_features must be a positive int, got {out_features!r}.")
    self.out_features = int(out_features)
    self.with_bias = bool(with_bias)
    self.w_init = w_init
    self.b_init = b_init
    self.check = bool(check)

  def __call__(self, spikes: jax.Array) -> jax.Array:
    """Applies the layer.

    Args:
      spikes: binary floating array, `(..., in)`.

    Returns:
      `(..., out_features)`.
    """
    spikes = jnp.asarray(spikes)
    if spikes.ndim < 1:
      raise ValueError(
          "PackedSpikeLinear: `spikes` must have rank >= 1, got a scalar.")
    if not jnp.issubdtype(spikes.dtype, jnp.floating):
      raise TypeError(
          f"PackedSpikeLinear: `spikes` must be a floating array, got dtype "
          f"{spikes.dtype}.")
    in_features = spikes.shape[-1]
    w_init = self.w_init
    if w_init is None:
      w_init = hk.initializers.TruncatedNormal(1.0 / np.sqrt(in_features))
    w = hk.get_parameter("w", (in_features, self.out_features), spikes.dtype,
                         init=w_init)
    out = packed_spike_dense(spikes, w, check=self.check)
    if self.with_bias:
      b = hk.get_parameter("b", (self.out_features,), spikes.dtype,
                           init=self.b_init or jnp.zeros)
      out = out + jnp.broadcast_to(b, out.shape)
    return out


__all__ = [
    "PackedSpikeLinear",
    "pack_spikes",
    "packed_spike_dense",
    "unpack_spikes",
]
