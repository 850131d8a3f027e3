r"""The surrogate dynamic network (SDN) of SpikingSSMs (Shen et al., 2025).

"SpikingSSMs: Learning Long Sequences with Sparse and Parallel Spiking State
Space Models", AAAI 2025, arXiv:2408.14909. A spiking soma with a hard reset
makes every membrane depend on the neuron's own spike history, so it cannot
be evaluated in parallel over time. The SDN is a tiny causal CNN, pre-trained
once on random input currents, that predicts the membrane of the iterative
neuron from the whole current sequence in one parallel pass; the task network
then only adds the current and thresholds.

The neuron (paper Eqs. 1, 2, 4 with reset potential 0 and threshold 1)
-----------------------------------------------------------------------

With input current `I_t`, decay `tau` in (0, 1) (the paper's `tau` is the
per-step decay factor, not a time constant; SpikingSSM uses 0.125) and
zero initial state:

.. math::

  m_t  &= \tau u_{t-1}                 \quad (u_0 = 0)  \\
  v_t  &= m_t + I_t                    \quad\text{(membrane before firing)}\\
  s_t  &= H(v_t - 1)                                      \\
  u_t  &= v_t (1 - s_t)                \quad\text{(hard reset to 0)}

equivalently `v_t = tau * v_{t-1} * (1 - s_{t-1}) + I_t`. `m_t` is the
*leaked membrane*: what is left of the history after the previous step's
reset and one step of leak, before the current `I_t` is added. It is what
the SDN regresses, as in the paper's SLTT-like variant ("the SDN may predict
the `tau u_{t-1}` term directly"): the soma then computes
`s_t = spike(m_hat_t + I_t - 1)` and the spike's surrogate gradient reaches
`I_t` through the identity term, while the frozen SDN is a constant of the
backward pass (`stop_gradient`, as the paper runs it in inference mode).

A threshold `v_th != 1` is absorbed by scaling: the spike train of
`(I, v_th)` equals that of `(I / v_th, 1)` (paper, Property 1), so one SDN
trained at threshold 1 serves every learnable threshold.

The network
-----------

Shared by every channel (channels are a batch axis to it), for a current
sequence `x` and `H` hidden channels with `K` causal taps:

.. math::

  a_t &= w_{in} x_t + b_{in}                              \quad (H)  \\
  c_t &= \mathrm{relu}\big(\textstyle\sum_{k<K} w_{conv}[k] \odot a_{t-k}
         + b_{conv} + a_t\big)                            \quad (H)  \\
  e_t &= \mathrm{relu}(c_t W_{mix} + b_{mix})             \quad (H)  \\
  \hat m_t &= e_t \cdot w_{out} + b_{out}

The depthwise causal convolution is `ops.conv.causal_conv`; the pointwise
layers are small matmuls. With the defaults `H = K = 8` this is 169
parameters (the paper: "a few 1-D convolution layers, fewer than 200
parameters"). Receptive field: `K` steps. The neuron's memory of an input
`k` steps back is at most `tau^k` (and a reset erases it altogether), so at
`tau = 0.125` eight taps leave less than `0.125^8 = 6e-8` of the history out.

`experiments/pretrain_sdn.py` trains it; the weights for `tau = 0.125` ship
in `sdn_weights/` and `load_pretrained_sdn` reads them.

The released topology (`topology="released"`)
----------------------------------------------

The network the authors released (shenshuaijie/SDN `model.py:41-80`,
commit 709640e) differs from the description above in three places: its
depthwise convolution is padded by `K` on both sides and truncated to the
first `T` outputs, so the output at `t` sees `a_{t-K} ... a_{t-1}` (not
`a_{t-K+1} ... a_t`); batch norm follows the depthwise convolution (over
all `T + K + 1` outputs, before the truncation) and the 1 x 1 layer; and the
residual goes around the 1 x 1 layer, not around the convolution; the lift
has no bias. With the batch norms folded into the weights (as in the
shipped TorchScript file), in the same weight names (`b_in = 0` there):

.. math::

  a_t &= w_{in} x_t + b_{in}                                       \\
  c_t &= \mathrm{relu}\big(\textstyle\sum_{k<K} w_{conv}[k] \odot
         a_{t-1-k} + b_{conv}\big)                                  \\
  e_t &= \mathrm{relu}(c_t W_{mix} + b_{mix} + c_t), \qquad
  \hat m_t = e_t \cdot w_{out} + b_{out}

(`a_t = 0` for `t < 0`). The prediction at `t` depends on the currents
`x_{t-K} ... x_{t-1}` only. `SDN(topology="released")` is the trainable
form with its batch norms (PyTorch's semantics: momentum 0.1, eps 1e-5,
running variance unbiased); `fold_batch_norm` turns its parameters and
statistics into the weights above. Weights of both topologies ship for
`tau = 0.125` (`load_pretrained_sdn(tau, topology)`); the released ones
were trained in this training form by `experiments/pretrain_sdn.py
--topology=released` and folded.
"""

