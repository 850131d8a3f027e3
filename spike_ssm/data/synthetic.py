"""Synthetic sequence tasks for memory and recall, deterministic by seed.

Each builder draws train / validation / test from independent streams of
`np.random.SeedSequence(seed).spawn(3)`, so the splits never share a stream
and a split does not change when another split's size does.

  mqar             multi-query associative recall (Arora et al. 2023,
                   "Zoology"): key-value pairs, then the keys again as
                   queries; at each query position the target is the value
                   bound to that key.
  selective_copy   selective copying (Gu & Dao 2023, "Mamba"): a few data
                   tokens scattered among blanks; after them come marker
                   tokens, at which the model must emit the data tokens in
                   order.
  induction_heads  induction heads (Olsson et al. 2022; Fu et al. 2023, H3):
                   random tokens with one trigger token somewhere; the
                   sequence ends with the trigger again and the target is the
                   token that followed the first trigger.
  adding           the adding problem (Hochreiter & Schmidhuber 1997, in the
                   form of Arjovsky et al. 2016 used by the SSM literature):
                   2 channels (uniform values, 0/1 markers); the target is
                   the sum of the two marked values.

The token tasks are "sequence" tasks: per-position targets `(N, T)` with a
`target_mask` on the positions that count. Induction heads is a sequence task
with a single masked position (the last) rather than a class task, so that
the loss reads the output at the position where the answer is due, whatever
pooling a classification head would use. The targets at unmasked positions
are 0 and carry no meaning.
"""

import numpy as np

from spike_ssm.data import base

PAD_ID = 0


def _int_option(name, value, minimum):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be an int, got {value!r}.")
  if value < minimum:
    raise ValueError(f"{name} must be >= {minimum}, got {value}.")
  return int(value)


def _no_root(task, root):
  if root is not None:
    raise ValueError(f"Task {task!r} is generated and reads no files; root "
                     f"must be None, got {root!r}.")


def _streams(seed):
  return [np.random.default_rng(s)
          for s in np.random.SeedSequence(seed).spawn(3)]


def _sizes(num_train, num_valid, num_test):
  return (_int_option("num_train", num_train, 1),
          _int_option("num_valid", num_valid, 0),
          _int_option("num_test", num_test, 0))


def _sequence_task(name, seed, sizes, *, seq_len, vocab_size, draw):
  """A token task with per-position targets from `draw(rng, n)`, which
  returns (inputs, targets, mask) (n, T); one independent stream a split."""
  splits = []
  for rng, n in zip(_streams(seed), sizes):
    inputs, targets, mask = draw(rng, n)
    splits.append(base.Split(inputs=inputs,
                             lengths=np.full(n, seq_len, np.int32),
                             targets=targets, target_mask=mask))
  spec = base.TaskSpec(name=name, kind="tokens", vocab_size=vocab_size,
                       seq_len=seq_len, num_classes=vocab_size,
                       target_kind="sequence")
  return base.Task(spec=spec, train=splits[0], validation=splits[1],
                   test=splits[2])


