"""The config a workdir was trained with, and what a resume may change.

A workdir keeps its run's config as `config.json`. Resuming with a different
config would silently mix two experiments in one set of checkpoints and
metrics, so `check` compares the two and refuses a change unless the caller
allows it (the launcher's `--allow_config_change`). Allowed changes are
recorded: `record` keeps every version as `config.step_<N>.json`, N being
the step it took over at (the first version is `config.step_0.json`), and
`config.json` always holds the current one. A change of the model's shape
is refused even then: the checkpoint check (`IncompatibleCheckpointError`)
catches it, whatever key caused it.

Configs are compared as the JSON they are saved as, key by dotted key.
"""

from collections.abc import Mapping
import json
import os
import pathlib
import re
from typing import Any

CONFIG_NAME = "config.json"
# Keys that change how a run is displayed or cached, never what it computes.
COSMETIC_KEYS = frozenset({"train.progress_bar", "train.plot",
                           "data.cache_dir"})
_VERSION = re.compile(r"^config\.step_(\d+)\.json$")


class ConfigChangeError(ValueError):
  """A resume with a config other than the workdir's, not allowed."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{"a": {"b": 1}} -> {"a.b": 1} (empty dicts stay as leaves)."""
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping) and value:
      out.update(flatten(value, name + "."))
    else:
      out[name] = value
  return out


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
  """`key: old -> new` for every dotted key that differs (cosmetic ones not).

  Args:
    old, new: configs as nested dicts (e.g. parsed `config.json`).

  Returns:
    Sorted lines; a key present on one side only shows `(absent)`.
  """
  a, b = flatten(old), flatten(new)
  out = []
  for key in sorted(set(a) | set(b)):
    if key in COSMETIC_KEYS:
      continue
    va, vb = a.get(key, "(absent)"), b.get(key, "(absent)")
    if va != vb:
      out.append(f"{key}: {_show(va)} -> {_show(vb)}")
  return out


def _show(value: Any) -> str:
  return value if value == "(absent)" else json.dumps(value)


def load(workdir: str | os.PathLike) -> dict[str, Any] | None:
  """The workdir's `config.json`, or None if absent or unreadable."""
  path = pathlib.Path(workdir) / CONFIG_NAME
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return None


def check(workdir: str | os.PathLike, config: Mapping[str, Any], *,
          allow_change: bool) -> list[str]:
  """Compares `config` with the workdir's; writes nothing.

  Call it only when the run will resume from a checkpoint.

  Args:
    workdir: the run's directory.
    config: the new config as a nested dict (its JSON form).
    allow_change: whether a changed config may resume.

  Returns:
    The changed keys (empty when unchanged or when the workdir has no
    readable config.json to compare with).

  Raises:
    ConfigChangeError: the config changed and `allow_change` is False (the
      one-line message lists the changes).
  """
  saved = load(workdir)
  if saved is None:
    return []
  changes = differences(saved, config)
  if changes and not allow_change:
    shown = "; ".join(changes[:6])
    more = f"; and {len(changes) - 6} more" if len(changes) > 6 else ""
    raise ConfigChangeError(
        f"The config differs from the one {pathlib.Path(workdir)} was "
        f"trained with ({shown}{more}). Pass --allow_config_change to resume "
        "with it anyway (each version is kept as config.step_<N>.json), or "
        "use a new workdir.")
  return changes


def record(workdir: str | os.PathLike, config: Mapping[str, Any], *,
           start_step: int, changed: bool) -> None:
  """Writes `config.json` (and, after an allowed change, the versions).

  Args:
    workdir: the run's directory.
    config: the config this run uses, as a nested dict.
    start_step: the step this run starts from (its restored checkpoint).
    changed: whether `check` found (and allowed) changes.
  """
  workdir = pathlib.Path(workdir)
  if changed:
    if not versions(workdir):
      # The config being replaced is the first version: it ran from step 0.
      previous = workdir / CONFIG_NAME
      _write(workdir / "config.step_0.json",
             previous.read_text(encoding="utf-8"))
    _write(workdir / f"config.step_{start_step}.json", _dump(config))
  _write(workdir / CONFIG_NAME, _dump(config))


def versions(workdir: str | os.PathLike) -> dict[int, pathlib.Path]:
  """{start step: path} of the kept config versions."""
  out = {}
  for path in pathlib.Path(workdir).glob("config.step_*.json"):
    if match := _VERSION.match(path.name):
      out[int(match.group(1))] = path
  return dict(sorted(out.items()))


def _dump(config: Mapping[str, Any]) -> str:
  return json.dumps(config, indent=1) + "\n"


def _write(path: pathlib.Path, text: str) -> None:
  # Write-then-rename: a crash leaves the old file or the new, never half.
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(text, encoding="utf-8")
  tmp.replace(path)
