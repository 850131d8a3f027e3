"""Sequential images: sMNIST, psMNIST and sCIFAR from the user's own files.

Each task reads the standard distribution files under `root`; nothing is
downloaded. A missing or malformed file raises an error naming the file and
what is wrong (wrong magic number, truncated, wrong shape, labels out of
range, ...).

  smnist    MNIST's idx files, gzipped or not:
            train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
            t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]
            directly under root, or under root/MNIST/raw (torchvision's
            layout) or root/mnist. Each 28 x 28 image is read row-major as
            784 steps of one channel.
  psmnist   the same files, every sequence permuted by one fixed
            permutation of the 784 positions (step t shows pixel perm[t]).
  scifar    CIFAR-10's python batches, cifar-10-batches-py/data_batch_1..5
            and test_batch (under root, or root itself holding them). Each
            32 x 32 image is read row-major as 1024 steps of 3 channels
            (R, G, B), as S4 and S5 do (`(h w) c`), unlike LRA Image's
            grey-scale.

Normalisation, as in the papers' released dataloaders (lindermanlab/S5
s5/dataloaders/basic.py @ 3c18fdb6b06414da35e77b94b9cd855f6a95ef17, which
copies state-spaces/s4 src/dataloaders/basic.py @
e757cef57d89e448c413de7325ed5601aceaac13):
  MNIST: `ToTensor()` only, i.e. pixels / 255 in [0, 1] (their
    `Normalize((0.1307,), (0.3081,))` is commented out). Stored as uint8;
    batches carry float32 pixel / 255.
  CIFAR: `ToTensor()` then `Normalize((0.4914, 0.4822, 0.4465),
    (0.247, 0.243, 0.261))` per channel: float32 (pixel / 255 - mean) / std.
    With normalize=False, uint8 storage and [0, 1] batches instead (a
    quarter of the memory).

Permutation (psmnist). `permutation="random"` (default): NumPy's legacy
`RandomState(permutation_seed).permutation(784)`, whose stream NumPy keeps
frozen across versions (NEP 19), so every host and every resume derives the
same permutation from the seed stored in the config. The default seed,
92916, is the one S4's dataloader names as "another permutation that other
works have used" (state-spaces/s4 src/dataloaders/basic.py @ e757cef).
`permutation="bitreversal"`: the bit-reversal permutation S4 and S5 actually
trained on (`permutations.bitreversal_permutation(784)` in the dataloaders
above): the 10-bit reversal of 0..1023, keeping values < 784. The
permutation is saved next to the cache (`psmnist_permutation-*.npz`) the
first time it is used and checked against every later derivation, so a
change in how it is computed fails loudly instead of silently training on a
different task; its SHA-256 is logged.

Validation: the papers carve a random 10% of the training images (torch's
`random_split` with seed 42, which cannot be reproduced without torch).
Here `val_fraction` (default 0.1) of the training set, chosen by NumPy's
legacy `RandomState(split_seed).permutation` (again a frozen stream), so
runs on any host share their validation set. Test is the official test set.
"""

import gzip
import hashlib
import logging
import os
import pathlib
import zlib

import numpy as np

from spike_ssm.data import _cache
from spike_ssm.data import base
from spike_ssm.data import lra

MNIST_SIDE = 28
MNIST_LEN = MNIST_SIDE * MNIST_SIDE
CIFAR_LEN = 1024
NUM_CLASSES = 10
PERMUTATIONS = ("random", "bitreversal")
# S4's dataloader comment: the permutation "other works have used".
DEFAULT_PERMUTATION_SEED = 92916
# S4 / S5 CIFAR normalisation (module doc).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.247, 0.243, 0.261)

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_MNIST_DIRS = (".", "MNIST/raw", "mnist", "MNIST")
# idx type codes -> dtypes (big-endian multi-byte types).
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8),
              0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# ----------------------------------------------------------------------------
