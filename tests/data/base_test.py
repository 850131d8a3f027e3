"""Tests for spike_ssm.data.base: specs, splits and tasks."""

import pathlib
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spike_ssm import data
from spike_ssm import zoo
from spike_ssm.data import base

DATA_DIR = pathlib.Path(__file__).resolve().parents[2] / "spike_ssm" / "data"


def token_split(n=6, t=8, vocab=5, seed=0, dual=False):
  """A valid token split: random ids up to a random length, pad after."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(1, t + 1, n).astype(np.int32)
  ids = rng.integers(1, vocab, (n, t)).astype(np.int32)
  ids[np.arange(t)[None, :] >= lengths[:, None]] = 0
  extra = {}
  if dual:
    extra = dict(inputs2=ids[::-1].copy(), lengths2=lengths[::-1].copy())
  return base.Split(inputs=ids, lengths=lengths,
                    targets=rng.integers(0, 3, n).astype(np.int32), **extra)


def token_spec(**overrides):
  kwargs = dict(name="toy", kind="tokens", vocab_size=5, seq_len=8,
                num_classes=3)
  kwargs.update(overrides)
  return base.TaskSpec(**kwargs)


class TaskSpecTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("bad_kind", dict(kind="image"), "kind"),
      ("bad_target_kind", dict(target_kind="ranking"), "target_kind"),
      ("tokens_without_vocab", dict(vocab_size=None), "vocab_size"),
      ("tokens_with_input_dim", dict(input_dim=3), "input_dim"),
      ("continuous_with_vocab", dict(kind="continuous", input_dim=1),
       "vocab_size"),
      ("regression_classes", dict(target_kind="regression"), "num_classes"),
      ("pad_outside_vocab", dict(pad_id=5), "pad_id"),
      ("zero_seq_len", dict(seq_len=0), "seq_len"),
      ("float_seq_len", dict(seq_len=8.0), "seq_len"),
  )
  def test_bad_spec_raises_naming_the_field(self, overrides, field):
    # Given a spec with one bad field; When built; Then the error names it.
    with self.assertRaisesRegex((ValueError, TypeError), field):
      token_spec(**overrides)


class SplitTest(parameterized.TestCase):

  def test_valid_split_converts_lengths_and_mask_dtypes(self):
    # Given int64 lengths and a boolean target mask.
    ids = np.zeros((2, 4), np.int32)
    split = base.Split(inputs=ids, lengths=np.array([4, 4]),
                       targets=np.zeros((2, 4), np.int64),
                       target_mask=np.ones((2, 4), bool))
    # Then they are stored as int32 / float32 and the kinds are inferred.
    self.assertEqual(split.lengths.dtype, np.int32)
    self.assertEqual(split.targets.dtype, np.int32)
    self.assertEqual(split.target_mask.dtype, np.float32)
    self.assertEqual((split.kind, split.target_kind), ("tokens", "sequence"))

  @parameterized.named_parameters(
      ("rank1_inputs", dict(inputs=np.zeros(4, np.int32)), "inputs"),
      ("float64_tokens", dict(inputs=np.zeros((2, 4))), "inputs"),
      ("int32_features", dict(inputs=np.zeros((2, 4, 1), np.int32)),
       "inputs"),
      ("list_inputs", dict(inputs=[[0, 0, 0, 0]] * 2), "inputs"),
      ("lengths_shape", dict(lengths=np.array([4], np.int32)), "lengths"),
      ("lengths_float", dict(lengths=np.array([4.0, 4.0])), "lengths"),
      ("lengths_too_long", dict(lengths=np.array([4, 5], np.int32)),
       "lengths"),
      ("targets_rows", dict(targets=np.zeros(3, np.int32)), "targets"),
      ("targets_rank3", dict(targets=np.zeros((2, 4, 1), np.int32)),
       "targets"),
      ("mask_with_class", dict(target_mask=np.ones((2, 4))), "target_mask"),
      ("inputs2_alone", dict(inputs2=np.zeros((2, 4), np.int32)),
       "lengths2"),
      ("inputs2_shape", dict(inputs2=np.zeros((2, 3), np.int32),
                             lengths2=np.array([3, 3])), "inputs2"),
  )
  def test_bad_split_raises_naming_the_array(self, overrides, name):
    # Given a split with one bad array.
    kwargs = dict(inputs=np.zeros((2, 4), np.int32),
                  lengths=np.array([4, 4], np.int32),
                  targets=np.zeros(2, np.int32))
    kwargs.update(overrides)
    # When built; Then the error names that array.
    with self.assertRaisesRegex((ValueError, TypeError), name):
      base.Split(**kwargs)

  def test_sequence_targets_need_a_binary_mask(self):
    # Given per-position targets.
    kwargs = dict(inputs=np.zeros((2, 4), np.int32),
                  lengths=np.array([4, 4], np.int32),
                  targets=np.zeros((2, 4), np.int32))
    # Then a missing mask, or one with a 2 in it, is refused.
    with self.assertRaisesRegex(ValueError, "target_mask is required"):
      base.Split(**kwargs)
    with self.assertRaisesRegex(ValueError, "only 0 and 1"):
      base.Split(**kwargs, target_mask=np.full((2, 4), 2.0))

  def test_gather_returns_canonical_dtypes_of_only_the_rows(self):
    # Given uint8 pixel features and uint16 token ids.
    pixels = np.arange(2 * 3, dtype=np.uint8).reshape(2, 3, 1) * 51
    features = base.Split(inputs=pixels, lengths=np.array([3, 3]),
                          targets=np.array([0, 1]))
    tokens = base.Split(inputs=np.array([[300, 2], [7, 0]], np.uint16),
                        lengths=np.array([2, 1]), targets=np.array([1, 0]))
    # When gathering rows [1].
    fb, tb = features.gather(np.array([1])), tokens.gather(np.array([1]))
    # Then pixels become float32 in [0, 1] and ids int32, one row each.
    np.testing.assert_allclose(fb["inputs"][0, :, 0],
                               pixels[1, :, 0] / 255.0, rtol=1e-6)
    self.assertEqual(fb["inputs"].dtype, np.float32)
    np.testing.assert_array_equal(tb["inputs"], [[7, 0]])
    self.assertEqual(tb["inputs"].dtype, np.int32)
    np.testing.assert_array_equal(tb["weights"], [1.0])


class TaskTest(parameterized.TestCase):

  def test_valid_task_builds_and_validation_may_be_test(self):
    split = token_split()
    task = base.Task(spec=token_spec(), train=token_split(seed=1),
                     validation=split, test=split)
    self.assertIs(task.splits["validation"], task.splits["test"])

  def test_spec_mismatches_are_reported(self):
    split = token_split()
    # Then: wrong T, wrong kind, dual mismatch, wrong target kind.
    for spec, pattern in (
        (token_spec(seq_len=9), "seq_len=9"),
        (base.TaskSpec(name="toy", kind="continuous", input_dim=1, seq_len=8,
                       num_classes=3), "kind"),
        (token_spec(dual=True), "dual"),
        (token_spec(target_kind="sequence"), "target_kind"),
    ):
      with self.assertRaisesRegex(ValueError, pattern):
        base.Task(spec=spec, train=split, validation=split, test=split)

  def test_ids_classes_and_padding_are_checked(self):
    good = token_split()
    # Given copies with an id >= vocab, a class >= num_classes, a non-pad
    # value after the length.
    big_id = good.inputs.copy()
    big_id[0, 0] = 5
    bad_class = good.targets.copy()
    bad_class[0] = 3
    late = good.inputs.copy()
    row = int(np.argmin(good.lengths))
    late[row, -1] = 1
    cases = (
        (base.Split(inputs=big_id, lengths=good.lengths,
                    targets=good.targets), "vocab_size=5"),
        (base.Split(inputs=good.inputs, lengths=good.lengths,
                    targets=bad_class), "num_classes=3"),
        (base.Split(inputs=late, lengths=good.lengths, targets=good.targets),
         f"example {row}"),
    )
    for split, pattern in cases:
      # When built into a task; Then the error says what is wrong.
      with self.assertRaisesRegex(ValueError, pattern):
        base.Task(spec=token_spec(), train=split, validation=good, test=good)

  def test_example_batch_matches_gathered_batches(self):
    # Given tasks of every target kind, dual inputs included.
    specs_splits = [(token_spec(), token_split()),
                    (token_spec(dual=True), token_split(dual=True))]
    for name, options in (("mqar", dict(seq_len=16, vocab_size=16,
                                        num_kv_pairs=2)),
                          ("adding", dict(seq_len=10)),
                          ("induction_heads", dict(seq_len=10))):
      task = zoo.get_task(name, num_train=4, num_valid=2, num_test=2,
                          **options)
      specs_splits.append((task.spec, task.train))
    for spec, split in specs_splits:
      # When building a zero batch from the spec alone.
      dummy = data.example_batch(spec, 3)
      real = split.gather(np.arange(3))
      # Then keys, shapes and dtypes equal those of real batches.
      self.assertEqual(sorted(dummy), sorted(real))
      for key in real:
        self.assertEqual((dummy[key].shape, dummy[key].dtype),
                         (real[key].shape, real[key].dtype), msg=key)


class PurityTest(absltest.TestCase):

  def test_importing_data_imports_no_jax_haiku_sklearn_or_pillow(self):
    # Given only the data package (a stub parent skips spike_ssm/__init__,
    # which imports the Haiku subpackages).
    code = (
        "import importlib.util, sys, types, pathlib; "
        f"p = pathlib.Path({str(DATA_DIR.parent)!r}); "
        "pkg = types.ModuleType('spike_ssm'); pkg.__path__ = [str(p)]; "
        "sys.modules['spike_ssm'] = pkg; "
        "import spike_ssm.data; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'haiku', 'sklearn', 'PIL')]; "
        "print(bad); sys.exit(1 if bad else 0)")
    # When imported in a fresh interpreter.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=False)
    # Then none of the heavy or optional dependencies was loaded.
    self.assertEqual(result.returncode, 0, msg=result.stdout + result.stderr)


if __name__ == "__main__":
  absltest.main()
