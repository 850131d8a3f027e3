"""Tests for spike_ssm.data.synthetic: targets checked independently."""

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spike_ssm import data
from spike_ssm import zoo
from tests import tolerances as tol

SMALL = dict(num_train=64, num_valid=8, num_test=8)


def all_splits(task):
  return [task.train, task.validation, task.test]


class DeterminismTest(parameterized.TestCase):

  @parameterized.parameters(
      ("mqar", dict(seq_len=32, vocab_size=64, num_kv_pairs=4)),
      ("selective_copy", dict(seq_len=40, num_tokens=4)),
      ("induction_heads", dict(seq_len=20)),
      ("adding", dict(seq_len=20)))
  def test_same_seed_same_data_other_seed_other_data(self, name, options):
    # Given the task built twice with seed 0 and once with seed 1.
    a = zoo.get_task(name, seed=0, **SMALL, **options)
    b = zoo.get_task(name, seed=0, **SMALL, **options)
    c = zoo.get_task(name, seed=1, **SMALL, **options)
    # Then seed 0 reproduces exactly; seed 1 differs; splits differ.
    for sa, sb, sc in zip(all_splits(a), all_splits(b), all_splits(c)):
      np.testing.assert_array_equal(sa.inputs, sb.inputs)
      np.testing.assert_array_equal(sa.targets, sb.targets)
      self.assertFalse(np.array_equal(sa.inputs, sc.inputs))
    self.assertFalse(np.array_equal(a.train.inputs[:8], a.test.inputs))

  def test_split_sizes_do_not_change_other_splits(self):
    # Independent streams: a larger train split leaves the test split alone.
    a = zoo.get_task("adding", seq_len=10, num_train=10, num_valid=2,
                     num_test=3)
    b = zoo.get_task("adding", seq_len=10, num_train=50, num_valid=2,
                     num_test=3)
    np.testing.assert_array_equal(a.test.inputs, b.test.inputs)


