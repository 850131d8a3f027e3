"""Raven routing-slot memory: RavenRSM, SpikingSlotMemory, SlotRouter.

Raven (Afzal, Bick, Xing, Cevher & Gu, 2026, "High-recall sequence modeling
with sparse memory routing") splits a recurrent memory into M slots and
writes, at every step, only the slots a learned router selects. A single
compressed state with uniform decay lets every token perturb the whole
memory, so stored associations interfere; a slot whose gate is 0 is passed
through untouched ("shielded"). Two reductions frame the idea: an all-ones
router is a gated diagonal SSM, and a one-hot cyclic router with no decay is
a sliding window over the last M writes.

The recurrence, its scan in every `linear_scan` mode and the exact
shielding contract are `ops.routed_scan`; the modules here fetch parameters
and call it. `make_recall_batch` draws the associative-recall batches of the
seed API from the one MQAR generator, `data.synthetic.make_mqar`.
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.data import synthetic
from spike_ssm.neurons import base as neuron_base
from spike_ssm.ops import checks
from spike_ssm.ops import routed_scan
from spike_ssm.ops import surrogate as surrogate_lib
from spike_ssm.ssm import base as ssm_base

SCAN_MODES = checks.SCAN_MODES


# ----------------------------------------------------------------------------
# Argument checks.
# ----------------------------------------------------------------------------


def _check_top_k(owner: str, hard_top_k, num_slots: int):
  if hard_top_k is None:
    return None
  if (not isinstance(hard_top_k, (int, np.integer)) or
      isinstance(hard_top_k, bool) or not 1 <= hard_top_k <= num_slots):
    raise ValueError(
        f"{owner}: `hard_top_k` must be None or an int in [1, num_slots="
        f"{num_slots}], got {hard_top_k!r}.")
  return int(hard_top_k)


def _check_open_unit(owner: str, name: str, value) -> float:
  if (isinstance(value, bool) or
      not isinstance(value, (int, float, np.number)) or
      not 0.0 < value < 1.0):
    raise ValueError(
        f"{owner}: `{name}` must be a number in the open interval (0, 1) "
        f"(it is stored as a logit), got {value!r}.")
  return float(value)


def _check_width(owner: str, params: dict, name: str, features: int) -> None:
  """Clear error when the input width differs from the stored parameters'."""
  for key, value in params.items():
    if key.rsplit("/", 1)[-1] == name and value.shape[0] != features:
      raise ValueError(
          f"{owner}: input feature size D={features} does not match D="
          f"{value.shape[0]} that the parameters were created with (`{name}` "
          f"has shape {tuple(value.shape)}).")


def _check_state(owner: str, field: str, value, expected) -> None:
  if not hasattr(value, "shape") or tuple(value.shape) != tuple(expected):
    raise ValueError(
        f"{owner}: `state.{field}` must have shape {tuple(expected)} (batch, "
        f"num_slots, slot_dim), got {tuple(getattr(value, 'shape', ()))}.")


def _logit(p: float) -> float:
  return math.log(p) - math.log1p(-p)


# ----------------------------------------------------------------------------
# Modules.
# ----------------------------------------------------------------------------


def _fan_in_init(fan_in: int) -> hk.initializers.Initializer:
  # hk.Linear's default (LeCun-style truncated normal, stddev 1/sqrt(fan_in),
  # LeCun et al. 1998), written out because the weights here are 3-D.
  return hk.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(fan_in))