from collections.abc import Mapping
import functools
import math
import pathlib
from typing import NamedTuple

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from spike_ssm.neurons import base
from spike_ssm.ops import conv
from spike_ssm.ops import surrogate as surrogate_lib

# SpikingSSM's soma decay (the authors' iterative neurons use tau = 0.125).
DEFAULT_TAU = 0.125
# The SDN is trained at threshold 1; other thresholds scale the input.
THRESHOLD = 1.0
WEIGHT_NAMES = ("w_in", "b_in", "w_conv", "b_conv", "w_mix", "b_mix", "w_out",
                "b_out")
WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / "sdn_weights"

Weights = Mapping[str, jax.Array | np.ndarray]
# "paper": the network described above; "released": the authors' released
# network (module docstring). Packaged weights of each topology live in
# `WEIGHTS_DIR / (_FILE_PREFIX[topology] + tau_tag(tau) + ".npz")`.
TOPOLOGIES = ("paper", "released")
_FILE_PREFIX = {"paper": "sdn_tau", "released": "sdn_released_tau"}
# Batch norm of the released training form (PyTorch's BatchNorm1d defaults).
BN_MOMENTUM = 0.1
BN_EPS = 1e-5


def check_topology(topology) -> str:
  """`topology` if it is one of `TOPOLOGIES` (else ValueError naming it)."""
  if not isinstance(topology, str) or topology not in TOPOLOGIES:
    raise ValueError(
        f"topology must be one of {TOPOLOGIES}, got {topology!r}.")
  return topology


# ----------------------------------------------------------------------------
# The iterative neuron (the reference the SDN imitates).
# ----------------------------------------------------------------------------


class LIFTrace(NamedTuple):
  """Outputs of `lif_hard_reset`, every field in the layout of the input.

  Attributes:
    spikes: `s_t`, 0/1.
    leaked: the leaked membrane `m_t = tau * u_{t-1}` (before adding `I_t`).
    final: the post-reset membrane `u_T` after the last step, `(B, C)`.
  """
  spikes: jax.Array
  leaked: jax.Array
  final: jax.Array


def check_tau(tau) -> float:
  """`tau` must be a number in (0, 1); returns it as a float."""
  if (isinstance(tau, bool) or not isinstance(tau, (int, float, np.number))
      or not 0.0 < tau < 1.0):
    raise ValueError(f"tau must be a number in (0, 1), got {tau!r}.")
  return float(tau)


def lif_step(current: jax.Array, u_prev: jax.Array, tau: float, *,
             surrogate="triangular", slope: float | None = None,
             detach_reset: bool = True) -> tuple[jax.Array, jax.Array,
                                                 jax.Array]:
  """One step of the hard-reset LIF at threshold 1.

  Args:
    current: `I_t`, any shape.
    u_prev: post-reset membrane `u_{t-1}`, same shape.
    tau: decay in (0, 1).
    surrogate: surrogate gradient of the spike (`ops.surrogate`).
    slope: the surrogate's width, None for its default.
    detach_reset: stop the gradient through the spike in the reset (the
      authors' BPTT neuron does).

  Returns:
    `(s_t, m_t, u_t)`: spikes, leaked membrane `tau * u_{t-1}` and the
    post-reset membrane, each shaped like `current`.
  """
  leaked = tau * u_prev
  v = base.integrate(u_prev, current, tau)
  s = base.fire(v, THRESHOLD, surrogate, slope)
  u = base.reset(v, s, THRESHOLD, "zero", detach_reset)
  return s, leaked, u


