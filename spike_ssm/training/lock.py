"""One training process per workdir: an exclusive, self-releasing lock.

Two runs writing one workdir would interleave metrics rows and overwrite
each other's checkpoints. `WorkdirLock` takes `fcntl.flock` on
`<workdir>/.lock` and writes the holder's pid and host into it. The kernel
releases a flock when its process ends, however it ends (`kill -9`
included), so a lock left behind by a dead run never blocks a resume; the
file itself stays and is simply taken over.
"""

import datetime
import errno
import fcntl
import os
import pathlib
import socket

LOCK_NAME = ".lock"


class LockError(RuntimeError):
  """The workdir is locked by another live process."""


class WorkdirLock:
  """Exclusive lock on a workdir, held from `acquire()` to `release()`.

  Use as a context manager:

    with lock.WorkdirLock(workdir):
      ...  # only this process writes the workdir
  """

  def __init__(self, workdir: str | os.PathLike):
    self.path = pathlib.Path(workdir) / LOCK_NAME
    self._fd = None

  def acquire(self) -> None:
    """Takes the lock or raises at once (never waits).

    Raises:
      LockError: another process holds it (the message names its pid and
        host, as written in the lock file).
      OSError: the lock file cannot be created.
    """
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise
      raise LockError(
          f"The workdir {self.path.parent} is in use by another run "
          f"({holder(self.path)}); wait for it to end or choose another "
          "workdir.") from None
    os.ftruncate(fd, 0)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    os.write(fd, f"pid={os.getpid()} host={socket.gethostname()} "
                 f"since={started}\n".encode())
    os.fsync(fd)
    self._fd = fd

  def release(self) -> None:
    if self._fd is not None:
      # Closing the descriptor drops the flock; the file stays (removing it
      # would race with a process that has just opened it).
      os.close(self._fd)
      self._fd = None

  def __enter__(self) -> "WorkdirLock":
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def holder(path: str | os.PathLike) -> str:
  """The lock file's `pid=... host=... since=...` line, for messages."""
  try:
    text = pathlib.Path(path).read_text().strip()
  except OSError:
    text = ""
  return text or "holder unknown"
