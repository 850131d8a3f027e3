"""Tests for spike_ssm.data.shd: SHD HDF5 files binned into spike frames.

Fixtures are HDF5 files in the official layout (tests/data/fixtures.py).
"""

import gzip
import pathlib

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spike_ssm import zoo
from spike_ssm.data import shd
from tests.data import fixtures


def _ref_frames(times, units, bin_width, max_time, binary):
  # Independent reference: one spike at a time, in float64.
  t_bins = int(np.ceil(max_time / bin_width - 1e-9))
  out = np.zeros((len(times), t_bins, 700), np.float64)
  for n, (ts, us) in enumerate(zip(times, units)):
    for t, u in zip(np.asarray(ts, np.float64), us):
      if t >= max_time:
        continue
      b = min(int(t // bin_width), t_bins - 1)
      out[n, b, int(u)] = 1.0 if binary else out[n, b, int(u)] + 1.0
  return out


class SHDTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.train, self.test = fixtures.write_shd(self.root, 40, 20)

  @parameterized.parameters((0.01, 1.0, True), (0.05, 1.0, False),
                            (0.013, 0.5, False))
  def test_frames_match_a_spike_by_spike_reference(self, bin_width, max_time,
                                                   binary):
    task = zoo.get_task("shd", root=self.root, bin_width=bin_width,
                         max_time=max_time, binary=binary)
    t_bins = shd.num_bins(bin_width, max_time)
    self.assertEqual((task.spec.seq_len, task.spec.input_dim,
                      task.spec.num_classes), (t_bins, 700, 20))
    self.assertEqual([len(s) for s in task.splits.values()], [36, 4, 20])
    batch = task.test.gather(np.arange(20))
    self.assertEqual(batch["inputs"].dtype, np.float32)
    expected = _ref_frames(*self.test[:2], bin_width, max_time, binary)
    np.testing.assert_array_equal(batch["inputs"], expected)
    np.testing.assert_array_equal(batch["targets"], self.test[2])

  def test_default_bins_and_storage(self):
    self.assertEqual(shd.num_bins(0.01, 1.0), 100)
    self.assertEqual(shd.num_bins(0.3, 1.0), 4)
    task = zoo.get_task("shd", root=self.root)
    self.assertEqual(task.spec.seq_len, 100)
    self.assertEqual(task.train.inputs.dtype, np.uint8)

  def test_train_and_validation_partition_the_training_file(self):
    task = zoo.get_task("shd", root=self.root, binary=False)
    expected = _ref_frames(*self.train[:2], 0.01, 1.0, False)
    rows = {expected[i].astype(np.float32).tobytes(): int(self.train[2][i])
            for i in range(40)}
    self.assertLen(rows, 40)
    seen = []
    for split in (task.train, task.validation):
      for x, y in zip(split.inputs, split.targets):
        self.assertEqual(rows[x.tobytes()], y)
        seen.append(x.tobytes())
    self.assertCountEqual(seen, list(rows))

  def test_reads_the_gzipped_distribution_files(self):
    # Given the .h5.gz files of the distribution only, in root/shd.
    root = pathlib.Path(self.create_tempdir().full_path)
    (root / "shd").mkdir()
    for name in ("shd_train.h5", "shd_test.h5"):
      raw = (pathlib.Path(self.root) / name).read_bytes()
      (root / "shd" / (name + ".gz")).write_bytes(gzip.compress(raw))
    a = zoo.get_task("shd", root=root)
    b = zoo.get_task("shd", root=self.root)
    np.testing.assert_array_equal(a.test.inputs, b.test.inputs)

  def _bad(self, message, **kwargs):
    path = pathlib.Path(self.root) / "shd_train.h5"
    times, units, labels = fixtures.shd_examples(10, seed=3)
    times = kwargs.pop("times", times)
    units = kwargs.pop("units", units)
    labels = kwargs.pop("labels", labels)
    fixtures.write_shd_file(path, times, units, labels, **kwargs)
    with self.assertRaisesRegex(ValueError, f"{path}.*{message}"):
      zoo.get_task("shd", root=self.root)

  def test_malformed_files_name_the_file_and_the_problem(self):
    times, units, labels = fixtures.shd_examples(10, seed=3)
    self._bad("missing HDF5 dataset\\(s\\) \\['labels'\\]", skip=("labels",))
    self._bad("missing HDF5 dataset\\(s\\) \\['spikes/units'\\]",
              skip=("spikes/units",))
    self._bad("'spikes/times' has 10 examples.*'labels' 9",
              labels=labels[:9])
    bad_labels = labels.copy()
    bad_labels[4] = 20
    self._bad("'labels' must lie in \\[0, 20\\), example 4 has label 20",
              labels=bad_labels)
    bad_units = [u.copy() for u in units]
    bad_units[2] = np.full(len(times[2]), 700, np.uint16)
    self._bad("'spikes/units' example 2 has a channel outside", units=bad_units)
    short_units = [u.copy() for u in units]
    short_units[6] = short_units[6][:-1]
    self._bad("example 6 has .* spike times but", units=short_units)
    bad_times = [t.copy() for t in times]
    bad_times[1][0] = -0.5
    self._bad("'spikes/times' example 1 has a negative", times=bad_times)
    path = pathlib.Path(self.root) / "shd_train.h5"
    path.write_bytes(b"not an HDF5 file at all")
    with self.assertRaisesRegex(ValueError, f"{path}: not a readable HDF5"):
      zoo.get_task("shd", root=self.root)
    path.unlink()
    with self.assertRaisesRegex(FileNotFoundError,
                                "shd_train.h5\\[.gz\\] not found"):
      zoo.get_task("shd", root=self.root)
    with self.assertRaisesRegex(ValueError, "pass root=DIR.*shd_train.h5"):
      zoo.get_task("shd")

  def test_bad_options(self):
    with self.assertRaisesRegex(ValueError, "bin_width must be a finite"):
      zoo.get_task("shd", root=self.root, bin_width=0.0)
    with self.assertRaisesRegex(ValueError, "bin_width=2.0 must be <="):
      zoo.get_task("shd", root=self.root, bin_width=2.0)
    with self.assertRaisesRegex(TypeError, "binary must be a bool"):
      zoo.get_task("shd", root=self.root, binary=1)
    with self.assertRaisesRegex(TypeError, "max_time must be a float"):
      zoo.get_task("shd", root=self.root, max_time="1")


if __name__ == "__main__":
  absltest.main()