class SlotRouter(hk.Module):
  """Per-slot write gates `r_t = sigmoid(u_t W + b)` in [0, 1]^M.

  Independent sigmoids rather than a softmax, so that several slots can be
  written at once and the all-ones (dense) router is reachable. With
  `hard_top_k = k` the gates pass through `straight_through_top_k`: in the
  forward pass exactly the k slots with the largest logits keep their
  sigmoid value and the others are exactly 0; the backward pass is the
  gradient of the soft gate for every slot.

  Parameters: `w` `(D, M)` (stddev 1/sqrt(D) truncated normal, as
  `hk.Linear`) and `b` `(M,)` (zeros: every gate starts at 1/2).
  """

  def __init__(self, num_slots: int, *, hard_top_k: int | None = None,
               name: str | None = None):
    """Constructs a router.

    Args:
      num_slots: M, the number of gates per step.
      hard_top_k: None (soft gates) or k in [1, M] (straight-through top-k).
      name: module name.

    Raises:
      ValueError: on a non-positive `num_slots` or a `hard_top_k` outside
        [1, M].
    """
    super().__init__(name=name)
    self.num_slots = checks.check_int("SlotRouter", "num_slots", num_slots, 1)
    self.hard_top_k = _check_top_k("SlotRouter", hard_top_k, self.num_slots)

  def logits(self, u: jax.Array) -> jax.Array:
    """`u W + b`: `(..., D)` -> `(..., M)`."""
    if not hasattr(u, "ndim") or u.ndim < 1:
      raise ValueError(
          f"{self.module_name}: `u` must be an array of shape (..., D), got "
          f"{getattr(u, 'shape', type(u).__name__)}.")
    if not jnp.issubdtype(u.dtype, jnp.floating):
      raise TypeError(
          f"{self.module_name}: `u` must be a floating array, got dtype "
          f"{u.dtype}.")
    features = u.shape[-1]
    _check_width(self.module_name, self.params_dict(), "w", features)
    w = hk.get_parameter("w", (features, self.num_slots), jnp.float32,
                         _fan_in_init(features))
    b = hk.get_parameter("b", (self.num_slots,), jnp.float32, jnp.zeros)
    dtype = jnp.result_type(u.dtype, w.dtype)
    return u.astype(dtype) @ w.astype(dtype) + b.astype(dtype)

  def __call__(self, u: jax.Array) -> jax.Array:
    """Gates for inputs `u` of shape `(..., D)`: `(..., M)` in [0, 1].

    Raises:
      ValueError: `u` is a scalar, or its width differs from the parameters'.
      TypeError: `u` is not floating point.
    """
    logits = self.logits(u)
    gates = jax.nn.sigmoid(logits)
    if self.hard_top_k is not None:
      gates = routed_scan.straight_through_top_k(gates, self.hard_top_k,
                                                 logits)
    return gates


class RavenRSMState(NamedTuple):
  """Streaming state of `RavenRSM`.

  Attributes:
    s: slot memory `S`, `(B, M, d_slot)`, float32.
  """
  s: jax.Array


class SpikingSlotMemoryState(NamedTuple):
  """Streaming state of `SpikingSlotMemory`.

  Attributes:
    v: slot membranes `V`, `(B, M, d_slot)`, float32.
  """
  v: jax.Array


