"""The training loop: `run(config, workdir)`.

Reads top to bottom: checks -> lock -> config fingerprint -> mesh -> data ->
model/optimiser -> shardings -> steps -> restore -> evaluation -> loop ->
summary. Restarting the same command in the same workdir resumes exactly
from the newest good checkpoint (parameters, optimiser, RNG, data position,
best score).

Nothing a run wrote is lost or corrupted on the way: the config is checked
before any data is loaded (`experiments.preflight`); one process holds the
workdir (`training.lock`); a changed config is refused unless allowed
(`training.config_guard`), and `config.json` is written only once the
restore succeeded; checkpoints are verified on restore and damaged ones set
aside (`training.checkpoint`); a failed save stops the run at the next
logging step; SIGTERM / SIGINT save the current step (`training.
preemption`); no checkpoint is written while steps are non-finite.
"""

from collections.abc import Callable, Mapping
import contextlib
import json
import math
import pathlib
import time
from typing import Any, NamedTuple

from absl import logging
import haiku as hk
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import preflight
from spike_ssm import config_lib
from spike_ssm import data as data_lib
from spike_ssm import zoo
from spike_ssm.models import backbone as backbone_lib
from spike_ssm.training import checkpoint as ckpt_lib
from spike_ssm.training import config_guard
from spike_ssm.training import lock as lock_lib
from spike_ssm.training import optim
from spike_ssm.training import precision
from spike_ssm.training import preemption
from spike_ssm.training import sharding
from spike_ssm.training import step as step_lib
from spike_ssm.training import writers as writers_lib


class NonFiniteError(RuntimeError):
  """Too many consecutive steps were non-finite (loss, gradients, update)."""


