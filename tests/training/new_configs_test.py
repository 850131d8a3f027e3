"""Configs of the tasks beyond LRA: MNIST-1D, sequential images, SHD.

MNIST-1D's default smoke variant is trained by train_test.py with every
other config; the configs that read the user's files (seq_image.py,
shd.py) are trained here on fixture files in the official formats
(tests/data/fixtures.py), 2 steps each. The published values the configs
carry are checked against their sources' numbers.
"""

import atexit
import functools
import json
import math
import pathlib
import shutil
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from benchmarks import mnist1d_table
from experiments import train
from spike_ssm import zoo
from tests.data import fixtures
from tests.training.train_test import load_config
from tests.training.train_test import trace_training_step


def _train_two_steps(test, config, root) -> dict:
  with config.unlocked():
    config.data.root = root
    config.data.cache_dir = test.create_tempdir().full_path
  summary = train.run(config, test.create_tempdir().full_path)
  test.assertEqual(summary["steps"], 2)
  test.assertTrue(np.isfinite(summary["final"]["test"]["loss"]))
  return summary


@functools.lru_cache(maxsize=None)
def _mnist1d_cache() -> str:
  """One MNIST-1D cache per test process (generating it takes seconds)."""
  path = tempfile.mkdtemp(prefix="mnist1d_cfg_")
  atexit.register(shutil.rmtree, path, ignore_errors=True)
  return path


class MNIST1DConfigTest(parameterized.TestCase):

  @property
  def cache(self) -> str:
    return _mnist1d_cache()

  def test_every_registered_layer_has_settings(self):
    for layer in zoo.layer_names():
      c = load_config("mnist1d.py", f"layer={layer}")
      self.assertEqual((c.data.task, c.model.layer), ("mnist1d", layer))
      self.assertEqual((c.train.num_steps, c.data.global_batch_size),
                       (3000, 64))

  @parameterized.parameters(*zoo.layer_names())
  def test_every_layer_builds_a_classifier(self, layer):
    # Given the smoke config of each layer on the real MNIST-1D spec.
    c = load_config("mnist1d.py", f"layer={layer},smoke")
    task = zoo.get_task("mnist1d", cache_dir=self.cache)
    model = train.build_model(c, task.spec)
    batch = train.first_rows(task.train, 8)
    # When traced (shapes only), then it emits 10 logits per example.
    rng = jax.random.PRNGKey(0)
    out = jax.eval_shape(
        lambda r, b: model.apply(*model.init(r, b, is_training=True), r, b,
                                 is_training=True)[0], rng, batch)
    self.assertEqual(out.shape, (8, 10))

  @parameterized.parameters("gru", "spiking_ssm")
  def test_a_recurrent_and_a_spiking_layer_trace_a_training_step(self, layer):
    # (MNIST1DTableTest trains S5 end to end on this config.)
    c = load_config("mnist1d.py", f"layer={layer},smoke")
    trace_training_step(self, c, cache_dir=self.cache)

  def test_seed_argument_and_bad_layer(self):
    self.assertEqual(load_config("mnist1d.py", "seed=3").seed, 3)
    with self.assertRaisesRegex(ValueError,
                                "registered backbone layer.*'cnn'"):
      load_config("mnist1d.py", "layer=cnn")


