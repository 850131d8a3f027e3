"""Tests for spike_ssm.training.writers."""

import io
import pathlib

from absl.testing import absltest
from tensorboard.backend.event_processing import event_accumulator

from spike_ssm.training import writers


class TensorBoardTest(absltest.TestCase):

  def test_scalars_read_back_with_tensorboards_own_reader(self):
    # Given scalars written at two steps (tensorboardX writes the file).
    logdir = self.create_tempdir().full_path
    w = writers.TensorBoardWriter(logdir)
    w.write(10, {"train/loss": 1.25, "train/accuracy": 0.5})
    w.write(20, {"train/loss": 0.75})
    w.close()
    # When TensorBoard itself loads the directory.
    acc = event_accumulator.EventAccumulator(logdir)
    acc.Reload()
    # Then it finds the one event file, both tags, every step and value.
    self.assertEqual(w.path.parent, pathlib.Path(logdir))
    self.assertEqual(sorted(acc.Tags()["scalars"]),
                     ["train/accuracy", "train/loss"])
    self.assertEqual([(e.step, e.value) for e in acc.Scalars("train/loss")],
                     [(10, 1.25), (20, 0.75)])
    self.assertEqual([(e.step, e.value)
                      for e in acc.Scalars("train/accuracy")], [(10, 0.5)])

  def test_rows_are_on_disk_after_each_write(self):
    # A killed run keeps what it logged: nothing waits in a queue.
    logdir = self.create_tempdir().full_path
    w = writers.TensorBoardWriter(logdir)
    w.write(1, {"x": 3.0})
    acc = event_accumulator.EventAccumulator(logdir)
    acc.Reload()
    self.assertEqual([(e.step, e.value) for e in acc.Scalars("x")], [(1, 3.0)])
    w.close()

  def test_two_writers_in_one_second_get_two_files(self):
    logdir = self.create_tempdir().full_path
    a = writers.TensorBoardWriter(logdir)
    b = writers.TensorBoardWriter(logdir)
    self.assertNotEqual(a.path, b.path)
    a.close()
    b.close()


class JsonlAndConsoleTest(absltest.TestCase):

  def test_jsonl_appends_rows(self):
    path = self.create_tempdir().full_path + "/m.jsonl"
    w = writers.JsonlWriter(path)
    w.write(1, {"a": 1.0})
    w.write(2, {"a": float("nan")})
    w.close()
    rows = writers.read_jsonl(path)
    self.assertEqual([r["step"] for r in rows], [1, 2])
    self.assertEqual(rows[0]["a"], 1.0)
    self.assertEqual(rows[1]["a"], "nan")

  def test_console_reports_rates_and_eta(self):
    out = io.StringIO()
    p = writers.ConsoleProgress(100, stream=out)
    p.report(10, {"loss": 2.0}, tokens_per_step=64)
    rates = p.report(20, {"loss": 1.0, "accuracy": 0.5}, tokens_per_step=64)
    lines = out.getvalue().splitlines()
    self.assertLen(lines, 2)
    self.assertIn("step 20/100", lines[1])
    self.assertIn("accuracy 0.5000", lines[1])
    self.assertIn("ETA", lines[1])
    self.assertAlmostEqual(rates["tokens_per_s"], 64 * rates["steps_per_s"])

  def test_plot_writes_png(self):
    d = self.create_tempdir().full_path
    rows = [{"step": s, "train/loss": 1.0 / s, "validation/accuracy": s / 10}
            for s in range(1, 6)]
    self.assertTrue(writers.plot_curves(rows, d + "/c.png"))
    with open(d + "/c.png", "rb") as f:
      self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
  absltest.main()
