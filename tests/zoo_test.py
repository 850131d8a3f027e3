"""Tests for spike_ssm.zoo: names, typed options, factories, tasks."""

import inspect
import typing

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
from ml_collections import config_dict
import numpy as np

from spike_ssm import neurons
from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.models import backbone

B, T, D = 2, 8, 3

# Small options for every zoo layer (shared by the base and optimiser tests).
SMALL_OPTIONS = {
    "s5": dict(state_size=4),
    "lru": dict(state_size=4),
    "s4d": dict(state_size=4),
    "s4": dict(state_size=4),
    "mamba": dict(state_size=3),
    "mamba_core": dict(state_size=3),
    "spiking_ssm": dict(state_size=4, mode="iterative"),
    "loongspike": dict(state_size=4, mode="iterative"),
    "chunked": dict(inner="lru", outer="s5", chunk_size=2,
                    inner_kwargs=dict(state_size=2),
                    outer_kwargs=dict(state_size=2)),
    "raven": dict(num_slots=2, slot_dim=2),
    "transformer": dict(num_heads=1),
    "lstm": dict(hidden_size=4),
    "gru": dict(hidden_size=4),
    "dense": dict(),
}


def backbone_model(layer, neuron=None, **options):
  """A 2-block backbone of zoo layer `layer` (options: `SMALL_OPTIONS`)."""
  options = dict(SMALL_OPTIONS[layer], **options)

  def forward(x):
    body = backbone.SequenceBackbone(
        zoo.layer_factory(layer, **options), 2, D,
        neuron=zoo.neuron_factory(**(neuron or {})))
    return body(x, jnp.ones(x.shape[:2]), is_training=False)
  return hk.transform_with_state(forward)


