r"""Mamba: the selective SSM core and the full Mamba block.

Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State
Spaces", 2023, arXiv:2312.00752. The state-space parameters `dt`, `B` and
`C` are functions of the input, so the recurrence is time-varying and is
evaluated by `spike_ssm.ops.selective_scan`, which never holds the
`(B, T, D, N)` state of every step (see there for the memory argument).

`Mamba`, the selective SSM core, for an input `x_t` of width `D` and `N`
states per channel (`h_t` is `(D, N)`):

.. math::

  (\delta_t, B_t, C_t) &= x_t W_x,
      \quad \delta_t \in R^{R}, B_t, C_t \in R^{N}  \\
  \Delta_t &= \mathrm{softplus}(\delta_t W_\Delta + b_\Delta) \in R^{D}  \\
  A &= -\exp(A_{\log}) \in R^{D \times N}  \\
  h_t &= \exp(\Delta_t A) \odot h_{t-1}
      + (\Delta_t \odot x_t) B_t^\top,  \qquad h_0 = 0  \\
  y_t &= h_t C_t + d \odot x_t

`exp(Delta A)` is the zero-order-hold decay and `Delta B x` the simplified
(Euler) input term of the reference implementation; `A < 0` and
`Delta > 0` keep every decay in `(0, 1)`. Initialisation (Sec. 3.6 and the
reference code): `A` is S4D-Real, `A[:, n] = -(n + 1)`; `softplus(dt_bias)`
log-uniform on `[dt_min, dt_max]` (floored at `dt_init_floor`), stored as
its inverse softplus; `W_Delta` uniform on `+-R^{-1/2}`; `d = 1`; `W_x`
PyTorch's default `U(+-D^{-1/2})`; `R = dt_rank`, `ceil(D / 16)` for
"auto". Parameters: `a_log` `(D, N)`, `d`, `dt_bias` `(D,)`, and the `w`
of `x_proj` `(D, R + 2N)` (columns: delta, B, C) and `dt_proj` `(R, D)`.

`MambaBlock` (Fig. 3), for an input `x_t` of width `D` and `E = expand`:

.. math::

  (u_t, z_t) &= x_t W_{in},  \qquad u_t, z_t \in R^{E D}  \\
  v_t &= \mathrm{silu}\Big(\sum_{k=0}^{K-1} w_k \odot u_{t-k}
      + b_{conv}\Big)  \qquad (u_{t<0} = 0)  \\
  y_t &= (\mathrm{Mamba}(v)_t \odot \mathrm{silu}(z_t)) W_{out}

a depthwise causal convolution of `K = conv_size` taps before the core (on
`E D` channels), gated by the second half of the input projection; residual
and norm are the backbone's. `W_in`, `W_out` are PyTorch's default
`U(+-fan_in^{-1/2})`, the convolution's taps and bias `U(+-K^{-1/2})`, and
`dt_rank="auto"` means `ceil(D / 16)` of the block's width D (not of E D).
Parameters: `conv_kernel` `(K, E D)`, `conv_bias` `(E D,)`, the `w` of
`in_proj` `(D, 2 E D)` (columns: u, z) and `out_proj` `(E D, D)`, and the
core's under `mamba`.
"""

import math
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm.ops import checks
from spike_ssm.ops import conv
from spike_ssm.ops import selective_scan as sscan
from spike_ssm.ssm import base


class MambaState(NamedTuple):
  """Streaming state of a `Mamba` core: `h` `(B, D, N)`, float32."""
  h: jax.Array


class MambaBlockState(NamedTuple):
  """Streaming state of a `MambaBlock`.

  Attributes:
    conv: the last `conv_size - 1` inputs of the depthwise convolution,
      `(B, conv_size - 1, expand * D)`, oldest first, float32.
    ssm: the core's `MambaState`, `h` `(B, expand * D, N)`.
  """
  conv: jax.Array
  ssm: MambaState


def _pytorch_linear_init() -> hk.initializers.Initializer:
  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default nn.Linear init,
  # which the reference implementation keeps for x_proj, in_proj, out_proj.
  return hk.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


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


