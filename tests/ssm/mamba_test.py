"""Tests for spike_ssm.ssm.Mamba (the selective SSM core) and MambaBlock."""

import functools
import math

from absl.testing import absltest
from absl.testing import parameterized
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from spike_ssm import ssm
from spike_ssm import zoo
from spike_ssm.training import precision
from tests import tolerances as tol
from tests.ops import selective_scan_test

MODES = ("sequential", "parallel", "chunked", "auto")


def softplus64(v):
  return np.logaddexp(0.0, v)


def reference_mamba(params, x, prefix="mamba"):
  """float64 NumPy loop from the paper's equations, independent of the layer.

  Args:
    params: the transform's params; the core's are under `prefix`.
    x: input, (B, T, D).
    prefix: module path of the core.

  Returns:
    y, (B, T, D), float64.
  """
  p = {k: np.asarray(v, np.float64) for k, v in params[prefix].items()}
  w_x = np.asarray(params[f"{prefix}/~/x_proj"]["w"], np.float64)
  w_dt = np.asarray(params[f"{prefix}/~/dt_proj"]["w"], np.float64)
  x = np.asarray(x, np.float64)
  rank, n = w_dt.shape[0], p["a_log"].shape[1]
  a = -np.exp(p["a_log"])  # (D, N)
  batch, length, width = x.shape
  h = np.zeros((batch, width, n))
  y = np.zeros(x.shape)
  for t in range(length):
    xbc = x[:, t] @ w_x  # (B, R + 2N)
    delta, b, c = xbc[:, :rank], xbc[:, rank:rank + n], xbc[:, rank + n:]
    dt = softplus64(delta @ w_dt + p["dt_bias"])  # (B, D)
    h = (np.exp(dt[:, :, None] * a) * h +
         (dt * x[:, t])[:, :, None] * b[:, None, :])
    y[:, t] = np.einsum("bdn,bn->bd", h, c) + p["d"] * x[:, t]
  return y


def silu64(v):
  return v / (1.0 + np.exp(-v))


def reference_block(params, x):
  """float64 NumPy MambaBlock: in-proj, causal depthwise conv, SiLU, core,
  SiLU gate, out-proj, from the parameters of a `MambaBlock`."""
  f64 = lambda v: np.asarray(v, np.float64)
  w_in = f64(params["mamba_block/~/in_proj"]["w"])
  w_out = f64(params["mamba_block/~/out_proj"]["w"])
  kernel = f64(params["mamba_block"]["conv_kernel"])  # (K, E D)
  bias = f64(params["mamba_block"]["conv_bias"])
  x = f64(x)
  inner = w_out.shape[0]
  uz = x @ w_in
  u, z = uz[..., :inner], uz[..., inner:]
  conv = np.zeros(u.shape)
  for t in range(u.shape[1]):
    for k in range(min(kernel.shape[0], t + 1)):
      conv[:, t] += kernel[k] * u[:, t - k]  # kernel[0]: current step.
  v = silu64(conv + bias)
  s = reference_mamba(params, v, prefix="mamba_block/~/mamba")
  return (s * silu64(z)) @ w_out


def transformed(state_size=4, time_major=False, **kwargs):
  def forward(x):
    return ssm.Mamba(state_size, **kwargs)(x, time_major=time_major)
  return hk.without_apply_rng(hk.transform(forward))


def streamed(state_size=4, **kwargs):
  """`step` scanned over T with `hk.scan`: (B, T, D) -> (B, T, D)."""
  def forward(x):
    core = ssm.Mamba(state_size, **kwargs)

    def body(state, x_t):
      y_t, state = core.step(x_t, state)
      return state, y_t

    state = core.initial_state(x.shape[0], x.shape[-1])
    _, ys = hk.scan(body, state, x.swapaxes(0, 1))  # [T, B, D]
    return ys.swapaxes(0, 1)
  return hk.without_apply_rng(hk.transform(forward))


