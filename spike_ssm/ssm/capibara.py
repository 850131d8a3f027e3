"""CapibaraJAXSSM: causal conv + HiPPO-initialised dense SSM (seeds/001).

The seed layer `CapibaraJAXSSM` and its helper `hippo_initialization` in
Haiku form, keeping the seed's public names and call signatures:
`causal_conv(x, conv_kernel)`, `ssm_step(carry, x_t, A, B, C)` and
`__call__(x, state, deterministic=True)`.
"""

from collections.abc import Mapping
import math
from typing import Any, NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import conv as conv_ops
from spike_ssm.ops import discretization
from spike_ssm.ops import hippo
from spike_ssm.ssm import base

_CONFIG_KEYS = ("state_dim", "input_dim", "output_dim", "conv_dim")
# log-uniform range of the initial step, as S4/S5 draw it.
_DT_MIN, _DT_MAX = 1e-3, 1e-1
_HIGHEST = lax.Precision.HIGHEST


def hippo_initialization(N: int) -> jnp.ndarray:
  """The HiPPO-LegS transition matrix `A` (Gu et al. 2020, eq. (2)).

  `A[n, k] = -sqrt(2n+1) sqrt(2k+1)` below the diagonal, `-(n+1)` on it and
  0 above; delegates to `ops.hippo.hippo_initialization(N, "legs")`.

  Args:
    N: state dimension, a positive int.

  Returns:
    `A`, float32 of shape `(N, N)`.

  Raises:
    ValueError: `N` is not a positive int.
  """
  a, _ = hippo.hippo_initialization(N, measure="legs")
  return jnp.asarray(a, jnp.float32)


