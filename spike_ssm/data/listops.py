"""ListOps (Nangia & Bowman 2018) as in Long Range Arena (Tay et al. 2021).

An example is a prefix expression over the digits 0-9 with the operators
MIN, MAX, MED (median, rounded down) and SM (sum modulo 10), e.g.

  [MAX 2 9 [MIN 4 7 ] 0 ]   ->   9

and its label is the expression's value (10 classes).

Generation follows LRA's `lra_benchmarks/data/listops.py`:

* a node at depth d < max_depth (the root has depth 1) is an operator with
  probability `operator_prob` = 0.25 (LRA's VALUE_P) and a digit otherwise;
  nodes at depth max_depth are digits;
* an operator draws its argument count uniformly from [2, max_args] and its
  operator uniformly from the four;
* the length counts operators, digits and closing brackets (LRA's tree
  length; the parentheses of LRA's string form are not tokens), and a tree
  is kept only if min_length < length < max_length;
* duplicate expressions are dropped (LRA collects a set), and the kept trees
  are split in order into train / validation / test (96k / 2k / 2k).

Tokens: pad 0, digits 0-9 -> 1..10, [MIN [MAX [MED [SM -> 11..14, ] -> 15, so
`VOCAB_SIZE` = 16 (15 symbols + pad). With `root`, the official LRA TSVs are
read instead (layout: docs/data_formats.md).

The generator is vectorised over many candidate trees at once (level by
level) and stops growing a tree as soon as it must exceed max_length; this
changes how random numbers are consumed but not the distribution of kept
trees. Results are deterministic by seed and cached on disk.
"""

import logging
import os
import pathlib

import numpy as np

from spike_ssm.data import _cache
from spike_ssm.data import base

PAD_ID = 0
OPERATORS = ("MIN", "MAX", "MED", "SM")
VOCAB = (("<pad>",) + tuple(str(d) for d in range(10)) +
         tuple("[" + op for op in OPERATORS) + ("]",))
VOCAB_SIZE = len(VOCAB)
DIGIT_OFFSET = 1
OP_OFFSET = 11
END_ID = 15
NUM_CLASSES = 10
LRA_DEFAULTS = dict(num_train=96_000, num_valid=2_000, num_test=2_000,
                    min_length=500, max_length=2_000, max_depth=10,
                    max_args=10, operator_prob=0.25)
_FILES = ("basic_train.tsv", "basic_val.tsv", "basic_test.tsv")
_RELEASE_DIRS = (".", "listops-1000", "lra_release/listops-1000")
# Candidate trees drawn per vectorised round. Fixed, because the random
# stream (hence the data set) depends on it.
_ROUND = 4096


def to_text(ids: np.ndarray) -> str:
  """Readable form of a token id sequence, pads dropped."""
  return " ".join(VOCAB[i] for i in np.asarray(ids).tolist() if i != PAD_ID)


# ----------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------


