"""Tests for the train step, sharding, optimiser groups and checkpoints."""

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import optax

from spike_ssm import neurons
from spike_ssm import ssm
from spike_ssm.training import checkpoint as ckpt_lib
from spike_ssm.training import optim
from spike_ssm.training import sharding
from spike_ssm.training import step as step_lib
from tests import tolerances as tol


def _mlp_model():
  def forward(batch, is_training):
    x = batch["inputs"]
    h = jax.nn.gelu(hk.Linear(16)(x))
    if is_training:
      h = hk.dropout(hk.next_rng_key(), 0.1, h)
    counter = hk.get_state("calls", (), jnp.int32, jnp.zeros)
    hk.set_state("calls", counter + 1)
    return hk.Linear(3)(h)
  return hk.transform_with_state(forward)


def _batch(rng, n=8, poison=False):
  x = rng.normal(size=(n, 5)).astype(np.float32)
  if poison:
    x[0, 0] = np.nan
  return {"inputs": x, "targets": rng.integers(0, 3, size=(n,)).astype(np.int32),
          "weights": np.ones((n,), np.float32)}


def _init(model, optimizer, batch, seed=0):
  params, state = model.init(jax.random.PRNGKey(seed), batch, is_training=True)
  return step_lib.TrainState(
      step=jnp.zeros((), jnp.int32), params=params, state=state,
      opt_state=optimizer.init(params), loss_scale=jmp.NoOpLossScale(),
      rng=jax.random.PRNGKey(1), nonfinite_in_a_row=jnp.zeros((), jnp.int32),
      skipped=jnp.zeros((), jnp.int32))


class TrainStepTest(parameterized.TestCase):

  def test_one_step_on_one_device_equals_four_devices(self):
    # Given the same state and global batch.
    model = _mlp_model()
    opt = optax.adamw(1e-2)
    batch = _batch(np.random.default_rng(0))
    fn = step_lib.make_train_step(model.apply, opt, target_kind="class")
    results = []
    for devices in (jax.devices()[:1], jax.devices()[:4]):
      # When one step runs on a data mesh of 1 and of 4 devices.
      mesh = sharding.make_mesh(devices)
      repl = sharding.replicated(mesh)
      ts = jax.device_put(_init(model, opt, batch), repl)
      step = jax.jit(fn, in_shardings=(repl, sharding.batch_sharding(mesh)),
                     out_shardings=(repl, repl))
      new_ts, metrics = step(ts, sharding.global_batch(batch, mesh))
      self.assertEqual(
          len(jax.tree.leaves(new_ts.params)[0].sharding.device_set),
          len(devices))
      results.append((jax.device_get(new_ts.params), jax.device_get(metrics)))
    # Then parameters and metrics agree.
    (p1, m1), (p4, m4) = results
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, **tol.F32_SCAN_SHORT), p1, p4)
    np.testing.assert_allclose(m1["loss"], m4["loss"], **tol.F32_SCAN_SHORT)

  def test_nonfinite_step_is_skipped_and_counted(self):
    model = _mlp_model()
    opt = optax.adam(1e-2)
    rng = np.random.default_rng(1)
    good, bad = _batch(rng), _batch(rng, poison=True)
    fn = jax.jit(step_lib.make_train_step(model.apply, opt,
                                          target_kind="class"))
    ts0 = _init(model, opt, good)
    # When a batch with a NaN comes in, nothing but the counters change.
    ts1, m1 = fn(ts0, bad)
    self.assertFalse(bool(m1["finite"]))
    jax.tree.map(np.testing.assert_array_equal, ts1.params, ts0.params)
    jax.tree.map(np.testing.assert_array_equal, ts1.opt_state, ts0.opt_state)
    jax.tree.map(np.testing.assert_array_equal, ts1.state, ts0.state)
    self.assertEqual(int(ts1.nonfinite_in_a_row), 1)
    ts2, _ = fn(ts1, bad)
    self.assertEqual(int(ts2.nonfinite_in_a_row), 2)
    self.assertEqual(int(ts2.skipped), 2)
    # And a finite step updates and resets the streak.
    ts3, m3 = fn(ts2, good)
    self.assertTrue(bool(m3["finite"]))
    self.assertEqual(int(ts3.nonfinite_in_a_row), 0)
    self.assertEqual(int(ts3.skipped), 2)
    self.assertFalse(np.allclose(ts3.params["linear"]["w"],
                                 ts0.params["linear"]["w"]))

  def test_step_rng_depends_only_on_base_key_and_step(self):
    model = _mlp_model()
    opt = optax.sgd(0.0)
    batch = _batch(np.random.default_rng(2))
    fn = jax.jit(step_lib.make_train_step(model.apply, opt,
                                          target_kind="class"))
    ts = _init(model, opt, batch)
    _, a = fn(ts, batch)
    _, b = fn(ts, batch)
    _, c = fn(ts._replace(step=ts.step + 1), batch)
    self.assertEqual(float(a["loss"]), float(b["loss"]))
    self.assertNotEqual(float(a["loss"]), float(c["loss"]))

  def test_sequence_and_regression_losses(self):
    logits = jnp.asarray(np.random.default_rng(3).normal(size=(2, 4, 3)),
                         jnp.float32)
    targets = jnp.asarray([[0, 1, 2, 0], [1, 1, 1, 1]], jnp.int32)
    mask = jnp.asarray([[0, 1, 1, 0], [0, 0, 0, 1]], jnp.float32)
    loss, sums = step_lib.task_loss(
        logits, {"targets": targets, "target_mask": mask,
                 "weights": jnp.ones(2)}, "sequence")
    lp = jax.nn.log_softmax(logits)
    picked = -jnp.take_along_axis(lp, targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, (picked * mask).sum() / 3,
                               **tol.F32_VS_F64)
    self.assertEqual(float(sums["count"]), 3.0)
    loss, _ = step_lib.task_loss(jnp.asarray([1.0, 2.0]),
                                 {"targets": jnp.asarray([0.0, 0.0]),
                                  "weights": jnp.asarray([1.0, 0.0])},
                                 "regression")
    self.assertAlmostEqual(float(loss), 1.0)


