"""Tests for spike_ssm.experimental.raven (Raven routing-slot memory)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from spike_ssm import experimental
from spike_ssm import neurons
from spike_ssm.experimental import raven
from spike_ssm import zoo
from spike_ssm.models import backbone
from spike_ssm.ops import scans
from spike_ssm.training import precision
from tests import tolerances as tol
from tests.ops import routed_scan_test

MODES = ("sequential", "parallel", "chunked", "auto")
B, T, D, M, DS = 2, 12, 5, 4, 3  # batch, time, width, slots, slot width
CHUNK = 4
# A logit whose float32 sigmoid is exactly 1 (or, negated, exactly 0).
SATURATED = 200.0


# ----------------------------------------------------------------------------
# float64 NumPy references, written from the update equations.
# ----------------------------------------------------------------------------


def _np(tree):
  return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def reference_gates(router, x_t, hard_top_k):
  """sigmoid(x W + b); with top-k, all but the k largest logits zeroed."""
  logits = x_t @ router["w"] + router["b"]
  gates = _sigmoid(logits)
  if hard_top_k is not None:
    order = np.argsort(-logits, axis=-1, kind="stable")
    keep = np.zeros(gates.shape, bool)
    np.put_along_axis(keep, order[..., :hard_top_k], True, axis=-1)
    gates = np.where(keep, gates, 0.0)
  return gates


def reference_slots(params, module, u, hard_top_k=None, decay_name=None):
  """The routed recurrence, step by step, in float64.

  Args:
    params: a Haiku params dict holding `module` and `module/~/router`.
    module: the module's name ("raven_rsm" or "spiking_slot_memory").
    u: input, (B, T, D).
    hard_top_k: the router's k, or None.
    decay_name: "raw_decay" or "raw_beta".

  Returns:
    (slots (B, T, M, d), gates (B, T, M)).
  """
  p, router = _np(params[module]), _np(params[f"{module}/~/router"])
  u = np.asarray(u, np.float64)
  a = _sigmoid(p[decay_name])
  batch, length, _ = u.shape
  m, d = a.shape
  s = np.zeros((batch, m, d))
  slots = np.zeros((batch, length, m, d))
  gates = np.zeros((batch, length, m))
  for t in range(length):
    r = reference_gates(router, u[:, t], hard_top_k)[..., None]
    write = np.einsum("bd,dmk->bmk", u[:, t], p["w_u"])
    s = (1.0 - r) * s + r * (a * s + write)
    slots[:, t], gates[:, t] = s, r[..., 0]
  return slots, gates


def reference_read(params, module, u, slots):
  """y_t = (sum_m softmax(u_t W_q)[m] slots_t[m]) W_o, float64."""
  p = _np(params[module])
  q = _softmax(np.asarray(u, np.float64) @ p["w_q"])  # (B, T, M)
  return np.einsum("btm,btmk->btk", q, slots) @ p["w_o"]


# ----------------------------------------------------------------------------
# Transforms.
# ----------------------------------------------------------------------------


def raven_fn(method="__call__", time_major=False, **kwargs):
  kwargs.setdefault("slot_dim", DS)

  def forward(u):
    layer = raven.RavenRSM(M, **kwargs)
    return getattr(layer, method)(u, time_major=time_major)
  return hk.without_apply_rng(hk.transform(forward))


def raven_with_gates(**kwargs):
  """(memory, gates) of one RavenRSM on (B, T, D) inputs."""
  def forward(u):
    layer = raven.RavenRSM(M, slot_dim=DS, **kwargs)
    return layer.memory(u), layer.router(u)
  return hk.without_apply_rng(hk.transform(forward))


def spiking_fn(method="__call__", **kwargs):
  kwargs.setdefault("slot_dim", DS)

  def forward(u):
    layer = raven.SpikingSlotMemory(M, **kwargs)
    return getattr(layer, method)(u)
  return hk.without_apply_rng(hk.transform(forward))


def streamed(cls, **kwargs):
  """`step` scanned over time: (B, T, D) -> (outputs, states), batch-major."""
  kwargs.setdefault("slot_dim", DS)

  def forward(u):
    core = cls(M, **kwargs)

    def body(state, u_t):
      out, state = core.step(u_t, state)
      return state, (out, state[0])

    _, (outs, states) = hk.scan(body, core.initial_state(u.shape[0]),
                                u.swapaxes(0, 1))  # [T, B, ...]
    return outs.swapaxes(0, 1), states.swapaxes(0, 1)
  return hk.without_apply_rng(hk.transform(forward))


def random_input(seed, shape=(B, T, D)):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


def random_params(fn, u, seed, decay_name="raw_decay"):
  """Random parameters of `fn`'s shapes, drawn without compiling `init`.

  Weights are normal with stddev 1/sqrt(fan_in); decays and router biases
  vary per slot (the init gives every slot the same decay and a zero bias),
  so a transposed or mixed-up slot axis shows.
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), u)
  params = {}
  for module, leaves in shapes.items():
    params[module] = {}
    for name, leaf in leaves.items():
      if name == decay_name:
        value = rng.normal(1.0, 1.0, leaf.shape)
      elif name == "b":
        value = rng.normal(0.0, 1.0, leaf.shape)
      else:
        value = rng.normal(0.0, leaf.shape[0]**-0.5, leaf.shape)
      params[module][name] = jnp.asarray(value, jnp.float32)
  return params