def _generate_round(rng, count, *, min_length, max_length, max_depth,
                    max_args, operator_prob, width):
  """Draws `count` candidate trees; returns (tokens, lengths, labels) of the
  kept ones, in draw order: uint8 (K, width), int32 (K,), int32 (K,)."""
  # Per level: tree id, parent (global node index), is-operator, symbol
  # (operator 0-3 or digit 0-9) and argument count. Children of an operator
  # are contiguous in the next level, in the order of their parents.
  levels = []
  tree = np.arange(count)
  parent = np.full(count, -1)
  tokens_so_far = np.zeros(count, np.int64)
  alive = np.ones(count, bool)
  offset = 0
  for depth in range(1, max_depth + 1):
    n = tree.size
    if n == 0:
      break
    if depth < max_depth:
      is_op = rng.random(n) < operator_prob
    else:
      is_op = np.zeros(n, bool)
    nargs = np.where(is_op, rng.integers(2, max_args + 1, n), 0)
    sym = np.where(is_op, rng.integers(0, len(OPERATORS), n),
                   rng.integers(0, 10, n))
    tokens_so_far += np.bincount(tree, weights=1 + is_op,
                                 minlength=count).astype(np.int64)
    # Every pending argument adds at least one token: stop growing trees
    # that must end up too long.
    pending = np.bincount(tree, weights=nargs,
                          minlength=count).astype(np.int64)
    alive &= tokens_so_far + pending < max_length
    levels.append((tree, parent, is_op, sym, nargs))
    grow = is_op & alive[tree]
    node_ids = offset + np.arange(n)
    offset += n
    tree = np.repeat(tree[grow], nargs[grow])
    parent = np.repeat(node_ids[grow], nargs[grow])
  keep = alive & (tokens_so_far > min_length) & (tokens_so_far < max_length)
  num_kept = int(keep.sum())
  if num_kept == 0:
    return (np.zeros((0, width), np.uint8), np.zeros(0, np.int32),
            np.zeros(0, np.int32))

  # Drop the nodes of rejected trees and renumber the rest.
  tree, parent, is_op, sym, nargs = (np.concatenate(a) for a in zip(*levels))
  level_sizes = [lv[0].size for lv in levels]
  node_keep = keep[tree]
  new_index = np.cumsum(node_keep) - 1
  row = (np.cumsum(keep) - 1)[tree[node_keep]]
  parent = np.where(parent[node_keep] >= 0,
                    new_index[np.maximum(parent[node_keep], 0)], -1)
  is_op, sym, nargs = is_op[node_keep], sym[node_keep], nargs[node_keep]
  kept_per_level = np.add.reduceat(node_keep.astype(np.int64),
                                   np.cumsum([0] + level_sizes[:-1]))
  bounds = np.concatenate([[0], np.cumsum(kept_per_level)])
  levels = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

  # Bottom-up: subtree token counts and values.
  size = 1 + is_op.astype(np.int64)
  value = np.where(is_op, 0, sym)
  for child, par in zip(levels[:0:-1], levels[-2::-1]):
    if child.stop == child.start:
      continue
    local_parent = parent[child] - par.start
    size[par] += np.bincount(local_parent, weights=size[child],
                             minlength=par.stop - par.start).astype(np.int64)
    # Children blocks follow their operators' order; reduce per block.
    child_values = value[child]
    ops = np.flatnonzero(is_op[par]) + par.start
    counts = nargs[ops]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    order = np.lexsort((child_values, local_parent))
    ranked = child_values[order]
    low = ranked[starts + (counts - 1) // 2]
    high = ranked[starts + counts // 2]
    results = np.stack([
        np.minimum.reduceat(child_values, starts),
        np.maximum.reduceat(child_values, starts),
        (low + high) // 2,  # int(np.median(...)) of non-negative ints
        np.add.reduceat(child_values, starts) % 10,
    ])
    value[ops] = results[sym[ops], np.arange(ops.size)]

  # Top-down: each node's first token position within its tree.
  start = np.zeros(size.size, np.int64)
  for par, child in zip(levels[:-1], levels[1:]):
    if child.stop == child.start:
      continue
    child_parent = parent[child]
    before = np.cumsum(size[child]) - size[child]
    first = np.searchsorted(child_parent, child_parent, side="left")
    start[child] = start[child_parent] + 1 + before - before[first]

  tokens = np.zeros((num_kept, width), np.uint8)
  tokens[row, start] = np.where(is_op, OP_OFFSET + sym, DIGIT_OFFSET + sym)
  ops = np.flatnonzero(is_op)
  tokens[row[ops], start[ops] + size[ops] - 1] = END_ID
  roots = levels[0]
  return (tokens, size[roots].astype(np.int32),
          value[roots].astype(np.int32))


def generate_listops(num_examples: int, *, seed: int = 0,
                     min_length: int = 500, max_length: int = 2000,
                     max_depth: int = 10, max_args: int = 10,
                     operator_prob: float = 0.25, width: int | None = None):
  """Generates `num_examples` distinct ListOps expressions.

  Args:
    num_examples: how many to return.
    seed: seed of the generator; same seed, same expressions.
    min_length, max_length: keep trees with min_length < length < max_length
      tokens.
    max_depth: nodes at this depth (root = 1) are digits.
    max_args: operators take 2..max_args arguments.
    operator_prob: probability that a node above max_depth is an operator.
    width: T of the returned token array; default max_length - 1.

  Returns:
    (tokens uint8 (N, width) padded with 0, lengths int32 (N,), labels int32
    (N,)).
  """
  _check_generation_args(num_examples, min_length, max_length, max_depth,
                         max_args, operator_prob)
  width = max_length - 1 if width is None else width
  if width < max_length - 1:
    raise ValueError(f"width must be >= max_length - 1 = {max_length - 1}, "
                     f"got {width}.")
  rng = np.random.default_rng(seed)
  chunks, total, seen, rounds = [], 0, set(), 0
  while total < num_examples:
    tokens, lengths, labels = _generate_round(
        rng, _ROUND, min_length=min_length, max_length=max_length,
        max_depth=max_depth, max_args=max_args, operator_prob=operator_prob,
        width=width)
    rounds += 1
    if rounds % 100 == 0 and total == 0:
      logging.warning("ListOps: no tree kept after %d candidates; are "
                      "min_length=%d / max_length=%d reachable?",
                      rounds * _ROUND, min_length, max_length)
    unique = []
    for i in range(lengths.size):
      key = tokens[i, :lengths[i]].tobytes()
      if key not in seen:
        seen.add(key)
        unique.append(i)
    unique = np.asarray(unique[:num_examples - total], np.int64)
    chunks.append((tokens[unique], lengths[unique], labels[unique]))
    total += unique.size
  tokens, lengths, labels = (np.concatenate(a) for a in zip(*chunks))
  return tokens, lengths, labels


def _check_generation_args(num_examples, min_length, max_length, max_depth,
                           max_args, operator_prob):
  for name, value, minimum in (("num_examples", num_examples, 1),
                               ("min_length", min_length, 0),
                               ("max_length", max_length, 2),
                               ("max_depth", max_depth, 2),
                               ("max_args", max_args, 2)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
      raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
      raise ValueError(f"{name} must be >= {minimum}, got {value}.")
  if min_length >= max_length - 1:
    raise ValueError(f"min_length must be < max_length - 1 (both bounds are "
                     f"exclusive), got min_length={min_length}, max_length="
                     f"{max_length}.")
  if not 0.0 < operator_prob < 1.0:
    raise ValueError(f"operator_prob must be in (0, 1), got {operator_prob}.")
  longest = 1  # The longest tree: every node above max_depth an operator
  for _ in range(max_depth - 1):  # with max_args arguments.
    longest = 2 + max_args * longest
    if longest > min_length:
      return
  raise ValueError(f"min_length={min_length} is unreachable: trees of "
                   f"max_depth={max_depth} and max_args={max_args} have at "
                   f"most {longest} tokens.")


def _generated_task(*, cache_dir, seed, num_train, num_valid, num_test,
                    min_length, max_length, max_depth, max_args,
                    operator_prob, seq_len) -> base.Task:
  for name, value in (("num_train", num_train), ("num_valid", num_valid),
                      ("num_test", num_test)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
      raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 0:
      raise ValueError(f"{name} must be >= 0, got {value}.")
  total = num_train + num_valid + num_test
  params = dict(seed=seed, num_examples=total, min_length=min_length,
                max_length=max_length, max_depth=max_depth,
                max_args=max_args, operator_prob=float(operator_prob),
                round=_ROUND)
  if seq_len < max_length - 1:
    raise ValueError(f"seq_len must be >= max_length - 1 = {max_length - 1} "
                     f"(the longest generated expression), got {seq_len}.")
  key = _cache.cache_key("listops", params)
  path = _cache.cache_path(cache_dir, "listops", params)
  names = ("tokens", "lengths", "labels")
  arrays = _cache.load(path, key, names)
  if arrays is None or arrays["tokens"].shape != (total, max_length - 1):
    tokens, lengths, labels = generate_listops(
        total, seed=seed, min_length=min_length, max_length=max_length,
        max_depth=max_depth, max_args=max_args, operator_prob=operator_prob)
    arrays = dict(tokens=tokens, lengths=lengths, labels=labels)
    try:
      _cache.save(path, key, arrays)
    except OSError as e:  # A read-only cache must not stop training.
      logging.warning("Could not write ListOps cache %s: %s", path, e)
  tokens = arrays["tokens"]
  if seq_len > tokens.shape[1]:
    tokens = np.pad(tokens, ((0, 0), (0, seq_len - tokens.shape[1])))
  bounds = np.cumsum([0, num_train, num_valid, num_test])
  splits = [base.Split(inputs=tokens[a:b], lengths=arrays["lengths"][a:b],
                       targets=arrays["labels"][a:b])
            for a, b in zip(bounds[:-1], bounds[1:])]
  return base.Task(spec=spec(seq_len), train=splits[0],
                   validation=splits[1], test=splits[2])


def spec(seq_len: int) -> base.TaskSpec:
  return base.TaskSpec(name="listops", kind="tokens", vocab_size=VOCAB_SIZE,
                       seq_len=seq_len, num_classes=NUM_CLASSES)


# ----------------------------------------------------------------------------
# Official LRA files
# ----------------------------------------------------------------------------

# Byte -> id after the operators are rewritten to one letter each.
# Control bytes 1-4 stand for the operators; a source already containing
# one of them is invalid anyway, and is rejected before the rewrite.
_OP_BYTES = tuple((b"[" + op.encode(), bytes([1 + i]))
                  for i, op in enumerate(OPERATORS))
_STAND_INS = bytes(range(1, 1 + len(OPERATORS)))
_PARENS_TO_SPACES = bytes.maketrans(b"()", b"  ")
_LUT = np.full(256, 255, np.uint8)
_LUT[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10) + DIGIT_OFFSET
_LUT[np.frombuffer(_STAND_INS, np.uint8)] = np.arange(4) + OP_OFFSET
_LUT[ord("]")] = END_ID


def _tokenize(source: bytes, where: str) -> np.ndarray:
  # Byte-level rewriting keeps the 96k-line files fast: each token becomes
  # one byte, then a lookup table maps bytes to ids.
  text = source.translate(_PARENS_TO_SPACES)
  compact = text
  for op, letter in _OP_BYTES:
    compact = compact.replace(op, letter)
  words = compact.split()
  joined = b"".join(words)
  ids = _LUT[np.frombuffer(joined, np.uint8)]
  clean = len(text.translate(None, _STAND_INS)) == len(text)
  if not clean or len(joined) != len(words) or (ids == 255).any():
    valid = {v.encode() for v in VOCAB[1:]}
    bad = next(w for w in text.split() if w not in valid)
    raise ValueError(f"{where}: unknown ListOps token "
                     f"{bad.decode(errors='replace')!r}; expected one of "
                     f"{list(VOCAB[1:])} (and parentheses).")
  return ids


def load_listops_tsv(path: str | os.PathLike, *, seq_len: int = 2000
                     ) -> base.Split:
  """Loads one official LRA ListOps TSV (header `Source\\tTarget`).

  Args:
    path: the `.tsv` file.
    seq_len: T; longer expressions are truncated (as LRA does).

  Returns:
    The Split, in file order.

  Raises:
    FileNotFoundError: no such file.
    ValueError: bad header, a line without exactly two fields, an unknown
      token or a target outside 0-9; the message names file and line.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"ListOps file not found: {path}")
  rows, labels = [], []
  with open(path, "rb") as f:
    header = f.readline().rstrip(b"\r\n")
    if header.split(b"\t") != [b"Source", b"Target"]:
      raise ValueError(f"{path}:1: expected the header 'Source<TAB>Target', "
                       f"got {header[:80]!r}.")
    for lineno, line in enumerate(f, start=2):
      line = line.rstrip(b"\r\n")
      if not line.strip():
        continue
      where = f"{path}:{lineno}"
      fields = line.split(b"\t")
      if len(fields) != 2:
        raise ValueError(f"{where}: expected 2 tab-separated fields (Source, "
                         f"Target), got {len(fields)}.")
      try:
        label = int(fields[1])
      except ValueError:
        label = -1
      if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"{where}: Target must be an int in [0, 9], got "
                         f"{fields[1][:20]!r}.")
      rows.append(_tokenize(fields[0], where)[:seq_len])
      labels.append(label)
  tokens = np.zeros((len(rows), seq_len), np.uint8)
  for i, ids in enumerate(rows):
    tokens[i, :ids.size] = ids
  lengths = np.array([r.size for r in rows], np.int32)
  return base.Split(inputs=tokens, lengths=lengths,
                    targets=np.array(labels, np.int32))


def find_official_dir(root: str | os.PathLike) -> pathlib.Path:
  """The directory under `root` holding basic_{train,val,test}.tsv."""
  root = pathlib.Path(root).expanduser()
  for sub in _RELEASE_DIRS:
    if all((root / sub / f).is_file() for f in _FILES):
      return (root / sub).resolve()
  raise FileNotFoundError(
      f"ListOps files not found under root={str(root)!r}: expected "
      f"{', '.join(_FILES)} in one of "
      f"{[str(root / s) for s in _RELEASE_DIRS]} (the LRA release's "
      "listops-1000 directory).")


def load_official(root: str | os.PathLike, *, seq_len: int = 2000
                  ) -> base.Task:
  """The official LRA ListOps task from the TSVs under `root`."""
  directory = find_official_dir(root)
  train, val, test = (load_listops_tsv(directory / f, seq_len=seq_len)
                      for f in _FILES)
  return base.Task(spec=spec(seq_len), train=train, validation=val,
                   test=test)


def build_listops(*, root: base.Path | None = None,
                  cache_dir: base.Path | None = None, seed: int = 0,
                  num_train: int | None = None, num_valid: int | None = None,
                  num_test: int | None = None,
                  min_length: int | None = None,
                  max_length: int | None = None,
                  max_depth: int | None = None, max_args: int | None = None,
                  operator_prob: float | None = None,
                  seq_len: int | None = None) -> base.Task:
  """ListOps: generated (root=None) or the official LRA TSVs under `root`.

  Generation options default to LRA's: num_train=96000, num_valid=2000,
  num_test=2000, min_length=500, max_length=2000 (both exclusive),
  max_depth=10, max_args=10, operator_prob=0.25. seq_len (T) defaults to
  max_length (2000, LRA's padded length) and must be >= max_length - 1 for
  generated data; official files are truncated to it. Generated data is
  cached under `cache_dir`, keyed by seed and every generation option.
  """
  generation = dict(num_train=num_train, num_valid=num_valid,
                    num_test=num_test, min_length=min_length,
                    max_length=max_length, max_depth=max_depth,
                    max_args=max_args, operator_prob=operator_prob)
  if root is not None:
    given = sorted(k for k, v in generation.items() if v is not None)
    if given:
      raise ValueError(f"ListOps options {given} only apply to the generator "
                       "(root=None); the official files fix them.")
    return load_official(root, seq_len=2000 if seq_len is None else seq_len)
  options = {k: LRA_DEFAULTS[k] if v is None else v
             for k, v in generation.items()}
  if seq_len is None:
    seq_len = options["max_length"]
  return _generated_task(cache_dir=cache_dir, seed=seed, seq_len=seq_len,
                         **options)
