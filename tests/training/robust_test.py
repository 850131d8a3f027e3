"""A training run that cannot lose or corrupt work (issue 13).

Each case a hostile but realistic user meets ends in a correct resume from
the newest good state or in a one-line error naming the problem:

- damaged checkpoints (truncated, deleted, zeroed, altered files, garbage
  metadata) are set aside and the next older one is used;
- a partial last JSONL line, a best checkpoint lagging the bookkeeping and
  replayed TensorBoard steps are repaired on resume;
- a second process in one workdir, a changed config, a failed save, a
  non-finite update, SIGTERM, kill -9 during a save, and every config
  mistake checked before data loading.

The checkpoint cases run on a small pytree (fast); the end-to-end cases use
`configs/digits.py:smoke` at 6 steps, the config `train_test.ResumeTest`
uses, so that JAX's persistent cache compiles each program once. A real
process is started only where one is needed (a kill, a signal, a lock, the
launcher's output).
"""

import contextlib
import io
import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import optax
from tensorboard.backend.event_processing import event_accumulator

from experiments import preflight
from experiments import train
from spike_ssm.training import checkpoint as ckpt_lib
from spike_ssm.training import config_guard
from spike_ssm.training import lock as lock_lib
from spike_ssm.training import step as step_lib
from spike_ssm.training import writers
from tests.training import train_test

ROOT = pathlib.Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------


def _tree(step: int) -> dict[str, jax.Array]:
  return {"w": jnp.arange(4096, dtype=jnp.float32) * step,
          "b": jnp.full((3, 5), step, jnp.float32),
          "n": jnp.int32(step)}


def _save_steps(workdir, steps, keep=3) -> None:
  ck = ckpt_lib.Checkpointer(workdir, keep=keep)
  for s in steps:
    ck.save(s, _tree(s), {"data": {"position": s}})
  ck.close()


def _step_dir(workdir, step, kind="latest") -> pathlib.Path:
  return pathlib.Path(workdir) / "checkpoints" / kind / str(step)


def _data_files(step_dir: pathlib.Path) -> list[pathlib.Path]:
  # orbax writes each process's arrays to an OCDBT database and merges them
  # into the step's own; which copy a restore reads is orbax's business, so
  # the damage below hits every data file.
  files = [p for p in (step_dir / "state").rglob("*")
           if p.is_file() and p.parent.name == "d"]
  assert files, f"no data files under {step_dir}"
  return files


def _truncate(step_dir):
  for f in _data_files(step_dir):
    f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])


def _delete(step_dir):
  for f in _data_files(step_dir):
    f.unlink()


def _zero(step_dir):
  for f in _data_files(step_dir):
    f.write_bytes(bytes(f.stat().st_size))


def _overwrite_middle(step_dir):
  # Eight bytes in the middle of the data.
  for f in _data_files(step_dir):
    data = bytearray(f.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 8] = b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"
    f.write_bytes(bytes(data))


def _arrays_of_another_step(step_dir):
  # Well-formed arrays that are not the ones saved: orbax reads them without
  # complaint; only the checksums can tell.
  other = min(p for p in step_dir.parent.iterdir()
              if p.name.isdigit() and p != step_dir) / "state"
  shutil.rmtree(step_dir / "state")
  shutil.copytree(other, step_dir / "state")


def _garbage_meta_json(step_dir):
  (step_dir / "meta" / "metadata").write_text("{garbage")


def _altered_meta_json(step_dir):
  # Valid JSON with a changed value (the data position) must not pass.
  path = step_dir / "meta" / "metadata"
  meta = json.loads(path.read_text())
  meta["data"]["position"] += 1
  path.write_text(json.dumps(meta))


def _garbage_array_metadata(step_dir):
  (step_dir / "state" / "_METADATA").write_text("\x00garbage")


def _garbage_checkpoint_metadata(step_dir):
  (step_dir / "_CHECKPOINT_METADATA").write_text("{not json")


@contextlib.contextmanager
def _unwritable(path: pathlib.Path):
  """Makes a directory unwritable, also for root (chattr +i), or skips."""
  if os.geteuid() != 0:
    mode = path.stat().st_mode
    path.chmod(0o555)
    try:
      yield
    finally:
      path.chmod(mode)
    return
  if shutil.which("chattr") is None or subprocess.run(
      ["chattr", "+i", str(path)], capture_output=True,
      check=False).returncode:
    raise absltest.SkipTest("cannot make a directory unwritable for root")
  try:
    yield
  finally:
    subprocess.run(["chattr", "-i", str(path)], check=True)


def _config(**train):
  """The suite's shared digits run (train_test.shared_config), 6 steps."""
  config = train_test.shared_config()
  with config.unlocked():
    config.train.update(**train)
  return config


def _train_losses(workdir) -> dict[int, float]:
  rows = writers.read_jsonl(pathlib.Path(workdir) / "metrics.jsonl")
  return {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}