class _MaskedModule:
  """Stands for a module class that declares a fixed mask."""
  frozen_params = frozenset({"w_mask"})


class OptimiserGroupsTest(absltest.TestCase):

  def test_every_parameter_gets_exactly_one_known_label(self):
    params = {
        "model/backbone/block_0/s5": {
            "lambda_re": jnp.zeros(4), "lambda_im": jnp.zeros(4),
            "log_dt": jnp.zeros(4), "b": jnp.zeros((4, 8, 2)),
            "c": jnp.zeros((8, 4, 2)), "d": jnp.zeros(8)},
        "model/backbone/block_0/lru": {
            "nu_log": jnp.zeros(4), "theta_log": jnp.zeros(4),
            "gamma_log": jnp.zeros(4), "b": jnp.zeros((4, 8, 2)),
            "c": jnp.zeros((8, 4, 2)), "d": jnp.zeros(8)},
        "model/backbone/block_0/norm": {"scale": jnp.ones(8),
                                        "offset": jnp.zeros(8)},
        "model/backbone/block_0/glu/out2": {"w": jnp.zeros((8, 8)),
                                            "b": jnp.zeros(8)},
        "model/spike_ssm": {"w_in": jnp.zeros((3, 4)),
                            "w_in_mask": jnp.zeros((3, 4))},
        "model/capibara_jaxssm": {"a": jnp.zeros((4, 4)),
                                  "b": jnp.zeros((4, 3)),
                                  "log_dt": jnp.zeros(())},
        "model/mlp/linear": {"w": jnp.zeros((3, 4)), "a": jnp.zeros((4, 4))},
        "model/resonate_fire": {"raw_lambda": jnp.zeros((4, 4)),
                                "omega": jnp.zeros((4, 4))},
    }
    # Each module's class, as `param_owners` records it during init.
    classes = {"model/backbone/block_0/s5": ssm.S5,
               "model/backbone/block_0/lru": ssm.LRU,
               "model/backbone/block_0/norm": hk.LayerNorm,
               "model/backbone/block_0/glu/out2": hk.Linear,
               "model/spike_ssm": ssm.SpikeSSM,
               "model/capibara_jaxssm": ssm.CapibaraJAXSSM,
               "model/mlp/linear": hk.Linear,
               "model/resonate_fire": neurons.ResonateFire}
    owners = {m: {n: classes[m] for n in leaves}
              for m, leaves in params.items()}
    labels = optim.label_params(params, owners)
    flat = jax.tree_util.tree_flatten_with_path(labels)[0]
    self.assertLen(flat, len(jax.tree.leaves(params)))
    self.assertTrue(all(l in optim.LABELS for _, l in flat))
    s5 = labels["model/backbone/block_0/s5"]
    self.assertEqual([s5[k] for k in ("lambda_re", "lambda_im", "log_dt", "b")],
                     ["ssm"] * 4)
    self.assertEqual(s5["c"], "default")
    self.assertEqual(s5["d"], "no_decay")
    self.assertEqual(labels["model/backbone/block_0/lru"]["nu_log"], "ssm")
    self.assertEqual(labels["model/backbone/block_0/norm"]["scale"], "no_decay")
    self.assertEqual(labels["model/backbone/block_0/glu/out2"]["b"], "no_decay")
    self.assertEqual(labels["model/backbone/block_0/glu/out2"]["w"], "default")
    self.assertEqual(labels["model/spike_ssm"]["w_in_mask"], "frozen")
    self.assertEqual(labels["model/capibara_jaxssm"]["a"], "ssm")
    self.assertEqual(labels["model/capibara_jaxssm"]["b"], "ssm")
    # "a" outside an SSM core is an ordinary weight.
    self.assertEqual(labels["model/mlp/linear"]["a"], "default")
    # Multi-dimensional neuron dynamics get no weight decay either.
    self.assertEqual(labels["model/resonate_fire"],
                     {"raw_lambda": "no_decay", "omega": "no_decay"})
    without_b = optim.label_params(params, owners, ssm_b_in_ssm_group=False)
    self.assertEqual(without_b["model/backbone/block_0/s5"]["b"], "default")
    # A parameter nobody recorded is an error, not a guess.
    with self.assertRaisesRegex(ValueError, "No owner recorded.*model/x/w"):
      optim.label_params({"model/x": {"w": jnp.zeros((2, 2))}}, owners)

  def test_groups_get_their_learning_rates_and_decay(self):
    params = {"m/s5": {"lambda_re": jnp.ones(2), "c": jnp.ones((2, 2))},
              "m/x": {"w_mask": jnp.ones((2, 2))}}
    cfg = dict(lr=0.1, ssm_lr=0.01, weight_decay=0.5, warmup_steps=0,
               end_lr_ratio=1.0, b1=0.9, b2=0.999, grad_clip=None,
               ssm_b_in_ssm_group=True)
    owners = {"m/s5": {"lambda_re": ssm.S5, "c": ssm.S5},
              "m/x": {"w_mask": _MaskedModule}}
    tx = optim.make_optimizer(cfg, 10, optim.label_params(params, owners))
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    # First Adam step moves every coordinate by lr (sign of the gradient);
    # AdamW adds lr * weight_decay * param.
    np.testing.assert_allclose(updates["m/s5"]["lambda_re"], -0.01, rtol=1e-4)
    np.testing.assert_allclose(updates["m/s5"]["c"], -0.1 - 0.1 * 0.5,
                               rtol=1e-4)
    np.testing.assert_array_equal(updates["m/x"]["w_mask"], 0.0)

  def test_schedule_warmup_then_cosine(self):
    s = optim.schedule(1.0, 100, 10)
    self.assertAlmostEqual(float(s(0)), 0.0)
    self.assertAlmostEqual(float(s(5)), 0.5)
    self.assertAlmostEqual(float(s(10)), 1.0)
    self.assertAlmostEqual(float(s(100)), 0.0, places=6)


