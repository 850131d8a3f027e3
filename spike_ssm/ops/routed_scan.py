"""The routed slot recurrence of Raven, as one time-varying diagonal scan.

Raven (Afzal, Bick, Xing, Cevher & Gu, 2026, "High-recall sequence modeling
with sparse memory routing") writes, at every step, only the memory slots a
router selects. With gates `r_t` `(..., M)` in [0, 1], a static per-slot,
per-channel decay `a` `(M, d)` and writes `U_t` `(..., M, d)`:

    S_t = (1 - r_t) * S_{t-1} + r_t * (a * S_{t-1} + U_t)

(the reference implementation's diagonal decay `a * S` in place of the
paper's matrix sandwich `D_t S A_t`). The update is affine in the state,

    S_t = A_t * S_{t-1} + b_t,   A_t = (1 - r_t) + r_t * a,   b_t = r_t * U_t,

so a whole sequence is one `ops.scans.linear_scan` in any mode
(`routed_scan`), and `routed_step` is its sequential reference.

Exact shielding. Where `r_t[m] == 0` the coefficients are exactly `A = 1`,
`b = 0` (the gate multiplies, it is never subtracted from), so the sequential
scan and `routed_step` reproduce the slot bit for bit. The associative-scan
tree groups the products of the written steps differently for each output
position, so in parallel mode a slot held through an unrouted step can differ
from its previous value by float32 rounding (measured: about 1 in 10 held
slot-steps at T = 64 differ by an ulp); the chunked mode's fix-up was exact in
our measurements, but nothing guarantees it. `hold_unrouted` removes the
question for both: every output position is replaced by the scan output at
the slot's last routed step (one `cummax` over T and one gather of the
`(T, B, M, d)` trace), which is the identity in exact arithmetic and so is
differentiated as the identity. Shielding is therefore bit-exact in every
mode, and gradients (including the straight-through ones of a hard top-k
router, which flow into gates that are exactly 0) are those of the scan.

Routing helpers: `straight_through_top_k` (a hard top-k of soft gates with
the soft gates' gradient) and `query_read` (the softmax read over slots).
Pure JAX, never Haiku.
"""

import functools

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import scans


def top_k_mask(scores: jax.Array, k: int) -> jax.Array:
  """Boolean mask of exactly `k` largest entries along the last axis.

  Args:
    scores: `(..., M)`.
    k: number kept per row, `1 <= k <= M`. Ties go to the lower index
      (`lax.top_k`), so every row has exactly `k` True entries.

  Returns:
    bool, `(..., M)`.
  """
  m = scores.shape[-1]
  _, idx = lax.top_k(scores, k)  # [..., k], distinct indices per row
  return jnp.any(idx[..., :, None] == jnp.arange(m), axis=-2)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _straight_through(gates, scores, k):
  return jnp.where(top_k_mask(scores, k), gates, jnp.zeros_like(gates))


def _straight_through_fwd(gates, scores, k):
  return _straight_through(gates, scores, k), scores


def _straight_through_bwd(k, scores, g):
  del k
  # The soft gate's gradient everywhere, kept or not; ranking has none.
  return g, jnp.zeros_like(scores)


_straight_through.defvjp(_straight_through_fwd, _straight_through_bwd)


def straight_through_top_k(gates: jax.Array, k: int,
                           scores: jax.Array | None = None) -> jax.Array:
  """Hard top-k of soft gates with a straight-through gradient.

  Forward: the `k` gates with the largest `scores` (default: the gates
  themselves) keep their soft value, every other gate is exactly 0. Backward:
  the identity, i.e. the gradient of the soft gate, also for the gates that
  were zeroed (Bengio et al. 2013, arXiv:1308.3432).

  Kept gates keep their value rather than becoming 1 so that the gradient of
  a kept gate is its true gradient (only the selection is estimated), and a
  soft gate still sets how strongly a selected slot is overwritten.

  Args:
    gates: soft gates, `(..., M)`.
    k: gates kept per row, `1 <= k <= M`.
    scores: ranking scores of the same shape, e.g. the router logits, which
      break the ties of saturated sigmoids; not differentiated.

  Returns:
    `(..., M)`, exactly `k` entries per row equal to their gate, the rest 0.

  Raises:
    ValueError: `k` outside `[1, M]`, or `scores` of another shape.
  """
  gates = jnp.asarray(gates)
  m = gates.shape[-1] if gates.ndim else 0
  if (not isinstance(k, (int, np.integer)) or isinstance(k, bool) or
      not 1 <= k <= m):
    raise ValueError(
        f"straight_through_top_k: `k` must be an int in [1, M={m}] (M = "
        f"gates.shape[-1]), got {k!r}.")
  if scores is None:
    scores = gates
  elif tuple(scores.shape) != tuple(gates.shape):
    raise ValueError(
        f"straight_through_top_k: `scores` must have the shape of `gates` "
        f"{tuple(gates.shape)}, got {tuple(scores.shape)}.")
  return _straight_through(gates, lax.stop_gradient(scores), int(k))


