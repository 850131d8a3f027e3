"""Named optimiser groupings and warmup units against the released recipes.

The expected groups are written out by hand from configs/tables/README.md
(S5: §1a.5, s5/train_helpers.py:141-251; S4 v1: §2a.1; S4D v3: §3a.1;
SpikingSSM: §4a.2), not computed from `optim.GROUPINGS`; the updates are
checked against an independent float64 NumPy Adam / AdamW, and the
schedules against the formula of `transformers.get_cosine_schedule_with_
warmup` (S4, S4D, SpikingSSM) written out here.
"""

import math

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from experiments import preflight
from spike_ssm import config_lib
from spike_ssm.training import optim
from tests.training import train_test
from tests.zoo_test import backbone_model

# Group -> (rate, weight decay) the reference trains it with, as names of
# the config keys (README §1a.5: S5's "ssm" group is optax.adam(ssm_lr);
# BandCdecay's "none" group is adamw(ssm_lr, wd); the regular group is
# adamw(lr, wd); S4D's null dt rate is the global lr with wd 0).
S, SD, N, W = "ssm", "ssm_decay", "no_decay", "default"
RATES = {S: ("ssm_lr", None), SD: ("ssm_lr", "weight_decay"),
         N: ("lr", None), W: ("lr", "weight_decay")}

_BLOCK = {"norm/scale": N, "norm/offset": N, "glu/out2/w": W,
          "glu/out2/b": N}
_BLOCK_DECAYED = {"norm/scale": W, "norm/offset": W, "glu/out2/w": W,
                  "glu/out2/b": W}


def _s5(**moved):
  # S5's standard: B, Lambda, log_step in the SSM group; C, D regular.
  base = {"s5/lambda_re": S, "s5/lambda_im": S, "s5/log_dt": S, "s5/b": S,
          "s5/c": W, "s5/d": N}
  return {**base, **{f"s5/{k}": v for k, v in moved.items()}, **_BLOCK}


def _s4d(prefix="s4_d", extra=None, **moved):
  base = {"log_dt": S, "a_log": S, "a_im": S, "b": S, "c": W, "c_bwd": W,
          "d": N, **(extra or {})}
  base.update(moved)
  return {**{f"{prefix}/{k}": v for k, v in base.items()}, **_BLOCK}


# (layer, layer options, grouping, switches) -> expected group per path.
CASES = {
    # S5 listops / image: B at the global rate with decay.
    "s5_BfastandCdecay": ("s5", {}, "BfastandCdecay", {}, _s5(b=W)),
    # S5 text / retrieval: standard + dt_global: the step joins the regular
    # group (global rate, decay).
    "s5_standard_dt_global": ("s5", {}, "standard", dict(dt_global=True),
                              _s5(log_dt=W)),
    # S5 pathfinder.
    "s5_standard": ("s5", {}, "standard", {}, _s5()),
    # S5 path-x: B in its own AdamW at the SSM rate with decay.
    "s5_BandCdecay": ("s5", {}, "BandCdecay", {}, _s5(b=SD)),
    # Released S5: norms, biases and D decayed too (README §1b.1).
    "s5_released_decay": (
        "s5", {}, "BfastandCdecay", dict(decay_vectors=True),
        {**_s5(b=W, d=W), **_BLOCK_DECAYED}),
    # S4 v1: dt, A (Lambda, P) and B at the fixed SSM rate, no decay.
    "s4_v1": ("s4", dict(bidirectional=True), "standard", {},
              {"s4/lambda_re": S, "s4/lambda_im": S, "s4/log_dt": S,
               "s4/p": S, "s4/b": S, "s4/c": W, "s4/c_bwd": W, "s4/d": N,
               **_BLOCK}),
    # S4D v3 dict lr (dt: null): dt at the global rate without decay.
    "s4d_null_dt": ("s4d", dict(bidirectional=True), "null_dt", {},
                    _s4d(log_dt=N)),
    # S4D v3 float lr (pathfinder, path-x): C at the SSM rate with decay.
    "s4d_ssm_rate_c": ("s4d", dict(bidirectional=True), "ssm_rate_c", {},
                       _s4d(c=SD, c_bwd=SD)),
    # SpikingSSM with trainable B (listops, text, path-x): as S4D float lr;
    # the threshold is a neuron parameter (not decayed, our convention).
    "spiking_ssm_ssm_rate_c": (
        "spiking_ssm", dict(bidirectional=True), "ssm_rate_c", {},
        _s4d("spiking_ssm", dict(ln_vth=N, mixer_w=W, mixer_b=N),
             c=SD, c_bwd=SD)),
}

