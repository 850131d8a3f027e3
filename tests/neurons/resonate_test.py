"""Tests for spike_ssm.neurons.resonate.ResonateFire (step and parallel)."""

from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import jmp
import numpy as np
import optax

from spike_ssm import neurons
from spike_ssm.neurons import resonate
from spike_ssm.ops import scans
from tests import tolerances as tol
from tests.neurons import references as refs

B, T, N = 3, 40, 4
DT, THRESHOLD = 0.5, 1.1
# Per-unit decay rates and frequencies (rad per unit time) for the tests:
# |a| = exp(-DT * lambda) in [0.85, 0.95], omega * DT in (0, pi).
LAMBDA = np.array([0.1, 0.2, 0.25, 0.32])
OMEGA = np.array([0.3, 1.5, 3.0, 5.5])
SCAN_MODES = ("sequential", "parallel", "chunked", "auto")


def reference(x, lam, omega, dt, threshold, state=None):
  """float64 loop: z = exp(dt(-lam + i omega)) z + x; s = [Re z > theta].

  Args:
    x: real inputs (B, T, *H).
    lam, omega: decay rates and frequencies, broadcastable to H.
    dt, threshold: as in ResonateFire.
    state: optional (z0,) with z0 complex (B, *H).

  Returns:
    `refs.Ref` with spikes (B, T, *H), final (z,), and the signed distance
    of Re(z) to the threshold at every step.
  """
  x = np.asarray(x, np.float64)
  a = np.exp(dt * (-np.asarray(lam, np.float64) +
                   1j * np.asarray(omega, np.float64)))
  z = (np.zeros(x.shape[:1] + x.shape[2:], np.complex128) if state is None
       else np.array(state[0], np.complex128))
  spikes, dist = np.zeros_like(x), np.zeros_like(x)
  for t in range(x.shape[1]):
    z = a * z + x[:, t]
    dist[:, t] = z.real - threshold
    spikes[:, t] = z.real > threshold
  return refs.Ref(spikes, (z,), dist)


def softplus64(raw):
  raw = np.asarray(raw, np.float64)
  return np.logaddexp(raw, 0.0)


def _core(scan_mode="auto", **kwargs):
  kwargs.setdefault("lambda_init", LAMBDA)
  kwargs.setdefault("omega_init", OMEGA)
  kwargs.setdefault("threshold", THRESHOLD)
  kwargs.setdefault("dt", DT)
  return resonate.ResonateFire(N, scan_mode=scan_mode, **kwargs)


def _both_modes(scan_mode, **kwargs):
  """A transform whose apply returns (run outputs, parallel outputs)."""
  def f(x, state, time_major):
    core = _core(scan_mode, **kwargs)
    stepped = neurons.run(core, x, state, time_major=time_major)
    parallel = core.parallel(x, state, time_major=time_major)
    return stepped, parallel
  return hk.transform(f)


def _all_modes(modes=SCAN_MODES):
  """(init, apply) where apply returns (run outputs, {mode: parallel}).

  One transform per mode, all naming their core `resonate_fire`, so every
  mode runs with the very same parameters, under a single jit.
  """
  run = hk.transform(lambda x, s, tm: neurons.run(_core(), x, s,
                                                  time_major=tm))
  par = {m: hk.transform(lambda x, s, tm, m=m: _core(m).parallel(
      x, s, time_major=tm)) for m in modes}

  def apply(params, x, state, time_major):
    return (run.apply(params, None, x, state, time_major),
            {m: f.apply(params, None, x, state, time_major)
             for m, f in par.items()})

  return run.init, apply


def _draw(rng, shape, lam=LAMBDA, omega=OMEGA, z0=None):
  return refs.draw_away_from_threshold(
      rng, shape,
      lambda x: reference(x, lam, omega, DT, THRESHOLD,
                          None if z0 is None else (z0,)),
      loc=0.2, scale=0.6)


