"""Tests for spike_ssm.ssm.S4D and spike_ssm.ssm.S4.

The references are float64 NumPy recurrences written from the layers'
documented equations and their pulled-out parameters: S4D as a complex
diagonal recurrence over the half spectrum, S4 as the full 2M-state complex
DPLR system discretised densely with a matrix inverse. Neither uses a
kernel or an FFT.
"""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.ops import hippo
from tests import tolerances as tol

# ----------------------------------------------------------------------------
# float64 references.
# ----------------------------------------------------------------------------


def _np(params):
  return {k: np.asarray(v, np.float64) for k, v in params.items()}


def _cplx(pair):
  return pair[..., 0] + 1j * pair[..., 1]


def run_recurrence(step_fn, x, readouts, bidirectional):
  """Runs h_t = step_fn(h_{t-1}, u_t) forward (and backward) over (B, T, D).

  `readouts[0](h)` gives the causal output of the state after u_t;
  `readouts[1](h)` the anti-causal output of the backward state before it
  takes u_t (so it sees only s > t).
  """
  batch, length, _ = x.shape
  y = np.zeros(x.shape)
  h = None
  for t in range(length):
    h = step_fn(h, x[:, t])
    y[:, t] += readouts[0](h)
  if bidirectional:
    h = None
    for t in reversed(range(length)):
      if h is not None:
        y[:, t] += readouts[1](h)
      h = step_fn(h, x[:, t])
  return y


def reference_s4d(params, x, method="zoh", bidirectional=False):
  """S4D's documented recurrence in float64. x (B, T, D) -> (B, T, D)."""
  p, x = _np(params), np.asarray(x, np.float64)
  lam = -np.exp(p["a_log"]) + 1j * p["a_im"]  # (D, M)
  dt = np.exp(p["log_dt"])[:, None]
  b = _cplx(p["b"])
  if method == "zoh":
    lam_bar = np.exp(lam * dt)
    b_bar = (lam_bar - 1) / lam * b
  else:
    lam_bar = (1 + lam * dt / 2) / (1 - lam * dt / 2)
    b_bar = dt / (1 - lam * dt / 2) * b

  def step(h, u):  # u (B, D)
    h = 0 if h is None else h
    return lam_bar * h + b_bar * u[..., None]

  def readout(name):
    return lambda h: 2 * np.real(np.sum(_cplx(p[name]) * h, axis=-1))

  y = run_recurrence(step, x, (readout("c"), readout("c_bwd")),
                     bidirectional)
  return y + p["d"] * x


def reference_s4(params, x, bidirectional=False):
  """S4's documented full complex DPLR recurrence, dense bilinear."""
  p, x = _np(params), np.asarray(x, np.float64)
  lam = (np.minimum(p["lambda_re"], ssm.s4.LAMBDA_RE_MAX) +
         1j * p["lambda_im"])
  full = lambda z: np.concatenate([z, np.conj(z)], axis=-1)  # noqa: E731
  P = full(_cplx(p["p"]))  # (R, N)
  A = np.diag(full(lam)) - P.T @ np.conj(P)
  B = full(_cplx(p["b"]))
  n = A.shape[0]
  a_bar, b_bar = [], []
  for dt in np.exp(p["log_dt"]):
    inv = np.linalg.inv(np.eye(n) - dt / 2 * A)
    a_bar.append(inv @ (np.eye(n) + dt / 2 * A))
    b_bar.append(inv @ (dt * B))
  a_bar, b_bar = np.asarray(a_bar), np.asarray(b_bar)  # (D, N, N), (D, N)

  def step(h, u):  # h (B, D, N)
    h = 0 if h is None else np.einsum("dnm,bdm->bdn", a_bar, h)
    return h + b_bar * u[..., None]

  def readout(name):
    def out(h):
      c = full(_cplx(p[name]))  # (D, N)
      y = np.einsum("dn,bdn->bd", c, h)
      assert np.abs(y.imag).max() <= 1e-9 * max(1.0, np.abs(y).max())
      return y.real
    return out

  y = run_recurrence(step, x, (readout("c"), readout("c_bwd")),
                     bidirectional)
  return y + p["d"] * x


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------

LAYERS = {"s4d": ssm.S4D, "s4": ssm.S4}
MODULE_NAMES = {"s4d": "s4_d", "s4": "s4"}


def transformed(kind, time_major=False, **kwargs):
  def forward(x):
    return LAYERS[kind](**kwargs)(x, time_major=time_major)
  return hk.without_apply_rng(hk.transform(forward))


