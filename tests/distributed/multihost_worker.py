"""One process of a (possibly multi-process) CPU training run, for tests.

  python -m tests.distributed.multihost_worker PROCESS_ID NUM_PROCESSES PORT \
      DEVICES_PER_PROCESS WORKDIR
"""

import os
import sys


def main(argv):
  pid, nproc, port, ndev, workdir = argv[1:]
  pid, nproc, ndev = int(pid), int(nproc), int(ndev)
  os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={ndev}"
  os.environ["JAX_PLATFORMS"] = "cpu"
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if nproc > 1:
    jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                               num_processes=nproc, process_id=pid)
  from experiments import train  # pylint: disable=g-import-not-at-top
  from tests.training import train_test  # pylint: disable=g-import-not-at-top
  config = train_test.load_config("digits.py", "smoke")
  with config.unlocked():
    config.train.update(num_steps=4, log_every=1, eval_every=4, ckpt_every=4)
    config.data.global_batch_size = 16
  summary = train.run(config, workdir)
  assert jax.device_count() == nproc * ndev, jax.device_count()
  print("SUMMARY", summary["test_at_best"], flush=True)
  if nproc > 1:
    jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv)
