"""Tests for spike_ssm.ssm.SpikingSSM and LoongSpike."""

import functools
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.neurons import sdn
from spike_ssm.models import backbone
from spike_ssm.ssm import spiking_ssm
from spike_ssm.training import optim
from spike_ssm.training import precision
from tests import tolerances as tol

B, T, D, N = 2, 24, 5, 8
TAU = sdn.DEFAULT_TAU
# Spike agreement of the SDN soma with the exact soma inside a layer at init
# (S4D-Lin, N = 64, D = 32, unit-normal input, 2 x 1024 steps): measured
# 99.67% (SpikingSSM) and 99.70% (LoongSpike); asserted a little below.
MIN_AGREEMENT = 0.993


def _seed(name: str) -> int:
  return zlib.crc32(name.encode())


def _np(params):
  return {k: np.asarray(v, np.float64) for k, v in params.items()}


def reference_layer(params, x, *, tau=TAU, bidirectional=False, glu=True,
                    loong=False):
  """float64 NumPy loops of the layer's equations (iterative soma).

  LoongSpike is written as the sum of M separate SSMs with rates
  `-omega_m + eta_m Lambda` and readouts `eta_m C`, not as one wide system.

  Returns:
    (out, spikes, membrane before firing v), each (B, T, D).
  """
  p = _np(params)
  x = np.asarray(x, np.float64)
  lam = -np.exp(p["a_log"]) + 1j * p["a_im"]  # (D, M)
  b = p["b"][..., 0] + 1j * p["b"][..., 1]
  c = p["c"][..., 0] + 1j * p["c"][..., 1]
  dt = np.exp(p["log_dt"])[:, None]
  if loong:
    omega = np.maximum(p["omega"], 0.0)
    eta = np.clip(p["eta"], spiking_ssm.ETA_MIN, 1.0)
    terms = [(-om + et * lam, et) for om, et in zip(omega, eta)]
  else:
    terms = [(lam, 1.0)]
  batch, length, _ = x.shape
  y = p["d"] * x
  for lam_m, eta_m in terms:
    lam_bar = np.exp(lam_m * dt)
    b_bar = (lam_bar - 1.0) / lam_m * b
    h = np.zeros((batch,) + lam.shape, complex)
    for t in range(length):
      h = lam_bar * h + b_bar * x[:, t, :, None]
      y[:, t] += 2 * np.real(np.sum(eta_m * c * h, -1))
    if bidirectional:
      cb = p["c_bwd"][..., 0] + 1j * p["c_bwd"][..., 1]
      r = np.zeros_like(h)  # r_t = sum_{s > t} lam^(s-t-1) B_bar u_s
      for t in range(length - 1, -1, -1):
        y[:, t] += 2 * np.real(np.sum(eta_m * cb * r, -1))
        r = lam_bar * r + b_bar * x[:, t, :, None]
  current = y / np.exp(p["ln_vth"])
  u = np.zeros((batch, x.shape[2]))
  spikes, v_all = np.zeros_like(x), np.zeros_like(x)
  for t in range(length):
    v = tau * u + current[:, t]
    s = (v > 1.0).astype(np.float64)
    u = v * (1 - s)
    spikes[:, t], v_all[:, t] = s, v
  if not glu:
    return spikes, spikes, v_all
  h = spikes @ p["mixer_w"] + p["mixer_b"]
  out = h[..., :x.shape[2]] / (1.0 + np.exp(-h[..., x.shape[2]:]))
  return out, spikes, v_all


def transformed(cls=ssm.SpikingSSM, **kwargs):
  def forward(x, is_training=None):
    return cls(N, **kwargs)(x, is_training=is_training)
  return hk.transform(forward)


@functools.lru_cache(maxsize=None)
def _init_cached(cls, seed, shape, frozen_kwargs):
  f = transformed(cls, **dict(frozen_kwargs))
  # Jitted: an eager init dispatches op by op, several times slower.
  return jax.jit(f.init)(jax.random.PRNGKey(seed),
                         jnp.zeros(shape, jnp.float32))