# ----------------------------------------------------------------------------
# RavenRSM.
# ----------------------------------------------------------------------------


def apply_all(fns, params, u):
  """`{name: fn.apply(params, u)}` for a dict of transforms, one compilation.

  Compiling dominates these tests' CPU time, so every mode of a comparison
  is traced into one program.
  """
  return jax.jit(lambda p, u: {k: f.apply(p, u) for k, f in fns.items()})(
      params, u)


def chunk_for(mode):
  return CHUNK if mode == "chunked" else None


class RavenReferenceTest(parameterized.TestCase):

  @parameterized.parameters(None, 2)
  def test_every_mode_matches_float64_reference(self, hard_top_k):
    # Given random parameters and inputs.
    u = random_input(1)
    params = random_params(raven_fn(), u, 2)
    fns = {}
    for mode in MODES:
      kw = dict(scan_mode=mode, hard_top_k=hard_top_k,
                chunk_size=chunk_for(mode))
      fns[mode] = raven_fn(**kw)
      fns[mode + "_memory"] = raven_fn("memory", **kw)
    # When the layer and its memory are evaluated in every scan mode.
    out = apply_all(fns, params, u)
    # Then all equal the float64 loop.
    ref_slots, ref_gates = reference_slots(params, "raven_rsm", u, hard_top_k,
                                           "raw_decay")
    ref_y = reference_read(params, "raven_rsm", u, ref_slots)
    if hard_top_k is not None:
      np.testing.assert_array_equal((ref_gates > 0).sum(-1), hard_top_k)
    for mode in MODES:
      y, slots = out[mode], out[mode + "_memory"]
      self.assertEqual(y.shape, (B, T, D))
      self.assertEqual(y.dtype, jnp.float32)
      self.assertEqual(slots.shape, (B, T, M, DS))
      np.testing.assert_allclose(slots, ref_slots, err_msg=mode,
                                 **tol.F32_VS_F64)
      np.testing.assert_allclose(y, ref_y, err_msg=mode, **tol.F32_VS_F64)

  def test_slot_dim_defaults_to_input_width(self):
    u = random_input(3)
    fn = raven_fn("memory", slot_dim=None)
    params = jax.eval_shape(fn.init, jax.random.PRNGKey(0), u)
    self.assertEqual(params["raven_rsm"]["w_u"].shape, (D, M, D))
    self.assertEqual(jax.eval_shape(fn.apply, params, u).shape, (B, T, M, D))

  def test_time_major_is_the_transposed_layout(self):
    u = random_input(4)
    params = random_params(raven_fn(), u, 5)
    tm = raven_fn(time_major=True)
    out = jax.jit(lambda p, u: (raven_fn().apply(p, u),
                                tm.apply(p, u.swapaxes(0, 1))))(params, u)
    np.testing.assert_array_equal(out[1].swapaxes(0, 1), out[0])