class LayerTableTest(parameterized.TestCase):

  def test_names_cover_the_table_and_the_tests(self):
    self.assertEqual(set(zoo.layer_names()), set(zoo.LAYERS))
    self.assertEqual(set(zoo.layer_names()), set(SMALL_OPTIONS))

  def test_unknown_layer_lists_the_valid_names(self):
    with self.assertRaisesRegex(ValueError,
                                r"Unknown sequence layer 'mamba2'.*'s5'"):
      zoo.layer_factory("mamba2")
    with self.assertRaisesRegex(ValueError, "Unknown sequence layer 3"):
      zoo.layer_class(3)

  def test_unknown_and_missing_options(self):
    with self.assertRaisesRegex(
        ValueError, r"Unknown option\(s\) \['size'\] for layer 's5'; valid "
        r"options are \[.*'state_size'"):
      zoo.layer_factory("s5", size=4)
    with self.assertRaisesRegex(ValueError,
                                r"layer 's5' needs the option\(s\) "
                                r"\['state_size'\]"):
      zoo.layer_factory("s5")

  def test_tables_are_read_only(self):
    with self.assertRaises(TypeError):
      zoo.LAYERS["s6"] = zoo.LAYERS["s5"]

  def test_options_carry_the_signatures_types_and_defaults(self):
    s5 = zoo.layer_options("s5")
    self.assertEqual((s5["state_size"].type, s5["state_size"].default),
                     (int, zoo.Option.REQUIRED))
    self.assertEqual((s5["dt_min"].type, s5["dt_min"].default), (float, 1e-3))
    self.assertEqual((s5["chunk_size"].type, s5["chunk_size"].optional),
                     (int, True))
    self.assertNotIn("name", s5)
    mamba = zoo.layer_options("mamba")
    self.assertEqual(mamba["dt_rank"].type, typing.Union[int, str])
    self.assertIsNone(mamba["dt_rank"].simple_type)
    # LoongSpike forwards **kwargs to SpikingSSM: both sets of options.
    loong = zoo.layer_options("loongspike")
    self.assertContainsSubset({"num_terms", "omega_init", "tau", "glu"},
                              loong)
    # The zoo's own defaults: spiking layers record their rate.
    self.assertTrue(loong["record_rate"].default)
    # pylint: disable-next=protected-access
    class_options = zoo._read_options(ssm.SpikingSSM)
    self.assertFalse(class_options["record_rate"].default)

  @parameterized.parameters(*sorted(SMALL_OPTIONS))
  def test_every_option_is_typed(self, name):
    for option in zoo.layer_options(name).values():
      self.assertIsNot(option.type, typing.Any, msg=option.name)

  def test_unannotated_options_are_refused(self):
    class Untyped(hk.Module):

      def __init__(self, size, name=None):
        super().__init__(name=name)
        self.size = size

    with self.assertRaisesRegex(TypeError, "`size` has no type annotation"):
      zoo._read_options(Untyped)  # pylint: disable=protected-access

  def test_layer_options_config_types_its_placeholders(self):
    c = zoo.layer_options_config("lstm", hidden_size=None,
                                 bidirectional=True)
    self.assertIsNone(c.hidden_size)
    self.assertTrue(c.bidirectional)
    c.hidden_size = 256
    with self.assertRaises(TypeError):
      c.hidden_size = "wide"
    with self.assertRaisesRegex(ValueError, r"\['hiden_size'\]"):
      zoo.layer_options_config("lstm", hiden_size=None)
    with self.assertRaisesRegex(TypeError, "dt_rank.*give it a value"):
      zoo.layer_options_config("mamba", dt_rank=None)

  @parameterized.parameters(*sorted(SMALL_OPTIONS))
  def test_every_layer_builds_and_runs_in_a_backbone(self, name):
    # Given a 2-block backbone of the layer.
    fn = backbone_model(name)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(B, T, D)),
                    jnp.float32)
    # When it is initialised and applied (one compiled program).
    def init_and_apply(key, x):
      params, state = fn.init(key, x)
      return params, fn.apply(params, state, None, x)[0]
    params, y = jax.jit(init_and_apply)(jax.random.PRNGKey(0), x)
    # Then it maps (B, T, D) to (B, T, D), finite, with one layer per block
    # of the class the zoo names.
    self.assertEqual((y.shape, y.dtype), (x.shape, x.dtype))
    self.assertTrue(np.all(np.isfinite(y)))
    blocks = {k.split("/")[1] for k in params if k.startswith("sequence")}
    self.assertEqual(blocks, {"block_0", "block_1"})


class NeuronTableTest(parameterized.TestCase):

  def test_names(self):
    self.assertEqual(zoo.neuron_names(), ("none", "lif", "psu_lif"))
    self.assertIsNone(zoo.neuron_factory())
    self.assertIsNone(zoo.neuron_factory("none"))

  def test_bad_kinds_and_options(self):
    with self.assertRaisesRegex(ValueError,
                                r"Unknown neuron kind 'alif'.*'lif'"):
      zoo.neuron_factory("alif")
    with self.assertRaisesRegex(ValueError, r"\['beta'\]"):
      zoo.neuron_factory("none", beta=0.5)
    with self.assertRaisesRegex(ValueError, r"Unknown option\(s\) \['bta'\]"):
      zoo.neuron_factory("lif", bta=0.5)

  @hk.testing.transform_and_run
  def test_factory_builds_the_class_for_a_width(self):
    core = zoo.neuron_factory("psu_lif", beta=0.5)(4)
    self.assertIsInstance(core, neurons.PSU_LIF)
    self.assertEqual((core.hidden_shape, core.beta), ((4,), 0.5))

  @parameterized.parameters("lif", "psu_lif")
  def test_spiking_stage_runs_and_records_its_rate(self, kind):
    # Given an S5 backbone with a spiking stage after every layer.
    fn = backbone_model("s5", neuron=dict(kind=kind, beta=0.5))
    x = jnp.asarray(3 * np.random.default_rng(1).normal(size=(B, T, D)),
                    jnp.float32)
    params, state = jax.jit(fn.init)(jax.random.PRNGKey(0), x)
    y, state = jax.jit(fn.apply)(params, state, None, x)
    # Then each block recorded a spike rate in [0, 1], and some spiked.
    rates = [v["spike_rate"] for k, v in state.items() if "neuron" in k]
    self.assertLen(rates, 2)
    self.assertTrue(all(0.0 < float(r) <= 1.0 for r in rates))
    self.assertEqual(y.shape, x.shape)


