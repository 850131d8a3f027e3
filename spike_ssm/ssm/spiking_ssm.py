r"""SpikingSSM and LoongSpike: S4D cores driving a hard-reset LIF soma.

SpikingSSM (Shen et al., "SpikingSSMs: Learning Long Sequences with Sparse
and Parallel Spiking State Space Models", AAAI 2025, arXiv:2408.14909)
treats the output of an S4D layer as the input current of a leaky
integrate-and-fire soma with a hard reset, so a layer emits binary spikes;
a position-wise GLU mixes them. Per feature `d` of an input `x` `(B, T, D)`:

.. math::

  y &= K * x + d \odot x                 \qquad\text{(S4D, `ssm.S4D`)} \\
  I_t &= y_t / \exp(\mathrm{ln\_vth})     \qquad\text{(threshold)}    \\
  v_t &= \tau\, u_{t-1} + I_t, \quad s_t = H(v_t - 1),
      \quad u_t = v_t (1 - s_t)          \qquad\text{(LIF soma)}      \\
  z_t &= \mathrm{dropout}(s_t), \quad
  \mathrm{out}_t = (W_1 z_t + b_1) \odot \sigma(W_2 z_t + b_2)
                                         \qquad\text{(mixer, glu=True)}

The per-channel threshold `exp(ln_vth)` scales the current (the spike
train of `(I, v_th)` is that of `(I / v_th, 1)`), so one SDN trained at
threshold 1 serves every threshold. Spikes use the triangular surrogate by
default (the authors' "piecewise quadratic" `max(0, 1 - |v|)`); the reset is
detached from the gradient. Initialisation: S4D-Lin by default,
`ln_vth = log(vth_init)` (threshold 1: the authors' init), `tau = 0.125`
(the authors' neurons); dropout is tied across time (one mask per sequence
and channel, the authors' `DropoutNd`). Parameters: those of `S4D`,
`ln_vth` `(D,)`, and with `glu=True` `mixer_w` `(D, 2D)`, `mixer_b` `(2D,)`.

LoongSpike (the seed codebase's fractional-order SpikingSSM) replaces each
S4D mode `(Lambda_n, B_n, C_n)` of every feature by `M` modes

.. math::

  \Lambda_{m,n} = -\omega_m + \eta_m \Lambda_n, \qquad
  B_{m,n} = B_n, \qquad C_{m,n} = \eta_m C_n, \qquad m = 1..M,

so a mode's impulse response is a weighted sum of `M` exponentials, a
sum-of-exponentials approximation of a fractional-order (power-law) memory
kernel. `omega`, `eta` `(M,)` are shared by all features and modes and
learnable; the forward pass uses `max(omega, 0)` and `clip(eta, ETA_MIN,
1)`, so every augmented mode keeps a strictly negative real part whatever
the optimiser does. With `M = 1`, `omega = 0`, `eta = 1` the layer is
exactly `SpikingSSM`. Defaults follow the seed (`omega = (0, 0.1)`,
`eta = (1, 0.1)`: one term at the original rates plus a weak, slower copy).

In a backbone. `SequenceBackbone` wraps a layer as `x + GLU(layer(norm(x)))`;
these layers are the authors' SS4D block without its norm and residual:
`S4D -> threshold scaling -> soma -> dropout -> mixer`. With `glu=True` (the
paper's block) the backbone should use `glu="none"` (as `configs/spiking_*`
do); with `glu=False` the layer returns the spikes and the backbone's GLU
mixes them.

Training and evaluation. `mode` chooses the training soma: "sdn" (the
frozen pre-trained surrogate dynamic network, `neurons.sdn`, predicts the
leaked membrane for all steps at once; spikes are `spike(m_hat + I - 1)`)
or "iterative" (the exact hard-reset LIF as a `lax.scan`, trained with
BPTT). `eval_mode` (default: the exact "iterative" soma) chooses it when not
training; dropout is active only in training. `is_training=None` (what the
backbone passes) means "training iff the transform was applied with an RNG",
which is how `experiments.train` runs its train step and its evaluation.
Streaming (`initial_state`, `step`) runs the S4D recurrence and the exact
LIF, and equals `__call__` in "iterative" mode.
"""

