"""Tests for spike_ssm.data.listops: generator, cache and official files."""

import pathlib
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spike_ssm import zoo
from spike_ssm.data import _cache
from spike_ssm.data import listops

DEMO = dict(num_train=300, num_valid=40, num_test=40, min_length=20,
            max_length=90)
# Token ids, written down from the documented vocabulary, not imported.
DIGITS = {i + 1: i for i in range(10)}
OPS = {11: "MIN", 12: "MAX", 13: "MED", 14: "SM"}
END = 15


def evaluate(ids):
  """Independent stack evaluator: (value, deepest op nesting, arg counts)."""
  stack, value, depth, arg_counts = [], None, 0, []
  for i in ids:
    if i in DIGITS:
      stack[-1][1].append(DIGITS[i])
    elif i in OPS:
      stack.append((OPS[i], []))
      depth = max(depth, len(stack))
    elif i == END:
      op, args = stack.pop()
      arg_counts.append(len(args))
      result = {"MIN": min(args), "MAX": max(args),
                "MED": int(np.median(args)), "SM": sum(args) % 10}[op]
      if stack:
        stack[-1][1].append(result)
      else:
        assert value is None, "two top-level expressions"
        value = result
    else:
      raise AssertionError(f"unexpected id {i}")
  assert not stack, "unclosed operator"
  return value, depth, arg_counts


class GeneratorTest(parameterized.TestCase):

  def test_labels_lengths_vocabulary_depth_and_args(self):
    # Given a small generated ListOps task.
    task = zoo.get_task("listops", cache_dir=self.create_tempdir().full_path,
                        max_depth=6, max_args=5, **DEMO)
    spec = task.spec
    self.assertEqual((spec.vocab_size, spec.num_classes, spec.seq_len),
                     (16, 10, 90))
    for split in task.splits.values():
      for ids, length, label in zip(split.inputs, split.lengths,
                                    split.targets):
        # Then every expression parses, and its value is the label.
        value, depth, arg_counts = evaluate(ids[:length].tolist())
        self.assertEqual(value, label)
        # And its length is within the exclusive bounds, pads after it.
        self.assertTrue(20 < length < 90)
        self.assertTrue(np.all(ids[length:] == 0))
        self.assertTrue(np.all((ids[:length] >= 1) & (ids[:length] < 16)))
        # And operators nest at most max_depth - 1 deep with 2..max_args
        # arguments.
        self.assertLessEqual(depth, 5)
        self.assertTrue(all(2 <= c <= 5 for c in arg_counts))

  def test_all_operators_and_classes_occur_and_examples_are_distinct(self):
    tokens, lengths, labels = listops.generate_listops(
        400, seed=3, min_length=20, max_length=90)
    self.assertTrue(set(range(11, 16)) <= set(np.unique(tokens)))
    self.assertLen(np.unique(labels), 10)
    rows = {tokens[i, :lengths[i]].tobytes() for i in range(400)}
    self.assertLen(rows, 400)

  def test_default_lra_rules_hold_on_a_few_full_length_examples(self):
    # LRA defaults: 500 < length < 2000, depth 10, 10 args.
    tokens, lengths, labels = listops.generate_listops(5, seed=0)
    self.assertEqual(tokens.shape, (5, 1999))
    for ids, length, label in zip(tokens, lengths, labels):
      self.assertTrue(500 < length < 2000)
      value, depth, arg_counts = evaluate(ids[:length].tolist())
      self.assertEqual(value, label)
      self.assertLessEqual(depth, 9)
      self.assertLessEqual(max(arg_counts), 10)

  def test_deterministic_by_seed(self):
    a = listops.generate_listops(50, seed=7, min_length=20, max_length=90)
    b = listops.generate_listops(50, seed=7, min_length=20, max_length=90)
    c = listops.generate_listops(50, seed=8, min_length=20, max_length=90)
    for x, y in zip(a, b):
      np.testing.assert_array_equal(x, y)
    self.assertFalse(np.array_equal(a[0], c[0]))

  def test_to_text(self):
    self.assertEqual(listops.to_text(np.array([12, 3, 10, 15, 0, 0])),
                     "[MAX 2 9 ]")

  @parameterized.named_parameters(
      ("bounds", dict(min_length=90, max_length=90), "min_length"),
      ("prob", dict(operator_prob=1.0), "operator_prob"),
      ("args", dict(max_args=1), "max_args"),
      ("unreachable", dict(max_depth=3, max_args=3), "unreachable"),
      ("seq_len", dict(seq_len=50), "seq_len"),
      ("negative_size", dict(num_test=-1), "num_test"))
  def test_bad_options(self, overrides, name):
    options = dict(DEMO, **overrides)
    with self.assertRaisesRegex((ValueError, TypeError), name):
      zoo.get_task("listops", cache_dir=self.create_tempdir().full_path,
                   **options)


