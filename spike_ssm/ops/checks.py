"""Argument checks for the public edges of layers and neurons.

Every constructor and every whole-sequence / streaming entry point checks
its arguments here, once, at trace time, so a bad value fails with one line
that names the owner, the argument, what was expected and what was given,
never with an XLA shape error deep in a scan. Inner code trusts what the
edge checked.
"""

from collections.abc import Collection
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import scans

SCAN_MODES = tuple(m.value for m in scans.ScanMode)


def _is_real_number(value) -> bool:
  return (isinstance(value, (int, float, np.integer, np.floating)) and
          not isinstance(value, (bool, np.bool_)))


def check_int(owner: str, name: str, value, minimum: int = 1) -> int:
  """`value` as an int >= `minimum` (bools are not ints here)."""
  if (not isinstance(value, (int, np.integer)) or
      isinstance(value, (bool, np.bool_)) or value < minimum):
    raise ValueError(
        f"{owner}: `{name}` must be an int >= {minimum}, got {value!r}.")
  return int(value)


def check_bool(owner: str, name: str, value) -> bool:
  """`value` as a bool (TypeError for anything else, e.g. "yes" or 1)."""
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{owner}: `{name}` must be a bool, got {value!r}.")
  return bool(value)


def check_choice(owner: str, name: str, value, choices: Collection[Any]):
  """`value` if it is one of `choices`."""
  if not isinstance(value, str) or value not in choices:
    raise ValueError(
        f"{owner}: `{name}` must be one of {tuple(choices)}, got {value!r}.")
  return value


def check_float(owner: str, name: str, value, *, above: float | None = None,
                at_least: float | None = None,
                below: float | None = None,
                at_most: float | None = None) -> float:
  """`value` as a finite float within the given bounds.

  Args:
    owner: who checks (for the message).
    name: the argument's name.
    value: the value given.
    above: exclusive lower bound.
    at_least: inclusive lower bound.
    below: exclusive upper bound.
    at_most: inclusive upper bound.

  Returns:
    `float(value)`.

  Raises:
    ValueError: not a real number, not finite, or out of bounds.
  """
  bounds = []
  if above is not None:
    bounds.append(f"> {above}")
  if at_least is not None:
    bounds.append(f">= {at_least}")
  if below is not None:
    bounds.append(f"< {below}")
  if at_most is not None:
    bounds.append(f"<= {at_most}")
  want = (" and ".join(bounds) + " (a finite number)" if bounds else
          "a finite number")
  if not _is_real_number(value) or not math.isfinite(value):
    raise ValueError(f"{owner}: `{name}` must be {want}, got {value!r}.")
  value = float(value)
  ok = ((above is None or value > above) and
        (at_least is None or value >= at_least) and
        (below is None or value < below) and
        (at_most is None or value <= at_most))
  if not ok:
    raise ValueError(f"{owner}: `{name}` must be {want}, got {value!r}.")
  return value


def check_step_range(owner: str, dt_min, dt_max) -> tuple[float, float]:
  """`(dt_min, dt_max)` with `0 < dt_min <= dt_max` (an SSM's step range)."""
  dt_min = check_float(owner, "dt_min", dt_min, above=0.0)
  dt_max = check_float(owner, "dt_max", dt_max, above=0.0)
  if dt_min > dt_max:
    raise ValueError(
        f"{owner}: `dt_min` must be <= `dt_max`, got dt_min={dt_min} > "
        f"dt_max={dt_max}.")
  return dt_min, dt_max


def check_scan_mode(owner: str, scan_mode,
                    chunk_size=None) -> scans.ScanMode:
  """The `linear_scan` mode of a layer or neuron, and its chunk size.

  Args:
    owner: who checks (for the message).
    scan_mode: one of `SCAN_MODES`.
    chunk_size: None or an int >= 1.

  Returns:
    The `ScanMode` (a `str` enum, so it compares equal to its name).

  Raises:
    ValueError: an unknown mode or a bad chunk size.
  """
  if not isinstance(scan_mode, str) or scan_mode not in SCAN_MODES:
    raise ValueError(
        f"{owner}: bad `scan_mode`: scan_mode must be one of {SCAN_MODES}, "
        f"got {scan_mode!r}.")
  if chunk_size is not None:
    check_int(owner, "chunk_size", chunk_size, 1)
  return scans.ScanMode(scan_mode)


def check_array(owner: str, name: str, x, ndim: int, layout: str) -> None:
  """`x` must be a floating array of rank `ndim` (`layout` names its axes).

  Raises:
    TypeError: not an array, or not floating point.
    ValueError: the wrong rank.
  """
  if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
    raise TypeError(
        f"{owner}: `{name}` must be an array of shape {layout}, got "
        f"{type(x).__name__}.")
  if x.ndim != ndim:
    raise ValueError(
        f"{owner}: `{name}` must have rank {ndim}, shape {layout}; got shape "
        f"{tuple(x.shape)}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"{owner}: `{name}` must be a floating array, got dtype {x.dtype}.")


def check_like(owner: str, name: str, value, expected) -> None:
  """`value` must have the tree structure and leaf shapes of `expected`.

  For streaming states: `expected` is the state `initial_state` would
  build for this input, and each mismatching leaf is named by its path
  (`state.h`, `state.ssm.h`, ...).

  Raises:
    TypeError: a different structure (e.g. another layer's state).
    ValueError: a leaf of the wrong shape.
  """
  want_leaves, want_tree = jax.tree_util.tree_flatten_with_path(expected)
  got_leaves, got_tree = jax.tree_util.tree_flatten_with_path(value)
  if got_tree != want_tree:
    raise TypeError(
        f"{owner}: `{name}` must be a {type(expected).__name__}, got "
        f"{type(value).__name__} (use the state `initial_state` returns).")
  for (path, want), (_, got) in zip(want_leaves, got_leaves):
    got_shape = tuple(getattr(got, "shape", ()))
    if got_shape != tuple(want.shape):
      raise ValueError(
          f"{owner}: `{name}{jax.tree_util.keystr(path)}` must have shape "
          f"{tuple(want.shape)}, got {got_shape}.")
