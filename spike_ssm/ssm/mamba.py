"""Mamba: the selective SSM core and the full Mamba block.

Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State
Spaces", 2023, arXiv:2312.00752. The state-space parameters `dt`, `B` and
`C` are functions of the input, so the recurrence is time-varying and is
evaluated by `spike_ssm.ops.selective_scan`, which never holds the
`(B, T, D, N)` state of every step (see there for the memory argument).
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm.ops import conv
from spike_ssm.ops import selective_scan as sscan
from spike_ssm.ssm import _diagonal


class MambaState(NamedTuple):
  """Streaming state of a `Mamba` core.

  Attributes:
    h: the selective-SSM state, shape `(B, D, N)`, float32 (float64 under
      float64 inputs).
  """
  h: jax.Array


class MambaBlockState(NamedTuple):
  """Streaming state of a `MambaBlock`.

  Attributes:
    conv: the last `conv_size - 1` inputs of the depthwise convolution,
      shape `(B, conv_size - 1, expand * D)`, oldest first, float32.
    ssm: the inner `Mamba` core's state, `h` of shape
      `(B, expand * D, N)`.
  """
  conv: jax.Array
  ssm: MambaState


def _pytorch_linear_init() -> hk.initializers.Initializer:
  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default nn.Linear init,
  # which the reference implementation keeps for x_proj, in_proj, out_proj.
  return hk.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


def _check_positive_float(owner: str, name: str, value) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ValueError(f"{owner}: `{name}` must be a positive float, got "
                     f"{value!r}.")
  value = float(value)
  if not value > 0.0:
    raise ValueError(f"{owner}: `{name}` must be > 0, got {value}.")
  return value


def _check_dt_range(owner: str, dt_min, dt_max, dt_init_floor):
  dt_min = _check_positive_float(owner, "dt_min", dt_min)
  dt_max = _check_positive_float(owner, "dt_max", dt_max)
  if dt_min > dt_max:
    raise ValueError(
        f"{owner}: `dt_min` must be <= `dt_max`, got dt_min={dt_min} > "
        f"dt_max={dt_max}.")
  dt_init_floor = _check_positive_float(owner, "dt_init_floor", dt_init_floor)
  return dt_min, dt_max, dt_init_floor


def _check_dt_rank(owner: str, dt_rank):
  if dt_rank == "auto":
    return dt_rank
  if (isinstance(dt_rank, bool) or not isinstance(dt_rank, int) or
      dt_rank < 1):
    raise ValueError(
        f"{owner}: `dt_rank` must be 'auto' or an int >= 1, got {dt_rank!r}.")
  return dt_rank


class _Projection(hk.Module):
  """A bias-free linear map whose output size is given at call time.

  Parameters: `w` `(D_in, D_out)`, like `hk.Linear`'s. Built in the owner's
  `__init__`, so that `__call__` and `step` share one module path
  (`owner/~/name`) even though the sizes are only known from the input.
  """

  def __call__(self, x: jax.Array, output_size: int,
               w_init: hk.initializers.Initializer) -> jax.Array:
    w = hk.get_parameter("w", (x.shape[-1], output_size), jnp.float32,
                         w_init)
    return jnp.dot(x, w.astype(x.dtype))


def _own_param_dim(module: hk.Module, key: str, axis: int) -> int | None:
  """Size of `axis` of the module's own parameter `key`, if it exists."""
  value = module.params_dict().get(f"{module.module_name}/{key}")
  return None if value is None else int(value.shape[axis])


