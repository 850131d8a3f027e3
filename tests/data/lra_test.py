"""Tests for spike_ssm.data.lra on tiny files in the official formats."""

import pathlib
import pickle
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spike_ssm import data
from spike_ssm import zoo
from spike_ssm.data import lra

try:
  from PIL import Image  # pylint: disable=g-import-not-at-top
except ImportError:
  Image = None


def byte_ids(text: bytes, length: int) -> list[int]:
  """Reference byte-level encoding: each byte + 1, zero-padded."""
  ids = [b + 1 for b in text[:length]]
  return ids + [0] * (length - len(ids))


class TextTest(parameterized.TestCase):

  def make_imdb(self):
    root = pathlib.Path(self.create_tempdir().full_path)
    docs = {}
    for split in ("train", "test"):
      for label, polarity in ((0, "neg"), (1, "pos")):
        folder = root / "aclImdb" / split / polarity
        folder.mkdir(parents=True)
        for i in range(3):
          text = f"{split} {polarity} review {i} caf\u00e9 <br />".encode()
          (folder / f"{i}_{7 + label}.txt").write_bytes(text)
          docs[(split, text)] = label
        (folder / "urls.txt~").write_text("ignored: not *.txt")
    return root, docs

  def test_byte_ids_labels_and_validation_is_test(self):
    # Given a tiny aclImdb tree with non-ASCII text.
    root, docs = self.make_imdb()
    # When loaded with seq_len 20 (so documents are truncated).
    task = zoo.get_task("text", root=str(root), seq_len=20)
    self.assertEqual((task.spec.vocab_size, task.spec.num_classes), (257, 2))
    # Then validation is test, as in LRA.
    self.assertIs(task.validation, task.test)
    for name, split in (("train", task.train), ("test", task.test)):
      self.assertLen(split, 6)
      want = {tuple(byte_ids(t, 20)): label
              for (s, t), label in docs.items() if s == name}
      # And every row is a document's bytes + 1 with its polarity.
      for ids, length, label in zip(split.inputs, split.lengths,
                                    split.targets):
        self.assertEqual(want[tuple(ids.tolist())], label)
        self.assertEqual(length, min(20, np.count_nonzero(ids)))

  def test_val_fraction_carves_a_deterministic_disjoint_subset(self):
    root, _ = self.make_imdb()
    a = zoo.get_task("text", root=str(root), val_fraction=0.5)
    b = zoo.get_task("text", root=str(root), val_fraction=0.5)
    self.assertEqual((len(a.train), len(a.validation)), (3, 3))
    np.testing.assert_array_equal(a.validation.inputs, b.validation.inputs)
    rows = {r.tobytes() for r in a.train.inputs}
    self.assertFalse(rows & {r.tobytes() for r in a.validation.inputs})

  def test_missing_folder_is_named(self):
    root, _ = self.make_imdb()
    for path in (root / "aclImdb" / "test" / "pos").iterdir():
      path.unlink()
    (root / "aclImdb" / "test" / "pos").rmdir()
    with self.assertRaisesRegex(FileNotFoundError, "aclImdb/test/pos"):
      zoo.get_task("text", root=str(root))
    with self.assertRaisesRegex(FileNotFoundError, "aclImdb"):
      zoo.get_task("text", root=self.create_tempdir().full_path)


class RetrievalTest(parameterized.TestCase):

  def make_aan(self, lines=None):
    root = pathlib.Path(self.create_tempdir().full_path)
    folder = root / "tsv_data"
    folder.mkdir()
    rows = [(1, b"a paper \xc3\xa9", b"cited by"), (0, b"x", b"unrelated")]
    for split in ("train", "eval", "test"):
      text = lines or b"".join(
          b"%s\tid%d\tid%d\t%s\t%s\n" % (b"1.0" if y else b"0.0", i, i + 9,
                                          t1, t2)
          for i, (y, t1, t2) in enumerate(rows))
      (folder / f"new_aan_pairs.{split}.tsv").write_bytes(text)
    return root, rows

  def test_two_byte_level_documents_per_example(self):
    root, rows = self.make_aan()
    task = zoo.get_task("retrieval", root=str(root), seq_len=8)
    self.assertTrue(task.spec.dual)
    for split in task.splits.values():
      for i, (label, text1, text2) in enumerate(rows):
        self.assertEqual(split.targets[i], label)
        self.assertEqual(split.inputs[i].tolist(), byte_ids(text1, 8))
        self.assertEqual(split.inputs2[i].tolist(), byte_ids(text2, 8))
        self.assertEqual(split.lengths[i], min(8, len(text1)))
        self.assertEqual(split.lengths2[i], min(8, len(text2)))
    batch = next(data.eval_batches(task.test, 2))
    self.assertEqual(batch["inputs2"].dtype, np.int32)

  @parameterized.named_parameters(
      ("fields", b"1\ta\tb\ttext\n", ":1:.*5 tab-separated"),
      ("label", b"1\ta\tb\tx\ty\n2\ta\tb\tx\ty\n", ":2:.*label"),
      ("label_text", b"yes\ta\tb\tx\ty\n", ":1:.*label"))
  def test_malformed_lines_name_file_and_line(self, lines, pattern):
    root, _ = self.make_aan(lines)
    with self.assertRaisesRegex(ValueError,
                                "new_aan_pairs.train.tsv" + pattern):
      zoo.get_task("retrieval", root=str(root))

  def test_missing_files_are_named(self):
    with self.assertRaisesRegex(FileNotFoundError, "new_aan_pairs"):
      zoo.get_task("retrieval", root=self.create_tempdir().full_path)