class ParallelEqualsStepTest(parameterized.TestCase):

  # From zeros in batch-major layout, and from a random complex state in
  # time-major layout; every scan mode in each.
  @parameterized.parameters((False, False), (True, True))
  def test_parallel_equals_run_and_reference(self, with_state, time_major):
    # Given inputs keeping every Re(z) away from the threshold and, maybe, a
    # complex initial state.
    rng = np.random.default_rng(with_state)
    z0 = None
    if with_state:
      z0 = (rng.uniform(-1, 1, (B, N)) + 1j * rng.uniform(-1, 1, (B, N))
           ).astype(np.complex64)
    x, ref = _draw(rng, (B, T, N), z0=z0)
    state = None if z0 is None else resonate.ResonateFireState(jnp.asarray(z0))
    xs = jnp.asarray(x.swapaxes(0, 1) if time_major else x)
    # When the sequence is scored by scanning __call__ and by .parallel in
    # every scan mode.
    init, apply = _all_modes()
    params = jax.jit(init, static_argnums=3)(None, xs, state, time_major)
    (s_run, st_run), parallel = jax.jit(apply, static_argnums=3)(
        params, xs, state, time_major)
    # Then all give the float64 reference spike train bit for bit.
    expected = ref.outputs.swapaxes(0, 1) if time_major else ref.outputs
    self.assertGreater(expected.sum(), 0)
    self.assertLess(expected.mean(), 1.0)
    np.testing.assert_array_equal(s_run, expected)
    np.testing.assert_allclose(st_run.z, ref.final[0], **tol.F32_VS_F64)
    self.assertEqual(st_run.z.dtype, jnp.complex64)
    for mode, (s_par, st_par) in parallel.items():
      np.testing.assert_array_equal(s_par, expected, err_msg=mode)
      # And the complex final membranes agree with the step and the loop.
      np.testing.assert_allclose(st_par.z, st_run.z, **tol.scan_tol(T),
                                 err_msg=mode)
      np.testing.assert_allclose(st_par.z, ref.final[0], **tol.F32_VS_F64,
                                 err_msg=mode)
      self.assertEqual(st_par.z.dtype, jnp.complex64)

  def test_default_init_matches_reference_from_its_parameters(self):
    # Given the per-unit default init over a 2-D hidden shape.
    shape = (2, 3)
    f = hk.transform(lambda x: resonate.ResonateFire(
        shape, threshold=THRESHOLD, scan_mode="parallel").parallel(x))
    x0 = jnp.zeros((B, 5, *shape))
    params = jax.jit(f.init)(None, x0)["resonate_fire"]
    lam, omega = softplus64(params["raw_lambda"]), np.float64(params["omega"])
    # When a sequence is scored.
    rng = np.random.default_rng(3)
    x, ref = refs.draw_away_from_threshold(
        rng, (B, T, *shape),
        lambda x: reference(x, lam, omega, 1.0, THRESHOLD), loc=0.2,
        scale=0.6)
    spikes, state = jax.jit(f.apply)({"resonate_fire": params}, None,
                                     jnp.asarray(x))
    # Then it follows the float64 loop with the poles its parameters define.
    self.assertGreater(ref.outputs.sum(), 0)
    np.testing.assert_array_equal(spikes, ref.outputs)
    np.testing.assert_allclose(state.z, ref.final[0], **tol.F32_VS_F64)

  def test_gradients_agree_between_modes(self):
    # Given a loss on the spikes (surrogate path) and on the final membrane.
    rng = np.random.default_rng(11)
    x, _ = _draw(rng, (B, T, N))
    x = jnp.asarray(x)
    w = jnp.asarray(rng.normal(size=(B, T, N)), jnp.float32)
    modes = ("sequential", "parallel", "chunked")  # "auto" is one of these.
    init, apply = _all_modes(modes)
    params = jax.jit(init, static_argnums=3)(None, x, None, False)

    def loss(out):
      spikes, state = out
      return (jnp.sum(w * spikes) + jnp.sum(jnp.sin(state.z.real)) +
              jnp.sum(jnp.cos(state.z.imag)))

    def losses(params, x):
      run, parallel = apply(params, x, None, False)
      return [loss(run)] + [loss(parallel[m]) for m in modes]

    # When it is differentiated through the step and each scan mode.
    # (jacrev of the list of losses: one (d params, d x) per loss.)
    grads = jax.jit(jax.jacrev(losses, argnums=(0, 1)))(params, x)
    g_run = jax.tree.leaves(grads[0])
    # Then the gradients w.r.t. raw_lambda, omega and the inputs agree and
    # are not zero.
    for i, mode in enumerate(modes, start=1):
      g_par = jax.tree.leaves(grads[i])
      for got, want in zip(g_par, g_run):
        self.assertGreater(np.abs(want).min(), 0)
        np.testing.assert_allclose(got, want, **tol.scan_tol(T),
                                   err_msg=mode)

  def test_surrogate_gradient_matches_float64_forward_sensitivities(self):
    # Given L = sum_t w_t s_t with s_t = spike(Re z_t - theta).
    rng = np.random.default_rng(12)
    x, ref = _draw(rng, (B, T, N))
    w = rng.normal(size=(B, T, N))
    slope = 4.0
    f = hk.transform(lambda x: _core("parallel", surrogate="fast_sigmoid",
                                     slope=slope).parallel(x)[0])
    params = jax.jit(f.init)(None, jnp.asarray(x))
    loss = lambda p: jnp.sum(jnp.asarray(w, jnp.float32) *
                             f.apply(p, None, jnp.asarray(x)))
    # When it is differentiated w.r.t. raw_lambda and omega.
    got = jax.jit(jax.grad(loss))(params)["resonate_fire"]
    # Then it equals sum_t w_t sigma'(Re z_t - theta) Re(dz_t/dp), with the
    # sensitivities dz_t/dp = (da/dp) z_{t-1} + a dz_{t-1}/dp in float64,
    # da/domega = i dt a, da/draw = -dt sigmoid(raw) a.
    raw = np.float64(params["resonate_fire"]["raw_lambda"])
    omega = np.float64(params["resonate_fire"]["omega"])
    a = np.exp(DT * (-softplus64(raw) + 1j * omega))
    da = {"omega": 1j * DT * a, "raw_lambda": -DT / (1 + np.exp(-raw)) * a}
    z = np.zeros((B, N), np.complex128)
    dz = {k: np.zeros((B, N), np.complex128) for k in da}
    want = {k: np.zeros(N) for k in da}
    for t in range(T):
      for k in da:
        dz[k] = da[k] * z + a * dz[k]
      z = a * z + x[:, t]
      sigma = 1.0 / (1.0 + slope * np.abs(z.real - THRESHOLD))**2
      for k in da:
        want[k] += np.sum(w[:, t] * sigma * dz[k].real, axis=0)
    np.testing.assert_allclose(z, ref.final[0], **tol.F32_VS_F64)
    for k in da:
      self.assertGreater(np.abs(want[k]).min(), 0)
      np.testing.assert_allclose(got[k], want[k], **tol.scan_tol(T))

  def test_pole_is_passed_time_invariant(self):
    x = jnp.ones((2, 16, N))
    f = hk.transform(lambda x: _core("parallel").parallel(x))
    with mock.patch.object(scans, "linear_scan",
                           wraps=scans.linear_scan) as spy:
      jax.eval_shape(lambda x: f.apply(f.init(None, x), None, x), x)
    a = spy.call_args.args[0]
    self.assertEqual((a.shape, a.dtype), ((N,), jnp.complex64))

  def test_empty_sequence_keeps_the_initial_state(self):
    z0 = resonate.ResonateFireState(jnp.full((2, N), 0.5 + 0.25j,
                                             jnp.complex64))
    f = hk.transform(lambda x: _core().parallel(x, z0))
    x = jnp.zeros((2, 0, N))
    spikes, state = f.apply(f.init(None, x), None, x)
    self.assertEqual(spikes.shape, (2, 0, N))
    np.testing.assert_array_equal(state.z, z0.z)