class Mamba(hk.Module):
  """Selective SSM core of Mamba (Gu & Dao, 2023, arXiv:2312.00752).

  For an input `x_t` of width `D` and `N` states per channel:

  .. math::

    (\\delta_t, B_t, C_t) &= x_t W_x,
        \\quad \\delta_t \\in R^{R}, B_t, C_t \\in R^{N}  \\\\
    \\Delta_t &= \\mathrm{softplus}(\\delta_t W_\\Delta + b_\\Delta)
        \\in R^{D}  \\\\
    A &= -\\exp(A_{\\log}) \\in R^{D \\times N}  \\\\
    h_t &= \\exp(\\Delta_t A) \\odot h_{t-1}
        + (\\Delta_t \\odot x_t) B_t^\\top,  \\qquad h_0 = 0  \\\\
    y_t &= h_t C_t + d \\odot x_t

  with `h_t` of shape `(D, N)`: `exp(Delta A)` is the zero-order-hold
  decay and `Delta B x` the simplified (Euler) input term of the paper's
  reference implementation. `A < 0` and `Delta > 0` keep every decay in
  `(0, 1)`.

  Initialisation (Gu & Dao, 2023, Sec. 3.6 and the reference code): `A` is
  S4D-Real, `A[:, n] = -(n + 1)` (`a_log = log(1..N)` for every channel);
  `softplus(dt_bias)` is log-uniform on `[dt_min, dt_max]` (floored at
  `dt_init_floor`), stored as its inverse softplus; `W_Delta` is uniform on
  `+-R^{-1/2}`; `d` is one; `W_x` is PyTorch's default `U(+-D^{-1/2})`.
  `R = dt_rank`, `ceil(D / 16)` for "auto".

  Parameters: `a_log` `(D, N)`, `d` `(D,)`, `dt_bias` `(D,)`, and the
  `w` of the Linear submodules `x_proj` `(D, R + 2N)` (columns: delta, B,
  C) and `dt_proj` `(R, D)`. Computation is in float32 (or wider) whatever
  the input dtype; the output comes back in the input dtype.
  """

  def __init__(self,
               state_size: int = 16,
               *,
               dt_rank: int | str = "auto",
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               dt_init_floor: float = 1e-4,
               scan_mode: str = "auto",
               chunk_size: int | None = None,
               name: str | None = None):
    """Constructs a Mamba selective SSM core.

    Args:
      state_size: states per channel N.
      dt_rank: rank R of the step projection, or "auto" for ceil(D / 16).
      dt_min: smallest initial step.
      dt_max: largest initial step.
      dt_init_floor: lower clamp of the initial steps.
      scan_mode: "auto", "sequential", "parallel" or "chunked" (see
        `spike_ssm.ops.selective_scan`); "auto" is sequential on CPU.
      chunk_size: chunk length of the scan (any positive int; bounds memory
        to O(B * chunk_size * D * N)), or None for ~sqrt(T).
      name: module name.

    Raises:
      ValueError: on a non-positive state size, a bad dt_rank, a step range
        that is not 0 < dt_min <= dt_max, a non-positive floor, an unknown
        scan mode or a bad chunk size.
    """
    super().__init__(name=name)
    owner = type(self).__name__
    self.state_size = _diagonal.check_int(owner, "state_size", state_size, 1)
    self.dt_rank = _check_dt_rank(owner, dt_rank)
    self.dt_min, self.dt_max, self.dt_init_floor = _check_dt_range(
        owner, dt_min, dt_max, dt_init_floor)
    _diagonal.check_scan_mode(owner, scan_mode, chunk_size)
    self.scan_mode = scan_mode
    self.chunk_size = chunk_size
    self._x_proj = _Projection(name="x_proj")
    self._dt_proj = _Projection(name="dt_proj")

  # --------------------------------------------------------------------------
  # Parameters.
  # --------------------------------------------------------------------------

  def _rank(self, features: int) -> int:
    return (math.ceil(features / 16) if self.dt_rank == "auto" else
            self.dt_rank)

  def _dt_bias_init(self, shape, dtype):
    u = jax.random.uniform(hk.next_rng_key(), shape, jnp.float32)
    log_lo, log_hi = math.log(self.dt_min), math.log(self.dt_max)
    dt = jnp.maximum(jnp.exp(log_lo + u * (log_hi - log_lo)),
                     self.dt_init_floor)
    return sscan.softplus_inverse(dt).astype(dtype)

  def _params(self, features: int, dtype):
    """`(a, d, dt_bias)` in `dtype`, after checking the width."""
    n = self.state_size
    stored = _own_param_dim(self, "a_log", 0)
    if stored is not None and stored != features:
      raise ValueError(
          f"{self.module_name}: input feature size D={features} does not "
          f"match D={stored} that the parameters were created with (`a_log` "
          f"has shape ({stored}, {n})).")
    a_log = hk.get_parameter(
        "a_log", (features, n), jnp.float32,
        lambda shape, dtype: jnp.broadcast_to(
            jnp.log(jnp.arange(1, shape[1] + 1, dtype=dtype)), shape))
    d = hk.get_parameter("d", (features,), jnp.float32, jnp.ones)
    dt_bias = hk.get_parameter("dt_bias", (features,), jnp.float32,
                               self._dt_bias_init)
    a = -jnp.exp(a_log.astype(dtype))
    return a, d.astype(dtype), dt_bias.astype(dtype)

  def _selection(self, u, dt_bias):
    """`(dt, B, C)` from the input `u` (..., D): (..., D), (..., N) x 2."""
    features, n = u.shape[-1], self.state_size
    rank = self._rank(features)
    xbc = self._x_proj(u, rank + 2 * n, _pytorch_linear_init())  # [..., R+2N]
    delta, b, c = xbc[..., :rank], xbc[..., rank:rank + n], xbc[..., rank + n:]
    dt_init = hk.initializers.RandomUniform(-rank**-0.5, rank**-0.5)
    dt = jax.nn.softplus(self._dt_proj(delta, features, dt_init) +
                         dt_bias)  # [..., D]
    return dt, b, c

  # --------------------------------------------------------------------------
  # Whole sequence.
  # --------------------------------------------------------------------------

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the selective SSM over a whole sequence.

    Args:
      x: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`; any
        floating dtype.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3 or its width differs from the width
        the parameters were created with.
      TypeError: if `x` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x", x, 3,
                          "(T, B, D)" if time_major else "(B, T, D)")
    dtype = _diagonal.compute_dtype(x.dtype)
    a, d, dt_bias = self._params(x.shape[-1], dtype)
    u = x.astype(dtype)
    if not time_major:
      u = u.swapaxes(0, 1)  # [T, B, D]: the scan runs over axis 0.
    dt, b, c = self._selection(u, dt_bias)  # [T, B, D], [T, B, N] x 2
    y, _ = sscan.selective_scan(u, dt, a, b, c, d, mode=self.scan_mode,
                                chunk_size=self.chunk_size)  # [T, B, D]
    if not time_major:
      y = y.swapaxes(0, 1)  # [B, T, D]
    return y.astype(x.dtype)

  # --------------------------------------------------------------------------
  # Streaming.
  # --------------------------------------------------------------------------

  def initial_state(self, batch_size: int,
                    width: int | None = None) -> MambaState:
    """The zero state: `h` of shape `(B, D, N)`, float32.

    Args:
      batch_size: B.
      width: the input width D. Optional once the parameters exist (in
        `apply`, or after a call), which fix it.

    Returns:
      A `MambaState`.

    Raises:
      ValueError: on a bad batch size, or if D is neither given nor known.
    """
    batch_size = _diagonal.check_int(self.module_name, "batch_size",
                                     batch_size, 1)
    width = _resolve_width(self, width, "a_log", 0)
    return MambaState(
        h=jnp.zeros((batch_size, width, self.state_size), jnp.float32))

  def step(self, x_t: jax.Array,
           state: MambaState) -> tuple[jax.Array, MambaState]:
    """Advances the selective SSM by one time step.

    Args:
      x_t: input at one step, shape `(B, D)`.
      state: the previous `MambaState`.

    Returns:
      `(y_t, next_state)`: y_t of shape `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: if `x_t` is not rank 2, its width differs from the
        parameters', or `state.h` is not `(B, D, N)`.
      TypeError: if `x_t` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    _check_state_shape(self.module_name, "state.h", state.h,
                       (*x_t.shape, self.state_size))
    dtype = _diagonal.compute_dtype(x_t.dtype)
    a, d, dt_bias = self._params(x_t.shape[-1], dtype)
    u = x_t.astype(dtype)
    dt, b, c = self._selection(u, dt_bias)  # [B, D], [B, N] x 2
    y, h = sscan.selective_step(u, dt, a, b, c, d, state.h)
    return y.astype(x_t.dtype), MambaState(h=h.astype(state.h.dtype))