class RavenModeEquivalenceTest(parameterized.TestCase):

  @parameterized.parameters(None, 1)
  def test_every_scan_mode_equals_step(self, hard_top_k):
    # Given one parameter set and a 48-step input.
    u = random_input(6, (3, 48, D))
    params = random_params(raven_fn(), u, 7)
    fns = {"step": streamed(raven.RavenRSM, hard_top_k=hard_top_k)}
    for mode in MODES:
      fns[mode] = raven_fn(scan_mode=mode, hard_top_k=hard_top_k)
      fns[mode + "_memory"] = raven_fn("memory", scan_mode=mode,
                                       hard_top_k=hard_top_k)
    # When the streaming step is scanned, and the layer runs in every mode.
    out = apply_all(fns, params, u)
    y_step, s_step = out["step"]
    # Then outputs and memories agree with the step.
    for mode in MODES:
      np.testing.assert_allclose(out[mode], y_step, err_msg=mode,
                                 **tol.scan_tol(48))
      np.testing.assert_allclose(out[mode + "_memory"], s_step, err_msg=mode,
                                 **tol.scan_tol(48))
    self.assertEqual(s_step.dtype, jnp.float32)

  def test_gradients_with_hard_top_k_agree_across_modes(self):
    # Given a hard top-1 router, whose zeroed gates still get gradients
    # (straight-through), and a loss on the output.
    u = random_input(8, (2, 16, D))
    params = random_params(raven_fn(), u, 9)
    w = random_input(10, (2, 16, D))

    def grads(params):
      out = {}
      for mode in ("sequential", "parallel", "chunked"):
        fn = raven_fn(scan_mode=mode, hard_top_k=1)
        loss = lambda p, fn=fn: jnp.sum(w * jnp.tanh(fn.apply(p, u)))
        out[mode] = jax.grad(loss)(params)
      return out

    # When the gradient is taken in every mode.
    got = jax.jit(grads)(params)
    # Then every parameter's gradient agrees with the sequential one, the
    # router's included, and every router bias gets a gradient.
    for mode in ("parallel", "chunked"):
      chex.assert_trees_all_close(got[mode], got["sequential"],
                                  **tol.F32_SCAN_SHORT)
    self.assertGreater(
        float(jnp.abs(got["sequential"]["raven_rsm/~/router"]["b"]).min()),
        0.0)


class RavenReductionTest(parameterized.TestCase):

  def test_dense_router_is_a_gated_diagonal_ssm(self):
    # Given a router forced fully open: zero weights, bias far above 0.
    u = random_input(13)
    params = random_params(raven_fn(), u, 14)
    params["raven_rsm/~/router"] = {
        "w": jnp.zeros((D, M)), "b": jnp.full((M,), SATURATED)}
    # When the memory runs in every mode.
    out = apply_all({m: raven_with_gates(scan_mode=m) for m in MODES},
                    params, u)
    # Then every gate is exactly 1, and the memory is the diagonal SSM
    # S_t = a S_{t-1} + U_t evaluated directly by linear_scan.
    a = jax.nn.sigmoid(params["raven_rsm"]["raw_decay"])
    writes = jnp.einsum("btd,dmk->tbmk", u, params["raven_rsm"]["w_u"])
    expected = scans.linear_scan(a, writes, mode="sequential").swapaxes(0, 1)
    for mode, (slots, gates) in out.items():
      np.testing.assert_array_equal(gates, 1.0)
      np.testing.assert_allclose(slots, expected, err_msg=mode,
                                 **tol.F32_SCAN_SHORT)

  def test_cyclic_router_without_decay_is_a_sliding_window(self):
    # Given inputs whose first M channels one-hot encode t mod M (the rest is
    # content), a router that opens exactly slot t mod M at step t, and no
    # decay (a = sigmoid(-SATURATED) = 0).
    length, width = 11, M + 3
    rng = np.random.default_rng(15)
    u = rng.normal(size=(B, length, width))
    u[:, :, :M] = np.eye(M)[np.arange(length) % M]
    u = jnp.asarray(u, jnp.float32)
    params = random_params(raven_fn(), u, 16)
    w_r = np.zeros((width, M))
    w_r[:M] = 2 * SATURATED * np.eye(M) - SATURATED
    params["raven_rsm/~/router"] = {"w": jnp.asarray(w_r, jnp.float32),
                                    "b": jnp.zeros((M,))}
    params["raven_rsm"]["raw_decay"] = jnp.full((M, DS), -SATURATED)
    fns = {}
    for mode in MODES:
      chunk = length if mode == "chunked" else None
      fns[mode] = raven_with_gates(scan_mode=mode, chunk_size=chunk)
      fns[mode + "_y"] = raven_fn(scan_mode=mode, chunk_size=chunk)
    # When the memory and the layer run in every mode.
    out = apply_all(fns, params, u)
    # Then the gates are exactly the cyclic one-hot pattern, slot m holds
    # exactly the write of the last step t' <= t with t' = m (mod M) (zero
    # before its first write): the last M writes,
    writes = np.asarray(jnp.einsum("btd,dmk->btmk", u,
                                   params["raven_rsm"]["w_u"]))
    expected = np.zeros_like(writes)
    for t in range(length):
      for back in range(min(M, t + 1)):
        src = t - back
        expected[:, t, src % M] = writes[:, src, src % M]
    # and the output is softmax attention of the query over those M writes.
    p = _np(params["raven_rsm"])
    u64 = np.asarray(u, np.float64)
    q = _softmax(u64 @ p["w_q"])
    write64 = np.einsum("btd,dmk->btmk", u64, p["w_u"])
    want = np.zeros((B, length, DS))
    for t in range(length):
      for src in range(max(0, t - M + 1), t + 1):
        want[:, t] += q[:, t, src % M, None] * write64[:, src, src % M]
    cyclic = np.broadcast_to(np.eye(M)[np.arange(length) % M], (B, length, M))
    for mode in MODES:
      slots, gates = out[mode]
      np.testing.assert_array_equal(gates, cyclic, err_msg=mode)
      np.testing.assert_array_equal(slots, expected, err_msg=mode)
      np.testing.assert_allclose(out[mode + "_y"], want @ p["w_o"],
                                 err_msg=mode, **tol.F32_VS_F64)