# idx files
# ----------------------------------------------------------------------------


def _read_bytes(path: pathlib.Path) -> bytes:
  """The file's bytes, gunzipped when it is gzip (by content, not name)."""
  raw = path.read_bytes()
  if raw[:2] == b"\x1f\x8b":
    try:
      return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
      raise ValueError(f"{path}: corrupt or truncated gzip stream ({e})."
                       ) from None
  if path.suffix == ".gz":
    raise ValueError(f"{path}: named .gz but is not gzip data (no gzip "
                     f"magic 1f 8b).")
  return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
  """Reads one idx file (MNIST's format), gzipped or not.

  Layout: two zero bytes, a type code (0x08 = uint8), the number of
  dimensions d, then d big-endian uint32 sizes, then the values row-major.

  Args:
    path: the file.

  Returns:
    The array, with the file's shape and dtype (uint8 for MNIST).

  Raises:
    FileNotFoundError: no such file.
    ValueError: naming the file: bad magic number, unknown type code, a
      header or body shorter (truncated) or longer than the sizes say.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"idx file not found: {path}")
  raw = _read_bytes(path)
  if len(raw) < 4:
    raise ValueError(f"{path}: truncated: {len(raw)} bytes, shorter than "
                     f"the 4-byte idx magic number.")
  if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
    raise ValueError(f"{path}: bad idx magic number 0x{raw[:4].hex()}: "
                     f"expected 0x0000 then a type code in "
                     f"{[hex(t) for t in _IDX_TYPES]} and the number of "
                     f"dimensions.")
  dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
  header = 4 + 4 * ndim
  if ndim == 0 or len(raw) < header:
    raise ValueError(f"{path}: truncated idx header: {ndim} dimensions need "
                     f"{header} header bytes, the file has {len(raw)}.")
  shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
  expected = int(np.prod(shape)) * dtype.itemsize
  body = len(raw) - header
  if body != expected:
    what = "truncated" if body < expected else "too long"
    raise ValueError(f"{path}: {what}: the header says shape {shape} "
                     f"({expected} bytes of {dtype}), the file holds {body} "
                     f"bytes after the header.")
  return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find_mnist_file(root: pathlib.Path, stem: str) -> pathlib.Path:
  tried = []
  for sub in _MNIST_DIRS:
    for name in (stem, stem + ".gz"):
      path = root / sub / name
      tried.append(str(path))
      if path.is_file():
        return path
  raise FileNotFoundError(
      f"MNIST file {stem}[.gz] not found under root={str(root)!r}: looked "
      f"for {tried}.")


def _mnist_pair(root: pathlib.Path, which: str):
  images_path = _find_mnist_file(root, _MNIST_FILES[f"{which}_images"])
  labels_path = _find_mnist_file(root, _MNIST_FILES[f"{which}_labels"])
  images = read_idx(images_path)
  labels = read_idx(labels_path)
  if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (
      MNIST_SIDE, MNIST_SIDE):
    raise ValueError(f"{images_path}: expected uint8 images of shape (N, "
                     f"{MNIST_SIDE}, {MNIST_SIDE}), got {images.dtype} "
                     f"{images.shape}.")
  if labels.dtype != np.uint8 or labels.ndim != 1:
    raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), "
                     f"got {labels.dtype} {labels.shape}.")
  if labels.shape[0] != images.shape[0]:
    raise ValueError(f"{labels_path}: {labels.shape[0]} labels for "
                     f"{images.shape[0]} images in {images_path}.")
  if labels.size and labels.max() >= NUM_CLASSES:
    raise ValueError(f"{labels_path}: labels must lie in [0, "
                     f"{NUM_CLASSES - 1}], got a {labels.max()}.")
  return images.reshape(-1, MNIST_LEN), labels.astype(np.int32)


# ----------------------------------------------------------------------------
# Permutations and splits
# ----------------------------------------------------------------------------


def bitreversal_permutation(n: int) -> np.ndarray:
  """S4/S5's psMNIST permutation: bit-reversed 0..2^m - 1, values < n.

  m = ceil(log2 n). Step t of the permuted sequence shows element perm[t].

  Args:
    n: sequence length (784 for MNIST).

  Returns:
    int64 (n,) permutation of range(n).
  """
  base._check_positive_int("n", n)  # pylint: disable=protected-access
  bits = max(1, int(n - 1).bit_length())
  idx = np.arange(1 << bits, dtype=np.int64)
  rev = np.zeros_like(idx)
  for b in range(bits):
    rev |= ((idx >> b) & 1) << (bits - 1 - b)
  return rev[rev < n]


def make_permutation(kind: str, seed: int, n: int = MNIST_LEN) -> np.ndarray:
  """The psMNIST permutation `kind` ("random" seeded by `seed`, or
  "bitreversal"); see the module doc. int64 (n,)."""
  if kind == "random":
    return np.random.RandomState(seed).permutation(n).astype(np.int64)
  if kind == "bitreversal":
    return bitreversal_permutation(n)
  raise ValueError(f"permutation must be one of {PERMUTATIONS}, got "
                   f"{kind!r}.")


def permutation_digest(perm: np.ndarray) -> str:
  """SHA-256 (hex) of the permutation as little-endian int64."""
  return hashlib.sha256(np.asarray(perm, "<i8").tobytes()).hexdigest()


def saved_permutation(kind: str, seed: int,
                      cache_dir: str | os.PathLike | None) -> np.ndarray:
  """`make_permutation(kind, seed)`, checked against its saved copy.

  The first call saves the permutation next to the cache; later calls
  recompute it and raise if it differs from the saved one.

  Raises:
    ValueError: naming the saved file, when the permutation derived now
      differs from the one saved earlier.
  """
  perm = make_permutation(kind, seed)
  params = dict(kind=kind, seed=int(seed) if kind == "random" else None,
                n=MNIST_LEN)
  key = _cache.cache_key("psmnist_permutation", params)
  path = _cache.cache_path(cache_dir, "psmnist_permutation", params)
  stored = _cache.load(path, key, ("permutation",))
  if stored is None:
    try:
      _cache.save(path, key, {"permutation": perm})
    except OSError as e:
      logging.warning("Could not save the psMNIST permutation to %s: %s",
                      path, e)
  elif not np.array_equal(stored["permutation"], perm):
    raise ValueError(
        f"{path}: the psMNIST permutation saved there for permutation="
        f"{kind!r}, permutation_seed={seed} (sha256 "
        f"{permutation_digest(stored['permutation'])[:16]}) differs from the "
        f"one derived now (sha256 {permutation_digest(perm)[:16]}); runs "
        f"would train on a different task. Pin the library version that "
        f"wrote it, or delete the file to accept the new permutation.")
  logging.info("psMNIST permutation %s (seed %s): sha256 %s", kind, seed,
               permutation_digest(perm))
  return perm


def check_fraction(name: str, value) -> float:
  """`value` as a float in (0, 1); TypeError / ValueError naming `name`."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TypeError(f"{name} must be a float, got {type(value).__name__} "
                    f"{value!r}.")
  if not 0.0 < value < 1.0:
    raise ValueError(f"{name} must be in (0, 1), got {value}.")
  return float(value)


