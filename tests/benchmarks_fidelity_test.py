"""Tests for benchmarks/fidelity.py: the commands it runs and its report."""

from absl.testing import absltest

from benchmarks import fidelity


class ConfigTest(absltest.TestCase):

  def test_released_is_the_demo_and_earlier_sets_the_choices_back(self):
    released = fidelity.build_config("s5", "released", 1, None)
    earlier = fidelity.build_config("s5", "earlier", 1, 8)
    demo = fidelity._load_config("s5")  # pylint: disable=protected-access
    self.assertEqual(released.seed, 1)
    self.assertEqual(released.model, demo.model)
    self.assertEqual(released.optim, demo.optim)
    self.assertEqual(released.model.token_encoder, "onehot_dense")
    for key, value in fidelity.EARLIER["s5"].items():
      section, _, name = key.rpartition(".")
      self.assertEqual(earlier[section][name], value, msg=key)
    self.assertEqual(earlier.train.num_steps, 8)
    self.assertEqual(earlier.train.eval_every, 2)
    # Mamba's config has no optimiser grouping to set back.
    self.assertFalse(fidelity._has_key(  # pylint: disable=protected-access
        fidelity.build_config("mamba", "earlier", 0, None), "optim.nope"))

  def test_command_runs_this_module_on_one_job(self):
    cmd = fidelity.command("s4", "earlier", 2, "/w", None)
    self.assertEqual(cmd[1:3], ["-m", "benchmarks.fidelity"])
    self.assertIn('"recipe": "earlier"', cmd[3])

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