_X = jax.ShapeDtypeStruct((2, 8, 3), jnp.float32)
CFG = dict(lr=0.1, ssm_lr=0.01, weight_decay=0.5, warmup_steps=0,
           end_lr_ratio=1.0, b1=0.9, b2=0.99, eps=1e-6, grad_clip=None)


def _labels(layer, options, grouping, switches):
  model = backbone_model(layer, **options)
  shapes, owners = optim.param_owners(model.init, jax.random.PRNGKey(0), _X)
  groups = optim.grouping_table(grouping, **switches)
  return shapes[0], optim.label_params(shapes[0], owners, groups=groups)


def _block0(tree):
  prefix = "sequence_backbone/block_0/"
  return {f"{m[len(prefix):]}/{n}": v for m, leaves in tree.items()
          if m.startswith(prefix) for n, v in leaves.items()}


def numpy_adamw(params, grads_seq, lr, wd, b1, b2, eps):
  """Float64 Adam with decoupled weight decay (wd = 0: plain Adam)."""
  p = np.asarray(params, np.float64)
  m = np.zeros_like(p)
  v = np.zeros_like(p)
  for t, g in enumerate(grads_seq, start=1):
    g = np.asarray(g, np.float64)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    direction = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    p = p - lr * (direction + wd * p)
  return p


def transformers_cosine(step, peak, warmup, total):
  """`get_cosine_schedule_with_warmup` (0.5 cycles), times the peak."""
  if step < warmup:
    return peak * step / max(1, warmup)
  progress = (step - warmup) / max(1, total - warmup)
  return peak * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


class GroupingLabelsTest(parameterized.TestCase):

  @parameterized.named_parameters(*[(k, *v) for k, v in sorted(CASES.items())])
  def test_each_parameter_in_the_reference_group(self, layer, options,
                                                 grouping, switches, expected):
    # Given a 2-block backbone of the layer and the named grouping.
    _, labels = _labels(layer, options, grouping, switches)
    # Then every parameter of a block is in the group the reference puts
    # it in.
    self.assertEqual(_block0(labels), expected)

  @parameterized.named_parameters(*[(k, *v) for k, v in sorted(CASES.items())])
  def test_two_updates_match_numpy_adamw_at_the_reference_rates(
      self, layer, options, grouping, switches, expected):
    # Given concrete parameters and two known gradients per parameter.
    shapes, labels = _labels(layer, options, grouping, switches)
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda s: rng.normal(size=s.shape).astype(np.float32), shapes)
    grads = [jax.tree.map(
        lambda s: rng.normal(size=s.shape).astype(np.float32), shapes)
             for _ in range(2)]
    tx = optim.make_optimizer(CFG, 10, labels)
    # When the optimiser takes two steps (constant rates: end ratio 1).
    state = tx.init(params)
    p = params
    for g in grads:
      updates, state = tx.update(g, state, p)
      p = jax.tree.map(lambda a, u: a + u, p, updates)
    # Then each parameter moved as float64 Adam(W) at its group's reference
    # rate and weight decay (the rates differ 10x and the decay is 0.5, so
    # a parameter in the wrong group is off by far more than rounding).
    got = _block0(p)
    for path, group in expected.items():
      rate_key, wd_key = RATES[group]
      ref = numpy_adamw(
          _block0(params)[path], [_block0(g)[path] for g in grads],
          CFG[rate_key], 0.0 if wd_key is None else CFG[wd_key],
          CFG["b1"], CFG["b2"], CFG["eps"])
      np.testing.assert_allclose(got[path], ref, rtol=2e-5, atol=2e-6,
                                 err_msg=f"{path} ({group})")