def init(cls=ssm.SpikingSSM, seed=0, shape=(B, T, D), **kwargs):
  """`(transformed, params)`; parameters are cached across tests (read-only)."""
  params = _init_cached(cls, seed, shape, tuple(sorted(kwargs.items())))
  return transformed(cls, **kwargs), jax.tree.map(lambda p: p, params)


def clear_inputs(params, name, shape=(B, T, D), **ref_kwargs):
  """Unit-normal inputs whose reference membranes avoid the threshold."""
  rng = np.random.default_rng(_seed(name))
  for _ in range(100):
    x = rng.standard_normal(shape).astype(np.float32)
    _, spikes, v = reference_layer(params, x, **ref_kwargs)
    if np.min(np.abs(v - 1.0)) > tol.THRESHOLD_MARGIN and spikes.mean() > 0.05:
      return x
  raise AssertionError("no input clear of the threshold in 100 draws")


def _layer_params(params):
  """The flat parameter dict of the (single) layer module."""
  (module,) = params
  return params[module]


class ReferenceTest(parameterized.TestCase):

  # Eager evaluation is checked against jit once for every module by
  # contracts_test.
  @parameterized.named_parameters(
      ("spiking_ssm", ssm.SpikingSSM, {}, {}),
      ("loongspike_three_terms", ssm.LoongSpike,
       dict(num_terms=3, omega_init=(0.0, 0.3, 1.0),
            eta_init=(1.0, 0.5, 0.2)), dict(loong=True)),
  )
  def test_iterative_path_matches_float64_reference(self, cls, kwargs,
                                                    ref_kwargs):
    self._check_reference(jax.jit, cls, kwargs, ref_kwargs)

  @parameterized.named_parameters(
      ("spiking_ssm_bidirectional_no_glu", ssm.SpikingSSM,
       dict(bidirectional=True, glu=False),
       dict(bidirectional=True, glu=False)),
      ("spiking_ssm_legs_tau", ssm.SpikingSSM, dict(init="legs", tau=0.5),
       dict(tau=0.5)),
  )
  def test_iterative_variants_match_float64_reference(self, cls, kwargs,
                                                      ref_kwargs):
    self._check_reference(jax.jit, cls, kwargs, ref_kwargs)

  def _check_reference(self, variant, cls, kwargs, ref_kwargs):
    # Given a layer in iterative mode, with parameters nudged off their init
    # (so d, C, the threshold and the mixer all matter).
    f, params = init(cls, mode="iterative", **kwargs)
    keys = iter(jax.random.split(jax.random.PRNGKey(7), 32))
    params = jax.tree.map(
        lambda p: p + 0.1 * jax.random.normal(next(keys), p.shape), params)
    layer = _layer_params(params)
    x = clear_inputs(layer, f"ref-{cls.__name__}-{kwargs}", **ref_kwargs)
    # When it runs (training mode: the iterative soma with BPTT).
    out = variant(lambda p, x: f.apply(p, None, x, True))(params, x)
    # Then it equals the float64 loops; with glu=False exactly (spikes).
    want, spikes, _ = reference_layer(layer, x, **ref_kwargs)
    self.assertGreater(spikes.mean(), 0.05)
    if kwargs.get("glu", True):
      np.testing.assert_allclose(out, want, **tol.F32_VS_F64)
    else:
      np.testing.assert_array_equal(out, want)