def _baseline() -> tuple[pathlib.Path, dict[int, float]]:
  """The uninterrupted run (read-only) and its losses: the shared run."""
  workdir, _ = train_test.shared_run()
  return workdir, _train_losses(workdir)


def _run_quietly(config, workdir, **kwargs):
  """train.run with stdout captured; returns (result, stdout text)."""
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = train.run(config, workdir, **kwargs)
  return result, out.getvalue()


def _env():
  # os.environ already holds conftest's device count and compile cache.
  return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))


def _python(code: str, *args, timeout=600, **kwargs):
  """Runs `code` in a fresh interpreter at the repository root."""
  return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                        cwd=ROOT, env=_env(), capture_output=True, text=True,
                        timeout=timeout, check=False, **kwargs)


def _launch(*args, env=None):
  return subprocess.run([sys.executable, "-m", "experiments.launch", *args],
                        cwd=ROOT, env=env or _env(), capture_output=True,
                        text=True, timeout=600, check=False)


# ---------------------------------------------------------------------------
# Checkpoint integrity and fallback (no model, a small pytree).
# ---------------------------------------------------------------------------


class CheckpointIntegrityTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("truncated_data_file", _truncate),
      ("deleted_data_file", _delete),
      ("zeroed_data_file", _zero),
      ("eight_bytes_overwritten", _overwrite_middle),
      ("arrays_of_another_step", _arrays_of_another_step),
      ("garbage_meta_json", _garbage_meta_json),
      ("altered_meta_json", _altered_meta_json),
      ("garbage_array_metadata", _garbage_array_metadata),
  )
  def test_damaged_newest_is_set_aside_and_older_restored(self, damage):
    # Given complete saves of steps 1 and 2, the newest one damaged.
    wd = self.create_tempdir().full_path
    _save_steps(wd, (1, 2))
    damage(_step_dir(wd, 2))
    # When the workdir is restored.
    warnings = []
    ck = ckpt_lib.Checkpointer(wd, keep=3, warn=warnings.append)
    state, meta = ck.restore_latest(ckpt_lib.abstract(_tree(0)))
    ck.close()
    # Then step 1 comes back exactly, step 2 is kept aside, one warning.
    jax.tree.map(np.testing.assert_array_equal, state, _tree(1))
    self.assertEqual(meta, {"data": {"position": 1}})
    latest = pathlib.Path(wd) / "checkpoints" / "latest"
    self.assertFalse((latest / "2").exists())
    self.assertTrue((latest / "2.damaged-0" / "state").is_dir())
    self.assertLen(warnings, 1)
    self.assertIn(str(latest / "2"), warnings[0])
    self.assertIn("2.damaged-0", warnings[0])
    self.assertNotIn("\n", warnings[0])

  def test_garbage_orbax_step_metadata_alone_still_restores_verified(self):
    # orbax's own step record is bookkeeping: with the arrays and the JSON
    # intact (their checksums pass) the newest step is still good.
    wd = self.create_tempdir().full_path
    _save_steps(wd, (1, 2))
    _garbage_checkpoint_metadata(_step_dir(wd, 2))
    warnings = []
    ck = ckpt_lib.Checkpointer(wd, keep=3, warn=warnings.append)
    state, meta = ck.restore_latest(ckpt_lib.abstract(_tree(0)))
    ck.close()
    jax.tree.map(np.testing.assert_array_equal, state, _tree(2))
    self.assertEqual((meta, warnings), ({"data": {"position": 2}}, []))

  def test_every_step_damaged_restores_nothing_and_deletes_nothing(self):
    wd = self.create_tempdir().full_path
    _save_steps(wd, (1, 2))
    _overwrite_middle(_step_dir(wd, 1))
    _delete(_step_dir(wd, 2))
    warnings = []
    ck = ckpt_lib.Checkpointer(wd, keep=3, warn=warnings.append)
    self.assertIsNone(ck.restore_latest(ckpt_lib.abstract(_tree(0))))
    ck.close()
    names = sorted(p.name for p in (_step_dir(wd, 1).parent).iterdir())
    self.assertEqual(names, ["1.damaged-0", "2.damaged-0"])
    self.assertLen(warnings, 2)

  def test_other_model_shape_is_refused_and_nothing_moved(self):
    wd = self.create_tempdir().full_path
    _save_steps(wd, (1,))
    other = dict(_tree(0), b=jnp.zeros((4, 5), jnp.float32))
    ck = ckpt_lib.Checkpointer(wd, keep=3)
    with self.assertRaisesRegex(ckpt_lib.IncompatibleCheckpointError,
                                r"\['b'\]: float32\(3, 5\) saved, "
                                r"float32\(4, 5\) now"):
      ck.restore_latest(ckpt_lib.abstract(other))
    ck.close()
    self.assertTrue(_step_dir(wd, 1).is_dir())

  def test_unwritable_directory_fails_at_once_and_keeps_previous(self):
    # Given a good save of step 1 and a checkpoint directory turned
    # unwritable.
    wd = self.create_tempdir().full_path
    ck = ckpt_lib.Checkpointer(wd, keep=1)
    ck.save(1, _tree(1), {"k": 1})
    ck.wait()
    latest = _step_dir(wd, 1).parent
    with _unwritable(latest):
      # When step 2 is saved, then the save fails at once in one line that
      # names the directory and the OS error.
      with self.assertRaises(ckpt_lib.CheckpointSaveError) as cm:
        ck.save(2, _tree(2), {"k": 2})
    message = str(cm.exception)
    self.assertIn(str(latest), message)
    self.assertRegex(message, "Operation not permitted|Permission denied")
    self.assertNotIn("\n", message)
    # And every later call reports it again rather than saving.
    with self.assertRaises(ckpt_lib.CheckpointSaveError):
      ck.check()
    ck.close()
    # And step 1 survives, restorable.
    state, _ = ckpt_lib.Checkpointer(wd).restore_latest(
        ckpt_lib.abstract(_tree(0)))
    jax.tree.map(np.testing.assert_array_equal, state, _tree(1))

  def test_failed_background_write_is_reported_and_keeps_previous(self):
    # Given a good save, then a file-size limit that a write of the next
    # save's data exceeds (what a full disk does to a background write).
    wd = self.create_tempdir().full_path
    # 4 MiB of random (incompressible) floats.
    big = lambda s: {"w": jnp.asarray(np.random.RandomState(s).rand(1 << 20),
                                      jnp.float32)}
    ck = ckpt_lib.Checkpointer(wd, keep=1)
    ck.save(1, big(1), {"k": 1})
    ck.wait()
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
      ck.save(2, big(2), {"k": 2})
      # When the loop checks, as it does every logging step.
      with self.assertRaises(ckpt_lib.CheckpointSaveError) as cm:
        for _ in range(600):
          ck.check()
          time.sleep(0.05)
    finally:
      resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
      signal.signal(signal.SIGXFSZ, previous)
    ck.close()
    # Then one line names the step, the file and the OS error ...
    message = str(cm.exception)
    self.assertIn("step 2", message)
    self.assertIn("File too large", message)
    self.assertIn(str(_step_dir(wd, 1).parent), message)
    self.assertNotIn("\n", message)
    # ... and the previous save (which `keep=1` would prune after a
    # successful save) is still there and good.
    state, meta = ckpt_lib.Checkpointer(wd).restore_latest(
        ckpt_lib.abstract(big(0)))
    self.assertEqual(meta, {"k": 1})
    np.testing.assert_array_equal(state["w"], big(1)["w"])

  def test_kill_9_during_a_save_resumes_from_the_previous_one(self):
    # Given a process killed with SIGKILL while step 2 is being written.
    wd = self.create_tempdir().full_path
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            import jax.numpy as jnp
            from spike_ssm.training import checkpoint as ckpt_lib
            ck = ckpt_lib.Checkpointer(sys.argv[1])
            w = lambda s: {"w": jnp.full((1 << 24,), s, jnp.float32)}
            ck.save(1, w(1), {"k": 1})
            ck.wait()
            print("saved", flush=True)
            ck.save(2, w(2), {"k": 2})
            time.sleep(600)
            """), wd],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    self.assertEqual(child.stdout.readline().strip(), "saved")
    latest = pathlib.Path(wd) / "checkpoints" / "latest"
    deadline = time.time() + 300
    while not list(latest.glob("2.orbax-checkpoint-tmp*")):
      self.assertLess(time.time(), deadline, "the save of step 2 never began")
      time.sleep(0.001)
    child.kill()
    child.wait()
    self.assertFalse((latest / "2").exists(), "the save finished too soon")
    # When the workdir is opened again, then the partial save is set aside
    # (not deleted) and step 1 restores.
    ck = ckpt_lib.Checkpointer(wd)
    self.assertEqual([p.name for p in ck.set_aside], ["2.incomplete-0"])
    state, meta = ck.restore_latest(
        {"w": jax.ShapeDtypeStruct((1 << 24,), jnp.float32)})
    ck.close()
    self.assertEqual(meta, {"k": 1})
    self.assertTrue(np.all(np.asarray(state["w"]) == 1.0))


# ---------------------------------------------------------------------------
# Metrics files.
# ---------------------------------------------------------------------------


class MetricsFilesTest(absltest.TestCase):

  def test_partial_last_jsonl_line_is_dropped(self):
    path = pathlib.Path(self.create_tempdir().full_path) / "m.jsonl"
    path.write_text('{"step": 1, "a": 1.0}\n{"step": 2, "a": 2.0}\n'
                    '{"step": 3, "a"')
    self.assertEqual([r["step"] for r in writers.read_jsonl(path)], [1, 2])
    writers.truncate_jsonl(path, 5)
    self.assertEqual(path.read_text(),
                     '{"step": 1, "a": 1.0}\n{"step": 2, "a": 2.0}\n')

  def test_damage_before_the_last_line_is_an_error_naming_the_line(self):
    path = pathlib.Path(self.create_tempdir().full_path) / "m.jsonl"
    path.write_text('{"step": 1}\n{"step\n{"step": 3}\n')
    with self.assertRaisesRegex(ValueError, r"m.jsonl: line 2 is not valid"):
      writers.read_jsonl(path)

  def test_tensorboard_reads_back_with_restart_marker(self):
    # Given an event file with steps 1-3, then a resumed writer redoing 2-3.
    logdir = self.create_tempdir().full_path
    w = writers.TensorBoardWriter(logdir)
    for step in (1, 2, 3):
      w.write(step, {"train/loss": float(step), "train/nan": float("nan")})
    w.close()
    w = writers.TensorBoardWriter(logdir, purge_step=2)
    for step in (2, 3):
      w.write(step, {"train/loss": 10.0 * step})
    w.close()
    # When TensorBoard's own reader loads the directory.
    acc = event_accumulator.EventAccumulator(logdir)
    acc.Reload()
    # Then every step appears once, with the newest values.
    got = [(e.step, e.value) for e in acc.Scalars("train/loss")]
    self.assertEqual(got, [(1, 1.0), (2, 20.0), (3, 30.0)])
    self.assertTrue(np.isnan(acc.Scalars("train/nan")[0].value))
    self.assertLen(list(pathlib.Path(logdir).glob("events.out.tfevents.*")), 2)


# ---------------------------------------------------------------------------
# Locks and config fingerprints (no training).
# ---------------------------------------------------------------------------


class LockTest(absltest.TestCase):

  def test_second_process_is_refused_naming_the_holder_until_it_dies(self):
    # Given another process holding the workdir's lock.
    wd = self.create_tempdir().full_path
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from spike_ssm.training import lock
            with lock.WorkdirLock(sys.argv[1]):
              print("locked", flush=True)
              time.sleep(600)
            """), wd],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    try:
      self.assertEqual(holder.stdout.readline().strip(), "locked")
      # When a run starts there, then it stops at once naming pid and host.
      with self.assertRaisesRegex(lock_lib.LockError,
                                  rf"pid={holder.pid} host=\S+"):
        train.run(_config(), wd)
      self.assertFalse((pathlib.Path(wd) / "checkpoints").exists())
      # And the launcher says so in one line.
      result = _launch("--config=configs/digits.py:smoke", f"--workdir={wd}")
      self.assertEqual(result.returncode, 1)
      self.assertEqual(len(result.stderr.strip().splitlines()), 1,
                       msg=result.stderr)
      self.assertRegex(result.stderr, rf"^error: The workdir .* is in use by "
                       rf"another run \(pid={holder.pid} ")
    finally:
      holder.kill()
      holder.wait()
    # And a lock left by a killed process does not block the next run.
    with lock_lib.WorkdirLock(wd) as lock:
      self.assertIn(f"pid={os.getpid()}", lock.path.read_text())