def check_seed(name: str, value) -> int:
  """`value` as an int in [0, 2**32); TypeError / ValueError naming
  `name`."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be an int, got {type(value).__name__} "
                    f"{value!r}.")
  if not 0 <= value < 2**32:
    raise ValueError(f"{name} must be in [0, 2**32), got {value}.")
  return int(value)


def carve_validation(n: int, val_fraction: float,
                     split_seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(train rows, validation rows), each sorted: a seeded random
  `val_fraction` of range(n) is validation (legacy RandomState stream)."""
  order = np.random.RandomState(split_seed).permutation(n)
  n_val = int(round(val_fraction * n))
  if n_val < 1 or n_val >= n:
    raise ValueError(f"val_fraction={val_fraction} of {n} training examples "
                     f"leaves {n_val} for validation and {n - n_val} for "
                     f"training; both must be >= 1.")
  return np.sort(order[n_val:]), np.sort(order[:n_val])


def _split(inputs: np.ndarray, labels: np.ndarray) -> base.Split:
  return base.Split(inputs=inputs, lengths=np.full(
      len(labels), inputs.shape[1], np.int32), targets=labels)


def _root(task: str, root, expected: str) -> pathlib.Path:
  if root is None:
    raise ValueError(f"Task {task!r} reads the user's own files: pass "
                     f"root=DIR (--config.data.root=DIR) where DIR contains "
                     f"{expected}.")
  return pathlib.Path(root).expanduser()