@functools.lru_cache(maxsize=None)
def _cached_params(kind, items, width):
  # Compiling an init (it runs the forward and the RNG) is the slowest step
  # of these tests; parameters do not depend on T or B, so every test with
  # the same configuration shares one init.
  fn = transformed(kind, **dict(items))
  return jax.jit(fn.init)(jax.random.PRNGKey(0), jnp.zeros((1, 2, width)))


def params_for(kind, width=3, **kwargs):
  """Initial parameters of LAYERS[kind](**kwargs) for width `width`."""
  return _cached_params(kind, tuple(sorted(kwargs.items())), width)


def perturbed(params, seed=2, scale=0.05):
  """Parameters moved off the init, so no symmetry (equal rows across
  features, B = 1, zero rows of P) can hide an indexing bug."""
  noise = np.random.default_rng(seed)
  return jax.tree.map(
      lambda v: v + scale * noise.normal(size=v.shape).astype(v.dtype),
      params)


def random_input(seed, shape, dtype=jnp.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


# Steps large enough that a short sequence sees the dynamics.
FAST = dict(dt_min=0.05, dt_max=0.5)


# ----------------------------------------------------------------------------
# Tests.
# ----------------------------------------------------------------------------


class ReferenceTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("s4d_lin_zoh", "s4d", dict(init="lin")),
      ("s4d_legs_bilinear", "s4d", dict(discretization="bilinear")),
      ("s4d_inv_bidirectional", "s4d", dict(init="inv", bidirectional=True)),
      ("s4d_real", "s4d", dict(init="real")),
      ("s4_legs", "s4", {}),
      ("s4_rank2_bidirectional", "s4", dict(rank=2, bidirectional=True)),
  )
  def test_matches_float64_recurrence(self, kind, kwargs):
    # Given a layer on a (2, 24, 3) input with perturbed parameters.
    x = random_input(0, (2, 24, 3))
    kwargs = dict(state_size=8, **FAST, **kwargs)
    params = perturbed(params_for(kind, **kwargs))
    # When it runs (jitted).
    y = jax.jit(transformed(kind, **kwargs).apply)(params, x)
    # Then it equals the float64 recurrence from the same parameters.
    p = params[MODULE_NAMES[kind]]
    bidirectional = kwargs.get("bidirectional", False)
    if kind == "s4d":
      ref = reference_s4d(p, x, kwargs.get("discretization", "zoh"),
                          bidirectional)
    else:
      ref = reference_s4(p, x, bidirectional)
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, ref, **tol.scan_tol(x.shape[1]))

  def test_time_major_matches_batch_major(self):
    x = random_input(3, (2, 10, 3))
    kwargs = dict(state_size=8, **FAST, init="lin")
    params = perturbed(params_for("s4d", **kwargs))
    y_tm = jax.jit(transformed("s4d", time_major=True, **kwargs).apply)(
        params, x.swapaxes(0, 1))
    np.testing.assert_allclose(y_tm.swapaxes(0, 1),
                               reference_s4d(params["s4_d"], x),
                               **tol.scan_tol(x.shape[1]))


class StreamingTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("s4d_zoh", "s4d", {}),
      ("s4d_bilinear", "s4d", dict(init="lin", discretization="bilinear")),
      ("s4_legs", "s4", {}),
  )
  def test_step_equals_call_and_continues_from_a_carried_state(
      self, kind, kwargs):
    # Given a 40-step input streamed in two halves, the second half from
    # the state the first left (the state is built once the parameters
    # exist, so its width comes from them).
    x = random_input(4, (2, 40, 3))
    kwargs = dict(state_size=8, **FAST, **kwargs)

    def forward(x):
      core = LAYERS[kind](**kwargs)
      y_call = core(x)

      def body(state, x_t):
        y_t, state = core.step(x_t, state)
        return state, y_t

      state = core.initial_state(x.shape[0])
      state, y_first = hk.scan(body, state, x[:, :20].swapaxes(0, 1))
      state, y_second = hk.scan(body, state, x[:, 20:].swapaxes(0, 1))
      y_step = jnp.concatenate([y_first, y_second]).swapaxes(0, 1)
      return y_call, y_step, state

    fn = hk.without_apply_rng(hk.transform(forward))
    params = perturbed(params_for(kind, **kwargs))
    # When the whole-sequence call and the streaming step evaluate it.
    y_call, y_step, state = jax.jit(fn.apply)(params, x)
    # Then they agree, with the documented state shape and dtype.
    np.testing.assert_allclose(y_step, y_call, **tol.scan_tol(x.shape[1]))
    if kind == "s4d":
      self.assertEqual((state.h.shape, state.h.dtype),
                       ((2, 3, 4), jnp.complex64))
    else:
      self.assertEqual((state.h.shape, state.h.dtype),
                       ((2, 3, 8), jnp.float32))


