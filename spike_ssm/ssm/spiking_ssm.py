r"""SpikingSSM and LoongSpike: S4D cores driving a hard-reset LIF soma.

SpikingSSM (Shen et al., "SpikingSSMs: Learning Long Sequences with Sparse
and Parallel Spiking State Space Models", AAAI 2025, arXiv:2408.14909)
treats the output of an S4D layer as the input current of a leaky
integrate-and-fire soma with a hard reset, so a layer emits binary spikes;
a position-wise GLU mixes them. Training evaluates the soma in parallel
with the pre-trained surrogate dynamic network (`spike_ssm.neurons.sdn`).

LoongSpike (the seed codebase's fractional-order SpikingSSM) replaces each
S4D mode by a sum of M exponentials, a sum-of-exponentials approximation of
a fractional-order (power-law memory) kernel, with learnable weights.

How the layer composes with `models.backbone.SequenceBackbone`
--------------------------------------------------------------

The backbone wraps a layer as `x + GLU(layer(norm(x)))` with a configurable
norm, residual and output stage (`glu=`). These layers are the authors'
SS4D block without its norm and residual: `S4D -> threshold scaling ->
soma -> dropout -> mixer`. With `glu=True` (the paper's block) the layer
ends in its own `Linear(D -> 2D) + GLU` and the backbone should use
`glu="none"` (as `configs/spiking_*` do); with `glu=False` the layer
returns the spikes and the backbone's GLU mixes them.

`is_training` and `mode`
------------------------

`mode` chooses the soma used in training: "sdn" (the frozen pre-trained
SDN predicts the leaked membrane for all steps at once; spikes are
`spike(m_hat + I - 1)`, the surrogate gradient reaching `I` through the
identity term) or "iterative" (the exact hard-reset LIF as a `lax.scan`,
trained with BPTT, the baseline the SDN accelerates). `eval_mode` (default:
the exact "iterative" soma, the network the SDN stands in for) chooses the
soma when not training. Dropout is active only in training.

`is_training=None` (what the backbone passes: it calls layers with the
input only) means "training iff the transform was applied with an RNG",
which is how `experiments.train` runs its train step (with an RNG) and its
evaluation (`rng=None`).
"""

from collections.abc import Mapping, Sequence
import math
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.neurons import base as neuron_base
from spike_ssm.neurons import sdn as sdn_lib
from spike_ssm.ops import discretization
from spike_ssm.ops import kernels
from spike_ssm.ops import surrogate as surrogate_lib
from spike_ssm.ssm import _diagonal
from spike_ssm.ssm import s4

MODES = ("sdn", "iterative")
# S4D's argument checks and constant initialiser, shared with its subclasses.
_check_bool = s4._check_bool  # pylint: disable=protected-access
_constant = s4._constant  # pylint: disable=protected-access

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


def _check_choice(owner: str, name: str, value, choices) -> str:
  if value not in choices:
    raise ValueError(
        f"{owner}: `{name}` must be one of {choices}, got {value!r}.")
  return value


def _check_rate(owner: str, dropout) -> float:
  if (isinstance(dropout, bool) or not isinstance(dropout, (int, float))
      or not 0.0 <= dropout < 1.0):
    raise ValueError(
        f"{owner}: `dropout` must be a number in [0, 1), got {dropout!r}.")
  return float(dropout)


def _resolve_sdn_weights(owner: str, sdn_weights, tau: float):
  """The SDN weights as read-only float32 NumPy arrays."""
  if sdn_weights is None:
    return sdn_lib.load_pretrained_sdn(tau)
  if isinstance(sdn_weights, str) or hasattr(sdn_weights, "__fspath__"):
    weights, file_tau = sdn_lib.load_sdn_weights(sdn_weights)
    if not math.isclose(file_tau, tau, rel_tol=1e-6):
      raise ValueError(
          f"{owner}: the SDN in {sdn_weights} was trained for tau="
          f"{file_tau:g}, but the soma has tau={tau:g}.")
    return weights
  if isinstance(sdn_weights, Mapping):
    return {n: np.asarray(sdn_weights[n], np.float32) for n in sdn_weights}
  raise TypeError(
      f"{owner}: `sdn_weights` must be None, a path to an .npz or a mapping "
      f"of arrays, got {type(sdn_weights).__name__}.")