class _SlotMemoryBase(hk.Module):
  """Router, write projection and layout shared by the two slot memories."""

  _decay_name = ""  # "raw_decay" | "raw_beta"

  def __init__(self, num_slots, slot_dim, hard_top_k, decay_init, decay_arg,
               scan_mode, chunk_size, name):
    super().__init__(name=name)
    owner = type(self).__name__
    self.num_slots = checks.check_int(owner, "num_slots", num_slots, 1)
    self.slot_dim = (None if slot_dim is None else
                     checks.check_int(owner, "slot_dim", slot_dim, 1))
    self.hard_top_k = _check_top_k(owner, hard_top_k, self.num_slots)
    self._decay_init = _check_open_unit(owner, decay_arg, decay_init)
    checks.check_scan_mode(owner, scan_mode, chunk_size)
    self.scan_mode = scan_mode
    self.chunk_size = chunk_size
    # The same router type for both memories (not a copy): one definition of
    # the gates, the top-k and its gradient.
    self.router = SlotRouter(self.num_slots, hard_top_k=self.hard_top_k,
                             name="router")

  def _slot_dim(self, features: int) -> int:
    return features if self.slot_dim is None else self.slot_dim

  def _stored_slot_dim(self) -> int | None:
    """d from the constructor, else from existing parameters, else None."""
    if self.slot_dim is not None:
      return self.slot_dim
    for key, value in self.params_dict().items():
      if key.rsplit("/", 1)[-1] == "w_u":
        return int(value.shape[-1])
    return None

  def _core_params(self, features: int, dtype):
    """decay in (0, 1) `(M, d)` and the write matrix `(D, M, d)`."""
    _check_width(self.module_name, self.params_dict(), "w_u", features)
    m, d = self.num_slots, self._slot_dim(features)
    raw = hk.get_parameter(self._decay_name, (m, d), jnp.float32,
                           hk.initializers.Constant(_logit(self._decay_init)))
    w_u = hk.get_parameter("w_u", (features, m, d), jnp.float32,
                           _fan_in_init(features))
    return jax.nn.sigmoid(raw.astype(dtype)), w_u.astype(dtype)

  def _read(self, x: jax.Array, slots: jax.Array) -> jax.Array:
    """The query read `(sum_m softmax(x W_q)[m] slots[m]) W_o`.

    x `(..., D)` and slots `(..., M, d)` -> `(..., D)`; `w_q` `(D, M)` and
    `w_o` `(d, D)` are created here.
    """
    features, dtype = x.shape[-1], x.dtype
    d = self._slot_dim(features)
    w_q = hk.get_parameter("w_q", (features, self.num_slots), jnp.float32,
                           _fan_in_init(features))
    w_o = hk.get_parameter("w_o", (d, features), jnp.float32,
                           _fan_in_init(d))
    return routed_scan.query_read(x @ w_q.astype(dtype),
                                  slots) @ w_o.astype(dtype)

  def _states(self, u: jax.Array, time_major: bool) -> jax.Array:
    """The slot states after every step, in the layout of `u`."""
    _, states = self._trace(u, time_major)
    return states if time_major else states.swapaxes(0, 1)

  def _trace(self, u: jax.Array, time_major: bool):
    """Input (time-major, compute dtype) and all slot states `(T, B, M, d)`."""
    owner = self.module_name
    checks.check_array(owner, "u", u, 3,
                       "(T, B, D)" if time_major else "(B, T, D)")
    dtype = ssm_base.compute_dtype(u.dtype)
    x = u.astype(dtype)
    if not time_major:
      x = x.swapaxes(0, 1)  # [T, B, D]: the scan runs over axis 0.
    decay, w_u = self._core_params(x.shape[-1], dtype)
    gates = self.router(x)  # [T, B, M]
    writes = jnp.einsum("tbd,dmk->tbmk", x, w_u)  # [T, B, M, d]
    slots = routed_scan.routed_scan(
        gates, decay, writes, mode=self.scan_mode,
        chunk_size=self.chunk_size)  # [T, B, M, d]
    return x, slots

  def _advance(self, u_t: jax.Array, prev: jax.Array):
    """Input in compute dtype and the next slot state, both batch-major."""
    owner = self.module_name
    checks.check_array(owner, "u_t", u_t, 2, "(B, D)")
    dtype = ssm_base.compute_dtype(u_t.dtype)
    x = u_t.astype(dtype)
    decay, w_u = self._core_params(x.shape[-1], dtype)
    gates = self.router(x)  # [B, M]
    writes = jnp.einsum("bd,dmk->bmk", x, w_u)  # [B, M, d]
    return x, routed_scan.routed_step(gates, decay, writes,
                                      prev.astype(dtype))

  def _zeros(self, batch_size: int, width: int | None = None) -> jax.Array:
    batch_size = checks.check_int(self.module_name, "batch_size", batch_size, 1)
    d = self._stored_slot_dim()
    if d is None and width is not None:
      d = checks.check_int(self.module_name, "width", width, 1)
    if d is None:
      raise ValueError(
          f"{self.module_name}: `initial_state` needs the slot width, but "
          "slot_dim=None means 'the input width D', which is unknown until "
          "the layer has seen an input. Pass slot_dim= to the constructor, "
          "or call the layer on a sequence first.")
    return jnp.zeros((batch_size, self.num_slots, d), jnp.float32)

  def _check_state_for(self, u_t, value, field: str) -> None:
    """`state.<field>` must be `(B, M, d)` for an input `u_t` `(B, D)`."""
    if hasattr(u_t, "shape") and len(u_t.shape) == 2:
      d = self._stored_slot_dim()
      d = u_t.shape[-1] if d is None else d
      _check_state(self.module_name, field, value,
                   (u_t.shape[0], self.num_slots, d))


