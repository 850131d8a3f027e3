"""ChunkedSSM: a two-level (H-Net-style) hierarchy of sequence layers.

Hwang, Wang & Gu, "Dynamic Chunking for End-to-End Hierarchical Sequence
Modeling" (H-Net), 2025, arXiv:2507.07955, process a sequence at two
resolutions: a fine layer at every step and a coarse main network over
chunk summaries. `ChunkedSSM` is the fixed-chunk skeleton of that idea: any
two `(B, T, D) -> (B, T, D)` layers, the outer one running T/C times fewer
steps than the inner one.
"""

from collections.abc import Callable, Mapping
import inspect
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm.ssm import _diagonal

POOLS = ("mean", "last")

LayerSpec = str | Callable[[], hk.Module]


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


def _build(role: str, spec: LayerSpec, kwargs: Mapping[str, Any] | None):
  """The inner/outer module from a registry name or a factory."""
  if isinstance(spec, str):
    # Imported here, not at the top: the registry lives above ssm/ (it
    # names layers of every kind), and it is only needed for string specs.
    from spike_ssm.models import registry  # pylint: disable=g-import-not-at-top
    entry = registry.get_entry(spec)  # ValueError naming the known layers.
    kwargs = dict(kwargs or {})
    cls = entry.cls()
    # Every registered layer infers its width from its input, so a custom
    # build gets None for it. (`registry.build_layer` is not used: its first
    # parameter is also called `name`.)
    try:
      if entry.build is not None:
        return entry.build(cls, None, **kwargs)
      return cls(**kwargs)
    except TypeError as e:
      raise TypeError(
          f"ChunkedSSM: `{role}` layer {spec!r} rejected `{role}_kwargs` "
          f"{sorted(kwargs)}: {e}") from None
  if callable(spec):
    if kwargs:
      raise ValueError(
          f"ChunkedSSM: `{role}_kwargs` applies to a registry name only; "
          f"`{role}` is a factory, so pass its arguments inside it (got "
          f"{sorted(kwargs)}).")
    module = spec()
    if not callable(module):
      raise TypeError(
          f"ChunkedSSM: the `{role}` factory must return a callable module "
          f"(B, T, D) -> (B, T, D), got {type(module).__name__}.")
    return module
  raise TypeError(
      f"ChunkedSSM: `{role}` must be a registered layer name (str) or a "
      f"factory returning a module, got {type(spec).__name__}.")


def _initial_state(layer, batch_size: int, width: int):
  """`layer.initial_state`, passing `width` where the layer takes one."""
  params = inspect.signature(layer.initial_state).parameters
  if "width" in params:
    return layer.initial_state(batch_size, width=width)
  return layer.initial_state(batch_size)


