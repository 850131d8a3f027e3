"""Optimiser groups come from the parameter roles module classes declare.

The expected groups below are written out by hand from the published
recipes the groups follow (S5 / LRU: dynamics and B at the SSM learning
rate without weight decay, Smith et al. 2023, Orvieto et al. 2023; Mamba's
A at the SSM rate; neuron dynamics, norms and biases without decay; fixed
masks frozen), not computed from the declarations they test.
"""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from spike_ssm import experimental
from spike_ssm import neurons
from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.models import backbone
from spike_ssm.training import optim
from tests.zoo_test import backbone_model

S, N, W, F = "ssm", "no_decay", "default", "frozen"

_LRU = {"nu_log": S, "theta_log": S, "gamma_log": S, "b": S, "c": W, "d": N}
_S5 = {"lambda_re": S, "lambda_im": S, "log_dt": S, "b": S, "c": W, "d": N}
_S4D = {"log_dt": S, "a_log": S, "a_im": S, "b": S, "c": W, "d": N}
_MAMBA = {"a_log": S, "d": N, "dt_bias": N, "~/x_proj/w": W,
          "~/dt_proj/w": W}
_SPIKING = dict(_S4D, ln_vth=N, mixer_w=W, mixer_b=N)


def _under(prefix, table):
  return {f"{prefix}/{k}": v for k, v in table.items()}


# The layer's parameters (paths under the block) -> expected group.
EXPECTED = {
    "s5": _under("s5", _S5),
    "lru": _under("lru", _LRU),
    "s4d": _under("s4_d", _S4D),
    "s4": _under("s4", {"lambda_re": S, "lambda_im": S, "log_dt": S, "p": S,
                        "b": S, "c": W, "d": N}),
    "mamba": {**_under("mamba_block", {"conv_kernel": W, "conv_bias": N,
                                       "~/in_proj/w": W, "~/out_proj/w": W}),
              **_under("mamba_block/~/mamba", _MAMBA)},
    "mamba_core": _under("mamba", _MAMBA),
    "spiking_ssm": _under("spiking_ssm", _SPIKING),
    "loongspike": _under("loong_spike", dict(_SPIKING, omega=S, eta=S)),
    "chunked": {**_under("chunked_ssm/~/lru", _LRU),
                **_under("chunked_ssm/~/s5", _S5)},
    "raven": _under("raven_rsm", {"raw_decay": S, "w_u": W, "w_q": W,
                                  "w_o": W, "~/router/w": W,
                                  "~/router/b": N}),
    "transformer": _under("transformer_layer", {"w_q": W, "w_k": W, "w_v": W,
                                                "w_o": W}),
    "lstm": _under("lstm_layer", {"fwd/linear/w": W, "fwd/linear/b": N,
                                  "proj/w": W, "proj/b": N}),
    "gru": _under("gru_layer", {"fwd/w_i": W, "fwd/w_h": W, "fwd/b": N,
                                "proj/w": W, "proj/b": N}),
    "dense": _under("dense", {"linear/w": W, "linear/b": N}),
}
# Every block also has its norm and output stage.
_BLOCK = {"norm/scale": N, "norm/offset": N, "glu/out2/w": W, "glu/out2/b": N}
_X = jax.ShapeDtypeStruct((2, 8, 3), jnp.float32)


def labels_of(fn, *args, **kwargs):
  shapes, owners = optim.param_owners(fn.init, jax.random.PRNGKey(0), *args)
  params = shapes[0] if isinstance(shapes, tuple) else shapes  # With state.
  return optim.label_params(params, owners, **kwargs)


def flatten(labels, prefix=""):
  return {f"{m[len(prefix):]}/{n}": l for m, leaves in labels.items()
          if m.startswith(prefix) for n, l in leaves.items()}


class ZooModelLabelsTest(parameterized.TestCase):

  def test_every_zoo_layer_has_a_table(self):
    self.assertEqual(set(EXPECTED), set(zoo.layer_names()))

  @parameterized.parameters(*sorted(EXPECTED))
  def test_every_parameter_lands_in_its_declared_group(self, name):
    # Given a two-block backbone of the layer.
    labels = labels_of(backbone_model(name), _X)
    # Then every parameter of both blocks has exactly the expected group.
    for block in ("block_0", "block_1"):
      got = flatten(labels, f"sequence_backbone/{block}/")
      self.assertEqual(got, {**EXPECTED[name], **_BLOCK}, msg=block)
    self.assertEqual(len(jax.tree.leaves(labels)),
                     2 * len({**EXPECTED[name], **_BLOCK}))

  @parameterized.parameters("s5", "lru", "s4d", "s4", "spiking_ssm",
                            "chunked")
  def test_b_leaves_the_ssm_group_on_request(self, name):
    with_b = flatten(labels_of(backbone_model(name), _X))
    without_b = flatten(labels_of(backbone_model(name), _X,
                                  ssm_b_in_ssm_group=False))
    moved = {k for k in with_b if with_b[k] != without_b[k]}
    self.assertNotEmpty(moved)
    for key in moved:
      self.assertEqual((key.rsplit("/", 1)[-1], with_b[key], without_b[key]),
                       ("b", S, W))

  def test_model_edges_are_labelled_by_shape(self):
    def forward(batch):
      return backbone.SequenceModel(
          num_classes=4, input_kind="tokens", vocab_size=9,
          backbone=dict(layer=zoo.layer_factory("s5", state_size=4),
                        num_layers=1, width=6))(batch, is_training=False)
    fn = hk.transform_with_state(forward)
    labels = labels_of(fn, {"inputs": jnp.zeros((2, 5), jnp.int32)})
    self.assertEqual(labels["sequence_model/embed"], {"embeddings": W})
    self.assertEqual(labels["sequence_model/head"], {"w": W, "b": N})


