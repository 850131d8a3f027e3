"""Small data files in the exact official formats, written by the tests.

  MNIST    idx files (big-endian header, uint8 body), optionally gzipped.
  CIFAR-10 python batches: protocol-2 pickles of {b'batch_label',
           b'labels', b'data', b'filenames'} as the official release.
  SHD      HDF5: spikes/times and spikes/units (variable-length arrays),
           labels, extra/speaker, as the official files.

Nothing is downloaded; every value comes from a seeded generator so the
tests can compute the expected arrays themselves.
"""

import gzip
import pathlib
import pickle

import numpy as np

MNIST_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
  """The idx encoding of `array`: 0, 0, type code, ndim, sizes, values."""
  array = np.asarray(array)
  header = bytes([0, 0, type_code, array.ndim])
  header += np.asarray(array.shape, ">u4").tobytes()
  return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: pathlib.Path, array: np.ndarray,
              gzipped: bool = False) -> pathlib.Path:
  payload = idx_bytes(array)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if gzipped:
    path = path.with_name(path.name + ".gz")
    path.write_bytes(gzip.compress(payload))
  else:
    path.write_bytes(payload)
  return path


def mnist_arrays(num_train: int, num_test: int, seed: int = 0):
  """Random uint8 images (N, 28, 28) and labels 0..9 (every class seen)."""
  rng = np.random.default_rng(seed)
  out = {}
  for which, n in (("train", num_train), ("test", num_test)):
    out[f"{which}_images"] = rng.integers(0, 256, (n, 28, 28), np.uint8)
    out[f"{which}_labels"] = (np.arange(n) % 10).astype(np.uint8)
  return out


def write_mnist(root: pathlib.Path, num_train: int = 40, num_test: int = 20,
                gzipped: bool = False, subdir: str = ".", seed: int = 0):
  """Writes the four MNIST idx files under root/subdir; returns arrays."""
  arrays = mnist_arrays(num_train, num_test, seed)
  for key, stem in MNIST_STEMS.items():
    write_idx(pathlib.Path(root) / subdir / stem, arrays[key], gzipped)
  return arrays


def write_cifar_batch(path: pathlib.Path, data: np.ndarray,
                      labels: np.ndarray) -> None:
  batch = {b"batch_label": b"testing batch",
           b"labels": [int(v) for v in labels],
           b"data": np.asarray(data, np.uint8),
           b"filenames": [b"img_%d.png" % i for i in range(len(labels))]}
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "wb") as f:
    pickle.dump(batch, f, protocol=2)


def write_cifar(root: pathlib.Path, per_batch: int = 8, num_test: int = 10,
                seed: int = 0):
  """cifar-10-batches-py/data_batch_1..5 and test_batch; returns
  (train data (5 * per_batch, 3072), train labels, test data, labels)."""
  rng = np.random.default_rng(seed)
  folder = pathlib.Path(root) / "cifar-10-batches-py"
  data = rng.integers(0, 256, (5 * per_batch, 3072), np.uint8)
  labels = np.arange(5 * per_batch) % 10
  for i in range(5):
    rows = slice(i * per_batch, (i + 1) * per_batch)
    write_cifar_batch(folder / f"data_batch_{i + 1}", data[rows],
                      labels[rows])
  test = rng.integers(0, 256, (num_test, 3072), np.uint8)
  test_labels = np.arange(num_test) % 10
  write_cifar_batch(folder / "test_batch", test, test_labels)
  return data, labels, test, test_labels


def shd_examples(n: int, seed: int = 0, max_time: float = 1.3,
                 max_spikes: int = 60):
  """n random examples: (times float32 lists, units uint16 lists, labels)."""
  rng = np.random.default_rng(seed)
  times, units = [], []
  for _ in range(n):
    k = int(rng.integers(0, max_spikes))
    times.append(np.sort(rng.uniform(0, max_time, k)).astype(np.float32))
    units.append(rng.integers(0, 700, k).astype(np.uint16))
  labels = (np.arange(n) % 20).astype(np.uint16)
  return times, units, labels


def write_shd_file(path: pathlib.Path, times, units, labels, *,
                   skip: tuple[str, ...] = ()) -> pathlib.Path:
  """One SHD HDF5 file; datasets named in `skip` are left out."""
  import h5py  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with h5py.File(path, "w") as f:
    spikes = f.create_group("spikes")
    if "spikes/times" not in skip:
      ds = spikes.create_dataset("times", (len(times),),
                                 dtype=h5py.vlen_dtype(np.float32))
      for i, t in enumerate(times):
        ds[i] = t
    if "spikes/units" not in skip:
      ds = spikes.create_dataset("units", (len(units),),
                                 dtype=h5py.vlen_dtype(np.uint16))
      for i, u in enumerate(units):
        ds[i] = u
    if "labels" not in skip:
      f.create_dataset("labels", data=np.asarray(labels, np.uint16))
    extra = f.create_group("extra")
    extra.create_dataset("speaker", data=np.zeros(len(labels), np.uint16))
  return path


def write_shd(root: pathlib.Path, num_train: int = 40, num_test: int = 20,
              seed: int = 0):
  """shd_train.h5 and shd_test.h5 under root; returns both examples."""
  train = shd_examples(num_train, seed)
  test = shd_examples(num_test, seed + 1)
  write_shd_file(pathlib.Path(root) / "shd_train.h5", *train)
  write_shd_file(pathlib.Path(root) / "shd_test.h5", *test)
  return train, test
