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
# Most of the suite's CPU time is XLA compiling small programs that then run
# for milliseconds: skipping XLA's optimisation passes (fusion, LLVM -O2)
# cuts it by about 40% and changes no assertion (every comparison still
# meets its tolerance; jit, eager and references are compiled alike). The
# benchmarks and training runs outside the tests compile with the defaults.
# Set JAX_DISABLE_MOST_OPTIMIZATIONS=false to test the optimised pipeline.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")
# XLA:CPU's newer fusion emitters generate each fusion through MLIR, which
# for the suite's many small programs costs more than the older emitters:
# with them off, tests/{contracts,ops/scans,ssm/sequence_layer}_test.py took
# 81 s instead of 121 s (140 -> 81 s of CPU) on an idle 2-core machine, with
# every assertion unchanged. The benchmarks and training runs outside the
# tests keep XLA's default.
if "xla_cpu_use_fusion_emitters" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_cpu_use_fusion_emitters=false"
# XLA:CPU splits each program's LLVM module into parts compiled in
# parallel; for the suite's small programs the split costs more than it
# saves (about 7% of the CPU time of tests/{contracts,ssm/sequence_layer,
# models/backbone}_test.py, 85.6 / 79.6 s -> 80.9 / 73.8 s in two pairs
# of cold-cache runs). Code generation is otherwise the same.
if "xla_cpu_parallel_codegen_split_count" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_cpu_parallel_codegen_split_count=1"

from absl import flags  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

try:  # pytest >= 9
  # pylint: disable-next=g-import-not-at-top
  from _pytest import nodeid as nodeid_lib
except ImportError:
  nodeid_lib = None


def pytest_configure(config):
  del config
  # absl / chex flags are readable under pytest (jaxline's conftest does this).
  flags.FLAGS.mark_as_parsed()


# ----------------------------------------------------------------------------
# Scheduling (pytest-xdist, `--dist loadgroup` in setup.cfg). Order only:
# nothing here skips or changes a test.
# ----------------------------------------------------------------------------

# Tests that train one and the same compiled program run in turn on one
# worker: the first compiles it, the others load it from the persistent
# cache above. `train_test.SHARED_OVERRIDES` is the digits run of the resume,
# non-finite and launcher tests; the zoo script's smoke runs include the
# s5_lra smoke config.
SHARED_PROGRAMS = {
    "digits_shared": (
        "tests/training/train_test.py::ResumeTest::",
        "tests/training/train_test.py::NonFiniteTest::",
        "tests/training/train_test.py::LaunchTest::",
        # robust_test._config() is ResumeTest's config: on one worker its
        # runs load ResumeTest's programs (39 s -> 28 s of CPU for both).
        "tests/training/robust_test.py::ResumeEndToEndTest::",
        "tests/training/robust_test.py::ProcessEndToEndTest::",
        # Its 1-process reference is the shared run itself.
        "tests/distributed/multihost_test.py::",
    ),
    "s5_lra_smoke": (
        "tests/training/train_test.py::ConfigsTrainTest::"
        "test_smoke_config_trains_two_steps_s5_lra",
        "tests/training/zoo_configs_test.py::ZooCompareTest::",
    ),
}

# The longest tests (pytest --durations) start first, so that the short
# ones fill both workers at the end instead of one long test running alone.
SLOW_FIRST = (
    "tests/training/train_test.py::ConfigsTrainTest::",
    "tests/benchmarks_test.py::SmokeRunTest::",
    "tests/distributed/multihost_test.py::",
    "tests/readme_test.py::ReadmeTest::test_library_example_runs",
    "tests/training/zoo_configs_test.py::SyntheticConfigTest::"
    "test_every_other_task_trains_two_steps",
    "tests/ssm/spiking_ssm_test.py::",
    "tests/layers/quant_test.py::TrainingTest::",
    "tests/layers/quant_test.py::ModelSwitchTest::",
    "tests/benchmarks_sdn_test.py::",
    "tests/experimental/raven_mqar_bench_test.py::",
    "tests/training/precision_test.py::",
    "tests/contracts_test.py::JitTest::",
    "tests/training/writers_test.py::",
)


def _join_group(item, group, config):
  item.add_marker(pytest.mark.xdist_group(group))
  # pytest >= 9 reads a node's id from `_id`; pytest-xdist 3.8 tags the
  # group by rewriting `_nodeid`, which that pytest no longer reads, so the
  # group would be lost. Tag it here as xdist means to (on a worker, where
  # `loadgroup` is set).
  if (nodeid_lib is not None and hasattr(item, "_id") and
      getattr(config.option, "loadgroup", False)):
    # pylint: disable-next=protected-access
    item._id = nodeid_lib.NodeId.parse(f"{item.nodeid}@{group}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
  for item in items:
    for group, prefixes in SHARED_PROGRAMS.items():
      if item.nodeid.startswith(prefixes):
        _join_group(item, group, config)

  def rank(item):
    for i, prefix in enumerate(SLOW_FIRST):
      if item.nodeid.startswith(prefix):
        return i
    return len(SLOW_FIRST)

  items.sort(key=rank)  # Stable: collection order within a rank.