class ChunkedSSM(hk.Module):
  """Inner layer per step plus an outer layer over chunk summaries.

  For an input `x` of shape `(B, T, D)` and chunks of `C` steps
  (`K = T / C` chunks):

  .. math::

    u &= \\mathrm{inner}(x)  \\qquad (B, T, D)  \\\\
    s_k &= \\mathrm{pool}(u_{kC}, \\dots, u_{kC + C - 1}),
        \\qquad k = 0..K-1  \\\\
    z &= \\mathrm{outer}(s)  \\qquad (B, K, D)  \\\\
    y_t &= u_t + z_{\\lfloor t / C \\rfloor - 1},  \\qquad z_{-1} = 0

  with `pool` the mean of the chunk ("mean") or its last step ("last").

  Causality: every step of chunk k receives the outer output of the
  PREVIOUS chunk, `z_{k-1}`, which depends only on steps before `kC`. Using
  `z_k` instead would let step `kC` see the inner outputs up to `kC + C - 1`
  through the pooled summary, i.e. its own chunk's future. With causal
  inner and outer layers the whole layer is therefore causal and can be
  streamed (`initial_state` / `step`); the price is a lag of up to
  `2C - 1` steps before a summary reaches an output, and `z` of the final
  chunk reaches no output at all.

  `T` must be a multiple of `C` unless `pad=True`: then the inner output is
  right-padded with zeros to a multiple of `C`, pooled, and the result is
  cropped back to T. Only the last, partial chunk's summary sees the
  padding, and under the shift above that summary reaches no output, so the
  padding changes nothing: the outputs equal the streamed ones.

  `inner` and `outer` are registered layer names (`models.registry`, built
  with `inner_kwargs` / `outer_kwargs`) or factories called with no
  arguments that return a module mapping `(B, T, D) -> (B, T, D)`. The inner
  layer is built first. Both keep the names their class or factory gives
  them (`chunked_ssm/~/lru`, then `chunked_ssm/~/lru_1` for an LRU pair):
  the optimiser recognises an SSM core's parameters by its default module
  name, so renaming them "inner"/"outer" would move e.g. LRU's `b` out of
  the SSM group. This module has no parameters of its own.
  """

  def __init__(self,
               inner: LayerSpec,
               outer: LayerSpec,
               *,
               chunk_size: int,
               pool: str = "mean",
               pad: bool = False,
               inner_kwargs: Mapping[str, Any] | None = None,
               outer_kwargs: Mapping[str, Any] | None = None,
               name: str | None = None):
    """Constructs a ChunkedSSM.

    Args:
      inner: the per-step layer: a registry name or a module factory.
      outer: the per-chunk layer: a registry name or a module factory.
      chunk_size: steps per chunk C.
      pool: "mean" or "last": how a chunk is summarised.
      pad: accept T that is not a multiple of C (see the class doc).
      inner_kwargs: keyword arguments of a registered inner layer.
      outer_kwargs: keyword arguments of a registered outer layer.
      name: module name.

    Raises:
      ValueError: on a bad chunk size or pool, an unknown layer name, or
        kwargs given with a factory.
      TypeError: if `inner`/`outer` is neither a name nor a factory, or a
        factory returns something that is not callable.
    """
    super().__init__(name=name)
    self.chunk_size = _diagonal.check_int("ChunkedSSM", "chunk_size",
                                          chunk_size, 1)
    if not isinstance(pool, str) or pool not in POOLS:
      raise ValueError(
          f"ChunkedSSM: `pool` must be one of {POOLS}, got {pool!r}.")
    if not isinstance(pad, bool):
      raise TypeError(f"ChunkedSSM: `pad` must be a bool, got {pad!r}.")
    self.pool = pool
    self.pad = pad
    # Built here, not in __call__, so that __call__ and step share one
    # module path (e.g. chunked_ssm/~/lru) and one set of parameters.
    self.inner = _build("inner", inner, inner_kwargs)
    self.outer = _build("outer", outer, outer_kwargs)

  # --------------------------------------------------------------------------
  # Whole sequence.
  # --------------------------------------------------------------------------

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs inner, pooling, outer and the shifted upsampling.

    Args:
      x: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape as `x`, in the inner layer's output dtype.

    Raises:
      ValueError: if `x` is not rank 3, or T is not a multiple of
        `chunk_size` and `pad` is False.
      TypeError: if `x` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x", x, 3,
                          "(T, B, D)" if time_major else "(B, T, D)")
    if time_major:
      x = x.swapaxes(0, 1)  # [B, T, D]: the layers take batch-major input.
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
    # Shift by one chunk (see the class doc): chunk k gets z_{k-1}.
    z = jnp.concatenate([jnp.zeros_like(z[:, :1]), z[:, :-1]], axis=1)
    z_up = jnp.repeat(z, c, axis=1)[:, :length]  # [B, T, D]
    y = u + z_up.astype(u.dtype)
    if time_major:
      y = y.swapaxes(0, 1)  # [T, B, D]
    return y

  # --------------------------------------------------------------------------
  # Streaming.
  # --------------------------------------------------------------------------

  def _check_streaming(self) -> None:
    for role, layer in (("inner", self.inner), ("outer", self.outer)):
      if not (hasattr(layer, "initial_state") and hasattr(layer, "step")):
        raise TypeError(
            f"{self.module_name}: streaming needs both layers to have "
            f"`initial_state` and `step`; `{role}` "
            f"({type(layer).__name__}) does not.")

  def initial_state(self, batch_size: int,
                    width: int | None = None) -> ChunkedSSMState:
    """The state before the first step.

    Args:
      batch_size: B.
      width: the input width D (required: this module has no parameters to
        take it from).

    Returns:
      A `ChunkedSSMState`.

    Raises:
      TypeError: if a layer cannot stream.
      ValueError: on a bad batch size or width.
    """
    self._check_streaming()
    batch_size = _diagonal.check_int(self.module_name, "batch_size",
                                     batch_size, 1)
    if width is None:
      raise ValueError(
          f"{self.module_name}: initial_state needs the input width D: pass "
          "`width=`.")
    width = _diagonal.check_int(self.module_name, "width", width, 1)
    zeros = jnp.zeros((batch_size, width), jnp.float32)
    return ChunkedSSMState(
        inner=_initial_state(self.inner, batch_size, width),
        outer=_initial_state(self.outer, batch_size, width),
        pooled=zeros, context=zeros, position=jnp.zeros((), jnp.int32))

  def step(self, x_t: jax.Array,
           state: ChunkedSSMState) -> tuple[jax.Array, ChunkedSSMState]:
    """Advances the hierarchy by one time step.

    The outer layer steps at the last step of every chunk; its output is the
    context of the next chunk.

    Args:
      x_t: input at one step, `(B, D)`.
      state: the previous `ChunkedSSMState`.

    Returns:
      `(y_t, next_state)`, y_t `(B, D)` in the inner layer's output dtype.

    Raises:
      TypeError: if a layer cannot stream or `x_t` is not floating.
      ValueError: if `x_t` is not rank 2 or does not match the state.
    """
    self._check_streaming()
    _diagonal.check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    if state.pooled.shape != x_t.shape:
      raise ValueError(
          f"{self.module_name}: `state.pooled` must have the shape of `x_t` "
          f"{tuple(x_t.shape)} (B, D), got {tuple(state.pooled.shape)}.")
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
    next_state = ChunkedSSMState(
        inner=inner_state,
        outer=jax.tree.map(keep, outer_next, state.outer),
        pooled=jnp.where(done, jnp.zeros_like(pooled), pooled),
        context=keep(z.astype(jnp.float32), state.context),
        position=jnp.where(done, 0, position).astype(jnp.int32))
    return y_t, next_state
