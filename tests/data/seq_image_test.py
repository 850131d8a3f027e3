"""Tests for spike_ssm.data.seq_image: sMNIST, psMNIST, sCIFAR from files.

Fixtures are written in the official formats by tests/data/fixtures.py.
"""

import gzip
import pathlib

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spike_ssm import zoo
from spike_ssm.data import _cache
from spike_ssm.data import seq_image
from tests.data import fixtures


def _ref_bitreversal(n: int) -> list[int]:
  # Independent reference: reverse the binary string of each index.
  bits = max(1, (n - 1).bit_length())
  out = [int(format(i, f"0{bits}b")[::-1], 2) for i in range(1 << bits)]
  return [v for v in out if v < n]


class IdxTest(parameterized.TestCase):

  @parameterized.parameters(False, True)
  def test_round_trip(self, gzipped):
    # Given an idx file of a known array, plain or gzipped.
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = fixtures.write_idx(
        pathlib.Path(self.create_tempdir().full_path) / "a-idx3-ubyte",
        array, gzipped)
    # Then it reads back exactly.
    out = seq_image.read_idx(path)
    self.assertEqual(out.dtype, np.uint8)
    np.testing.assert_array_equal(out, array)

  def _write(self, payload: bytes, name="x-idx3-ubyte") -> pathlib.Path:
    path = pathlib.Path(self.create_tempdir().full_path) / name
    path.write_bytes(payload)
    return path

  def test_malformed_files_name_the_file_and_the_problem(self):
    good = fixtures.idx_bytes(np.zeros((3, 28, 28), np.uint8))
    cases = [
        (b"\x08\x03" + good[2:], "bad idx magic number"),
        (good[:2] + b"\x07" + good[3:], "bad idx magic number"),
        (good[:3], "truncated"),
        (good[:10], "truncated idx header"),
        (good[:-5], "truncated: the header says shape \\(3, 28, 28\\)"),
        (good + b"\x00", "too long"),
    ]
    for payload, message in cases:
      path = self._write(payload)
      with self.assertRaisesRegex(ValueError, f"{path}.*{message}"):
        seq_image.read_idx(path)
    # A .gz name without gzip data, and a cut gzip stream.
    path = self._write(good, "x-idx3-ubyte.gz")
    with self.assertRaisesRegex(ValueError, f"{path}.*not gzip data"):
      seq_image.read_idx(path)
    path = self._write(gzip.compress(good)[:30], "y-idx3-ubyte.gz")
    with self.assertRaisesRegex(ValueError, f"{path}.*corrupt or truncated"):
      seq_image.read_idx(path)
    with self.assertRaisesRegex(FileNotFoundError, "idx file not found"):
      seq_image.read_idx(path.with_name("missing"))