def model_options(config: ml_collections.ConfigDict
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
  """`config.model`'s model options split as `zoo.model_kwargs` does.

  Returns:
    `(SequenceModel kwargs, SequenceBackbone kwargs)` of every key of
    `zoo.model_options()` (`pooling`, `token_encoder`, `bn_momentum`, ...).

  Raises:
    ValueError: `config.model` lacks one of them (naming it).
  """
  m = config.model
  missing = sorted(k for k in zoo.model_options() if k not in m)
  if missing:
    raise ValueError(f"config.model is missing the model option(s) "
                     f"{missing} (config_lib.base_config has them).")
  return zoo.model_kwargs(**{k: m[k] for k in zoo.model_options()})


def build_model(config: ml_collections.ConfigDict,
                spec: Any) -> hk.TransformedWithState:
  """The Haiku model for `config.model` on a task with `spec`."""
  m = config.model
  # The model options (encoder, blocks, pooling), each to the constructor
  # that takes it; the layer's own options travel in `layer_kwargs`.
  model_kwargs, backbone_options = model_options(config)
  backbone_kwargs = dict(
      layer=zoo.layer_factory(m.layer, **m.layer_kwargs.to_dict()),
      num_layers=m.num_layers, width=m.width,
      neuron=zoo.neuron_factory(**m.neuron.to_dict()), **backbone_options)

  def forward(batch, is_training):
    model = backbone_lib.SequenceModel(
        num_classes=spec.num_classes, input_kind=spec.kind,
        vocab_size=spec.vocab_size, target_kind=spec.target_kind,
        dual=spec.dual, max_len=spec.seq_len, backbone=backbone_kwargs,
        quantize=m.quantize, **model_kwargs)
    return model(batch, is_training=is_training)

  return hk.transform_with_state(forward)


class Steps(NamedTuple):
  """What a run compiles, before any sharding or `jax.jit`.

  Attributes:
    model: the transformed model (`build_model`).
    labels: the optimiser group of every parameter.
    init_state: `(rng, batch) -> TrainState` at step 0.
    train_step: `(TrainState, batch) -> (TrainState, metrics)`.
    eval_step: `(params, state, batch) -> sums` (`step.make_eval_step`).
  """
  model: hk.TransformedWithState
  labels: Any
  init_state: Callable[..., step_lib.TrainState]
  train_step: Callable[..., Any]
  eval_step: Callable[..., Any]


def build_steps(config: ml_collections.ConfigDict, spec: Any,
                example: Mapping[str, Any], total_steps: int,
                train_rng: jax.Array, *,
                steps_per_epoch: int | None = None) -> Steps:
  """The model, optimiser groups and step functions of `config`.

  Args:
    config: a validated training config.
    spec: the task's `TaskSpec`.
    example: a training batch (arrays or `jax.ShapeDtypeStruct`s) whose
      shapes the parameters are read from.
    total_steps: the run's length (the schedule's unless
      `config.optim.schedule_steps` is set).
    train_rng: the training key the state carries.
    steps_per_epoch: steps of one epoch, `len(train) // global_batch_size`
      (needed when `config.optim.warmup_epochs` is set).

  Raises:
    ValueError: an unknown `config.optim.grouping` (listing the valid
      names) or bad warmup / schedule keys, naming the key.

  Returns:
    `Steps`; `jax.eval_shape` of its functions traces a whole training step
    without compiling it (tests/training/train_test.py does).
  """
  groups = optim.config_groups(config.optim)  # Fails before any tracing.
  optim.schedules(config.optim, total_steps, steps_per_epoch)
  model = build_model(config, spec)
  init_rng = jax.random.PRNGKey(0)  # Only shapes are read here.
  abstract_vars, owners = optim.param_owners(model.init, init_rng, example,
                                             is_training=True)
  labels = optim.label_params(abstract_vars[0], owners, groups=groups)
  optimizer = optim.make_optimizer(config.optim, total_steps, labels,
                                   steps_per_epoch=steps_per_epoch)

  def init_state(r, b) -> step_lib.TrainState:
    params, state = model.init(r, b, is_training=True)
    return step_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=params, state=state,
        opt_state=optimizer.init(params),
        loss_scale=precision.loss_scale(config.precision.loss_scale),
        rng=train_rng, nonfinite_in_a_row=jnp.zeros((), jnp.int32),
        skipped=jnp.zeros((), jnp.int32))

  train_step = step_lib.make_train_step(
      model.apply, optimizer, target_kind=spec.target_kind,
      l2_penalty=config.optim.l2_penalty, labels=labels)
  eval_step = step_lib.make_eval_step(model.apply,
                                      target_kind=spec.target_kind)
  return Steps(model, labels, init_state, train_step, eval_step)


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
        stop_after_steps: int | None = None,
        allow_config_change: bool = False) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming if it holds a checkpoint).

  Args:
    config: a validated training config (see `spike_ssm.config_lib`).
    workdir: checkpoints, metrics and the summary go here.
    stop_after_steps: leave after this many steps of this invocation, with a
      checkpoint, as a preemptible job would; running again resumes.
    allow_config_change: resume even if `config` differs from the one the
      workdir was trained with (each version is kept as
      `config.step_<N>.json`). Changes of the model's shape are refused
      regardless.

  Returns:
    The summary dict also written to `workdir/summary.json`; for a run that
    stopped early, `{"stopped_at": step}` (plus `"signal": name` when a
    SIGTERM / SIGINT stopped it).

  Raises:
    ValueError, TypeError: a bad config (one line naming the key), a config
      change that is not allowed (`config_guard.ConfigChangeError`), a
      checkpoint of another model shape.
    lock.LockError: another process is training in `workdir`.
    checkpoint.CheckpointSaveError: a checkpoint could not be written.
    NonFiniteError: too many non-finite steps in a row.
    OSError: the workdir cannot be written.
  """
  config_lib.validate(config)
  if stop_after_steps is not None and stop_after_steps < 1:
    raise ValueError(
        f"stop_after_steps must be >= 1, got {stop_after_steps}.")
  # Names, sizes and module arguments, before any data is loaded.
  preflight.check(config)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  with contextlib.ExitStack() as stack:
    if jax.process_index() == 0:
      # One run per workdir (on several hosts, process 0 speaks for all).
      stack.enter_context(lock_lib.WorkdirLock(workdir))
    stack.enter_context(precision.installed(config.precision))
    return _run(config, workdir, stop_after_steps, allow_config_change)


def _run(config, workdir: pathlib.Path, stop_after_steps: int | None,
         allow_config_change: bool) -> dict[str, Any]:
  # Compared before anything is loaded; written only once restored.
  config_json = json.loads(config.to_json_best_effort())
  changes = []
  if ckpt_lib.has_complete_steps(workdir):
    changes = config_guard.check(workdir, config_json,
                                 allow_change=allow_config_change)
  # What _train opens is closed here, whichever way it leaves.
  opened = []
  try:
    result = _train(config, workdir, stop_after_steps, config_json, changes,
                    opened)
  except BaseException:
    # Flush what was logged and let good saves in flight finish; the error
    # that got us here is the one to report.
    for resource in reversed(opened):
      try:
        resource.close()
      except Exception:  # pylint: disable=broad-exception-caught
        pass
    raise
  for resource in reversed(opened):
    resource.close()
  return result


def _train(config, workdir, stop_after_steps, config_json, changes,
           opened) -> dict[str, Any]:
  # ------------------------------------------------------------------ setup
  is_main = jax.process_index() == 0
  tcfg = config.train
  progress = writers_lib.ConsoleProgress(1, bar=tcfg.progress_bar)

  # ------------------------------------------------------------------- mesh
  mesh = sharding.make_mesh()
  eval_batch_size = config.data.eval_batch_size or config.data.global_batch_size

  # ------------------------------------------------------------------- data
  options, dropped = preflight.data_options(config)
  if dropped:
    _warn(f"config.data.root is set, so the generator options {dropped} are "
          "ignored: the official files fix them.")
  task = zoo.get_task(
      config.data.task, root=config.data.root,
      cache_dir=config.data.cache_dir, seed=config.seed, **options)
  preflight.check_splits(task, config)
  spec = task.spec
  train_iter = data_lib.TrainIterator(
      task.train, config.data.global_batch_size, seed=config.seed,
      process_index=jax.process_index(), process_count=jax.process_count())
  steps_per_epoch = len(task.train.targets) // config.data.global_batch_size
  total_steps = (tcfg.num_steps if tcfg.num_steps is not None else
                 tcfg.num_epochs * steps_per_epoch)
  preflight.check_schedules(config, total_steps, steps_per_epoch)
  progress.total = total_steps

  # ------------------------------------------------------ model / optimiser
  example = sharding.global_batch(
      first_rows(task.train, config.data.global_batch_size //
                  jax.process_count()), mesh)
  init_rng, train_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  steps = build_steps(config, spec, example, total_steps, train_rng,
                      steps_per_epoch=steps_per_epoch)

  # -------------------------------------------------------------- shardings
  repl = sharding.replicated(mesh)
  batch_sh = sharding.batch_sharding(mesh)
  ts = jax.jit(steps.init_state, out_shardings=repl)(init_rng, example)
  num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(ts.params))

  # ------------------------------------------------------------------ steps
  train_step = jax.jit(steps.train_step, in_shardings=(repl, batch_sh),
                       out_shardings=(repl, repl), donate_argnums=0)
  eval_step = jax.jit(steps.eval_step, in_shardings=(repl, repl, batch_sh),
                      out_shardings=repl)

  # ---------------------------------------------------------------- restore
  ckpt = ckpt_lib.Checkpointer(workdir, keep=tcfg.keep_checkpoints,
                               warn=_warn)
  opened.append(ckpt)
  for path in ckpt.set_aside:
    _warn(f"Ignoring an unfinished checkpoint; moved it to {path}.")
  book = {"best_score": None, "best_step": None, "best": None,
          "evals": []}
  abstract_ts = ckpt_lib.abstract(ts)
  had_checkpoints = ckpt.latest_step() is not None
  try:
    restored = ckpt.restore_latest(abstract_ts)
  except ckpt_lib.IncompatibleCheckpointError as e:
    keys = "; ".join(c.split(":")[0] for c in changes) or "none"
    raise config_guard.ConfigChangeError(
        f"{e} The model's shape changed (changed config keys: {keys}), which "
        "no resume can bridge, not even with --allow_config_change: use a new "
        "workdir.") from None
  start_meta = None
  if restored is not None:
    ts, start_meta = restored
    train_iter.restore(start_meta["data"])
    book = start_meta["book"]
  elif had_checkpoints:
    _warn(f"No usable checkpoint is left in {workdir / 'checkpoints'} (the "
          "damaged ones were set aside); training starts from step 0.")
  start = int(ts.step)
  if is_main:
    config_guard.record(workdir, config_json, start_step=start,
                        changed=bool(changes))
  if restored is not None:
    _repair_best(ckpt, ts, start_meta, book, start, abstract_ts)

  # -------------------------------------------------------- writers / evals
  if is_main:
    writers_lib.truncate_jsonl(workdir / "metrics.jsonl", start)
    tb_dir = workdir / "tensorboard"
    # Events of steps this run redoes are hidden by a restart marker (see
    # writers.TensorBoardWriter); the JSONL rows were cut back above.
    replaying = tb_dir.is_dir() and any(tb_dir.glob("events.out.tfevents.*"))
    writers = [writers_lib.JsonlWriter(workdir / "metrics.jsonl"),
               writers_lib.TensorBoardWriter(
                   tb_dir, purge_step=start + 1 if replaying else None)]
    opened.extend(writers)
  else:
    writers = []
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

  def save(step: int, streak: int, score: float | None = None) -> None:
    if streak:
      # Skipped updates leave the parameters at their last finite values,
      # but a diverging run should not replace its good checkpoints.
      progress.message(f"Not saving step {step}: the last {streak} step(s) "
                       "were non-finite.")
      return
    ckpt.save(step, ts, {"data": train_iter.state(), "book": book},
              score=score)

  def evaluate_and_save(step: int, streak: int) -> None:
    val = evaluate(task.validation)
    test = evaluate(task.test)
    scalars = {f"validation/{k}": v for k, v in val.items()}
    scalars.update({f"test/{k}": v for k, v in test.items()})
    write(step, scalars)
    score = _score(val)
    improved = not streak and (book["best_score"] is None or
                                score > book["best_score"])
    if improved:
      book.update(best_score=score, best_step=step,
                  best={"validation": val, "test": test})
    book["evals"].append({"step": step, "validation": val, "test": test})
    progress.message(
        f"eval @ {step}: " + "  ".join(
            f"{k} {v:.4f}" for k, v in scalars.items()) +
        ("  (best)" if improved else ""))
    save(step, streak, score=score if improved else None)

  # ------------------------------------------------------------------- loop
  if is_main and start == 0:
    progress.message(
        f"Training {config.model.layer} x{config.model.num_layers} "
        f"(width {config.model.width}, {num_params:,} parameters) on "
        f"{spec.name} for {total_steps} steps, {jax.device_count()} device(s)"
        f", {jax.process_count()} process(es).")
  elif is_main:
    progress.message(f"Resumed from step {start} (checkpoint "
                     f"{ckpt.path(start)}).")
  pending = []
  t_start = time.perf_counter()
  step = start
  with preemption.StopOnSignal() as stop:
    while step < total_steps:
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        batch = sharding.global_batch(next(train_iter), mesh)
        ts, metrics = train_step(ts, batch)
      step += 1
      pending.append((step, metrics))
      signalled = _agree_stop(stop.requested is not None)
      leaving = signalled or (stop_after_steps is not None and
                              step - start >= stop_after_steps)
      boundary = (step % tcfg.log_every == 0 or step == total_steps or
                  step % tcfg.eval_every == 0 or step % tcfg.ckpt_every == 0
                  or leaving)
      if not boundary:
        continue
      host = jax.device_get(pending)
      pending = []
      streak = int(host[-1][1]["nonfinite_in_a_row"])
      for s, m in host:
        if int(m["nonfinite_in_a_row"]) >= tcfg.max_nonfinite_in_a_row:
          raise _nonfinite_error(ckpt, tcfg, s, m, workdir)
      # A background save that failed stops the run here, within one
      # logging interval, with the previous checkpoint intact.
      ckpt.check()
      if step % tcfg.log_every == 0 or step == total_steps or leaving:
        sums = {k: sum(float(m[k]) for _, m in host) for k in
                ("loss_sum", "count", "correct") if k in host[0][1]}
        scalars = _summarise(sums, spec.target_kind)
        finite = [m for _, m in host if bool(m["finite"])]
        if finite and "spike_rate" in finite[0]:
          scalars["spike_rate"] = float(
              np.mean([m["spike_rate"] for m in finite]))
        scalars["grad_norm"] = (float(np.mean([m["grad_norm"] for m in finite]))
                                if finite else math.nan)
        scalars["skipped"] = float(int(jax.device_get(ts.skipped)))
        rates = progress.report(step, scalars, tokens_per_step=tokens_per_step)
        write(step, {**{f"train/{k}": v for k, v in scalars.items()}, **rates})
      if step % tcfg.eval_every == 0 or step == total_steps:
        evaluate_and_save(step, streak)
      elif step % tcfg.ckpt_every == 0:
        save(step, streak)
      if leaving and step < total_steps:
        save(step, streak)
        ckpt.wait()
        if signalled:
          name = stop.requested.name if stop.requested else "a signal"
          progress.message(
              f"Stopped by {name} after step {step}"
              + ("" if streak else " (checkpoint saved)")
              + "; run the same command again to resume.")
          return {"stopped_at": step, "signal": name}
        progress.message(f"Stopped after step {step}; run again to resume.")
        return {"stopped_at": step}

  # ---------------------------------------------------------------- summary
  ckpt.wait()
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
      opened.remove(w)
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


def _warn(message: str) -> None:
  """One warning line on stderr (absl's WARNING shows at default verbosity)."""
  logging.warning("%s", message)


def _agree_stop(requested: bool) -> bool:
  """Whether any process was asked to stop (every process must agree)."""
  if jax.process_count() == 1:
    return requested
  return bool(multihost_utils.process_allgather(np.int32(requested)).max())


def _nonfinite_error(ckpt, tcfg, step, m, workdir) -> NonFiniteError:
  ckpt.wait()
  good = ckpt.latest_step()
  where = (f"the last good checkpoint is step {good} "
           f"({ckpt.path(good)})" if good is not None else
           f"there is no checkpoint yet in {workdir / 'checkpoints'}")
  return NonFiniteError(
      "The loss, the gradients or the updated parameters / optimiser state "
      f"were non-finite for {int(m['nonfinite_in_a_row'])}"
      f" steps in a row, ending at step {step} (train.max_nonfinite_in_a_row="
      f"{tcfg.max_nonfinite_in_a_row}); the updates were skipped and nothing "
      f"was saved meanwhile: {where}. Lower optim.lr or check the data.")


def _repair_best(ckpt, ts, start_meta, book, start, abstract_ts) -> None:
  """Makes `checkpoints/best` agree with the restored bookkeeping.

  A run killed between its `latest` and `best` saves resumes with a book
  (and so a summary.json) naming a best step that has no checkpoint; and
  best saves newer than the restored step belong to steps this run redoes.
  """
  for step in ckpt.best_steps_after(start):
    moved = ckpt.set_aside_best(step, "superseded")
    _warn(f"Best checkpoint of step {step} is newer than the restored step "
          f"{start}; moved it to {moved} (the steps are redone).")
  best_step = book.get("best_step")
  if best_step is None or ckpt.has_step(best_step, best=True):
    return
  if best_step == start:
    state, meta = ts, start_meta
  elif ckpt.has_step(best_step):
    try:
      state, meta = ckpt.restore_step(best_step, abstract_ts)
    except Exception as e:  # pylint: disable=broad-exception-caught
      _warn(f"The best checkpoint (step {best_step}) is missing and its "
            f"latest copy is unreadable ({e}); it cannot be rebuilt.")
      return
  else:
    _warn(f"The best checkpoint (step {best_step}) is missing and no other "
          "copy of that step is left; summary.json will name it anyway.")
    return
  ckpt.save(best_step, state, meta, score=book["best_score"], latest=False)
  ckpt.wait()
  _warn(f"Repaired the best checkpoint: saved step {best_step} again to "
        f"{ckpt.path(best_step, best=True)}.")


def first_rows(split, n: int) -> dict[str, np.ndarray]:
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
