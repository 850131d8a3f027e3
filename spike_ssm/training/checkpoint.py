"""Checkpoints with orbax-checkpoint: latest N, best by validation, verified.

Layout under the workdir:

  checkpoints/latest/<step>/   the last `keep` saves (periodic + final)
  checkpoints/best/<step>/     the save with the best validation score
  checkpoints/*/<step>.<why>-<n>/   set aside: never loaded, never deleted

Each save holds the train state (a pytree, orbax `state` item) and a JSON
`meta` item: the caller's meta (data position, bookkeeping) plus an
integrity record, the shape, dtype and CRC-32 of every array and a CRC-32
of the JSON itself. orbax writes a step into a temporary directory and
renames it when every item is written, so the record is complete exactly
when the arrays are.

Restoring checks, it does not assume: the newest complete step is read, its
JSON and every array are checked against the record, and any failure (a
missing, truncated, zeroed or altered file, unreadable metadata, a checksum
mismatch) sets that step aside as `<step>.damaged-<n>` with one warning
line and falls back to the next older step. A checkpoint whose arrays do not
have the shapes of the model being restored is not damaged but
incompatible: that raises `IncompatibleCheckpointError` and touches
nothing. Directories of saves that never finished (a crash mid-save) are
set aside as `<step>.incomplete-<n>` when the `Checkpointer` opens.

Saves are asynchronous. Failures surface in the training thread: `save`
first probes the directory (a failed `mkdir` raises at once, before orbax's
background thread could stall on it) and `check()` (called by the loop at
every logging step) raises a background failure as `CheckpointSaveError`
naming the path and the OS error. orbax deletes nothing here; old steps are
pruned by this class only once a newer save is known to be complete, so a
failed save never costs the previous good checkpoint.

With several processes every decision that runs a collective must be taken
alike on all of them: orbax's saves, waits and deletions synchronise the
processes, and two managers saving at once collide on orbax's barrier
names. So in a multi-process run one save is in flight at a time (a save
first waits for the other manager's), and `check()` confirms nothing on its
own (whether a save is still running is each process's local view); saves
are confirmed, and old steps pruned, when the next save starts and in
`wait()`.
"""

from collections.abc import Callable, Mapping
import json
import os
import pathlib
import re
import shutil
import tempfile
from typing import Any
import zlib

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp

# Key of the integrity record inside the saved `meta` JSON.
INTEGRITY_KEY = "_integrity"
_TMP_DIR = re.compile(r"^(\d+)\.orbax-checkpoint-tmp")
_TENSORSTORE_OS_ERROR = re.compile(r"\[os_error_code=\D?(\d+)\D?\]")


class CheckpointSaveError(RuntimeError):
  """A checkpoint could not be written (the message has path and OS error)."""


class IncompatibleCheckpointError(ValueError):
  """A checkpoint holds arrays of other names or shapes than the model's."""


class DamagedCheckpointError(ValueError):
  """A checkpoint's files do not match its integrity record."""


def _is_complete(step_dir: pathlib.Path) -> bool:
  # orbax writes _CHECKPOINT_METADATA last (after the atomic rename of the
  # temporary directory); a directory without it was never finished.
  return (step_dir / "_CHECKPOINT_METADATA").exists()


def set_aside(path: pathlib.Path, why: str,
              name: str | None = None) -> pathlib.Path:
  """Renames `path` to `<name>.<why>-<n>` (the first free n) and returns it.

  Used instead of deleting: nothing a run wrote is destroyed, and the step
  number becomes free for a new save. `name` defaults to `path.name`.
  """
  name = path.name if name is None else name
  n = 0
  while (target := path.with_name(f"{name}.{why}-{n}")).exists():
    n += 1
  path.rename(target)
  return target


def _set_aside_incomplete(directory: pathlib.Path) -> list[pathlib.Path]:
  """Sets aside unfinished step dirs and orbax's temporary dirs."""
  moved = []
  if not directory.is_dir():
    return moved
  for child in sorted(directory.iterdir()):
    if not child.is_dir():
      continue
    if child.name.isdigit() and not _is_complete(child):
      moved.append(set_aside(child, "incomplete"))
    elif match := _TMP_DIR.match(child.name):
      moved.append(set_aside(child, "incomplete", name=match.group(1)))
  return moved