def init(fn, key, x):
  """Jitted init: eager init dispatches op by op and dominates test time."""
  return jax.jit(fn.init)(key, x)


def random_input(seed, shape, dtype=jnp.float32):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


# Steps large enough that the state mixes visibly within a short sequence.
FAST = dict(dt_min=0.05, dt_max=0.5)


def abstract_params(fn, x):
  """Parameter shapes only (no RNG compile): for jaxpr and golden checks."""
  return jax.eval_shape(fn.init, jax.random.PRNGKey(0), x)


def random_params(abstract, seed=0):
  """Random float32 parameters with the shapes of `abstract`, without init.

  Layer tests (references, modes, streaming, causality) must hold for any
  parameters, not just initial ones, and skipping `init` skips compiling
  the RNG, the slowest part of these tests. Values keep every layer
  well-behaved: steps `softplus(dt_bias)` in [0.05, 0.5], `A = -exp(a_log)`
  in [-(N + 1/2), -1/2], matrices scaled by 1/sqrt(fan-in).
  """
  rng = np.random.default_rng(seed)

  def leaf(path, spec):
    name, shape = path[-1].key, spec.shape
    if name == "a_log":
      v = np.log(rng.uniform(0.5, shape[-1] + 0.5, size=shape))
    elif name == "dt_bias":
      v = np.log(np.expm1(rng.uniform(0.05, 0.5, size=shape)))
    elif len(shape) >= 2:
      v = rng.normal(size=shape) / np.sqrt(shape[0])
    else:
      v = rng.normal(size=shape)
    return jnp.asarray(v, spec.dtype)

  return jax.tree_util.tree_map_with_path(leaf, abstract)


@functools.lru_cache(maxsize=None)
def core_params(width):
  """Random parameters of `transformed(4)` for inputs of `width` (shared:
  they depend on neither T, B, time_major, the scan mode nor the chunk)."""
  return random_params(abstract_params(transformed(4),
                                       jnp.zeros((1, 1, width))))


@functools.lru_cache(maxsize=None)
def block_params(width, conv_size=4):
  """Random parameters of `block_transformed(3, conv_size=conv_size)`."""
  return random_params(abstract_params(
      block_transformed(3, conv_size=conv_size), jnp.zeros((1, 1, width))))


class MambaReferenceTest(parameterized.TestCase):

  @parameterized.parameters(("sequential", False, 4), ("parallel", False, 5),
                            ("chunked", False, 8), ("auto", True, None))
  def test_matches_float64_reference(self, mode, time_major, chunk_size):
    # Given a Mamba core on a 22-step input (chunk sizes 4 and 5 leave a
    # padded last chunk).
    x = random_input(1, (3, 22, 4))
    fn = transformed(4, time_major=time_major, scan_mode=mode,
                     chunk_size=chunk_size, **FAST)
    x_in = x.swapaxes(0, 1) if time_major else x
    params = core_params(4)
    # When it runs (jitted).
    y = jax.jit(fn.apply)(params, x_in)
    # Then it equals the float64 loop, in the input's layout and dtype.
    y = y.swapaxes(0, 1) if time_major else y
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, reference_mamba(params, x),
                               **tol.F32_VS_F64)