class SomaModesTest(parameterized.TestCase):

  @parameterized.parameters(ssm.SpikingSSM, ssm.LoongSpike)
  def test_sdn_spikes_agree_with_iterative_at_init(self, cls):
    # Given a layer at init and unit-normal input of 2 x 1024 steps.
    f, params = init(cls, glu=False, shape=(1, 8, 32))
    x = jnp.asarray(np.random.default_rng(_seed(f"agree{cls}")).standard_normal(
        (2, 1024, 32)), jnp.float32)
    # When the training soma (SDN) and the evaluation soma (exact) run.
    sdn_spikes = jax.jit(lambda p, x: f.apply(p, None, x, True))(params, x)
    exact = jax.jit(lambda p, x: f.apply(p, None, x, False))(params, x)
    # Then they agree on almost every step, and the neurons fire.
    agreement = float(jnp.mean(sdn_spikes == exact))
    self.assertGreaterEqual(agreement, MIN_AGREEMENT)
    self.assertGreater(float(exact.mean()), 0.05)

  def test_vth_init_is_a_threshold_that_scales_the_current(self):
    # Given layers whose thresholds start at 2 and at 1 (the default).
    f2, p2 = init(glu=False, vth_init=2.0)
    f1, p1 = init(glu=False)
    l1, l2 = _layer_params(p1), _layer_params(p2)
    np.testing.assert_allclose(l2["ln_vth"], np.full(D, np.log(2.0)),
                               **tol.F32_VS_F64)
    np.testing.assert_array_equal(l1["ln_vth"], 0.0)
    for name in l1:
      if name != "ln_vth":
        np.testing.assert_array_equal(l1[name], l2[name], err_msg=name)
    # When the first sees 2x and the second x (the S4D core is linear).
    x = clear_inputs(l1, "vth_init", glu=False)
    exact = jax.jit(lambda f, p, x: f.apply(p, None, x, False),
                    static_argnums=0)
    # Then both fire the same spike train.
    np.testing.assert_array_equal(exact(f2, p2, 2.0 * x), exact(f1, p1, x))

  def test_sdn_mode_gradients_are_finite_and_reach_every_parameter(self):
    # Given a layer training with the SDN soma.
    f, params = init(ssm.LoongSpike, dropout=0.1)
    x = jnp.asarray(np.random.default_rng(3).standard_normal((B, 64, D)),
                    jnp.float32)
    target = jnp.asarray(np.random.default_rng(4).standard_normal(
        (B, 64, D)), jnp.float32)

    def loss(p):
      out = f.apply(p, jax.random.PRNGKey(0), x, True)
      return jnp.mean(jnp.square(out - target))

    # When differentiating.
    grads = jax.jit(jax.grad(loss))(params)
    # Then every gradient is finite, and the surrogate path reaches the SSM
    # dynamics, the threshold and the fractional weights.
    layer = _layer_params(grads)
    for name, g in layer.items():
      self.assertTrue(np.all(np.isfinite(g)), msg=name)
    for name in ("log_dt", "a_log", "c", "d", "ln_vth", "omega", "eta",
                 "mixer_w"):
      self.assertGreater(float(jnp.abs(layer[name]).max()), 0.0, msg=name)

  def test_is_training_none_follows_the_rng(self):
    # Given a layer with dropout (active only in training).
    f, params = init(dropout=0.5)
    x = jnp.asarray(np.random.default_rng(5).standard_normal((B, 64, D)),
                    jnp.float32)
    apply = jax.jit(f.apply, static_argnums=3)
    rng = jax.random.PRNGKey(1)
    # When is_training is left to the layer, applied with and without RNG.
    with_rng = apply(params, rng, x, None)
    without = apply(params, None, x, None)
    # Then an RNG means training, none means evaluation.
    np.testing.assert_array_equal(with_rng, apply(params, rng, x, True))
    np.testing.assert_array_equal(without, apply(params, None, x, False))
    self.assertFalse(np.array_equal(with_rng, without))

  def test_dropout_is_tied_over_time_and_off_in_evaluation(self):
    f, params = init(dropout=0.5, glu=False, shape=(4, 64, 16))
    f0 = transformed(dropout=0.0, glu=False)
    x = jnp.asarray(np.random.default_rng(6).standard_normal((4, 64, 16)),
                    jnp.float32)
    apply, apply0 = (jax.jit(g.apply, static_argnums=3) for g in (f, f0))
    train = apply(params, jax.random.PRNGKey(2), x, True)
    undropped = apply0(params, jax.random.PRNGKey(2), x, True)
    # A dropped (sequence, channel) is zero at every step; a kept one is
    # the spike train scaled by 1 / (1 - rate).
    dropped = np.all(np.asarray(train) == 0, axis=1) & np.any(
        np.asarray(undropped) > 0, axis=1)
    self.assertTrue(dropped.any())
    kept = ~np.all(np.asarray(train) == 0, axis=1)
    np.testing.assert_array_equal(
        np.asarray(train).transpose(0, 2, 1)[kept],
        2.0 * np.asarray(undropped).transpose(0, 2, 1)[kept])
    np.testing.assert_array_equal(apply(params, None, x, False),
                                  apply0(params, None, x, False))


