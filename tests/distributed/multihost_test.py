"""A 2-process run on localhost (CPU, gloo) reaches the 1-process result."""

import os
import pathlib
import socket
import subprocess
import sys

from absl.testing import absltest
import jax
import numpy as np
import orbax.checkpoint as ocp

from tests import tolerances as tol

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(pid, nproc, port, ndev, workdir):
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  return subprocess.Popen(
      [sys.executable, "-m", "tests.distributed.multihost_worker", str(pid),
       str(nproc), str(port), str(ndev), workdir],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)


def _final_params(workdir):
  state_dir = pathlib.Path(workdir) / "checkpoints" / "latest" / "4" / "state"
  ckptr = ocp.StandardCheckpointer()
  meta = ckptr.metadata(state_dir)
  meta = getattr(meta, "item_metadata", meta)
  one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one), meta)
  return ckptr.restore(state_dir, target)["params"]


class MultiHostTest(absltest.TestCase):

  def test_two_processes_match_one_process(self):
    # Given the same 4-device run as 1 process x 4 devices ...
    single = self.create_tempdir().full_path
    ref = _start(0, 1, 0, 4, single)
    out, err = ref.communicate(timeout=900)
    self.assertEqual(ref.returncode, 0, msg=err[-3000:])
    # ... and as 2 processes x 2 devices talking over localhost (gloo).
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
    self.assertEqual(line(out), line(outputs[0][0]))


if __name__ == "__main__":
  absltest.main()