class CheckpointTest(absltest.TestCase):

  def test_save_restore_keep_last_and_best(self):
    d = self.create_tempdir().full_path
    ck = ckpt_lib.Checkpointer(d, keep=2)
    tree = {"w": jnp.arange(3.0), "step": jnp.int32(0)}
    for step, score in ((1, 0.5), (2, 0.9), (3, 0.7)):
      ck.save(step, {"w": tree["w"] * step, "step": jnp.int32(step)},
              {"data": {"epoch": step}}, score=score)
    ck.wait()
    self.assertEqual(ck.latest_step(), 3)
    state, meta = ck.restore_latest(ckpt_lib.abstract(tree))
    np.testing.assert_array_equal(state["w"], np.arange(3.0) * 3)
    self.assertEqual(meta, {"data": {"epoch": 3}})
    best, best_meta = ck.restore_best(ckpt_lib.abstract(tree))
    self.assertEqual(int(best["step"]), 2)
    self.assertEqual(best_meta["data"]["epoch"], 2)
    ck.close()
    latest = sorted(p.name for p in (
        ckpt_lib.pathlib.Path(d) / "checkpoints" / "latest").iterdir())
    self.assertEqual(latest, ["2", "3"])

  def test_incomplete_checkpoint_is_ignored_and_kept_aside(self):
    d = self.create_tempdir().full_path
    ck = ckpt_lib.Checkpointer(d, keep=3)
    tree = {"w": jnp.ones(2)}
    ck.save(1, tree, {"k": 1})
    ck.wait()
    ck.close()
    # A crash mid-save leaves a step directory without orbax's metadata.
    broken = ckpt_lib.pathlib.Path(d) / "checkpoints" / "latest" / "7"
    (broken / "state").mkdir(parents=True)
    (broken / "state" / "garbage").write_text("partial")
    ck2 = ckpt_lib.Checkpointer(d, keep=3)
    self.assertEqual(ck2.latest_step(), 1)
    state, meta = ck2.restore_latest(ckpt_lib.abstract(tree))
    self.assertEqual(meta, {"k": 1})
    self.assertLen(ck2.set_aside, 1)
    self.assertTrue((ck2.set_aside[0] / "state" / "garbage").exists())
    # And saving that step number later works.
    ck2.save(7, tree, {"k": 7})
    ck2.wait()
    self.assertEqual(ck2.latest_step(), 7)
    ck2.close()


if __name__ == "__main__":
  absltest.main()