class CausalityTest(parameterized.TestCase):

  def test_only_bidirectional_layers_see_the_future(self):
    # Given causal and bidirectional S4D and S4 layers (one transform, one
    # compile), an input and a copy perturbed at the last step only.
    x = random_input(7, (2, 12, 3))
    x2 = x.at[:, -1].add(5.0)
    configs = [(kind, bidirectional) for kind in ("s4d", "s4")
               for bidirectional in (False, True)]

    def forward(x):
      return [LAYERS[kind](state_size=8, bidirectional=bidirectional,
                           **FAST)(x) for kind, bidirectional in configs]

    fn = hk.without_apply_rng(hk.transform(forward))
    both = jnp.concatenate([x, x2])
    outputs = jax.jit(fn.apply)(jax.jit(fn.init)(jax.random.PRNGKey(0), both),
                                both)
    for (kind, bidirectional), y_both in zip(configs, outputs):
      y, y2 = y_both[:2], y_both[2:]
      change = np.abs(np.asarray(y2 - y))
      msg = f"{kind}, bidirectional={bidirectional}"
      # Then a causal layer's earlier outputs move by FFT rounding only,
      # a bidirectional one's by O(1), and the last output moves either way.
      if bidirectional:
        self.assertGreater(change[:, :-1].max(axis=1).min(), 1e-2, msg=msg)
      else:
        np.testing.assert_allclose(y2[:, :-1], y[:, :-1], err_msg=msg,
                                   **tol.F32_SCAN_SHORT)
      self.assertGreater(change[:, -1].max(), 1e-2, msg=msg)


def legs_matrix(N):
  """HiPPO-LegS (A, B), written out here from the HiPPO paper."""
  n = np.arange(N)
  root = np.sqrt(2 * n + 1.0)
  A = -np.where(n[:, None] > n[None], np.outer(root, root), 0.0) - np.diag(
      n + 1.0)
  return A, root


def legs_normal_spectrum(N):
  """Eigenvalues of LegS + P P^T with P = sqrt(n + 1/2)."""
  A, _ = legs_matrix(N)
  p = np.sqrt(np.arange(N) + 0.5)
  return np.linalg.eigvals(A + np.outer(p, p))