class ConfigGuardTest(absltest.TestCase):

  def test_differences_list_changed_added_and_removed_keys(self):
    old = {"optim": {"lr": 1e-3}, "data": {"task": "digits", "x": 1},
           "train": {"plot": True}}
    new = {"optim": {"lr": 2e-3}, "data": {"task": "digits", "y": 2},
           "train": {"plot": False}}
    self.assertEqual(config_guard.differences(old, new),
                     ["data.x: 1 -> (absent)", "data.y: (absent) -> 2",
                      "optim.lr: 0.001 -> 0.002"])

  def test_record_keeps_each_version_beside_its_start_step(self):
    wd = pathlib.Path(self.create_tempdir().full_path)
    config_guard.record(wd, {"a": 1}, start_step=0, changed=False)
    self.assertEqual(config_guard.check(wd, {"a": 1}, allow_change=False), [])
    with self.assertRaisesRegex(config_guard.ConfigChangeError,
                                r"\(a: 1 -> 2\)"):
      config_guard.check(wd, {"a": 2}, allow_change=False)
    self.assertEqual(config_guard.check(wd, {"a": 2}, allow_change=True),
                     ["a: 1 -> 2"])
    config_guard.record(wd, {"a": 2}, start_step=30, changed=True)
    config_guard.record(wd, {"a": 3}, start_step=60, changed=True)
    versions = {s: json.loads(p.read_text())
                for s, p in config_guard.versions(wd).items()}
    self.assertEqual(versions, {0: {"a": 1}, 30: {"a": 2}, 60: {"a": 3}})
    self.assertEqual(config_guard.load(wd), {"a": 3})


