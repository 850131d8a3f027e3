"""Tests for benchmarks/fidelity.py: the commands it runs and its report."""

from absl.testing import absltest

from benchmarks import fidelity


class CommandTest(absltest.TestCase):

  def test_earlier_recipe_sends_only_keys_the_config_has(self):
    keys = {"model.pooling", "optim.grouping", "seed"}
    released = fidelity.command("s5", "released", 1, "/w", None, keys)
    earlier = fidelity.command("s5", "earlier", 1, "/w", 8, keys)
    self.assertIn("--config=configs/s5_lra.py:demo", released)
    self.assertIn("--config.seed=1", released)
    self.assertFalse([a for a in released if a.startswith("--config.model")])
    self.assertIn("--config.model.pooling=mean", earlier)
    self.assertIn("--config.optim.grouping=standard", earlier)
    self.assertNotIn("--config.model.token_encoder=embed", earlier)
    self.assertIn("--config.train.num_steps=8", earlier)
    self.assertIn("--config.train.eval_every=2", earlier)

  def test_every_model_has_a_config_and_an_earlier_recipe(self):
    self.assertEqual(set(fidelity.EARLIER), set(fidelity.MODELS))
    for model in fidelity.MODELS:
      self.assertTrue((fidelity.ROOT / "configs" / f"{model}_lra.py").exists())


class RenderTest(absltest.TestCase):

  def test_mean_spread_and_failures(self):
    runs = [
        dict(model="s5", recipe="released", seed=0, seconds=10.0, test=0.40,
             validation=0.5, train_loss=1.5),
        dict(model="s5", recipe="released", seed=1, seconds=12.0, test=0.50,
             validation=0.6, train_loss=1.3),
        dict(model="s5", recipe="earlier", seed=0, seconds=9.0,
             error="Traceback ...\nValueError: boom"),
    ]
    text = fidelity.render({"runs": runs})
    # Mean 45.0, sample standard deviation of (40, 50) = 7.07.
    self.assertIn("| s5 | released | 2/2 | 45.0 ± 7.1% | 55.0% | 1.400 | 11 |",
                  text)
    self.assertIn("| s5 | earlier | 0/1 | failed |", text)
    self.assertIn("ValueError: boom", text)

  def test_bad_arguments_are_one_line_errors(self):
    for argv, message in ((["--models=s9"], "--models"),
                          (["--seeds=a"], "--seeds"),
                          (["--jobs=0"], "--jobs"),
                          (["--recipes=paper"], "--recipes")):
      with self.assertRaises(SystemExit) as cm:
        with absltest.mock.patch("sys.stderr") as err:
          fidelity.main(argv)
      self.assertEqual(cm.exception.code, 2)
      written = "".join(c.args[0] for c in err.write.call_args_list)
      self.assertIn(message, written)


if __name__ == "__main__":
  absltest.main()
