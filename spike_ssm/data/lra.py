"""Loaders for the official Long Range Arena files (Tay et al. 2021).

  text        byte-level IMDB sentiment, 2 classes, T = 4096
  retrieval   byte-level AAN citation pairs (dual), 2 classes, T = 4000 each
  image       grey-scale CIFAR-10 pixels, 10 classes, T = 1024
  pathfinder  Pathfinder 32x32, 2 classes, T = 1024
  pathx       Pathfinder 128x128, 2 classes, T = 16384

Each loader takes `root`, the directory holding the task's files as the LRA
release or the original datasets lay them out (a loader also looks one level
down for the release's own directory names). A missing or malformed file
raises an error naming the file (and line or row). The file layouts, the
token and pixel encodings and the splits: docs/data_formats.md.
"""

import logging
import pathlib
import pickle

import numpy as np

from spike_ssm.data import _cache
from spike_ssm.data import base

BYTE_VOCAB_SIZE = 257
DIFFICULTIES = ("curv_baseline", "curv_contour_length_9",
                "curv_contour_length_14")
_LUMA = np.array([0.2989, 0.5870, 0.1140])


def _require_root(task: str, root, expected: str):
  if root is None:
    raise ValueError(f"Task {task!r} needs the official LRA files: pass "
                     f"root=DIR where DIR contains {expected}.")
  return pathlib.Path(root).expanduser()


def _check_fraction(name, value, upper=1.0):
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TypeError(f"{name} must be a float, got {value!r}.")
  if not 0.0 <= value < upper:
    raise ValueError(f"{name} must be in [0, {upper}), got {value}.")


def _byte_rows(texts: list[bytes], seq_len: int):
  """(N, seq_len) uint16 ids = bytes + 1, zero-padded; int32 lengths."""
  ids = np.zeros((len(texts), seq_len), np.uint16)
  lengths = np.zeros(len(texts), np.int32)
  for i, text in enumerate(texts):
    row = np.frombuffer(text[:seq_len], np.uint8)
    ids[i, :row.size] = row.astype(np.uint16) + 1
    lengths[i] = row.size
  return ids, lengths


def _carve(split: base.Split, fraction: float, split_seed: int):
  """(rest, carved): a seeded random `fraction` of `split` carved out."""
  order = np.random.default_rng(split_seed).permutation(len(split))
  n_carve = int(round(fraction * len(split)))
  return (split.subset(np.sort(order[n_carve:])),
          split.subset(np.sort(order[:n_carve])))


# ----------------------------------------------------------------------------
# Text (IMDB, byte level)
# ----------------------------------------------------------------------------


def _find_dir(root: pathlib.Path, candidates, probe: str, what: str):
  for sub in candidates:
    if (root / sub / probe).exists():
      return root / sub
  raise FileNotFoundError(
      f"{what} not found under root={str(root)!r}: looked for "
      f"{[str(root / s / probe) for s in candidates]}.")


def _read_imdb_split(directory: pathlib.Path, seq_len: int) -> base.Split:
  texts, labels = [], []
  for label, name in ((0, "neg"), (1, "pos")):
    folder = directory / name
    if not folder.is_dir():
      raise FileNotFoundError(f"IMDB folder not found: {folder}")
    files = sorted(folder.glob("*.txt"))
    if not files:
      raise ValueError(f"IMDB folder {folder} holds no .txt files.")
    for path in files:
      texts.append(path.read_bytes())
      labels.append(label)
  ids, lengths = _byte_rows(texts, seq_len)
  return base.Split(inputs=ids, lengths=lengths,
                    targets=np.array(labels, np.int32))


def load_text(root, *, seq_len: int = 4096, val_fraction: float = 0.0,
              split_seed: int = 0) -> base.Task:
  """LRA Text: byte-level IMDB sentiment (docs/data_formats.md)."""
  base._check_positive_int("seq_len", seq_len)
  _check_fraction("val_fraction", val_fraction)
  root = _require_root("text", root,
                       "aclImdb/{train,test}/{pos,neg}/*.txt")
  top = _find_dir(root, (".", "lra_release"), "aclImdb", "IMDB (aclImdb/)")
  train = _read_imdb_split(top / "aclImdb" / "train", seq_len)
  test = _read_imdb_split(top / "aclImdb" / "test", seq_len)
  validation = test
  if val_fraction > 0:
    train, validation = _carve(train, val_fraction, split_seed)
  spec = base.TaskSpec(name="text", kind="tokens", vocab_size=BYTE_VOCAB_SIZE,
                       seq_len=seq_len, num_classes=2)
  return base.Task(spec=spec, train=train, validation=validation, test=test)