# ---------------------------------------------------------------------------
# Non-finite updates (the step function on a tiny model).
# ---------------------------------------------------------------------------


class NonFiniteUpdateTest(parameterized.TestCase):

  def _step_and_state(self, optimizer):
    model = hk.transform_with_state(
        lambda batch, is_training: hk.Linear(3)(batch["inputs"]))
    batch = {"inputs": jnp.ones((4, 2)), "targets": jnp.array([0, 1, 2, 0]),
             "weights": jnp.ones((4,))}
    params, state = model.init(jax.random.PRNGKey(0), batch, True)
    ts = step_lib.TrainState(
        step=jnp.int32(0), params=params, state=state,
        opt_state=optimizer.init(params), loss_scale=jmp.NoOpLossScale(),
        rng=jax.random.PRNGKey(1), nonfinite_in_a_row=jnp.int32(0),
        skipped=jnp.int32(0))
    step = jax.jit(step_lib.make_train_step(model.apply, optimizer,
                                            target_kind="class"))
    return step, ts, batch

  @parameterized.named_parameters(
      # An update that overflows float32 (what lr=1e39 would do).
      ("parameters", optax.scale(1e39)),
      # An optimiser whose state overflows while its update stays finite.
      ("optimiser_state", optax.GradientTransformation(
          lambda p: {"acc": jnp.float32(3e38)},
          lambda g, s, p=None: (jax.tree.map(jnp.zeros_like, g),
                                {"acc": s["acc"] * 10.0}))),
  )
  def test_non_finite_update_is_skipped_and_counted(self, optimizer):
    step, ts, batch = self._step_and_state(optimizer)
    before = jax.device_get(ts)
    ts, metrics = step(ts, batch)
    self.assertFalse(bool(metrics["finite"]))
    self.assertFalse(bool(metrics["update_finite"]))
    self.assertTrue(np.isfinite(float(metrics["loss"])))
    self.assertEqual((int(ts.nonfinite_in_a_row), int(ts.skipped)), (1, 1))
    jax.tree.map(np.testing.assert_array_equal, ts.params, before.params)
    jax.tree.map(np.testing.assert_array_equal, ts.opt_state,
                 before.opt_state)


