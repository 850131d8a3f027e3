"""End-to-end tests of the training system (configs, loop, resume, launch)."""

import atexit
import functools
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import numpy as np

from experiments import preflight
from experiments import train
from spike_ssm import config_lib
from spike_ssm import zoo
from spike_ssm.training import precision
from spike_ssm.training import writers

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Configs that read the user's own files; new_configs_test.py trains their
# smoke variants on fixture files it writes.
NEEDS_FILES = ("seq_image.py", "shd.py")
CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.py")
                 if not p.name.startswith("_") and p.name not in NEEDS_FILES)
# Every config's step is traced; these also compile and train two steps
# (digits.py trains in the shared run below).
TRAINED = ("s5_lra.py", "spiking_ssm_lra.py")


def load_config(name: str, arg: str | None = None):
  spec = importlib.util.spec_from_file_location(
      f"cfg_{name[:-3]}", ROOT / "configs" / name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


# One digits run that the resume, non-finite and launcher tests all train:
# the same compiled program, so whichever runs first compiles it and the
# others load it from JAX's persistent cache (conftest.py puts them in one
# xdist group, run in turn by one worker). Only values the program
# does not depend on (logging, evaluation and checkpoint cadence, the
# non-finite streak limit) may differ between them.
SHARED_STEPS = 6
SHARED_OVERRIDES = {
    "train.num_steps": SHARED_STEPS, "train.log_every": 1,
    "train.eval_every": 3, "train.ckpt_every": 3,
    # RNG use (dropout) must resume exactly too.
    "model.dropout": 0.2,
    # Not the config's 4e-3: the launcher test shows the override arrives.
    "optim.lr": 0.01,
}


def shared_config():
  """digits.py:smoke with SHARED_OVERRIDES (unlocked copies)."""
  config = load_config("digits.py", "smoke")
  with config.unlocked():
    for key, value in SHARED_OVERRIDES.items():
      section, name = key.split(".")
      config[section][name] = value
  return config


@functools.lru_cache(maxsize=None)
def shared_run() -> tuple[pathlib.Path, dict]:
  """The shared run, trained once per test process: (workdir, summary).

  Read-only for its users (copy it to run on it again); removed at exit.
  """
  root = pathlib.Path(tempfile.mkdtemp(prefix="shared_digits_run_"))
  atexit.register(shutil.rmtree, root, ignore_errors=True)
  summary = train.run(shared_config(), str(root / "run"))
  return root / "run", summary


def trace_training_step(test, config, root=None, cache_dir=None,
                        steps_per_epoch=None):
  """Loads `config`'s task and traces its whole training step, uncompiled.

  `jax.eval_shape` runs init, the forward and backward pass, the optimiser
  update and the eval step at the config's shapes, which is where a config
  goes wrong (a bad option, a shape or dtype mismatch); compiling and
  running the program too is what the configs in TRAINED pay for.

  Returns:
    The training metrics' shapes.
  """
  config_lib.validate(config)
  preflight.check(config)
  options, _ = preflight.data_options(config)
  task = zoo.get_task(config.data.task, root=root or config.data.root,
                      cache_dir=cache_dir or test.create_tempdir().full_path,
                      seed=config.seed, **options)
  preflight.check_splits(task, config)
  example = train.first_rows(task.train, config.data.global_batch_size)
  key = jax.random.PRNGKey(0)
  with precision.installed(config.precision):
    steps = train.build_steps(config, task.spec, example, 2, key,
                              steps_per_epoch=steps_per_epoch)
    ts = jax.eval_shape(steps.init_state, key, example)
    ts2, metrics = jax.eval_shape(steps.train_step, ts, example)
    sums = jax.eval_shape(steps.eval_step, ts.params, ts.state, example)
  chex.assert_trees_all_equal_shapes_and_dtypes(ts2.params, ts.params)
  test.assertIn("count", sums)
  test.assertEqual(metrics["loss"].shape, ())
  return metrics


def _train_rows(workdir) -> dict[int, dict]:
  rows = writers.read_jsonl(pathlib.Path(workdir) / "metrics.jsonl")
  return {r["step"]: r for r in rows if "train/loss" in r}


class ConfigsTrainTest(parameterized.TestCase):

  @parameterized.named_parameters((name[:-3], name) for name in CONFIGS)
  def test_smoke_config_traces_a_training_step(self, name):
    # Given the smoke variant of every config file, locked.
    config = load_config(name, "smoke")
    self.assertTrue(config.is_locked)
    # When its task is built and its training step traced, then the update
    # keeps every parameter's shape and dtype and the loss is a scalar.
    trace_training_step(self, config)

  @parameterized.named_parameters((name[:-3], name) for name in TRAINED)
  def test_smoke_config_trains_two_steps(self, name):
    # Given the smoke variant of a config whose program differs most from
    # the shared digits run's (an SSM on tokens; a stateful spiking layer).
    config = load_config(name, "smoke")
    config_lib.validate(config)
    # When it trains.
    workdir = self.create_tempdir().full_path
    summary = train.run(config, workdir)
    # Then two finite steps ran and everything a run leaves is there.
    self.assertEqual(summary["steps"], 2)
    rows = _train_rows(workdir)
    self.assertIn(2, rows)
    self.assertTrue(np.isfinite(rows[2]["train/loss"]))
    self.assertTrue(np.isfinite(summary["final"]["test"]["loss"]))
    for path in ("summary.json", "config.json", "metrics.jsonl",
                 "checkpoints/latest/2", "tensorboard"):
      self.assertTrue((pathlib.Path(workdir) / path).exists(), msg=path)

  def test_misspelled_override_key_fails_clearly(self):
    config = load_config("digits.py", "smoke")
    with self.assertRaisesRegex(AttributeError, "lrr"):
      config.optim.lrr = 0.1

  def test_unknown_config_argument_fails_clearly(self):
    with self.assertRaisesRegex(ValueError, "Unknown config argument 'smok'"):
      load_config("s5_lra.py", "smok")
    with self.assertRaisesRegex(ValueError, "task must be one of"):
      load_config("s5_lra.py", "task=mnist")

  def test_base_config_holds_every_model_option_with_its_default(self):
    # Given the zoo's model options (read from the constructors) and the
    # base config (which may not import the zoo).
    model = config_lib.base_config().model
    # Then every option is a key of config.model with the same default.
    for key, option in zoo.model_options().items():
      self.assertIn(key, model)
      self.assertEqual(model[key], option.default, msg=key)

  def test_build_model_passes_the_model_options(self):
    # Given smoke configs with a released recipe's model options, which
    # differ only in the batch-norm momentum.
    batch = {"inputs": np.array([[1, 2, 3, 0], [4, 5, 0, 0]], np.int32),
             "lengths": np.array([3, 2], np.int32)}
    cache = self.create_tempdir().full_path
    states = {}
    for momentum in (0.5, 0.9):
      config = load_config("s5_lra.py", "smoke")
      with config.unlocked():
        config.model.update(token_encoder="onehot_dense", onehot_dim=20,
                            bn_momentum=momentum, norm="batch")
      spec = zoo.get_task("listops", cache_dir=cache,
                          **preflight.data_options(config)[0]).spec
      model = train.build_model(config, spec)
      params, state = model.init(jax.random.PRNGKey(0), batch,
                                 is_training=True)
      # Then the encoder is the one-hot dense layer of width onehot_dim.
      embed = params["sequence_model/embed"]
      self.assertEqual(embed["w"].shape, (20, config.model.width))
      self.assertEqual(embed["b"].shape, (config.model.width,))
      _, states[momentum] = model.apply(params, state, jax.random.PRNGKey(1),
                                        batch, is_training=True)
    # And one training call moves the running mean (from 0) by
    # 1 - bn_momentum of the way to the same batch mean.
    norms = [k for k in states[0.5] if "mean_ema" in states[0.5][k]]
    self.assertNotEmpty(norms)
    for k in norms:
      moved = np.asarray(states[0.5][k]["mean_ema"])
      self.assertGreater(np.abs(moved).max(), 0.0, msg=k)
      np.testing.assert_allclose(moved / 0.5,
                                 np.asarray(states[0.9][k]["mean_ema"]) / 0.1,
                                 rtol=1e-4, atol=1e-6, err_msg=k)

  def test_published_s5_listops_hyperparameters(self):
    c = load_config("s5_lra.py", "task=listops")
    self.assertEqual((c.model.num_layers, c.model.width), (8, 128))
    self.assertEqual(c.model.layer_kwargs.state_size, 16)
    self.assertEqual(c.model.layer_kwargs.blocks, 8)
    self.assertEqual(c.data.global_batch_size, 50)
    self.assertAlmostEqual(c.optim.lr, 3e-3)
    self.assertEqual(c.train.num_epochs, 40)
    self.assertTrue(c.model.layer_kwargs.bidirectional)
    self.assertEqual(c.model.glu, "half_glu2")


class ResumeTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    # One uninterrupted run, asserted on by both tests.
    self.full, _ = shared_run()

  def test_interrupted_and_resumed_equals_uninterrupted(self):
    # Given the uninterrupted run of 6 steps.
    # When the same run stops after 4 steps (checkpoint at 4) and restarts.
    part = self.create_tempdir().full_path
    stopped = train.run(shared_config(), part, stop_after_steps=4)
    self.assertEqual(stopped, {"stopped_at": 4})
    summary = train.run(shared_config(), part)
    # Then every step's metrics are identical.
    a, b = _train_rows(self.full), _train_rows(part)
    self.assertEqual(sorted(a), list(range(1, SHARED_STEPS + 1)))
    self.assertEqual(sorted(b), list(range(1, SHARED_STEPS + 1)))
    for step in a:
      self.assertEqual(a[step]["train/loss"], b[step]["train/loss"],
                       msg=f"step {step}")
    full_summary = json.loads((self.full / "summary.json").read_text())
    self.assertEqual(summary["test_at_best"], full_summary["test_at_best"])

  def test_rerun_of_a_finished_run_does_no_more_steps(self):
    # Given a copy of the finished run (the other test reads the original).
    wd = self.create_tempdir().full_path
    shutil.copytree(self.full, wd, dirs_exist_ok=True)
    before = _train_rows(wd)
    # When it is run again, nothing more is trained.
    summary = train.run(shared_config(), wd)
    self.assertEqual(_train_rows(wd), before)
    self.assertEqual(summary["steps"], SHARED_STEPS)


class NonFiniteTest(absltest.TestCase):

  def test_run_stops_naming_the_step(self):
    config = shared_config()
    with config.unlocked():
      config.train.max_nonfinite_in_a_row = 3
    original = train.data_lib.TrainIterator.__next__

    def poisoned(self):
      batch = original(self)
      batch["inputs"] = np.full_like(batch["inputs"], np.nan)
      return batch

    train.data_lib.TrainIterator.__next__ = poisoned
    try:
      with self.assertRaisesRegex(train.NonFiniteError,
                                  r"3 steps in a row, ending at step 3"):
        train.run(config, self.create_tempdir().full_path)
    finally:
      train.data_lib.TrainIterator.__next__ = original


class LaunchTest(absltest.TestCase):

  def _launch(self, *args):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "experiments.launch", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)

  def test_misspelled_command_line_override_fails(self):
    wd = self.create_tempdir().full_path
    result = self._launch("--config=configs/digits.py:smoke",
                          "--config.optim.lrr=0.1", f"--workdir={wd}")
    self.assertNotEqual(result.returncode, 0)
    # One line naming the flag and the nearest key, no traceback.
    self.assertEqual(
        result.stderr.strip(),
        "error: --config.optim.lrr: the config has no key 'lrr'; did you "
        "mean 'lr'?")
    self.assertFalse((pathlib.Path(wd) / "checkpoints").exists())

  def test_launch_trains_with_an_override(self):
    wd = self.create_tempdir().full_path
    # The shared run's overrides (lr among them): its compiled program.
    overrides = [f"--config.{k}={v}" for k, v in SHARED_OVERRIDES.items()]
    result = self._launch("--config=configs/digits.py:smoke", *overrides,
                          f"--workdir={wd}")
    self.assertEqual(result.returncode, 0, msg=result.stderr[-2000:])
    self.assertIn("Done. Test at best validation step", result.stdout)
    saved = json.loads((pathlib.Path(wd) / "config.json").read_text())
    self.assertEqual(saved["optim"]["lr"], 0.01)


if __name__ == "__main__":
  absltest.main()