class ModelOptionsTest(parameterized.TestCase):

  def test_every_constructor_argument_is_an_option_or_comes_from_elsewhere(
      self):
    # A new SequenceModel / SequenceBackbone argument becomes an option
    # without editing the zoo (or must be named as filled in elsewhere).
    for cls, target in ((backbone.SequenceModel, "model"),
                        (backbone.SequenceBackbone, "backbone")):
      args = set(inspect.signature(cls.__init__).parameters) - {"self",
                                                                  "name"}
      mine = {k for k, v in zoo.MODEL_OPTIONS.items() if v.target == target}
      self.assertContainsSubset(mine, args)
    self.assertContainsSubset(
        {"pooling", "token_encoder", "onehot_dim", "dropout_tied",
         "bn_momentum", "discard_postnorm", "norm", "prenorm", "glu",
         "dropout", "positions"}, zoo.model_options())
    self.assertNotIn("vocab_size", zoo.model_options())

  def test_defaults_and_types_are_the_constructors(self):
    options = zoo.model_options()
    self.assertEqual((options["token_encoder"].type,
                      options["token_encoder"].default), (str, "embed"))
    self.assertEqual((options["onehot_dim"].type,
                      options["onehot_dim"].optional), (int, True))
    self.assertEqual((options["bn_momentum"].type,
                      options["bn_momentum"].default), (float, 0.9))
    for key in ("dropout_tied", "discard_postnorm"):
      self.assertEqual((options[key].type, options[key].default),
                       (bool, False))

  def test_model_kwargs_build_the_recipe(self):
    # S5's ListOps recipe: one-hot width 20, masked mean, tied dropout,
    # batch-norm momentum 0.95 (configs/tables/README.md section 1).
    model_kw, backbone_kw = zoo.model_kwargs(
        token_encoder="onehot_dense", onehot_dim=20, pooling="masked_mean",
        dropout_tied=True, bn_momentum=0.95, norm="batch", dropout=0.1)
    self.assertEqual(model_kw, dict(token_encoder="onehot_dense",
                                    onehot_dim=20, pooling="masked_mean"))
    self.assertEqual(backbone_kw, dict(dropout_tied=True, bn_momentum=0.95,
                                       norm="batch", dropout=0.1))

    def forward(batch):
      return backbone.SequenceModel(
          num_classes=3, input_kind="tokens", vocab_size=18, **model_kw,
          backbone=dict(layer=zoo.layer_factory("s5", state_size=2),
                        num_layers=1, width=4, **backbone_kw))(
                            batch, is_training=True)

    batch = {"inputs": jnp.ones((2, 5), jnp.int32),
             "lengths": jnp.asarray([5, 3])}
    params, _ = jax.eval_shape(hk.transform_with_state(forward).init,
                               jax.random.PRNGKey(0), batch)
    self.assertEqual(params["sequence_model/embed"]["w"].shape, (20, 4))

  def test_unknown_option_lists_the_valid_ones(self):
    with self.assertRaisesRegex(
        ValueError, r"Unknown option\(s\) \['pool'\] for the model; valid "
        r"options are \[.*'pooling'"):
      zoo.model_kwargs(pool="mean")
    with self.assertRaisesRegex(ValueError, r"\['bn_momentun'\]"):
      zoo.model_options_config(bn_momentun=0.9)

  def test_model_options_config_types_its_placeholders(self):
    c = zoo.model_options_config(pooling="masked_mean")
    self.assertEqual(set(c), set(zoo.model_options()))
    self.assertEqual((c.pooling, c.bn_momentum, c.onehot_dim),
                     ("masked_mean", 0.9, None))
    c.onehot_dim = 20
    with self.assertRaises(TypeError):
      c.onehot_dim = "twenty"
    with self.assertRaises(TypeError):
      c.dropout_tied = "yes"

  @parameterized.parameters("s4", "s4d", "spiking_ssm", "loongspike")
  def test_recipe_layer_options(self, name):
    options = zoo.layer_options(name)
    self.assertEqual((options["b_clip"].type, options["b_clip"].default,
                      options["b_clip"].optional), (float, 2.0, True))
    self.assertEqual((options["trainable_b"].type,
                      options["trainable_b"].default), (bool, True))
    if name in ("spiking_ssm", "loongspike"):
      self.assertEqual(options["sdn_topology"].default, "paper")
      self.assertFalse(options["dropout_twice"].default)
    # An unclipped B is a typed placeholder a config can fill.
    c = zoo.layer_options_config(name, b_clip=None, trainable_b=False)
    self.assertIsNone(c.b_clip)
    c.b_clip = 2.0
    with self.assertRaises(TypeError):
      c.b_clip = "2"


