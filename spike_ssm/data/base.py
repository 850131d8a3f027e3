"""Core data types: task specs, splits and tasks.

Everything here is host-side NumPy; nothing imports JAX. A `Task` holds three
`Split`s of whole-dataset arrays; `spike_ssm.data.pipeline` turns a split into
batches, which are plain dicts of NumPy arrays:

  inputs       int32 (B, T) token ids, or float32 (B, T, C) features
  lengths      int32 (B,) true lengths; positions >= length are padding
  targets      int32 (B,) classes, int32 (B, T) per-position classes, or
               float32 (B,) regression values
  target_mask  float32 (B, T), sequence targets only: 1 where a target counts
  inputs2      second document of dual (retrieval) tasks, like `inputs`
  lengths2     int32 (B,), dual tasks only
  weights      float32 (B,): 1 for real examples, 0 for eval padding rows
"""

import dataclasses
import os

import numpy as np

Batch = dict[str, np.ndarray]
# Where a task's files live (task builders' `root` and `cache_dir`).
Path = str | os.PathLike

KINDS = ("tokens", "continuous")
TARGET_KINDS = ("class", "sequence", "regression")

# Token splits may store ids compactly (uint8 pixels, uint16 bytes) so that
# Path-X or AAN fit in host memory; batches always carry int32 ids.
_TOKEN_STORAGE = (np.uint8, np.uint16, np.int8, np.int16, np.int32)
# Continuous splits store float32 features, or uint8 pixel intensities that
# batches scale to float32 in [0, 1] (Path-X: 3 GB as uint8, 13 GB as f32).
_CONTINUOUS_STORAGE = (np.float32, np.uint8)
# Rows per chunk when checking padding, to bound temporary memory.
_CHECK_CHUNK = 4096


def _describe(x) -> str:
  if isinstance(x, np.ndarray):
    return f"array of shape {x.shape} and dtype {x.dtype}"
  return f"{type(x).__name__} {x!r}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskSpec:
  """What a task's arrays look like; a model is built from this.

  Attributes:
    name: task name, e.g. "listops".
    kind: "tokens" (int32 ids `(N, T)`) or "continuous" (float32 `(N, T, C)`).
    seq_len: T, the padded sequence length.
    num_classes: number of classes ("class" and "sequence" targets), or the
      number of regression outputs (1) for "regression" targets.
    target_kind: "class" (targets `(N,)`), "sequence" (per-position targets
      `(N, T)` with a `target_mask`) or "regression" (float targets `(N,)`).
    vocab_size: tokens only: number of ids, the pad id included.
    input_dim: continuous only: C, the number of input channels.
    dual: True when every example holds two documents (LRA retrieval).
    pad_id: the id (tokens) filling positions at or after an example's length;
      continuous inputs are padded with zeros.
  """
  name: str
  kind: str
  seq_len: int
  num_classes: int
  target_kind: str = "class"
  vocab_size: int | None = None
  input_dim: int | None = None
  dual: bool = False
  pad_id: int = 0

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise TypeError(f"TaskSpec name must be a non-empty str, got "
                      f"{_describe(self.name)}.")
    if self.kind not in KINDS:
      raise ValueError(f"TaskSpec kind must be one of {KINDS}, got "
                       f"{self.kind!r}.")
    if self.target_kind not in TARGET_KINDS:
      raise ValueError(f"TaskSpec target_kind must be one of {TARGET_KINDS}, "
                       f"got {self.target_kind!r}.")
    _check_positive_int("seq_len", self.seq_len)
    _check_positive_int("num_classes", self.num_classes)
    if self.target_kind == "regression" and self.num_classes != 1:
      raise ValueError("TaskSpec num_classes must be 1 (one regression "
                       f"output) for target_kind='regression', got "
                       f"{self.num_classes}.")
    if self.kind == "tokens":
      _check_positive_int("vocab_size", self.vocab_size)
      if self.input_dim is not None:
        raise ValueError("TaskSpec input_dim must be None for kind='tokens', "
                         f"got {self.input_dim!r}.")
      if not 0 <= self.pad_id < self.vocab_size:
        raise ValueError(f"TaskSpec pad_id must be in [0, vocab_size="
                         f"{self.vocab_size}), got {self.pad_id}.")
    else:
      _check_positive_int("input_dim", self.input_dim)
      if self.vocab_size is not None:
        raise ValueError("TaskSpec vocab_size must be None for kind="
                         f"'continuous', got {self.vocab_size!r}.")
      if self.pad_id != 0:
        raise ValueError("TaskSpec pad_id must be 0 for kind='continuous' "
                         f"(padding is zeros), got {self.pad_id}.")
    if not isinstance(self.dual, bool):
      raise TypeError(f"TaskSpec dual must be a bool, got "
                      f"{_describe(self.dual)}.")


