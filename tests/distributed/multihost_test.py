"""A 2-process run on localhost (CPU, gloo) reaches the 1-process result."""

import os
import pathlib
import re
import socket
import subprocess
import sys

from absl.testing import absltest
import jax
import numpy as np
import orbax.checkpoint as ocp

from tests import tolerances as tol
from tests.training import train_test

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(pid, nproc, port, ndev, workdir):
  env = dict(os.environ)
  # The suite's compile options travel; the device count is the worker's.
  env["XLA_FLAGS"] = re.sub(r"--xla_force_host_platform_device_count=\d+",
                            "", env.get("XLA_FLAGS", ""))
  return subprocess.Popen(
      [sys.executable, "-m", "tests.distributed.multihost_worker", str(pid),
       str(nproc), str(port), str(ndev), workdir],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)


def _final_params(workdir):
  state_dir = (pathlib.Path(workdir) / "checkpoints" / "latest" /
               str(train_test.SHARED_STEPS) / "state")
  ckptr = ocp.StandardCheckpointer()
  meta = ckptr.metadata(state_dir)
  meta = getattr(meta, "item_metadata", meta)
  one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one), meta)
  return ckptr.restore(state_dir, target)["params"]


class MultiHostTest(absltest.TestCase):

  def test_two_processes_match_one_process(self):
    # Given the suite's shared digits run as 1 process x 4 devices (this
    # worker's, trained once for the resume tests; conftest.py puts this
    # test in their group) ...
    self.assertEqual(jax.device_count(), 4)
    single, summary = train_test.shared_run()
    # ... and the same run as 2 processes x 2 devices over localhost (gloo).
    multi = self.create_tempdir().full_path
    port = _free_port()
    procs = [_start(i, 2, port, 2, multi) for i in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outputs):
      self.assertEqual(p.returncode, 0, msg=err[-3000:])
    # Then both reach the same parameters and the same test metrics.
    a, b = _final_params(single), _final_params(multi)
    self.assertEqual(jax.tree.structure(a), jax.tree.structure(b))
    jax.tree.map(lambda x, y: np.testing.assert_allclose(
        x, y, **tol.F32_SCAN_SHORT), a, b)
    line = lambda text: [l for l in text.splitlines() if l.startswith("SUMMARY")]
    self.assertEqual([f"SUMMARY {summary['test_at_best']}"],
                     line(outputs[0][0]))


if __name__ == "__main__":
  absltest.main()