def routed_transition(gates: jax.Array, decay: jax.Array,
                      writes: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Affine coefficients of the routed slot update `S <- A * S + b`.

  `A = (1 - r) + r * a` and `b = r * U`: for `r = 0` exactly `A = 1`,
  `b = 0` (no rounding), for `r = 1` exactly `A = a`, `b = U`.

  Args:
    gates: r, `(..., M)` in [0, 1].
    decay: a, broadcastable to `(M, d)`.
    writes: U, `(..., M, d)`.

  Returns:
    `(A, b)`, both `(..., M, d)`.
  """
  r = gates[..., None]
  return (1.0 - r) + r * decay, r * writes


def routed_step(gates: jax.Array, decay: jax.Array, writes: jax.Array,
                state: jax.Array) -> jax.Array:
  """One routed update `S_t = (1 - r) S + r (a S + U)`, `(B, M, d)`.

  Computed as `A * S + b` with `routed_transition`, the same arithmetic as
  `linear_scan`'s sequential mode, so the two agree bit for bit.
  """
  a_t, b_t = routed_transition(gates, decay, writes)
  return a_t * state + b_t


def _last_routed_index(unrouted: jax.Array) -> jax.Array:
  """`(T, ...)` int32: the last step <= t that was routed, -1 if none."""
  length = unrouted.shape[0]
  t = jnp.arange(length, dtype=jnp.int32).reshape(
      (length,) + (1,) * (unrouted.ndim - 1))
  return lax.cummax(jnp.where(unrouted, -1, t), axis=0)


@jax.custom_vjp
def _hold(h, h0, last):
  hh = jnp.concatenate([jnp.broadcast_to(h0, h.shape[1:])[None], h])
  return jnp.take_along_axis(hh, last[..., None] + 1, axis=0)


def _hold_fwd(h, h0, last):
  return _hold(h, h0, last), None


def _hold_bwd(res, g):
  del res
  # Identity on h: the hold only undoes rounding, and the gradient must reach
  # the gates of unrouted steps (straight-through top-k) through the scan.
  return g, None, None


_hold.defvjp(_hold_fwd, _hold_bwd)


def hold_unrouted(h: jax.Array, h0: jax.Array,
                  unrouted: jax.Array) -> jax.Array:
  """Makes unrouted slots bit-exact copies of their last routed value.

  Args:
    h: slot states from a scan, `(T, B, M, d)`.
    h0: state before the first step, broadcastable to `(B, M, d)`.
    unrouted: bool `(T, B, M)`, True where the gate was exactly 0.

  Returns:
    `(T, B, M, d)`: at routed steps `h` itself; at unrouted steps the value of
    `h` at the slot's last routed step (or `h0` before its first). Its
    gradient is the identity, exact because the two agree up to rounding.
  """
  h0 = jnp.asarray(h0, h.dtype)
  return _hold(h, h0, _last_routed_index(unrouted))


def routed_scan(gates: jax.Array,
                decay: jax.Array,
                writes: jax.Array,
                h0: jax.Array | None = None,
                *,
                mode: str = "auto",
                chunk_size: int | None = None) -> jax.Array:
  """All slot states of the routed recurrence, through `linear_scan`.

  Evaluates `S_t = (1 - r_t) S_{t-1} + r_t (a S_{t-1} + U_t)` as the
  time-varying diagonal recurrence `S_t = A_t S_{t-1} + b_t`
  (`routed_transition`). In the non-sequential modes `hold_unrouted` makes
  a slot whose gate is exactly 0 an exact copy of its previous value
  (module docstring: exact shielding).

  Args:
    gates: r, `(T, B, M)`.
    decay: a, broadcastable to `(M, d)`.
    writes: U, `(T, B, M, d)`.
    h0: initial slots `(B, M, d)`; default zeros.
    mode: "sequential", "parallel", "chunked" or "auto".
    chunk_size: chunk length for "chunked" (must divide T).

  Returns:
    S, `(T, B, M, d)`, in the result dtype of the inputs (float32 carry).
  """
  a, b = routed_transition(gates, decay, writes)
  h = scans.linear_scan(a, b, h0, mode=mode, chunk_size=chunk_size)
  resolved = scans.ScanMode(mode)
  if resolved == scans.ScanMode.AUTO:
    resolved = scans.auto_mode(b.shape[0])
  if resolved != scans.ScanMode.SEQUENTIAL and b.shape[0]:
    h = hold_unrouted(h, jnp.zeros((), h.dtype) if h0 is None else h0,
                      gates == 0)
  return h


def query_read(query_logits: jax.Array, slots: jax.Array) -> jax.Array:
  """Softmax-weighted read over slots, `sum_m softmax(q)[m] * slots[m]`.

  Args:
    query_logits: `(..., M)`.
    slots: `(..., M, d)`.

  Returns:
    `(..., d)`.
  """
  q = jax.nn.softmax(query_logits, axis=-1)
  return jnp.einsum("...m,...mk->...k", q, slots)
