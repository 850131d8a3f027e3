"""Tests for spike_ssm.data.digits (scikit-learn's bundled 8x8 digits)."""

from unittest import mock

from absl.testing import absltest
import numpy as np

from spike_ssm import zoo
from spike_ssm.data import digits

try:
  # pylint: disable-next=g-import-not-at-top
  from sklearn import datasets as sk_datasets
except ImportError:
  sk_datasets = None


@absltest.skipIf(sk_datasets is None, "scikit-learn is not installed")
class DigitsTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = zoo.get_task("digits")
    raw = sk_datasets.load_digits()
    cls.images, cls.labels = raw.data, raw.target

  def test_shapes_and_values(self):
    spec = self.task.spec
    self.assertEqual((spec.kind, spec.seq_len, spec.input_dim,
                      spec.num_classes), ("continuous", 64, 1, 10))
    self.assertEqual([len(s) for s in self.task.splits.values()],
                     [1437, 180, 180])
    for split in self.task.splits.values():
      self.assertEqual(split.inputs.dtype, np.float32)
      self.assertTrue(np.all((split.inputs >= 0) & (split.inputs <= 1)))
      np.testing.assert_array_equal(split.lengths, 64)

  def test_splits_partition_the_data_with_correct_labels(self):
    # Given every row mapped back to an original image (pixels * 16).
    lookup = {}
    for i, image in enumerate(self.images):
      lookup.setdefault(image.astype(np.int64).tobytes(), []).append(i)
    used = []
    for split in self.task.splits.values():
      for x, y in zip(split.inputs, split.targets):
        key = np.round(x[:, 0] * 16).astype(np.int64).tobytes()
        candidates = [i for i in lookup[key] if i not in used]
        # Then its label is the original label of that image.
        self.assertIn(y, {self.labels[i] for i in candidates})
        used.append(next(i for i in candidates if self.labels[i] == y))
    # And every original image is used exactly once.
    self.assertEqual(sorted(used), list(range(len(self.labels))))

  def test_stratified_and_deterministic(self):
    share = np.bincount(self.labels) / len(self.labels)
    for name in ("validation", "test"):
      counts = np.bincount(self.task.splits[name].targets, minlength=10)
      # Then each class is within one example of its proportional share.
      self.assertTrue(np.all(np.abs(counts - 180 * share) <= 1),
                      msg=f"{name}: {counts} vs {180 * share}")
    again = zoo.get_task("digits", seed=3)
    np.testing.assert_array_equal(again.test.inputs, self.task.test.inputs)
    other = zoo.get_task("digits", split_seed=1)
    self.assertFalse(np.array_equal(other.test.inputs, self.task.test.inputs))

  def test_bad_sizes(self):
    with self.assertRaisesRegex(ValueError, "val_size \\+ test_size"):
      zoo.get_task("digits", val_size=1000, test_size=900)
    with self.assertRaisesRegex(ValueError, "test_size"):
      zoo.get_task("digits", test_size=-1)


class StratifiedOrderTest(absltest.TestCase):

  def test_every_prefix_is_stratified(self):
    labels = np.repeat(np.arange(3), [50, 30, 20])
    order = digits.stratified_order(labels, seed=0)
    self.assertEqual(sorted(order), list(range(100)))
    for k in range(1, 101):
      counts = np.bincount(labels[order[:k]], minlength=3)
      self.assertTrue(np.all(np.abs(counts - k * np.array([.5, .3, .2]))
                             <= 1), msg=f"prefix {k}: {counts}")


class MissingSklearnTest(absltest.TestCase):

  def test_clear_import_error(self):
    with mock.patch.dict("sys.modules", {"sklearn": None}):
      with self.assertRaisesRegex(ImportError, "needs scikit-learn"):
        zoo.get_task("digits")


if __name__ == "__main__":
  absltest.main()