def distinct_rows(rng: np.random.Generator, n: int, k: int, low: int,
                  high: int) -> np.ndarray:
  """(n, k) ints from [low, high), distinct within each row, uniformly."""
  span = high - low
  if k > span:
    raise ValueError(f"cannot draw {k} distinct values from [{low}, {high}).")
  if k * k > span:
    # Dense case: the first k of a random permutation per row, in row chunks
    # of about a million draws to bound memory.
    step = max(1, 2**20 // span)
    return np.concatenate(
        [np.argsort(rng.random((min(step, n - i), span)), axis=1)[:, :k]
         for i in range(0, n, step)] or [np.zeros((0, k), np.int64)]) + low
  out = rng.integers(low, high, (n, k))
  while True:  # Redraw rows with a repeat; few when k*k <= span.
    ordered = np.sort(out, axis=1)
    bad = np.flatnonzero((np.diff(ordered, axis=1) == 0).any(axis=1))
    if bad.size == 0:
      return out
    out[bad] = rng.integers(low, high, (bad.size, k))


# ----------------------------------------------------------------------------
# MQAR
# ----------------------------------------------------------------------------


def make_mqar(rng, n, *, seq_len, vocab_size, num_kv_pairs, power_a=0.01,
              random_non_queries=True, num_queries=None, num_keys=None,
              distinct_values=True):
  """Multi-query associative recall examples, Zoology's generator generalised.

  Vocabulary: pad 0, keys `[1, 1 + num_keys)`, values
  `[1 + num_keys, vocab_size)`. Layout: `k1 v1 k2 v2 ... kP vP` with distinct
  keys (and distinct values if `distinct_values`), then a query region of
  `seq_len - 2P` positions holding `num_queries` distinct presented keys,
  chosen uniformly, at distinct even offsets of the region whose gaps follow
  a power law p(g) ~ g^(power_a - 1) (small gaps likely), sampled without
  replacement. The target at a query position is its key's value. Other
  positions hold random non-pad tokens (`random_non_queries`) or the pad id.

  With the defaults this is Zoology's MQAR (keys in `[1, vocab_size // 2)`,
  distinct values, every key queried once). `num_queries=1`,
  `distinct_values=False` and `seq_len = 2P + 1` give single-query recall
  (`experimental.make_recall_batch`): one query, right after the pairs.

  Args:
    rng: a `np.random.Generator`.
    n: number of examples.
    seq_len: T.
    vocab_size: V, including the pad id.
    num_kv_pairs: P.
    power_a: exponent of the query-gap power law, > 0.
    random_non_queries: fill the non-query positions of the query region with
      random tokens instead of pads.
    num_queries: keys queried per example, in `[1, P]`; None queries all P.
    num_keys: size of the key vocabulary; None is `vocab_size // 2 - 1`.
    distinct_values: draw the P values without replacement.

  Returns:
    (inputs int32 (n, T), targets int32 (n, T), mask float32 (n, T)).
  """
  context = 2 * num_kv_pairs
  num_queries = num_kv_pairs if num_queries is None else num_queries
  num_keys = vocab_size // 2 - 1 if num_keys is None else num_keys
  slots = (seq_len - context + 1) // 2  # even offsets of the query region
  keys = distinct_rows(rng, n, num_kv_pairs, 1, 1 + num_keys)
  if distinct_values:
    values = distinct_rows(rng, n, num_kv_pairs, 1 + num_keys, vocab_size)
  else:
    values = rng.integers(1 + num_keys, vocab_size, (n, num_kv_pairs))
  inputs = np.zeros((n, seq_len), np.int32)
  inputs[:, 0:context:2] = keys
  inputs[:, 1:context:2] = values
  rows = np.arange(n)[:, None]
  if num_queries < num_kv_pairs:  # which pairs are asked for
    which = distinct_rows(rng, n, num_queries, 0, num_kv_pairs)
    keys, values = keys[rows, which], values[rows, which]
  # Power-law gaps without replacement via Gumbel top-k.
  logp = (power_a - 1.0) * np.log(np.arange(1, slots + 1))
  scores = logp - np.log(-np.log(rng.random((n, slots))))
  gaps = np.argpartition(-scores, num_queries - 1, axis=1)[:, :num_queries]
  positions = context + 2 * gaps
  if random_non_queries:
    noise = rng.integers(1, vocab_size, (n, seq_len - context))
    inputs[:, context:] = noise
  inputs[rows, positions] = keys
  targets = np.zeros((n, seq_len), np.int32)
  targets[rows, positions] = values
  mask = np.zeros((n, seq_len), np.float32)
  mask[rows, positions] = 1.0
  return inputs, targets, mask


def build_mqar(*, root: base.Path | None = None,
               cache_dir: base.Path | None = None, seed: int = 0,
               num_train: int = 100_000, num_valid: int = 3_000,
               num_test: int = 3_000, seq_len: int = 256,
               vocab_size: int = 8192, num_kv_pairs: int = 16,
               power_a: float = 0.01,
               random_non_queries: bool = True) -> base.Task:
  """MQAR (Zoology defaults: vocab 8192, power_a 0.01, 100k/3k examples).

  Requires 2 * num_kv_pairs (context) + 2 * num_kv_pairs (queries) <=
  seq_len and num_kv_pairs < vocab_size // 2.
  """
  del cache_dir
  _no_root("mqar", root)
  sizes = _sizes(num_train, num_valid, num_test)
  seq_len = _int_option("seq_len", seq_len, 4)
  vocab_size = _int_option("vocab_size", vocab_size, 4)
  num_kv_pairs = _int_option("num_kv_pairs", num_kv_pairs, 1)
  if 4 * num_kv_pairs > seq_len:
    raise ValueError(f"seq_len must be >= 4 * num_kv_pairs = "
                     f"{4 * num_kv_pairs} (pairs plus query slots), got "
                     f"{seq_len}.")
  if num_kv_pairs > vocab_size // 2 - 1:
    raise ValueError(f"vocab_size={vocab_size} has only {vocab_size // 2 - 1}"
                     f" keys, fewer than num_kv_pairs={num_kv_pairs}.")
  if not power_a > 0:
    raise ValueError(f"power_a must be > 0, got {power_a}.")
  return _sequence_task(
      "mqar", seed, sizes, seq_len=seq_len, vocab_size=vocab_size,
      draw=lambda rng, n: make_mqar(
          rng, n, seq_len=seq_len, vocab_size=vocab_size,
          num_kv_pairs=num_kv_pairs, power_a=power_a,
          random_non_queries=random_non_queries))


# ----------------------------------------------------------------------------
# Selective copying
# ----------------------------------------------------------------------------

BLANK_ID = 1
MARKER_ID = 2
FIRST_DATA_ID = 3


def make_selective_copy(rng, n, *, seq_len, num_tokens, num_symbols):
  """Selective-copying examples.

  Positions [0, seq_len - num_tokens) hold `num_tokens` data tokens (ids
  3 .. 3 + num_symbols - 1) at random distinct positions, blanks (id 1)
  elsewhere; the last num_tokens positions hold markers (id 2), where the
  targets are the data tokens in order of appearance.

  Returns:
    (inputs int32 (n, T), targets int32 (n, T), mask float32 (n, T)).
  """
  region = seq_len - num_tokens
  positions = np.sort(distinct_rows(rng, n, num_tokens, 0, region), axis=1)
  data = rng.integers(FIRST_DATA_ID, FIRST_DATA_ID + num_symbols,
                      (n, num_tokens))
  inputs = np.full((n, seq_len), BLANK_ID, np.int32)
  inputs[:, region:] = MARKER_ID
  rows = np.arange(n)[:, None]
  inputs[rows, positions] = data
  targets = np.zeros((n, seq_len), np.int32)
  targets[:, region:] = data
  mask = np.zeros((n, seq_len), np.float32)
  mask[:, region:] = 1.0
  return inputs, targets, mask


def build_selective_copy(*, root: base.Path | None = None,
                         cache_dir: base.Path | None = None, seed: int = 0,
                         num_train: int = 20_000, num_valid: int = 1_000,
                         num_test: int = 1_000, seq_len: int = 4096,
                         num_tokens: int = 16,
                         num_symbols: int = 16) -> base.Task:
  """Selective copying (Mamba: 16 tokens, 16 symbols, length 4096).

  vocab_size = num_symbols + 3 (pad 0, blank 1, marker 2).
  """
  del cache_dir
  _no_root("selective_copy", root)
  sizes = _sizes(num_train, num_valid, num_test)
  num_tokens = _int_option("num_tokens", num_tokens, 1)
  num_symbols = _int_option("num_symbols", num_symbols, 1)
  seq_len = _int_option("seq_len", seq_len, 2 * num_tokens)
  vocab_size = num_symbols + FIRST_DATA_ID
  return _sequence_task(
      "selective_copy", seed, sizes, seq_len=seq_len, vocab_size=vocab_size,
      draw=lambda rng, n: make_selective_copy(
          rng, n, seq_len=seq_len, num_tokens=num_tokens,
          num_symbols=num_symbols))


# ----------------------------------------------------------------------------
# Induction heads
# ----------------------------------------------------------------------------

TRIGGER_ID = 1
FIRST_CONTENT_ID = 2


def make_induction_heads(rng, n, *, seq_len, num_symbols):
  """Induction-head examples.

  Content tokens (ids 2 .. 2 + num_symbols - 1) fill the sequence; the
  trigger (id 1) appears once at a uniform position p in [0, T - 3] and again
  at T - 1. The target at T - 1 is the token at p + 1.

  Returns:
    (inputs int32 (n, T), targets int32 (n, T), mask float32 (n, T)).
  """
  inputs = rng.integers(FIRST_CONTENT_ID, FIRST_CONTENT_ID + num_symbols,
                        (n, seq_len)).astype(np.int32)
  first = rng.integers(0, seq_len - 2, n)
  rows = np.arange(n)
  inputs[rows, first] = TRIGGER_ID
  inputs[:, -1] = TRIGGER_ID
  targets = np.zeros((n, seq_len), np.int32)
  targets[:, -1] = inputs[rows, first + 1]
  mask = np.zeros((n, seq_len), np.float32)
  mask[:, -1] = 1.0
  return inputs, targets, mask


def build_induction_heads(*, root: base.Path | None = None,
                          cache_dir: base.Path | None = None, seed: int = 0,
                          num_train: int = 20_000, num_valid: int = 1_000,
                          num_test: int = 1_000, seq_len: int = 256,
                          num_symbols: int = 16) -> base.Task:
  """Induction heads; vocab_size = num_symbols + 2 (pad 0, trigger 1)."""
  del cache_dir
  _no_root("induction_heads", root)
  sizes = _sizes(num_train, num_valid, num_test)
  seq_len = _int_option("seq_len", seq_len, 3)
  num_symbols = _int_option("num_symbols", num_symbols, 1)
  vocab_size = num_symbols + FIRST_CONTENT_ID
  return _sequence_task(
      "induction_heads", seed, sizes, seq_len=seq_len,
      vocab_size=vocab_size,
      draw=lambda rng, n: make_induction_heads(
          rng, n, seq_len=seq_len, num_symbols=num_symbols))


# ----------------------------------------------------------------------------
# Adding problem
# ----------------------------------------------------------------------------


def make_adding(rng, n, *, seq_len):
  """Adding-problem examples.

  Channel 0: values uniform in [0, 1); channel 1: 0/1 markers, exactly one
  in [0, T // 2) and one in [T // 2, T). Target: the sum of the two marked
  values (of the float32 inputs, summed in float64).

  Returns:
    (inputs float32 (n, T, 2), targets float32 (n,)).
  """
  values = rng.random((n, seq_len)).astype(np.float32)
  half = seq_len // 2
  first = rng.integers(0, half, n)
  second = rng.integers(half, seq_len, n)
  markers = np.zeros((n, seq_len), np.float32)
  rows = np.arange(n)
  markers[rows, first] = 1.0
  markers[rows, second] = 1.0
  targets = (values[rows, first].astype(np.float64) +
             values[rows, second]).astype(np.float32)
  return np.stack([values, markers], axis=-1), targets


def build_adding(*, root: base.Path | None = None,
                 cache_dir: base.Path | None = None, seed: int = 0,
                 num_train: int = 50_000, num_valid: int = 5_000,
                 num_test: int = 5_000, seq_len: int = 200) -> base.Task:
  """The adding problem; regression (1 output), input_dim 2."""
  del cache_dir
  _no_root("adding", root)
  sizes = _sizes(num_train, num_valid, num_test)
  seq_len = _int_option("seq_len", seq_len, 2)
  splits = []
  for rng, n in zip(_streams(seed), sizes):
    inputs, targets = make_adding(rng, n, seq_len=seq_len)
    splits.append(base.Split(inputs=inputs,
                             lengths=np.full(n, seq_len, np.int32),
                             targets=targets))
  spec = base.TaskSpec(name="adding", kind="continuous", input_dim=2,
                       seq_len=seq_len, num_classes=1,
                       target_kind="regression")
  return base.Task(spec=spec, train=splits[0], validation=splits[1],
                   test=splits[2])