def _check_positive_int(name: str, value) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be an int, got {_describe(value)}.")
  if value < 1:
    raise ValueError(f"{name} must be >= 1, got {value}.")


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
  """One split of a task: whole-dataset arrays, N examples of length T.

  Attributes:
    inputs: `(N, T)` integer token ids (stored as uint8/uint16/int8/int16/
      int32) or `(N, T, C)` continuous features (float32, or uint8 pixel
      intensities that batches scale to float32 in [0, 1]).
    lengths: int32 `(N,)`, each in [0, T]; positions >= length are padding.
    targets: int32 `(N,)` classes, int32 `(N, T)` per-position classes, or
      float32 `(N,)` regression values.
    target_mask: float32 `(N, T)` of 0/1, required with `(N, T)` targets and
      forbidden otherwise.
    inputs2: dual tasks: the second document, same shape and dtype as
      `inputs`.
    lengths2: dual tasks: int32 `(N,)` lengths of `inputs2`.

  Raises:
    TypeError / ValueError: at construction, naming the array and what was
      expected, when a shape, dtype or value range is wrong.
  """
  inputs: np.ndarray
  lengths: np.ndarray
  targets: np.ndarray
  target_mask: np.ndarray | None = None
  inputs2: np.ndarray | None = None
  lengths2: np.ndarray | None = None

  def __post_init__(self):
    inputs = self._array("inputs", self.inputs)
    if inputs.ndim == 2:
      allowed = _TOKEN_STORAGE
    elif inputs.ndim == 3:
      allowed = _CONTINUOUS_STORAGE
    else:
      raise ValueError("Split inputs must be (N, T) token ids or (N, T, C) "
                       f"features, got {_describe(inputs)}.")
    if inputs.dtype.type not in allowed:
      raise TypeError(f"Split inputs of rank {inputs.ndim} must have dtype in "
                      f"{[np.dtype(t).name for t in allowed]}, got "
                      f"{_describe(inputs)}.")
    n, t = inputs.shape[:2]
    self._set("lengths", self._lengths("lengths", self.lengths, n, t))
    targets = self._array("targets", self.targets)
    if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
      targets = targets.astype(np.int32, copy=False)
    elif targets.ndim == 1 and np.issubdtype(targets.dtype, np.floating):
      targets = targets.astype(np.float32, copy=False)
    elif targets.ndim == 2 and np.issubdtype(targets.dtype, np.integer):
      targets = targets.astype(np.int32, copy=False)
    else:
      raise TypeError("Split targets must be integer (N,) classes, float "
                      "(N,) regression values or integer (N, T) per-position "
                      f"classes, got {_describe(targets)}.")
    if targets.shape[0] != n or (targets.ndim == 2 and targets.shape[1] != t):
      raise ValueError(f"Split targets must have leading shape {(n,)} (or "
                       f"{(n, t)}) to match inputs {inputs.shape}, got "
                       f"{_describe(targets)}.")
    self._set("targets", targets)
    if targets.ndim == 2:
      if self.target_mask is None:
        raise ValueError("Split target_mask is required with (N, T) "
                         "per-position targets, got None.")
      mask = self._array("target_mask", self.target_mask)
      if mask.shape != (n, t) or not (mask.dtype == np.bool_ or np.issubdtype(
          mask.dtype, np.floating)):
        raise ValueError(f"Split target_mask must be bool or float of shape "
                         f"{(n, t)}, got {_describe(mask)}.")
      mask = mask.astype(np.float32, copy=False)
      if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("Split target_mask must hold only 0 and 1.")
      self._set("target_mask", mask)
    elif self.target_mask is not None:
      raise ValueError("Split target_mask is only allowed with (N, T) "
                       f"targets, got targets {_describe(targets)}.")
    if (self.inputs2 is None) != (self.lengths2 is None):
      raise ValueError("Split inputs2 and lengths2 must be given together, "
                       f"got inputs2={_describe(self.inputs2)}, lengths2="
                       f"{_describe(self.lengths2)}.")
    if self.inputs2 is not None:
      inputs2 = self._array("inputs2", self.inputs2)
      if inputs2.shape != inputs.shape or inputs2.dtype != inputs.dtype:
        raise ValueError("Split inputs2 must match inputs "
                         f"({_describe(inputs)}), got {_describe(inputs2)}.")
      self._set("lengths2", self._lengths("lengths2", self.lengths2, n, t))

  def _set(self, name, value):
    object.__setattr__(self, name, value)

  def _array(self, name, value) -> np.ndarray:
    if not isinstance(value, np.ndarray):
      raise TypeError(f"Split {name} must be a numpy array, got "
                      f"{_describe(value)}.")
    return value

  def _lengths(self, name, value, n, t) -> np.ndarray:
    lengths = self._array(name, value)
    if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer):
      raise ValueError(f"Split {name} must be integer of shape {(n,)}, got "
                       f"{_describe(lengths)}.")
    if n and (lengths.min() < 0 or lengths.max() > t):
      raise ValueError(f"Split {name} must lie in [0, T={t}], got range "
                       f"[{lengths.min()}, {lengths.max()}].")
    return lengths.astype(np.int32, copy=False)

  def __len__(self) -> int:
    return self.inputs.shape[0]

  @property
  def kind(self) -> str:
    """"tokens" or "continuous", from the rank of `inputs`."""
    return "tokens" if self.inputs.ndim == 2 else "continuous"

  @property
  def target_kind(self) -> str:
    """"class", "sequence" or "regression", from `targets`."""
    if self.targets.ndim == 2:
      return "sequence"
    return "regression" if self.targets.dtype == np.float32 else "class"

  @property
  def seq_len(self) -> int:
    return self.inputs.shape[1]

  def gather(self, indices: np.ndarray) -> Batch:
    """The batch of rows `indices`, in canonical dtypes, with weights 1.

    Only the requested rows are copied (fancy indexing), never the split.

    Args:
      indices: integer `(B,)` row indices into this split.

    Returns:
      A batch dict (see the module docstring) of B rows.
    """
    indices = np.asarray(indices)
    batch = {"inputs": _canonical_inputs(self.inputs[indices]),
             "lengths": self.lengths[indices],
             "targets": self.targets[indices]}
    if self.target_mask is not None:
      batch["target_mask"] = self.target_mask[indices]
    if self.inputs2 is not None:
      batch["inputs2"] = _canonical_inputs(self.inputs2[indices])
      batch["lengths2"] = self.lengths2[indices]
    batch["weights"] = np.ones(indices.shape, np.float32)
    return batch

  def subset(self, indices: np.ndarray) -> "Split":
    """A new split of rows `indices` (copies those rows)."""
    indices = np.asarray(indices)
    pick = lambda a: None if a is None else a[indices]
    return Split(inputs=self.inputs[indices], lengths=self.lengths[indices],
                 targets=self.targets[indices],
                 target_mask=pick(self.target_mask),
                 inputs2=pick(self.inputs2), lengths2=pick(self.lengths2))


