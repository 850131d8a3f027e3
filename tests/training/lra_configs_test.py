"""The LRA configs: released Transformer values, shared presets, bad args.

(Every config's smoke variant is trained by `train_test.py`.)
"""

import math

from absl.testing import absltest
from absl.testing import parameterized

from configs.tables import lra_transformer as tables_lra
from spike_ssm import config_lib
from spike_ssm import zoo
from tests.training.train_test import load_config

LRA_CONFIGS = ("s5_lra.py", "transformer_lra.py", "lstm_lra.py",
               "gru_lra.py", "s4d_lra.py", "s4_lra.py", "lru_lra.py",
               "mamba_lra.py", "spiking_ssm_lra.py", "loongspike_lra.py",
               "chunked_lra.py")


class TransformerLRAConfigTest(parameterized.TestCase):
  """transformer_lra.py against LRA's released table (configs/tables)."""

  @parameterized.parameters(*config_lib.LRA_TASKS)
  def test_values_are_the_released_tables(self, task):
    row = tables_lra.TASKS[task]
    c = load_config("transformer_lra.py", f"task={task}")
    kw = c.model.layer_kwargs
    self.assertEqual((c.model.layer, c.model.num_layers, c.model.width),
                     ("transformer", row["num_layers"], row["width"]))
    self.assertEqual(
        (kw.num_heads, kw.qkv_dim, kw.ffn_multiplier * row["width"]),
        (row["num_heads"], row["qkv_dim"], row["mlp_dim"]))
    self.assertEqual((kw.dropout, kw.attention_dropout),
                     (row["dropout"], row["attention_dropout"]))
    self.assertEqual(c.model.positions, row["positions"])
    self.assertEqual(c.data.global_batch_size, row["batch_size"])
    for key in ("weight_decay", "b1", "b2", "eps", "grad_clip"):
      self.assertEqual(c.optim[key], row[key], msg=key)
    self.assertEqual(c.optim.warmup_steps, row["warmup"])
    self.assertEqual(c.optim.schedule_steps, row.get("schedule_steps"))
    # The layer is the whole pre-LN block, so the backbone adds nothing.
    self.assertEqual((c.model.norm, c.model.glu), ("none", "none"))
    if "rsqrt" in row["schedule"]:
      # c * min(1, t/W) / sqrt(max(t, W)): its value at the warmup's end
      # (or at the last step, if the run ends first) is the peak; the
      # cosine ends at the rsqrt's final value.
      c0, w, s = row["lr"], row["warmup"], row["steps"]
      self.assertEqual(c.train.num_steps, s)
      self.assertAlmostEqual(c.optim.lr, c0 * min(1, s / w) / math.sqrt(w))
      self.assertAlmostEqual(c.optim.lr * c.optim.end_lr_ratio,
                             c0 * min(1, s / w) / math.sqrt(max(s, w)))
    else:
      self.assertEqual(c.train.num_epochs, row["epochs"])
      self.assertEqual((c.optim.lr, c.optim.end_lr_ratio), (row["lr"], 0.0))
      self.assertTrue(c.data.options.tokenize)
      # LRA's cycle is the run: epochs of len(train) // batch steps.
      self.assertEqual(
          row["schedule_steps"],
          row["epochs"] * (config_lib.LRA_TRAIN_SIZES[task] //
                           row["batch_size"]))

  def test_retrieval_schedule_never_leaves_warmup(self):
    # Warmup 8000 > 5000 steps: LRA's rate only rises, so ours is constant.
    c = load_config("transformer_lra.py", "task=retrieval")
    self.assertEqual(c.optim.end_lr_ratio, 1.0)


class RecurrentLRAConfigTest(parameterized.TestCase):

  @parameterized.product(name=("lstm", "gru"),
                         task=config_lib.LRA_TASKS)
  def test_every_task_loads(self, name, task):
    c = load_config(f"{name}_lra.py", f"task={task}")
    self.assertEqual(c.model.layer, name)
    self.assertTrue(c.model.layer_kwargs.bidirectional)
    self.assertEqual(c.model.positions, "none")
    transformer = load_config("transformer_lra.py", f"task={task}")
    # The same batch and training length as LRA's Transformer.
    self.assertEqual(c.data.global_batch_size,
                     transformer.data.global_batch_size)
    self.assertEqual((c.train.num_steps, c.train.num_epochs),
                     (transformer.train.num_steps,
                      transformer.train.num_epochs))


class SharedPresetsTest(parameterized.TestCase):

  @parameterized.parameters(*LRA_CONFIGS)
  def test_demo_is_the_shared_generated_listops(self, name):
    c = load_config(name, "demo")
    self.assertEqual(c.data.task, "listops")
    self.assertEqual((c.data.options.num_train, c.data.options.max_length),
                     (6000, 100))
    self.assertEqual((c.model.num_layers, c.model.width), (3, 64))
    self.assertEqual(c.train.num_steps, 2000)

  @parameterized.parameters(*LRA_CONFIGS)
  def test_smoke_is_tiny(self, name):
    c = load_config(name, "smoke")
    self.assertEqual((c.model.num_layers, c.model.width), (1, 16))
    self.assertEqual((c.data.global_batch_size, c.train.num_steps), (8, 2))

  @parameterized.parameters(*LRA_CONFIGS)
  def test_bad_arguments(self, name):
    with self.assertRaisesRegex(ValueError, "task must be one of"):
      load_config(name, "task=mnist")
    with self.assertRaisesRegex(ValueError, "at most one of"):
      load_config(name, "demo,smoke")
    with self.assertRaisesRegex(ValueError, "listops only"):
      load_config(name, "task=text,demo")

  def test_recurrent_builder_rejects_other_layers(self):
    with self.assertRaisesRegex(ValueError, "layer must be"):
      config_lib.recurrent_lra_config(
          "transformer", config_lib.parse_lra_arg(None),
          task_options=zoo.task_options_config("listops"),
          layer_kwargs=zoo.layer_options_config("transformer"))


if __name__ == "__main__":
  absltest.main()


class ChunkedLRAConfigTest(parameterized.TestCase):

  @parameterized.parameters(*config_lib.LRA_TASKS)
  def test_every_block_is_s5_within_and_across_chunks(self, task):
    # Given the chunked config and S5's for the same task,
    c = load_config("chunked_lra.py", f"task={task}")
    s5 = load_config("s5_lra.py", f"task={task}")
    # then every block is ChunkedSSM(S5, S5) with S5's per-task layer,
    kw = c.model.layer_kwargs
    self.assertEqual((c.model.layer, kw.inner, kw.outer),
                     ("chunked", "s5", "s5"))
    s5_layer = s5.model.layer_kwargs.to_dict()
    self.assertEqual(kw.inner_kwargs.to_dict(), s5_layer)
    self.assertEqual(kw.outer_kwargs.to_dict(), s5_layer)
    self.assertTrue(kw.pad)
    # and everything but the layer is S5's config.
    for section in ("data", "optim", "train"):
      self.assertEqual(c[section].to_dict(), s5[section].to_dict(),
                       msg=section)
    self.assertEqual(c.model.num_layers, s5.model.num_layers)

  def test_config_stays_locked(self):
    c = load_config("chunked_lra.py", "smoke")
    with self.assertRaises(AttributeError):
      c.model.layer_kwargs.chunk_sizee = 3