class TaskTableTest(parameterized.TestCase):

  def test_unknown_name_lists_valid_names(self):
    with self.assertRaisesRegex(ValueError, "listops.*mqar.*adding"):
      zoo.get_task("lisstops")

  def test_unknown_option_lists_valid_options(self):
    with self.assertRaisesRegex(ValueError, r"\['num_kv_pairs'"):
      zoo.get_task("mqar", num_pairs=3)

  @parameterized.parameters(
      ("text", "aclImdb"), ("retrieval", "new_aan_pairs.train.tsv"),
      ("image", "cifar-10-batches-py"),
      ("pathfinder", "pathfinder32/curv_contour_length_14/metadata"),
      ("pathx", "pathfinder128/curv_contour_length_14/metadata"))
  def test_lra_files_without_root_name_expected_files(self, name, expected):
    with self.assertRaisesRegex(ValueError, f"root=DIR.*{expected}"):
      zoo.get_task(name)

  @parameterized.parameters("mqar", "selective_copy", "induction_heads",
                            "adding", "digits")
  def test_generated_tasks_refuse_a_root(self, name):
    with self.assertRaisesRegex(ValueError, "root must be None"):
      zoo.get_task(name, root="/tmp")

  def test_bad_seed_and_root_types(self):
    with self.assertRaisesRegex(ValueError, "seed must be >= 0"):
      zoo.get_task("adding", seed=-1)
    with self.assertRaisesRegex(TypeError, "seed must be an int"):
      zoo.get_task("adding", seed=1.5)
    with self.assertRaisesRegex(TypeError, "root must be a path"):
      zoo.get_task("adding", root=3)

  def test_every_name_has_options_with_defaults(self):
    for name in zoo.task_names():
      options = zoo.task_options(name)
      self.assertNotIn("seed", options)
      self.assertIsInstance(options, dict)
      for option in options.values():
        self.assertIsNot(option.default, zoo.Option.REQUIRED,
                         msg=f"{name}.{option.name}")
        self.assertIsNotNone(option.simple_type,
                             msg=f"{name}.{option.name}")

  def test_task_options_config_types_from_the_builder(self):
    c = zoo.task_options_config("listops")
    self.assertEqual(set(c), set(zoo.task_options("listops")))
    self.assertIsNone(c.num_train)
    c.num_train = 1000
    c.operator_prob = 0.3
    with self.assertRaises(TypeError):
      c.num_train = 1.5
    c.lock()
    with self.assertRaises(AttributeError):
      c.num_trian = 3
    mqar = zoo.task_options_config("mqar")
    self.assertEqual((mqar.num_kv_pairs, mqar.random_non_queries), (16, True))
    self.assertIsInstance(mqar, config_dict.ConfigDict)


if __name__ == "__main__":
  absltest.main()