class InitTest(parameterized.TestCase):

  def test_s4d_spectra(self):
    # Given S4D layers with N = 16 (M = 8 modes) on width 3, one per init.
    N, M = 16, 8
    kinds = hippo.DIAGONAL_KINDS

    def forward(x):
      return [ssm.S4D(N, init=kind, name=kind)(x) for kind in kinds]

    fn = hk.without_apply_rng(hk.transform(forward))
    params = jax.jit(fn.init)(jax.random.PRNGKey(0), jnp.zeros((1, 2, 3)))
    n = np.arange(M)
    spec = legs_normal_spectrum(N)
    for kind in kinds:
      p = _np(params[kind])
      lam = -np.exp(p["a_log"]) + 1j * p["a_im"]  # (D, M)
      # Then every feature starts from the S4D paper's spectrum:
      if kind == "lin":
        want = -0.5 + 1j * np.pi * n
      elif kind == "inv":
        want = -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1)
      elif kind == "real":
        want = -(n + 1.0) + 0j
      else:  # legs: the upper half of the normal part of HiPPO-LegS,
        # sorted by imaginary part (the real parts are all -1/2).
        want = spec[spec.imag > 0]
        want = want[np.argsort(want.imag)]
        lam = np.take_along_axis(lam, np.argsort(lam.imag, axis=-1), axis=-1)
      for d in range(3):
        np.testing.assert_allclose(lam[d], want, err_msg=kind,
                                   **tol.F32_VS_F64)
      # B = 1 except for LegS,
      if kind != "legs":
        np.testing.assert_array_equal(p["b"], np.stack(
            [np.ones((3, M)), np.zeros((3, M))], -1))
      # and log_dt lies in [log dt_min, log dt_max] (defaults 1e-3, 1e-1).
      self.assertTrue(np.all(p["log_dt"] >= np.float32(np.log(1e-3))))
      self.assertTrue(np.all(p["log_dt"] <= np.float32(np.log(1e-1))))

  def test_s4_legs_is_unitarily_similar_to_hippo_legs(self):
    # Given an unclipped S4 layer (LegS, N = 8) at init, expanded to its
    # full system.
    N = 8
    p = _np(params_for("s4", state_size=N, b_clip=None)["s4"])
    lam = p["lambda_re"] + 1j * p["lambda_im"]
    full = lambda z: np.concatenate([z, np.conj(z)], axis=-1)  # noqa: E731
    P, B = full(_cplx(p["p"])), full(_cplx(p["b"]))
    A = np.diag(full(lam)) - P.T @ np.conj(P)
    # Then Re(Lambda) = -1/2 and (A, B) = (V^* A_legs V, V^* B_legs) for a
    # unitary V: the unitary invariants ||A||_F, tr(A^k) and B^* A^k B
    # agree with LegS's. (LegS's eigenvalues -1..-N are too ill-conditioned
    # to compare from float32 parameters; these polynomials are not.)
    np.testing.assert_allclose(lam.real, -0.5, **tol.F32_VS_F64)
    A_legs, B_legs = legs_matrix(N)
    np.testing.assert_allclose(np.linalg.norm(A), np.linalg.norm(A_legs),
                               **tol.F32_VS_F64)
    for k in range(4):
      A_k = np.linalg.matrix_power(A, k)
      A_legs_k = np.linalg.matrix_power(A_legs, k)
      if k:
        np.testing.assert_allclose(np.trace(A_k), np.trace(A_legs_k),
                                   **tol.F32_VS_F64)
      np.testing.assert_allclose(np.conj(B) @ A_k @ B,
                                 B_legs @ A_legs_k @ B_legs, **tol.F32_VS_F64)

  @parameterized.named_parameters(
      ("s4_legs", "s4", {}),
      ("s4_legt", "s4", dict(measure="legt", rank=2)),
      ("s4d_legs", "s4d", {}),
  )
  def test_b_clip_clips_the_imaginary_part_of_b_only(self, kind, kwargs):
    # Given N = 8, whose HiPPO B has |Im| up to about 5 in the eigenbasis.
    N = 8
    name = MODULE_NAMES[kind]
    b = {clip: _cplx(_np(params_for(kind, state_size=N, b_clip=clip,
                                    **kwargs)[name])["b"])
         for clip in (None, 2.0, 0.5)}
    # The unclipped B is V^* B_hippo (float64 reference from ops.hippo).
    measure = kwargs.get("measure", "legs")
    _, _, b_hippo, _ = hippo.dplr(measure, N, kwargs.get("rank"))
    half = b_hippo[:N // 2] if kind == "s4" else b_hippo[N // 2:]
    np.testing.assert_allclose(b[None], np.broadcast_to(half, b[None].shape),
                               **tol.F32_VS_F64)
    self.assertGreater(np.abs(half.imag).max(), 0.5)  # Something to clip.
    for clip in (2.0, 0.5):
      # Then Re(B) is kept and Im(B) is clip(Im, -c, c) (S4's B_clip).
      want = half.real + 1j * np.clip(half.imag, -clip, clip)
      np.testing.assert_allclose(b[clip], np.broadcast_to(want, b[clip].shape),
                                 **tol.F32_VS_F64)
    # The default is S4's 2.0.
    np.testing.assert_array_equal(
        params_for(kind, state_size=N, **kwargs)[name]["b"],
        params_for(kind, state_size=N, b_clip=2.0, **kwargs)[name]["b"])

  def test_b_clip_leaves_s4d_lin_alone(self):
    # S4D-Lin's B is 1: real, so no clip changes it.
    np.testing.assert_array_equal(
        params_for("s4d", init="lin", b_clip=0.1)["s4_d"]["b"],
        params_for("s4d", init="lin", b_clip=None)["s4_d"]["b"])

  @parameterized.parameters("s4", "s4d")
  def test_fixed_b_is_the_initial_b_and_no_parameter(self, kind):
    # Given a layer with trainable_b=False and one with B trained.
    name = MODULE_NAMES[kind]
    fixed = params_for(kind, trainable_b=False)
    trained = params_for(kind)
    # Then the fixed one has no `b` and every other parameter is the same.
    self.assertNotIn("b", fixed[name])
    self.assertEqual(set(trained[name]) - set(fixed[name]), {"b"})
    # With the other parameters moved off the init, the outputs agree:
    # the constant B is the trainable B's initial value.
    moved = perturbed(fixed)
    x = random_input(5, (2, 6, 3))
    apply_fixed = transformed(kind, trainable_b=False).apply
    got = jax.jit(apply_fixed)(moved, x)
    want = jax.jit(transformed(kind).apply)(
        {name: dict(moved[name], b=trained[name]["b"])}, x)
    np.testing.assert_allclose(got, want, **tol.F32_SCAN_SHORT)
    # And no gradient can reach B: the loss's gradient tree has no `b`.
    grads = jax.jit(jax.grad(lambda p: jnp.sum(apply_fixed(p, x) ** 2)))(
        moved)
    self.assertNotIn("b", grads[name])

  @hk.testing.transform_and_run
  def test_zoo_builds_both_layers_as_ssm_cores(self):
    for name, cls in (("s4d", ssm.S4D), ("s4", ssm.S4)):
      layer = zoo.layer_factory(name, state_size=4)()
      self.assertIsInstance(layer, cls)
      self.assertTrue(cls.ssm_core)
      # Checkpoints store the parameters under this module name.
      self.assertEqual(layer.module_name, MODULE_NAMES[name])


class BadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("s4d_odd_state_size", "s4d", dict(state_size=5), "state_size"),
      ("s4d_zero_state_size", "s4d", dict(state_size=0), "state_size"),
      ("s4d_unknown_init", "s4d", dict(init="hippo"), "init"),
      ("s4d_unknown_discretization", "s4d", dict(discretization="euler"),
       "discretization"),
      ("s4d_dt_min_above_dt_max", "s4d", dict(dt_min=0.2, dt_max=0.1),
       "dt_min"),
      ("s4d_dt_min_zero", "s4d", dict(dt_min=0.0), "dt_min"),
      ("s4_odd_state_size", "s4", dict(state_size=7), "state_size"),
      ("s4_unknown_measure", "s4", dict(measure="legx"), "measure"),
      ("s4_rank_below_measure_minimum", "s4", dict(measure="legt", rank=1),
       "rank"),
      ("s4_rank_zero", "s4", dict(rank=0), "rank"),
      ("s4_dt_min_above_dt_max", "s4", dict(dt_min=1.0, dt_max=0.1),
       "dt_min"),
      ("s4_zero_b_clip", "s4", dict(b_clip=0.0), "b_clip"),
      ("s4d_negative_b_clip", "s4d", dict(b_clip=-2.0), "b_clip"),
      ("s4d_string_b_clip", "s4d", dict(b_clip="2"), "b_clip"),
  )
  def test_bad_hyperparameters(self, kind, kwargs, name):
    with self.assertRaisesRegex(ValueError, f"`{name}`"):
      hk.transform(lambda: LAYERS[kind](**kwargs)).init(None)

  def test_non_bool_bidirectional(self):
    with self.assertRaisesRegex(TypeError, "`bidirectional` must be a bool"):
      hk.transform(lambda: ssm.S4D(bidirectional="yes")).init(None)

  @parameterized.parameters("s4", "s4d")
  def test_non_bool_trainable_b(self, kind):
    with self.assertRaisesRegex(TypeError, "`trainable_b` must be a bool"):
      hk.transform(lambda: LAYERS[kind](trainable_b=0)).init(None)

  def test_step_of_a_bidirectional_layer(self):
    def forward(x_t):
      core = ssm.S4D(4, bidirectional=True)
      return core.step(x_t, core.initial_state(2, 3))
    with self.assertRaisesRegex(ValueError, "bidirectional"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))

  @parameterized.parameters("s4d", "s4")
  def test_step_with_wrong_state_shape(self, kind):
    def forward(x_t):
      core = LAYERS[kind](4)
      return core.step(x_t, core.initial_state(3, 3))
    with self.assertRaisesRegex(ValueError, r"`state.h` must have shape"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))

  def test_initial_state_needs_features_before_parameters(self):
    with self.assertRaisesRegex(ValueError, "`features`"):
      hk.transform(lambda: ssm.S4D(4).initial_state(2)).init(None)

  def test_initial_state_features_must_match_parameters(self):
    def forward(x):
      core = ssm.S4(4)
      core(x)
      return core.initial_state(2, 5)
    with self.assertRaisesRegex(ValueError, "`features`=5 does not match D=3"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 4, 3)))


if __name__ == "__main__":
  absltest.main()