class ShieldingTest(parameterized.TestCase):

  def _assert_unrouted_unchanged(self, states, gates, h0):
    routed_scan_test.assert_unrouted_unchanged(self, states, gates, h0)

  def test_raven_memory_shields_unrouted_slots(self):
    # Given a top-1 router.
    u = random_input(18, (2, 32, D))
    params = random_params(raven_fn(), u, 19)
    # When the memory runs in every mode.
    out = apply_all({m: raven_with_gates(scan_mode=m, hard_top_k=1)
                     for m in MODES}, params, u)
    # Then slots not routed at a step are bit-identical to the step before.
    for slots, gates in out.values():
      self._assert_unrouted_unchanged(slots.swapaxes(0, 1),
                                      gates.swapaxes(0, 1), 0.0)

  def test_spiking_membranes_and_spikes_are_shielded(self):
    u = random_input(20, (2, 32, D))

    def make(mode):
      def forward(u):
        layer = raven.SpikingSlotMemory(M, slot_dim=DS, hard_top_k=2,
                                        threshold=0.3, scan_mode=mode)
        return layer.membrane(u), layer(u), layer.router(u)
      return hk.without_apply_rng(hk.transform(forward))

    params = random_params(make("auto"), u, 21, "raw_beta")
    out = apply_all({m: make(m) for m in MODES}, params, u)
    for v, s, gates in out.values():
      self._assert_unrouted_unchanged(v.swapaxes(0, 1), gates.swapaxes(0, 1),
                                      0.0)
      self._assert_unrouted_unchanged(s.swapaxes(0, 1), gates.swapaxes(0, 1),
                                      0.0)


# ----------------------------------------------------------------------------
# SlotRouter.
# ----------------------------------------------------------------------------


def router_fn(**kwargs):
  return hk.without_apply_rng(hk.transform(
      lambda u: raven.SlotRouter(6, **kwargs)(u)))


class RouterTest(parameterized.TestCase):

  def test_soft_gates_are_the_sigmoid(self):
    u = random_input(22, (4, 7, D))
    fn = router_fn()
    params = random_params(fn, u, 23)
    gates = jax.jit(fn.apply)(params, u)
    p = _np(params["slot_router"])
    np.testing.assert_allclose(
        gates, _sigmoid(np.asarray(u, np.float64) @ p["w"] + p["b"]),
        **tol.F32_VS_F64)

  @parameterized.parameters(1, 3, 6)
  def test_hard_top_k_keeps_exactly_the_k_largest(self, k):
    # Given a top-k router on a batch of inputs.
    u = random_input(24, (4, 7, D))
    fn = router_fn(hard_top_k=k)
    params = random_params(fn, u, 25)
    # When the gates are computed.
    gates = np.asarray(jax.jit(fn.apply)(params, u))
    # Then every row has exactly k non-zero gates, each equal to the soft
    # gate of one of the k largest logits.
    p = _np(params["slot_router"])
    logits = np.asarray(u, np.float64) @ p["w"] + p["b"]
    np.testing.assert_array_equal((gates != 0).sum(-1), k)
    top = np.argsort(-logits, axis=-1)[..., :k]
    want = np.zeros_like(logits)
    np.put_along_axis(want, top, np.take_along_axis(_sigmoid(logits), top, -1),
                      axis=-1)
    np.testing.assert_allclose(gates, want, **tol.F32_VS_F64)
    np.testing.assert_array_equal(gates != 0, want != 0)

  def test_straight_through_gradient_is_the_soft_gate_gradient(self):
    # Given a top-2 router and a loss weighting each gate differently.
    u = random_input(26, (5, D))
    fn = router_fn(hard_top_k=2)
    params = random_params(fn, u, 27)
    c = random_input(28, (5, 6))
    # When the loss is differentiated with respect to the router bias.
    grad = jax.jit(jax.grad(lambda p: jnp.sum(c * fn.apply(p, u))))(params)
    # Then it is the soft gate's gradient c * s (1 - s), for the zeroed gates
    # as well as the kept ones.
    p = _np(params["slot_router"])
    s = _sigmoid(np.asarray(u, np.float64) @ p["w"] + p["b"])
    want = (np.asarray(c) * s * (1 - s)).sum(0)
    np.testing.assert_allclose(grad["slot_router"]["b"], want,
                               **tol.F32_VS_F64)
    self.assertEqual(int((np.asarray(jax.jit(fn.apply)(params, u)) == 0)
                         .sum()), 5 * 4)