# ---------------------------------------------------------------------------
# Validation before anything runs.
# ---------------------------------------------------------------------------


class PreflightTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("layer", "model.layer", "nope", r"config\.model\.layer must be one of"),
      ("norm", "model.norm", "nope", r"config\.model\.norm must be one of"),
      ("glu", "model.glu", "nope", r"config\.model\.glu must be one of"),
      ("pooling", "model.pooling", "nope",
       r"config\.model\.pooling must be one of"),
      ("positions", "model.positions", "nope",
       r"config\.model\.positions must be one of"),
      ("neuron", "model.neuron.kind", "nope",
       r"config\.model\.neuron\.kind must be one of"),
      ("token_encoder", "model.token_encoder", "onehot",
       r"config\.model\.token_encoder must be one of"),
      # The digits task of _config() has continuous inputs, but the width
      # only means something for token_encoder="onehot_dense".
      ("onehot_dim_without_onehot", "model.onehot_dim", 20,
       r"config\.model\.onehot_dim=20 is the one-hot width of "
       r"token_encoder='onehot_dense'"),
      ("bn_momentum", "model.bn_momentum", 1.0,
       r"config\.model\.bn_momentum must be a number in \[0, 1\)"),
      # A ConfigDict refuses other types for a bool field, but not None.
      ("dropout_tied", "model.dropout_tied", None,
       r"config\.model\.dropout_tied must be a bool, got None"),
      ("discard_postnorm", "model.discard_postnorm", None,
       r"config\.model\.discard_postnorm must be a bool, got None"),
      ("quantize", "model.quantize", "int4",
       r"config\.model\.quantize must be none\|int8\|ternary"),
      ("task", "data.task", "nope", r"config\.data\.task must be one of"),
      ("precision", "precision.model", "p=f32,c=f13",
       r"config\.precision\.model='p=f32,c=f13' is not a jmp policy"),
      ("state_size", "model.layer_kwargs.state_size", 0,
       r"config\.model\.layer_kwargs: S5: `state_size` must be an int >= 1"),
      ("eval_batch_size_negative", "data.eval_batch_size", -4,
       r"config\.data\.eval_batch_size must be >= 1"),
      # The tests run on 4 fake devices (tests/conftest.py).
      ("eval_batch_size_indivisible", "data.eval_batch_size", 6,
       r"config\.data\.eval_batch_size=6 must be divisible by the number of "
       r"devices \(4\)"),
      ("global_batch_size_indivisible", "data.global_batch_size", 66,
       r"config\.data\.global_batch_size=66 must be divisible"),
      ("lr_inf", "optim.lr", float("inf"),
       r"config\.optim\.lr must be finite and > 0, got inf"),
      ("lr_nan", "optim.ssm_lr", float("nan"),
       r"config\.optim\.ssm_lr must be finite and > 0, got nan"),
  )
  def test_bad_config_fails_before_any_data_or_files(self, key, value, regex):
    # Given a config with one bad value.
    config = _config()
    section, *rest = key.split(".")
    with config.unlocked():
      target = config[section]
      for part in rest[:-1]:
        target = target[part]
      target[rest[-1]] = value
    # When it is run, then it fails in one line naming the key, and before
    # anything is written to the workdir.
    wd = pathlib.Path(self.create_tempdir().full_path) / "run"
    with self.assertRaisesRegex((ValueError, TypeError), regex) as cm:
      train.run(config, str(wd))
    self.assertNotIn("\n", str(cm.exception))
    self.assertFalse(wd.exists())

  def test_bad_neuron_argument_names_the_neuron_section(self):
    config = _config()
    with config.unlocked():
      config.model.neuron = dict(kind="lif", nope=1.0)
    with self.assertRaisesRegex(ValueError, r"config\.model\.neuron: .*nope"):
      preflight.check(config)

  def test_schedule_that_overflows_float32_is_rejected(self):
    # 1e39 is a finite Python float but inf as the float32 schedule value.
    config = _config()
    with config.unlocked():
      config.optim.lr = 1e39
    with self.assertRaisesRegex(ValueError, r"schedule of config\.optim\.lr "
                                r"is (inf|nan) at step 0"):
      preflight.check_schedules(config, 6)

  def test_empty_validation_split_fails_before_training(self):
    config = _config()
    with config.unlocked():
      config.data.options.val_size = 0
    wd = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, r"The validation split of task "
                                r"'digits' is empty .*val_size=0"):
      train.run(config, wd)
    self.assertFalse((pathlib.Path(wd) / "checkpoints").exists())

  def test_data_root_drops_generator_options_of_the_presets(self):
    # Given the smoke preset (which sizes the ListOps generator) and a root.
    config = train_test.load_config("s5_lra.py", "smoke")
    with config.unlocked():
      config.data.root = "/data/lra_release"
    options, dropped = preflight.data_options(config)
    # Then the generator options go (the official files fix them).
    self.assertEqual(dropped["num_train"], 64)
    self.assertContainsSubset({"num_train", "max_length", "max_depth"},
                              set(dropped))
    self.assertFalse(set(dropped) & set(options))
    # And without a root nothing changes.
    config = train_test.load_config("s5_lra.py", "smoke")
    self.assertEqual(preflight.data_options(config),
                     (config.data.options.to_dict(), {}))