def _resolve_width(module: hk.Module, width, key: str, axis: int) -> int:
  owner = module.module_name
  stored = _own_param_dim(module, key, axis)
  if width is None:
    if stored is None:
      raise ValueError(
          f"{owner}: initial_state needs the input width D: pass `width=` "
          "(no parameters exist yet to take it from).")
    return stored
  width = _diagonal.check_int(owner, "width", width, 1)
  if stored is not None and stored != width:
    raise ValueError(
        f"{owner}: `width`={width} does not match D={stored} that the "
        "parameters were created with.")
  return width


def _check_state_shape(owner: str, name: str, value, expected) -> None:
  expected = tuple(expected)
  if not hasattr(value, "shape") or tuple(value.shape) != expected:
    raise ValueError(
        f"{owner}: `{name}` must have shape {expected}, got "
        f"{tuple(getattr(value, 'shape', ()))}.")


class MambaBlock(hk.Module):
  """The Mamba block (Gu & Dao, 2023, arXiv:2312.00752, Fig. 3).

  For an input `x_t` of width `D` and `E = expand`:

  .. math::

    (u_t, z_t) &= x_t W_{in},  \\qquad u_t, z_t \\in R^{E D}  \\\\
    v_t &= \\mathrm{silu}\\Big(\\sum_{k=0}^{K-1} w_k \\odot u_{t-k}
        + b_{conv}\\Big)  \\qquad (u_{t<0} = 0)  \\\\
    s_t &= \\mathrm{Mamba}(v)_t  \\\\
    y_t &= (s_t \\odot \\mathrm{silu}(z_t)) W_{out}

  a depthwise causal convolution of `K = conv_size` taps (`w_0` on the
  current step) before the selective SSM core (`Mamba`, on `E D`
  channels), gated by the second half of the input projection. The
  residual connection and normalisation are left to the caller (the
  backbone's blocks).

  Initialisation follows the reference implementation: `W_in`, `W_out` are
  PyTorch's default `U(+-fan_in^{-1/2})`, the convolution's taps and bias
  `U(+-K^{-1/2})` (PyTorch's Conv1d default with fan_in = K for a depthwise
  kernel), and the core as in `Mamba`, with `dt_rank="auto"` meaning
  `ceil(D / 16)` of the block's width D (not of E D).

  Parameters: `conv_kernel` `(K, E D)`, `conv_bias` `(E D,)`, the `w` of
  `in_proj` `(D, 2 E D)` (columns: u, z) and `out_proj` `(E D, D)`, and the
  core's under `mamba`. Computation is in float32 (or wider); the output
  comes back in the input dtype.
  """

  def __init__(self,
               state_size: int = 16,
               *,
               expand: int = 2,
               conv_size: int = 4,
               dt_rank: int | str = "auto",
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               dt_init_floor: float = 1e-4,
               scan_mode: str = "auto",
               chunk_size: int | None = None,
               name: str | None = None):
    """Constructs a Mamba block.

    Args:
      state_size: states per channel N of the core.
      expand: width multiplier E of the inner channels.
      conv_size: taps K of the depthwise causal convolution.
      dt_rank: rank of the core's step projection, or "auto" for
        ceil(D / 16).
      dt_min: smallest initial step of the core.
      dt_max: largest initial step of the core.
      dt_init_floor: lower clamp of the core's initial steps.
      scan_mode: the core's scan mode (see `Mamba`).
      chunk_size: the core's chunk length (see `Mamba`).
      name: module name.

    Raises:
      ValueError: on non-positive sizes or any bad core hyperparameter.
    """
    super().__init__(name=name)
    owner = type(self).__name__
    self.expand = _diagonal.check_int(owner, "expand", expand, 1)
    self.conv_size = _diagonal.check_int(owner, "conv_size", conv_size, 1)
    self.state_size = _diagonal.check_int(owner, "state_size", state_size, 1)
    self.dt_rank = _check_dt_rank(owner, dt_rank)
    self._in_proj = _Projection(name="in_proj")
    self._out_proj = _Projection(name="out_proj")
    self._core = Mamba(state_size, dt_rank=dt_rank, dt_min=dt_min,
                       dt_max=dt_max, dt_init_floor=dt_init_floor,
                       scan_mode=scan_mode, chunk_size=chunk_size,
                       name="mamba")

  def _inner_width(self, features: int) -> int:
    stored = _own_param_dim(self, "conv_kernel", 1)
    inner = self.expand * features
    if stored is not None and stored != inner:
      raise ValueError(
          f"{self.module_name}: input feature size D={features} does not "
          f"match D={stored // self.expand} that the parameters were created "
          f"with (`conv_kernel` has shape ({self.conv_size}, {stored})).")
    if self.dt_rank == "auto":
      # The reference sizes the step projection by the block's width D,
      # while the core only sees E * D channels: resolve "auto" here,
      # before the core first creates its parameters.
      self._core.dt_rank = math.ceil(features / 16)
    return inner

  def _conv_params(self, inner: int, dtype):
    bound = self.conv_size**-0.5
    init = hk.initializers.RandomUniform(-bound, bound)
    kernel = hk.get_parameter("conv_kernel", (self.conv_size, inner),
                              jnp.float32, init)
    bias = hk.get_parameter("conv_bias", (inner,), jnp.float32, init)
    return kernel.astype(dtype), bias.astype(dtype)

  def _in(self, x, inner):
    uz = self._in_proj(x, 2 * inner, _pytorch_linear_init())  # [..., 2 E D]
    return uz[..., :inner], uz[..., inner:]

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the block over a whole sequence.

    Args:
      x: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`; any
        floating dtype.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3 or its width differs from the width
        the parameters were created with.
      TypeError: if `x` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x", x, 3,
                          "(T, B, D)" if time_major else "(B, T, D)")
    dtype = _diagonal.compute_dtype(x.dtype)
    inner = self._inner_width(x.shape[-1])
    kernel, bias = self._conv_params(inner, dtype)
    u, z = self._in(x.astype(dtype), inner)  # [B, T, E D] each
    v = jax.nn.silu(
        conv.causal_conv(u, kernel, time_major=time_major) + bias)
    s = self._core(v, time_major=time_major)  # [B, T, E D]
    y = self._out_proj(s * jax.nn.silu(z), x.shape[-1],
                       _pytorch_linear_init())
    return y.astype(x.dtype)

  def initial_state(self, batch_size: int,
                    width: int | None = None) -> MambaBlockState:
    """The zero state: conv buffer `(B, K-1, E D)`, core `(B, E D, N)`.

    Args:
      batch_size: B.
      width: the input width D. Optional once the parameters exist.

    Returns:
      A `MambaBlockState` (float32).

    Raises:
      ValueError: on a bad batch size, or if D is neither given nor known.
    """
    batch_size = _diagonal.check_int(self.module_name, "batch_size",
                                     batch_size, 1)
    stored = _own_param_dim(self, "conv_kernel", 1)
    if width is None:
      if stored is None:
        raise ValueError(
            f"{self.module_name}: initial_state needs the input width D: "
            "pass `width=` (no parameters exist yet to take it from).")
      width = stored // self.expand
    width = _diagonal.check_int(self.module_name, "width", width, 1)
    inner = self.expand * width
    if stored is not None and stored != inner:
      raise ValueError(
          f"{self.module_name}: `width`={width} does not match D="
          f"{stored // self.expand} that the parameters were created with.")
    return MambaBlockState(
        conv=conv.conv_buffer_init(batch_size, self.conv_size, inner),
        ssm=MambaState(h=jnp.zeros((batch_size, inner, self.state_size),
                                   jnp.float32)))

  def step(self, x_t: jax.Array,
           state: MambaBlockState) -> tuple[jax.Array, MambaBlockState]:
    """Advances the block by one time step.

    Args:
      x_t: input at one step, `(B, D)`.
      state: the previous `MambaBlockState`.

    Returns:
      `(y_t, next_state)`: y_t of shape `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: if `x_t` is not rank 2, its width differs from the
        parameters', or the state does not have the shapes of
        `initial_state`.
      TypeError: if `x_t` is not floating point.
    """
    _diagonal.check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    dtype = _diagonal.compute_dtype(x_t.dtype)
    inner = self._inner_width(x_t.shape[-1])
    _check_state_shape(self.module_name, "state.conv", state.conv,
                       (x_t.shape[0], self.conv_size - 1, inner))
    kernel, bias = self._conv_params(inner, dtype)
    u, z = self._in(x_t.astype(dtype), inner)  # [B, E D] each
    c, buffer = conv.causal_conv_step(u, state.conv.astype(dtype), kernel)
    v = jax.nn.silu(c + bias)
    s, ssm_state = self._core.step(v, state.ssm)
    y = self._out_proj(s * jax.nn.silu(z), x_t.shape[-1],
                       _pytorch_linear_init())
    return y.astype(x_t.dtype), MambaBlockState(
        conv=buffer.astype(state.conv.dtype), ssm=ssm_state)