# ----------------------------------------------------------------------------
# SpikingSlotMemory.
# ----------------------------------------------------------------------------


THRESHOLD = 0.3


def draw_spiking_problem(seed, shape, hard_top_k, readout=False):
  """Inputs and parameters whose float64 membranes avoid the threshold."""
  fn = spiking_fn(threshold=THRESHOLD, hard_top_k=hard_top_k,
                  readout=readout)
  rng = np.random.default_rng(seed)
  for _ in range(100):
    u = jnp.asarray(rng.normal(size=shape), jnp.float32)
    params = random_params(fn, u, int(rng.integers(1 << 30)), "raw_beta")
    v, gates = reference_slots(params, "spiking_slot_memory", u, hard_top_k,
                               "raw_beta")
    if np.abs(v - THRESHOLD).min() > tol.THRESHOLD_MARGIN:
      return u, params, v, gates
  raise AssertionError("no input kept the membranes off the threshold")


class SpikingSlotMemoryTest(parameterized.TestCase):

  @parameterized.parameters(None, 2)
  def test_spikes_match_reference_and_step_exactly(self, hard_top_k):
    # Given membranes kept away from the threshold.
    u, params, v_ref, _ = draw_spiking_problem(30, (B, T, D), hard_top_k)
    spikes_ref = (v_ref > THRESHOLD).astype(np.float32)
    self.assertGreater(spikes_ref.sum(), 0)
    self.assertGreater((1 - spikes_ref).sum(), 0)
    fns = {"step": streamed(raven.SpikingSlotMemory, threshold=THRESHOLD,
                            hard_top_k=hard_top_k)}
    for mode in MODES:
      kw = dict(threshold=THRESHOLD, hard_top_k=hard_top_k, scan_mode=mode,
                chunk_size=chunk_for(mode))
      fns[mode] = spiking_fn(**kw)
      fns[mode + "_v"] = spiking_fn("membrane", **kw)
    # When the memory runs in every mode, and the step is scanned.
    out = apply_all(fns, params, u)
    s_step, v_step = out["step"]
    # Then the spike trains equal the reference and each other exactly,
    np.testing.assert_array_equal(s_step, spikes_ref)
    for mode in MODES:
      self.assertEqual(out[mode].shape, (B, T, M, DS))
      np.testing.assert_array_equal(out[mode], spikes_ref, err_msg=mode)
      # and the membranes agree to float32 tolerance.
      np.testing.assert_allclose(out[mode + "_v"], v_ref, err_msg=mode,
                                 **tol.F32_VS_F64)
      np.testing.assert_allclose(v_step, out[mode + "_v"], err_msg=mode,
                                 **tol.scan_tol(T))

  def test_readout_reads_the_spikes(self):
    u, params, v_ref, _ = draw_spiking_problem(31, (B, T, D), None,
                                               readout=True)
    spikes_ref = (v_ref > THRESHOLD).astype(np.float64)
    kw = dict(threshold=THRESHOLD, readout=True)
    out = apply_all({"call": spiking_fn(**kw),
                     "step": streamed(raven.SpikingSlotMemory, **kw)},
                    params, u)
    y, (y_step, _) = out["call"], out["step"]
    want = reference_read(params, "spiking_slot_memory", u, spikes_ref)
    self.assertEqual(y.shape, (B, T, D))
    np.testing.assert_allclose(y, want, **tol.F32_VS_F64)
    np.testing.assert_allclose(y_step, want, **tol.F32_VS_F64)

  def test_dense_router_is_a_bank_of_psu_lif(self):
    # Given a fully open router (gates exactly 1).
    u, params, _, _ = draw_spiking_problem(32, (B, T, D), None)
    params["spiking_slot_memory/~/router"] = {
        "w": jnp.zeros((D, M)), "b": jnp.full((M,), SATURATED)}
    p = params["spiking_slot_memory"]
    writes = jnp.einsum("btd,dmk->btmk", u, p["w_u"])
    beta = np.asarray(jax.nn.sigmoid(p["raw_beta"]))

    def psu(x):
      return neurons.PSU_LIF((M, DS), beta, threshold=THRESHOLD).parallel(x)[0]

    psu_fn = hk.without_apply_rng(hk.transform(psu))
    # When both run.
    spikes = jax.jit(spiking_fn(threshold=THRESHOLD).apply)(params, u)
    expected = jax.jit(psu_fn.apply)({}, writes)
    # Then every slot is a PSU_LIF driven by its write, spike for spike.
    self.assertGreater(float(expected.sum()), 0)
    np.testing.assert_array_equal(spikes, expected)

  def test_reuses_the_slot_router(self):
    u = random_input(33)

    def forward(u):
      spiking = raven.SpikingSlotMemory(M, slot_dim=DS)
      rsm = raven.RavenRSM(M, slot_dim=DS)
      self.assertIs(type(spiking.router), raven.SlotRouter)
      self.assertIs(type(rsm.router), raven.SlotRouter)
      return spiking(u), rsm(u)

    params = jax.eval_shape(hk.transform(forward).init,
                            jax.random.PRNGKey(0), u)
    self.assertEqual(
        jax.tree.map(lambda x: x.shape,
                     params["spiking_slot_memory/~/router"]),
        jax.tree.map(lambda x: x.shape, params["raven_rsm/~/router"]))

  def test_surrogate_gradient_reaches_the_write_matrix(self):
    u, params, _, _ = draw_spiking_problem(34, (B, T, D), None)
    fn = spiking_fn(threshold=THRESHOLD, surrogate="triangular")
    grad = jax.jit(jax.grad(lambda p: fn.apply(p, u).sum()))(params)
    self.assertGreater(
        float(jnp.abs(grad["spiking_slot_memory"]["w_u"]).sum()), 0.0)


