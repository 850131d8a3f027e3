"""benchmarks/sdn_bench.py runs on tiny shapes; no timings asserted."""

import json
import os

from absl.testing import absltest
import jax
import numpy as np

from benchmarks import sdn_bench


class SDNBenchTest(absltest.TestCase):

  def test_tiny_run_writes_every_row(self):
    # Given a tiny run of both cases at one length.
    path = os.path.join(self.create_tempdir().full_path, "sdn.json")
    # When it runs.
    sdn_bench.main(["--lengths=16", "--batch=2", "--width=4",
                    "--state_size=4", "--repeats=1", "--budget_s=0.01",
                    f"--json={path}"])
    # Then the JSON has one row per case, with the ratio of the medians.
    with open(path, encoding="utf-8") as f:
      payload = json.load(f)
    self.assertIn("cpu_model", payload["machine"])
    rows = payload["rows"]
    self.assertEqual([(r["case"], r["T"]) for r in rows],
                     [("layer", 16), ("soma", 16)])
    for r in rows:
      self.assertAlmostEqual(r["speedup"], r["iterative_ms"] / r["sdn_ms"])
      self.assertGreater(r["sdn_ms"], 0.0)

  def test_the_two_layer_workloads_differ_only_in_the_soma(self):
    # Same parameters and input, so the timed programs compute the same
    # layer and only the soma differs.
    sdn = sdn_bench.layer_workload("sdn", 2, 32, 4, 4)
    it = sdn_bench.layer_workload("iterative", 2, 32, 4, 4)
    np.testing.assert_array_equal(sdn.x, it.x)
    jax.tree.map(np.testing.assert_array_equal, sdn.params, it.params)
    self.assertEqual(jax.tree.structure(sdn.params),
                     jax.tree.structure(it.params))


if __name__ == "__main__":
  absltest.main()
