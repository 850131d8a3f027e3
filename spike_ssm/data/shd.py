"""Spiking Heidelberg Digits (SHD; Cramer et al. 2020) as binned spike frames.

Reads the official HDF5 files under `root` (the user's own copy; nothing is
downloaded): shd_train.h5 and shd_test.h5, or the distribution's gzipped
shd_train.h5.gz / shd_test.h5.gz (decompressed in memory). Each file holds

  spikes/times   N variable-length float arrays: spike times in seconds
  spikes/units   N variable-length integer arrays: input channel in [0, 700)
  labels         (N,) integer classes in [0, 20)

(plus `extra/`, which is not read). Example n becomes frames `(T, 700)`:
bin t counts the spikes of each channel with
`t * bin_width <= time < (t + 1) * bin_width`, for
`T = ceil(max_time / bin_width)` bins; spikes at or after `max_time` are
dropped. With `binary=True` (default) a bin holds 1 if the channel spiked
in it at all (stored as uint8, one byte per entry: 0.6 GB for the training
set at the defaults), else the spike count (float32, four times the
memory).

Defaults (our choice; SHD fixes no binning): 10 ms bins over the first
1.0 s, T = 100. Validation: SHD has none, so a seeded random
`val_fraction` (default 0.1) of the training file is held out (NumPy's
legacy `RandomState(split_seed)` stream, frozen across versions); the test
file is the official test set (it has speakers the training set lacks).

A missing dataset, a length mismatch between `times` and `units`, a channel
outside [0, 700), a negative or non-finite time or a label outside [0, 20)
raises a ValueError naming the file, the dataset and the example.
"""

import gzip
import io
import math
import os
import pathlib
import zlib

import numpy as np

from spike_ssm.data import base
from spike_ssm.data import seq_image

NUM_CHANNELS = 700
NUM_CLASSES = 20
_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
_DATASETS = ("spikes/times", "spikes/units", "labels")


def _import_h5py():
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("The 'shd' task reads HDF5 files and needs h5py: pip "
                      "install h5py") from e
  return h5py


def num_bins(bin_width: float, max_time: float) -> int:
  """T = ceil(max_time / bin_width), robust to float round-off (1.0 / 0.01
  is 100 bins, not 101)."""
  ratio = max_time / bin_width
  nearest = round(ratio)
  if math.isclose(ratio, nearest, rel_tol=1e-9, abs_tol=1e-9):
    return max(1, int(nearest))
  return max(1, math.ceil(ratio))


def read_shd_file(path: str | os.PathLike):
  """The spikes and labels of one SHD HDF5 file, checked.

  Args:
    path: shd_*.h5, or a gzipped copy (.h5.gz).

  Returns:
    (times, units, labels): lists of N float64 / int64 arrays (one per
    example) and int32 (N,) labels.

  Raises:
    FileNotFoundError: no such file.
    ValueError: naming the file and what is wrong (module doc).
  """
  h5py = _import_h5py()
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"SHD file not found: {path}")
  source = path
  if path.suffix == ".gz":
    try:
      with gzip.open(path, "rb") as f:
        source = io.BytesIO(f.read())
    except (OSError, EOFError, zlib.error) as e:
      raise ValueError(f"{path}: corrupt or truncated gzip stream ({e})."
                       ) from None
  try:
    handle = h5py.File(source, "r")
  except OSError as e:
    raise ValueError(f"{path}: not a readable HDF5 file ({e}).") from None
  with handle:
    missing = [name for name in _DATASETS
               if not isinstance(handle.get(name), h5py.Dataset)]
    if missing:
      raise ValueError(f"{path}: missing HDF5 dataset(s) {missing}; an SHD "
                       f"file holds {list(_DATASETS)}.")
    try:
      times = list(handle["spikes/times"][()])
      units = list(handle["spikes/units"][()])
      labels = np.asarray(handle["labels"][()])
    except (OSError, ValueError, TypeError) as e:
      raise ValueError(f"{path}: unreadable SHD datasets ({e}).") from None
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{path}: dataset 'labels' must be integer of shape "
                     f"(N,), got {labels.dtype} {labels.shape}.")
  if len(times) != len(labels) or len(units) != len(labels):
    raise ValueError(f"{path}: 'spikes/times' has {len(times)} examples, "
                     f"'spikes/units' {len(units)} and 'labels' "
                     f"{len(labels)}; they must match.")
  if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
    bad = int(np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))[0])
    raise ValueError(f"{path}: 'labels' must lie in [0, {NUM_CLASSES}), "
                     f"example {bad} has label {labels[bad]}.")
  out_t, out_u = [], []
  for n, (t, u) in enumerate(zip(times, units)):
    t = np.asarray(t, np.float64).reshape(-1)
    u = np.asarray(u)
    if u.ndim != 1 or (u.size and not np.issubdtype(u.dtype, np.integer)):
      raise ValueError(f"{path}: 'spikes/units' example {n} must be a 1-D "
                       f"integer array, got {u.dtype} {u.shape}.")
    if t.shape != u.shape:
      raise ValueError(f"{path}: example {n} has {t.size} spike times but "
                       f"{u.size} units in 'spikes/units'.")
    if u.size and (u.min() < 0 or u.max() >= NUM_CHANNELS):
      raise ValueError(f"{path}: 'spikes/units' example {n} has a channel "
                       f"outside [0, {NUM_CHANNELS}): range [{u.min()}, "
                       f"{u.max()}].")
    if t.size and not (np.all(np.isfinite(t)) and t.min() >= 0):
      raise ValueError(f"{path}: 'spikes/times' example {n} has a negative "
                       f"or non-finite time.")
    out_t.append(t)
    out_u.append(u.astype(np.int64))
  return out_t, out_u, labels.astype(np.int32)


