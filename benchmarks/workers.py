"""Each implementation of a case in its own process, timed in lockstep rounds.

Why: on a CPU, XLA's buffers come from the process's `malloc`, and large
ones are page-faulted in whenever the allocator has handed their memory back
to the system. Two libraries timed in one process share that allocator, so
one's allocation pattern decides whether the other's next call faults:
measured on the 2-core benchmark machine (`resource.getrusage` minor faults
around each call, PSU_LIF T=1000 B=32 D=256 forward+backward), spike_ssm's
program alone took 20-24 ms with no faults per call, and 36-70 ms with 8,000
to 16,000 faults (32 to 64 MB refaulted) when Spyx's program, which
allocates and frees about 300 MB per call, ran between its calls. Glibc's
`mallopt` knobs (a fixed mmap or trim threshold, one arena) made both
slower, not steadier.

So on a CPU (`benchmarks.run --isolate`, on by default there) every entry of
a group gets its own worker process: it builds its inputs and programs from
the same deterministic recipe (`run.build_groups`), compiles them when told,
and then times one call at a time when told. The parent keeps the
interleaving (A, B, C, A, B, C, ...: a burst of load still hits every entry
alike) and only one worker runs at a time, so the entries never compete for
the two cores; each is measured in its own allocator's steady state, as it
runs in a user's training loop.
"""

import multiprocessing
from typing import Any

# How long a worker may take to start, build and compile, or to run one
# call, before the parent gives up on it (seconds).
_REPLY_TIMEOUT_S = 600.0


def _serve(conn, spec: dict[str, Any]) -> None:
  """The worker's loop (runs in the child process)."""
  # Imported here: the child imports the harness, not the other way round.
  from benchmarks import run  # pylint: disable=g-import-not-at-top
  from benchmarks import timing  # pylint: disable=g-import-not-at-top

  try:
    # ("build",): the parent decides when compilation starts; ("stop",)
    # before it means the run ended first.
    if conn.recv()[0] != "build":
      return
    sizes = run.SMOKE if spec["smoke"] else run.FULL
    group = run.build_groups(sizes, spec["modes"])[spec["group_index"]]
    entry = group.entries[spec["entry_index"]]
    try:
      lowered = timing.lower_workload(entry.build(group.make_inputs()))
      compiled = timing.compile_lowered(lowered)
    except timing.Unavailable as e:
      conn.send(("skipped", str(e)))
      return
    except Exception as e:  # pylint: disable=broad-except
      conn.send(("failed", f"{type(e).__name__}: {e}"))
      return
    info = dict(compile_forward_s=compiled.compile_forward_s,
                compile_forward_backward_s=compiled.compile_grad_s)
    info.update(run.byte_record(group, entry, lowered.workload,
                                compiled.forward_out))
    conn.send(("ok", info))
    calls = {"forward": compiled.forward, "grad": compiled.grad}
    while True:
      message = conn.recv()
      if message[0] == "stop":
        return
      try:
        conn.send(("ok", timing.timed_call(calls[message[1]])))
      except Exception as e:  # pylint: disable=broad-except
        conn.send(("failed", f"{type(e).__name__}: {e}"))
        return
  except (EOFError, BrokenPipeError, KeyboardInterrupt):
    return  # The parent went away: nothing left to report to.
  finally:
    conn.close()


class WorkerError(RuntimeError):
  """A worker died, timed out, or failed a call."""


class Worker:
  """One entry of one group, built and timed in a child process.

  The child starts importing at once; `build()` makes it build and compile
  (so the parent chooses whether compilations overlap), `call(kind)` runs
  one timed call of "forward" or "grad" and returns its milliseconds.
  """

  def __init__(self, *, smoke: bool, modes: list[str], group_index: int,
               entry_index: int, label: str):
    self.label = label
    ctx = multiprocessing.get_context("spawn")  # A fresh allocator and XLA.
    self._conn, child = ctx.Pipe()
    spec = dict(smoke=smoke, modes=list(modes), group_index=group_index,
                entry_index=entry_index)
    self._process = ctx.Process(target=_serve, args=(child, spec),
                                daemon=True, name=f"bench {label}")
    self._process.start()
    child.close()

  def _lost(self) -> "WorkerError":
    self._process.join(5)
    return WorkerError(f"{self.label}: the worker process exited (code "
                       f"{self._process.exitcode})")

  def _send(self, message: tuple[Any, ...]) -> None:
    try:
      self._conn.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
      raise self._lost() from None

  def _reply(self) -> tuple[str, Any]:
    if not self._conn.poll(_REPLY_TIMEOUT_S):
      self.close()
      raise WorkerError(f"{self.label}: no reply in {_REPLY_TIMEOUT_S:.0f} s")
    try:
      return self._conn.recv()
    except (EOFError, ConnectionResetError):
      raise self._lost() from None

  def start_build(self) -> None:
    """Tells the worker to build (a lost worker surfaces in finish_build)."""
    try:
      self._send(("build",))
    except WorkerError:
      pass  # finish_build's read reports it, with the exit code.

  def finish_build(self) -> tuple[str, Any]:
    """("ok", record fields) | ("skipped", note) | ("failed", note)."""
    return self._reply()

  def call(self, kind: str) -> float:
    self._send(("call", kind))
    status, value = self._reply()
    if status != "ok":
      raise WorkerError(f"{self.label}: {value}")
    return value

  def close(self) -> None:
    try:
      self._conn.send(("stop",))
    except (BrokenPipeError, OSError):
      pass
    self._process.join(10)
    if self._process.is_alive():
      self._process.terminate()
      self._process.join(5)
    self._conn.close()