def _canonical_inputs(x: np.ndarray) -> np.ndarray:
  if x.ndim == 2:
    return x.astype(np.int32, copy=False)
  if x.dtype == np.uint8:
    return x.astype(np.float32) * np.float32(1 / 255)
  return x


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
  """A task: its spec and train / validation / test splits.

  Construction checks every split against the spec: kind, T, channels, dual
  inputs, target kind, token ids in [0, vocab_size), class targets in
  [0, num_classes), and padding (pad id / zeros) at positions >= length.
  `validation` may be the same object as `test` (LRA Text does this).
  """
  spec: TaskSpec
  train: Split
  validation: Split
  test: Split

  def __post_init__(self):
    if not isinstance(self.spec, TaskSpec):
      raise TypeError(f"Task spec must be a TaskSpec, got "
                      f"{_describe(self.spec)}.")
    checked = set()
    for name in ("train", "validation", "test"):
      split = getattr(self, name)
      if not isinstance(split, Split):
        raise TypeError(f"Task {name} must be a Split, got "
                        f"{_describe(split)}.")
      if id(split) not in checked:
        check_split(self.spec, split, name)
        checked.add(id(split))

  @property
  def splits(self) -> dict[str, Split]:
    return {"train": self.train, "validation": self.validation,
            "test": self.test}