class InitTest(parameterized.TestCase):

  def test_given_values_are_the_initial_lambda_and_omega(self):
    x = jnp.zeros((1, 2, N))
    params = hk.transform(lambda x: _core().parallel(x)).init(None, x)
    p = params["resonate_fire"]
    np.testing.assert_allclose(softplus64(p["raw_lambda"]), LAMBDA,
                               **tol.F32_VS_F64)
    np.testing.assert_allclose(p["omega"], OMEGA, **tol.F32_VS_F64)
    self.assertEqual({v.dtype for v in p.values()}, {jnp.dtype(jnp.float32)})

  @parameterized.parameters(1e-6, 50.0)
  def test_scalar_lambda_init_at_extremes(self, lam):
    # softplus^-1 is evaluated stably at both ends.
    x = jnp.zeros((1, 2, N))
    params = hk.transform(lambda x: resonate.ResonateFire(
        N, lambda_init=lam).parallel(x)).init(None, x)
    np.testing.assert_allclose(
        softplus64(params["resonate_fire"]["raw_lambda"]), np.full(N, lam),
        **tol.F32_VS_F64)

  @parameterized.parameters(0.5, 2.0)
  def test_default_poles_fill_the_ring_below_nyquist(self, dt):
    # Given the per-unit default init of 12 units.
    n = 12
    x = jnp.zeros((1, 2, n))
    params = hk.transform(lambda x: resonate.ResonateFire(
        n, dt=dt).parallel(x)).init(None, x)["resonate_fire"]
    radius = np.exp(-dt * softplus64(params["raw_lambda"]))
    angle = np.float64(params["omega"]) * dt
    # Then the discrete poles (independent of dt) lie on the documented ring
    # [R_MIN, R_MAX] with angles evenly spread strictly inside (0, pi), and
    # the radii are spread (neither constant nor sorted with frequency).
    np.testing.assert_allclose(np.sort(angle),
                               np.pi * (np.arange(n) + 0.5) / n,
                               **tol.F32_VS_F64)
    self.assertTrue(np.all(radius >= resonate.R_MIN - tol.F32_VS_F64["atol"]))
    self.assertTrue(np.all(radius <= resonate.R_MAX + tol.F32_VS_F64["atol"]))
    self.assertGreater(radius.max() - radius.min(),
                       0.8 * (resonate.R_MAX - resonate.R_MIN))
    self.assertFalse(np.all(np.diff(radius) > 0))
    self.assertFalse(np.all(np.diff(radius) < 0))