class CacheTest(absltest.TestCase):

  def build(self, cache_dir, **overrides):
    return zoo.get_task("listops", cache_dir=cache_dir,
                        **dict(DEMO, **overrides))

  def assert_same_task(self, a, b):
    for name in ("train", "validation", "test"):
      for field in ("inputs", "lengths", "targets"):
        np.testing.assert_array_equal(getattr(a.splits[name], field),
                                      getattr(b.splits[name], field))

  def test_second_call_loads_the_cache(self):
    cache_dir = self.create_tempdir().full_path
    first = self.build(cache_dir)
    self.assertLen(list(pathlib.Path(cache_dir).glob("listops-*.npz")), 1)
    # When built again with generation disabled; Then it comes from disk.
    with mock.patch.object(listops, "generate_listops",
                           side_effect=AssertionError("regenerated")):
      second = self.build(cache_dir)
    self.assert_same_task(first, second)

  def test_other_parameters_miss_the_cache(self):
    cache_dir = self.create_tempdir().full_path
    self.build(cache_dir)
    self.build(cache_dir, seed=1)
    self.build(cache_dir, max_args=4)
    self.assertLen(list(pathlib.Path(cache_dir).glob("listops-*.npz")), 3)

  def test_default_cache_dir_comes_from_the_environment(self):
    cache_dir = self.create_tempdir().full_path
    with mock.patch.dict("os.environ", {"SPIKE_SSM_CACHE": cache_dir}):
      zoo.get_task("listops", **DEMO)
    self.assertLen(list(pathlib.Path(cache_dir).glob("listops-*.npz")), 1)

  def test_corrupt_or_truncated_cache_is_regenerated(self):
    cache_dir = self.create_tempdir().full_path
    reference = self.build(cache_dir)
    (path,) = pathlib.Path(cache_dir).glob("listops-*.npz")
    good = path.read_bytes()
    # A stray temp file of an interrupted write must be ignored too.
    (path.parent / (path.name + ".x1y2.tmp")).write_bytes(good[:100])
    for damaged in (good[:len(good) // 2], b"not a zip file", b"",
                    good[:-30] + bytes(30)):
      # Given a damaged cache file.
      path.write_bytes(damaged)
      # When built again.
      with mock.patch.object(listops, "generate_listops",
                             wraps=listops.generate_listops) as generate:
        rebuilt = self.build(cache_dir)
      # Then it regenerated the same data and rewrote a good cache.
      generate.assert_called_once()
      self.assert_same_task(reference, rebuilt)
      self.assertEqual(path.read_bytes(), good)

  def test_cache_for_other_parameters_under_the_name_is_ignored(self):
    cache_dir = self.create_tempdir().full_path
    reference = self.build(cache_dir)
    (path,) = pathlib.Path(cache_dir).glob("listops-*.npz")
    other = pathlib.Path(self.create_tempdir().full_path)
    self.build(other, seed=5)
    (other_path,) = other.glob("listops-*.npz")
    path.write_bytes(other_path.read_bytes())
    self.assert_same_task(reference, self.build(cache_dir))

  def test_interrupted_write_leaves_no_entry(self):
    # Given a save that dies half way through writing.
    directory = pathlib.Path(self.create_tempdir().full_path)
    path = directory / "entry.npz"

    def broken_savez(f, **arrays):
      del arrays
      f.write(b"PK partial")
      raise KeyboardInterrupt

    with mock.patch.object(np, "savez", broken_savez):
      with self.assertRaises(KeyboardInterrupt):
        _cache.save(path, "key", {"x": np.zeros(3)})
    # Then neither the entry nor its temp file is left behind.
    self.assertEqual(list(directory.iterdir()), [])
    self.assertIsNone(_cache.load(path, "key", ("x",)))


class OfficialFilesTest(parameterized.TestCase):

  def write(self, name, text, directory=None):
    directory = pathlib.Path(directory or self.create_tempdir().full_path)
    (directory / name).write_text(text)
    return directory

  def official_root(self):
    rows = [("( ( ( [MAX 2 ) 9 ) ] )", 9),
            ("( ( ( ( [SM 2 ) ( ( [MIN 4 ) 7 ) ] ) ) 8 ) ] )", 4),
            ("( ( ( ( [MED 1 ) 2 ) 6 ) ( ( [MED 3 ) 0 ) ] ) ] )", 1)]
    root = pathlib.Path(self.create_tempdir().full_path)
    release = root / "listops-1000"
    release.mkdir()
    for name in ("basic_train.tsv", "basic_val.tsv", "basic_test.tsv"):
      # csv.writer in LRA's script ends lines with \r\n.
      body = "".join(f"{s}\t{t}\r\n" for s, t in rows)
      (release / name).write_text("Source\tTarget\r\n" + body, newline="")
    return root, rows

  def test_loads_the_release_layout_and_strips_parentheses(self):
    # Given the three TSVs in listops-1000/ under root.
    root, rows = self.official_root()
    # When loaded through the zoo.
    task = zoo.get_task("listops", root=str(root))
    # Then ids are the bracket tokens only, and labels match the evaluator.
    self.assertEqual(task.spec.seq_len, 2000)
    split = task.train
    np.testing.assert_array_equal(split.inputs[0, :4], [12, 3, 10, 15])
    self.assertEqual(split.lengths[0], 4)
    for ids, length, label, (_, want) in zip(split.inputs, split.lengths,
                                             split.targets, rows):
      self.assertEqual(evaluate(ids[:length].tolist())[0], label)
      self.assertEqual(label, want)

  def test_seq_len_truncates(self):
    root, _ = self.official_root()
    task = zoo.get_task("listops", root=str(root), seq_len=6)
    self.assertEqual(task.train.inputs.shape, (3, 6))
    np.testing.assert_array_equal(task.train.lengths, [4, 6, 6])

  def test_generation_options_with_root_are_refused(self):
    root, _ = self.official_root()
    with self.assertRaisesRegex(ValueError, "num_train"):
      zoo.get_task("listops", root=str(root), num_train=10)

  def test_missing_files_are_named(self):
    root = self.create_tempdir().full_path
    with self.assertRaisesRegex(FileNotFoundError, "basic_train.tsv"):
      zoo.get_task("listops", root=root)

  @parameterized.named_parameters(
      ("header", "Input\tLabel\n[MAX 2 ]\t2\n", ":1:.*header"),
      ("fields", "Source\tTarget\n[MAX 2 ]\t2\n[MAX 2 ]\t2\t3\n",
       ":3:.*2 tab-separated"),
      ("token", "Source\tTarget\n( [FIRST 2 ) ]\t2\n", ":2:.*'\\[FIRST'"),
      ("two_digits", "Source\tTarget\n[MAX 12 ]\t2\n", ":2:.*'12'"),
      ("letter", "Source\tTarget\n[MAX 2 a ]\t2\n", ":2:.*'a'"),
      ("control", "Source\tTarget\n[MAX 2 \x01 ]\t2\n", ":2:.*'\\\\x01'"),
      ("target", "Source\tTarget\n[MAX 2 ]\tten\n", ":2:.*Target"),
      ("target_range", "Source\tTarget\n[MAX 2 ]\t10\n", ":2:.*Target"))
  def test_malformed_lines_name_file_and_line(self, text, pattern):
    directory = self.write("basic_train.tsv", text)
    with self.assertRaisesRegex(ValueError, "basic_train.tsv" + pattern):
      listops.load_listops_tsv(directory / "basic_train.tsv")


if __name__ == "__main__":
  absltest.main()