class MambaModeEquivalenceTest(parameterized.TestCase):

  def test_every_scan_mode_and_step_agree(self):
    # Given one set of parameters and a 64-step input.
    x = random_input(2, (2, 64, 4))
    params = core_params(4)
    # When every scan mode, a chunk size that pads and the streaming step
    # run it ("auto" is covered by the reference test).
    outputs = {mode: jax.jit(transformed(4, scan_mode=mode).apply)(params, x)
               for mode in ("sequential", "parallel", "chunked")}
    outputs["parallel_3"] = jax.jit(
        transformed(4, scan_mode="parallel", chunk_size=3).apply)(params, x)
    outputs["step"] = jax.jit(streamed(4).apply)(params, x)
    # Then all agree with the sequential scan.
    for name, y in outputs.items():
      np.testing.assert_allclose(y, outputs["sequential"], err_msg=name,
                                 **tol.F32_SCAN_SHORT)

  def test_step_continues_from_a_carried_state(self):
    # Given a sequence run whole and stepped, with the width taken from the
    # parameters once they exist.
    x = random_input(3, (2, 5, 4))

    def forward(x):
      core = ssm.Mamba(4, **FAST)
      y_full = core(x)
      state = core.initial_state(2)  # D known from the parameters now.
      ys = []
      for t in range(5):
        y_t, state = core.step(x[:, t], state)
        ys.append(y_t)
      return y_full, jnp.stack(ys, axis=1), state

    fn = hk.without_apply_rng(hk.transform(forward))
    params = core_params(4)  # The same parameter tree.
    y_full, y_step, state = jax.jit(fn.apply)(params, x)
    # Then every step matches, the state is float32 (B, D, N), and the
    # parameter tree is the core's (step reuses __call__'s parameters).
    np.testing.assert_allclose(y_step, y_full, **tol.F32_SCAN_SHORT)
    self.assertEqual(state.h.shape, (2, 4, 4))
    self.assertEqual(state.h.dtype, jnp.float32)
    self.assertEqual(sorted(params),
                     ["mamba", "mamba/~/dt_proj", "mamba/~/x_proj"])

  def test_causal(self):
    # Given an input and a copy perturbed at step 7 only.
    x = random_input(4, (2, 12, 4))
    x2 = x.at[:, 7].add(5.0)
    fn = transformed(4, **FAST)
    params = core_params(4)
    apply = jax.jit(fn.apply)
    y, y2 = apply(params, x), apply(params, x2)
    # Then outputs before step 7 are identical and later ones moved.
    np.testing.assert_array_equal(y[:, :7], y2[:, :7])
    self.assertGreater(float(jnp.abs(y[:, 8:] - y2[:, 8:]).max()), 1e-3)


class MambaMemoryTest(parameterized.TestCase):

  @parameterized.parameters("sequential", "parallel")
  def test_gradient_program_has_no_time_by_state_array(self, mode):
    # Given T = 64, B = 2, D = 8, N = 5 in chunks of 8: a chunk's states
    # and the chunk-boundary states are 640 elements, x_proj's output
    # (T, B, R + 2N) 1408, and any (T, ..., D, N) array at least 2560.
    length, width, n = 64, 8, 5
    x = random_input(6, (2, length, width))
    fn = transformed(n, scan_mode=mode, chunk_size=8)
    params = abstract_params(fn, x)
    loss = lambda p, x: jnp.sum(jnp.sin(fn.apply(p, x)))
    # When the gradient w.r.t. parameters and input is traced.
    biggest = selective_scan_test.largest_intermediate(
        jax.grad(loss, argnums=(0, 1)), params, x)
    # Then no array is as large as T * D * N.
    self.assertLess(biggest, length * width * n)