def check_split(spec: TaskSpec, split: Split, name: str = "split") -> None:
  """Raises ValueError when `split` does not fit `spec` (see `Task`)."""
  where = f"task {spec.name!r} {name} split"
  if split.kind != spec.kind:
    raise ValueError(f"{where}: spec kind is {spec.kind!r} but inputs are "
                     f"{_describe(split.inputs)}.")
  if split.seq_len != spec.seq_len:
    raise ValueError(f"{where}: inputs must have T=seq_len={spec.seq_len}, "
                     f"got {_describe(split.inputs)}.")
  if spec.kind == "continuous" and split.inputs.shape[2] != spec.input_dim:
    raise ValueError(f"{where}: inputs must have C=input_dim="
                     f"{spec.input_dim} channels, got "
                     f"{_describe(split.inputs)}.")
  if spec.dual != (split.inputs2 is not None):
    raise ValueError(f"{where}: spec dual={spec.dual} but inputs2 is "
                     f"{'missing' if spec.dual else 'present'}.")
  if split.target_kind != spec.target_kind:
    raise ValueError(f"{where}: spec target_kind is {spec.target_kind!r} but "
                     f"targets are {_describe(split.targets)}.")
  if len(split) == 0:
    return
  if spec.target_kind in ("class", "sequence"):
    targets = split.targets
    if spec.target_kind == "sequence":
      targets = targets[split.target_mask > 0]
    if targets.size and (targets.min() < 0 or
                         targets.max() >= spec.num_classes):
      raise ValueError(f"{where}: targets must lie in [0, num_classes="
                       f"{spec.num_classes}), got range [{targets.min()}, "
                       f"{targets.max()}].")
  for key, lkey in (("inputs", "lengths"), ("inputs2", "lengths2")):
    x = getattr(split, key)
    if x is None:
      continue
    if spec.kind == "tokens" and (np.iinfo(x.dtype).min < 0 or
                                  np.iinfo(x.dtype).max >= spec.vocab_size):
      lo, hi = x.min(), x.max()
      if lo < 0 or hi >= spec.vocab_size:
        raise ValueError(f"{where}: {key} ids must lie in [0, vocab_size="
                         f"{spec.vocab_size}), got range [{lo}, {hi}].")
    _check_padding(x, getattr(split, lkey), spec.pad_id, f"{where} {key}")


def _check_padding(x, lengths, pad_id, where) -> None:
  rows = np.flatnonzero(lengths < x.shape[1])
  for start in range(0, rows.size, _CHECK_CHUNK):
    chunk = rows[start:start + _CHECK_CHUNK]
    values = x[chunk]
    if values.ndim == 3:
      bad = np.any(values != 0, axis=2)
    else:
      bad = values != pad_id
    bad &= np.arange(x.shape[1])[None, :] >= lengths[chunk, None]
    if bad.any():
      row, col = np.argwhere(bad)[0]
      raise ValueError(f"{where}: positions at or after the length must be "
                       f"padding ({pad_id}), but example {chunk[row]} has "
                       f"length {lengths[chunk[row]]} and a non-pad value at "
                       f"position {col}.")


def example_batch(spec: TaskSpec, batch_size: int) -> Batch:
  """A batch of zeros with the shapes and dtypes `spec`'s batches have.

  Useful to initialise a model (or `jax.eval_shape` it) before data loads.

  Args:
    spec: the task spec.
    batch_size: B.

  Returns:
    A batch dict (module docstring) of B all-zero rows, lengths = T.
  """
  _check_positive_int("batch_size", batch_size)
  b, t = batch_size, spec.seq_len
  if spec.kind == "tokens":
    inputs = np.full((b, t), spec.pad_id, np.int32)
  else:
    inputs = np.zeros((b, t, spec.input_dim), np.float32)
  batch = {"inputs": inputs, "lengths": np.full((b,), t, np.int32)}
  if spec.target_kind == "sequence":
    batch["targets"] = np.zeros((b, t), np.int32)
    batch["target_mask"] = np.zeros((b, t), np.float32)
  elif spec.target_kind == "regression":
    batch["targets"] = np.zeros((b,), np.float32)
  else:
    batch["targets"] = np.zeros((b,), np.int32)
  if spec.dual:
    batch["inputs2"] = inputs.copy()
    batch["lengths2"] = batch["lengths"].copy()
  batch["weights"] = np.ones((b,), np.float32)
  return batch