def bilinear_dense(a: jax.Array, b: jax.Array,
                   step: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Bilinear (Tustin) discretisation of a dense continuous system.

  `A_bar = (I - step/2 A)^{-1} (I + step/2 A)`,
  `B_bar = (I - step/2 A)^{-1} step B`, by one LU solve (no inverse). For a
  Hurwitz `A` (spectrum in Re < 0, as HiPPO-LegS) `A_bar` has its spectrum
  inside the unit circle for every `step > 0`, so the recurrence is stable.

  Args:
    a: `(N, N)` continuous transition.
    b: `(N, I)` continuous input matrix.
    step: scalar step size.

  Returns:
    `(a_bar (N, N), b_bar (N, I))` in the dtype of `a`.
  """
  n = a.shape[0]
  eye = jnp.eye(n, dtype=a.dtype)
  half = 0.5 * step
  rhs = jnp.concatenate([eye + half * a, step * b.astype(a.dtype)], axis=1)
  sol = jnp.linalg.solve(eye - half * a, rhs)
  return sol[:, :n], sol[:, n:]


class CapibaraState(NamedTuple):
  """Streaming state of `CapibaraJAXSSM`.

  Attributes:
    ssm: SSM hidden state `h`, shape `(B, state_dim)`, float32.
    conv: last `conv_dim - 1` raw inputs, oldest first, shape
      `(B, conv_dim - 1, input_dim)`.
  """
  ssm: jax.Array
  conv: jax.Array


def _read_config(config) -> dict[str, int]:
  """Reads and validates the four required sizes from `config`."""
  if isinstance(config, (str, bytes, int, float)) or config is None:
    raise TypeError(
        "CapibaraJAXSSM: `config` must be a mapping (or an object with "
        f"attributes) holding {_CONFIG_KEYS}, got {type(config).__name__}.")
  mapping_like = isinstance(config, Mapping) or hasattr(config, "keys")
  values = {}
  for key in _CONFIG_KEYS:
    present = key in config if mapping_like else hasattr(config, key)
    if not present:
      raise ValueError(
          f"CapibaraJAXSSM: `config` is missing key {key!r}; required keys "
          f"are {_CONFIG_KEYS}.")
    value = config[key] if mapping_like else getattr(config, key)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
      raise TypeError(
          f"CapibaraJAXSSM: `config[{key!r}]` must be an int, got "
          f"{type(value).__name__} {value!r}.")
    if value < 1:
      raise ValueError(
          f"CapibaraJAXSSM: `config[{key!r}]` must be >= 1, got {value}.")
    values[key] = int(value)
  return values


def _ssm_update(carry, x_t, A, B, C):
  """`CapibaraJAXSSM.ssm_step`'s update, outside the module.

  The scan and `step` call this rather than the method: Haiku casts a
  method's outputs to a mixed-precision policy's output dtype, which would
  turn the float32 carry into bfloat16 between steps.
  """
  h_prev, _ = carry
  dtype = h_prev.dtype
  h = (jnp.matmul(h_prev, A.T.astype(dtype), precision=_HIGHEST) +
       jnp.matmul(x_t.astype(dtype), B.T.astype(dtype), precision=_HIGHEST))
  y = jnp.matmul(h, C.T.astype(dtype), precision=_HIGHEST)
  return (h, y), y


class CapibaraJAXSSM(base.SequenceLayer):
  r"""Causal conv + HiPPO-LegS dense SSM with dropout and residual (seed 001).

  For an input sequence `x_t` (`input_dim = I`), state size `N`, output size
  `O` and kernel width `K = conv_dim`:

  .. math::
    u_t &= \mathrm{SiLU}\Big(\sum_{k=0}^{K-1} w_k \odot x_{t-k}\Big)
           \qquad (\text{causal depthwise conv, } x_{t<0} = 0)       \\
    \bar A &= (I - \tfrac{\Delta}{2} A)^{-1}(I + \tfrac{\Delta}{2} A),
    \quad \bar B = (I - \tfrac{\Delta}{2} A)^{-1} \Delta B,
    \quad \Delta = e^{\mathrm{log\_dt}}                               \\
    h_t &= \bar A h_{t-1} + \bar B u_t, \qquad h_{-1} = \text{state}  \\
    y_t &= \mathrm{Dropout}(C h_t) + R x_t

  with `R` the identity when `input_dim == output_dim` and otherwise a learned
  projection `w_res (I, O)` (no bias).

  Parameters (float32): `conv_kernel (K, I)` ~ N(0, 1/K); `a (N, N)`
  initialised to HiPPO-LegS (Gu et al., "HiPPO: Recurrent Memory with
  Optimal Polynomial Projections", NeurIPS 2020), whose spectrum lies in the
  open left half-plane, so the bilinear transform, done inside every call
  with the learnable scalar `log_dt` (log-uniform on [1e-3, 1e-1] at init,
  as in S4, Gu et al. ICLR 2022), gives a stable `A_bar` (the parameter `a`
  stays continuous-time); `b (N, I)` ~ N(0, 1/I) and `c (O, N)` ~ N(0, 1/N)
  (normal, as the seed says, with fan-in variance so the SSM branch is O(1)
  next to the residual); `w_res (I, O)` ~ truncated N(0, 1/I) when needed.

  `config` is a mapping (dict, ConfigDict, or an object with attributes)
  with int entries `state_dim`, `input_dim`, `output_dim` and `conv_dim`
  (the conv kernel width K); other entries are ignored.

  Modes: `__call__` runs a whole sequence (dropout on `C h_t` when
  `deterministic=False`, which needs an RNG key); `initial_state` +
  `step` stream one input at a time in inference mode and equal the
  deterministic `__call__` started from the same SSM state.
  """

  dynamics_params = frozenset({"a", "log_dt"})
  input_params = frozenset({"b"})
  output_params = frozenset({"c"})

  def __init__(self, config: Any, dropout_rate: float = 0.1,
               name: str | None = None):
    """Creates the layer.

    Args:
      config: mapping with `state_dim`, `input_dim`, `output_dim`,
        `conv_dim` (ints >= 1).
      dropout_rate: dropout rate on the SSM output, in [0, 1).
      name: module name.

    Raises:
      TypeError: `config` of the wrong type, or a non-int size.
      ValueError: a missing key, a size < 1, or a bad dropout rate.
    """
    super().__init__(name=name)
    sizes = _read_config(config)
    self.state_dim = sizes["state_dim"]
    self.input_dim = sizes["input_dim"]
    self.output_dim = sizes["output_dim"]
    self.conv_dim = sizes["conv_dim"]
    if (isinstance(dropout_rate, bool) or
        not isinstance(dropout_rate, (int, float, np.number))):
      raise TypeError(f"CapibaraJAXSSM: `dropout_rate` must be a number, got "
                      f"{type(dropout_rate).__name__} {dropout_rate!r}.")
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f"CapibaraJAXSSM: `dropout_rate` must be in [0, 1), "
                       f"got {dropout_rate}.")
    self.dropout_rate = float(dropout_rate)

  # -- parameters -------------------------------------------------------------

  def _hippo_init(self, shape, dtype):
    if tuple(shape) != (self.state_dim, self.state_dim):
      raise ValueError(f"HiPPO init asked for shape {shape}, expected "
                       f"{(self.state_dim, self.state_dim)}.")
    return hippo_initialization(self.state_dim).astype(dtype)

  def _params(self):
    n, i, o, k = (self.state_dim, self.input_dim, self.output_dim,
                  self.conv_dim)
    normal = hk.initializers.RandomNormal
    kernel = hk.get_parameter("conv_kernel", (k, i), jnp.float32,
                              init=normal(1.0 / math.sqrt(k)))
    a = hk.get_parameter("a", (n, n), jnp.float32, init=self._hippo_init)
    b = hk.get_parameter("b", (n, i), jnp.float32,
                         init=normal(1.0 / math.sqrt(i)))
    c = hk.get_parameter("c", (o, n), jnp.float32,
                         init=normal(1.0 / math.sqrt(n)))
    log_dt = hk.get_parameter(
        "log_dt", (), jnp.float32,
        init=lambda shape, dtype: discretization.log_step_init(
            hk.next_rng_key(), shape, _DT_MIN, _DT_MAX, dtype))
    w_res = None
    if i != o:
      w_res = hk.get_parameter(
          "w_res", (i, o), jnp.float32,
          init=hk.initializers.TruncatedNormal(1.0 / math.sqrt(i)))
    return kernel, a, b, c, log_dt, w_res

  def _discretize(self, a, b, log_dt):
    """Bilinear `A_bar, B_bar` in the SSM's carry dtype (>= float32)."""
    dtype = jnp.promote_types(a.dtype, jnp.float32)
    a = a.astype(dtype)
    return bilinear_dense(a, b.astype(dtype), jnp.exp(log_dt.astype(dtype)))

  def _residual(self, x, w_res):
    if w_res is None:
      return x
    return jnp.matmul(x, w_res.astype(x.dtype), precision=_HIGHEST)

  # -- seed methods -----------------------------------------------------------

  def causal_conv(self, x: jax.Array, conv_kernel: jax.Array, *,
                  time_major: bool = False) -> jax.Array:
    """Causal depthwise convolution followed by SiLU.

    `y[t] = silu(sum_k conv_kernel[k] * x[t - k])` with zero history;
    delegates to `ops.conv.causal_conv`.

    Args:
      x: input `(B, T, D)` (`(T, B, D)` with `time_major=True`).
      conv_kernel: taps `(K, D)`; `conv_kernel[0]` multiplies the current
        input.
      time_major: layout of `x` and of the result.

    Returns:
      The convolved and activated sequence, same shape as `x`.
    """
    return conv_ops.causal_conv(x, conv_kernel, "silu", time_major=time_major)

  def ssm_step(self, carry: tuple[jax.Array, jax.Array], x_t: jax.Array,
               A: jax.Array, B: jax.Array,
               C: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """One step of the discretised SSM `h_t = A h_{t-1} + B x_t, y_t = C h_t`.

    Args:
      carry: `(h_prev (batch, N), y_prev (batch, O))`. The previous output is
        carried (the seed's contract) but not read by the update.
      x_t: input `(batch, I)` (the conv output).
      A: discrete transition `A_bar`, `(N, N)`.
      B: discrete input matrix `B_bar`, `(N, I)`.
      C: output matrix, `(O, N)`.

    Returns:
      `((h_t, y_t), y_t)` with `h_t (batch, N)` in the carry dtype and
      `y_t (batch, O)`.
    """
    return _ssm_update(carry, x_t, A, B, C)

  # -- state ------------------------------------------------------------------

  def initial_state(self, batch_size: int) -> CapibaraState:
    """Zero SSM state and zero conv history (float32).

    Args:
      batch_size: B.

    Returns:
      `CapibaraState(ssm (B, state_dim), conv (B, conv_dim - 1, input_dim))`.
    """
    if (isinstance(batch_size, bool) or
        not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
      raise ValueError(f"CapibaraJAXSSM: `batch_size` must be an int >= 1, "
                       f"got {batch_size!r}.")
    return CapibaraState(
        ssm=jnp.zeros((batch_size, self.state_dim), jnp.float32),
        conv=conv_ops.conv_buffer_init(batch_size, self.conv_dim,
                                       self.input_dim, jnp.float32))

  def _check_x(self, x, ranks: tuple[int, ...], what: str) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(f"CapibaraJAXSSM: `{what}` must be a floating array, "
                      f"got dtype {x.dtype}.")
    if x.ndim not in ranks or x.shape[-1] != self.input_dim:
      shapes = " or ".join(
          {2: "(B, input_dim)", 3: "(B, T, input_dim)"}[r] for r in ranks)
      raise ValueError(
          f"CapibaraJAXSSM: `{what}` must have shape {shapes} with "
          f"input_dim={self.input_dim}, got {x.shape}.")
    return x

  def _check_ssm_state(self, state, batch: int, what: str) -> jax.Array:
    state = jnp.asarray(state)
    if state.shape != (batch, self.state_dim):
      raise ValueError(
          f"CapibaraJAXSSM: `{what}` must have shape (B, state_dim) = "
          f"{(batch, self.state_dim)}, got {state.shape}.")
    if not jnp.issubdtype(state.dtype, jnp.floating):
      raise TypeError(f"CapibaraJAXSSM: `{what}` must be floating, got dtype "
                      f"{state.dtype}.")
    return state.astype(jnp.promote_types(state.dtype, jnp.float32))

  # -- forward ----------------------------------------------------------------

  def __call__(self,
               x: jax.Array,
               state: jax.Array | None = None,
               deterministic: bool = True,
               *,
               time_major: bool = False) -> jax.Array:
    """Runs the layer over a sequence.

    Args:
      x: input `(B, T, input_dim)` (`(T, B, input_dim)` with
        `time_major=True`), or `(B, input_dim)`, treated as a length-1
        sequence (the seed's example).
      state: initial SSM hidden state `(B, state_dim)`; None means zeros.
        The conv history always starts at zero.
      deterministic: if False, apply dropout (needs an RNG key).
      time_major: layout of a 3-D `x` and of the output.

    Returns:
      `(B, T, output_dim)` (time-major if asked), or `(B, output_dim)` for a
      2-D `x`, in `result_type(x, params)`.

    Raises:
      ValueError: bad `x` rank / feature size or `state` shape.
      TypeError: non-floating inputs.
    """
    x = self._check_x(x, (2, 3), "x")
    single = x.ndim == 2
    if single:
      x, time_major = x[:, None, :], False  # (B, 1, I)
    batch = x.shape[1] if time_major else x.shape[0]
    if state is not None:
      state = self._check_ssm_state(state, batch, "state")
    kernel, a, b, c, log_dt, w_res = self._params()
    cdt = jnp.result_type(x.dtype, kernel.dtype)
    x = x.astype(cdt)
    h0 = (jnp.zeros((batch, self.state_dim), jnp.promote_types(cdt,
                                                                jnp.float32))
          if state is None else state)
    x_tm = x if time_major else jnp.swapaxes(x, 0, 1)  # (T, B, I)
    u = self.causal_conv(x_tm, kernel, time_major=True)  # (T, B, I)
    a_bar, b_bar = self._discretize(a, b, log_dt)
    y0 = jnp.zeros((batch, self.output_dim), h0.dtype)
    _, y = lax.scan(
        lambda carry, u_t: _ssm_update(carry, u_t, a_bar, b_bar, c),
        (h0, y0), u)  # (T, B, O)
    y = y.astype(cdt)
    if not deterministic and self.dropout_rate > 0:
      y = hk.dropout(hk.next_rng_key(), self.dropout_rate, y)
    out = y + self._residual(x_tm, w_res)
    if single:
      return out[0]
    return out if time_major else jnp.swapaxes(out, 0, 1)

  def step(self, x_t: jax.Array,
           state: CapibaraState) -> tuple[jax.Array, CapibaraState]:
    """One streaming (inference, no dropout) step.

    Args:
      x_t: input `(B, input_dim)`.
      state: `CapibaraState` from `initial_state` or a previous step.

    Returns:
      `(y_t (B, output_dim), new_state)`.
    """
    x_t = self._check_x(x_t, (2,), "x_t")
    if not (hasattr(state, "ssm") and hasattr(state, "conv")):
      raise TypeError(f"CapibaraJAXSSM: `state` must be a CapibaraState(ssm, "
                      f"conv), got {type(state).__name__}.")
    batch = x_t.shape[0]
    h_prev = self._check_ssm_state(state.ssm, batch, "state.ssm")
    want = (batch, self.conv_dim - 1, self.input_dim)
    if jnp.shape(state.conv) != want:
      raise ValueError(
          f"CapibaraJAXSSM: `state.conv` must have shape (B, conv_dim - 1, "
          f"input_dim) = {want}, got {jnp.shape(state.conv)}.")
    kernel, a, b, c, log_dt, w_res = self._params()
    cdt = jnp.result_type(x_t.dtype, kernel.dtype)
    x_t = x_t.astype(cdt)
    u_t, buffer = conv_ops.causal_conv_step(x_t, state.conv, kernel, "silu")
    a_bar, b_bar = self._discretize(a, b, log_dt)
    y0 = jnp.zeros((batch, self.output_dim), h_prev.dtype)
    (h, _), y = _ssm_update((h_prev, y0), u_t, a_bar, b_bar, c)
    out = y.astype(cdt) + self._residual(x_t, w_res)
    return out, CapibaraState(ssm=h, conv=buffer)
