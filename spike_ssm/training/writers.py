"""Metric writers: JSONL, TensorBoard event files, console progress, PNG curves.

Writers follow one `Writer` protocol (`write(step, scalars)`, `close()`), so
the loop does not care where metrics go. TensorBoard event files are written
by tensorboardX (no TensorFlow needed).
"""

from collections.abc import Mapping, Sequence
import json
import math
import os
import pathlib
import sys
import time
from typing import Protocol

from tensorboardX import event_file_writer
from tensorboardX.proto import event_pb2
from tensorboardX.proto import summary_pb2


class Writer(Protocol):

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    ...

  def close(self) -> None:
    ...


class JsonlWriter:
  """One JSON object per line: {"step": s, "time": t, **scalars}."""

  def __init__(self, path: str | os.PathLike):
    self._path = pathlib.Path(path)
    self._path.parent.mkdir(parents=True, exist_ok=True)
    self._file = open(self._path, "a", encoding="utf-8")

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    row = {"step": int(step), "time": time.time()}
    row.update({k: _plain(v) for k, v in scalars.items()})
    self._file.write(json.dumps(row) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def _plain(v):
  v = float(v)
  return v if math.isfinite(v) else str(v)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
  """The rows of a JSONL file, without a partial last line.

  A run killed mid-write (power loss, disk full) can leave its last line
  unfinished; that row is dropped (a resumed run rewrites it) instead of
  making every later read fail. A malformed line anywhere else is real
  damage and raises.

  Raises:
    ValueError: a line other than the last is not valid JSON (the message
      names the file and line number).
  """
  with open(path, encoding="utf-8") as f:
    lines = f.read().split("\n")
  # Text after the last newline was never terminated: a partial write.
  complete, tail = lines[:-1], lines[-1]
  rows = []
  for number, line in enumerate(complete, 1):
    if not line.strip():
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise ValueError(
          f"{path}: line {number} is not valid JSON ({e}).") from None
  if tail.strip():
    try:
      rows.append(json.loads(tail))
    except json.JSONDecodeError:
      pass  # A partial last line: dropped (see docstring).
  return rows


def truncate_jsonl(path: str | os.PathLike, last_step: int) -> None:
  """Keeps only rows with `step <= last_step` (and drops a partial line).

  A resumed run redoes the steps after its checkpoint; their old rows go so
  that every step appears once. The file is replaced atomically.
  """
  path = pathlib.Path(path)
  if not path.exists():
    return
  rows = read_jsonl(path)
  keep = [r for r in rows if r["step"] <= last_step]
  text = "".join(json.dumps(r) + "\n" for r in keep)
  if text.encode() == path.read_bytes():
    return
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(text, encoding="utf-8")
  tmp.replace(path)


# ---------------------------------------------------------------------------
# TensorBoard event files (written by tensorboardX).
# ---------------------------------------------------------------------------


class TensorBoardWriter:
  """Scalar summaries in TensorBoard event files under `logdir`.

  Each writer opens a new `events.out.tfevents.*` file. A resumed run passes
  `purge_step`, the first step it will redo: the file then starts with a
  `SessionLog.START` event at that step, TensorBoard's own restart marker,
  and TensorBoard's readers drop every earlier-written event with `step >=
  purge_step`, so replayed steps appear once (the JSONL file is cut back
  instead).
  """

  def __init__(self, logdir: str | os.PathLike, *,
               purge_step: int | None = None):
    logdir = pathlib.Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    # tensorboardX names files by the second and the host and opens them
    # with "wb": two writers within one second would share (and clobber) a
    # file. A nanosecond suffix keeps names unique and in creation order,
    # the order in which TensorBoard reads them.
    suffix = f".{time.time_ns()}"
    # EventsWriter writes synchronously (FileWriter queues events for a
    # thread, so a flush would not mean the rows are on disk).
    self._writer = event_file_writer.EventsWriter(str(logdir / "events"),
                                                  filename_suffix=suffix)
    self.path, = logdir.glob(f"events.out.tfevents.*{suffix}")
    if purge_step is not None:
      self._write(int(purge_step), session_log=event_pb2.SessionLog(
          status=event_pb2.SessionLog.START))
    self._writer.flush()

  def _write(self, step: int, **fields) -> None:
    self._writer.write_event(
        event_pb2.Event(wall_time=time.time(), step=step, **fields))

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    # One event per call (tensorboardX's add_scalar writes one per tag and
    # logs a warning for every NaN, which a diverging run has many of).
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
        for tag, value in scalars.items()])
    self._write(int(step), summary=summary)
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()