class DeclarationTest(parameterized.TestCase):

  def test_seed_layers(self):
    def forward(x):
      y, _ = ssm.SpikeSSM(3, 2, 4)(x)
      z = ssm.CapibaraJAXSSM(dict(state_dim=4, input_dim=3, output_dim=2,
                                  conv_dim=2))(x)
      return y, z
    labels = labels_of(hk.transform(forward), _X)
    self.assertEqual(labels["spike_ssm"], {
        "w_in": W, "w_hid": W, "w_out": W, "b_in": N, "b_hid": N, "b_out": N,
        "w_in_mask": F, "w_hid_mask": F, "w_out_mask": F})
    self.assertEqual(labels["capibara_jaxssm"], {
        "a": S, "log_dt": S, "b": S, "c": W, "conv_kernel": W, "w_res": W})

  def test_neurons_and_slot_memory_dynamics_are_not_decayed(self):
    # Multi-dimensional neuron dynamics: by shape they would be weights.
    def forward(x):
      x = x.reshape(2, 8, 3, 1).repeat(2, axis=-1)  # hidden_shape (3, 2)
      neurons.run(neurons.CuBaLIF((3, 2), learn_alpha=True, learn_beta=True),
                  x)
      neurons.run(neurons.ResonateFire((3, 2)), x)
      experimental.SpikingSlotMemory(2, slot_dim=2)(x[..., 0])
    labels = labels_of(hk.transform(forward), _X)
    self.assertEqual(labels["cuba_lif"], {"alpha": N, "beta": N})
    self.assertEqual(labels["resonate_fire"], {"raw_lambda": N, "omega": N})
    self.assertEqual(labels["spiking_slot_memory"]["raw_beta"], N)
    self.assertEqual(labels["spiking_slot_memory"]["w_u"], W)

  def test_a_new_grouping_is_a_new_table(self):
    # S5's "noBCdecay"-like grouping: readouts join the SSM group too.
    groups = dict(optim.role_groups(), output="ssm")
    labels = flatten(labels_of(backbone_model("s5"), _X, groups=groups))
    self.assertEqual(labels["sequence_backbone/block_0/s5/c"], S)
    self.assertEqual(labels["sequence_backbone/block_0/glu/out2/w"], W)

  def test_a_new_group_takes_its_own_transformation(self):
    # A group beyond GROUPS: B keeps the SSM rate but gets weight decay
    # (what GROUPS' "ssm_decay" does, under a name no table uses).
    params = {"m/s5": {"b": jnp.ones((2, 2, 2)), "lambda_re": jnp.ones(2)}}
    owners = {"m/s5": {"b": ssm.S5, "lambda_re": ssm.S5}}
    labels = optim.label_params(
        params, owners, groups=dict(optim.role_groups(), input="b_own"))
    cfg = dict(lr=0.1, ssm_lr=0.01, weight_decay=0.5, warmup_steps=0,
               end_lr_ratio=1.0, b1=0.9, b2=0.999, grad_clip=None)
    with self.assertRaisesRegex(ValueError, "'b_own'"):
      optim.make_optimizer(cfg, 10, labels)
    transforms = dict(optim.group_transforms(cfg, 10),
                      b_own=optax.adamw(0.01, weight_decay=0.5))
    tx = optim.make_optimizer(cfg, 10, labels, transforms=transforms)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    # First Adam step: -lr (sign of the gradient), AdamW adds -lr * wd * p.
    np.testing.assert_allclose(updates["m/s5"]["b"], -0.01 - 0.01 * 0.5,
                               rtol=1e-4)
    np.testing.assert_allclose(updates["m/s5"]["lambda_re"], -0.01,
                               rtol=1e-4)

  def test_a_name_in_two_roles_is_refused(self):
    class Confused:
      dynamics_params = frozenset({"b"})
      input_params = frozenset({"b"})
    with self.assertRaisesRegex(ValueError, "'b' in several roles"):
      optim.param_role(Confused, "b")

  @parameterized.parameters(*sorted(EXPECTED))
  def test_declared_names_are_parameters_the_class_creates(self, name):
    # A typo in a declaration would silently label nothing.
    cls = zoo.layer_class(name)
    extra = dict(bidirectional=True) if "bidirectional" in (
        zoo.layer_options(name)) else {}
    created = set()
    for options in ({}, extra):
      labels = labels_of(backbone_model(name, **options), _X)
      created |= {n for leaves in labels.values() for n in leaves}
    for attr in optim.ROLES.values():
      self.assertContainsSubset(getattr(cls, attr, frozenset()), created,
                                msg=attr)

  def test_make_optimizer_refuses_a_params_tree(self):
    cfg = dict(lr=0.1, ssm_lr=0.01, weight_decay=0.5, warmup_steps=0,
               end_lr_ratio=1.0, b1=0.9, b2=0.999, grad_clip=None)
    with self.assertRaisesRegex(ValueError, "`labels` must hold group names"):
      optim.make_optimizer(cfg, 10, {"m": {"w": jnp.zeros(2)}})


if __name__ == "__main__":
  absltest.main()