class ImageTest(parameterized.TestCase):

  def make_cifar(self, n=10, corrupt=None):
    root = pathlib.Path(self.create_tempdir().full_path)
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
      batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
               b"labels": rng.integers(0, 10, n).tolist(),
               b"batch_label": name.encode()}
      if name == corrupt:
        batch[b"data"] = batch[b"data"][:, :3000]
      batches[name] = batch
      with open(folder / name, "wb") as f:
        pickle.dump(batch, f)
    return root, batches

  @parameterized.parameters(False, True)
  def test_grey_pixel_sequences(self, tokenize):
    # Given six tiny CIFAR-10 python batches.
    root, batches = self.make_cifar()
    task = zoo.get_task("image", root=str(root), tokenize=tokenize)
    spec = task.spec
    self.assertEqual((spec.seq_len, spec.num_classes), (1024, 10))
    self.assertEqual(spec.kind, "tokens" if tokenize else "continuous")
    # Then 90% of the 50 training images train, the last 10% validate.
    self.assertEqual((len(task.train), len(task.validation),
                      len(task.test)), (45, 5, 10))
    first = batches["data_batch_1"]
    last = batches["data_batch_5"]
    test = batches["test_batch"]
    checks = ((task.train, 0, first, 0), (task.validation, 4, last, 9),
              (task.test, 9, test, 9))
    for split, row, batch, source_row in checks:
      got = split.gather(np.array([row]))
      self.assertEqual(got["targets"][0], batch[b"labels"][source_row])
      pixels = got["inputs"][0].reshape(-1)
      if not tokenize:
        pixels = pixels * 255.0
      for p in (0, 31, 32, 500, 1023):
        # And each step is a nearest integer of the pixel's luma.
        r, g, b = (float(batch[b"data"][source_row, c * 1024 + p])
                   for c in range(3))
        luma = 0.2989 * r + 0.5870 * g + 0.1140 * b
        self.assertLessEqual(abs(pixels[p] - luma), 0.5 + 1e-4)

  def test_malformed_or_missing_batch_is_named(self):
    root, _ = self.make_cifar(corrupt="data_batch_3")
    with self.assertRaisesRegex(ValueError, "data_batch_3.*3072"):
      zoo.get_task("image", root=str(root))
    root, _ = self.make_cifar()
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with self.assertRaisesRegex(FileNotFoundError, "test_batch"):
      zoo.get_task("image", root=str(root))
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with self.assertRaisesRegex(ValueError, "test_batch.*not a CIFAR"):
      zoo.get_task("image", root=str(root))


