r"""ChunkedSSM: a two-level (H-Net-style) hierarchy of sequence layers.

Hwang, Wang & Gu, "Dynamic Chunking for End-to-End Hierarchical Sequence
Modeling" (H-Net), 2025, arXiv:2507.07955, process a sequence at two
resolutions: a fine layer at every step and a coarse main network over
chunk summaries. `ChunkedSSM` is the fixed-chunk skeleton of that idea: any
two `(B, T, D) -> (B, T, D)` layers, the outer one running T/C times fewer
steps than the inner one. For an input `x` `(B, T, D)` and chunks of `C`
steps (`K = T / C` chunks):

.. math::

  u &= \mathrm{inner}(x)  \qquad (B, T, D)  \\
  s_k &= \mathrm{pool}(u_{kC}, \dots, u_{kC + C - 1}), \qquad k = 0..K-1 \\
  z &= \mathrm{outer}(s)  \qquad (B, K, D)  \\
  y_t &= u_t + z_{\lfloor t / C \rfloor - 1},  \qquad z_{-1} = 0

with `pool` the mean of the chunk ("mean") or its last step ("last").

Causality: every step of chunk k receives the outer output of the PREVIOUS
chunk, `z_{k-1}`, which depends only on steps before `kC`. Using `z_k`
would let step `kC` see its own chunk's future through the summary. With
causal inner and outer layers the whole layer is causal and streams
(`initial_state` / `step`); the price is a lag of up to `2C - 1` steps
before a summary reaches an output, and `z` of the final chunk reaches no
output at all.

`T` must be a multiple of `C` unless `pad=True`: then the inner output is
right-padded with zeros to a multiple of `C`, pooled, and the result is
cropped back to T. Only the last, partial chunk's summary sees the padding,
and under the shift above it reaches no output, so padding changes nothing:
the outputs equal the streamed ones.

`inner` and `outer` are factories called with no arguments that return a
module `(B, T, D) -> (B, T, D)` (`spike_ssm.zoo.layer_factory` builds them
from names). The inner layer is built first, inside this module, so both
keep the names their class gives them (`chunked_ssm/~/lru`, then
`chunked_ssm/~/lru_1` for an LRU pair). This module has no parameters of
its own.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm.ops import checks
from spike_ssm.ssm import base

POOLS = ("mean", "last")

LayerFactory = Callable[[], hk.Module]


class ChunkedSSMState(NamedTuple):
  """Streaming state of a `ChunkedSSM`.

  Attributes:
    inner: the inner layer's state.
    outer: the outer layer's state (advanced once per completed chunk).
    pooled: the current chunk's pooled statistic so far, `(B, D)` float32:
      the running sum of the inner outputs ("mean") or the latest one
      ("last").
    context: the outer output for the previous chunk, `(B, D)` float32,
      added to every output of the current chunk (zero in the first).
    position: steps already taken in the current chunk, `()` int32, in
      `[0, chunk_size)`.
  """
  inner: Any
  outer: Any
  pooled: jax.Array
  context: jax.Array
  position: jax.Array


def _build(role: str, factory: LayerFactory) -> hk.Module:
  if not callable(factory):
    raise TypeError(
        f"ChunkedSSM: `{role}` must be a factory returning a module (e.g. "
        f"`spike_ssm.zoo.layer_factory(name, **kwargs)`), got "
        f"{type(factory).__name__}.")
  module = factory()
  if not callable(module):
    raise TypeError(
        f"ChunkedSSM: the `{role}` factory must return a callable module "
        f"(B, T, D) -> (B, T, D), got {type(module).__name__}.")
  return module


class ChunkedSSM(base.SequenceLayer):
  """Inner layer per step plus an outer layer over chunk summaries."""

  ssm_core = False  # A container: its layers carry their own policies.
  time_major_core = False  # Its layers take batch-major input.

  def __init__(self,
               inner: LayerFactory,
               outer: LayerFactory,
               *,
               chunk_size: int,
               pool: str = "mean",
               pad: bool = False,
               name: str | None = None):
    """Constructs a ChunkedSSM.

    Args:
      inner: factory of the per-step layer.
      outer: factory of the per-chunk layer.
      chunk_size: steps per chunk C.
      pool: "mean" or "last": how a chunk is summarised.
      pad: accept T that is not a multiple of C (module docstring).
      name: module name.

    Raises:
      ValueError: a bad chunk size or pool.
      TypeError: a non-bool `pad`, a factory that is not callable or that
        returns something that is not callable.
    """
    super().__init__(name=name)
    owner = "ChunkedSSM"
    self.chunk_size = checks.check_int(owner, "chunk_size", chunk_size, 1)
    self.pool = checks.check_choice(owner, "pool", pool, POOLS)
    self.pad = checks.check_bool(owner, "pad", pad)
    # Built here, not in __call__, so that __call__ and step share one
    # module path (e.g. chunked_ssm/~/lru) and one set of parameters.
    self.inner = _build("inner", inner)
    self.outer = _build("outer", outer)

  def _sequence(self, x: jax.Array) -> jax.Array:
    batch, length, width = x.shape
    c = self.chunk_size
    if length % c and not self.pad:
      raise ValueError(
          f"{self.module_name}: the sequence length T={length} is not a "
          f"multiple of `chunk_size`={c}; pass a T divisible by it or "
          "pad=True.")
    u = self.inner(x)  # [B, T, D]
    k = -(-length // c)
    u_pad = jnp.pad(u, ((0, 0), (0, k * c - length), (0, 0)))
    chunks = u_pad.reshape(batch, k, c, width)  # [B, K, C, D]
    s = chunks.mean(axis=2) if self.pool == "mean" else chunks[:, :, -1]
    z = self.outer(s)  # [B, K, D]
    # Shift by one chunk (module docstring): chunk k gets z_{k-1}.
    z = jnp.concatenate([jnp.zeros_like(z[:, :1]), z[:, :-1]], axis=1)
    z_up = jnp.repeat(z, c, axis=1)[:, :length]  # [B, T, D]
    return u + z_up.astype(u.dtype)

  def _check_streaming(self) -> None:
    for role, layer in (("inner", self.inner), ("outer", self.outer)):
      if not (hasattr(layer, "initial_state") and hasattr(layer, "step")):
        raise TypeError(
            f"{self.module_name}: streaming needs both layers to have "
            f"`initial_state` and `step`; `{role}` "
            f"({type(layer).__name__}) does not.")

  def _zero_state(self, batch_size: int, width: int) -> ChunkedSSMState:
    self._check_streaming()
    zeros = jnp.zeros((batch_size, width), jnp.float32)
    return ChunkedSSMState(
        inner=self.inner.initial_state(batch_size, width),
        outer=self.outer.initial_state(batch_size, width),
        pooled=zeros, context=zeros, position=jnp.zeros((), jnp.int32))

  def _step(self, x_t: jax.Array, state: ChunkedSSMState):
    # The outer layer steps at the last step of every chunk; its output is
    # the context of the next chunk.
    u_t, inner_state = self.inner.step(x_t, state.inner)
    y_t = u_t + state.context.astype(u_t.dtype)
    u32 = u_t.astype(jnp.float32)
    pooled = state.pooled + u32 if self.pool == "mean" else u32
    position = state.position + 1
    done = position == self.chunk_size
    summary = pooled / self.chunk_size if self.pool == "mean" else pooled
    # The outer step runs every step and is kept only when a chunk ends:
    # a select keeps the step free of control flow (and of hk.cond) at the
    # cost of C - 1 discarded outer steps per chunk.
    z, outer_next = self.outer.step(summary.astype(x_t.dtype), state.outer)
    keep = lambda new, old: jnp.where(done, new.astype(old.dtype), old)
    return y_t, ChunkedSSMState(
        inner=inner_state,
        outer=jax.tree.map(keep, outer_next, state.outer),
        pooled=jnp.where(done, jnp.zeros_like(pooled), pooled),
        context=keep(z.astype(jnp.float32), state.context),
        position=jnp.where(done, 0, position).astype(jnp.int32))
