"""The zoo configs: the LRU / Mamba recipes, the synthetic config, the
comparison script's plumbing (S4, S4D and the other released recipes are
compared with their tables in tests/configs_tables_test.py).

(Every config's smoke variant is trained by `train_test.py`; the shared LRA
presets and bad arguments by `lra_configs_test.py`.)
"""

import json
import math

from absl.testing import absltest
from absl.testing import parameterized
import jax

from benchmarks import zoo_compare
from experiments import train
from spike_ssm import config_lib
from spike_ssm import zoo
from tests.training import train_test
from tests.training.train_test import load_config


class LRULRAConfigTest(parameterized.TestCase):

  @parameterized.parameters(*config_lib.LRA_TASKS)
  def test_sizes_and_training_are_s5s(self, task):
    c = load_config("lru_lra.py", f"task={task}")
    s5 = load_config("s5_lra.py", f"task={task}")
    self.assertEqual(c.model.layer, "lru")
    for key in ("num_layers", "width", "norm", "prenorm", "glu", "dropout"):
      self.assertEqual(c.model[key], s5.model[key], msg=key)
    self.assertEqual(c.model.layer_kwargs.state_size,
                     s5.model.layer_kwargs.state_size)
    for key in ("lr", "ssm_lr", "weight_decay", "warmup_steps",
                "warmup_epochs", "b1", "b2", "eps"):
      self.assertEqual(c.optim[key], s5.optim[key], msg=key)
    self.assertEqual((c.data.global_batch_size, c.train.num_epochs),
                     (s5.data.global_batch_size, s5.train.num_epochs))

  @parameterized.parameters(
      # task, r_min, r_max, max_phase: the LRU paper's ring.
      ("listops", 0.9, 0.999, 2 * math.pi),
      ("image", 0.9, 0.999, 2 * math.pi),
      ("pathfinder", 0.9, 0.999, math.pi / 10),
      ("pathx", 0.999, 0.9999, math.pi / 10),
  )
  def test_eigenvalue_ring(self, task, r_min, r_max, max_phase):
    kw = load_config("lru_lra.py", f"task={task}").model.layer_kwargs
    self.assertEqual((kw.r_min, kw.r_max), (r_min, r_max))
    self.assertAlmostEqual(kw.max_phase, max_phase)


class MambaLRAConfigTest(parameterized.TestCase):

  @parameterized.parameters(*config_lib.LRA_TASKS)
  def test_depth_width_and_data_budget_are_s4ds(self, task):
    c = load_config("mamba_lra.py", f"task={task}")
    s4d = load_config("s4d_lra.py", f"task={task}")
    self.assertEqual((c.model.layer, c.model.glu, c.model.norm),
                     ("mamba", "none", "layer"))
    self.assertEqual((c.model.num_layers, c.model.width),
                     (s4d.model.num_layers, s4d.model.width))
    self.assertEqual((c.data.global_batch_size, c.train.num_epochs),
                     (s4d.data.global_batch_size, s4d.train.num_epochs))
    self.assertEqual(c.optim.lr, c.optim.ssm_lr)
    self.assertEqual((c.optim.weight_decay, c.optim.grad_clip), (0.1, 1.0))
    self.assertEqual(c.model.layer_kwargs.state_size, 16)


class SyntheticConfigTest(parameterized.TestCase):

  @parameterized.parameters(*zoo.layer_names())
  def test_every_zoo_layer_builds_a_sequence_model(self, layer):
    # Given the synthetic config with each zoo layer.
    c = load_config("synthetic.py", f"layer={layer},smoke")
    task = zoo.get_task(c.data.task, seed=0, **c.data.options.to_dict())
    model = train.build_model(c, task.spec)
    batch = train.first_rows(task.train, 8)
    # When the model is traced (shapes only).
    rng = jax.random.PRNGKey(0)
    out = jax.eval_shape(
        lambda r, b: model.apply(*model.init(r, b, is_training=True), r, b,
                                 is_training=True)[0], rng, batch)
    # Then it emits per-position logits over the vocabulary.
    self.assertEqual(out.shape, (8, task.spec.seq_len,
                                 task.spec.num_classes))

  def test_defaults(self):
    c = load_config("synthetic.py")
    self.assertEqual((c.data.task, c.model.layer), ("selective_copy", "s5"))
    self.assertFalse(c.model.layer_kwargs.bidirectional)
    transformer = load_config("synthetic.py", "layer=transformer")
    self.assertTrue(transformer.model.layer_kwargs.causal)

  # selective_copy, the default task, is the synthetic.py smoke run that
  # train_test.ConfigsTrainTest traces.
  @parameterized.parameters("mqar", "induction_heads", "adding")
  def test_every_other_task_traces_a_training_step(self, task):
    c = load_config("synthetic.py", f"task={task},smoke")
    train_test.trace_training_step(self, c)

  def test_bad_task_and_layer(self):
    with self.assertRaisesRegex(ValueError, "task must be one of"):
      load_config("synthetic.py", "task=copying")
    with self.assertRaisesRegex(ValueError,
                                "registered backbone layer.*'mamba2'"):
      load_config("synthetic.py", "layer=mamba2")


class ZooCompareTest(absltest.TestCase):

  def test_runs_one_model_of_each_part_and_skips_missing_configs(self):
    # Given smoke-sized runs of one model per part and a missing config.
    tmp = self.create_tempdir().full_path
    argv = ["--smoke", "--models=s5,no_such_model", f"--workdir={tmp}/w",
            f"--json={tmp}/zoo.json", f"--out={tmp}/ZOO.md"]
    # When the script runs.
    zoo_compare.main(argv)
    # Then S5 trained in both parts, the missing config was skipped, the
    # bad copy layer was recorded as an error, and the report has both.
    db = json.loads(open(f"{tmp}/zoo.json").read())
    self.assertEqual(db["listops"]["results"]["s5"]["steps"], 2)
    self.assertEqual(db["listops"]["skipped"], ["no_such_model"])
    self.assertEqual(db["copy"]["results"]["s5"]["steps"], 2)
    self.assertIn("error", db["copy"]["results"]["no_such_model"])
    md = open(f"{tmp}/ZOO.md").read()
    self.assertIn("| s5 |", md)
    self.assertIn("Skipped (config file not present", md)
    # And a note can be added afterwards without training again.
    zoo_compare.main(["--render_only", "--part=copy", "--note=Reading: x",
                      f"--json={tmp}/zoo.json", f"--out={tmp}/ZOO.md"])
    self.assertIn("Reading: x", open(f"{tmp}/ZOO.md").read())


if __name__ == "__main__":
  absltest.main()