# ----------------------------------------------------------------------------
# sMNIST / psMNIST
# ----------------------------------------------------------------------------


def _mnist_task(name: str, root, val_fraction: float, split_seed: int,
                perm: np.ndarray | None) -> base.Task:
  val_fraction = check_fraction("val_fraction", val_fraction)
  split_seed = check_seed("split_seed", split_seed)
  root = _root(name, root, "train-images-idx3-ubyte[.gz], "
               "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] "
               "and t10k-labels-idx1-ubyte[.gz] (or MNIST/raw/ holding "
               "them)")
  images, labels = _mnist_pair(root, "train")
  test_images, test_labels = _mnist_pair(root, "test")
  if perm is not None:
    images, test_images = images[:, perm], test_images[:, perm]
  train_rows, val_rows = carve_validation(len(labels), val_fraction,
                                          split_seed)
  # uint8 storage: batches carry pixel / 255, S4/S5's ToTensor().
  images, test_images = images[:, :, None], test_images[:, :, None]
  spec = base.TaskSpec(name=name, kind="continuous", input_dim=1,
                       seq_len=MNIST_LEN, num_classes=NUM_CLASSES)
  return base.Task(
      spec=spec, train=_split(images[train_rows], labels[train_rows]),
      validation=_split(images[val_rows], labels[val_rows]),
      test=_split(test_images, test_labels))


def build_smnist(*, root: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, seed: int = 0,
                 val_fraction: float = 0.1,
                 split_seed: int = 0) -> base.Task:
  """Sequential MNIST: (N, 784, 1) pixels / 255, 10 classes (module doc).

  Args:
    root: directory holding MNIST's idx files.
    cache_dir: unused (nothing is cached).
    seed: unused (the split has its own seed).
    val_fraction: share of the 60k training images held out, in (0, 1).
    split_seed: seed of the validation carve.
  """
  del cache_dir, seed
  return _mnist_task("smnist", root, val_fraction, split_seed, None)


def build_psmnist(*, root: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None, seed: int = 0,
                  permutation: str = "random",
                  permutation_seed: int = DEFAULT_PERMUTATION_SEED,
                  val_fraction: float = 0.1,
                  split_seed: int = 0) -> base.Task:
  """Permuted sequential MNIST: sMNIST with one fixed permutation.

  Args:
    root: directory holding MNIST's idx files.
    cache_dir: where the permutation is saved and checked (module doc).
    seed: unused: the permutation has its own seed, so runs with different
      training seeds share it.
    permutation: "random" (seeded by permutation_seed) or "bitreversal"
      (S4 / S5's).
    permutation_seed: seed of the random permutation (ignored for
      bitreversal).
    val_fraction: share of the 60k training images held out, in (0, 1).
    split_seed: seed of the validation carve.
  """
  del seed
  if permutation not in PERMUTATIONS:
    raise ValueError(f"permutation must be one of {PERMUTATIONS}, got "
                     f"{permutation!r}.")
  permutation_seed = check_seed("permutation_seed", permutation_seed)
  # Files first: a bad root fails before anything is written to the cache.
  _root("psmnist", root, "MNIST's idx files")
  perm = saved_permutation(permutation, permutation_seed, cache_dir)
  return _mnist_task("psmnist", root, val_fraction, split_seed, perm)