def lif_hard_reset(currents: jax.Array,
                   tau: float = DEFAULT_TAU,
                   *,
                   surrogate="triangular",
                   slope: float | None = None,
                   detach_reset: bool = True,
                   time_major: bool = False) -> LIFTrace:
  """The iterative hard-reset LIF over a whole sequence (`lax.scan`).

  Threshold 1 and zero initial membrane (see the module docstring for the
  equations). Differentiable: the spikes carry the surrogate gradient and
  the membrane carries it back through time (BPTT).

  Args:
    currents: `I`, shape `(B, T, ...)`, or `(T, B, ...)` with
      `time_major=True`; floating.
    tau: decay in (0, 1).
    surrogate: surrogate gradient name or callable.
    slope: surrogate width (None: its default).
    detach_reset: stop the gradient through the spike in the reset.
    time_major: layout of `currents` and of the outputs.

  Returns:
    `LIFTrace(spikes, leaked, final)`; spikes and leaked membrane in the
    layout and dtype of `currents`, `final` shaped `currents.shape` without
    the time axis, in at least float32.

  Raises:
    ValueError: `currents` without batch and time axes, or a bad `tau`.
    TypeError: a non-floating `currents`.
  """
  tau = check_tau(tau)
  currents = jnp.asarray(currents)
  base.check_float_input("lif_hard_reset", currents, "currents")
  if currents.ndim < 2:
    raise ValueError(
        "lif_hard_reset: `currents` must have a batch and a time axis, "
        f"(B, T, ...) or (T, B, ...); got shape {currents.shape}.")
  x = currents if time_major else currents.swapaxes(0, 1)  # [T, B, ...]
  carry_dtype = jnp.promote_types(x.dtype, jnp.float32)

  def body(u, i_t):
    s, m, u = lif_step(i_t.astype(carry_dtype), u, tau, surrogate=surrogate,
                       slope=slope, detach_reset=detach_reset)
    return u, (s.astype(x.dtype), m.astype(x.dtype))

  final, (spikes, leaked) = lax.scan(body, jnp.zeros(x.shape[1:], carry_dtype),
                                     x)
  if not time_major:
    spikes, leaked = spikes.swapaxes(0, 1), leaked.swapaxes(0, 1)
  return LIFTrace(spikes, leaked, final)


# ----------------------------------------------------------------------------
# The SDN forward pass (pure: weights in, leaked membrane out).
# ----------------------------------------------------------------------------


def weight_shapes(hidden: int, kernel_size: int) -> dict[str, tuple[int, ...]]:
  """Shapes of the SDN weights for `hidden` channels and `kernel_size` taps."""
  h, k = hidden, kernel_size
  return {"w_in": (h,), "b_in": (h,), "w_conv": (k, h), "b_conv": (h,),
          "w_mix": (h, h), "b_mix": (h,), "w_out": (h,), "b_out": ()}


def num_weights(hidden: int, kernel_size: int) -> int:
  """Parameter count of an SDN (169 for the default 8 x 8)."""
  return sum(math.prod(s) for s in weight_shapes(hidden, kernel_size).values())


def check_weights(weights: Weights) -> tuple[int, int]:
  """Validates a weight mapping; returns `(hidden, kernel_size)`."""
  if not isinstance(weights, Mapping):
    raise TypeError(f"SDN weights must be a mapping of arrays, got "
                    f"{type(weights).__name__}.")
  missing = [n for n in WEIGHT_NAMES if n not in weights]
  if missing:
    raise ValueError(f"SDN weights are missing {missing}; expected the keys "
                     f"{list(WEIGHT_NAMES)}, got {sorted(weights)}.")
  k, h = np.shape(weights["w_conv"]) if np.ndim(weights["w_conv"]) == 2 else (
      0, 0)
  want = weight_shapes(h, k)
  for n in WEIGHT_NAMES:
    if tuple(np.shape(weights[n])) != want[n] or h < 1 or k < 1:
      raise ValueError(
          f"SDN weight {n!r} has shape {tuple(np.shape(weights[n]))}; for "
          f"w_conv of shape (K, H) = {np.shape(weights['w_conv'])} the shapes "
          f"must be {want}.")
  return h, k


def _shift(a: jax.Array) -> jax.Array:
  """`a_{t-1}` along time axis 0 (zero at t = 0)."""
  return jnp.concatenate([jnp.zeros_like(a[:1]), a[:-1]], axis=0)