class MambaInitTest(parameterized.TestCase):

  def test_initialisation(self):
    # Given a wide core: D = 512 channels, N = 6, dt_rank auto = 32.
    width, n = 512, 6
    fn = transformed(n)
    params = init(fn, jax.random.PRNGKey(7), jnp.zeros((1, 1, width)))
    p = {k: np.asarray(v, np.float64) for k, v in params["mamba"].items()}
    w_x = np.asarray(params["mamba/~/x_proj"]["w"])
    w_dt = np.asarray(params["mamba/~/dt_proj"]["w"])
    rank = math.ceil(width / 16)
    # Then A is S4D-Real, -(1..N) for every channel, and d is one,
    np.testing.assert_allclose(-np.exp(p["a_log"]),
                               -np.tile(np.arange(1, n + 1), (width, 1)),
                               **tol.F32_VS_F64)
    np.testing.assert_array_equal(p["d"], np.ones(width))
    # softplus(dt_bias) is log-uniform on [0.001, 0.1],
    dt = softplus64(p["dt_bias"])
    self.assertGreaterEqual(dt.min(), 0.001 * (1 - tol.F32_VS_F64["rtol"]))
    self.assertLessEqual(dt.max(), 0.1 * (1 + tol.F32_VS_F64["rtol"]))
    self.assertGreater(
        stats.kstest(np.log(dt), "uniform",
                     args=(np.log(0.001), np.log(100.0))).pvalue,
        tol.KS_ALPHA)
    # the projections have the reference shapes and uniform ranges.
    self.assertEqual(w_x.shape, (width, rank + 2 * n))
    self.assertEqual(w_dt.shape, (rank, width))
    for w, bound in ((w_x, width**-0.5), (w_dt, rank**-0.5)):
      self.assertLessEqual(np.abs(w).max(), bound)
      self.assertGreater(
          stats.kstest(w.ravel(), "uniform", args=(-bound, 2 * bound)).pvalue,
          tol.KS_ALPHA)

  def test_dt_init_floor_clamps_the_initial_step(self):
    fn = transformed(2, dt_min=1e-6, dt_max=1e-5, dt_init_floor=1e-3)
    params = init(fn, jax.random.PRNGKey(0), jnp.zeros((1, 1, 8)))
    np.testing.assert_allclose(softplus64(
        np.asarray(params["mamba"]["dt_bias"], np.float64)), 1e-3,
                               **tol.F32_VS_F64)

  @parameterized.parameters(("auto", 17, 2), ("auto", 16, 1), (5, 16, 5))
  def test_dt_rank(self, dt_rank, width, rank):
    fn = transformed(3, dt_rank=dt_rank)
    params = jax.eval_shape(fn.init, jax.random.PRNGKey(0),
                            jnp.zeros((1, 1, width)))
    self.assertEqual(params["mamba/~/dt_proj"]["w"].shape, (rank, width))
    self.assertEqual(params["mamba/~/x_proj"]["w"].shape, (width, rank + 6))


class MambaBadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("state_size_zero", dict(state_size=0), "state_size"),
      ("dt_rank_zero", dict(dt_rank=0), "dt_rank"),
      ("dt_rank_string", dict(dt_rank="full"), "dt_rank"),
      ("dt_min_zero", dict(dt_min=0.0), "dt_min"),
      ("dt_min_above_dt_max", dict(dt_min=0.2, dt_max=0.1), "dt_min"),
      ("dt_init_floor_negative", dict(dt_init_floor=-1.0), "dt_init_floor"),
      ("unknown_scan_mode", dict(scan_mode="fast"), "scan_mode"),
      ("chunk_size_zero", dict(chunk_size=0), "chunk_size"),
  )
  def test_bad_hyperparameters(self, kwargs, name):
    with self.assertRaisesRegex(ValueError, f"`{name}`"):
      hk.transform(lambda: ssm.Mamba(**kwargs)).init(None)

  def test_initial_state_needs_a_width_before_parameters_exist(self):
    def forward():
      return ssm.Mamba(4).initial_state(2)
    with self.assertRaisesRegex(ValueError, "initial_state needs.*`width=`"):
      hk.transform(forward).init(None)

  def test_initial_state_width_disagrees_with_parameters(self):
    def forward(x):
      core = ssm.Mamba(4)
      core(x)
      return core.initial_state(2, width=5)
    with self.assertRaisesRegex(ValueError, "`width`=5 does not match D=3"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 4, 3)))

  def test_step_with_wrong_state_shape(self):
    def forward(x_t):
      core = ssm.Mamba(4)
      return core.step(x_t, core.initial_state(3, 3))
    with self.assertRaisesRegex(ValueError,
                                r"`state.h`.*\(2, 3, 4\).*\(3, 3, 4\)"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))