class StabilityTest(parameterized.TestCase):

  def test_pole_modulus_at_most_one_for_adversarial_parameters(self):
    # Given parameters far outside any sensible range.
    raw = np.array([-1e30, -1e4, -100.0, -20.0, 0.0, 20.0, 1e4, 1e30],
                   np.float32)
    omega = np.array([1e30, -1e4, np.pi, -3.0, 0.0, 7.0, 1e6, -1e30],
                     np.float32)
    raw, omega = np.meshgrid(raw, omega)
    for dt in (1e-3, 1.0, 10.0):
      # When the pole is formed.
      a = np.asarray(jax.jit(resonate.resonator_pole, static_argnums=2)(
          raw, omega, dt))
      # Then it is finite and never outside the unit circle beyond the
      # rounding of float32 cos/sin.
      self.assertTrue(np.all(np.isfinite(a)))
      modulus = np.abs(a.astype(np.complex128))
      self.assertLessEqual(modulus.max(), 1.0 + tol.POLE_MODULUS_F32)

  def test_large_steps_that_push_lambda_down_keep_the_membrane_bounded(self):
    # Given a bounded input driving every unit at its resonant frequency and
    # an optimiser taking huge steps on raw_lambda (omega is held, so the
    # drive stays resonant) to maximise the final membrane energy, which
    # rewards smaller lambda, i.e. less damping.
    length = 200
    t = np.arange(length)
    x = np.cos(OMEGA * DT * t[:, None])[None].astype(np.float32)  # [1, T, N]
    f = hk.transform(lambda x: _core("sequential").parallel(x)[1].z)
    params = jax.jit(f.init)(None, jnp.asarray(x))
    raw_before = np.asarray(params["resonate_fire"]["raw_lambda"])
    opt = optax.sgd(1e4)

    @jax.jit
    def step(params, opt_state):
      energy = lambda p: -jnp.sum(jnp.abs(f.apply(p, None, jnp.asarray(x)))**2)
      grads = jax.grad(energy)(params)
      grads["resonate_fire"]["omega"] = jnp.zeros_like(
          grads["resonate_fire"]["omega"])
      updates, opt_state = opt.update(grads, opt_state)
      return optax.apply_updates(params, updates), opt_state

    opt_state = opt.init(params)
    for _ in range(20):
      params, opt_state = step(params, opt_state)
    # Then lambda was pushed far down...
    raw_after = np.asarray(params["resonate_fire"]["raw_lambda"])
    self.assertTrue(np.all(np.isfinite(raw_after)))
    self.assertLess(raw_after.max(), raw_before.min() - 10.0)
    # ...the pole stays on or inside the unit circle...
    a = np.asarray(resonate.resonator_pole(
        raw_after, params["resonate_fire"]["omega"], DT)).astype(np.complex128)
    self.assertLessEqual(np.abs(a).max(), 1.0 + tol.POLE_MODULUS_F32)

    # ...and every membrane, stepped through __call__, obeys the lossless
    # bound |z_t| <= sum_{s<=t} |x_s| (up to float32 rounding, |a| -> 1).
    def trace(x):
      core = _core("sequential")

      def body(state, x_t):
        _, state = core(x_t, state)
        return state, state.z

      return hk.scan(body, core.initial_state(1), x.swapaxes(0, 1))[1]

    g = hk.transform(trace)
    z = np.asarray(jax.jit(g.apply)(params, None, jnp.asarray(x)))  # [T,1,N]
    bound = np.cumsum(np.abs(x[0]), axis=0)[:, None]  # [T, 1, N]
    self.assertTrue(np.all(np.isfinite(z)))
    slack = 1 + tol.F32_SCAN_LONG["rtol"]
    self.assertTrue(np.all(np.abs(z) <= bound * slack))
    # And the resonant drive really does grow the membrane almost linearly
    # (so the bound above is tight, not vacuous).
    self.assertGreater(np.abs(z[-1]).min(), 0.25 * length)


