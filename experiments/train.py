"""The training loop: `run(config, workdir)`.

Reads top to bottom: setup -> mesh -> data -> model/optimiser -> shardings ->
steps -> restore -> evaluation -> loop -> summary. Restarting the same
command in the same workdir resumes exactly from the newest complete
checkpoint (parameters, optimiser, RNG, data position, best score).
"""

from collections.abc import Mapping
import json
import math
import pathlib
import time
from typing import Any

from absl import logging
import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from spike_ssm import config_lib
from spike_ssm import data as data_lib
from spike_ssm import zoo
from spike_ssm.models import backbone as backbone_lib
from spike_ssm.training import checkpoint as ckpt_lib
from spike_ssm.training import optim
from spike_ssm.training import precision
from spike_ssm.training import sharding
from spike_ssm.training import step as step_lib
from spike_ssm.training import writers as writers_lib


class NonFiniteError(RuntimeError):
  """Raised when too many consecutive steps had non-finite loss/gradients."""


def build_model(config: ml_collections.ConfigDict,
                spec: Any) -> hk.TransformedWithState:
  """The Haiku model for `config.model` on a task with `spec`."""
  m = config.model
  backbone_kwargs = dict(
      layer=zoo.layer_factory(m.layer, **m.layer_kwargs.to_dict()),
      num_layers=m.num_layers, width=m.width, norm=m.norm, prenorm=m.prenorm,
      glu=m.glu, dropout=m.dropout,
      neuron=zoo.neuron_factory(**m.neuron.to_dict()))

  def forward(batch, is_training):
    model = backbone_lib.SequenceModel(
        num_classes=spec.num_classes, input_kind=spec.kind,
        vocab_size=spec.vocab_size, target_kind=spec.target_kind,
        dual=spec.dual, pooling=m.pooling, positions=m.positions,
        max_len=spec.seq_len, backbone=backbone_kwargs,
        quantize=m.quantize)
    return model(batch, is_training=is_training)

  return hk.transform_with_state(forward)


def _summarise(sums: Mapping[str, float], target_kind: str) -> dict[str, float]:
  count = max(float(sums["count"]), 1.0)
  out = {"loss": float(sums["loss_sum"]) / count}
  if "correct" in sums:
    out["accuracy"] = float(sums["correct"]) / count
  if "spike_rate_sum" in sums:
    out["spike_rate"] = float(sums["spike_rate_sum"]) / max(
        float(sums["examples"]), 1.0)
  del target_kind
  return out


def _score(metrics: Mapping[str, float]) -> float:
  """Higher is better: accuracy where defined, else minus the loss."""
  return metrics.get("accuracy", -metrics["loss"])


def majority_baseline(task) -> float | None:
  """Test accuracy of always predicting the most common training class."""
  if task.spec.target_kind != "class":
    return None
  train_targets = np.asarray(task.train.targets)
  majority = np.bincount(train_targets).argmax()
  return float(np.mean(np.asarray(task.test.targets) == majority))


