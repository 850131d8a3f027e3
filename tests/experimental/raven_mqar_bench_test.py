"""Smoke test of benchmarks/raven_mqar.py: it runs; no accuracy asserted."""

import argparse
import json
import os

from absl.testing import absltest

from benchmarks import raven_mqar


class RavenMqarSmokeTest(absltest.TestCase):

  def test_every_model_has_the_same_state_budget(self):
    args = argparse.Namespace(state=64, slots=8)
    budgets = {m: raven_mqar.state_reals(m, raven_mqar.layer_config(m, args))
               for m in raven_mqar.MODELS}
    self.assertEqual(set(budgets.values()), {64})

  def test_tiny_run_writes_json(self):
    # Given a two-step run of one model on tiny shapes (compiling the train
    # loop dominates; one model keeps the test cheap).
    path = os.path.join(self.create_tempdir().full_path, "out.json")
    payload = raven_mqar.main([
        "--steps=2", "--block=1", "--n_pairs=1", "--n_keys=2", "--n_values=2",
        "--width=4", "--state=4", "--slots=2", "--layers=1", "--batch=2",
        "--eval_size=4", "--seeds=0", "--models=raven_top2",
        f"--json={path}"])
    # Then there is one row, in the table, and the JSON on disk is what it
    # returned.
    (row,) = payload["rows"]
    self.assertEqual(row["layer_kwargs"],
                     {"num_slots": 2, "slot_dim": 2, "hard_top_k": 2})
    self.assertEqual(row["state_reals"], 4)
    self.assertBetween(row["test_accuracy"], 0.0, 1.0)
    self.assertIn("| raven_top2 | 1 | 3 | 4 |",
                  raven_mqar.table(payload["rows"], 2))
    with open(path, encoding="utf-8") as f:
      self.assertEqual(json.load(f), json.loads(json.dumps(payload)))


if __name__ == "__main__":
  absltest.main()