class RavenRSM(_SlotMemoryBase, ssm_base.SequenceLayer):
  """Routing-slot memory (Raven), diagonal form, `(B, T, D) -> (B, T, D)`.

  Per step, from the input `u_t` `(B, D)`:

    r_t    = sigmoid(u_t W_r + b_r)                (B, M)    SlotRouter
    U_t    = reshape(u_t W_u)                      (B, M, d)
    S_t    = (1 - r_t) * S_{t-1} + r_t * (a * S_{t-1} + U_t)
    q_t    = softmax(u_t W_q)                      (B, M)
    y_t    = (sum_m q_t[m] S_t[m]) W_o             (B, D)

  with `a = sigmoid(raw_decay)` `(M, d)` a static per-slot, per-channel decay
  and `S_0 = 0`. A slot with `r_t[m] = 0` is untouched (bit for bit, in every
  scan mode); `r_t = 1` everywhere gives the gated diagonal SSM
  `S_t = a S_{t-1} + U_t`; a one-hot cyclic router with `a = 0` keeps exactly
  the last M writes (a sliding window). The query read mirrors the router on
  the read side: it selects the slot(s) to retrieve.

  `__call__` runs `ops.routed_scan.routed_scan(mode=scan_mode)`; `step` is
  its sequential reference (`routed_step`).

  Initialisation: `raw_decay = logit(decay_init)` everywhere (the
  reference's constant decay); `w_u` `(D, M, d)`, `w_q` `(D, M)`, `w_o`
  `(d, D)` and the router's `w` are truncated normals with stddev
  `1/sqrt(fan_in)` (LeCun et al. 1998, `hk.Linear`'s default), the router's
  `b` is zero (all gates start at 1/2).

  Parameters: `raw_decay` `(M, d)`, `w_u`, `w_q`, `w_o`, and `router/w`,
  `router/b`. Computes in float32 (at least) whatever the input dtype; the
  output comes back in the input dtype.
  """

  _decay_name = "raw_decay"
  dynamics_params = frozenset({"raw_decay"})

  def __init__(self,
               num_slots: int = 8,
               slot_dim: int | None = None,
               *,
               hard_top_k: int | None = None,
               decay_init: float = 0.9,
               scan_mode: str = "auto",
               chunk_size: int | None = None,
               name: str | None = None):
    """Constructs a RavenRSM layer.

    Args:
      num_slots: M, the number of memory slots.
      slot_dim: d, the width of a slot; None means the input width D.
      hard_top_k: None (soft router) or k in [1, M]: write at most k slots per
        step (straight-through top-k, see `SlotRouter`).
      decay_init: initial decay `a` in (0, 1) of every slot channel.
      scan_mode: `linear_scan` mode of `__call__`: "auto", "sequential",
        "parallel" or "chunked".
      chunk_size: chunk length for the chunked scan (must divide T), or None
        for the scan's default.
      name: module name.

    Raises:
      ValueError: on a bad size, `hard_top_k`, `decay_init`, scan mode or
        chunk size.
    """
    super().__init__(num_slots, slot_dim, hard_top_k, decay_init,
                     "decay_init", scan_mode, chunk_size, name)

  @property
  def decay_init(self) -> float:
    return self._decay_init

  def memory(self, u: jax.Array, *, time_major: bool = False) -> jax.Array:
    """The slot memory after every step.

    Args:
      u: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`.
      time_major: layout of `u` and of the result.

    Returns:
      S, `(B, T, M, d)` (or `(T, B, M, d)`), float32 (at least).
    """
    return self._states(u, time_major)

  def __call__(self, u: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the layer over a whole sequence.

    Args:
      u: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`; any
        floating dtype.
      time_major: layout of `u` and of the output.

    Returns:
      y, same shape and dtype as `u`.

    Raises:
      ValueError: `u` is not rank 3, or its width differs from the
        parameters'; a chunk size that does not divide T.
      TypeError: `u` is not floating point.
    """
    x, slots = self._trace(u, time_major)  # [T, B, D], [T, B, M, d]
    y = self._read(x, slots)  # [T, B, D]
    if not time_major:
      y = y.swapaxes(0, 1)  # [B, T, D]
    return y.astype(u.dtype)

  def initial_state(self, batch_size: int,
                    width: int | None = None) -> RavenRSMState:
    """Empty slots: `s` of shape `(batch_size, M, d)`, float32.

    Args:
      batch_size: B.
      width: the input width D, which is the slot width d when
        `slot_dim=None` and no parameters exist yet.

    Raises:
      ValueError: a non-positive batch size, or `slot_dim=None` before the
        parameters exist and without `width` (the slot width is the input
        width, not yet known).
    """
    return RavenRSMState(s=self._zeros(batch_size, width))

  def step(self, u_t: jax.Array,
           state: RavenRSMState) -> tuple[jax.Array, RavenRSMState]:
    """Advances the memory by one step.

    Args:
      u_t: input at one step, `(B, D)`.
      state: the previous `RavenRSMState`.

    Returns:
      `(y_t, next_state)`, `y_t` of shape `(B, D)` in the dtype of `u_t`.

    Raises:
      ValueError: `u_t` is not rank 2, its width differs from the
        parameters', or `state.s` is not `(B, M, d)`.
      TypeError: `u_t` is not floating point.
    """
    self._check_state_for(u_t, state.s, "s")
    x, s = self._advance(u_t, state.s)
    y = self._read(x, s)  # [B, D]
    return y.astype(u_t.dtype), RavenRSMState(s=s.astype(state.s.dtype))


class SpikingSlotMemory(_SlotMemoryBase):
  """Routing-slot memory whose slots are reset-free spiking membranes.

  The spiking sibling of `RavenRSM`: the same `SlotRouter` and write, but
  every slot channel is a reset-free LIF membrane (`neurons.PSU_LIF`) that
  integrates only while its slot is routed:

    r_t = SlotRouter(u_t)                              (B, M)
    U_t = reshape(u_t W_u)                             (B, M, d)
    V_t = (1 - r_t) * V_{t-1} + r_t * (beta * V_{t-1} + U_t)
    s_t = H(V_t - threshold)                           surrogate gradient

  with `beta = sigmoid(raw_beta)` `(M, d)` and `V_0 = 0`. Sparse in time
  (spikes) and in slots (routing). An unrouted slot keeps its membrane, and
  therefore its spike, bit for bit; a dense router (`r = 1`) is a bank of
  always-driven PSU_LIF neurons. With no reset the membrane is the same
  affine recurrence as `RavenRSM`'s, so `__call__` uses `routed_scan` in
  `scan_mode` and `step` is its sequential reference; the spike is applied
  pointwise afterwards.

  Output: by default the slot spike train `(B, T, M, d)` (a spiking memory,
  to be read by whatever follows). With `readout=True` the layer also reads
  the spikes the way `RavenRSM` reads its slots, `y_t = (sum_m q_t[m]
  s_t[m]) W_o` with `q_t = softmax(u_t W_q)`, and returns `(B, T, D)` (the
  sequence-layer contract). Spikes are exactly 0/1 in the input dtype.

  Initialisation: `raw_beta = logit(beta_init)`; `w_u` (and `w_q`, `w_o`)
  and the router as in `RavenRSM`.

  Parameters: `raw_beta` `(M, d)`, `w_u` `(D, M, d)`, `router/w`,
  `router/b`, and with `readout` `w_q` `(D, M)`, `w_o` `(d, D)`.
  """

  _decay_name = "raw_beta"
  neuron_params = frozenset({"raw_beta"})

  def __init__(self,
               num_slots: int = 8,
               slot_dim: int | None = None,
               *,
               hard_top_k: int | None = None,
               beta_init: float = 0.9,
               threshold: float = 1.0,
               surrogate="fast_sigmoid",
               slope: float | None = None,
               readout: bool = False,
               scan_mode: str = "auto",
               chunk_size: int | None = None,
               name: str | None = None):
    """Constructs a spiking slot memory.

    Args:
      num_slots: M, the number of memory slots.
      slot_dim: d, the number of neurons per slot; None means the input
        width D.
      hard_top_k: None (soft router) or k in [1, M] (straight-through top-k).
      beta_init: initial membrane leak in (0, 1) of every neuron.
      threshold: firing threshold > 0.
      surrogate: surrogate gradient, a name from `ops.surrogate.SURROGATES`
        (default "fast_sigmoid" = SuperSpike) or a callable `v -> sigma'(v)`.
      slope: the surrogate's width parameter; None takes its default.
      readout: return the query-gated read `(B, T, D)` instead of the spike
        train `(B, T, M, d)` (adds `w_q` and `w_o`).
      scan_mode: `linear_scan` mode of `__call__`.
      chunk_size: chunk length for the chunked scan, or None.
      name: module name.

    Raises:
      ValueError: on a bad size, `hard_top_k`, `beta_init`, threshold,
        surrogate, scan mode or chunk size.
    """
    super().__init__(num_slots, slot_dim, hard_top_k, beta_init, "beta_init",
                     scan_mode, chunk_size, name)
    self.threshold = neuron_base.check_threshold(threshold)
    neuron_base.check_surrogate(surrogate)
    if slope is not None and (
        isinstance(slope, bool) or
        not isinstance(slope, (int, float, np.number)) or not slope > 0):
      raise ValueError(
          f"SpikingSlotMemory: `slope` must be None or a number > 0, got "
          f"{slope!r}.")
    self.surrogate = surrogate
    self.slope = slope
    self.readout = bool(readout)

  @property
  def beta_init(self) -> float:
    return self._decay_init

  def _fire(self, v: jax.Array) -> jax.Array:
    return surrogate_lib.spike(v - self.threshold, self.surrogate, self.slope)

  def membrane(self, u: jax.Array, *, time_major: bool = False) -> jax.Array:
    """The slot membranes after every step.

    Args:
      u: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`.
      time_major: layout of `u` and of the result.

    Returns:
      V, `(B, T, M, d)` (or `(T, B, M, d)`), float32 (at least).
    """
    return self._states(u, time_major)

  def __call__(self, u: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the memory over a whole sequence.

    Args:
      u: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`; any
        floating dtype.
      time_major: layout of `u` and of the output.

    Returns:
      Spikes `(B, T, M, d)` (time-major: `(T, B, M, d)`), or with `readout`
      y `(B, T, D)` (`(T, B, D)`); in the dtype of `u`.

    Raises:
      ValueError: `u` is not rank 3, or its width differs from the
        parameters'; a chunk size that does not divide T.
      TypeError: `u` is not floating point.
    """
    x, v = self._trace(u, time_major)  # [T, B, D], [T, B, M, d]
    spikes = self._fire(v)
    out = self._read(x, spikes) if self.readout else spikes  # [T, B, ...]
    if not time_major:
      out = out.swapaxes(0, 1)  # batch-major
    return out.astype(u.dtype)

  def initial_state(self, batch_size: int) -> SpikingSlotMemoryState:
    """Resting membranes: `v` of shape `(batch_size, M, d)`, float32.

    Raises:
      ValueError: a non-positive batch size, or `slot_dim=None` before the
        parameters exist.
    """
    return SpikingSlotMemoryState(v=self._zeros(batch_size))

  def step(self, u_t: jax.Array, state: SpikingSlotMemoryState
           ) -> tuple[jax.Array, SpikingSlotMemoryState]:
    """Advances the membranes by one step.

    Args:
      u_t: input at one step, `(B, D)`.
      state: the previous `SpikingSlotMemoryState`.

    Returns:
      `(out_t, next_state)`: spikes `(B, M, d)`, or with `readout` y_t
      `(B, D)`, in the dtype of `u_t`.

    Raises:
      ValueError: `u_t` is not rank 2, its width differs from the
        parameters', or `state.v` is not `(B, M, d)`.
      TypeError: `u_t` is not floating point.
    """
    self._check_state_for(u_t, state.v, "v")
    x, v = self._advance(u_t, state.v)
    spikes = self._fire(v)
    out = self._read(x, spikes) if self.readout else spikes  # [B, ...]
    return (out.astype(u_t.dtype),
            SpikingSlotMemoryState(v=v.astype(state.v.dtype)))


# ----------------------------------------------------------------------------
# Data.
# ----------------------------------------------------------------------------


def _is_prng_key(key) -> bool:
  if not hasattr(key, "dtype") or not hasattr(key, "shape"):
    return False
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key.shape == ()
  return key.dtype == jnp.uint32 and tuple(key.shape) == (2,)


def make_recall_batch(key: jax.Array,
                      *,
                      batch: int = 8,
                      n_pairs: int = 3,
                      n_keys: int = 8,
                      n_values: int = 8,
                      time_major: bool = False,
                      dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
  """A batch of single-query associative recall (MQAR-style) sequences.

  Each sequence presents `n_pairs` bindings `k_1 v_1 ... k_P v_P` (distinct
  keys from `n_keys`, values uniform from `n_values` with repeats), then one
  query, a uniformly chosen presented key, whose value is the target.
  `T = 2 n_pairs + 1`. Tokens are one-hot: key i is `e_i`, value j is
  `e_{n_keys + j}`, and the query reuses its key's code. The draw is
  `data.synthetic.make_mqar` (`num_queries=1`) on the host, seeded from
  `key` through `jax.pure_callback`, so the function runs under jit and in
  scans.

  Args:
    key: a JAX PRNG key.
    batch: number of sequences B.
    n_pairs: bindings per sequence, `1 <= n_pairs <= n_keys`.
    n_keys: key vocabulary size.
    n_values: value vocabulary size.
    time_major: return `u` as `(T, B, D)`.
    dtype: floating dtype of `u`.

  Returns:
    `(u, target)`: `u` `(B, T, n_keys + n_values)` one-hot in `dtype` (or
    `(T, B, ...)`), `target` `(B,)` int32 value ids.

  Raises:
    ValueError: a non-positive size, or `n_keys < n_pairs`.
    TypeError: `key` is not a PRNG key, or `dtype` is not floating.
  """
  owner = "make_recall_batch"
  if not _is_prng_key(key):
    raise TypeError(
        f"{owner}: `key` must be a JAX PRNG key (jax.random.key or "
        f"PRNGKey), got {getattr(key, 'dtype', type(key).__name__)} of shape "
        f"{getattr(key, 'shape', None)}.")
  batch = checks.check_int(owner, "batch", batch, 1)
  n_pairs = checks.check_int(owner, "n_pairs", n_pairs, 1)
  n_keys = checks.check_int(owner, "n_keys", n_keys, 1)
  n_values = checks.check_int(owner, "n_values", n_values, 1)
  if n_keys < n_pairs:
    raise ValueError(
        f"{owner}: the {n_pairs} keys of a sequence must be distinct, so "
        f"`n_keys` must be >= n_pairs={n_pairs}; got n_keys={n_keys}.")
  try:
    floating = jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
  except TypeError:
    floating = False
  if not floating:
    raise TypeError(
        f"{owner}: `dtype` must be a floating dtype, got {dtype!r}.")
  seq_len, vocab = 2 * n_pairs + 1, n_keys + n_values

  def draw(seed):
    rng = np.random.default_rng(np.asarray(seed).tolist())
    inputs, targets, _ = synthetic.make_mqar(
        rng, batch, seq_len=seq_len, vocab_size=vocab + 1,
        num_kv_pairs=n_pairs, random_non_queries=False, num_queries=1,
        num_keys=n_keys, distinct_values=False)
    # Drop the pad id the generator reserves (none occurs here).
    return inputs - 1, targets[:, -1] - (n_keys + 1)

  seed = jax.random.bits(key, (4,), jnp.uint32)
  tokens, target = jax.pure_callback(
      draw, (jax.ShapeDtypeStruct((batch, seq_len), jnp.int32),
             jax.ShapeDtypeStruct((batch,), jnp.int32)), seed,
      vmap_method="sequential")
  u = jax.nn.one_hot(tokens, vocab, dtype=dtype)  # [B, T, D]
  if time_major:
    u = u.swapaxes(0, 1)  # [T, B, D]
  return u, target
