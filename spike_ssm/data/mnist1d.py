"""MNIST-1D (Greydanus 2020): 10 digit templates as length-40 1-D signals.

The `mnist1d` package (pinned in requirements.txt) builds the data set
procedurally: each of its 10 templates is padded, dilated, scaled,
translated, given correlated and i.i.d. noise, sheared and resampled to 40
points; the whole set is then centred and scaled to unit variance. This
module calls the package's generation path (`mnist1d.data.make_dataset`
with its default arguments, `get_dataset_args()`), never its download path,
so the task builds offline on a fresh machine.

Data: continuous `(N, 40, 1)` float32, 10 classes, every length 40. With
the default arguments (`data_seed=42`, the package's own default) the
package makes its standard 5000 examples split 4000 / 1000 into train and
test. Validation is carved from the package's training split
deterministically: the package has already shuffled its rows (its seeded
batch shuffle), so the last `val_size` rows of its training split (default
500) are the validation set and the first `4000 - val_size` train. The test
split is the package's 1000 test rows, untouched.

`make_dataset` seeds NumPy's and Python's global random generators; this
module restores both afterwards, so building the task leaves the caller's
global random state as it was. The generated arrays are cached (see
`spike_ssm.data._cache`) under a key of the package version and the
arguments.
"""

import contextlib
import importlib.metadata
import logging
import os
import random

import numpy as np

from spike_ssm.data import _cache
from spike_ssm.data import base

SEQ_LEN = 40
NUM_CLASSES = 10
NUM_TRAIN = 4000  # the package's 5000 samples x train_split 0.8
NUM_TEST = 1000
DEFAULT_DATA_SEED = 42  # mnist1d.data.get_dataset_args()['seed']
_NAMES = ("x", "y", "x_test", "y_test")


def _import_mnist1d():
  try:
    # pylint: disable-next=g-import-not-at-top
    from mnist1d import data as mnist1d_data
  except ImportError as e:
    raise ImportError("The 'mnist1d' task needs the mnist1d package (it "
                      "generates the data): pip install mnist1d==0.0.2.post1"
                      ) from e
  return mnist1d_data


@contextlib.contextmanager
def _preserved_global_rng():
  """Restores NumPy's and Python's global random state on exit."""
  np_state = np.random.get_state()
  py_state = random.getstate()
  try:
    yield
  finally:
    np.random.set_state(np_state)
    random.setstate(py_state)


def generate(data_seed: int = DEFAULT_DATA_SEED) -> dict[str, np.ndarray]:
  """The package's standard MNIST-1D for `data_seed` (no cache).

  Args:
    data_seed: the package's `seed` argument; 42 gives its standard set.

  Returns:
    {"x": float32 (4000, 40), "y": int32 (4000,), "x_test": float32
    (1000, 40), "y_test": int32 (1000,)}.
  """
  mnist1d_data = _import_mnist1d()
  args = mnist1d_data.get_dataset_args()
  args.seed = int(data_seed)
  with _preserved_global_rng():
    raw = mnist1d_data.make_dataset(args)
  out = {"x": np.asarray(raw["x"], np.float32),
         "y": np.asarray(raw["y"], np.int32),
         "x_test": np.asarray(raw["x_test"], np.float32),
         "y_test": np.asarray(raw["y_test"], np.int32)}
  expected = {"x": (NUM_TRAIN, SEQ_LEN), "y": (NUM_TRAIN,),
              "x_test": (NUM_TEST, SEQ_LEN), "y_test": (NUM_TEST,)}
  for name, shape in expected.items():
    if out[name].shape != shape:
      raise ValueError(f"mnist1d.make_dataset returned {name} of shape "
                       f"{out[name].shape}, expected {shape}: an mnist1d "
                       f"version other than the pinned 0.0.2.post1?")
  return out


def _package_version() -> str:
  try:
    return importlib.metadata.version("mnist1d")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def load(data_seed: int,
         cache_dir: str | os.PathLike | None) -> dict[str, np.ndarray]:
  """`generate(data_seed)`, read from / written to the cache."""
  params = dict(data_seed=int(data_seed), package=_package_version())
  key = _cache.cache_key("mnist1d", params)
  path = _cache.cache_path(cache_dir, "mnist1d", params)
  arrays = _cache.load(path, key, _NAMES)
  if arrays is None:
    arrays = generate(data_seed)
    try:
      _cache.save(path, key, arrays)
    except OSError as e:
      logging.warning("Could not write MNIST-1D cache %s: %s", path, e)
  return arrays


def _check_int(name: str, value, minimum: int, maximum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be an int, got {type(value).__name__} "
                    f"{value!r}.")
  if not minimum <= value <= maximum:
    raise ValueError(f"{name} must be in [{minimum}, {maximum}], got "
                     f"{value}.")
  return int(value)


def _split(x: np.ndarray, y: np.ndarray) -> base.Split:
  return base.Split(inputs=x[:, :, None], lengths=np.full(
      len(y), SEQ_LEN, np.int32), targets=y)


def build_mnist1d(*, root: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None, seed: int = 0,
                  val_size: int = 500,
                  data_seed: int = DEFAULT_DATA_SEED) -> base.Task:
  """MNIST-1D: continuous (N, 40, 1), 10 classes (see the module doc).

  Args:
    root: must be None (the data are generated).
    cache_dir: where the generated arrays are cached.
    seed: unused: the data depend on `data_seed` only, so runs with
      different training seeds share one data set.
    val_size: rows carved from the end of the package's 4000 training rows
      for validation, in [1, 3999].
    data_seed: the package's generation seed (42: its standard data set).

  Returns:
    The Task (train 4000 - val_size, validation val_size, test 1000).

  Raises:
    ValueError / TypeError: a root, or bad val_size / data_seed.
  """
  del seed
  if root is not None:
    raise ValueError("Task 'mnist1d' is generated by the mnist1d package; "
                     f"root must be None, got {root!r}.")
  val_size = _check_int("val_size", val_size, 1, NUM_TRAIN - 1)
  data_seed = _check_int("data_seed", data_seed, 0, 2**32 - 1)
  arrays = load(data_seed, cache_dir)
  n_train = NUM_TRAIN - val_size
  x, y = arrays["x"], arrays["y"]
  spec = base.TaskSpec(name="mnist1d", kind="continuous", input_dim=1,
                       seq_len=SEQ_LEN, num_classes=NUM_CLASSES)
  return base.Task(spec=spec, train=_split(x[:n_train], y[:n_train]),
                   validation=_split(x[n_train:], y[n_train:]),
                   test=_split(arrays["x_test"], arrays["y_test"]))