def has_complete_steps(workdir: str | os.PathLike) -> bool:
  """Whether `workdir` holds a finished save in `latest` (reads no data)."""
  latest = pathlib.Path(workdir) / "checkpoints" / "latest"
  return latest.is_dir() and any(
      p.name.isdigit() and _is_complete(p) for p in latest.iterdir())


# ---------------------------------------------------------------------------
# Integrity records.
# ---------------------------------------------------------------------------


def _host_array(x: Any) -> np.ndarray:
  """A leaf as a host NumPy array (replicated arrays: any local copy)."""
  if isinstance(x, jax.Array):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    if not x.is_fully_addressable:
      if not x.is_fully_replicated:
        raise ValueError("checkpoint integrity needs replicated arrays, got "
                         f"one sharded as {x.sharding}.")
      x = x.addressable_shards[0].data
  return np.asarray(x)


def _crc(data: bytes) -> int:
  return zlib.crc32(data) & 0xFFFFFFFF


def _canonical(obj: Any) -> bytes:
  return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _leaves(tree: Any) -> list[tuple[str, Any]]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def array_records(tree: Any) -> dict[str, dict[str, Any]]:
  """{leaf path: {"shape", "dtype", "crc32"}} of every array in `tree`."""
  records = {}
  for key, leaf in _leaves(tree):
    a = _host_array(leaf)
    records[key] = {"shape": list(a.shape), "dtype": str(a.dtype),
                    "crc32": _crc(a.tobytes(order="C"))}
  return records


def _expected_layout(abstract_state: Any) -> dict[str, tuple[list, str]]:
  layout = {}
  for key, leaf in _leaves(abstract_state):
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.eval_shape(jax.random.key_data, leaf)
    layout[key] = (list(leaf.shape), str(np.dtype(leaf.dtype)))
  return layout


def _layout_differences(saved: Mapping[str, Mapping[str, Any]],
                        expected: Mapping[str, tuple[list, str]]) -> list[str]:
  diffs = []
  for key in sorted(set(saved) | set(expected)):
    if key not in expected:
      diffs.append(f"{key} only in the checkpoint")
    elif key not in saved:
      diffs.append(f"{key} missing from the checkpoint")
    else:
      shape, dtype = expected[key]
      rec = saved[key]
      if list(rec["shape"]) != shape or rec["dtype"] != dtype:
        diffs.append(f"{key}: {rec['dtype']}{tuple(rec['shape'])} saved, "
                     f"{dtype}{tuple(shape)} now")
  return diffs


def _reason(e: BaseException) -> str:
  """The first line of an error, with its type when the text is terse."""
  text = str(e).strip().splitlines()[0] if str(e).strip() else ""
  return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _os_error(e: BaseException) -> OSError | None:
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError):
      return e
    e = e.__cause__ or e.__context__
  return None


# ---------------------------------------------------------------------------
# The checkpointer.
# ---------------------------------------------------------------------------


