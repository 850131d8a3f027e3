"""SIGTERM / SIGINT as a request to stop at the next step boundary.

Preemptible queues send SIGTERM and give the job some seconds before killing
it; a user stops a run with Ctrl-C (SIGINT). Either way the loop should
finish the step in flight, save a checkpoint of it and leave cleanly, so
that nothing since the last periodic checkpoint is lost. `StopOnSignal`
records the first such signal (the loop polls `requested`) and puts the
previous handlers back at once, so a second signal acts as it normally
would (Ctrl-C twice interrupts a slow save).
"""

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
  """Context manager: `requested` is the first SIGTERM/SIGINT, else None.

  Handlers can only be installed from the main thread; elsewhere (a run
  started from a worker thread) it installs nothing and `requested` stays
  None.
  """

  def __init__(self):
    self.requested: signal.Signals | None = None
    self._previous = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if self.requested is None:
      self.requested = signal.Signals(signum)
    self._restore()

  def _restore(self) -> None:
    for signum, handler in self._previous.items():
      # None: a handler not set from Python; the default is the best guess.
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    self._previous = {}

  def __enter__(self) -> "StopOnSignal":
    if threading.current_thread() is threading.main_thread():
      for signum in SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    self._restore()