from collections.abc import Callable, Mapping, Sequence
import math
import os
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.neurons import base as neuron_base
from spike_ssm.neurons import sdn as sdn_lib
from spike_ssm.ops import checks
from spike_ssm.ops import surrogate as surrogate_lib
from spike_ssm.ssm import s4

MODES = ("sdn", "iterative")

# Smallest effective LoongSpike weight eta: keeps every augmented mode's
# real part strictly negative (Re = -omega + eta Re(Lambda) < 0).
ETA_MIN = 1e-3


class SpikingSSMState(NamedTuple):
  """Streaming state of a `SpikingSSM` / `LoongSpike`.

  Attributes:
    ssm: the S4D state, `h` of shape `(B, D, modes)`, complex64 (`modes` =
      N/2 for SpikingSSM, M N/2 for LoongSpike).
    v: the soma's post-reset membrane `u_t`, `(B, D)`, float32.
  """
  ssm: s4.S4DState
  v: jax.Array


def _check_rate(owner: str, dropout) -> float:
  if (isinstance(dropout, bool) or not isinstance(dropout, (int, float))
      or not 0.0 <= dropout < 1.0):
    raise ValueError(
        f"{owner}: `dropout` must be a number in [0, 1), got {dropout!r}.")
  return float(dropout)


def _resolve_sdn_weights(owner: str, sdn_weights, tau: float,
                         topology: str = "paper"):
  """The SDN weights as read-only float32 NumPy arrays."""
  if sdn_weights is None:
    try:
      return sdn_lib.load_pretrained_sdn(tau, topology)
    except ValueError as e:
      raise ValueError(f"{owner}: sdn_topology={topology!r}: {e}") from None
  if isinstance(sdn_weights, str) or hasattr(sdn_weights, "__fspath__"):
    weights, file_tau = sdn_lib.load_sdn_weights(sdn_weights)
    if not math.isclose(file_tau, tau, rel_tol=1e-6):
      raise ValueError(
          f"{owner}: the SDN in {sdn_weights} was trained for tau="
          f"{file_tau:g}, but the soma has tau={tau:g}.")
    file_topology = sdn_lib.sdn_file_topology(sdn_weights)
    if file_topology != topology:
      raise ValueError(
          f"{owner}: the SDN in {sdn_weights} has topology "
          f"{file_topology!r}, but sdn_topology={topology!r}.")
    return weights
  if isinstance(sdn_weights, Mapping):
    return {n: np.asarray(sdn_weights[n], np.float32) for n in sdn_weights}
  raise TypeError(
      f"{owner}: `sdn_weights` must be None, a path to an .npz or a mapping "
      f"of arrays, got {type(sdn_weights).__name__}.")


