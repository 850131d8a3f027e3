"""SpikingSSM / LoongSpike LRA configs: S4D's published values, the soma.

(The shared demo / smoke / bad-argument checks are in
`lra_configs_test.py`; `train_test.py` trains every smoke variant.)
"""

import importlib.util

from absl.testing import absltest
from absl.testing import parameterized

from spike_ssm import config_lib
from tests.training.train_test import load_config
from tests.training.train_test import ROOT

NAMES = ("spiking_ssm_lra.py", "loongspike_lra.py")


class SpikingLRAConfigTest(parameterized.TestCase):

  @parameterized.parameters(
      # task, depth, width, norm, prenorm, dropout, lr, batch, epochs, wd
      ("listops", 8, 128, "batch", False, 0.0, 0.01, 50, 40, 0.05),
      ("text", 6, 256, "batch", True, 0.0, 0.01, 16, 32, 0.05),
      ("retrieval", 6, 256, "batch", True, 0.0, 0.01, 64, 20, 0.05),
      ("image", 6, 512, "layer", False, 0.1, 0.01, 50, 200, 0.05),
      ("pathfinder", 6, 256, "batch", True, 0.0, 0.004, 64, 200, 0.03),
      ("pathx", 6, 256, "batch", True, 0.0, 5e-4, 16, 50, 0.05),
  )
  def test_s4d_published_values(self, task, depth, width, norm, prenorm,
                                dropout, lr, batch, epochs, wd):
    # Given the SpikingSSM config of a task, then S4D's LRA settings hold.
    c = load_config("spiking_ssm_lra.py", f"task={task}")
    self.assertEqual((c.model.num_layers, c.model.width, c.model.norm,
                      c.model.prenorm), (depth, width, norm, prenorm))
    self.assertEqual(c.model.layer_kwargs.dropout, dropout)
    self.assertEqual((c.optim.lr, c.optim.weight_decay), (lr, wd))
    self.assertEqual((c.data.global_batch_size, c.train.num_epochs),
                     (batch, epochs))
    self.assertEqual(c.optim.warmup_steps,
                     config_lib.LRA_TRAIN_SIZES[task] // batch)
    self.assertEqual(c.model.layer_kwargs.state_size, 64)
    self.assertEqual(c.model.layer_kwargs.dt_min,
                     1e-4 if task == "pathx" else 1e-3)

  @parameterized.parameters(*NAMES)
  def test_spiking_soma_settings(self, name):
    # Every task trains through the SDN and evaluates the exact LIF, with
    # SpikingSSM's neuron, and the layer's own GLU (none in the backbone).
    for task in config_lib.LRA_TASKS:
      kw = load_config(name, f"task={task}").model.layer_kwargs
      self.assertEqual((kw.mode, kw.eval_mode, kw.tau, kw.vth_init,
                        kw.surrogate, kw.glu, kw.bidirectional),
                       ("sdn", "iterative", 0.125, 1.0, "triangular", True,
                        True))
    self.assertEqual(load_config(name).model.glu, "none")

  @parameterized.parameters(*config_lib.LRA_TASKS)
  def test_loongspike_is_spiking_ssm_plus_its_terms(self, task):
    # Given both configs of a task, then only the layer and its
    # sum-of-exponentials arguments differ.
    s = load_config("spiking_ssm_lra.py", f"task={task}").to_dict()
    l = load_config("loongspike_lra.py", f"task={task}").to_dict()
    self.assertEqual((s["model"].pop("layer"), l["model"].pop("layer")),
                     ("spiking_ssm", "loongspike"))
    extra = {k: l["model"]["layer_kwargs"].pop(k)
             for k in ("num_terms", "omega_init", "eta_init")}
    self.assertEqual(extra["num_terms"], 2)
    self.assertEqual(tuple(extra["omega_init"]), (0.0, 0.1))
    self.assertEqual(tuple(extra["eta_init"]), (1.0, 0.1))
    self.assertEqual(s, l)

  def test_make_config_rejects_other_layers(self):
    spec = importlib.util.spec_from_file_location(
        "cfg_spiking_ssm_lra_module", ROOT / "configs" / "spiking_ssm_lra.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with self.assertRaisesRegex(ValueError, "layer must be"):
      module.make_config("s4d", None)

if __name__ == "__main__":
  absltest.main()
