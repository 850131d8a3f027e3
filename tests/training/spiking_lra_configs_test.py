"""SpikingSSM / LoongSpike LRA configs: the soma, the shared builder.

(Every per-task value is compared with its released table in
`tests/configs_tables_test.py`. The shared demo / smoke / bad-argument checks are in
`lra_configs_test.py`; `train_test.py` trains every smoke variant.)
"""

import importlib.util

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import config_lib
from spike_ssm import zoo
from spike_ssm.neurons import sdn
from tests.training.train_test import load_config
from tests.training.train_test import ROOT

NAMES = ("spiking_ssm_lra.py", "loongspike_lra.py")


class SpikingLRAConfigTest(parameterized.TestCase):

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
    # Given both configs of a task, then besides the layer and its
    # sum-of-exponentials arguments they share everything but the values
    # their released tables give differently (compared with the tables in
    # tests/configs_tables_test.py).
    s = load_config("spiking_ssm_lra.py", f"task={task}").to_dict()
    l = load_config("loongspike_lra.py", f"task={task}").to_dict()
    self.assertEqual((s["model"].pop("layer"), l["model"].pop("layer")),
                     ("spiking_ssm", "loongspike"))
    for k in ("num_terms", "omega_init", "eta_init"):
      l["model"]["layer_kwargs"].pop(k)
    may_differ = {("data", "global_batch_size"), ("optim", "lr"),
                  ("optim", "warmup_steps"), ("optim", "schedule_steps"),
                  ("layer_kwargs", "state_size"), ("layer_kwargs", "dt_max"),
                  ("train", "eval_every"), ("train", "ckpt_every")}
    for section, key in may_differ:
      parent = "model" if section == "layer_kwargs" else None
      for d in (s, l):
        (d[parent][section] if parent else d[section]).pop(key)
    self.assertEqual(s, l)

  @parameterized.parameters(*NAMES)
  def test_released_switches_on_the_four_quirks_and_nothing_else(
      self, name):
    for arg in ("task=image", "demo"):
      # Given a config with and without `released`.
      paper = load_config(name, arg).to_dict()
      released = load_config(name, arg + ",released").to_dict()
      # Then the post-norm is discarded, dropout runs twice, evaluation
      # uses the SDN and the SDN is the released network, where the default
      # follows the paper.
      def quirks(c):
        kw = c["model"]["layer_kwargs"]
        return (c["model"].pop("discard_postnorm"), kw.pop("dropout_twice"),
                kw.pop("eval_mode"), kw.pop("sdn_topology"))

      self.assertEqual(quirks(released), (True, True, "sdn", "released"))
      self.assertEqual(quirks(paper), (False, False, "iterative", "paper"))
      # And nothing else changes (the packaged weights of the topology are
      # used: no weights path is set).
      self.assertEqual(released, paper)
      self.assertIsNone(paper["model"]["layer_kwargs"]["sdn_weights"])

  @parameterized.parameters(*NAMES)
  def test_released_layer_runs_the_packaged_released_sdn(self, name):
    # Given the `released` smoke config's layer (no weights path set).
    kw = load_config(name, "smoke,released").model.layer_kwargs.to_dict()
    layer = load_config(name, "smoke,released").model.layer
    box = {}

    def build(x):
      module = zoo.layer_factory(layer, **kw)()
      box["weights"] = module.sdn_weights
      return module(x, is_training=False)

    # When it is built and evaluated (shapes only).
    jax.eval_shape(hk.transform_with_state(build).init,
                   jax.random.PRNGKey(0),
                   jax.ShapeDtypeStruct((1, 4, 2), jnp.float32))
    # Then its soma holds the packaged weights of the released topology.
    want = sdn.load_pretrained_sdn(kw["tau"], "released")
    self.assertEqual(kw["sdn_topology"], "released")
    for n in sdn.WEIGHT_NAMES:
      np.testing.assert_array_equal(box["weights"][n], want[n])

  def test_make_config_rejects_other_layers(self):
    spec = importlib.util.spec_from_file_location(
        "cfg_spiking_ssm_lra_module", ROOT / "configs" / "spiking_ssm_lra.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with self.assertRaisesRegex(ValueError, "layer must be"):
      module.make_config("s4d", None)

if __name__ == "__main__":
  absltest.main()