class Mamba(base.SequenceLayer):
  """Selective SSM core of Mamba (module docstring), `(B, T, D)`."""

  dynamics_params = frozenset({"a_log"})
  width_param = ("a_log", 0)

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
      ValueError: a non-positive state size, a bad dt_rank, a step range
        that is not 0 < dt_min <= dt_max, a non-positive floor, an unknown
        scan mode or a bad chunk size.
    """
    super().__init__(name=name)
    owner = type(self).__name__
    self.state_size = checks.check_int(owner, "state_size", state_size, 1)
    self.dt_rank = _check_dt_rank(owner, dt_rank)
    self.dt_min, self.dt_max = checks.check_step_range(owner, dt_min, dt_max)
    self.dt_init_floor = checks.check_float(owner, "dt_init_floor",
                                            dt_init_floor, above=0.0)
    self.scan_mode = checks.check_scan_mode(owner, scan_mode, chunk_size)
    self.chunk_size = chunk_size
    self._x_proj = _Projection(name="x_proj")
    self._dt_proj = _Projection(name="dt_proj")

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
    """`(a, d, dt_bias)` in `dtype`."""
    a_log = hk.get_parameter(
        "a_log", (features, self.state_size), jnp.float32,
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

  def _sequence(self, u: jax.Array) -> jax.Array:
    a, d, dt_bias = self._params(u.shape[-1], u.dtype)
    dt, b, c = self._selection(u, dt_bias)  # [T, B, D], [T, B, N] x 2
    y, _ = sscan.selective_scan(u, dt, a, b, c, d, mode=self.scan_mode,
                                chunk_size=self.chunk_size)  # [T, B, D]
    return y

  def _step(self, u: jax.Array, state: MambaState):
    a, d, dt_bias = self._params(u.shape[-1], u.dtype)
    dt, b, c = self._selection(u, dt_bias)  # [B, D], [B, N] x 2
    y, h = sscan.selective_step(u, dt, a, b, c, d, state.h)
    return y, MambaState(h=h)

  def _zero_state(self, batch_size: int, width: int) -> MambaState:
    return MambaState(
        h=jnp.zeros((batch_size, width, self.state_size), jnp.float32))


class MambaBlock(base.SequenceLayer):
  """The Mamba block (module docstring), `(B, T, D) -> (B, T, D)`."""

  width_param = ("conv_kernel", 1)

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
      ValueError: non-positive sizes or any bad core hyperparameter.
    """
    super().__init__(name=name)
    owner = type(self).__name__
    self.expand = checks.check_int(owner, "expand", expand, 1)
    self.conv_size = checks.check_int(owner, "conv_size", conv_size, 1)
    self.state_size = checks.check_int(owner, "state_size", state_size, 1)
    self.dt_rank = _check_dt_rank(owner, dt_rank)
    self._in_proj = _Projection(name="in_proj")
    self._out_proj = _Projection(name="out_proj")
    self._core = Mamba(state_size, dt_rank=dt_rank, dt_min=dt_min,
                       dt_max=dt_max, dt_init_floor=dt_init_floor,
                       scan_mode=scan_mode, chunk_size=chunk_size,
                       name="mamba")

  def _stored_width(self) -> int | None:
    inner = super()._stored_width()  # conv_kernel holds E * D channels.
    return None if inner is None else inner // self.expand

  def _inner_width(self, features: int) -> int:
    if self.dt_rank == "auto":
      # The reference sizes the step projection by the block's width D,
      # while the core only sees E * D channels: resolve "auto" here,
      # before the core first creates its parameters.
      self._core.dt_rank = math.ceil(features / 16)
    return self.expand * features

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

  def _out(self, s, z, features):
    return self._out_proj(s * jax.nn.silu(z), features,
                          _pytorch_linear_init())

  def _sequence(self, x: jax.Array) -> jax.Array:
    inner = self._inner_width(x.shape[-1])
    kernel, bias = self._conv_params(inner, x.dtype)
    u, z = self._in(x, inner)  # [T, B, E D] each
    v = jax.nn.silu(conv.causal_conv(u, kernel, time_major=True) + bias)
    s = self._core(v, time_major=True)  # [T, B, E D]
    return self._out(s, z, x.shape[-1])

  def _step(self, x: jax.Array, state: MambaBlockState):
    inner = self._inner_width(x.shape[-1])
    kernel, bias = self._conv_params(inner, x.dtype)
    u, z = self._in(x, inner)  # [B, E D] each
    c, buffer = conv.causal_conv_step(u, state.conv.astype(x.dtype), kernel)
    s, ssm_state = self._core.step(jax.nn.silu(c + bias), state.ssm)
    return self._out(s, z, x.shape[-1]), MambaBlockState(conv=buffer,
                                                         ssm=ssm_state)

  def _zero_state(self, batch_size: int, width: int) -> MambaBlockState:
    inner = self.expand * width
    return MambaBlockState(
        conv=conv.conv_buffer_init(batch_size, self.conv_size, inner),
        ssm=MambaState(h=jnp.zeros((batch_size, inner, self.state_size),
                                   jnp.float32)))
