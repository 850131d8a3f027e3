"""Test session setup; runs before any JAX backend initialises."""

import os

# Four fake CPU devices so pmap / NamedSharding paths run on a laptop.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") +
    " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Tests must be reproducible on 2 cores: keep XLA from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Many tests (and the training runs they launch in subprocesses) compile the
# same programs; JAX's persistent cache (keyed on the HLO, the compile
# options and the jax/XLA version) lets them compile once per machine.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(__file__)), ".cache",
                      "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

from absl import flags  # pylint: disable=g-import-not-at-top


def pytest_configure(config):
  del config
  # absl / chex flags are readable under pytest (jaxline's conftest does this).
  flags.FLAGS.mark_as_parsed()