class SpikingSSM(s4.S4D):
  r"""SpikingSSM layer (Shen et al., AAAI 2025, arXiv:2408.14909).

  For an input `x` `(B, T, D)`, per feature `d` (see the module docstring
  for how it sits in a backbone):

  .. math::

    y &= K * x + d \odot x                 \qquad\text{(S4D, `ssm.S4D`)} \\
    I_t &= y_t / \exp(\mathrm{ln\_vth})     \qquad\text{(threshold)}    \\
    v_t &= \tau\, u_{t-1} + I_t, \quad s_t = H(v_t - 1),
        \quad u_t = v_t (1 - s_t)          \qquad\text{(LIF soma)}      \\
    z_t &= \mathrm{dropout}(s_t), \quad
    \mathrm{out}_t = (W_1 z_t + b_1) \odot \sigma(W_2 z_t + b_2)
                                           \qquad\text{(mixer, glu=True)}

  The per-channel learnable threshold is `exp(ln_vth)`, applied by scaling
  the current (the spike train of `(I, v_th)` is that of `(I / v_th, 1)`),
  so one SDN trained at threshold 1 serves every threshold. In "sdn" mode
  the soma's leaked membrane `tau u_{t-1}` comes from the frozen SDN
  (constants, not parameters) in parallel; in "iterative" mode from the
  exact scan. Spikes use the triangular surrogate by default (the authors'
  "piecewise quadratic" pseudo-derivative `max(0, 1 - |v|)`); the reset is
  detached from the gradient.

  Initialisation: S4D-Lin by default (`Lambda_n = -1/2 + i pi n`, as
  SpikingSSM), other S4D inits via `init`; `ln_vth = log(vth_init)`
  (default 0, threshold 1: the authors' init); `tau = 0.125` (the
  authors' neurons). Dropout is tied across time (one mask per sequence
  and channel, the authors' `DropoutNd`).

  Parameters: those of `S4D` (`log_dt` `(D,)`, `a_log`, `a_im`, `b`, `c`
  [, `c_bwd`], `d`), `ln_vth` `(D,)`, and with `glu=True` the mixer
  `mixer_w` `(D, 2D)`, `mixer_b` `(2D,)`. Streaming (`initial_state`,
  `step`) runs the S4D recurrence and the exact LIF, and equals `__call__`
  in "iterative" mode; a bidirectional layer cannot stream.
  """

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
               sdn_weights=None,
               surrogate="triangular",
               slope: float | None = None,
               glu: bool = True,
               record_rate: bool = False,
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
      sdn_weights: None (the packaged SDN for `tau`), a path to an `.npz`
        from `experiments.pretrain_sdn`, or a weight mapping. Only read
        when a mode is "sdn".
      surrogate: spike surrogate gradient (`ops.surrogate` name or
        callable).
      slope: surrogate width (None: its default, 1 for "triangular").
      glu: end in the position-wise `Linear(D -> 2D) + GLU` mixer.
      record_rate: store the mean spike rate as Haiku state `spike_rate`
        (needs `hk.transform_with_state`; the registry turns it on inside
        the backbone).
      name: module name.

    Raises:
      ValueError: a bad S4D argument, mode, tau, dropout or slope, or no
        SDN for `tau` when one is needed.
      TypeError: non-bool flags or bad `sdn_weights`.
    """
    super().__init__(state_size, init=init, discretization=discretization,
                     dt_min=dt_min, dt_max=dt_max,
                     bidirectional=bidirectional, name=name)
    owner = type(self).__name__
    self.mode = _check_choice(owner, "mode", mode, MODES)
    self.eval_mode = _check_choice(owner, "eval_mode", eval_mode, MODES)
    self.dropout = _check_rate(owner, dropout)
    self.tau = sdn_lib.check_tau(tau)
    if (isinstance(vth_init, bool) or not isinstance(vth_init, (int, float))
        or not 0.0 < vth_init < math.inf):
      raise ValueError(f"{owner}: `vth_init` must be a finite number > 0, "
                       f"got {vth_init!r}.")
    self.vth_init = float(vth_init)
    if not callable(surrogate):
      surrogate_lib.default_slope(surrogate)  # Unknown names raise here.
    if slope is not None and (
        isinstance(slope, bool) or not isinstance(slope, (int, float))
        or not slope > 0):
      raise ValueError(f"{owner}: slope must be > 0 (a number), got "
                       f"{slope!r}.")
    self.surrogate, self.slope = surrogate, slope
    self.glu = _check_bool(owner, "glu", glu)
    self.record_rate = _check_bool(owner, "record_rate", record_rate)
    self.sdn_weights = None
    if "sdn" in (self.mode, self.eval_mode):
      self.sdn_weights = _resolve_sdn_weights(owner, sdn_weights, self.tau)
      sdn_lib.check_weights(self.sdn_weights)

  # --------------------------------------------------------------------------
  # The S4D core (LoongSpike augments its modes here).
  # --------------------------------------------------------------------------

  def _modes(self, features: int, dtype):
    """`(Lambda, B, C, step, d)` of the diagonal system the layer runs."""
    return self._params(features, dtype)

  def _kernel(self, features: int, length: int, dtype):
    Lambda, b, c, step, d = self._modes(features, dtype)
    k = kernels.s4d_kernel(Lambda, b, c, step, length,
                           method=self.discretization)  # [(2,) D, T]
    return k, d

  def _num_modes(self) -> int:
    return self.state_size // 2

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
      x: input, `(B, T, D)`, or `(T, B, D)` with `time_major=True`;
        floating.
      is_training: True: training soma (`mode`) and dropout; False:
        `eval_mode`, no dropout; None: training iff the transform was
        applied with an RNG (see the module docstring).
      time_major: whether `x` and the output are time-major.

    Returns:
      `(B, T, D)` (or time-major): the mixer's output with `glu=True`, else
      the spikes; in the dtype of `x`.

    Raises:
      ValueError: `x` not rank 3, or a width other than the parameters'.
      TypeError: non-floating `x`.
    """
    owner = self.module_name
    _diagonal.check_input(owner, "x", x, 3,
                          "(T, B, D)" if time_major else "(B, T, D)")
    key = None
    if is_training is None:
      # The first key of the sequence, as `hk.next_rng_key()` would give it.
      key = hk.maybe_next_rng_key()
      is_training = key is not None
    features = x.shape[-1]
    y = super().__call__(x.astype(jnp.float32), time_major=time_major)
    current = y / jnp.exp(self._threshold(features))  # [.., T, .., D]
    mode = self.mode if is_training else self.eval_mode
    if mode == "sdn":
      spikes = sdn_lib.sdn_spikes(self.sdn_weights, current,
                                  surrogate=self.surrogate, slope=self.slope,
                                  time_major=time_major)
    else:
      spikes = sdn_lib.lif_hard_reset(
          current, self.tau, surrogate=self.surrogate, slope=self.slope,
          time_major=time_major).spikes
    if self.record_rate:
      # The layer never sees the padding mask: the rate counts every step.
      neuron_base.record_spike_rate(spikes, jnp.ones(spikes.shape[:2]))
    if is_training and self.dropout > 0.0:
      # Tied over time: one keep/drop per sequence and channel.
      time_axis = 0 if time_major else 1
      mask_shape = list(spikes.shape)
      mask_shape[time_axis] = 1
      key = hk.next_rng_key() if key is None else key
      keep = jax.random.bernoulli(key, 1.0 - self.dropout, tuple(mask_shape))
      spikes = spikes * keep / (1.0 - self.dropout)
    return self._mix(spikes, features).astype(x.dtype)

  # --------------------------------------------------------------------------
  # Streaming.
  # --------------------------------------------------------------------------

  def initial_state(self, batch_size: int,
                    features: int | None = None) -> SpikingSSMState:
    """Zero S4D state `(B, D, modes)` and zero membrane `(B, D)`.

    Args:
      batch_size: B.
      features: the width D; may be omitted once the parameters exist.

    Raises:
      ValueError: bad sizes, or `features` omitted before the parameters
        exist.
    """
    b, d = self._state_dims(batch_size, features)
    return SpikingSSMState(
        ssm=s4.S4DState(h=jnp.zeros((b, d, self._num_modes()),
                                    jnp.complex64)),
        v=jnp.zeros((b, d), jnp.float32))

  def step(self, x_t: jax.Array,
           state: SpikingSSMState) -> tuple[jax.Array, SpikingSSMState]:
    """One step: S4D recurrence, exact LIF soma, mixer (no dropout).

    Args:
      x_t: `(B, D)`.
      state: the previous `SpikingSSMState`.

    Returns:
      `(out_t, next_state)`, `out_t` `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: a bidirectional layer, bad shapes. TypeError: bad types.
    """
    if not isinstance(state, SpikingSSMState):
      raise TypeError(
          f"{self.module_name}: `state` must be a SpikingSSMState, got "
          f"{type(state).__name__}.")
    self._check_streaming(x_t, state.ssm.h, (x_t.shape[0], x_t.shape[-1],
                                             self._num_modes()))
    if tuple(state.v.shape) != (x_t.shape[0], x_t.shape[-1]):
      raise ValueError(
          f"{self.module_name}: `state.v` must have shape "
          f"{(x_t.shape[0], x_t.shape[-1])} (batch, features), got "
          f"{tuple(state.v.shape)}.")
    features = x_t.shape[-1]
    Lambda, b, c, step, d = self._modes(features, jnp.float32)
    lam_bar, b_bar = discretization.discretize(Lambda, b, step[:, None],
                                               self.discretization)
    u = x_t.astype(jnp.float32)
    h = lam_bar * state.ssm.h.astype(lam_bar.dtype) + b_bar * u[..., None]
    y = 2 * jnp.real(jnp.sum(c * h, axis=-1)) + d * u  # [B, D]
    current = y / jnp.exp(self._threshold(features))
    s, _, v = sdn_lib.lif_step(current, state.v, self.tau,
                               surrogate=self.surrogate, slope=self.slope)
    out = self._mix(s, features).astype(x_t.dtype)
    return out, SpikingSSMState(ssm=s4.S4DState(h=h.astype(state.ssm.h.dtype)),
                                v=v.astype(state.v.dtype))


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
  r"""LoongSpike: the fractional-order SpikingSSM (sum of exponentials).

  Each S4D mode `(Lambda_n, B_n, C_n)` of every feature becomes `M` modes

  .. math::

    \Lambda_{m,n} = -\omega_m + \eta_m \Lambda_n, \qquad
    B_{m,n} = B_n, \qquad C_{m,n} = \eta_m C_n, \qquad m = 1..M,

  so the impulse response of a mode is a weighted sum of `M` exponentials
  with rates stretched by `eta_m` and shifted by `omega_m`: a
  sum-of-exponentials approximation of a fractional-order (power-law)
  memory kernel. Everything else is `SpikingSSM`. `omega` and `eta` `(M,)`
  are shared by all features and modes and learnable; the forward pass
  uses `max(omega, 0)` and `clip(eta, ETA_MIN, 1)`, so every augmented mode
  keeps a strictly negative real part whatever the optimiser does (the
  stored values may drift outside, where their gradient is zero). With
  `M = 1`, `omega = 0`, `eta = 1` the layer is exactly `SpikingSSM` (same
  parameters, same outputs).

  Defaults follow the seed (`omega = (0, 0.1)`, `eta = (1, 0.1)`: one term
  at the original rates plus a weak, slower-decaying copy). The streaming
  state holds `M N/2` modes per feature.

  Extra parameters: `omega` `(M,)`, `eta` `(M,)` (the optimiser's SSM group:
  own learning rate, no weight decay).
  """

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
    self.num_terms = _diagonal.check_int(owner, "num_terms", num_terms, 1)
    self.omega_init = _as_terms(owner, "omega_init", omega_init,
                                self.num_terms, 0.0, np.inf, False)
    self.eta_init = _as_terms(owner, "eta_init", eta_init, self.num_terms,
                              0.0, 1.0, True)

  def fractional_weights(self) -> tuple[jax.Array, jax.Array]:
    """The effective `(omega, eta)`, `(M,)` each, as the forward pass uses."""
    m = self.num_terms
    omega = hk.get_parameter("omega", (m,), jnp.float32,
                             _constant(self.omega_init))
    eta = hk.get_parameter("eta", (m,), jnp.float32, _constant(self.eta_init))
    return jnp.maximum(omega, 0.0), jnp.clip(eta, ETA_MIN, 1.0)

  def _modes(self, features: int, dtype):
    Lambda, b, c, step, d = self._params(features, dtype)
    omega, eta = (w.astype(dtype) for w in self.fractional_weights())
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