class DtypeTest(parameterized.TestCase):

  def test_initial_state_is_complex64_zeros(self):
    core = hk.testing.transform_and_run(
        lambda: [_core().initial_state(b) for b in (4, None, 0)])()
    for state, shape in zip(core, ((4, N), (N,), (0, N))):
      self.assertIsInstance(state, resonate.ResonateFireState)
      self.assertEqual((state.z.shape, state.z.dtype), (shape, jnp.complex64))
      np.testing.assert_array_equal(state.z, 0)

  def test_bfloat16_input(self):
    x = jnp.asarray(np.random.default_rng(6).normal(size=(2, 30, N)),
                    jnp.bfloat16)
    f = _both_modes("parallel")
    params = jax.jit(f.init, static_argnums=3)(None, x, None, False)
    (s_run, st_run), (s_par, st_par) = jax.jit(
        lambda p, x: f.apply(p, None, x, None, False))(params, x)
    self.assertEqual((s_run.dtype, s_par.dtype), (jnp.bfloat16, jnp.bfloat16))
    self.assertEqual((st_run.z.dtype, st_par.z.dtype),
                     (jnp.complex64, jnp.complex64))
    np.testing.assert_allclose(st_par.z, st_run.z, **tol.F32_SCAN_SHORT)

  def test_bfloat16_policy_keeps_a_complex64_state(self):
    # Given a policy that computes and outputs in bfloat16.
    x = jnp.zeros((2, 10, N), jnp.float32)
    f = _both_modes("auto")
    with hk.mixed_precision.push_policy(resonate.ResonateFire,
                                        jmp.get_policy("p=f32,c=bf16,o=bf16")):
      params = f.init(None, x, None, False)
      out = jax.eval_shape(lambda x: f.apply(params, None, x, None, False), x)
    # Then spikes follow the policy but the membrane stays complex64.
    (s_run, st_run), (s_par, st_par) = out
    self.assertEqual((s_run.dtype, s_par.dtype), (jnp.bfloat16, jnp.bfloat16))
    self.assertEqual((st_run.z.dtype, st_par.z.dtype),
                     (jnp.complex64, jnp.complex64))
    self.assertEqual({p.dtype for p in jax.tree.leaves(params)},
                     {jnp.dtype(jnp.float32)})

  def test_is_a_spiking_core(self):
    self.assertIn(resonate.ResonateFire, neurons.spiking_core_classes())