class GroupingNamesTest(absltest.TestCase):

  def test_unknown_grouping_lists_the_valid_names(self):
    with self.assertRaisesRegex(
        ValueError, r"config\.optim\.grouping must be one of .*'BandCdecay'"
        r".*'BfastandCdecay'.*got 'Bfast'"):
      optim.config_groups({"grouping": "Bfast"})

  def test_switches_must_be_bools(self):
    with self.assertRaisesRegex(ValueError, r"config\.optim\.dt_global"):
      optim.config_groups({"grouping": "standard", "dt_global": "yes"})
    with self.assertRaisesRegex(ValueError, r"config\.optim\.decay_vectors"):
      optim.grouping_table("standard", decay_vectors=1)

  def test_preflight_names_the_grouping_key(self):
    # Given a config that passes config_lib.validate but names no grouping.
    config = config_lib.base_config()
    config.train.num_steps = 10
    config.model.layer_kwargs.state_size = 4
    config.optim.grouping = "BandC"
    config_lib.validate(config)
    # Then the launcher's preflight refuses it, listing the valid names.
    with self.assertRaisesRegex(
        ValueError, r"config\.optim\.grouping must be one of .*'null_dt'"):
      preflight.check(config, device_count=1, process_count=1)

  def test_old_tables_without_a_step_role_keep_the_step_with_dynamics(self):
    # role_groups' tables (and users' own) may lack "step".
    groups = {k: v for k, v in optim.role_groups().items() if k != "step"}
    groups["dynamics"] = "no_decay"
    _, owners = optim.param_owners(backbone_model("s5").init,
                                   jax.random.PRNGKey(0), _X)
    shapes = jax.eval_shape(backbone_model("s5").init,
                            jax.random.PRNGKey(0), _X)[0]
    labels = _block0(optim.label_params(shapes, owners, groups=groups))
    self.assertEqual(labels["s5/log_dt"], N)
    self.assertEqual(labels["s5/lambda_re"], N)