def sdn_leaked_membrane(weights: Weights, currents: jax.Array, *,
                        time_major: bool = False,
                        topology: str = "paper") -> jax.Array:
  """The SDN's prediction of the leaked membrane `m_t`, all steps at once.

  Args:
    weights: the SDN weights (`WEIGHT_NAMES`, e.g. `load_pretrained_sdn()`).
    currents: `I`, shape `(B, T, C)` (any trailing channel shape), or
      `(T, B, C)` with `time_major=True`; floating. Every channel goes
      through the same network.
    time_major: layout of `currents` and of the result.
    topology: "paper" or "released" (module docstring); the weights must
      be of that topology.

  Returns:
    `m_hat`, same shape and dtype as `currents` (computed in >= float32).

  Raises:
    ValueError: malformed weights, an unknown topology, or `currents`
      without batch/time axes.
    TypeError: non-floating `currents` or non-mapping weights.
  """
  check_topology(topology)
  check_weights(weights)
  currents = jnp.asarray(currents)
  base.check_float_input("sdn_leaked_membrane", currents, "currents")
  if currents.ndim < 2:
    raise ValueError(
        "sdn_leaked_membrane: `currents` must have a batch and a time axis, "
        f"(B, T, C) or (T, B, C); got shape {currents.shape}.")
  acc = jnp.promote_types(currents.dtype, jnp.float32)
  w = {n: jnp.asarray(weights[n], acc) for n in WEIGHT_NAMES}
  x = currents if time_major else currents.swapaxes(0, 1)  # [T, B, C]
  a = x.astype(acc)[..., None] * w["w_in"] + w["b_in"]  # [T, B, C, H]
  # The hidden channel is the conv's depthwise channel; (B, C) are batch axes.
  if topology == "paper":
    c = jax.nn.relu(
        conv.causal_conv(a, w["w_conv"], time_major=True) + w["b_conv"] + a)
    e = jax.nn.relu(c @ w["w_mix"] + w["b_mix"])  # [T, B, C, H]
  else:
    c = jax.nn.relu(
        conv.causal_conv(_shift(a), w["w_conv"], time_major=True) +
        w["b_conv"])
    e = jax.nn.relu(c @ w["w_mix"] + w["b_mix"] + c)
  m = e @ w["w_out"] + w["b_out"]  # [T, B, C]
  if not time_major:
    m = m.swapaxes(0, 1)  # [B, T, C]
  return m.astype(currents.dtype)


def sdn_spikes(weights: Weights, currents: jax.Array, *,
               surrogate="triangular", slope: float | None = None,
               time_major: bool = False, topology: str = "paper"
               ) -> jax.Array:
  """Spikes of the SDN soma: `spike(sg(m_hat(I)) + I - 1)`.

  The SDN is frozen: its prediction is a constant of the backward pass
  (`stop_gradient`), so the surrogate gradient reaches the currents through
  the `+ I` term only, as in the paper.

  Args:
    weights: SDN weights.
    currents: `I`, `(B, T, C)` or `(T, B, C)` with `time_major=True`.
    surrogate: surrogate gradient of the spike.
    slope: its width (None: default).
    time_major: layout of `currents` and of the result.
    topology: of the weights, "paper" or "released" (module docstring).

  Returns:
    Spikes (exactly 0/1), same shape and dtype as `currents`.
  """
  m = lax.stop_gradient(
      sdn_leaked_membrane(weights, lax.stop_gradient(currents),
                          time_major=time_major, topology=topology))
  return surrogate_lib.spike(m + currents - THRESHOLD, surrogate, slope)


# ----------------------------------------------------------------------------
# The Haiku module (for pre-training and for use as a learnable block).
# ----------------------------------------------------------------------------


def _init_for(name: str, hidden: int, kernel_size: int):
  """Initialisers: He-style weights, small biases (training starts at 0)."""
  if name == "w_in":
    return hk.initializers.RandomNormal(1.0)
  if name == "w_conv":
    return hk.initializers.RandomNormal(1.0 / math.sqrt(kernel_size))
  if name in ("w_mix", "w_out"):
    return hk.initializers.RandomNormal(math.sqrt(2.0 / hidden))
  return jnp.zeros