# ---------------------------------------------------------------------------
# End to end: resumes that find the newest good state.
# ---------------------------------------------------------------------------


class ResumeEndToEndTest(absltest.TestCase):
  """Cases sharing one uninterrupted run and one run stopped at step 4."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = pathlib.Path(tempfile.mkdtemp(prefix="robust_e2e_"))
    cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
    cls.full, cls.losses = _baseline()
    cls.summary = json.loads((cls.full / "summary.json").read_text())
    # Stopped after step 4: checkpoints of steps 3 (periodic) and 4.
    cls.stopped = cls.tmp / "stopped"
    _run_quietly(_config(), str(cls.stopped), stop_after_steps=4)

  def _copy(self, src) -> pathlib.Path:
    dst = pathlib.Path(self.create_tempdir().full_path) / "wd"
    shutil.copytree(src, dst)
    return dst

  def _assert_same_as_uninterrupted(self, wd):
    self.assertEqual(_train_losses(wd), self.losses)
    summary = json.loads((wd / "summary.json").read_text())
    self.assertEqual(summary["test_at_best"], self.summary["test_at_best"])

  def test_damaged_newest_partial_jsonl_and_tensorboard(self):
    # Given the stopped run with its newest checkpoint (step 4) altered and
    # a partial last line in metrics.jsonl.
    wd = self._copy(self.stopped)
    _overwrite_middle(_step_dir(wd, 4))
    with open(wd / "metrics.jsonl", "a") as f:
      f.write('{"step": 5, "train/lo')
    # When it resumes.
    with self.assertLogs(logger="absl", level="WARNING") as logs:
      _, out = _run_quietly(_config(), str(wd))
    # Then it warned once about step 4, resumed from step 3 (saying so)
    # and ended exactly as the uninterrupted run.
    damaged = [l for l in logs.output if "is damaged" in l]
    self.assertLen(damaged, 1)
    self.assertIn("4.damaged-0", damaged[0])
    self.assertIn("Resumed from step 3 (checkpoint ", out)
    self._assert_same_as_uninterrupted(wd)
    self.assertTrue((wd / "checkpoints" / "latest" / "4.damaged-0").is_dir())
    # And TensorBoard's reader sees each step once, as in the JSONL.
    acc = event_accumulator.EventAccumulator(str(wd / "tensorboard"))
    acc.Reload()
    tb = {e.step: e.value for e in acc.Scalars("train/loss")}
    self.assertEqual([e.step for e in acc.Scalars("train/loss")],
                     sorted(self.losses))
    for step, loss in self.losses.items():
      self.assertAlmostEqual(tb[step], loss, places=5)

  def test_changed_config_is_refused_listing_the_keys(self):
    wd = self._copy(self.stopped)
    saved = (wd / "config.json").read_text()
    config = _config()
    with config.unlocked():
      config.optim.lr = 0.004
      config.seed = 3
    with self.assertRaisesRegex(
        config_guard.ConfigChangeError,
        r"\(optim\.lr: 0\.01 -> 0\.004; seed: 0 -> 3\)\. Pass "
        r"--allow_config_change"):
      train.run(config, str(wd))
    self.assertEqual((wd / "config.json").read_text(), saved)

  def test_changed_config_with_the_flag_resumes_and_keeps_versions(self):
    # (The seed, not the learning rate: a new rate is a new compiled
    # program, and the guard treats every key alike.)
    wd = self._copy(self.stopped)
    config = _config()
    with config.unlocked():
      config.seed = 7
    summary, out = _run_quietly(config, str(wd), allow_config_change=True)
    self.assertIn("Resumed from step 4", out)
    self.assertEqual(summary["steps"], 6)
    versions = config_guard.versions(wd)
    self.assertEqual(sorted(versions), [0, 4])
    seed = lambda p: json.loads(p.read_text())["seed"]
    self.assertEqual((seed(versions[0]), seed(versions[4])), (0, 7))
    self.assertEqual(seed(wd / "config.json"), 7)
    # And the next resume with the new config needs no flag.
    self.assertEqual(config_guard.check(wd, json.loads(
        config.to_json_best_effort()), allow_change=False), [])

  def test_shape_change_is_refused_even_with_the_flag(self):
    wd = self._copy(self.stopped)
    saved = (wd / "config.json").read_text()
    config = _config()
    with config.unlocked():
      config.model.width = 32
    with self.assertRaisesRegex(
        config_guard.ConfigChangeError,
        r"holds arrays of another model: \.params\[.*\(changed config keys: "
        r"model\.width\).*use a new workdir") as cm:
      train.run(config, str(wd), allow_config_change=True)
    self.assertNotIn("\n", str(cm.exception))
    self.assertEqual((wd / "config.json").read_text(), saved)
    self.assertTrue(_step_dir(wd, 4).is_dir())

  def test_unwritable_checkpoint_directory_stops_and_keeps_previous(self):
    # Given the stopped run whose checkpoint directory became unwritable.
    wd = self._copy(self.stopped)
    latest = wd / "checkpoints" / "latest"
    with _unwritable(latest):
      # When it resumes, then it stops at the next save (step 6) in one
      # line naming the directory and the OS error.
      with self.assertRaises(ckpt_lib.CheckpointSaveError) as cm:
        _run_quietly(_config(), str(wd))
    self.assertIn(str(latest), str(cm.exception))
    self.assertIn("step 6", str(cm.exception))
    self.assertEqual(sorted(p.name for p in latest.iterdir()), ["3", "4"])
    # And once writable again, it resumes from step 4 to the same end.
    _run_quietly(_config(), str(wd))
    self._assert_same_as_uninterrupted(wd)

  def test_best_checkpoint_lagging_the_summary_is_repaired(self):
    # Given a finished run killed between its latest and best saves of the
    # final step: summary.json names step 6, best/ has no step 6.
    wd = self._copy(self.full)
    best = wd / "checkpoints" / "best"
    self.assertEqual(json.loads((wd / "summary.json").read_text())[
        "best_step"], 6)
    shutil.rmtree(best / "6")
    # When it is run again.
    with self.assertLogs(logger="absl", level="WARNING") as logs:
      _run_quietly(_config(), str(wd))
    # Then best/6 exists again and restores to the final parameters.
    self.assertTrue(any("Repaired the best checkpoint" in l
                        for l in logs.output))
    ck = ckpt_lib.Checkpointer(wd)
    self.assertEqual(ck.best_step(), 6)
    self.assertEqual(ck.best_score(), self.summary["validation_at_best"][
        "accuracy"])
    ck.close()

  def test_non_finite_streak_saves_nothing_and_names_last_good_step(self):
    # Given batches that turn non-finite from step 5 on, a checkpoint every
    # step and a limit of 2 non-finite steps in a row.
    config = _config(ckpt_every=1, max_nonfinite_in_a_row=2)
    original = train.data_lib.TrainIterator.__next__
    calls = []

    def poisoned(iterator):
      batch = original(iterator)
      calls.append(1)
      if len(calls) >= 5:
        batch["inputs"] = np.full_like(batch["inputs"], np.nan)
      return batch

    wd = pathlib.Path(self.create_tempdir().full_path)
    train.data_lib.TrainIterator.__next__ = poisoned
    try:
      with self.assertRaisesRegex(
          train.NonFiniteError,
          r"2 steps in a row, ending at step 6 .* the last good checkpoint "
          r"is step 4 \(.*latest/4\)"):
        _run_quietly(config, str(wd))
    finally:
      train.data_lib.TrainIterator.__next__ = original
    # Then no step of the streak was saved.
    steps = sorted(int(p.name) for p in (wd / "checkpoints" / "latest")
                   .iterdir() if p.name.isdigit())
    self.assertEqual(steps[-1], 4)

  def test_non_finite_error_without_any_checkpoint_says_so(self):
    config = _config(max_nonfinite_in_a_row=1)
    original = train.data_lib.TrainIterator.__next__

    def poisoned(iterator):
      batch = original(iterator)
      batch["inputs"] = np.full_like(batch["inputs"], np.nan)
      return batch

    train.data_lib.TrainIterator.__next__ = poisoned
    try:
      with self.assertRaisesRegex(train.NonFiniteError,
                                  r"there is no checkpoint yet"):
        _run_quietly(config, self.create_tempdir().full_path)
    finally:
      train.data_lib.TrainIterator.__next__ = original


# ---------------------------------------------------------------------------
# End to end with real processes: kill -9, SIGTERM, launcher errors.
# ---------------------------------------------------------------------------

# A training process for the tests below: the smoke run of `_config`, with
# one fault injected at a chosen step by the test (argv[2]).
_DRIVER = """
import os, signal, sys
from absl import app
from experiments import launch, train
from spike_ssm.training import checkpoint as ckpt_lib
from tests.training import robust_test