class SpikingSSM(s4.S4D):
  """SpikingSSM layer (module docstring), `(B, T, D) -> (B, T, D)`."""

  neuron_params = frozenset({"ln_vth"})

  def __init__(self,
               state_size: int = 64,
               *,
               init: str = "lin",
               discretization: str = "zoh",
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               bidirectional: bool = False,
               dropout: float = 0.0,
               mode: str = "sdn",
               eval_mode: str = "iterative",
               tau: float = sdn_lib.DEFAULT_TAU,
               vth_init: float = 1.0,
               sdn_weights: str | os.PathLike | Mapping[str, Any] | None = None,
               surrogate: str | Callable[[jax.Array], jax.Array] = (
                   "triangular"),
               slope: float | None = None,
               glu: bool = True,
               record_rate: bool = False,
               b_clip: float | None = 2.0,
               trainable_b: bool = True,
               dropout_twice: bool = False,
               sdn_topology: str = "paper",
               name: str | None = None):
    """Constructs the layer.

    Args:
      state_size: real state size N of each feature's S4D (even).
      init: S4D diagonal init ("lin", "legs", "inv", "real").
      discretization: "zoh" or "bilinear".
      dt_min: smallest initial step, > 0.
      dt_max: largest initial step, >= dt_min.
      bidirectional: add the S4D's anti-causal readout (no streaming).
      dropout: tied dropout rate on the spikes, in [0, 1).
      mode: training soma, "sdn" or "iterative".
      eval_mode: soma when not training, "iterative" (exact) or "sdn".
      tau: soma decay factor in (0, 1).
      vth_init: initial threshold `exp(ln_vth)` of every channel, > 0 (1:
        the authors' init; larger values start the layer sparser).
      sdn_weights: None (the packaged SDN for `tau` and `sdn_topology`), a
        path to an `.npz` from `experiments.pretrain_sdn`, or a weight
        mapping. Only read when a mode is "sdn".
      surrogate: spike surrogate gradient (`ops.surrogate` name or
        callable).
      slope: surrogate width (None: its default, 1 for "triangular").
      glu: end in the position-wise `Linear(D -> 2D) + GLU` mixer.
      record_rate: store the mean spike rate as Haiku state `spike_rate`
        (needs `hk.transform_with_state`; `spike_ssm.zoo` turns it on inside
        the backbone).
      b_clip: S4D's clip of Im(B) at init (`ssm.S4D`; no effect on the
        default "lin" init, whose B is 1).
      trainable_b: B is a parameter (the released `trainable_B: true`);
        False: the constant B of the init (B = 1 for "lin": the released
        `trainable_B: false`, `S4DKernel`).
      dropout_twice: apply the tied dropout a second time, with its own
        mask, to the layer's output (the released `ss4d.py:148,207`
        applies it after the soma and on the block's output); the paper's
        default applies it once, on the spikes.
      sdn_topology: the SDN's topology, "paper" or "released" (the
        authors' released network, `neurons.sdn`); weights of both ship
        for tau = 0.125, and `sdn_weights` must be of this topology.
      name: module name.

    Raises:
      ValueError: a bad S4D argument, mode, tau, dropout, slope or
        sdn_topology, or no SDN for `tau` (and the topology) when one is
        needed.
      TypeError: non-bool flags or bad `sdn_weights`.
    """
    super().__init__(state_size, init=init, discretization=discretization,
                     dt_min=dt_min, dt_max=dt_max,
                     bidirectional=bidirectional, b_clip=b_clip,
                     trainable_b=trainable_b, name=name)
    owner = type(self).__name__
    self.mode = checks.check_choice(owner, "mode", mode, MODES)
    self.eval_mode = checks.check_choice(owner, "eval_mode", eval_mode, MODES)
    self.dropout = _check_rate(owner, dropout)
    self.tau = sdn_lib.check_tau(tau)
    self.vth_init = checks.check_float(owner, "vth_init", vth_init,
                                       above=0.0)
    if not callable(surrogate):
      surrogate_lib.default_slope(surrogate)  # Unknown names raise here.
    if slope is not None and (
        isinstance(slope, bool) or not isinstance(slope, (int, float))
        or not slope > 0):
      raise ValueError(f"{owner}: slope must be > 0 (a number), got "
                       f"{slope!r}.")
    self.surrogate, self.slope = surrogate, slope
    self.glu = checks.check_bool(owner, "glu", glu)
    self.record_rate = checks.check_bool(owner, "record_rate", record_rate)
    self.dropout_twice = checks.check_bool(owner, "dropout_twice",
                                           dropout_twice)
    self.sdn_topology = checks.check_choice(owner, "sdn_topology",
                                            sdn_topology, sdn_lib.TOPOLOGIES)
    self.sdn_weights = None
    if "sdn" in (self.mode, self.eval_mode):
      self.sdn_weights = _resolve_sdn_weights(owner, sdn_weights, self.tau,
                                              self.sdn_topology)
      sdn_lib.check_weights(self.sdn_weights)

  # --------------------------------------------------------------------------
  # Soma and mixer.
  # --------------------------------------------------------------------------

  def _threshold(self, features: int) -> jax.Array:
    return hk.get_parameter(
        "ln_vth", (features,), jnp.float32,
        hk.initializers.Constant(math.log(self.vth_init)))

  def _mix(self, z: jax.Array, features: int) -> jax.Array:
    """The position-wise `Linear(D -> 2D) + GLU` (hk.Linear's init)."""
    if not self.glu:
      return z
    w = hk.get_parameter(
        "mixer_w", (features, 2 * features), jnp.float32,
        hk.initializers.TruncatedNormal(1.0 / math.sqrt(features)))
    b = hk.get_parameter("mixer_b", (2 * features,), jnp.float32, jnp.zeros)
    h = z @ w.astype(z.dtype) + b.astype(z.dtype)
    return h[..., :features] * jax.nn.sigmoid(h[..., features:])

  def __call__(self, x: jax.Array, *, is_training: bool | None = None,
               time_major: bool = False) -> jax.Array:
    """Runs the layer over a whole sequence.

    Args:
      x: `(B, T, D)`, or `(T, B, D)` with `time_major=True`; floating.
      is_training: True: training soma (`mode`) and dropout; False:
        `eval_mode`, no dropout; None: training iff the transform was
        applied with an RNG (see the module docstring).
      time_major: the layout of `x` and of the output.

    Returns:
      The mixer's output with `glu=True`, else the spikes; the shape and
      dtype of `x`.

    Raises:
      ValueError: `x` not rank 3, or a width other than the parameters'.
      TypeError: `x` not a floating array.
    """
    key = None
    if is_training is None:
      # The first key of the sequence, as `hk.next_rng_key()` would give it.
      key = hk.maybe_next_rng_key()
      is_training = key is not None
    return self._whole_sequence(x, time_major, is_training=is_training,
                                key=key)

  def _sequence(self, u: jax.Array, *, is_training: bool,
                key: jax.Array | None) -> jax.Array:
    features = u.shape[-1]
    y = super()._sequence(u)  # The S4D convolution, [B, T, D].
    current = y / jnp.exp(self._threshold(features))
    mode = self.mode if is_training else self.eval_mode
    if mode == "sdn":
      spikes = sdn_lib.sdn_spikes(self.sdn_weights, current,
                                  surrogate=self.surrogate, slope=self.slope,
                                  topology=self.sdn_topology)
    else:
      spikes = sdn_lib.lif_hard_reset(
          current, self.tau, surrogate=self.surrogate,
          slope=self.slope).spikes
    if self.record_rate:
      # The layer never sees the padding mask: the rate counts every step.
      neuron_base.record_spike_rate(spikes, jnp.ones(spikes.shape[:2]))
    if not (is_training and self.dropout > 0.0):
      return self._mix(spikes, features)
    # Tied over time: one keep/drop per sequence and channel.
    key = hk.next_rng_key() if key is None else key
    if self.dropout_twice:
      key, key_out = jax.random.split(key)
    spikes = self._tied_dropout(key, spikes)
    out = self._mix(spikes, features)
    if self.dropout_twice:
      out = self._tied_dropout(key_out, out)
    return out

  def _tied_dropout(self, key: jax.Array, x: jax.Array) -> jax.Array:
    keep = jax.random.bernoulli(key, 1.0 - self.dropout,
                                (x.shape[0], 1, x.shape[2]))
    return x * keep / (1.0 - self.dropout)

  # --------------------------------------------------------------------------
  # Streaming: the S4D recurrence, the exact LIF soma, the mixer.
  # --------------------------------------------------------------------------

  def _step(self, u: jax.Array, state: SpikingSSMState):
    features = u.shape[-1]
    y, h = self._recur(u, state.ssm.h)
    current = y / jnp.exp(self._threshold(features))
    s, _, v = sdn_lib.lif_step(current, state.v, self.tau,
                               surrogate=self.surrogate, slope=self.slope)
    return self._mix(s, features), SpikingSSMState(ssm=s4.S4DState(h=h), v=v)

  def _zero_state(self, batch_size: int, width: int) -> SpikingSSMState:
    return SpikingSSMState(
        ssm=super()._zero_state(batch_size, width),
        v=jnp.zeros((batch_size, width), jnp.float32))