class BadInputTest(parameterized.TestCase):

  @parameterized.parameters(
      (dict(dt=0.0), r"dt must be a finite number > 0, got 0.0"),
      (dict(dt=-1.0), r"dt must be a finite number > 0, got -1.0"),
      (dict(dt=float("nan")), r"dt must be a finite number > 0, got nan"),
      (dict(dt=True), r"dt must be a finite number > 0, got True"),
      (dict(threshold=0.0), r"threshold must be a finite number > 0, got "
       r"0.0"),
      (dict(threshold=-1), r"threshold must be a finite number > 0, got -1"),
      (dict(lambda_init=0.0), r"lambda_init must be finite and > 0, got 0.0"),
      (dict(lambda_init=[0.1, -0.1, 0.1, 0.1]), r"lambda_init must be finite "
       r"and > 0"),
      (dict(omega_init=float("inf")), r"omega_init must be finite, got inf"),
      (dict(omega_init=np.ones(3)), r"omega_init of shape \(3,\) does not "
       r"broadcast to hidden_shape \(4,\)"),
      (dict(surrogate="nope"), r"surrogate must be one of"),
      (dict(scan_mode="fast"), r"scan_mode must be one of \('sequential', "
       r".*\), got 'fast'"),
  )
  def test_constructor_arguments(self, kwargs, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      hk.testing.transform_and_run(lambda: resonate.ResonateFire(N, **kwargs))()

  @parameterized.parameters(
      ((2, 5), False, r"`x` must have rank 3, \(B, T, \*hidden_shape\) with "
       r"hidden_shape \(4,\); got shape \(2, 5\) \(rank 2\)"),
      ((2, 5, 3), True, r"`x` has trailing shape \(3,\) but the core's "
       r"hidden_shape is \(4,\)"),
  )
  def test_parallel_input_shape(self, shape, time_major, pattern):
    f = hk.transform(lambda x: _core().parallel(x, time_major=time_major))
    with self.assertRaisesRegex(ValueError,
                                r"ResonateFire.parallel: " + pattern):
      f.init(None, jnp.zeros(shape))

  def test_state_shape_mismatch(self):
    state = resonate.ResonateFireState(jnp.zeros((3, N), jnp.complex64))
    f = hk.transform(lambda x: _core().parallel(x, state))
    with self.assertRaisesRegex(ValueError, r"state.z has shape \(3, 4\) but "
                                r"`x_t` has shape \(2, 4\)"):
      f.init(None, jnp.zeros((2, 5, N)))

  def test_step_input_shape_mismatch(self):
    f = hk.transform(lambda x: _core()(x, _core().initial_state(2)))
    with self.assertRaisesRegex(ValueError, r"ResonateFire: `x_t` must have "
                                r"shape \(B, \*hidden_shape\) with "
                                r"hidden_shape \(4,\); got x_t shape \(2, 5\)"):
      f.init(None, jnp.zeros((2, 5)))

  def test_real_state_is_rejected(self):
    # A float32 state (e.g. built for another neuron) would silently drop
    # the imaginary part of the membrane.
    state = resonate.ResonateFireState(jnp.zeros((2, N), jnp.float32))
    f = hk.transform(lambda x: _core()(x, state))
    with self.assertRaisesRegex(TypeError, r"ResonateFire: state.z must be "
                                r"complex \(see initial_state\), got dtype "
                                r"float32"):
      f.init(None, jnp.zeros((2, N)))

  def test_integer_input(self):
    f = hk.transform(lambda x: _core().parallel(x))
    with self.assertRaisesRegex(TypeError, r"`x` must be a floating array"):
      f.init(None, jnp.zeros((2, 5, N), jnp.int32))


if __name__ == "__main__":
  absltest.main()