# ----------------------------------------------------------------------------
# make_recall_batch.
# ----------------------------------------------------------------------------


def decode_recall(u, n_keys, n_values):
  """Checks one-hot structure and returns (keys, values, query), NumPy."""
  u = np.asarray(u)
  np.testing.assert_array_equal(u.sum(-1), 1.0)
  np.testing.assert_array_equal(np.isin(u, (0.0, 1.0)), True)
  tokens = u.argmax(-1)  # (B, T)
  keys, values, query = tokens[:, 0:-1:2], tokens[:, 1:-1:2], tokens[:, -1]
  assert (keys < n_keys).all() and (query < n_keys).all()
  assert (values >= n_keys).all() and (values < n_keys + n_values).all()
  return keys, values - n_keys, query


class MakeRecallBatchTest(parameterized.TestCase):

  @parameterized.parameters((1, 1, 3), (3, 8, 8), (5, 5, 2), (4, 12, 7))
  def test_layout_and_targets(self, n_pairs, n_keys, n_values):
    # Given a batch.
    u, target = jax.jit(raven.make_recall_batch, static_argnames=(
        "batch", "n_pairs", "n_keys", "n_values"))(
            jax.random.PRNGKey(n_pairs), batch=64, n_pairs=n_pairs,
            n_keys=n_keys, n_values=n_values)
    # Then the shapes and dtypes are as documented,
    self.assertEqual(u.shape, (64, 2 * n_pairs + 1, n_keys + n_values))
    self.assertEqual(u.dtype, jnp.float32)
    self.assertEqual(target.shape, (64,))
    self.assertEqual(target.dtype, jnp.int32)
    # and decoding the one-hots independently: distinct keys, a query among
    # them, and a target equal to the value presented right after it.
    keys, values, query = decode_recall(u, n_keys, n_values)
    target = np.asarray(target)
    for i in range(64):
      self.assertLen(set(keys[i]), n_pairs)
      (pos,) = np.flatnonzero(keys[i] == query[i])
      self.assertEqual(target[i], values[i, pos])

  def test_draws_are_uniform(self):
    # Given a large batch.
    n_pairs, n_keys, n_values, n = 3, 6, 5, 6000
    u, target = jax.jit(lambda k: raven.make_recall_batch(
        k, batch=n, n_pairs=n_pairs, n_keys=n_keys, n_values=n_values))(
            jax.random.PRNGKey(7))
    keys, values, query = decode_recall(u, n_keys, n_values)
    which = np.argmax(keys == query[:, None], axis=1)
    # Then keys, values, the queried pair and the target are uniform
    # (chi-square goodness of fit at the KS_ALPHA level).
    for name, draws, k in (("keys", keys, n_keys), ("values", values,
                                                    n_values),
                           ("which", which, n_pairs),
                           ("target", np.asarray(target), n_values)):
      counts = np.bincount(draws.ravel(), minlength=k)
      self.assertGreater(stats.chisquare(counts).pvalue, tol.KS_ALPHA,
                         msg=name)

  def test_deterministic_in_the_key_and_time_major(self):
    def three(key, other):
      return (raven.make_recall_batch(key, batch=5),
              raven.make_recall_batch(key, batch=5, time_major=True),
              raven.make_recall_batch(other, batch=5))

    (u1, t1), (u2, t2), (u3, _) = jax.jit(three)(jax.random.key(3),
                                                 jax.random.key(4))
    np.testing.assert_array_equal(u2.swapaxes(0, 1), u1)
    np.testing.assert_array_equal(t1, t2)
    self.assertFalse(np.array_equal(u1, u3))
    self.assertEqual(u1.shape, (5, 7, 16))  # the defaults: 3 pairs, 8 + 8

  @parameterized.named_parameters(
      ("too_few_keys", dict(n_pairs=4, n_keys=3), ValueError, "n_keys"),
      ("zero_pairs", dict(n_pairs=0), ValueError, "n_pairs"),
      ("zero_batch", dict(batch=0), ValueError, "batch"),
      ("zero_values", dict(n_values=0), ValueError, "n_values"),
      ("bool_pairs", dict(n_pairs=True), ValueError, "n_pairs"),
      ("float_keys", dict(n_keys=8.0), ValueError, "n_keys"),
      ("int_dtype", dict(dtype=jnp.int32), TypeError, "dtype"),
  )
  def test_bad_arguments(self, kwargs, error, name):
    with self.assertRaisesRegex(error, name):
      raven.make_recall_batch(jax.random.PRNGKey(0), **kwargs)

  def test_bad_key(self):
    with self.assertRaisesRegex(TypeError, "key"):
      raven.make_recall_batch(np.arange(3))


