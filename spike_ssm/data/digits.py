"""scikit-learn's bundled 8x8 handwritten digits as pixel sequences.

1797 images (UCI optical digits test set, shipped inside scikit-learn, no
download). Each image is read row-major as 64 steps of one channel, pixel
intensity / 16 in [0, 1]; 10 classes. A quick, offline sanity task.

Split (deterministic, stratified, 1437 / 180 / 180 by default): examples are
shuffled within each class by `split_seed`, and each is keyed by its
fractional rank (rank + 1/2) / class size; sorting by that key interleaves
the classes in proportion to their sizes, and the first `test_size` go to
test, the next `val_size` to validation, the rest to train. Every class then
has within one example of its proportional share in each split.
"""

import numpy as np

from spike_ssm.data import base

SEQ_LEN = 64
NUM_CLASSES = 10


def _load_sklearn_digits():
  try:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("The 'digits' task needs scikit-learn (it ships the "
                      "data set): pip install scikit-learn") from e
  data = datasets.load_digits()
  return np.asarray(data.data), np.asarray(data.target)


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
  """A permutation of range(len(labels)) whose every prefix is stratified.

  Args:
    labels: int (N,) class labels.
    seed: shuffles examples within each class.

  Returns:
    int (N,) indices; any prefix of length k holds each class c within one
    of k * n_c / N.
  """
  rng = np.random.default_rng(seed)
  shuffled = rng.permutation(labels.size)
  by_class = shuffled[np.argsort(labels[shuffled], kind="stable")]
  sorted_labels = labels[by_class]
  counts = np.bincount(sorted_labels)
  first = np.concatenate([[0], np.cumsum(counts)[:-1]])
  rank = np.arange(labels.size) - first[sorted_labels]
  key = (rank + 0.5) / counts[sorted_labels]
  # Ties between classes broken by class id: deterministic.
  return by_class[np.lexsort((sorted_labels, key))]


def build_digits(*, root: base.Path | None = None,
                 cache_dir: base.Path | None = None, seed: int = 0,
                 val_size: int = 180, test_size: int = 180,
                 split_seed: int = 0) -> base.Task:
  """Digits: continuous (N, 64, 1) in [0, 1], 10 classes.

  Args:
    root, cache_dir, seed: unused (the data ship with scikit-learn; the split
      is fixed by split_seed so that runs with different seeds share it).
    val_size, test_size: split sizes; train gets the rest.
    split_seed: seed of the stratified split.
  """
  del cache_dir, seed
  if root is not None:
    raise ValueError("Task 'digits' ships with scikit-learn; root must be "
                     f"None, got {root!r}.")
  pixels, labels = _load_sklearn_digits()
  for name, value in (("val_size", val_size), ("test_size", test_size)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
      raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 0:
      raise ValueError(f"{name} must be >= 0, got {value}.")
  if val_size + test_size >= labels.size:
    raise ValueError(f"val_size + test_size must be < {labels.size} (the "
                     f"data set size), got {val_size + test_size}.")
  inputs = (pixels / 16.0).astype(np.float32)[:, :, None]
  labels = labels.astype(np.int32)
  order = stratified_order(labels, split_seed)
  parts = np.split(order, [test_size, test_size + val_size])
  test, validation, train = (
      base.Split(inputs=inputs[np.sort(p)], lengths=np.full(
          p.size, SEQ_LEN, np.int32), targets=labels[np.sort(p)])
      for p in parts)
  spec = base.TaskSpec(name="digits", kind="continuous", input_dim=1,
                       seq_len=SEQ_LEN, num_classes=NUM_CLASSES)
  return base.Task(spec=spec, train=train, validation=validation, test=test)