def run(config: ml_collections.ConfigDict,
        workdir: str,
        *,
        stop_after_steps: int | None = None) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming if it holds a checkpoint).

  Args:
    config: a validated training config (see `spike_ssm.config_lib`).
    workdir: checkpoints, metrics and the summary go here.
    stop_after_steps: leave after this many steps of this invocation, with a
      checkpoint, as a preemptible job would; running again resumes.

  Returns:
    The summary dict also written to `workdir/summary.json` (for a stopped
    run, `{"stopped_at": step}`).
  """
  config_lib.validate(config)
  if stop_after_steps is not None and stop_after_steps < 1:
    raise ValueError(
        f"stop_after_steps must be >= 1, got {stop_after_steps}.")
  with precision.installed(config.precision):
    return _run(config, pathlib.Path(workdir), stop_after_steps)


def _run(config, workdir: pathlib.Path,
         stop_after_steps: int | None) -> dict[str, Any]:
  # ------------------------------------------------------------------ setup
  is_main = jax.process_index() == 0
  workdir.mkdir(parents=True, exist_ok=True)
  if is_main:
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=1))
  tcfg = config.train

  # ------------------------------------------------------------------- mesh
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.data.global_batch_size, mesh)
  eval_batch_size = config.data.eval_batch_size or config.data.global_batch_size
  sharding.check_batch_size(eval_batch_size, mesh)

  # ------------------------------------------------------------------- data
  task = zoo.get_task(
      config.data.task, root=config.data.root,
      cache_dir=config.data.cache_dir, seed=config.seed,
      **config.data.options.to_dict())
  spec = task.spec
  train_iter = data_lib.TrainIterator(
      task.train, config.data.global_batch_size, seed=config.seed,
      process_index=jax.process_index(), process_count=jax.process_count())
  steps_per_epoch = len(task.train.targets) // config.data.global_batch_size
  if steps_per_epoch < 1:
    raise ValueError(
        f"The training split has {len(task.train.targets)} examples, fewer "
        f"than data.global_batch_size={config.data.global_batch_size}.")
  total_steps = (tcfg.num_steps if tcfg.num_steps is not None else
                 tcfg.num_epochs * steps_per_epoch)

  # ------------------------------------------------------ model / optimiser
  model = build_model(config, spec)
  example = sharding.global_batch(
      _first_rows(task.train, config.data.global_batch_size // 
                  jax.process_count()), mesh)
  rng = jax.random.PRNGKey(config.seed)
  init_rng, train_rng = jax.random.split(rng)
  abstract_vars, owners = optim.param_owners(model.init, init_rng, example,
                                             is_training=True)
  labels = optim.label_params(
      abstract_vars[0], owners,
      ssm_b_in_ssm_group=config.optim.ssm_b_in_ssm_group)
  optimizer = optim.make_optimizer(config.optim, total_steps, labels)

  def init_state(r, b) -> step_lib.TrainState:
    params, state = model.init(r, b, is_training=True)
    return step_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=params, state=state,
        opt_state=optimizer.init(params),
        loss_scale=precision.loss_scale(config.precision.loss_scale),
        rng=train_rng, nonfinite_in_a_row=jnp.zeros((), jnp.int32),
        skipped=jnp.zeros((), jnp.int32))

  # -------------------------------------------------------------- shardings
  repl = sharding.replicated(mesh)
  batch_sh = sharding.batch_sharding(mesh)
  ts = jax.jit(init_state, out_shardings=repl)(init_rng, example)
  num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(ts.params))

  # ------------------------------------------------------------------ steps
  train_step = jax.jit(
      step_lib.make_train_step(model.apply, optimizer,
                               target_kind=spec.target_kind,
                               l2_penalty=config.optim.l2_penalty,
                               labels=labels),
      in_shardings=(repl, batch_sh), out_shardings=(repl, repl),
      donate_argnums=0)
  eval_step = jax.jit(
      step_lib.make_eval_step(model.apply, target_kind=spec.target_kind),
      in_shardings=(repl, repl, batch_sh), out_shardings=repl)

  # ---------------------------------------------------------------- restore
  ckpt = ckpt_lib.Checkpointer(workdir, keep=tcfg.keep_checkpoints)
  for path in ckpt.set_aside:
    logging.warning("Ignoring incomplete checkpoint, moved to %s", path)
  book = {"best_score": None, "best_step": None, "best": None,
          "evals": []}
  restored = ckpt.restore_latest(ckpt_lib.abstract(ts))
  if restored is not None:
    ts, meta = restored
    train_iter.restore(meta["data"])
    book = meta["book"]
    logging.info("Resumed from step %d.", int(ts.step))

  # -------------------------------------------------------- writers / evals
  writers = []
  if is_main:
    _truncate_metrics(workdir / "metrics.jsonl", int(ts.step))
    writers = [writers_lib.JsonlWriter(workdir / "metrics.jsonl"),
               writers_lib.TensorBoardWriter(workdir / "tensorboard")]
  progress = writers_lib.ConsoleProgress(total_steps, bar=tcfg.progress_bar)
  tokens_per_step = config.data.global_batch_size * spec.seq_len * (
      2 if spec.dual else 1)

  def write(step, scalars):
    for w in writers:
      w.write(step, scalars)

  def evaluate(split) -> dict[str, float]:
    totals = None
    for local in data_lib.eval_batches(
        split, eval_batch_size, process_index=jax.process_index(),
        process_count=jax.process_count()):
      sums = eval_step(ts.params, ts.state, sharding.global_batch(local, mesh))
      totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    return _summarise(jax.device_get(totals), spec.target_kind)

  def evaluate_and_save(step: int, final: bool) -> None:
    val = evaluate(task.validation)
    test = evaluate(task.test)
    scalars = {f"validation/{k}": v for k, v in val.items()}
    scalars.update({f"test/{k}": v for k, v in test.items()})
    write(step, scalars)
    score = _score(val)
    improved = book["best_score"] is None or score > book["best_score"]
    if improved:
      book.update(best_score=score, best_step=step,
                  best={"validation": val, "test": test})
    book["evals"].append({"step": step, "validation": val, "test": test})
    progress.message(
        f"eval @ {step}: " + "  ".join(
            f"{k} {v:.4f}" for k, v in scalars.items()) +
        ("  (best)" if improved else ""))
    ckpt.save(step, ts, {"data": train_iter.state(), "book": book},
              score=score if improved else None)
    if final:
      ckpt.wait()

  # ------------------------------------------------------------------- loop
  start = int(ts.step)
  if is_main and start == 0:
    progress.message(
        f"Training {config.model.layer} x{config.model.num_layers} "
        f"(width {config.model.width}, {num_params:,} parameters) on "
        f"{spec.name} for {total_steps} steps, {jax.device_count()} device(s)"
        f", {jax.process_count()} process(es).")
  pending = []
  t_start = time.perf_counter()
  step = start
  while step < total_steps:
    with jax.profiler.StepTraceAnnotation("train", step_num=step):
      batch = sharding.global_batch(next(train_iter), mesh)
      ts, metrics = train_step(ts, batch)
    step += 1
    pending.append((step, metrics))
    boundary = (step % tcfg.log_every == 0 or step == total_steps or
                step % tcfg.eval_every == 0 or step % tcfg.ckpt_every == 0 or
                (stop_after_steps is not None and
                 step - start >= stop_after_steps))
    if not boundary:
      continue
    host = jax.device_get(pending)
    pending = []
    for s, m in host:
      streak = m["nonfinite_in_a_row"]
      if int(streak) >= tcfg.max_nonfinite_in_a_row:
        ckpt.wait()
        raise NonFiniteError(
            f"Loss or gradients were non-finite for {int(streak)} steps in a "
            f"row, ending at step {s} (train.max_nonfinite_in_a_row="
            f"{tcfg.max_nonfinite_in_a_row}); the updates were skipped, the "
            f"last good checkpoint is in {workdir / 'checkpoints'}.")
    if step % tcfg.log_every == 0 or step == total_steps:
      sums = {k: sum(float(m[k]) for _, m in host) for k in
              ("loss_sum", "count", "correct") if k in host[0][1]}
      scalars = _summarise(sums, spec.target_kind)
      finite = [m for _, m in host if bool(m["finite"])]
      if finite and "spike_rate" in finite[0]:
        scalars["spike_rate"] = float(np.mean([m["spike_rate"] for m in finite]))
      scalars["grad_norm"] = float(np.mean([m["grad_norm"] for m in finite])) if finite else math.nan
      scalars["skipped"] = float(int(jax.device_get(ts.skipped)))
      rates = progress.report(step, scalars, tokens_per_step=tokens_per_step)
      write(step, {**{f"train/{k}": v for k, v in scalars.items()}, **rates})
    if step % tcfg.eval_every == 0 or step == total_steps:
      evaluate_and_save(step, final=step == total_steps)
    elif step % tcfg.ckpt_every == 0:
      ckpt.save(step, ts, {"data": train_iter.state(), "book": book})
    if stop_after_steps is not None and step - start >= stop_after_steps and (
        step < total_steps):
      ckpt.save(step, ts, {"data": train_iter.state(), "book": book})
      ckpt.wait()
      ckpt.close()
      for w in writers:
        w.close()
      progress.message(f"Stopped after step {step}; run again to resume.")
      return {"stopped_at": step}

  # ---------------------------------------------------------------- summary
  ckpt.wait()
  ckpt.close()
  baseline = majority_baseline(task)
  summary = {
      "task": spec.name,
      "layer": config.model.layer,
      "steps": total_steps,
      "num_params": num_params,
      "seconds": time.perf_counter() - t_start,
      "best_step": book["best_step"],
      "validation_at_best": (book["best"] or {}).get("validation"),
      "test_at_best": (book["best"] or {}).get("test"),
      "final": book["evals"][-1] if book["evals"] else None,
      "majority_baseline": baseline,
      "skipped_steps": int(jax.device_get(ts.skipped)),
  }
  if is_main:
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1))
    for w in writers:
      w.close()
    if tcfg.plot:
      writers_lib.plot_curves(writers_lib.read_jsonl(workdir / "metrics.jsonl"),
                              workdir / "curves.png")
    best = summary["test_at_best"] or {}
    line = (f"Done. Test at best validation step {book['best_step']}: " +
            "  ".join(f"{k} {v:.4f}" for k, v in best.items()))
    if baseline is not None:
      line += f"  (majority-class baseline {baseline:.4f})"
    progress.message(line)
  return summary


def _truncate_metrics(path: pathlib.Path, last_step: int) -> None:
  """Drops rows logged after `last_step` (work a resumed run will redo)."""
  if not path.exists():
    return
  rows = writers_lib.read_jsonl(path)
  keep = [r for r in rows if r["step"] <= last_step]
  if len(keep) != len(rows):
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
    tmp.replace(path)


def _first_rows(split, n: int) -> dict[str, np.ndarray]:
  """The first `n` rows of a split as a batch dict (for shapes at init)."""
  batch = {"inputs": split.inputs[:n], "lengths": split.lengths[:n],
           "targets": split.targets[:n],
           "weights": np.ones((n,), np.float32)}
  if split.target_mask is not None:
    batch["target_mask"] = split.target_mask[:n]
  if split.inputs2 is not None:
    batch["inputs2"] = split.inputs2[:n]
    batch["lengths2"] = split.lengths2[:n]
  return batch