@absltest.skipIf(Image is None, "Pillow is not installed")
class PathfinderTest(parameterized.TestCase):

  def make_pathfinder(self, resolution=32, n=20, difficulty=(
      "curv_contour_length_14"), extra_line=None):
    root = pathlib.Path(self.create_tempdir().full_path)
    base = root / f"pathfinder{resolution}" / difficulty
    images = base / "imgs" / "0"
    images.mkdir(parents=True)
    (base / "metadata").mkdir()
    rng = np.random.default_rng(1)
    lines, pixels = [], {}
    for i in range(n):
      # Pixel 0 encodes the image number, so rows can be matched up.
      array = rng.integers(0, 256, (resolution, resolution), dtype=np.uint8)
      array[0, 0] = i
      Image.fromarray(array, mode="L").save(images / f"sample_{i}.png")
      label = i % 2
      lines.append(f"imgs/0 sample_{i}.png 0 {label} 0.75 1.5 2 14\n")
      pixels[i] = (array.reshape(-1), label)
    # The release has empty images; LRA skips them.
    (images / "sample_empty.png").write_bytes(b"")
    lines.append("imgs/0 sample_empty.png 0 1 0.75 1.5 2 14\n")
    if extra_line:
      lines.append(extra_line)
    half = len(lines) // 2
    (base / "metadata" / "0.npy").write_text("".join(lines[:half]))
    (base / "metadata" / "1.npy").write_text("".join(lines[half:]))
    return root, pixels

  @parameterized.parameters(False, True)
  def test_pixels_labels_and_split(self, tokenize):
    root, pixels = self.make_pathfinder()
    cache_dir = self.create_tempdir().full_path
    task = zoo.get_task("pathfinder", root=str(root), cache_dir=cache_dir,
                        tokenize=tokenize)
    self.assertEqual((task.spec.seq_len, task.spec.num_classes), (1024, 2))
    # Then 20 images (the empty one skipped) split 16 / 2 / 2.
    sizes = [len(s) for s in task.splits.values()]
    self.assertEqual(sizes, [16, 2, 2])
    seen = []
    for split in task.splits.values():
      for row in range(len(split)):
        batch = split.gather(np.array([row]))
        flat = batch["inputs"][0].reshape(-1)
        if not tokenize:
          flat = np.round(flat * 255).astype(np.int64)
        index = int(flat[0])
        want_pixels, want_label = pixels[index]
        np.testing.assert_array_equal(flat, want_pixels)
        self.assertEqual(batch["targets"][0], want_label)
        seen.append(index)
    # And every image is used exactly once.
    self.assertEqual(sorted(seen), list(range(20)))

  def test_second_load_uses_the_cache_and_split_seed_is_stable(self):
    root, _ = self.make_pathfinder()
    cache_dir = self.create_tempdir().full_path
    first = zoo.get_task("pathfinder", root=str(root), cache_dir=cache_dir)
    with mock.patch.object(lra, "_decode_pathfinder",
                           side_effect=AssertionError("decoded again")):
      second = zoo.get_task("pathfinder", root=str(root),
                            cache_dir=cache_dir, seed=5)
    np.testing.assert_array_equal(first.test.inputs, second.test.inputs)
    other = zoo.get_task("pathfinder", root=str(root), cache_dir=cache_dir,
                         split_seed=1)
    self.assertFalse(np.array_equal(first.test.inputs, other.test.inputs))

  def test_pathx_reads_pathfinder128(self):
    root, _ = self.make_pathfinder(resolution=128, n=4,
                                   difficulty="curv_baseline")
    task = zoo.get_task("pathx", root=str(root), difficulty="curv_baseline",
                        cache_dir=self.create_tempdir().full_path,
                        val_fraction=0.25, test_fraction=0.25)
    self.assertEqual(task.spec.seq_len, 128 * 128)
    self.assertEqual([len(s) for s in task.splits.values()], [2, 1, 1])

  @parameterized.named_parameters(
      ("missing_image", "imgs/0 sample_99.png 0 1 x\n", FileNotFoundError,
       "sample_99.png.*1.npy:"),
      ("bad_label", "imgs/0 sample_1.png 0 7 x\n", ValueError,
       "1.npy:11:.*label"),
      ("short_line", "imgs/0 sample_1.png\n", ValueError, "1.npy:11:"))
  def test_bad_metadata_is_named(self, line, error, pattern):
    root, _ = self.make_pathfinder(extra_line=line)
    with self.assertRaisesRegex(error, pattern):
      zoo.get_task("pathfinder", root=str(root),
                   cache_dir=self.create_tempdir().full_path)

  def test_missing_pillow_gives_a_clear_import_error(self):
    root, _ = self.make_pathfinder(n=2)
    with mock.patch.dict("sys.modules", {"PIL": None}):
      with self.assertRaisesRegex(ImportError, "needs Pillow"):
        zoo.get_task("pathfinder", root=str(root),
                     cache_dir=self.create_tempdir().full_path)

  def test_bad_images_and_options(self):
    root, _ = self.make_pathfinder()
    images = root / "pathfinder32" / "curv_contour_length_14" / "imgs" / "0"
    (images / "sample_3.png").write_bytes(b"not a png")
    with self.assertRaisesRegex(ValueError, "sample_3.png.*not a readable"):
      zoo.get_task("pathfinder", root=str(root),
                   cache_dir=self.create_tempdir().full_path)
    Image.new("L", (16, 16)).save(images / "sample_3.png")
    with self.assertRaisesRegex(ValueError, "sample_3.png.*32x32"):
      zoo.get_task("pathfinder", root=str(root),
                   cache_dir=self.create_tempdir().full_path)
    with self.assertRaisesRegex(ValueError, "difficulty"):
      zoo.get_task("pathfinder", root=str(root), difficulty="hard")
    with self.assertRaisesRegex(FileNotFoundError, "curv_baseline/metadata"):
      zoo.get_task("pathfinder", root=str(root), difficulty="curv_baseline")


if __name__ == "__main__":
  absltest.main()