class ReleasedQuirksTest(parameterized.TestCase):
  """The released code's switches (configs/tables/README.md, section 4)."""

  def test_dropout_twice_drops_the_output_channels_too(self):
    # Given a layer with dropout 0.5 applied once and one applied twice,
    # with a non-zero mixer bias (so a silent channel's output is not 0).
    f1, params = init(dropout=0.5, shape=(4, 64, 16))
    f2 = transformed(dropout=0.5, dropout_twice=True)
    params = jax.tree.map(lambda p: p, params)
    params["spiking_ssm"]["mixer_b"] = jnp.full((32,), 0.5)
    x = jnp.asarray(np.random.default_rng(11).standard_normal((4, 64, 16)),
                    jnp.float32)
    key = jax.random.PRNGKey(3)
    once, twice = (np.asarray(jax.jit(f.apply, static_argnums=3)(
        params, key, x, True)) for f in (f1, f2))
    # Then only the second has whole output channels at zero, at about the
    # rate (64 channels: std of the fraction ~0.06).
    zero = lambda y: np.all(y == 0, axis=1)  # noqa: E731
    self.assertFalse(zero(once).any())
    self.assertAlmostEqual(zero(twice).mean(), 0.5, delta=0.25)
    # In evaluation neither drops anything: the outputs are equal.
    np.testing.assert_array_equal(
        jax.jit(f1.apply, static_argnums=3)(params, None, x, False),
        jax.jit(f2.apply, static_argnums=3)(params, None, x, False))

  def test_dropout_twice_off_keeps_the_single_mask(self):
    # The default draws the same mask from the same key as before the
    # option existed: the output with dropout_twice=False is unchanged.
    f, params = init(dropout=0.5, glu=False, shape=(2, 32, 8))
    f_off = transformed(dropout=0.5, glu=False, dropout_twice=False)
    x = jnp.asarray(np.random.default_rng(12).standard_normal((2, 32, 8)),
                    jnp.float32)
    key = jax.random.PRNGKey(4)
    np.testing.assert_array_equal(f.apply(params, key, x, True),
                                  f_off.apply(params, key, x, True))

  def test_fixed_b_is_one_and_not_a_parameter(self):
    # trainable_B: false (the released S4DKernel): B = 1, no parameter.
    f_fixed, fixed = init(trainable_b=False, mode="iterative")
    f, trained = init(mode="iterative")
    self.assertNotIn("b", fixed["spiking_ssm"])
    np.testing.assert_array_equal(
        trained["spiking_ssm"]["b"],
        np.stack([np.ones((D, N // 2)), np.zeros((D, N // 2))], -1))
    x = jnp.asarray(np.random.default_rng(13).standard_normal((B, T, D)),
                    jnp.float32)
    np.testing.assert_array_equal(f_fixed.apply(fixed, None, x, False),
                                  f.apply(trained, None, x, False))

  def test_released_sdn_topology_runs_the_released_network(self):
    # Given released-topology weights and a layer using them (glu=False:
    # the layer returns its spikes).
    rng = np.random.default_rng(14)
    weights = {n: (0.5 * rng.standard_normal(shape)).astype(np.float32)
               for n, shape in sdn.weight_shapes(8, 8).items()}
    f, params = init(glu=False, sdn_topology="released",
                     sdn_weights=_frozen(weights))
    x = jnp.asarray(rng.standard_normal((B, T, D)), jnp.float32)
    got = jax.jit(lambda p, x: f.apply(p, None, x, True))(params, x)
    # Then the spikes are those of the released SDN soma on the layer's
    # current (the S4D output over the threshold, from the same params).
    s4d = hk.without_apply_rng(hk.transform(lambda x: ssm.S4D(
        N, init="lin", name="spiking_ssm")(x)))
    layer = params["spiking_ssm"]
    current = s4d.apply({"spiking_ssm": {k: v for k, v in layer.items()
                                         if k != "ln_vth"}}, x) / jnp.exp(
                                             layer["ln_vth"])
    want = sdn.sdn_spikes(weights, current, topology="released")
    np.testing.assert_array_equal(got, want)
    paper = sdn.sdn_spikes(weights, current)
    self.assertFalse(np.array_equal(want, paper))

  def test_each_topology_defaults_to_its_packaged_weights(self):
    def sdn_weights_of(**kw):
      box = {}

      def f():
        box["weights"] = ssm.SpikingSSM(N, **kw).sdn_weights

      hk.transform(f).init(None)
      return box["weights"]

    # Given no `sdn_weights`, each topology gets the packaged file of its
    # own topology (and the two differ).
    for topology in ("paper", "released"):
      got = sdn_weights_of(sdn_topology=topology)
      want = sdn.load_pretrained_sdn(TAU, topology)
      self.assertEqual(sorted(got), sorted(want))
      for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    self.assertFalse(np.array_equal(
        sdn.load_pretrained_sdn(TAU, "released")["w_conv"],
        sdn.load_pretrained_sdn(TAU, "paper")["w_conv"]))
    # And none is read when no mode uses the SDN.
    self.assertIsNone(sdn_weights_of(sdn_topology="released",
                                     mode="iterative"))

  def test_weights_files_must_be_of_the_layers_topology(self):
    build = lambda **kw: hk.transform(  # noqa: E731
        lambda: ssm.SpikingSSM(N, **kw)).init(None)
    path = sdn.save_sdn_weights(self.create_tempdir().full_path + "/w",
                                sdn.load_pretrained_sdn(), TAU)
    with self.assertRaisesRegex(ValueError, "has topology 'paper', but "
                                "sdn_topology='released'"):
      build(sdn_topology="released", sdn_weights=path)
    with self.assertRaisesRegex(ValueError, "has topology 'released', but "
                                "sdn_topology='paper'"):
      build(sdn_weights=sdn.weights_path(TAU, "released"))
    # And a tau with no packaged weights of the topology says so.
    with self.assertRaisesRegex(
        ValueError, "SpikingSSM: sdn_topology='released': No pre-trained "
        "SDN ships for tau=0.3 and topology 'released'"):
      build(sdn_topology="released", tau=0.3)

  @parameterized.named_parameters(
      ("sdn_topology", dict(sdn_topology="fused"), ValueError,
       r"`sdn_topology` must be one of \('paper', 'released'\)"),
      ("dropout_twice", dict(dropout_twice="yes"), TypeError,
       "`dropout_twice` must be a bool"),
      ("trainable_b", dict(trainable_b=None), TypeError,
       "`trainable_b` must be a bool"),
      ("b_clip", dict(b_clip=0.0), ValueError, "`b_clip` must be > 0"),
  )
  def test_bad_options(self, kwargs, error, message):
    with self.assertRaisesRegex(error, message):
      hk.transform(lambda: ssm.SpikingSSM(N, **kwargs)).init(None)


class _frozen(dict):  # pylint: disable=invalid-name
  """A hashable weight mapping (the init cache keys on the options)."""

  def __hash__(self):
    return id(self)


class StreamingTest(parameterized.TestCase):

  @parameterized.parameters((ssm.SpikingSSM, False), (ssm.LoongSpike, True))
  def test_step_equals_call_in_iterative_mode(self, cls, glu):
    # Given a causal layer and inputs clear of the threshold.
    f, params = init(cls, mode="iterative", glu=glu)
    x = clear_inputs(_layer_params(params), f"stream{cls}{glu}", glu=glu,
                     loong=cls is ssm.LoongSpike)

    def streamed(x):
      layer = cls(N, mode="iterative", glu=glu)
      state = layer.initial_state(x.shape[0], x.shape[-1])

      def body(state, x_t):
        out, state = layer.step(x_t, state)
        return state, out

      _, outs = hk.scan(body, state, x.swapaxes(0, 1))
      return outs.swapaxes(0, 1)

    g = hk.without_apply_rng(hk.transform(streamed))
    # When it runs step by step and as a whole sequence.
    stepped = jax.jit(g.apply)(params, x)
    whole = jax.jit(lambda p, x: f.apply(p, None, x, False))(params, x)
    # Then the spikes are identical and the outputs equal.
    if glu:
      np.testing.assert_allclose(stepped, whole, **tol.F32_SCAN_SHORT)
    else:
      np.testing.assert_array_equal(stepped, whole)
    # And streaming created exactly the parameters of __call__.
    self.assertEqual(jax.tree.structure(g.init(jax.random.PRNGKey(0), x)),
                     jax.tree.structure(params))

  @parameterized.parameters(True, False)
  def test_time_major_matches_batch_major(self, is_training):
    # Both somas (SDN in training, exact in evaluation) in both layouts.
    f, params = init()
    g = hk.transform(lambda x: ssm.SpikingSSM(N)(
        x, is_training=is_training, time_major=True))
    x = jnp.asarray(np.random.default_rng(8).standard_normal((B, 40, D)),
                    jnp.float32)
    np.testing.assert_allclose(
        jax.jit(g.apply)(params, None, x.swapaxes(0, 1)).swapaxes(0, 1),
        jax.jit(f.apply, static_argnums=3)(params, None, x, is_training),
        **tol.F32_SCAN_SHORT)


class LoongSpikeTest(parameterized.TestCase):

  @parameterized.parameters(("sdn", True), ("iterative", False))
  def test_one_term_at_zero_shift_unit_weight_is_spiking_ssm(self, mode,
                                                             train):
    # Given SpikingSSM parameters, and LoongSpike with M = 1, omega = 0,
    # eta = 1 holding the same parameters plus omega and eta.
    f, params = init(ssm.SpikingSSM, mode=mode, eval_mode=mode, dropout=0.2)
    g = transformed(ssm.LoongSpike, num_terms=1, omega_init=(0.0,),
                    eta_init=(1.0,), mode=mode, eval_mode=mode, dropout=0.2)
    x = jnp.asarray(np.random.default_rng(9).standard_normal((B, 128, D)),
                    jnp.float32)
    loong = jax.jit(g.init)(jax.random.PRNGKey(1), x)
    self.assertEqual(set(loong["loong_spike"]) - set(params["spiking_ssm"]),
                     {"omega", "eta"})
    loong = {"loong_spike": dict(params["spiking_ssm"],
                                 omega=loong["loong_spike"]["omega"],
                                 eta=loong["loong_spike"]["eta"])}
    # When both run (same RNG for dropout).
    rng = jax.random.PRNGKey(3)
    a = jax.jit(lambda p, x: f.apply(p, rng, x, train))(params, x)
    b = jax.jit(lambda p, x: g.apply(p, rng, x, train))(loong, x)
    # Then the outputs are identical.
    np.testing.assert_array_equal(a, b)

  def test_omega_and_eta_stay_bounded_under_adversarial_updates(self):
    # Given a LoongSpike and an optimiser with a huge step that pushes the
    # fractional weights as hard as the loss allows, plus raw values set far
    # outside their ranges.
    f, params = init(ssm.LoongSpike)
    x = jnp.asarray(np.random.default_rng(10).standard_normal((B, 64, D)),
                    jnp.float32)

    def loss(p):
      return jnp.sum(f.apply(p, None, x, True))

    # Only the fractional weights move (a huge step would wreck log_dt).
    labels = jax.tree_util.tree_map_with_path(
        lambda path, _: "move" if path[-1].key in ("omega", "eta") else "keep",
        params)
    opt = optax.multi_transform(
        {"move": optax.sgd(1e4), "keep": optax.set_to_zero()}, labels)
    state = opt.init(params)
    step = jax.jit(lambda p, s: opt.update(jax.grad(loss)(p), s, p))
    for sign in (1.0, -1.0):
      for _ in range(3):
        updates, state = step(params, state)
        params = optax.apply_updates(
            params, jax.tree.map(lambda u, sign=sign: sign * u, updates))
    params = jax.tree.map(lambda p: p, params)
    params["loong_spike"]["omega"] = jnp.array([-50.0, 1e3])
    params["loong_spike"]["eta"] = jnp.array([7.0, -3.0])

    def effective(x):
      layer = ssm.LoongSpike(N)
      layer(x, is_training=True)
      omega, eta = layer.fractional_weights()
      # pylint: disable-next=protected-access
      lam, *_ = layer._modes(x.shape[-1], jnp.float32)
      return omega, eta, lam

    # When the layer reads its effective values.
    omega, eta, lam = jax.jit(hk.transform(effective).apply)(params, None, x)
    # Then omega >= 0, eta in [ETA_MIN, 1], every mode decays, and the
    # outputs stay finite.
    np.testing.assert_array_equal(omega, [0.0, 1e3])
    np.testing.assert_allclose(eta, [1.0, spiking_ssm.ETA_MIN])
    self.assertTrue(np.all(np.real(lam) < 0))
    out = jax.jit(f.apply, static_argnums=3)(params, None, x, False)
    self.assertTrue(np.all(np.isfinite(out)))

  @parameterized.named_parameters(
      ("zero_terms", dict(num_terms=0), "num_terms.*int >= 1"),
      ("negative_omega", dict(omega_init=(-0.1, 0.1)),
       "omega_init.*\\[0.0, inf\\]"),
      ("eta_zero", dict(eta_init=(1.0, 0.0)), "eta_init.*\\(0.0, 1.0\\]"),
      ("eta_above_one", dict(eta_init=(1.5, 0.1)), "eta_init.*\\(0.0, 1.0\\]"),
      ("wrong_length", dict(num_terms=3), "omega_init.*num_terms=3.*got 2"),
      ("not_numbers", dict(eta_init="ab"), "eta_init"),
  )
  def test_bad_fractional_arguments(self, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      hk.transform(lambda: ssm.LoongSpike(N, **kwargs)).init(None)


class ContractTest(parameterized.TestCase):

  def test_optimizer_groups(self):
    f, params = init(ssm.LoongSpike)
    _, owners = optim.param_owners(f.init, jax.random.PRNGKey(0),
                                   jnp.zeros((B, T, D)))
    labels = optim.label_params(params, owners)["loong_spike"]
    for name in ("log_dt", "a_log", "a_im", "b", "omega", "eta"):
      self.assertEqual(labels[name], "ssm", msg=name)
    self.assertEqual(labels["ln_vth"], "no_decay")
    self.assertEqual(labels["mixer_b"], "no_decay")
    self.assertEqual(labels["mixer_w"], "default")

  def test_zoo_layer_records_its_spike_rate(self):
    # Given the zoo's layer built as the backbone builds it.
    def forward(x):
      return zoo.layer_factory("spiking_ssm", state_size=N, glu=False)()(
          x, is_training=False)

    f = hk.transform_with_state(forward)
    x = jnp.asarray(np.random.default_rng(11).standard_normal((B, 32, D)),
                    jnp.float32)
    params, state = jax.jit(f.init)(jax.random.PRNGKey(0), x)
    # When it runs.
    spikes, state = jax.jit(f.apply)(params, state, None, x)
    # Then its Haiku state holds the mean spike rate.
    self.assertAlmostEqual(float(state["spiking_ssm"]["spike_rate"]),
                           float(spikes.mean()), places=6)
    self.assertIn("loongspike", zoo.layer_names())
    self.assertContainsSubset({ssm.SpikingSSM, ssm.LoongSpike},
                              precision.ssm_core_classes())

  def test_backbone_block_trains_with_the_zoo_layer(self):
    def forward(x, is_training):
      body = backbone.SequenceBackbone(
          zoo.layer_factory("loongspike", state_size=N), 2, D, glu="none")
      return body(x, jnp.ones(x.shape[:2]), is_training=is_training)

    f = hk.transform_with_state(forward)
    x = jnp.asarray(np.random.default_rng(12).standard_normal((B, 16, D)),
                    jnp.float32)
    params, state = jax.jit(f.init, static_argnums=2)(
        jax.random.PRNGKey(0), x, True)
    out, state = jax.jit(f.apply, static_argnums=4)(
        params, state, jax.random.PRNGKey(1), x, True)
    self.assertEqual(out.shape, x.shape)
    rates = [v["spike_rate"] for v in state.values() if "spike_rate" in v]
    self.assertLen(rates, 2)

  @parameterized.named_parameters(
      ("mode", dict(mode="bptt"), ValueError, "mode.*\\('sdn', 'iterative'\\)"),
      ("eval_mode", dict(eval_mode="exact"), ValueError, "eval_mode"),
      ("dropout", dict(dropout=1.0), ValueError, "dropout.*\\[0, 1\\).*1.0"),
      ("tau", dict(tau=1.5), ValueError, "tau must be a number in \\(0, 1\\)"),
      ("no_sdn_for_tau", dict(tau=0.3), ValueError,
       "No pre-trained SDN ships for tau=0.3"),
      ("surrogate", dict(surrogate="nope"), ValueError, "surrogate must be"),
      ("slope", dict(slope=-1.0), ValueError, "slope must be > 0"),
      ("glu", dict(glu="yes"), TypeError, "glu.*bool"),
      ("vth_init", dict(vth_init=0.0), ValueError, "vth_init.*> 0.*0.0"),
      ("sdn_weights", dict(sdn_weights=3), TypeError, "sdn_weights"),
      ("state_size", dict(state_size=7), ValueError, "state_size.*even"),
  )
  def test_bad_constructor_arguments(self, kwargs, error, message):
    kwargs = dict(kwargs)
    state_size = kwargs.pop("state_size", N)
    with self.assertRaisesRegex(error, message):
      hk.transform(lambda: ssm.SpikingSSM(state_size, **kwargs)).init(None)

  def test_exact_soma_needs_no_sdn(self):
    # A tau without packaged weights is fine when no mode uses the SDN.
    f = transformed(tau=0.3, mode="iterative", eval_mode="iterative")
    params = jax.eval_shape(f.init, jax.random.PRNGKey(0),
                            jnp.zeros((1, 4, 2)))
    self.assertIn("ln_vth", params["spiking_ssm"])

  def test_bad_inputs(self):
    f, params = init()
    with self.assertRaisesRegex(ValueError, "`x` must have rank 3"):
      f.apply(params, None, jnp.zeros((T, D)))
    with self.assertRaisesRegex(TypeError, "`x` must be a floating"):
      f.apply(params, None, jnp.zeros((B, T, D), jnp.int32))
    with self.assertRaisesRegex(ValueError, "D=3 does not match D=5"):
      f.apply(params, None, jnp.zeros((B, T, 3)))

  def test_bad_streaming(self):
    def bidirectional_step(x_t):
      layer = ssm.SpikingSSM(N, bidirectional=True)
      return layer.step(x_t, layer.initial_state(B, D))

    with self.assertRaisesRegex(ValueError, "needs a causal layer"):
      hk.transform(bidirectional_step).init(None, jnp.zeros((B, D)))

    def wrong_state(x_t):
      layer = ssm.SpikingSSM(N)
      return layer.step(x_t, layer.initial_state(B, D).ssm)

    with self.assertRaisesRegex(TypeError, "SpikingSSMState, got S4DState"):
      hk.transform(wrong_state).init(None, jnp.zeros((B, D)))

    def wrong_membrane(x_t):
      layer = ssm.SpikingSSM(N)
      state = layer.initial_state(B, D)
      return layer.step(x_t, state._replace(v=jnp.zeros((B, D + 1))))

    with self.assertRaisesRegex(ValueError, "state.v.*\\(2, 5\\).*\\(2, 6\\)"):
      hk.transform(wrong_membrane).init(None, jnp.zeros((B, D)))


if __name__ == "__main__":
  absltest.main()