class SDN(hk.Module):
  r"""Surrogate dynamic network: a causal CNN predicting the LIF membrane.

  Maps an input-current sequence `(B, T, C)` channel by channel (the same
  network for every channel) to the predicted leaked membrane `m_hat`
  `(B, T, C)` of the hard-reset LIF with decay `tau` and threshold 1, in
  one parallel pass:

  .. math::

    a_t &= w_{in} x_t + b_{in}, \qquad
    c_t = \mathrm{relu}(w_{conv} *_{causal} a + b_{conv} + a)_t \\
    \hat m_t &= \mathrm{relu}(c_t W_{mix} + b_{mix}) \cdot w_{out} + b_{out}

  Spikes are `H(m_hat_t + x_t - 1)`. Parameters: `w_in` `(H,)`, `b_in`
  `(H,)`, `w_conv` `(K, H)`, `b_conv` `(H,)`, `w_mix` `(H, H)`, `b_mix`
  `(H,)`, `w_out` `(H,)`, `b_out` `()` (169 for H = K = 8). Architecture
  after Shen et al. (2025, arXiv:2408.14909): a pointwise lift, a
  depthwise causal convolution with a residual, pointwise layers and ReLUs,
  under 200 parameters. Use `load_pretrained_sdn` for trained weights; a
  SpikingSSM uses them as constants, not through this module.

  `topology="released"` builds the authors' released network in its
  training form (module docstring): parameters `w_in`, `w_conv`, `b_conv`,
  `w_mix`, `b_mix`, `w_out`, `b_out` (no `b_in`) and the batch norms'
  `bn_conv_scale`, `bn_conv_offset`, `bn_mix_scale`, `bn_mix_offset` `(H,)`,
  with running statistics `bn_conv_mean`, `bn_conv_var`, `bn_mix_mean`,
  `bn_mix_var` as Haiku state (use `hk.transform_with_state`).
  `fold_batch_norm` gives the equivalent `WEIGHT_NAMES` weights.
  """

  def __init__(self, hidden: int = 8, kernel_size: int = 8,
               topology: str = "paper", name: str | None = None):
    """Constructs an SDN.

    Args:
      hidden: hidden channels H >= 1.
      kernel_size: causal taps K >= 1 (the receptive field).
      topology: "paper" or "released" (module docstring).
      name: module name.

    Raises:
      ValueError: a non-positive `hidden` or `kernel_size`, an unknown
        topology.
    """
    for arg, value in (("hidden", hidden), ("kernel_size", kernel_size)):
      if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
          or value < 1):
        raise ValueError(f"SDN: `{arg}` must be an int >= 1, got {value!r}.")
    check_topology(topology)
    super().__init__(name=name)
    self.hidden = int(hidden)
    self.kernel_size = int(kernel_size)
    self.topology = topology

  def __call__(self, currents: jax.Array, *, time_major: bool = False,
               is_training: bool = False) -> jax.Array:
    """Predicted leaked membrane `m_hat`, same shape and dtype as `currents`.

    Args:
      currents: `(B, T, C)`, or `(T, B, C)` with `time_major=True`.
      time_major: layout of `currents` and of the result.
      is_training: "released" only: normalise with the batch's statistics
        and update the running ones (else use the running ones).
    """
    shapes = weight_shapes(self.hidden, self.kernel_size)
    names = WEIGHT_NAMES if self.topology == "paper" else tuple(
        n for n in WEIGHT_NAMES if n != "b_in")
    weights = {
        n: hk.get_parameter(n, shapes[n], jnp.float32,
                            _init_for(n, self.hidden, self.kernel_size))
        for n in names}
    if self.topology == "paper":
      return sdn_leaked_membrane(weights, currents, time_major=time_major)
    return self._released(weights, currents, time_major, is_training)

  def _batch_norm(self, name: str, x: jax.Array,
                  is_training: bool) -> jax.Array:
    """PyTorch `BatchNorm1d` over every axis but the last (H)."""
    h = self.hidden
    scale = hk.get_parameter(f"{name}_scale", (h,), jnp.float32, jnp.ones)
    offset = hk.get_parameter(f"{name}_offset", (h,), jnp.float32, jnp.zeros)
    mean_ema = hk.get_state(f"{name}_mean", (h,), jnp.float32, jnp.zeros)
    var_ema = hk.get_state(f"{name}_var", (h,), jnp.float32, jnp.ones)
    if is_training:
      axes = tuple(range(x.ndim - 1))
      mean = x.mean(axes)
      var = jnp.square(x - mean).mean(axes)
      n = x.size // h
      if not hk.running_init():
        m = BN_MOMENTUM
        hk.set_state(f"{name}_mean", (1 - m) * mean_ema + m * mean)
        hk.set_state(f"{name}_var",
                     (1 - m) * var_ema + m * var * n / max(n - 1, 1))
    else:
      mean, var = mean_ema, var_ema
    return (x - mean) * (scale * lax.rsqrt(var + BN_EPS)) + offset

  def _released(self, w, currents, time_major, is_training):
    currents = jnp.asarray(currents)
    base.check_float_input("SDN", currents, "currents")
    if currents.ndim < 2:
      raise ValueError("SDN: `currents` must have a batch and a time axis; "
                       f"got shape {currents.shape}.")
    acc = jnp.promote_types(currents.dtype, jnp.float32)
    w = {n: v.astype(acc) for n, v in w.items()}
    x = currents if time_major else currents.swapaxes(0, 1)  # [T, B, C]
    t, k = x.shape[0], self.kernel_size
    a = x.astype(acc)[..., None] * w["w_in"]  # [T, B, C, H], no bias.
    # The conv's T + K + 1 outputs (padding K on both sides): batch norm
    # sees them all, then the first T are kept.
    a = jnp.concatenate([a, jnp.zeros((k + 1,) + a.shape[1:], acc)], axis=0)
    c = conv.causal_conv(_shift(a), w["w_conv"], time_major=True) + w[
        "b_conv"]
    c = jax.nn.relu(self._batch_norm("bn_conv", c, is_training)[:t])
    mix = self._batch_norm("bn_mix", c @ w["w_mix"] + w["b_mix"],
                           is_training)
    e = jax.nn.relu(mix + c)
    m = e @ w["w_out"] + w["b_out"]
    if not time_major:
      m = m.swapaxes(0, 1)
    return m.astype(currents.dtype)