class SeqImageConfigTest(parameterized.TestCase):

  def _fixture_root(self, task):
    root = self.create_tempdir().full_path
    if task == "scifar":
      fixtures.write_cifar(root, per_batch=8, num_test=8)
    else:
      fixtures.write_mnist(root, num_train=40, num_test=8, gzipped=True)
    return root

  # Every model and every task at least once.
  @parameterized.parameters(("s5", "psmnist"), ("s4d", "scifar"),
                            ("spiking_ssm", "smnist"),
                            ("spiking_ssm", "scifar"))
  def test_smoke_traces_a_training_step_on_fixture_files(self, model, task):
    c = load_config("seq_image.py", f"model={model},task={task},smoke")
    trace_training_step(self, c, root=self._fixture_root(task))

  def test_smoke_trains_two_steps_on_fixture_files(self):
    summary = _train_two_steps(
        self, load_config("seq_image.py", "model=s5,task=psmnist,smoke"),
        self._fixture_root("psmnist"))
    self.assertEqual(summary["task"], "psmnist")

  def test_psmnist_uses_the_papers_bitreversal_permutation(self):
    for model in ("s5", "s4d", "spiking_ssm"):
      c = load_config("seq_image.py", f"model={model},task=psmnist")
      self.assertEqual(c.data.options.permutation, "bitreversal")

  @parameterized.parameters("smnist", "psmnist", "scifar")
  def test_s4d_minimal_cifar_values(self, task):
    # state-spaces/s4 configs/experiment/cifar/s4d-minimal-cifar.yaml.
    c = load_config("seq_image.py", f"model=s4d,task={task}")
    m, kw = c.model, c.model.layer_kwargs
    self.assertEqual((m.num_layers, m.width, m.norm, m.prenorm, m.dropout,
                      m.glu), (4, 128, "layer", False, 0.1, "full_glu"))
    self.assertEqual((kw.state_size, kw.init, kw.bidirectional),
                     (64, "lin", False))
    self.assertEqual((c.optim.lr, c.optim.ssm_lr, c.optim.weight_decay,
                      c.optim.warmup_steps), (0.01, 1e-3, 0.01, 1000))
    self.assertEqual((c.data.global_batch_size, c.train.num_steps),
                     (50, 90_000))

  @parameterized.parameters(
      # task, depth, width, bidirectional, steps, warmup: SDN configs.
      ("smnist", 2, 400, False, 90_000, 1000),
      ("psmnist", 4, 256, False, 90_000, 1000),
      ("scifar", 6, 512, True, 180_000, 18_000))
  def test_spiking_ssm_sdn_values(self, task, depth, width, bidirectional,
                                  steps, warmup):
    c = load_config("seq_image.py", f"model=spiking_ssm,task={task}")
    kw = c.model.layer_kwargs
    self.assertEqual((c.model.num_layers, c.model.width, c.model.prenorm,
                      c.model.glu), (depth, width, False, "none"))
    self.assertEqual((kw.state_size, kw.bidirectional, kw.dropout, kw.tau,
                      kw.vth_init, kw.mode, kw.eval_mode),
                     (64, bidirectional, 0.1, 0.125, 1.0, "sdn",
                      "iterative"))
    self.assertEqual((c.optim.lr, c.optim.ssm_lr, c.optim.weight_decay),
                     (0.01, 1e-3, 0.01))
    self.assertEqual((c.train.num_steps, c.optim.warmup_steps,
                      c.data.global_batch_size), (steps, warmup, 50))

  @parameterized.parameters("smnist", "psmnist", "scifar")
  def test_s5_lra_cifar_script_values(self, task):
    # lindermanlab/S5 bin/run_experiments/run_lra_cifar.sh.
    c = load_config("seq_image.py", f"model=s5,task={task}")
    m, kw = c.model, c.model.layer_kwargs
    self.assertEqual((m.num_layers, m.width, m.norm, m.prenorm, m.glu,
                      m.dropout), (6, 512, "batch", True, "half_glu1", 0.1))
    self.assertEqual((kw.state_size, kw.blocks, kw.c_init, kw.clip_eigs,
                      kw.bidirectional),
                     (384, 3, "lecun_normal", True, task == "scifar"))
    self.assertTrue(math.isclose(c.optim.lr, 4.5e-3))
    self.assertEqual((c.optim.ssm_lr, c.optim.weight_decay,
                      c.data.global_batch_size, c.train.num_epochs),
                     (1e-3, 0.07, 50, 250))
    train_size = 45_000 if task == "scifar" else 54_000
    self.assertEqual(c.optim.warmup_steps, train_size // 50)

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, "model must be one of"):
      load_config("seq_image.py", "model=s4")
    with self.assertRaisesRegex(ValueError, "task must be one of"):
      load_config("seq_image.py", "task=cifar")


class SHDConfigTest(parameterized.TestCase):

  def test_spiking_ssm_smoke_traces_a_training_step(self):
    root = self.create_tempdir().full_path
    fixtures.write_shd(root, num_train=40, num_test=8)
    trace_training_step(self, load_config("shd.py", "model=spiking_ssm,smoke"),
                        root=root)

  def test_lif_smoke_trains_two_steps_on_fixture_files(self):
    root = self.create_tempdir().full_path
    fixtures.write_shd(root, num_train=40, num_test=8)
    summary = _train_two_steps(self, load_config("shd.py", "model=lif,smoke"),
                               root)
    self.assertEqual(summary["task"], "shd")

  def test_lif_baseline_is_a_feed_forward_lif_network(self):
    c = load_config("shd.py", "model=lif")
    self.assertEqual((c.model.layer, c.model.glu, c.model.neuron.kind),
                     ("dense", "none", "lif"))
    self.assertEqual(load_config("shd.py", "model=spiking_ssm").model.layer,
                     "spiking_ssm")
    with self.assertRaisesRegex(ValueError, "model must be one of"):
      load_config("shd.py", "model=alif")


class MNIST1DTableTest(absltest.TestCase):

  def test_tunes_trains_seeds_and_renders_next_to_the_baselines(self):
    # Given smoke-sized runs of S5 on two seeds and an unknown model.
    tmp = self.create_tempdir().full_path
    mnist1d_table.main([
        "--smoke", "--models=s5,no_such_layer", "--seeds=0,1", "--lrs=4e-3",
        f"--cache_dir={_mnist1d_cache()}", f"--workdir={tmp}/w",
        f"--json={tmp}/m.json", f"--out={tmp}/M.md"])
    # Then S5 has a tuning trial and one run per seed, the unknown model an
    # error, and the report both, with every published baseline.
    db = json.loads(pathlib.Path(f"{tmp}/m.json").read_text())
    s5 = db["results"]["s5"]
    self.assertLen(s5["trials"], 1)
    self.assertEqual([r["seed"] for r in s5["runs"]], [0, 1])
    self.assertEqual(s5["runs"][0]["steps"], 2)
    self.assertIn("error", db["results"]["no_such_layer"])
    md = pathlib.Path(f"{tmp}/M.md").read_text()
    self.assertIn("| s5 |", md)
    for name, _ in mnist1d_table.PUBLISHED:
      self.assertIn(f"| {name} |", md)
    self.assertIn("Below the published GRU (91%): s5", md)
    # And a note can be added without training again.
    mnist1d_table.main(["--render_only", "--note=Reading: x",
                        f"--json={tmp}/m.json", f"--out={tmp}/M.md"])
    self.assertIn("Reading: x", pathlib.Path(f"{tmp}/M.md").read_text())


if __name__ == "__main__":
  absltest.main()