# ----------------------------------------------------------------------------
# Bad inputs, dtypes, goldens, the zoo.
# ----------------------------------------------------------------------------


class BadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("slots", raven.RavenRSM, dict(num_slots=0), "num_slots"),
      ("slot_dim", raven.RavenRSM, dict(slot_dim=0), "slot_dim"),
      ("top_k_zero", raven.RavenRSM, dict(hard_top_k=0), "hard_top_k"),
      ("top_k_big", raven.RavenRSM, dict(num_slots=4, hard_top_k=5),
       "hard_top_k"),
      ("top_k_bool", raven.RavenRSM, dict(hard_top_k=True), "hard_top_k"),
      ("decay_one", raven.RavenRSM, dict(decay_init=1.0), "decay_init"),
      ("decay_zero", raven.RavenRSM, dict(decay_init=0.0), "decay_init"),
      ("mode", raven.RavenRSM, dict(scan_mode="fast"), "scan_mode"),
      ("chunk", raven.RavenRSM, dict(chunk_size=0), "chunk_size"),
      ("beta", raven.SpikingSlotMemory, dict(beta_init=1.5), "beta_init"),
      ("threshold", raven.SpikingSlotMemory, dict(threshold=0.0),
       "threshold"),
      ("surrogate", raven.SpikingSlotMemory, dict(surrogate="nope"),
       "surrogate"),
      ("slope", raven.SpikingSlotMemory, dict(slope=-1.0), "slope"),
      ("router_slots", raven.SlotRouter, dict(num_slots=-1), "num_slots"),
      ("router_top_k", raven.SlotRouter, dict(num_slots=3, hard_top_k=4),
       "hard_top_k"),
  )
  def test_constructor_rejects(self, cls, kwargs, name):
    kwargs = dict(kwargs)
    num_slots = kwargs.pop("num_slots", 4)
    with self.assertRaisesRegex(ValueError, name):
      hk.transform(lambda: cls(num_slots, **kwargs)).init(None)

  @parameterized.named_parameters(
      ("rank", jnp.zeros((B, D)), ValueError, "rank 3"),
      ("dtype", jnp.zeros((B, T, D), jnp.int32), TypeError, "floating"),
      ("not_array", [[1.0]], TypeError, "array"),
  )
  def test_call_rejects(self, u, error, pattern):
    with self.assertRaisesRegex(error, pattern):
      raven_fn().init(jax.random.PRNGKey(0), u)

  def test_width_mismatch(self):
    params = jax.eval_shape(raven_fn().init, jax.random.PRNGKey(0),
                            jnp.zeros((B, T, D)))
    with self.assertRaisesRegex(ValueError, "D=6 does not match D=5"):
      jax.eval_shape(raven_fn().apply, params, jnp.zeros((B, T, 6)))

  def test_chunk_size_must_divide_length(self):
    fn = raven_fn(scan_mode="chunked", chunk_size=5)
    with self.assertRaisesRegex(ValueError, "chunk_size"):
      jax.eval_shape(fn.init, jax.random.PRNGKey(0), jnp.zeros((B, T, D)))

  def test_step_rejects_a_wrong_state(self):
    def forward(u_t):
      core = raven.RavenRSM(M, slot_dim=DS)
      return core.step(u_t, raven.RavenRSMState(jnp.zeros((B, M, DS + 1))))
    with self.assertRaisesRegex(ValueError, r"state.s.*\(2, 4, 3\)"):
      hk.transform(forward).init(jax.random.PRNGKey(0), jnp.zeros((B, D)))

  def test_step_rejects_a_sequence(self):
    def forward(u):
      core = raven.SpikingSlotMemory(M, slot_dim=DS)
      return core.step(u, core.initial_state(B))
    with self.assertRaisesRegex(ValueError, "u_t.*rank 2"):
      hk.transform(forward).init(jax.random.PRNGKey(0), jnp.zeros((B, T, D)))

  def test_initial_state_needs_a_known_slot_dim(self):
    def forward():
      return raven.RavenRSM(M).initial_state(B)
    with self.assertRaisesRegex(ValueError, "slot_dim"):
      hk.transform(forward).init(None)

  def test_initial_state_rejects_batch_size(self):
    def forward():
      return raven.RavenRSM(M, slot_dim=2).initial_state(0)
    with self.assertRaisesRegex(ValueError, "batch_size"):
      hk.transform(forward).init(None)