def fold_batch_norm(params: Mapping[str, jax.Array],
                    state: Mapping[str, jax.Array]) -> dict[str, np.ndarray]:
  """The inference weights of a released-topology `SDN`, batch norms folded.

  Args:
    params: the module's parameters (`params["sdn"]` of a transform).
    state: its running statistics (`state["sdn"]`).

  Returns:
    float32 weights under `WEIGHT_NAMES` (`b_in = 0`) such that
    `sdn_leaked_membrane(w, x, topology="released")` equals the module in
    evaluation mode.

  Raises:
    ValueError: a missing parameter or statistic.
  """
  need_p = ("w_in", "w_conv", "b_conv", "w_mix", "b_mix", "w_out", "b_out",
            "bn_conv_scale", "bn_conv_offset", "bn_mix_scale", "bn_mix_offset")
  need_s = ("bn_conv_mean", "bn_conv_var", "bn_mix_mean", "bn_mix_var")
  for what, tree, need in (("params", params, need_p),
                           ("state", state, need_s)):
    missing = [n for n in need if n not in tree]
    if missing:
      raise ValueError(f"fold_batch_norm: `{what}` lacks {missing}; pass "
                       "a released-topology SDN's params and state.")
  p = {n: np.asarray(params[n], np.float64) for n in need_p}
  st = {n: np.asarray(state[n], np.float64) for n in need_s}
  s1 = p["bn_conv_scale"] / np.sqrt(st["bn_conv_var"] + BN_EPS)
  s2 = p["bn_mix_scale"] / np.sqrt(st["bn_mix_var"] + BN_EPS)
  out = {
      "w_in": p["w_in"],
      "b_in": np.zeros_like(p["w_in"]),
      "w_conv": p["w_conv"] * s1,
      "b_conv": (p["b_conv"] - st["bn_conv_mean"]) * s1 + p["bn_conv_offset"],
      "w_mix": p["w_mix"] * s2,
      "b_mix": (p["b_mix"] - st["bn_mix_mean"]) * s2 + p["bn_mix_offset"],
      "w_out": p["w_out"],
      "b_out": p["b_out"],
  }
  return {n: np.asarray(v, np.float32) for n, v in out.items()}


# ----------------------------------------------------------------------------
# Pre-trained weights.
# ----------------------------------------------------------------------------


def tau_tag(tau: float) -> str:
  """The file tag of `tau`: `sdn_tau<tag>.npz` (0.125 -> "0.125")."""
  return f"{check_tau(tau):g}"


def weights_path(tau: float = DEFAULT_TAU,
                 topology: str = "paper") -> pathlib.Path:
  """Where the packaged weights for `tau` and `topology` live (may not exist).

  `sdn_tau<tag>.npz` for the "paper" topology, `sdn_released_tau<tag>.npz`
  for the "released" one.
  """
  prefix = _FILE_PREFIX[check_topology(topology)]
  return WEIGHTS_DIR / f"{prefix}{tau_tag(tau)}.npz"