def _as_terms(owner: str, name: str, values, num_terms: int,
              low: float, high: float, low_open: bool) -> np.ndarray:
  try:
    arr = np.asarray(values, np.float64).reshape(-1)
  except (TypeError, ValueError):
    raise ValueError(f"{owner}: `{name}` must be a sequence of numbers, got "
                     f"{values!r}.") from None
  if arr.shape != (num_terms,):
    raise ValueError(
        f"{owner}: `{name}` must have num_terms={num_terms} values, got "
        f"{arr.shape[0]} ({values!r}).")
  ok = (arr > low) if low_open else (arr >= low)
  if not np.all(ok & (arr <= high) & np.isfinite(arr)):
    interval = f"{'(' if low_open else '['}{low}, {high}]"
    raise ValueError(
        f"{owner}: `{name}` values must lie in {interval}, got {values!r}.")
  return arr.astype(np.float32)


class LoongSpike(SpikingSSM):
  """LoongSpike, the fractional-order SpikingSSM (module docstring).

  Extra parameters: `omega`, `eta` `(M,)`; the streaming state holds
  `M N/2` modes per feature.
  """

  dynamics_params = SpikingSSM.dynamics_params | {"omega", "eta"}

  def __init__(self,
               state_size: int = 64,
               *,
               num_terms: int = 2,
               omega_init: Sequence[float] = (0.0, 0.1),
               eta_init: Sequence[float] = (1.0, 0.1),
               **kwargs):
    """Constructs the layer.

    Args:
      state_size: real state size N of each feature's S4D (even).
      num_terms: M >= 1, exponentials per mode.
      omega_init: M initial shifts, each >= 0.
      eta_init: M initial weights, each in (0, 1].
      **kwargs: `SpikingSSM` arguments (`init`, `mode`, `tau`, `name`, ...).

    Raises:
      ValueError: bad `num_terms` or initial values, or a `SpikingSSM`
        argument error.
    """
    super().__init__(state_size, **kwargs)
    owner = type(self).__name__
    self.num_terms = checks.check_int(owner, "num_terms", num_terms, 1)
    self.omega_init = _as_terms(owner, "omega_init", omega_init,
                                self.num_terms, 0.0, np.inf, False)
    self.eta_init = _as_terms(owner, "eta_init", eta_init, self.num_terms,
                              0.0, 1.0, True)

  def fractional_weights(self) -> tuple[jax.Array, jax.Array]:
    """The effective `(omega, eta)`, `(M,)` each, as the forward pass uses."""
    return self._fractional_weights()

  def _fractional_weights(self):
    m = self.num_terms
    omega = hk.get_parameter("omega", (m,), jnp.float32,
                             s4.constant_init(self.omega_init))
    eta = hk.get_parameter("eta", (m,), jnp.float32,
                           s4.constant_init(self.eta_init))
    return jnp.maximum(omega, 0.0), jnp.clip(eta, ETA_MIN, 1.0)

  def _modes(self, features: int, dtype):
    Lambda, b, c, step, d = self._params(features, dtype)
    omega, eta = (w.astype(dtype) for w in self._fractional_weights())
    m, n = self.num_terms, Lambda.shape[-1]
    # [D, M, N/2] -> [D, M N/2]: term-major within each feature.
    lam = -omega[:, None] + eta[:, None] * Lambda[..., None, :]
    lam = lam.reshape(Lambda.shape[:-1] + (m * n,))
    b = jnp.broadcast_to(b[..., None, :], b.shape[:-1] + (m, n)).reshape(
        b.shape[:-1] + (m * n,))
    c = (eta[:, None] * c[..., None, :]).reshape(c.shape[:-1] + (m * n,))
    return lam, b, c, step, d

  def _num_modes(self) -> int:
    return self.num_terms * self.state_size // 2
