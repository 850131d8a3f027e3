"""Train state, losses, and the pure train / eval step functions.

`make_train_step` returns `(TrainState, batch) -> (TrainState, metrics)`,
jitted once by the caller with explicit shardings and a donated state. The
per-step RNG is `fold_in(state.rng, state.step)`, so a resumed run draws the
same dropout masks as an uninterrupted one.

A step whose loss or gradients are not finite, or whose update would make
a parameter or an optimiser-state value non-finite (a learning rate large
enough to overflow), changes nothing but the counters: parameters, optimiser
state and model state keep their old values, `nonfinite_in_a_row` goes up by
one (and back to 0 on the next finite step), `skipped` counts them all. The
loop stops the run when the streak reaches `train.max_nonfinite_in_a_row`
and writes no checkpoint while the streak is above zero.
"""

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import optax

from spike_ssm.training import optim


class TrainState(NamedTuple):
  step: jax.Array                  # int32 scalar: updates applied or skipped
  params: hk.Params
  state: hk.State                  # Haiku state (norm statistics, rates)
  opt_state: optax.OptState
  loss_scale: jmp.LossScale
  rng: jax.Array                   # base PRNG key, folded with `step`
  nonfinite_in_a_row: jax.Array    # int32 scalar
  skipped: jax.Array               # int32 scalar


def spike_rate(state: hk.State) -> jax.Array | None:
  """Mean of every `spike_rate` entry in the Haiku state (None if none)."""
  rates = [v["spike_rate"] for v in state.values() if "spike_rate" in v]
  if not rates:
    return None
  return jnp.mean(jnp.stack([jnp.asarray(r, jnp.float32) for r in rates]))


def task_loss(outputs: jax.Array, batch: Mapping[str, jax.Array],
              target_kind: str) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Weighted mean loss and summable metric sums for one batch.

  Returns:
    (loss, sums) where `sums` holds `loss_sum`, `count` and, for class and
    sequence targets, `correct` (weights / target masks applied), so eval
    metrics over many batches are exact ratios of sums.
  """
  outputs = outputs.astype(jnp.float32)
  weights = batch.get("weights")
  targets = batch["targets"]
  if weights is None:
    weights = jnp.ones(targets.shape[:1], jnp.float32)
  if target_kind == "class":
    losses = optax.softmax_cross_entropy_with_integer_labels(outputs, targets)
    correct = (jnp.argmax(outputs, -1) == targets).astype(jnp.float32)
    w = weights
  elif target_kind == "sequence":
    losses = optax.softmax_cross_entropy_with_integer_labels(outputs, targets)
    correct = (jnp.argmax(outputs, -1) == targets).astype(jnp.float32)
    w = weights[:, None] * batch["target_mask"].astype(jnp.float32)
  elif target_kind == "regression":
    losses = jnp.square(outputs - targets.astype(jnp.float32))
    correct = None
    w = weights
  else:
    raise ValueError(f"unknown target_kind {target_kind!r}.")
  count = jnp.sum(w)
  loss_sum = jnp.sum(losses * w)
  sums = {"loss_sum": loss_sum, "count": count}
  if correct is not None:
    sums["correct"] = jnp.sum(correct * w)
  return loss_sum / jnp.maximum(count, 1.0), sums


def make_train_step(
    apply_fn: Callable[..., tuple[jax.Array, hk.State]],
    optimizer: optax.GradientTransformation,
    *,
    target_kind: str,
    l2_penalty: float = 0.0,
    labels: Mapping[str, Any] | None = None,
) -> Callable[[TrainState, Mapping[str, jax.Array]], tuple[TrainState, dict]]:
  """Builds the pure train step (see module docstring).

  Args:
    apply_fn: `hk.transform_with_state(...).apply`, called as
      `apply_fn(params, state, rng, batch, is_training=True)`.
    optimizer: from `optim.make_optimizer`.
    target_kind: "class", "sequence" or "regression".
    l2_penalty: coefficient of an extra L2 term on the `default` group.
    labels: parameter labels (required when `l2_penalty > 0`).
  """
  if l2_penalty and labels is None:
    raise ValueError("labels are required for an l2_penalty.")

  def loss_fn(params, state, batch, rng, loss_scale):
    outputs, new_state = apply_fn(params, state, rng, batch, is_training=True)
    loss, sums = task_loss(outputs, batch, target_kind)
    total = loss
    if l2_penalty:
      total = total + l2_penalty * optim.l2_penalty(params, labels)
    return loss_scale.scale(total), (loss, new_state, sums)

  def train_step(ts: TrainState, batch):
    rng = jax.random.fold_in(ts.rng, ts.step)
    grads, (loss, new_state, sums) = jax.grad(loss_fn, has_aux=True)(
        ts.params, ts.state, batch, rng, ts.loss_scale)
    grads = ts.loss_scale.unscale(grads)
    grads_finite = jnp.isfinite(loss) & jmp.all_finite(grads)
    updates, new_opt_state = optimizer.update(grads, ts.opt_state, ts.params)
    new_params = optax.apply_updates(ts.params, updates)
    # Finite gradients can still overflow the parameters or Adam's moments
    # (e.g. lr=inf); such an update is skipped like a non-finite gradient.
    update_finite = jmp.all_finite(new_params) & jmp.all_finite(new_opt_state)
    finite = grads_finite & update_finite
    keep = lambda new, old: jmp.select_tree(finite, new, old)
    grad_norm = optax.tree.norm(grads)
    new_ts = TrainState(
        step=ts.step + 1,
        params=keep(new_params, ts.params),
        state=keep(new_state, ts.state),
        opt_state=keep(new_opt_state, ts.opt_state),
        # The loss scale reacts to gradient overflow only (what it controls).
        loss_scale=ts.loss_scale.adjust(grads_finite),
        rng=ts.rng,
        nonfinite_in_a_row=jnp.where(finite, 0, ts.nonfinite_in_a_row + 1),
        skipped=ts.skipped + (~finite).astype(jnp.int32),
    )
    metrics = {
        "loss": loss,
        "grad_norm": grad_norm,
        "finite": finite,
        "update_finite": update_finite,
        "nonfinite_in_a_row": new_ts.nonfinite_in_a_row,
        **sums,
    }
    rate = spike_rate(new_state)
    if rate is not None:
      metrics["spike_rate"] = rate
    return new_ts, metrics

  return train_step


def make_eval_step(apply_fn, *, target_kind: str):
  """`(params, state, batch) -> sums` with the model in evaluation mode."""

  def eval_step(params, state, batch):
    outputs, new_state = apply_fn(params, state, None, batch,
                                  is_training=False)
    _, sums = task_loss(outputs, batch, target_kind)
    rate = spike_rate(new_state)
    if rate is not None:
      # Weighted by examples so that the ratio over batches is exact.
      sums["spike_rate_sum"] = rate * jnp.sum(batch["weights"])
      sums["examples"] = jnp.sum(batch["weights"])
    return sums

  return eval_step