class SMNISTTest(parameterized.TestCase):

  @parameterized.parameters((False, "."), (True, "."), (False, "MNIST/raw"),
                            (True, "mnist"))
  def test_pixels_row_major_over_255_and_labels(self, gzipped, subdir):
    # Given MNIST files (plain or gzipped, in one of the usual layouts).
    root = self.create_tempdir().full_path
    arrays = fixtures.write_mnist(root, 40, 20, gzipped=gzipped,
                                  subdir=subdir)
    # When sMNIST is built.
    task = zoo.get_task("smnist", root=root)
    # Then the spec is (784, 1 channel, 10 classes) and the 40 training
    # images split 36 / 4, the 20 test images are the test split.
    self.assertEqual((task.spec.seq_len, task.spec.input_dim,
                      task.spec.num_classes), (784, 1, 10))
    self.assertEqual([len(s) for s in task.splits.values()], [36, 4, 20])
    # And a test batch is the images read row-major, / 255 (ToTensor).
    batch = task.test.gather(np.arange(20))
    expected = arrays["test_images"].reshape(20, 784).astype(np.float64) / 255
    np.testing.assert_allclose(batch["inputs"][:, :, 0], expected,
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(batch["targets"], arrays["test_labels"])
    # And train + validation hold every training image once, with its label.
    rows = {arrays["train_images"][i].tobytes(): arrays["train_labels"][i]
            for i in range(40)}
    seen = []
    for split in (task.train, task.validation):
      for x, y in zip(split.inputs[:, :, 0], split.targets):
        key = x.reshape(28, 28).tobytes()
        self.assertEqual(rows[key], y)
        seen.append(key)
    self.assertCountEqual(seen, list(rows))

  def test_validation_carve_depends_on_split_seed_only(self):
    root = self.create_tempdir().full_path
    fixtures.write_mnist(root, 40, 10)
    a = zoo.get_task("smnist", root=root, seed=0)
    b = zoo.get_task("smnist", root=root, seed=9)
    c = zoo.get_task("smnist", root=root, split_seed=1)
    np.testing.assert_array_equal(a.validation.inputs, b.validation.inputs)
    self.assertFalse(np.array_equal(a.validation.inputs, c.validation.inputs))

  def test_malformed_mnist_sets_are_rejected(self):
    root = pathlib.Path(self.create_tempdir().full_path)
    arrays = fixtures.write_mnist(root, 20, 10)
    stem = fixtures.MNIST_STEMS
    # Wrong image size.
    fixtures.write_idx(root / stem["train_images"],
                       np.zeros((20, 27, 28), np.uint8))
    with self.assertRaisesRegex(ValueError, "train-images-idx3-ubyte.*"
                                "shape \\(N, 28, 28\\)"):
      zoo.get_task("smnist", root=root)
    fixtures.write_idx(root / stem["train_images"], arrays["train_images"])
    # Label count mismatch.
    fixtures.write_idx(root / stem["train_labels"], np.zeros(19, np.uint8))
    with self.assertRaisesRegex(ValueError, "train-labels-idx1-ubyte: 19 "
                                "labels for 20 images"):
      zoo.get_task("smnist", root=root)
    # A label out of range.
    bad = arrays["train_labels"].copy()
    bad[3] = 10
    fixtures.write_idx(root / stem["train_labels"], bad)
    with self.assertRaisesRegex(ValueError, "train-labels-idx1-ubyte: labels"
                                " must lie in \\[0, 9\\], got a 10"):
      zoo.get_task("smnist", root=root)
    # A missing file lists where it looked; no root names the files.
    (root / stem["train_labels"]).unlink()
    with self.assertRaisesRegex(FileNotFoundError,
                                "train-labels-idx1-ubyte\\[.gz\\] not found"):
      zoo.get_task("smnist", root=root)
    with self.assertRaisesRegex(ValueError, "pass root=DIR.*t10k-images"):
      zoo.get_task("smnist")

  def test_bad_options(self):
    root = self.create_tempdir().full_path
    fixtures.write_mnist(root, 20, 10)
    with self.assertRaisesRegex(ValueError, "val_fraction must be in"):
      zoo.get_task("smnist", root=root, val_fraction=1.0)
    with self.assertRaisesRegex(TypeError, "split_seed must be an int"):
      zoo.get_task("smnist", root=root, split_seed="a")


class PSMNISTTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.arrays = fixtures.write_mnist(self.root, 40, 20)
    self.cache = self.create_tempdir().full_path

  def test_permutes_every_sequence_by_one_fixed_permutation(self):
    plain = zoo.get_task("smnist", root=self.root)
    for kind in seq_image.PERMUTATIONS:
      task = zoo.get_task("psmnist", root=self.root, cache_dir=self.cache,
                           permutation=kind)
      perm = seq_image.make_permutation(kind, 92916)
      self.assertEqual(sorted(perm), list(range(784)))
      # Step t of every permuted sequence is pixel perm[t] of the image.
      np.testing.assert_array_equal(task.test.inputs,
                                    plain.test.inputs[:, perm])
      np.testing.assert_array_equal(task.train.inputs,
                                    plain.train.inputs[:, perm])

  def test_bitreversal_matches_an_independent_reference(self):
    for n in (1, 2, 5, 8, 784, 1024):
      np.testing.assert_array_equal(seq_image.bitreversal_permutation(n),
                                    _ref_bitreversal(n))
    self.assertEqual(list(seq_image.bitreversal_permutation(784)[:8]),
                     [0, 512, 256, 768, 128, 640, 384, 64])

  def test_random_permutation_is_pinned_across_hosts_and_versions(self):
    # The psMNIST task is defined by this permutation: every saved run of
    # it depends on these values staying the same on every host and NumPy
    # version (NumPy freezes the legacy RandomState stream, NEP 19).
    perm = seq_image.make_permutation("random", 92916)
    self.assertEqual(list(perm[:8]), [319, 576, 323, 107, 355, 716, 197, 20])
    self.assertEqual(
        seq_image.permutation_digest(perm)[:16],
        seq_image.permutation_digest(
            np.random.RandomState(92916).permutation(784))[:16])
    self.assertFalse(np.array_equal(
        perm, seq_image.make_permutation("random", 92917)))

  def test_stable_across_resume_runs_and_cache_dirs(self):
    # Given two builds as two hosts / a resumed run would do them: other
    # run seeds, other cache directories.
    a = zoo.get_task("psmnist", root=self.root, cache_dir=self.cache,
                      seed=0, permutation_seed=5)
    b = zoo.get_task("psmnist", root=self.root,
                      cache_dir=self.create_tempdir().full_path, seed=3,
                      permutation_seed=5)
    # Then the data are identical.
    for name in ("train", "validation", "test"):
      np.testing.assert_array_equal(a.splits[name].inputs,
                                    b.splits[name].inputs)
    # And the permutation was saved once under the cache.
    saved = list(pathlib.Path(self.cache).glob("psmnist_permutation-*.npz"))
    self.assertLen(saved, 1)

  def test_a_changed_permutation_fails_naming_the_saved_file(self):
    # Given a saved permutation that no longer matches the derivation.
    zoo.get_task("psmnist", root=self.root, cache_dir=self.cache)
    (path,) = pathlib.Path(self.cache).glob("psmnist_permutation-*.npz")
    params = dict(kind="random", seed=92916, n=784)
    key = _cache.cache_key("psmnist_permutation", params)
    self.assertEqual(path,
                     _cache.cache_path(self.cache, "psmnist_permutation",
                                       params))
    _cache.save(path, key, {"permutation": np.arange(784)})
    # Then building again refuses to train on another task.
    with self.assertRaisesRegex(ValueError, f"{path}.*differs"):
      zoo.get_task("psmnist", root=self.root, cache_dir=self.cache)

  def test_bad_options(self):
    with self.assertRaisesRegex(ValueError, "permutation must be one of"):
      zoo.get_task("psmnist", root=self.root, cache_dir=self.cache,
                    permutation="shuffle")
    with self.assertRaisesRegex(ValueError, "permutation_seed must be in"):
      zoo.get_task("psmnist", root=self.root, cache_dir=self.cache,
                    permutation_seed=-1)
    with self.assertRaisesRegex(ValueError, "pass root=DIR"):
      zoo.get_task("psmnist", cache_dir=self.cache)


class SCIFARTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    (self.data, self.labels, self.test_data,
     self.test_labels) = fixtures.write_cifar(self.root, per_batch=8,
                                              num_test=10)

  def test_three_channel_row_major_normalised_like_s4_s5(self):
    task = zoo.get_task("scifar", root=self.root)
    self.assertEqual((task.spec.seq_len, task.spec.input_dim,
                      task.spec.num_classes), (1024, 3, 10))
    self.assertEqual([len(s) for s in task.splits.values()], [36, 4, 10])
    self.assertEqual(task.test.inputs.dtype, np.float32)
    # Reference in float64: step t, channel c = pixel t of plane c.
    mean = np.array([0.4914, 0.4822, 0.4465])
    std = np.array([0.247, 0.243, 0.261])
    for n in range(10):
      for t in (0, 1, 31, 32, 517, 1023):
        for c in range(3):
          expected = (self.test_data[n, c * 1024 + t] / 255 - mean[c]) / std[c]
          self.assertAlmostEqual(float(task.test.inputs[n, t, c]), expected,
                                 places=5)
    np.testing.assert_array_equal(task.test.targets, self.test_labels)

  def test_unnormalised_is_uint8_read_as_unit_interval(self):
    task = zoo.get_task("scifar", root=self.root, normalize=False)
    self.assertEqual(task.test.inputs.dtype, np.uint8)
    batch = task.test.gather(np.arange(10))
    expected = self.test_data.reshape(10, 3, 1024).transpose(0, 2, 1) / 255
    np.testing.assert_allclose(batch["inputs"], expected, rtol=1e-6,
                               atol=1e-7)

  def test_train_and_validation_partition_the_five_batches(self):
    task = zoo.get_task("scifar", root=self.root, normalize=False)
    rows = {self.data[i].reshape(3, 1024).T.tobytes(): self.labels[i]
            for i in range(40)}
    seen = []
    for split in (task.train, task.validation):
      for x, y in zip(split.inputs, split.targets):
        self.assertEqual(rows[x.tobytes()], y)
        seen.append(x.tobytes())
    self.assertCountEqual(seen, list(rows))

  def test_malformed_batches_are_rejected_naming_the_file(self):
    folder = pathlib.Path(self.root) / "cifar-10-batches-py"
    (folder / "data_batch_3").write_bytes(b"garbage, not a pickle")
    with self.assertRaisesRegex(ValueError,
                                "data_batch_3: not a CIFAR-10 python batch"):
      zoo.get_task("scifar", root=self.root)
    fixtures.write_cifar_batch(folder / "data_batch_3",
                               np.zeros((8, 3000), np.uint8), np.zeros(8))
    with self.assertRaisesRegex(ValueError, "data_batch_3: b'data' must be "
                                "uint8 \\(N, 3072\\)"):
      zoo.get_task("scifar", root=self.root)
    fixtures.write_cifar_batch(folder / "data_batch_3",
                               np.zeros((8, 3072), np.uint8),
                               np.full(8, 10))
    with self.assertRaisesRegex(ValueError, "data_batch_3: b'labels' must be"):
      zoo.get_task("scifar", root=self.root)
    fixtures.write_cifar_batch(folder / "data_batch_3", self.data[16:24],
                               self.labels[16:24])
    (folder / "test_batch").unlink()
    with self.assertRaisesRegex(FileNotFoundError, "test_batch"):
      zoo.get_task("scifar", root=self.root)
    with self.assertRaisesRegex(FileNotFoundError,
                                "CIFAR-10 python batches not found"):
      zoo.get_task("scifar", root=self.create_tempdir().full_path)


if __name__ == "__main__":
  absltest.main()