def bin_spikes(times, units, *, bin_width: float, max_time: float,
               binary: bool) -> np.ndarray:
  """Spike lists -> frames `(N, T, 700)` (see the module doc).

  Args:
    times: N float arrays of spike times (seconds).
    units: N integer arrays of channels, matching `times`.
    bin_width: seconds per bin.
    max_time: spikes at or after this time are dropped.
    binary: 1 per (bin, channel) with any spike, stored as uint8 255 (so a
      batch reads exactly 1.0), else float32 counts.

  Returns:
    uint8 (binary) or float32 (counts) `(N, T, 700)`.
  """
  t_bins = num_bins(bin_width, max_time)
  n = len(times)
  dtype = np.uint8 if binary else np.float32
  frames = np.zeros((n, t_bins, NUM_CHANNELS), dtype)
  if n == 0:
    return frames
  lengths = np.array([len(t) for t in times], np.int64)
  example = np.repeat(np.arange(n), lengths)
  flat_t = np.concatenate(times) if lengths.sum() else np.zeros(0)
  flat_u = np.concatenate(units) if lengths.sum() else np.zeros(0, np.int64)
  keep = flat_t < max_time
  example, flat_t, flat_u = example[keep], flat_t[keep], flat_u[keep]
  step = np.minimum(np.floor(flat_t / bin_width).astype(np.int64),
                    t_bins - 1)
  if binary:
    frames[example, step, flat_u] = 255
  else:
    np.add.at(frames, (example, step, flat_u), 1.0)
  return frames


def _find(root: pathlib.Path, name: str) -> pathlib.Path:
  tried = []
  for folder in (root, root / "shd", root / "SHD"):
    for candidate in (name, name + ".gz"):
      path = folder / candidate
      tried.append(str(path))
      if path.is_file():
        return path
  raise FileNotFoundError(f"SHD file {name}[.gz] not found under root="
                          f"{str(root)!r}: looked for {tried}.")


def _check_positive_float(name: str, value) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TypeError(f"{name} must be a float, got {type(value).__name__} "
                    f"{value!r}.")
  if not (math.isfinite(value) and value > 0):
    raise ValueError(f"{name} must be a finite number > 0, got {value}.")
  return float(value)


def build_shd(*, root: str | os.PathLike | None = None,
              cache_dir: str | os.PathLike | None = None, seed: int = 0,
              bin_width: float = 0.01, max_time: float = 1.0,
              binary: bool = True, val_fraction: float = 0.1,
              split_seed: int = 0) -> base.Task:
  """SHD: continuous (N, T, 700) spike frames, 20 classes (module doc).

  Args:
    root: directory holding shd_train.h5 and shd_test.h5 (or .h5.gz).
    cache_dir: unused (binning is fast; nothing is cached).
    seed: unused (the split has its own seed).
    bin_width: seconds per time bin, > 0.
    max_time: seconds of each recording kept, > 0.
    binary: 0/1 frames (uint8 storage) rather than float32 counts.
    val_fraction: share of the training file held out, in (0, 1).
    split_seed: seed of the validation carve.
  """
  del cache_dir, seed
  bin_width = _check_positive_float("bin_width", bin_width)
  max_time = _check_positive_float("max_time", max_time)
  if not isinstance(binary, bool):
    raise TypeError(f"binary must be a bool, got {type(binary).__name__} "
                    f"{binary!r}.")
  if bin_width > max_time:
    raise ValueError(f"bin_width={bin_width} must be <= max_time="
                     f"{max_time}.")
  val_fraction = seq_image.check_fraction("val_fraction", val_fraction)
  split_seed = seq_image.check_seed("split_seed", split_seed)
  if root is None:
    raise ValueError("Task 'shd' reads the user's own files: pass root=DIR "
                     "(--config.data.root=DIR) where DIR contains "
                     "shd_train.h5 and shd_test.h5 (or .h5.gz).")
  root = pathlib.Path(root).expanduser()
  splits = {}
  for which, name in _FILES.items():
    times, units, labels = read_shd_file(_find(root, name))
    frames = bin_spikes(times, units, bin_width=bin_width,
                        max_time=max_time, binary=binary)
    splits[which] = (frames, labels)
  frames, labels = splits["train"]
  train_rows, val_rows = seq_image.carve_validation(len(labels), val_fraction,
                                                    split_seed)
  t_bins = frames.shape[1]

  def split(x, y):
    return base.Split(inputs=x, lengths=np.full(len(y), t_bins, np.int32),
                      targets=y)

  spec = base.TaskSpec(name="shd", kind="continuous", input_dim=NUM_CHANNELS,
                       seq_len=t_bins, num_classes=NUM_CLASSES)
  return base.Task(spec=spec,
                   train=split(frames[train_rows], labels[train_rows]),
                   validation=split(frames[val_rows], labels[val_rows]),
                   test=split(*splits["test"]))