# ----------------------------------------------------------------------------
# sCIFAR
# ----------------------------------------------------------------------------

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"


def _cifar_dir(root: pathlib.Path) -> pathlib.Path:
  for folder in (root / "cifar-10-batches-py", root):
    if (folder / _CIFAR_TRAIN[0]).is_file():
      return folder
  raise FileNotFoundError(
      f"CIFAR-10 python batches not found under root={str(root)!r}: looked "
      f"for {root / 'cifar-10-batches-py' / _CIFAR_TRAIN[0]} and "
      f"{root / _CIFAR_TRAIN[0]}.")


def cifar_to_sequence(data: np.ndarray, normalize: bool) -> np.ndarray:
  """CIFAR rows (N, 3072) -> (N, 1024, 3) pixel sequences.

  A row holds the R, G and B planes, each 32 x 32 row-major; step t is
  pixel t (row-major) with its three channels.

  Args:
    data: uint8 (N, 3072).
    normalize: True: float32 (x / 255 - mean) / std per channel (S4/S5);
      False: the uint8 pixels.

  Returns:
    float32 or uint8 (N, 1024, 3).
  """
  seq = data.reshape(-1, 3, CIFAR_LEN).transpose(0, 2, 1)  # [N, T, C]
  if not normalize:
    return np.ascontiguousarray(seq)
  mean = np.asarray(CIFAR_MEAN, np.float32)
  std = np.asarray(CIFAR_STD, np.float32)
  return ((seq.astype(np.float32) / np.float32(255) - mean) / std).astype(
      np.float32)


def build_scifar(*, root: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, seed: int = 0,
                 normalize: bool = True, val_fraction: float = 0.1,
                 split_seed: int = 0) -> base.Task:
  """Sequential CIFAR-10: (N, 1024, 3), 10 classes (module doc).

  Args:
    root: directory holding cifar-10-batches-py/ (or the batches).
    cache_dir: unused (nothing is cached).
    seed: unused (the split has its own seed).
    normalize: S4/S5's per-channel normalisation (float32); False keeps
      uint8 storage with [0, 1] batches.
    val_fraction: share of the 50k training images held out, in (0, 1).
    split_seed: seed of the validation carve.
  """
  del cache_dir, seed
  if not isinstance(normalize, bool):
    raise TypeError(f"normalize must be a bool, got "
                    f"{type(normalize).__name__} {normalize!r}.")
  val_fraction = check_fraction("val_fraction", val_fraction)
  split_seed = check_seed("split_seed", split_seed)
  folder = _cifar_dir(_root("scifar", root, "cifar-10-batches-py/"
                            "data_batch_1..5 and test_batch"))
  # pylint: disable-next=protected-access
  parts = [lra._read_cifar_batch(folder / name) for name in _CIFAR_TRAIN]
  data = np.concatenate([p[0] for p in parts])
  labels = np.concatenate([p[1] for p in parts])
  # pylint: disable-next=protected-access
  test_data, test_labels = lra._read_cifar_batch(folder / _CIFAR_TEST)
  train_rows, val_rows = carve_validation(len(labels), val_fraction,
                                          split_seed)
  inputs = cifar_to_sequence(data, normalize)
  spec = base.TaskSpec(name="scifar", kind="continuous", input_dim=3,
                       seq_len=CIFAR_LEN, num_classes=NUM_CLASSES)
  return base.Task(
      spec=spec, train=_split(inputs[train_rows], labels[train_rows]),
      validation=_split(inputs[val_rows], labels[val_rows]),
      test=_split(cifar_to_sequence(test_data, normalize), test_labels))
