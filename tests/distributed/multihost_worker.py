"""One process of a (possibly multi-process) CPU training run, for tests.

  python -m tests.distributed.multihost_worker PROCESS_ID NUM_PROCESSES PORT \
      DEVICES_PER_PROCESS WORKDIR
"""

import os
import sys


def main(argv):
  pid, nproc, port, ndev, workdir = argv[1:]
  pid, nproc, ndev = int(pid), int(nproc), int(ndev)
  # The test passes its own XLA flags (the suite's compile options) minus
  # the device count, which is this process's to set.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={ndev}")
  os.environ["JAX_PLATFORMS"] = "cpu"
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if nproc > 1:
    jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                               num_processes=nproc, process_id=pid)
  from experiments import train  # pylint: disable=g-import-not-at-top
  from tests.training import train_test  # pylint: disable=g-import-not-at-top
  # The suite's shared digits run (dropout included), so the test's
  # 1-process reference is the run its worker has already trained.
  config = train_test.shared_config()
  summary = train.run(config, workdir)
  assert jax.device_count() == nproc * ndev, jax.device_count()
  print("SUMMARY", summary["test_at_best"], flush=True)
  if nproc > 1:
    jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv)
