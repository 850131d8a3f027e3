r"""Entry point: `python -m experiments.launch --config=configs/s5_lra.py`.

Only sets up the process (absl flags, multi-host JAX, logging) and calls
`experiments.train.run(config, workdir)`; everything else lives in the
importable loop so tests call it directly.

  python -m experiments.launch --config=configs/s5_lra.py:task=listops,demo \
      --workdir=runs/demo --config.optim.lr=3e-3

On several hosts, set SPIKE_SSM_DISTRIBUTED=1 (or the usual
JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID variables) and
`jax.distributed.initialize()` runs before anything touches a device.

Errors (a bad config or flag, missing data, a locked workdir, a failed
save, a diverged run, an OS error) end the process with one line,
`error: <message>`, on stderr and exit code 1 (2 for a bad command line).
`--verbosity=1` or SPIKE_SSM_TRACEBACK=1 shows the traceback instead. A run
stopped by SIGTERM / SIGINT saves a checkpoint of its last step and exits
with 128 + the signal number (143 / 130), as shells report a signal.
"""

import os
import re
import signal
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a configs/*.py file, optionally :args.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints and metrics (default: "
    "runs/<config name>). Re-running in the same workdir resumes.")
_STOP_AFTER = flags.DEFINE_integer(
    "stop_after_steps", None, "Checkpoint and exit after this many steps of "
    "this invocation (for preemptible queues); re-run to resume.")
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    "allow_config_change", False, "Resume even though the config differs "
    "from the one the workdir was trained with; every version is kept as "
    "config.step_<N>.json. Changes of the model's shape are refused anyway.")
flags.mark_flags_as_required(["config"])

TRACEBACK_ENV = "SPIKE_SSM_TRACEBACK"
EXIT_ERROR = 1
EXIT_USAGE = 2


def _distributed_requested() -> bool:
  return bool(os.environ.get("SPIKE_SSM_DISTRIBUTED") or
              os.environ.get("JAX_COORDINATOR_ADDRESS"))


def _verbosity_in(argv) -> int:
  """The --verbosity/-v value on a command line (0 if absent or bad)."""
  for i, arg in enumerate(argv[1:], 1):
    match = re.fullmatch(r"--?(?:verbosity|v)(?:=(.*))?", arg)
    if match:
      value = match.group(1)
      if value is None and i + 1 < len(argv):
        value = argv[i + 1]
      try:
        return int(value)
      except (TypeError, ValueError):
        return 0
  return 0


def _tracebacks_wanted(verbosity: int) -> bool:
  return verbosity >= 1 or os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


def one_line(error: BaseException) -> str:
  """The first line of an error's message (its type if it has none)."""
  lines = [l.strip() for l in str(error).splitlines() if l.strip()]
  return lines[0] if lines else type(error).__name__


def _flag_error_line(error: flags.Error) -> str:
  """One line for a flag error (config-file errors carry a traceback)."""
  text = str(error)
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  if not lines:
    return type(error).__name__
  first = lines[0]
  if "Traceback" not in text:
    return " ".join(lines)
  # The error raised inside the config file is the traceback's last
  # `SomeError: message` line.
  detail = None
  for line in lines:
    if match := re.match(r"^[\w.]+(?:Error|Exception): (.*)$", line):
      detail = match.group(1)
  flag = re.sub(r"^flag ", "", first.split(": Error whilst")[0])
  return f"{flag}: {detail}" if detail else first


def _parse_flags(argv):
  """absl's flag parsing, with one-line errors unless tracebacks are wanted."""
  if _tracebacks_wanted(_verbosity_in(argv)):
    return app.parse_flags_with_usage(argv)
  for arg in argv[1:]:
    if arg.startswith("--config="):
      path = arg[len("--config="):].split(":", 1)[0]
      if path and not os.path.isfile(path):
        print(f"error: --config: no such file {path!r}.", file=sys.stderr)
        sys.exit(EXIT_USAGE)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f"error: {_flag_error_line(e)}", file=sys.stderr)
    sys.exit(EXIT_USAGE)
  except (AttributeError, KeyError) as e:
    # ml_collections raises these (not flags.Error) for an override of a key
    # the config does not have; its message suggests the nearest key.
    print(f"error: {_override_error_line(argv, e)}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _override_error_line(argv, error: BaseException) -> str:
  """`--config.a.b: the config has no key 'b'` for an unknown override."""
  text = str(error.args[0] if error.args else error).replace("\\", "")
  key = re.search(r"'(\w+)'", text)
  key = key.group(1) if key else text
  hint = re.search(r'Did you mean "(\w+)"', text)
  hint = f"; did you mean {hint.group(1)!r}?" if hint else "."
  flag = next((a.split("=", 1)[0] for a in argv[1:]
               if a.startswith("--config.") and
               key in a.split("=", 1)[0].split(".")[1:]), "--config")
  return f"{flag}: the config has no key {key!r}{hint}"


class _QuietOrbax:
  """Drops orbax's log records: its failures reach the user as our errors.

  orbax logs a failed background save with several tracebacks (and every
  save at INFO); the loop reports the failure itself, in one line.
  """

  def filter(self, record) -> bool:
    return "/orbax/" not in record.pathname.replace(os.sep, "/")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  verbose = flags.FLAGS["verbosity"].present and flags.FLAGS.verbosity >= 1
  if not flags.FLAGS["verbosity"].present:
    # orbax logs every save at INFO; keep the console to our progress lines.
    logging.set_verbosity(logging.WARNING)
  if not verbose:
    logging.get_absl_logger().addFilter(_QuietOrbax())
  if _tracebacks_wanted(1 if verbose else 0):
    return _main(argv)
  try:
    return _main(argv)
  except KeyboardInterrupt:
    _leave("error: interrupted.", 128 + signal.SIGINT)
  except Exception as e:  # pylint: disable=broad-exception-caught
    # Config, data, lock, checkpoint and OS errors carry messages written to
    # stand alone; anything else is named by its type.
    expected = (ValueError, TypeError, KeyError, OSError, RuntimeError)
    text = one_line(e)
    if not isinstance(e, expected):
      text = f"{type(e).__name__}: {text}"
    _leave(f"error: {text} (--verbosity=1 shows the traceback)"
           if not isinstance(e, expected) else f"error: {text}", EXIT_ERROR)


def _leave(message: str, code: int) -> None:
  print(message, file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  # orbax may hold non-daemon threads waiting on a failed save for minutes;
  # everything of ours is closed and flushed, so leave now.
  os._exit(code)  # pylint: disable=protected-access


def _main(argv):
  del argv
  if _distributed_requested():
    jax.distributed.initialize()
  # pylint: disable=g-import-not-at-top
  from experiments import train
  # pylint: enable=g-import-not-at-top
  config = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join(
      "runs", os.path.splitext(os.path.basename(
          flags.FLAGS["config"].config_filename))[0])
  logging.info("workdir: %s", workdir)
  result = train.run(config, workdir, stop_after_steps=_STOP_AFTER.value,
                     allow_config_change=_ALLOW_CONFIG_CHANGE.value)
  if "signal" in result:
    # As a shell reports a process ended by that signal: the job is not
    # done, and a requeueing wrapper should start it again.
    sys.stdout.flush()
    sys.exit(128 + signal.Signals[result["signal"]].value)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