def available_taus(topology: str = "paper") -> tuple[float, ...]:
  """The decays for which pre-trained weights of `topology` ship."""
  prefix = _FILE_PREFIX[check_topology(topology)]
  taus = []
  for p in sorted(WEIGHTS_DIR.glob(f"{prefix}*.npz")):
    try:
      taus.append(float(p.stem[len(prefix):]))
    except ValueError:
      continue
  return tuple(sorted(taus))


def save_sdn_weights(path, weights: Weights, tau: float, *,
                     topology: str = "paper", **metadata: float
                     ) -> pathlib.Path:
  """Writes SDN weights (float32) with `tau` and scalar metadata to `.npz`.

  Args:
    path: destination file (`.npz` is appended if missing).
    weights: the SDN weights.
    tau: the decay they were trained for.
    topology: the weights' topology (`TOPOLOGIES`); stored unless "paper"
      (a file without it is of the "paper" topology).
    **metadata: extra float scalars stored alongside (e.g. the held-out
      spike agreement).

  Returns:
    The path written.
  """
  check_weights(weights)
  arrays = {n: np.asarray(weights[n], np.float32) for n in WEIGHT_NAMES}
  arrays["tau"] = np.float32(check_tau(tau))
  if check_topology(topology) != "paper":
    arrays["topology"] = np.asarray(topology)
  for key, value in metadata.items():
    arrays[f"meta_{key}"] = np.float32(value)
  path = pathlib.Path(path)
  if path.suffix != ".npz":
    path = path.with_name(path.name + ".npz")
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez(path, **arrays)
  return path


def load_sdn_weights(path) -> tuple[dict[str, np.ndarray], float]:
  """Reads `(weights, tau)` from an `.npz` written by `save_sdn_weights`.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file lacks a weight or `tau`, or shapes are inconsistent.
  """
  with np.load(pathlib.Path(path)) as data:
    if "tau" not in data:
      raise ValueError(f"SDN weight file {path} has no `tau` entry.")
    weights = {n: np.array(data[n], np.float32) for n in WEIGHT_NAMES
               if n in data}
    tau = float(data["tau"])
  check_weights(weights)
  for w in weights.values():
    w.setflags(write=False)
  return weights, tau


def sdn_file_topology(path) -> str:
  """The topology of the weights in an `.npz` of `save_sdn_weights`."""
  with np.load(pathlib.Path(path)) as data:
    if "topology" not in data:
      return "paper"
    return check_topology(str(data["topology"]))


@functools.lru_cache(maxsize=8)
def _load_packaged(path: pathlib.Path,
                   topology: str) -> tuple[tuple[str, np.ndarray], ...]:
  file_topology = sdn_file_topology(path)
  if file_topology != topology:
    raise ValueError(
        f"The packaged SDN file {path.name} records topology "
        f"{file_topology!r}, but topology={topology!r} was asked for.")
  weights, _ = load_sdn_weights(path)
  return tuple(weights.items())


def load_pretrained_sdn(tau: float = DEFAULT_TAU,
                        topology: str = "paper") -> dict[str, np.ndarray]:
  """The packaged pre-trained SDN weights (read-only, cached).

  Args:
    tau: the soma decay; weights ship for `available_taus(topology)`
      (0.125 for both topologies). Others: run `python -m
      experiments.pretrain_sdn --tau=...` and load the file with
      `load_sdn_weights`.
    topology: "paper" or "released" (module docstring); the weights are
      for `sdn_leaked_membrane(..., topology=topology)`.

  Returns:
    `{name: float32 array}` for every name in `WEIGHT_NAMES`.

  Raises:
    ValueError: a bad `tau` or topology, none shipped for them, or a
      packaged file whose recorded topology is another.
  """
  path = weights_path(tau, topology)
  if not path.exists():
    tag = tau_tag(tau)
    flag = "" if topology == "paper" else f" --topology={topology}"
    raise ValueError(
        f"No pre-trained SDN ships for tau={tau!r} and topology "
        f"{topology!r} (available: {list(available_taus(topology))}). Train "
        f"one with `python -m experiments.pretrain_sdn --tau={tag}{flag} "
        "--out=PATH` and pass the weights from `load_sdn_weights(PATH)`.")
  return dict(_load_packaged(path, topology))