# ---------------------------------------------------------------------------
# Console progress.
# ---------------------------------------------------------------------------


def _fmt_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ConsoleProgress:
  """Progress lines (step, loss, accuracy, steps/s, tokens/s, ETA).

  On a terminal the line is redrawn in place with a bar; otherwise (logs,
  CI) one line is printed per report.
  """

  def __init__(self, total_steps: int, *, stream=None, bar: bool = True,
               width: int = 24):
    self.total = total_steps
    self.stream = stream or sys.stdout
    self.tty = bar and hasattr(self.stream, "isatty") and self.stream.isatty()
    self.width = width
    self._last_time = None
    self._last_step = None

  def report(self, step: int, scalars: Mapping[str, float], *,
             tokens_per_step: int) -> dict[str, float]:
    now = time.perf_counter()
    rates = {}
    if self._last_time is not None and step > self._last_step:
      dt = now - self._last_time
      sps = (step - self._last_step) / max(dt, 1e-9)
      rates = {"steps_per_s": sps, "tokens_per_s": sps * tokens_per_step}
    self._last_time, self._last_step = now, step
    parts = [f"step {step}/{self.total}"]
    for key in ("loss", "accuracy", "spike_rate"):
      if key in scalars:
        parts.append(f"{key} {float(scalars[key]):.4f}")
    if rates:
      eta = (self.total - step) / max(rates["steps_per_s"], 1e-9)
      parts.append(f"{rates['steps_per_s']:.2f} steps/s")
      parts.append(f"{rates['tokens_per_s']:.0f} tok/s")
      parts.append(f"ETA {_fmt_duration(eta)}")
    line = "  ".join(parts)
    if self.tty:
      done = int(self.width * step / max(self.total, 1))
      bar = "#" * done + "-" * (self.width - done)
      self.stream.write(f"\r[{bar}] {line}\x1b[K")
    else:
      self.stream.write(line + "\n")
    self.stream.flush()
    return rates

  def message(self, text: str) -> None:
    if self.tty:
      self.stream.write("\r\x1b[K")
    self.stream.write(text + "\n")
    self.stream.flush()


# ---------------------------------------------------------------------------
# Learning curves.
# ---------------------------------------------------------------------------


def plot_curves(rows: Sequence[Mapping], path: str | os.PathLike) -> bool:
  """Writes a PNG of train loss and eval accuracy/loss from JSONL rows.

  Returns False (and writes nothing) when matplotlib is not installed.
  """
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  series = {}
  for row in rows:
    for key, value in row.items():
      if key in ("step", "time") or isinstance(value, str):
        continue
      series.setdefault(key, []).append((row["step"], value))
  panels = [("loss", [k for k in ("train/loss", "validation/loss",
                                  "test/loss") if k in series]),
            ("accuracy", [k for k in ("train/accuracy", "validation/accuracy",
                                      "test/accuracy") if k in series])]
  panels = [(t, ks) for t, ks in panels if ks]
  if not panels:
    return False
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5))
  axes = axes if len(panels) > 1 else [axes]
  for ax, (title, keys) in zip(axes, panels):
    for key in keys:
      steps, values = zip(*series[key])
      ax.plot(steps, values, label=key, marker="." if len(steps) < 30 else None)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True