def block_transformed(state_size=3, time_major=False, **kwargs):
  def forward(x):
    return ssm.MambaBlock(state_size, **kwargs)(x, time_major=time_major)
  return hk.without_apply_rng(hk.transform(forward))


def block_streamed(state_size=3, **kwargs):
  def forward(x):
    block = ssm.MambaBlock(state_size, **kwargs)

    def body(state, x_t):
      y_t, state = block.step(x_t, state)
      return state, y_t

    state = block.initial_state(x.shape[0], x.shape[-1])
    _, ys = hk.scan(body, state, x.swapaxes(0, 1))  # [T, B, D]
    return ys.swapaxes(0, 1)
  return hk.without_apply_rng(hk.transform(forward))


class MambaBlockTest(parameterized.TestCase):

  @parameterized.parameters(("sequential", False), ("parallel", True))
  def test_matches_float64_reference(self, mode, time_major):
    # Given a block (D = 4, E = 2, K = 3) on a 10-step input in chunks of 4.
    x = random_input(11, (2, 10, 4))
    fn = block_transformed(3, time_major=time_major, conv_size=3,
                           scan_mode=mode, chunk_size=4, **FAST)
    x_in = x.swapaxes(0, 1) if time_major else x
    params = block_params(4, conv_size=3)
    y = jax.jit(fn.apply)(params, x_in)
    y = y.swapaxes(0, 1) if time_major else y
    # Then it equals the float64 composition of its stages.
    self.assertEqual(y.dtype, jnp.float32)
    np.testing.assert_allclose(y, reference_block(params, x),
                               **tol.F32_VS_F64)

  def test_modes_and_step_agree(self):
    # Given one set of block parameters and a 48-step input.
    x = random_input(12, (2, 48, 4))
    params = block_params(4)
    # When the scan modes and the streaming step run it.
    outputs = {mode: jax.jit(block_transformed(scan_mode=mode).apply)(
        params, x) for mode in ("sequential", "parallel", "chunked")}
    outputs["step"] = jax.jit(block_streamed().apply)(params, x)
    # Then all agree.
    for name, y in outputs.items():
      np.testing.assert_allclose(y, outputs["sequential"], err_msg=name,
                                 **tol.F32_SCAN_SHORT)

  def test_causal(self):
    x = random_input(13, (1, 12, 4))
    fn = block_transformed(**FAST)
    params = block_params(4)
    apply = jax.jit(fn.apply)
    y, y2 = apply(params, x), apply(params, x.at[:, 6].add(3.0))
    np.testing.assert_array_equal(y[:, :6], y2[:, :6])
    self.assertGreater(float(jnp.abs(y[:, 6:] - y2[:, 6:]).max()), 1e-3)

  def test_step_state_and_width_from_parameters(self):
    def forward(x):
      block = ssm.MambaBlock(3, conv_size=3, **FAST)
      y = block(x)
      state = block.initial_state(2)  # D = 4 from the parameters.
      y_0, state = block.step(x[:, 0], state)
      return y, y_0, state
    fn = hk.without_apply_rng(hk.transform(forward))
    x = random_input(14, (2, 5, 4))
    params = block_params(4, conv_size=3)  # The same parameter tree.
    y, y_0, state = jax.jit(fn.apply)(params, x)
    np.testing.assert_allclose(y_0, y[:, 0], **tol.F32_SCAN_SHORT)
    self.assertEqual(state.conv.shape, (2, 2, 8))
    self.assertEqual(state.conv.dtype, jnp.float32)
    self.assertEqual(state.ssm.h.shape, (2, 8, 3))
    # The buffer holds the last K - 1 = 2 convolution inputs, the newest
    # (step 0) last and a zero before it.
    w_in = params["mamba_block/~/in_proj"]["w"]
    np.testing.assert_allclose(state.conv[:, -1], (x[:, 0] @ w_in)[:, :8],
                               **tol.F32_VS_F64)
    np.testing.assert_array_equal(state.conv[:, 0], 0.0)

  def test_gradient_program_has_no_time_by_state_array(self):
    # Given T = 64, D = 4 (E D = 8 inner channels), N = 5, chunks of 8:
    # any array spanning T and the inner state has >= 64 * 8 * 5 elements.
    length, inner, n = 64, 8, 5
    x = random_input(15, (2, length, 4))
    fn = block_transformed(n, chunk_size=8)
    params = abstract_params(fn, x)
    loss = lambda p, x: jnp.sum(jnp.sin(fn.apply(p, x)))
    biggest = selective_scan_test.largest_intermediate(
        jax.grad(loss, argnums=(0, 1)), params, x)
    self.assertLess(biggest, length * inner * n)

  def test_initialisation(self):
    # Given a block of width D = 40 (dt_rank auto = ceil(40 / 16) = 3).
    fn = block_transformed(4, conv_size=4)
    params = init(fn, jax.random.PRNGKey(3), jnp.zeros((1, 1, 40)))
    p = params["mamba_block"]
    # Then the conv taps and bias are U(+-K^-1/2), the projections have
    # the block's shapes, and the core's step rank follows the block width.
    for name in ("conv_kernel", "conv_bias"):
      v = np.asarray(p[name]).ravel()
      self.assertLessEqual(np.abs(v).max(), 0.5)
      self.assertGreater(
          stats.kstest(v, "uniform", args=(-0.5, 1.0)).pvalue,
          tol.KS_ALPHA, msg=name)
    self.assertEqual(params["mamba_block/~/in_proj"]["w"].shape, (40, 160))
    self.assertEqual(params["mamba_block/~/out_proj"]["w"].shape, (80, 40))
    self.assertEqual(params["mamba_block/~/mamba/~/dt_proj"]["w"].shape,
                     (3, 80))
    np.testing.assert_allclose(
        -np.exp(np.asarray(params["mamba_block/~/mamba"]["a_log"])),
        -np.tile(np.arange(1, 5), (80, 1)), **tol.F32_VS_F64)

  def test_in_the_zoo_as_ssm_cores(self):
    self.assertIs(zoo.layer_class("mamba"), ssm.MambaBlock)
    self.assertIs(zoo.layer_class("mamba_core"), ssm.Mamba)
    self.assertContainsSubset({ssm.Mamba, ssm.MambaBlock},
                              precision.ssm_core_classes())


class MambaBlockBadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("expand_zero", dict(expand=0), "expand"),
      ("conv_size_zero", dict(conv_size=0), "conv_size"),
      ("state_size_zero", dict(state_size=0), "state_size"),
      ("dt_rank_bad", dict(dt_rank=-1), "dt_rank"),
      ("dt_max_zero", dict(dt_max=0.0), "dt_max"),
      ("scan_mode", dict(scan_mode="fast"), "scan_mode"),
  )
  def test_bad_hyperparameters(self, kwargs, name):
    with self.assertRaisesRegex(ValueError, f"`{name}`"):
      hk.transform(lambda: ssm.MambaBlock(**kwargs)).init(None)

  def test_initial_state_needs_a_width(self):
    with self.assertRaisesRegex(ValueError, "initial_state needs.*`width=`"):
      hk.transform(lambda: ssm.MambaBlock().initial_state(2)).init(None)

  def test_step_with_wrong_conv_buffer(self):
    def forward(x_t):
      block = ssm.MambaBlock(3, conv_size=4)
      state = block.initial_state(2, 3)
      return block.step(x_t, state._replace(conv=state.conv[:, 1:]))
    with self.assertRaisesRegex(ValueError,
                                r"`state.conv`.*\(2, 3, 6\).*\(2, 2, 6\)"):
      jax.eval_shape(hk.transform(forward).init, jax.random.PRNGKey(0),
                     jnp.zeros((2, 3)))


if __name__ == "__main__":
  absltest.main()