class WarmupTest(parameterized.TestCase):

  def test_epochs_use_whole_batches_per_epoch(self):
    # S5 ListOps: warmup_end=1 epoch, int(96000 / 50) = 1920 steps.
    steps_per_epoch = int(96_000 / 50)
    self.assertEqual(optim.resolve_warmup(
        {"warmup_epochs": 1}, 76_800, steps_per_epoch), 1920)
    # A partial last batch does not count: int(147086 / 32) = 4596.
    self.assertEqual(optim.resolve_warmup(
        {"warmup_epochs": 2}, 10**6, 147_086 // 32), 9192)

  def test_fraction_is_of_the_schedule_steps(self):
    # SpikingSSM: num_warmup_steps = 10% of num_training_steps.
    for total, warm in ((120_000, 12_000), (50_000, 5_000),
                        (180_000, 18_000), (500_000, 50_000)):
      self.assertEqual(optim.resolve_warmup({"warmup_fraction": 0.1}, total),
                       warm)

  @parameterized.named_parameters(
      ("steps", dict(warmup_steps=30), None),
      ("epochs", dict(warmup_epochs=3), 10),
      ("fraction", dict(warmup_fraction=0.3), None))
  def test_schedules_follow_the_reference_formula(self, warm, spe):
    # Given a 100-step schedule whose warmup is 30 steps in each unit.
    cfg = dict(dict(CFG, end_lr_ratio=0.0, warmup_steps=0), **warm)
    fns = optim.schedules(cfg, 100, steps_per_epoch=spe)
    steps = np.arange(0, 101)
    # Then both rates are linear warmup then cosine to 0, as transformers',
    # to float32 resolution of the peak.
    for key in ("lr", "ssm_lr"):
      ref = [transformers_cosine(s, CFG[key], 30, 100) for s in steps]
      np.testing.assert_allclose(np.asarray(fns[key](steps)), ref,
                                 rtol=1e-5, atol=2e-7 * CFG[key],
                                 err_msg=key)

  def test_schedule_steps_sets_the_cosine_length(self):
    # S4D ListOps: 1000 warmup steps, cosine over 80 000 steps, trained for
    # fewer (the rate never reaches 0).
    cfg = dict(CFG, end_lr_ratio=0.0, warmup_steps=1000,
               schedule_steps=80_000)
    fn = optim.schedules(cfg, 76_800)["lr"]
    for s in (0, 500, 1000, 40_000, 76_800):
      self.assertAlmostEqual(float(fn(s)),
                             transformers_cosine(s, 0.1, 1000, 80_000),
                             places=6)

  def test_at_most_one_unit(self):
    with self.assertRaisesRegex(ValueError,
                                r"at most one of config\.optim\.warmup_steps"):
      optim.resolve_warmup({"warmup_steps": 5, "warmup_fraction": 0.1}, 100)
    config = config_lib.base_config()
    config.train.num_steps = 10
    config.optim.update(warmup_steps=5, warmup_epochs=1.0)
    with self.assertRaisesRegex(ValueError, r"warmup_steps.*warmup_epochs"):
      config_lib.validate(config)

  def test_bad_values_name_the_key(self):
    with self.assertRaisesRegex(ValueError, r"config\.optim\.warmup_epochs "
                                r"needs the steps of one epoch"):
      optim.resolve_warmup({"warmup_epochs": 1}, 100)
    with self.assertRaisesRegex(ValueError, r"warmup_fraction must be in"):
      optim.resolve_warmup({"warmup_fraction": 1.5}, 100)
    with self.assertRaisesRegex(ValueError, r"warmup_steps must be finite"):
      optim.resolve_warmup({"warmup_steps": -2}, 100)
    with self.assertRaisesRegex(ValueError, r"schedule_steps must be >= 1"):
      optim.schedule_length({"schedule_steps": 0}, 100)
    config = config_lib.base_config()
    config.train.num_steps = 10
    config.optim.warmup_fraction = 2.0
    with self.assertRaisesRegex(ValueError,
                                r"config\.optim\.warmup_fraction"):
      config_lib.validate(config)


def s5_trainer_rates(base, steps_per_epoch, warmup_epochs, epochs, lr_min):
  """The rate of every step of S5's released loop, simulated step by step.

  lindermanlab/S5 s5/train.py: per epoch, `linear_warmup` (base * (step +
  1) / end_step, end_step = spe * warmup_end) while epoch < warmup_end,
  else `cosine_annealing` (count = min(step, end_step), end_step = spe *
  (epochs - warmup_end)); s5/train_helpers.py `train_epoch`: the optimiser
  starts at `base`; after each step the rate for the next one is set from
  the global step counter, which is then incremented.
  """
  rates, current, step = [], base, 0
  for epoch in range(epochs):
    if epoch < warmup_epochs:
      end = steps_per_epoch * warmup_epochs
      fn = lambda t, end=end: base * (t + 1) / end
    else:
      end = steps_per_epoch * epochs - steps_per_epoch * warmup_epochs
      fn = lambda t, end=end: (base - lr_min) * 0.5 * (
          1 + math.cos(math.pi * min(t, end) / end)) + lr_min
    for _ in range(steps_per_epoch):
      rates.append(current)  # The step runs at the current rate.
      current = fn(step)
      step += 1
  return np.array(rates)


class S5ReleasedScheduleTest(parameterized.TestCase):

  @parameterized.parameters((1, 6, 0.0), (2, 5, 0.0), (0, 4, 0.0),
                            (1, 4, 1e-4))
  def test_matches_the_released_loop(self, warmup_epochs, epochs, lr_min):
    # Given S5's loop with 7 steps per epoch.
    spe, base = 7, 0.003
    ref = s5_trainer_rates(base, spe, warmup_epochs, epochs, lr_min)
    cfg = dict(lr=base, ssm_lr=base / 3, end_lr_ratio=lr_min / base,
               warmup_steps=0, warmup_epochs=float(warmup_epochs),
               schedule="s5_released")
    fns = optim.schedules(cfg, epochs * spe, steps_per_epoch=spe)
    # Then every step's rate is the loop's (float32 resolution).
    got = np.asarray(fns["lr"](np.arange(epochs * spe)))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=2e-7 * base)
    if warmup_epochs:
      # The quirks: step 0 at the full rate; the last W * spe - 1 steps at
      # lr_min.
      self.assertEqual(got[0], np.float32(base))
      np.testing.assert_allclose(got[-(warmup_epochs * spe - 1):], lr_min,
                                 atol=2e-7 * base)

  def test_unknown_schedule_names_the_key(self):
    with self.assertRaisesRegex(ValueError, r"config\.optim\.schedule must "
                                r"be one of .*'s5_released'"):
      optim.schedules(dict(CFG, schedule="plateau"), 10)


class BuildStepsTest(absltest.TestCase):

  def test_epoch_warmup_needs_the_epoch_length(self):
    # Given S5's smoke config with its warmup in epochs (as S5's scripts).
    config = train_test.load_config("s5_lra.py", "smoke")
    config.optim.warmup_epochs = 1.0
    config_lib.validate(config)
    # Then building the steps without the epoch's length names the key,
    with self.assertRaisesRegex(ValueError, r"config\.optim\.warmup_epochs"):
      train_test.trace_training_step(self, config)
    # and with it the whole training step traces.
    train_test.trace_training_step(self, config, steps_per_epoch=4)

  def test_unknown_grouping_fails_before_tracing(self):
    config = train_test.load_config("s5_lra.py", "smoke")
    config.optim.grouping = "BandC"
    with self.assertRaisesRegex(ValueError, r"config\.optim\.grouping"):
      train_test.trace_training_step(self, config)


if __name__ == "__main__":
  absltest.main()