class Checkpointer:
  """Latest-N and best checkpoints of one workdir, verified on restore.

  Attributes:
    set_aside: directories moved aside so far (incomplete or damaged steps).
  """

  def __init__(self, workdir: str | os.PathLike, *, keep: int = 2,
               warn: Callable[[str], None] = logging.warning):
    root = pathlib.Path(workdir).absolute() / "checkpoints"
    self._dirs = {"latest": root / "latest", "best": root / "best"}
    self._keep = {"latest": keep}
    self._warn = warn
    self.set_aside = []
    if jax.process_index() == 0:
      for directory in self._dirs.values():
        self.set_aside += _set_aside_incomplete(directory)
    _barrier("spike_ssm_checkpointer_open")
    # max_to_keep=None: orbax deletes nothing; `_prune` keeps `keep` steps
    # once a newer save is known to be complete.
    self._managers = {
        "latest": ocp.CheckpointManager(
            self._dirs["latest"],
            options=ocp.CheckpointManagerOptions(max_to_keep=None,
                                                 create=True)),
        "best": ocp.CheckpointManager(
            self._dirs["best"],
            options=ocp.CheckpointManagerOptions(
                max_to_keep=None, create=True, best_fn=lambda m: m["score"],
                best_mode="max")),
    }
    self._unconfirmed = {kind: [] for kind in self._dirs}
    self._failed = None

  # ------------------------------------------------------------- queries

  def _complete_steps(self, kind: str) -> list[int]:
    directory = self._dirs[kind]
    return sorted(s for s in self._managers[kind].all_steps()
                  if _is_complete(directory / str(s)))

  def latest_step(self) -> int | None:
    steps = self._complete_steps("latest")
    return steps[-1] if steps else None

  def best_step(self) -> int | None:
    """The complete save with the highest score."""
    step = self._managers["best"].best_step()
    if step is not None and _is_complete(self._dirs["best"] / str(step)):
      return step
    steps = self._complete_steps("best")
    return steps[-1] if steps else None

  def best_score(self) -> float | None:
    step = self.best_step()
    if step is None:
      return None
    metrics = self._managers["best"].metrics(step)
    return None if metrics is None else float(metrics["score"])

  def has_step(self, step: int, *, best: bool = False) -> bool:
    """Whether a complete save of `step` exists (latest or best)."""
    return step in self._complete_steps("best" if best else "latest")

  def path(self, step: int, *, best: bool = False) -> pathlib.Path:
    return self._dirs["best" if best else "latest"] / str(step)

  def best_steps_after(self, step: int) -> list[int]:
    """Complete best saves of steps later than `step`."""
    return [s for s in self._complete_steps("best") if s > step]

  def set_aside_best(self, step: int, why: str) -> pathlib.Path:
    """Moves best save `step` to `<step>.<why>-<n>` (never deleted)."""
    self.wait()
    path = self._dirs["best"] / str(step)
    moved = path
    if jax.process_index() == 0:
      moved = set_aside(path, why)
      self.set_aside.append(moved)
    _barrier(f"spike_ssm_set_aside_best_{step}")
    self._managers["best"].reload()
    return moved

  # ---------------------------------------------------------------- save

  def save(self, step: int, train_state: Any, meta: Mapping[str, Any], *,
           score: float | None = None, latest: bool = True) -> None:
    """Saves `train_state` + JSON `meta` at `step` (asynchronously).

    Args:
      step: the step number (a step is saved at most once per directory).
      train_state: a pytree of arrays (replicated across processes).
      meta: JSON-serialisable metadata returned as-is by `restore_*`.
      score: if given and higher than the best save's, the save is also
        the new best checkpoint (`best` keeps one save).
      latest: whether to save into `latest` (False: best only).

    Raises:
      CheckpointSaveError: this or an earlier save failed (path, OS error).
    """
    self.check()
    kinds = ["latest"] if latest else []
    if score is not None:
      # The score to beat is the last best save's, so that one must be done.
      self._confirm("best")
      best = self.best_score()
      if best is None or score > best:
        kinds.append("best")
    kinds = [k for k in kinds if step not in self._managers[k].all_steps()]
    if not kinds:
      return
    # A JSON round trip first, so the checksum covers exactly what is read
    # back (tuples become lists, NumPy scalars fail here, not in a thread).
    meta = json.loads(json.dumps(dict(meta)))
    arrays = array_records(train_state)
    record = {"arrays": arrays,
              "meta_crc32": _crc(_canonical({"meta": meta,
                                              "arrays": arrays}))}
    payload = {**meta, INTEGRITY_KEY: record}
    nbytes = sum(int(np.prod(r["shape"])) * np.dtype(r["dtype"]).itemsize
                 for r in arrays.values())
    for kind in kinds:
      directory = self._dirs[kind]
      self._probe(directory, step, nbytes)
      if jax.process_count() > 1:
        for other in self._managers:  # One save in flight at a time.
          if self._unconfirmed[other]:
            self._confirm(other)
      args = ocp.args.Composite(state=ocp.args.StandardSave(train_state),
                                meta=ocp.args.JsonSave(payload))
      metrics = {"score": float(score)} if kind == "best" else None
      try:
        self._managers[kind].save(step, args=args, metrics=metrics)
      except Exception as e:  # pylint: disable=broad-exception-caught
        self._fail(kind, step, e)
      self._unconfirmed[kind].append(step)

  def _probe(self, directory: pathlib.Path, step: int, nbytes: int) -> None:
    """Fails fast when `directory` cannot take a save of `nbytes`."""
    try:
      directory.mkdir(parents=True, exist_ok=True)
      probe = tempfile.mkdtemp(prefix=".write-probe-", dir=directory)
      os.rmdir(probe)
      free = shutil.disk_usage(directory).free
    except OSError as e:
      self._fail_os(directory, step, e)
    if free < nbytes:
      self._failed = (f"Cannot save checkpoint step {step} in {directory}: "
                      f"it needs about {nbytes / 2**20:.1f} MiB and the disk "
                      f"has {free / 2**20:.1f} MiB free.")
      raise CheckpointSaveError(self._failed)

  def _fail_os(self, directory, step, e: OSError):
    self._failed = (f"Cannot save checkpoint step {step} in {directory}: "
                    f"{e.strerror or e} ({e.filename or directory}).")
    raise CheckpointSaveError(self._failed) from None

  def _fail(self, kind: str, step: int, e: BaseException):
    os_error = _os_error(e)
    where = self._dirs[kind] / str(step)
    # tensorstore (orbax's array writer) reports OS errors inside its own
    # message: `Failed writing: "<path>": ... [os_error_code='27']`.
    store = _TENSORSTORE_OS_ERROR.search(str(e))
    if os_error is not None:
      detail = f"{os_error.strerror or os_error} ({os_error.filename or where})"
    elif store is not None:
      # The file is the last quoted path before the error code.
      paths = re.findall(r'"([^"]+)"', str(e)[:store.start()])
      detail = os.strerror(int(store.group(1))) + (
          f" ({paths[-1]})" if paths else "")
    else:
      detail = _reason(e)
    self._failed = f"Saving checkpoint step {step} to {where} failed: {detail}."
    raise CheckpointSaveError(self._failed) from None

  def check(self) -> None:
    """Raises a failure of an earlier background save; prunes old steps.

    Never blocks on a save in progress. Call it regularly (the loop does at
    every logging step) so that a failed save stops the run promptly.

    Raises:
      CheckpointSaveError: a save failed (the message names the path and the
        OS error); the checkpoints saved before it are untouched.
    """
    if self._failed is not None:
      raise CheckpointSaveError(self._failed)
    if jax.process_count() > 1:
      return  # Local views differ; `save` and `wait` confirm in lockstep.
    for kind, manager in self._managers.items():
      if self._unconfirmed[kind] and not manager.is_saving_in_progress():
        self._confirm(kind)

  def wait(self) -> None:
    """Blocks until every save is written (see `check` for errors)."""
    if self._failed is not None:
      raise CheckpointSaveError(self._failed)
    for kind in self._managers:
      self._confirm(kind)

  def _confirm(self, kind: str) -> None:
    manager = self._managers[kind]
    steps = self._unconfirmed[kind]
    try:
      manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-exception-caught
      self._fail(kind, steps[-1] if steps else -1, e)
    for step in steps:
      if not _is_complete(self._dirs[kind] / str(step)):
        # orbax logged the cause and skipped finalising the step.
        self._failed = (f"Saving checkpoint step {step} to "
                        f"{self._dirs[kind] / str(step)} failed: the step "
                        "was not finalised (see the log above).")
        raise CheckpointSaveError(self._failed)
    self._unconfirmed[kind] = []
    self._prune(kind)

  def _prune(self, kind: str) -> None:
    steps = self._complete_steps(kind)
    if kind == "best":
      keep = {self.best_step()}
    else:
      keep = set(steps[-self._keep[kind]:])
    for step in steps:
      if step not in keep:
        self._managers[kind].delete(step)

  def close(self) -> None:
    """Waits for pending saves and releases orbax's resources."""
    try:
      if self._failed is None:
        self.wait()
    finally:
      for manager in self._managers.values():
        try:
          manager.close()
        except Exception:  # pylint: disable=broad-exception-caught
          # Already reported as a CheckpointSaveError.
          if self._failed is None:
            raise

  # ------------------------------------------------------------- restore

  def restore_latest(self, abstract_state: Any) -> tuple[Any, dict] | None:
    """(train_state, meta) of the newest good save in `latest`, or None.

    Damaged steps met on the way are set aside (see the module docstring).

    Raises:
      IncompatibleCheckpointError: the newest readable save has arrays of
        other names, shapes or dtypes than `abstract_state`.
    """
    return self._restore_newest("latest", abstract_state)

  def restore_best(self, abstract_state: Any) -> tuple[Any, dict] | None:
    """(train_state, meta) of the newest good save in `best`, or None."""
    return self._restore_newest("best", abstract_state)

  def restore_step(self, step: int, abstract_state: Any, *,
                   best: bool = False) -> tuple[Any, dict]:
    """Restores and verifies one step (no fallback, nothing set aside).

    Raises:
      DamagedCheckpointError, IncompatibleCheckpointError, or orbax's error
      for unreadable files.
    """
    kind = "best" if best else "latest"
    return self._restore_step(kind, step, abstract_state)

  def _restore_newest(self, kind, abstract_state):
    steps = self._complete_steps(kind)
    if kind == "best" and steps:
      # The best-scored first, then the rest newest first.
      first = self.best_step()
      steps = [s for s in steps if s != first] + [first]
    for step in reversed(steps):
      try:
        result = self._restore_step(kind, step, abstract_state)
        ok = True
      except IncompatibleCheckpointError:
        raise
      except Exception as e:  # pylint: disable=broad-exception-caught
        # Any failure to read or verify means the step cannot be trusted.
        ok, error = False, e
      if _agree(ok):
        return result
      path = self._dirs[kind] / str(step)
      if jax.process_index() == 0:
        moved = set_aside(path, "damaged")
        self.set_aside.append(moved)
        self._warn(f"Checkpoint {path} is damaged ({_reason(error)}); moved "
                   f"it to {moved.name} and falling back to an older one.")
      _barrier(f"spike_ssm_set_aside_{kind}_{step}")
      self._managers[kind].reload()
    return None

  def _restore_step(self, kind, step, abstract_state):
    manager = self._managers[kind]
    meta = dict(manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])
    record = meta.pop(INTEGRITY_KEY, None)
    path = self._dirs[kind] / str(step)
    if record is None:
      self._warn(f"Checkpoint {path} has no checksums (saved by an older "
                 "version); loading it unverified.")
    else:
      if _crc(_canonical({"meta": meta, "arrays": record["arrays"]})) != (
          record["meta_crc32"]):
        raise DamagedCheckpointError("its JSON metadata fails its checksum")
      diffs = _layout_differences(record["arrays"],
                                  _expected_layout(abstract_state))
      if diffs:
        # Parameters say more than their optimiser moments.
        diffs.sort(key=lambda d: not d.startswith(".params"))
        more = f" and {len(diffs) - 2} more" if len(diffs) > 2 else ""
        raise IncompatibleCheckpointError(
            f"Checkpoint {path} holds arrays of another model: "
            f"{'; '.join(diffs[:2])}{more}.")
    state = manager.restore(
        step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state)))["state"]
    if record is not None:
      got = array_records(state)
      bad = [k for k, r in record["arrays"].items()
             if got[k]["crc32"] != r["crc32"]]
      if bad:
        raise DamagedCheckpointError(
            f"{len(bad)} array(s) fail their checksum, e.g. {bad[0]}")
    return state, meta


def _agree(ok: bool) -> bool:
  """Process 0's verdict on every process (files may race on other hosts)."""
  if jax.process_count() == 1:
    return ok
  return bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def abstract(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings) of `tree`, for a restore target."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