# ----------------------------------------------------------------------------
# Retrieval (AAN, byte level, two documents)
# ----------------------------------------------------------------------------

_AAN_FILES = ("new_aan_pairs.train.tsv", "new_aan_pairs.eval.tsv",
              "new_aan_pairs.test.tsv")


def load_aan_tsv(path, *, seq_len: int = 4000) -> base.Split:
  """One AAN TSV: `label id1 id2 text1 text2`, tab-separated, no header.

  Raises:
    FileNotFoundError: no such file.
    ValueError: a line without 5 fields or with a label other than 0/1
      (LRA writes them as floats, e.g. `1.0`); names file and line.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"AAN file not found: {path}")
  first, second, labels = [], [], []
  with open(path, "rb") as f:
    for lineno, line in enumerate(f, start=1):
      line = line.rstrip(b"\r\n")
      if not line.strip():
        continue
      fields = line.split(b"\t")
      if len(fields) != 5:
        raise ValueError(f"{path}:{lineno}: expected 5 tab-separated fields "
                         f"(label, id1, id2, text1, text2), got "
                         f"{len(fields)}.")
      try:
        label = float(fields[0])
      except ValueError:
        label = -1.0
      if label not in (0.0, 1.0):
        raise ValueError(f"{path}:{lineno}: label must be 0 or 1, got "
                         f"{fields[0][:20]!r}.")
      labels.append(int(label))
      first.append(fields[3])
      second.append(fields[4])
  ids1, lengths1 = _byte_rows(first, seq_len)
  ids2, lengths2 = _byte_rows(second, seq_len)
  return base.Split(inputs=ids1, lengths=lengths1,
                    targets=np.array(labels, np.int32), inputs2=ids2,
                    lengths2=lengths2)


def load_retrieval(root, *, seq_len: int = 4000) -> base.Task:
  """LRA Retrieval: AAN citation pairs, byte level (docs/data_formats.md)."""
  base._check_positive_int("seq_len", seq_len)
  root = _require_root("retrieval", root, ", ".join(_AAN_FILES) +
                       " (the LRA release's tsv_data/)")
  top = _find_dir(root, (".", "tsv_data", "lra_release/tsv_data"),
                  _AAN_FILES[0], "AAN files")
  train, val, test = (load_aan_tsv(top / f, seq_len=seq_len)
                      for f in _AAN_FILES)
  spec = base.TaskSpec(name="retrieval", kind="tokens",
                       vocab_size=BYTE_VOCAB_SIZE, seq_len=seq_len,
                       num_classes=2, dual=True)
  return base.Task(spec=spec, train=train, validation=val, test=test)


# ----------------------------------------------------------------------------
# Image (CIFAR-10, grey-scale pixel sequences)
# ----------------------------------------------------------------------------

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"


def _read_cifar_batch(path: pathlib.Path):
  if not path.is_file():
    raise FileNotFoundError(f"CIFAR-10 batch not found: {path}")
  try:
    with open(path, "rb") as f:
      # The official format is a pickle; only load files you trust.
      batch = pickle.load(f, encoding="bytes")
  except Exception as e:  # pickle raises many types on garbage.
    raise ValueError(f"{path}: not a CIFAR-10 python batch ({e}).") from e
  if not isinstance(batch, dict) or b"data" not in batch or (
      b"labels" not in batch):
    raise ValueError(f"{path}: expected a dict with b'data' and b'labels'.")
  data = np.asarray(batch[b"data"])
  labels = np.asarray(batch[b"labels"])
  if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
    raise ValueError(f"{path}: b'data' must be uint8 (N, 3072), got "
                     f"{data.dtype} {data.shape}.")
  if labels.shape != (data.shape[0],) or not np.issubdtype(
      labels.dtype, np.integer) or (labels.size and (
          labels.min() < 0 or labels.max() > 9)):
    raise ValueError(f"{path}: b'labels' must be {data.shape[0]} ints in "
                     f"[0, 9], got {labels.dtype} {labels.shape}.")
  return data, labels.astype(np.int32)


def cifar_to_grey(data: np.ndarray) -> np.ndarray:
  """uint8 (N, 3072) CIFAR rows (R, G, B planes) -> uint8 (N, 1024) luma."""
  planes = data.reshape(-1, 3, 1024).astype(np.float64)
  grey = np.einsum("c,nct->nt", _LUMA, planes)
  return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def _pixel_split(pixels: np.ndarray, labels: np.ndarray,
                 tokenize: bool) -> base.Split:
  n, t = pixels.shape
  inputs = pixels if tokenize else pixels[:, :, None]
  return base.Split(inputs=inputs, lengths=np.full(n, t, np.int32),
                    targets=labels)


def _pixel_spec(name, seq_len, tokenize, num_classes):
  if tokenize:
    return base.TaskSpec(name=name, kind="tokens", vocab_size=256,
                         seq_len=seq_len, num_classes=num_classes)
  return base.TaskSpec(name=name, kind="continuous", input_dim=1,
                       seq_len=seq_len, num_classes=num_classes)


def load_image(root, *, tokenize: bool = False,
               val_fraction: float = 0.1) -> base.Task:
  """LRA Image: grey-scale CIFAR-10 (docs/data_formats.md)."""
  _check_fraction("val_fraction", val_fraction)
  root = _require_root("image", root, "cifar-10-batches-py/data_batch_1..5 "
                       "and test_batch")
  top = _find_dir(root, (".", "lra_release"), "cifar-10-batches-py",
                  "CIFAR-10 (cifar-10-batches-py/)")
  folder = top / "cifar-10-batches-py"
  parts = [_read_cifar_batch(folder / name) for name in _CIFAR_TRAIN]
  data = np.concatenate([p[0] for p in parts])
  labels = np.concatenate([p[1] for p in parts])
  test_data, test_labels = _read_cifar_batch(folder / _CIFAR_TEST)
  pixels = cifar_to_grey(data)
  n_train = len(labels) - int(round(val_fraction * len(labels)))
  train = _pixel_split(pixels[:n_train], labels[:n_train], tokenize)
  validation = _pixel_split(pixels[n_train:], labels[n_train:], tokenize)
  test = _pixel_split(cifar_to_grey(test_data), test_labels, tokenize)
  return base.Task(spec=_pixel_spec("image", 1024, tokenize, 10),
                   train=train, validation=validation, test=test)


# ----------------------------------------------------------------------------
# Pathfinder / Path-X
# ----------------------------------------------------------------------------


def _import_pil():
  try:
    from PIL import Image  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("Pathfinder needs Pillow to decode its PNG images: "
                      "pip install Pillow") from e
  return Image


def _pathfinder_samples(directory: pathlib.Path):
  """[(image path, label, metadata file, line)] in metadata order."""
  meta_dir = directory / "metadata"
  files = list(meta_dir.glob("*.npy")) if meta_dir.is_dir() else []
  if not files:
    raise FileNotFoundError(f"Pathfinder metadata not found: no "
                            f"{meta_dir}/*.npy files.")
  try:
    files.sort(key=lambda p: int(p.stem))
  except ValueError:
    files.sort()
  samples = []
  for meta in files:
    # Despite the suffix these are text files, one image per line.
    with open(meta, "rb") as f:
      for lineno, line in enumerate(f, start=1):
        fields = line.split()
        if not fields:
          continue
        try:
          label = int(fields[3])
        except (IndexError, ValueError):
          label = -1
        if label not in (0, 1):
          raise ValueError(f"{meta}:{lineno}: expected '<dir> <file> <...> "
                           f"<label 0/1> ...', got {line[:80]!r}.")
        samples.append((directory / fields[0].decode() / fields[1].decode(),
                        label, meta, lineno))
  return files, samples


def _decode_pathfinder(samples, resolution):
  image_lib = _import_pil()
  pixels = np.zeros((len(samples), resolution * resolution), np.uint8)
  labels = np.zeros(len(samples), np.int32)
  kept = 0
  for path, label, meta, lineno in samples:
    try:
      size = path.stat().st_size
    except OSError:
      raise FileNotFoundError(f"Pathfinder image not found: {path} (listed "
                              f"in {meta}:{lineno}).") from None
    if size == 0:
      continue  # LRA filters the release's few empty images out.
    try:
      with image_lib.open(path) as img:
        array = np.asarray(img.convert("L"))
    except Exception as e:  # PIL raises several types on bad files.
      raise ValueError(f"{path}: not a readable image ({e}); listed in "
                       f"{meta}:{lineno}.") from e
    if array.shape != (resolution, resolution):
      raise ValueError(f"{path}: expected a {resolution}x{resolution} image, "
                       f"got {array.shape[::-1]}.")
    pixels[kept] = array.reshape(-1)
    labels[kept] = label
    kept += 1
  if kept < len(samples):
    logging.info("Pathfinder: skipped %d empty images.", len(samples) - kept)
  return pixels[:kept], labels[:kept]


def load_pathfinder(root, *, resolution: int = 32,
                    difficulty: str = "curv_contour_length_14",
                    tokenize: bool = False, val_fraction: float = 0.1,
                    test_fraction: float = 0.1, split_seed: int = 0,
                    cache_dir=None, name: str = "pathfinder") -> base.Task:
  """LRA Pathfinder (resolution 32) or Path-X (128); docs/data_formats.md."""
  if difficulty not in DIFFICULTIES:
    raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got "
                     f"{difficulty!r}.")
  base._check_positive_int("resolution", resolution)
  _check_fraction("val_fraction", val_fraction)
  _check_fraction("test_fraction", test_fraction, 1.0 - val_fraction)
  folder = f"pathfinder{resolution}"
  root = _require_root(name, root, f"{folder}/{difficulty}/metadata/*.npy "
                       "and the PNG images they list")
  top = _find_dir(root, (folder, f"lra_release/{folder}", "."),
                  f"{difficulty}/metadata", f"Pathfinder {folder}/{difficulty}")
  directory = (top / difficulty).resolve()
  meta_files, samples = _pathfinder_samples(directory)
  params = dict(directory=str(directory), resolution=resolution,
                metadata=[(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                          for p in meta_files])
  key = _cache.cache_key("pathfinder", params)
  path = _cache.cache_path(cache_dir, "pathfinder", params)
  arrays = _cache.load(path, key, ("pixels", "labels"))
  if arrays is None:
    pixels, labels = _decode_pathfinder(samples, resolution)
    arrays = dict(pixels=pixels, labels=labels)
    try:
      _cache.save(path, key, arrays)
    except OSError as e:
      logging.warning("Could not write Pathfinder cache %s: %s", path, e)
  pixels, labels = arrays["pixels"], arrays["labels"]
  n = len(labels)
  order = np.random.default_rng(split_seed).permutation(n)
  n_val = int(round(val_fraction * n))
  n_test = int(round(test_fraction * n))
  parts = np.split(order, [n - n_val - n_test, n - n_test])
  train, validation, test = (
      _pixel_split(pixels[np.sort(p)], labels[np.sort(p)], tokenize)
      for p in parts)
  return base.Task(
      spec=_pixel_spec(name, resolution * resolution, tokenize, 2),
      train=train, validation=validation, test=test)


# ----------------------------------------------------------------------------
# Registry builders (signatures define the options of `get_task`).
# ----------------------------------------------------------------------------


def build_text(*, root: base.Path | None = None,
               cache_dir: base.Path | None = None, seed: int = 0,
               seq_len: int = 4096, val_fraction: float = 0.0,
               split_seed: int = 0) -> base.Task:
  """LRA Text; `seed` is unused (no randomness but the optional carve)."""
  del cache_dir, seed
  return load_text(root, seq_len=seq_len, val_fraction=val_fraction,
                   split_seed=split_seed)


def build_retrieval(*, root: base.Path | None = None,
                    cache_dir: base.Path | None = None, seed: int = 0,
                    seq_len: int = 4000) -> base.Task:
  """LRA Retrieval (AAN)."""
  del cache_dir, seed
  return load_retrieval(root, seq_len=seq_len)


def build_image(*, root: base.Path | None = None,
                cache_dir: base.Path | None = None, seed: int = 0,
                tokenize: bool = False,
                val_fraction: float = 0.1) -> base.Task:
  """LRA Image (grey-scale CIFAR-10)."""
  del cache_dir, seed
  return load_image(root, tokenize=tokenize, val_fraction=val_fraction)


def build_pathfinder(*, root: base.Path | None = None,
                     cache_dir: base.Path | None = None, seed: int = 0,
                     difficulty: str = "curv_contour_length_14",
                     tokenize: bool = False, val_fraction: float = 0.1,
                     test_fraction: float = 0.1,
                     split_seed: int = 0) -> base.Task:
  """LRA Pathfinder: 32x32, 1024 steps."""
  del seed
  return load_pathfinder(root, resolution=32, difficulty=difficulty,
                         tokenize=tokenize, val_fraction=val_fraction,
                         test_fraction=test_fraction, split_seed=split_seed,
                         cache_dir=cache_dir, name="pathfinder")


def build_pathx(*, root: base.Path | None = None,
                cache_dir: base.Path | None = None, seed: int = 0,
                difficulty: str = "curv_contour_length_14",
                tokenize: bool = False, val_fraction: float = 0.1,
                test_fraction: float = 0.1,
                split_seed: int = 0) -> base.Task:
  """LRA Path-X: Pathfinder at 128x128, 16384 steps."""
  del seed
  return load_pathfinder(root, resolution=128, difficulty=difficulty,
                         tokenize=tokenize, val_fraction=val_fraction,
                         test_fraction=test_fraction, split_seed=split_seed,
                         cache_dir=cache_dir, name="pathx")