fault, at = sys.argv[2], int(sys.argv[3])
if fault == "sigterm":
  original = train.data_lib.TrainIterator.__next__
  def next_batch(iterator, calls=[]):
    calls.append(1)
    if len(calls) == at:
      os.kill(os.getpid(), signal.SIGTERM)  # Arrives during step `at`.
    return original(iterator)
  train.data_lib.TrainIterator.__next__ = next_batch
elif fault == "kill9_in_save":
  import orbax.checkpoint as ocp
  original_save = ocp.CheckpointManager.save
  def save(manager, step, *args, **kwargs):
    done = original_save(manager, step, *args, **kwargs)
    if step == at:
      # The save has started writing in the background: die now.
      os.kill(os.getpid(), signal.SIGKILL)
    return done
  ocp.CheckpointManager.save = save
config = robust_test._config()
launch._CONFIG = type("Fixed", (), {"value": config})()
sys.argv = [sys.argv[0], "--config=configs/digits.py:smoke",
            f"--workdir={sys.argv[1]}"]
app.run(launch.main, flags_parser=launch._parse_flags)
"""


class ProcessEndToEndTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    _, cls.losses = _baseline()

  def test_sigterm_saves_the_current_step_and_resume_is_exact(self):
    # Given a run that receives SIGTERM during step 5.
    wd = pathlib.Path(self.create_tempdir().full_path) / "wd"
    result = _python(_DRIVER, str(wd), "sigterm", "5")
    # Then it finished step 5, saved it and left cleanly with 128 + 15.
    self.assertEqual(result.returncode, 143, msg=result.stderr[-3000:])
    self.assertIn("Stopped by SIGTERM after step 5 (checkpoint saved); run "
                  "the same command again to resume.", result.stdout)
    self.assertNotIn("Traceback", result.stderr)
    self.assertTrue(_step_dir(wd, 5).is_dir())
    self.assertEqual(max(_train_losses(wd)), 5)
    # And resuming ends exactly as the uninterrupted run.
    _, out = _run_quietly(_config(), str(wd))
    self.assertIn("Resumed from step 5", out)
    self.assertEqual(_train_losses(wd), self.losses)

  def test_kill_9_during_a_save_resumes_exactly(self):
    # Given a run killed with SIGKILL while its step-6 checkpoint is written.
    wd = pathlib.Path(self.create_tempdir().full_path) / "wd"
    result = _python(_DRIVER, str(wd), "kill9_in_save", "6")
    self.assertEqual(result.returncode, -signal.SIGKILL,
                     msg=result.stderr[-3000:])
    self.assertFalse(_step_dir(wd, 6).exists())
    # When it resumes, then from step 3 to the same end.
    _, out = _run_quietly(_config(), str(wd))
    self.assertIn("Resumed from step 3", out)
    self.assertEqual(_train_losses(wd), self.losses)

  def test_launcher_errors_are_one_line_unless_asked(self):
    # Given a config error the launcher only meets inside the run.
    args = ("--config=configs/digits.py:smoke", "--config.model.norm=nope",
            f"--workdir={self.create_tempdir().full_path}")
    # Then by default: one line, exit code 1.
    result = _launch(*args)
    self.assertEqual(result.returncode, 1)
    self.assertEqual(result.stderr.strip().splitlines(), [
        "error: config.model.norm must be one of ['layer', 'batch', 'none'], "
        "got 'nope'."])
    # And with --verbosity=1 the traceback too.
    result = _launch(*args, "--verbosity=1")
    self.assertNotEqual(result.returncode, 0)
    self.assertIn("Traceback", result.stderr)
    # And a config-file error reads as one line too.
    result = _launch("--config=configs/digits.py:smok")
    self.assertEqual(result.returncode, 2)
    self.assertEqual(result.stderr.strip().splitlines(), [
        "error: --config=configs/digits.py:smok: Unknown config argument "
        "'smok'; expected one of ['layer', 'smoke', 'spiking']."])


if __name__ == "__main__":
  absltest.main()