class StreamingStateTest(absltest.TestCase):

  def test_initial_state_after_params_exist(self):
    # slot_dim=None: the width is read from the parameters in `apply`.
    u = random_input(35, (B, 3, D))

    def forward(u):
      core = raven.RavenRSM(M)
      y = core(u)
      return y, core.initial_state(B)

    fn = hk.without_apply_rng(hk.transform(forward))
    params = jax.eval_shape(fn.init, jax.random.PRNGKey(0), u)
    _, state = jax.eval_shape(fn.apply, params, u)
    self.assertEqual(state.s.shape, (B, M, D))
    self.assertEqual(state.s.dtype, jnp.float32)


class DtypeTest(parameterized.TestCase):

  def test_bfloat16_input_keeps_a_float32_memory(self):
    # (That the read-out is bfloat16 and equals the float32 path to output
    # rounding is checked for every module by contracts_test.)
    u = random_input(36).astype(jnp.bfloat16)
    params = jax.eval_shape(raven_fn().init, jax.random.PRNGKey(0), u)
    mem = jax.eval_shape(raven_fn("memory").apply, params, u)
    self.assertEqual(mem.dtype, jnp.float32)

  def test_ssm_core_policy_reaches_raven(self):
    # Given the training system's mixed policies, which key on the
    # registered SSM core classes.
    policy = {"model": "p=f32,c=bf16,o=f32", "ssm_core": "p=f32,c=f32,o=bf16",
              "neuron": "p=f32,c=f32,o=bf16", "loss_scale": "none"}
    fn = hk.transform(lambda u: raven.RavenRSM(M, DS)(u))
    u = jnp.zeros((B, T, D), jnp.bfloat16)
    with precision.installed(policy):
      params = jax.eval_shape(fn.init, jax.random.PRNGKey(0), u)
      y = jax.eval_shape(fn.apply, params, None, u)
    # Then parameters stay float32 and the output has the core's dtype.
    self.assertEqual(params["raven_rsm"]["raw_decay"].dtype, jnp.float32)
    self.assertEqual(y.dtype, jnp.bfloat16)


class ZooTest(absltest.TestCase):

  def test_raven_is_a_zoo_ssm_core(self):
    self.assertIs(zoo.layer_class("raven"), experimental.RavenRSM)
    self.assertIn(experimental.RavenRSM, precision.ssm_core_classes())

  def test_backbone_builds_raven_by_name(self):
    # Given a 2-block backbone whose layer is chosen by name.
    u = random_input(38, (B, 9, 8))

    def forward(u):
      body = backbone.SequenceBackbone(
          zoo.layer_factory("raven", num_slots=4, slot_dim=2, hard_top_k=2),
          2, 8)
      return body(u, jnp.ones(u.shape[:2]), is_training=True)

    fn = hk.transform_with_state(forward)
    params, state = jax.eval_shape(fn.init, jax.random.PRNGKey(0), u)
    y, _ = jax.eval_shape(fn.apply, params, state, None, u)
    # Then it maps (B, T, D) to (B, T, D) with one RavenRSM per block.
    self.assertEqual(y.shape, u.shape)
    cores = [k for k in params if k.endswith("raven_rsm")]
    self.assertLen(cores, 2)
    self.assertEqual(params[cores[0]]["raw_decay"].shape, (4, 2))


if __name__ == "__main__":
  absltest.main()