class MqarTest(parameterized.TestCase):

  @parameterized.parameters(True, False)
  def test_each_query_targets_the_value_bound_to_its_key(self,
                                                         random_non_queries):
    # Given MQAR with 6 pairs in 48 steps.
    pairs, vocab, t = 6, 100, 48
    task = zoo.get_task("mqar", seq_len=t, vocab_size=vocab,
                        num_kv_pairs=pairs,
                        random_non_queries=random_non_queries, **SMALL)
    self.assertEqual((task.spec.target_kind, task.spec.vocab_size),
                     ("sequence", vocab))
    for split in all_splits(task):
      for x, y, m in zip(split.inputs, split.targets, split.target_mask):
        keys, values = x[0:2 * pairs:2], x[1:2 * pairs:2]
        # Then keys and values are distinct and from their halves.
        self.assertLen(set(keys.tolist()), pairs)
        self.assertLen(set(values.tolist()), pairs)
        self.assertTrue(np.all((keys >= 1) & (keys < vocab // 2)))
        self.assertTrue(np.all((values >= vocab // 2) & (values < vocab)))
        binding = dict(zip(keys.tolist(), values.tolist()))
        # And every key is queried once, after the context, at even offsets.
        queries = np.flatnonzero(m)
        self.assertEqual(sorted(x[queries].tolist()), sorted(binding))
        self.assertTrue(np.all(queries >= 2 * pairs))
        self.assertTrue(np.all((queries - 2 * pairs) % 2 == 0))
        # And the target there is the bound value.
        for q in queries:
          self.assertEqual(y[q], binding[x[q]])
        if not random_non_queries:
          others = np.ones(t, bool)
          others[:2 * pairs] = False
          others[queries] = False
          self.assertTrue(np.all(x[others] == 0))
        else:
          self.assertTrue(np.all(x > 0))

  def test_a_subset_of_keys_is_queried_and_values_may_repeat(self):
    # Given 5 pairs over 7 keys and 3 values (so values must repeat), 2 of
    # them queried in a region of 10 steps.
    pairs, queries_per_row, num_keys, vocab, t = 5, 2, 7, 11, 20
    inputs, targets, mask = data.synthetic.make_mqar(
        np.random.default_rng(0), 300, seq_len=t, vocab_size=vocab,
        num_kv_pairs=pairs, random_non_queries=False,
        num_queries=queries_per_row, num_keys=num_keys,
        distinct_values=False)
    asked = np.zeros(pairs, int)
    for x, y, m in zip(inputs, targets, mask):
      keys, values = x[0:2 * pairs:2], x[1:2 * pairs:2]
      # Then keys are distinct from [1, 1 + num_keys), values from the rest.
      self.assertLen(set(keys.tolist()), pairs)
      self.assertTrue(np.all((keys >= 1) & (keys < 1 + num_keys)))
      self.assertTrue(np.all((values >= 1 + num_keys) & (values < vocab)))
      # And exactly 2 distinct presented keys are queried at even offsets,
      # each targeting its value; every other query-region step is a pad.
      queries = np.flatnonzero(m)
      self.assertLen(queries, queries_per_row)
      self.assertLen(set(x[queries].tolist()), queries_per_row)
      self.assertTrue(np.all((queries - 2 * pairs) % 2 == 0))
      for q in queries:
        (pos,) = np.flatnonzero(keys == x[q])
        self.assertEqual(y[q], values[pos])
        asked[pos] += 1
      self.assertEqual(np.count_nonzero(x[2 * pairs:]), queries_per_row)
    self.assertGreater(np.count_nonzero(
        np.diff(inputs[:, 1:2 * pairs:2], axis=1) == 0), 0)
    # And every pair position gets asked for.
    self.assertTrue(np.all(asked > 0))

  def test_bad_sizes(self):
    with self.assertRaisesRegex(ValueError, "seq_len must be >= 4 \\*"):
      zoo.get_task("mqar", seq_len=10, num_kv_pairs=3, **SMALL)
    with self.assertRaisesRegex(ValueError, "num_kv_pairs"):
      zoo.get_task("mqar", seq_len=64, vocab_size=8, num_kv_pairs=4,
                   **SMALL)
    with self.assertRaisesRegex(TypeError, "num_train"):
      zoo.get_task("mqar", num_train=1.5)


class SelectiveCopyTest(absltest.TestCase):

  def test_markers_ask_for_the_data_tokens_in_order(self):
    # Given selective copying of 5 tokens in 30 steps over 4 symbols.
    k, t = 5, 30
    task = zoo.get_task("selective_copy", seq_len=t, num_tokens=k,
                        num_symbols=4, **SMALL)
    self.assertEqual(task.spec.vocab_size, 7)
    for split in all_splits(task):
      for x, y, m in zip(split.inputs, split.targets, split.target_mask):
        # Then the first t - k steps hold exactly k data tokens among
        # blanks and the last k are markers.
        head, tail = x[:t - k], x[t - k:]
        data_tokens = head[head >= 3]
        self.assertLen(data_tokens, k)
        self.assertTrue(np.all((head == 1) | (head >= 3)))
        self.assertTrue(np.all(tail == 2))
        self.assertTrue(np.all(x < 7))
        # And the targets at the (masked) markers are those tokens in order.
        np.testing.assert_array_equal(np.flatnonzero(m), np.arange(t - k, t))
        np.testing.assert_array_equal(y[m == 1], data_tokens)


class InductionHeadsTest(absltest.TestCase):

  def test_target_is_the_token_after_the_first_trigger(self):
    task = zoo.get_task("induction_heads", seq_len=12, num_symbols=3,
                        **SMALL)
    for split in all_splits(task):
      for x, y, m in zip(split.inputs, split.targets, split.target_mask):
        # Then the trigger (1) occurs twice, the last step being one.
        triggers = np.flatnonzero(x == 1)
        self.assertLen(triggers, 2)
        self.assertEqual(triggers[1], 11)
        # And only the last step counts, with the follower as target.
        np.testing.assert_array_equal(np.flatnonzero(m), [11])
        self.assertEqual(y[11], x[triggers[0] + 1])
        self.assertGreaterEqual(y[11], 2)


class AddingTest(absltest.TestCase):

  def test_target_is_the_sum_of_the_marked_values(self):
    task = zoo.get_task("adding", seq_len=16, **SMALL)
    self.assertEqual((task.spec.input_dim, task.spec.target_kind),
                     (2, "regression"))
    for split in all_splits(task):
      values = split.inputs[..., 0].astype(np.float64)
      markers = split.inputs[..., 1]
      # Then one marker in each half, values in [0, 1).
      np.testing.assert_array_equal(markers[:, :8].sum(1), 1)
      np.testing.assert_array_equal(markers[:, 8:].sum(1), 1)
      self.assertTrue(np.all((values >= 0) & (values < 1)))
      # And the target is the float64 sum of the marked values.
      np.testing.assert_allclose(split.targets,
                                 (values * markers).sum(1), **tol.F32_VS_F64)


if __name__ == "__main__":
  absltest.main()
