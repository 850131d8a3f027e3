"""Phasor networks and the phase <-> spike-timing codec.

Phasor networks (Bybee, Frady & Sommer 2022, "Deep Learning in Spiking Phasor
Neural Networks", arXiv:2204.00507; Olin-Ammentorp & Bazhenov 2021,
arXiv:2106.11908) carry every activation as a unit-magnitude complex number
`exp(i theta)`, i.e. as a phase `theta`. A layer takes the complex-weighted
superposition of its input phasors and keeps only the phase of the result:

  z = exp(i theta_in) @ W        W complex, (in, out)
  theta_out = angle(z)           in (-pi, pi]

Training happens in this continuous (atemporal) domain. At inference a phase
is a spike time: over a cycle of `T` bins a neuron fires once, in the bin
its phase points at (`phase_to_spikes`), and a spike train decodes back to
phases (`spikes_to_phase`), so `SpikingPhasor` runs a trained layer on spike
trains with no conversion step.

Phase conventions (used everywhere here):
  * phases live in (-pi, pi]; `angle` maps the one point atan2 would send to
    -pi (the negative real axis approached from below) to +pi;
  * bin `k` of a `T`-bin cycle is the phase `2 pi k / T - pi`, wrapped into
    (-pi, pi]: bin 0 is phase pi (= -pi), bin T/2 is phase 0;
  * spike trains are time-major, `(T, B, F)`: they are sequences over the bins
    of one cycle, and time-major is what scans and `neurons.run` iterate.
    Phases and real tensors are batch-major, `(B, F)`.

Everything outside the three `hk.Module`s is a pure function (no Haiku).
"""

# `T` and `period_T` are the argument names of the public contract.
# pylint: disable=invalid-name

import math

import haiku as hk
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

# ----------------------------------------------------------------------------
# Pure functions: angles, the input map and the spike codec.
# ----------------------------------------------------------------------------


def _real_dtype(dtype) -> jnp.dtype:
  """The floating dtype phases are computed in: at least float32."""
  return jnp.promote_types(dtype, jnp.float32)


def safe_angle(re: jax.Array, im: jax.Array) -> jax.Array:
  """The phase of `re + i im` in (-pi, pi], 0 (with zero gradient) at 0.

  `atan2`'s gradient is `0/0` at the origin; the double `where` keeps both the
  value and the gradient finite there, so a layer whose inputs cancel exactly
  cannot poison a whole training step with NaNs.

  Args:
    re: real parts, any shape.
    im: imaginary parts, same shape.

  Returns:
    Phases, shape and dtype of `re + im`.
  """
  nonzero = re * re + im * im > 0
  theta = jnp.arctan2(jnp.where(nonzero, im, 0.0), jnp.where(nonzero, re, 1.0))
  theta = jnp.where(nonzero, theta, 0.0)
  # atan2 gives -pi for points on the negative real axis reached from below
  # (im = -0.0 or an imaginary part lost to rounding); the contract is
  # (-pi, pi], and -pi and pi are the same phase.
  return jnp.where(theta <= -jnp.pi, jnp.pi, theta)


def interval_to_phase(x: jax.Array) -> jax.Array:
  """Maps real inputs in [0, 1] to phases `theta = pi (x - 1/2)`.

  The image is the half circle [-pi/2, pi/2], centred on phase 0. The
  full-circle map `pi (2x - 1)` would send x = 0 and x = 1 to the same point
  (-pi = pi), destroying binary features; the half circle keeps the map
  one-to-one. Inputs outside [0, 1] are not an error: they continue around
  the circle (the map is periodic with period 2 in x).

  Args:
    x: real inputs, any shape, floating.

  Returns:
    Phases, same shape, in the promotion of `x`'s dtype and float32.
  """
  x = jnp.asarray(x)
  return jnp.pi * (x.astype(_real_dtype(x.dtype)) - 0.5)


def _check_period(who: str, name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(
        f"{who}: `{name}` (the number of bins per cycle) must be a Python "
        f"int, got {value!r} of type {type(value).__name__}.")
  if value < 1:
    raise ValueError(
        f"{who}: `{name}` (the number of bins per cycle) must be >= 1, got "
        f"{value}.")
  return int(value)


def _check_real(who: str, name: str, x: jax.Array, *, floating: bool) -> None:
  ok = (jnp.issubdtype(x.dtype, jnp.floating) if floating else
        jnp.issubdtype(x.dtype, jnp.floating) or
        jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_)
  if not ok:
    kind = "a real floating" if floating else "a real (float, int or bool)"
    raise TypeError(f"{who}: `{name}` must be {kind} array, got dtype "
                    f"{x.dtype}.")


def bin_phases(T: int) -> np.ndarray:
  """The phase each bin of a `T`-bin cycle encodes, float64, shape `(T,)`.

  Bin `k` is `2 pi k / T - pi` wrapped into (-pi, pi]: bin 0 is pi.
  """
  T = _check_period("bin_phases", "T", T)
  phi = 2.0 * np.pi * np.arange(T) / T - np.pi
  return np.where(phi <= -np.pi, np.pi, phi)


def phase_to_spikes(theta: jax.Array, T: int) -> jax.Array:
  """Encodes phases as one spike per cycle of `T` bins.

  Phase `theta` fires in bin

    k = round((theta + pi) / (2 pi) * T) mod T

  (round half to even), so bin `k` stands for the phase `2 pi k / T - pi`,
  the nearest bin phase on the circle: theta = pi and theta = -pi both fire
  in bin 0, theta = 0 fires in bin T/2 (T even). Any real theta is accepted
  and wraps around the circle; a non-finite theta gives a silent train
  (which `spikes_to_phase` decodes to 0).

  The encoding is piecewise constant, so its gradient is zero: train in the
  phase domain and use spikes at inference.

  Args:
    theta: phases, floating, any shape `S` (typically `(B, F)`).
    T: bins per cycle, a Python int >= 1 (static).

  Returns:
    Spike train, time-major, shape `(T, *S)`, exactly 0.0 / 1.0 in `theta`'s
    dtype, exactly one spike along axis 0 for every finite phase.

  Raises:
    TypeError: `T` not an int, or `theta` not floating.
    ValueError: `T` < 1.
  """
  T = _check_period("phase_to_spikes", "T", T)
  theta = jnp.asarray(theta)
  _check_real("phase_to_spikes", "theta", theta, floating=True)
  th = theta.astype(_real_dtype(theta.dtype))
  k = jnp.mod(jnp.round((th + jnp.pi) / (2 * jnp.pi) * T), T)  # [*S]
  bins = jnp.arange(T, dtype=th.dtype).reshape((T,) + (1,) * theta.ndim)
  spikes = (bins == k) & jnp.isfinite(th)  # [T, *S]
  return lax.stop_gradient(spikes.astype(theta.dtype))


def spikes_to_phase(spikes: jax.Array) -> jax.Array:
  """Decodes one cycle of a spike train into phases.

  The decoded phase is the angle of the train's first Fourier coefficient,

    theta = angle(sum_k s_k exp(i phi_k)),   phi_k = 2 pi k / T - pi,

  which for a train with exactly one spike (the output of `phase_to_spikes`)
  is that spike's bin phase `phi_k` (to float32 rounding), so
  `spikes_to_phase(phase_to_spikes(theta, T))` is within half a bin, `pi/T`,
  of `theta` on the circle. Other trains are not an error, and decode as:

    * several spikes: their circular mean (the phase of the summed phasors);
    * graded (non-binary) values: a circular mean weighted by the values;
    * a silent train, or spikes whose phasors cancel exactly: phase 0.

  The decoder is differentiable in `spikes` (the gradient of the circular
  mean).

  Args:
    spikes: time-major spike train, shape `(T, *S)` (typically `(T, B, F)`),
      float, int or bool; T >= 1.

  Returns:
    Phases in (-pi, pi], shape `S`, in the promotion of the train's dtype
    and float32 (float32 for int or bool trains).

  Raises:
    TypeError: complex or non-numeric `spikes`.
    ValueError: `spikes` without a time axis, or with T = 0 bins.
  """
  spikes = jnp.asarray(spikes)
  _check_real("spikes_to_phase", "spikes", spikes, floating=False)
  if spikes.ndim < 1 or spikes.shape[0] < 1:
    raise ValueError(
        "spikes_to_phase: `spikes` must be a time-major train (T, ...) with "
        f"T >= 1 bins; got shape {spikes.shape}.")
  T = spikes.shape[0]
  dtype = (_real_dtype(spikes.dtype) if jnp.issubdtype(spikes.dtype,
                                                       jnp.floating)
           else jnp.float32)
  phi = bin_phases(T).reshape((T,) + (1,) * (spikes.ndim - 1))
  w = spikes.astype(dtype)
  # Elementwise products and a sum, not a matmul: exact on every backend
  # (TPU matmuls round float32 operands by default).
  re = jnp.sum(w * jnp.asarray(np.cos(phi), dtype), axis=0)
  im = jnp.sum(w * jnp.asarray(np.sin(phi), dtype), axis=0)
  return safe_angle(re, im)


def phasor_matmul(theta: jax.Array, kernel_re: jax.Array,
                  kernel_im: jax.Array) -> jax.Array:
  """`angle(exp(i theta) @ (kernel_re + i kernel_im))` with real matmuls.

  Args:
    theta: input phases, shape `(..., in)`.
    kernel_re: real part of the kernel, `(in, out)`.
    kernel_im: imaginary part of the kernel, `(in, out)`.

  Returns:
    Output phases in (-pi, pi], shape `(..., out)`, in the promotion of the
    three dtypes.
  """
  c, s = jnp.cos(theta), jnp.sin(theta)
  re = c @ kernel_re - s @ kernel_im
  im = c @ kernel_im + s @ kernel_re
  return safe_angle(re, im)


# ----------------------------------------------------------------------------
# Modules.
# ----------------------------------------------------------------------------


def _check_phases(who: str, name: str, x: jax.Array, min_rank: int,
                  layout: str) -> None:
  _check_real(who, name, x, floating=True)
  if x.ndim < min_rank:
    raise ValueError(f"{who}: `{name}` must have shape {layout} (rank >= "
                     f"{min_rank}); got shape {x.shape}.")


class PhasorLinear(hk.Module):
  """A dense phasor layer: phases in, phases out.

  For input phases `theta` of shape `(..., in)`:

    W = kernel_re + i kernel_im                    (in, out)
    z = exp(i theta) @ W
    theta_out = angle(z)                           in (-pi, pi]

  (0 where `z` is exactly 0). The layer has no bias: Bybee et al. (2022)
  feed constant-phase inputs where an offset is needed. The complex kernel
  is stored as two float32 parameters, `kernel_re` and `kernel_im`, both
  `(in, out)`, so optax, jmp and checkpoints see real leaves only and a plain
  `optax.adam` takes ordinary real gradients (no Wirtinger calculus).

  Initialisation: the real and imaginary parts are i.i.d. `N(0, 1/(2 in))`,
  a circular complex Gaussian with `E|W_jk|^2 = 1/in` (Rayleigh modulus,
  uniform phase) -- the complex He criterion of Trabelsi et al. 2018 ("Deep
  Complex Networks", ICLR). With unit-modulus inputs it gives `E|z|^2 = 1`:
  the output phase does not depend on the scale of `z`, but its gradient
  does (it is `1/|z|` times the tangential part of `dz`), and unit modulus
  keeps it O(1) whatever the fan-in.

  Args (constructor):
    out_features: number of output phases.
    name: module name.
  """

  def __init__(self, out_features: int, *, name: str | None = None):
    super().__init__(name=name)
    if (isinstance(out_features, bool) or
        not isinstance(out_features, (int, np.integer)) or out_features < 1):
      raise ValueError(
          f"PhasorLinear: `out_features` must be an int >= 1, got "
          f"{out_features!r}.")
    self.out_features = int(out_features)

  def __call__(self, theta: jax.Array) -> jax.Array:
    """Applies the layer.

    Args:
      theta: input phases, shape `(..., in)` (typically `(B, in)`), floating;
        any real values (they enter only through cos and sin).

    Returns:
      Output phases in (-pi, pi], shape `(..., out_features)`, in the
      promotion of `theta`'s and the kernel's dtypes.

    Raises:
      TypeError: `theta` not floating.
      ValueError: `theta` a scalar, or its last axis differs from the `in`
        the kernel was created with.
    """
    theta = jnp.asarray(theta)
    _check_phases("PhasorLinear", "theta", theta, 1, "(..., in)")
    fan_in, shape = theta.shape[-1], (theta.shape[-1], self.out_features)
    existing = self.params_dict().get(f"{self.module_name}/kernel_re")
    if existing is not None and existing.shape != shape:
      raise ValueError(
          f"PhasorLinear: `theta` has {fan_in} input features but the kernel "
          f"was created for {existing.shape[0]} (theta shape {theta.shape}).")
    init = hk.initializers.RandomNormal(stddev=1.0 / math.sqrt(2 * fan_in))
    kernel_re = hk.get_parameter("kernel_re", shape, jnp.float32, init)
    kernel_im = hk.get_parameter("kernel_im", shape, jnp.float32, init)
    return phasor_matmul(theta, kernel_re, kernel_im)


class PhasorMLP(hk.Module):
  """A stack of `depth` phasor layers with a real readout.

  For real inputs `x` in [0, 1], shape `(..., in_features)`:

    theta_0 = pi (x - 1/2)                          (`interval_to_phase`)
    theta_l = PhasorLinear_l(theta_{l-1}),   l = 1..depth
    logits  = logit_scale * cos(theta_depth)        (..., out_features)

  Layers 1..depth-1 have `hidden_features` outputs and the last has
  `out_features` (with `depth = 1` the single layer maps inputs straight to
  outputs and `hidden_features` is unused). The readout keeps the network a
  pure phasor network: class `c` scores highest when output neuron `c` has
  phase 0, i.e. fires at mid-cycle (bin T/2) in the spike domain, so
  `argmax(logits)` is the same whether the phases come from `phases` or from
  the spike trains of `spiking`. `cos` bounds the logits to
  `[-logit_scale, logit_scale]`; the scale sets how confident a
  softmax over them can get (the least cross-entropy reachable is
  `log(1 + (K - 1) exp(-2 logit_scale))` for K classes) and does not change
  the argmax. All parameters are the layers' `kernel_re` / `kernel_im`, so a
  plain `optax.adam` loop trains the model.

  Args (constructor):
    in_features: input width.
    hidden_features: width of the hidden phasor layers.
    out_features: number of outputs (classes).
    depth: number of `PhasorLinear` layers, >= 1.
    logit_scale: positive factor applied to `cos(theta_depth)`.
    name: module name.
  """

  def __init__(self,
               in_features: int,
               hidden_features: int,
               out_features: int,
               depth: int,
               *,
               logit_scale: float = 5.0,
               name: str | None = None):
    super().__init__(name=name)
    for arg, value in (("in_features", in_features),
                       ("hidden_features", hidden_features),
                       ("out_features", out_features), ("depth", depth)):
      if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
          or value < 1):
        raise ValueError(
            f"PhasorMLP: `{arg}` must be an int >= 1, got {value!r}.")
    if (isinstance(logit_scale, bool) or
        not isinstance(logit_scale, (int, float, np.number)) or
        not math.isfinite(logit_scale) or logit_scale <= 0):
      raise ValueError(
          f"PhasorMLP: `logit_scale` must be a finite number > 0, got "
          f"{logit_scale!r}.")
    self.in_features = int(in_features)
    self.hidden_features = int(hidden_features)
    self.out_features = int(out_features)
    self.depth = int(depth)
    self.logit_scale = float(logit_scale)
    widths = [self.hidden_features] * (self.depth - 1) + [self.out_features]
    self.layers = tuple(PhasorLinear(w, name=f"phasor_linear_{i}")
                        for i, w in enumerate(widths))

  def _check_x(self, x: jax.Array) -> None:
    _check_phases("PhasorMLP", "x", x, 1, "(..., in_features)")
    if x.shape[-1] != self.in_features:
      raise ValueError(
          f"PhasorMLP: `x` must have {self.in_features} features on its last "
          f"axis (in_features); got shape {x.shape}.")

  def phases(self, x: jax.Array) -> jax.Array:
    """Output phases `theta_depth`.

    Args:
      x: real inputs in [0, 1], shape `(..., in_features)` (typically
        `(B, in_features)`), floating.

    Returns:
      Phases in (-pi, pi], shape `(..., out_features)`.

    Raises:
      TypeError: `x` not floating.
      ValueError: `x` a scalar or with the wrong number of features.
    """
    x = jnp.asarray(x)
    self._check_x(x)
    theta = interval_to_phase(x)
    for layer in self.layers:
      theta = layer(theta)
    return theta

  def __call__(self, x: jax.Array) -> jax.Array:
    """Real logits `logit_scale * cos(theta_depth)`, shape `(..., out)`."""
    return self.logit_scale * jnp.cos(self.phases(x))

  def spiking(self, x: jax.Array, period_T: int) -> jax.Array:
    """Runs the network in the spike domain, one cycle of `period_T` bins.

    The inputs are encoded with `phase_to_spikes(interval_to_phase(x))` and
    every layer runs as a `SpikingPhasor`, with the same parameters as
    `phases`. As `period_T` grows the decoded output converges to `phases(x)`
    (each layer's spikes are within half a bin of its phases).

    Args:
      x: real inputs in [0, 1], shape `(B, in_features)`.
      period_T: bins per cycle, int >= 1.

    Returns:
      Output spike train, time-major, `(period_T, B, out_features)`; decode
      it with `spikes_to_phase` (then `logit_scale * cos` for logits).
    """
    period_T = _check_period("PhasorMLP.spiking", "period_T", period_T)
    x = jnp.asarray(x)
    self._check_x(x)
    if x.ndim != 2:
      raise ValueError(
          f"PhasorMLP.spiking: `x` must have shape (B, in_features); got "
          f"shape {x.shape}.")
    spikes = phase_to_spikes(interval_to_phase(x), period_T)  # [T, B, in]
    for layer in self.layers:
      spikes = SpikingPhasor(layer, period_T)(spikes)
    return spikes


class SpikingPhasor(hk.Module):
  """Runs a phasor layer on one cycle of spike trains.

    theta_in  = spikes_to_phase(spikes)             (B, F_in)
    theta_out = layer(theta_in)                     (B, F_out)
    out       = phase_to_spikes(theta_out, period_T)  (period_T, B, F_out)

  Spike trains are time-major `(T, B, F)` (see the module docstring). The
  wrapper owns no parameters: the wrapped layer keeps its own module name
  and parameters, so a trained `PhasorLinear` runs unchanged in the spike
  domain. Input trains that are not one-spike-per-cycle are decoded as
  `spikes_to_phase` documents (circular mean; silent -> phase 0); the output
  always has exactly one spike per neuron.

  Args (constructor):
    layer: a callable mapping phases `(B, F_in)` to phases `(B, F_out)`,
      typically a `PhasorLinear` (constructed inside the same transform).
    period_T: bins per cycle, int >= 1; input trains must have this many.
    name: module name.
  """

  def __init__(self, layer, period_T: int, *, name: str | None = None):
    super().__init__(name=name)
    if not callable(layer):
      raise TypeError(
          f"SpikingPhasor: `layer` must be a callable phases -> phases (e.g. "
          f"a PhasorLinear), got {layer!r}.")
    self.layer = layer
    self.period_T = _check_period("SpikingPhasor", "period_T", period_T)

  def __call__(self, spikes: jax.Array) -> jax.Array:
    """Decodes, applies the layer, re-encodes.

    Args:
      spikes: spike trains, time-major `(period_T, B, F_in)`.

    Returns:
      Spike trains `(period_T, B, F_out)`, one spike per neuron, in the
      layer output's dtype.

    Raises:
      TypeError: complex or non-numeric `spikes`.
      ValueError: `spikes` not rank 3, or with a time axis other than
        `period_T`.
    """
    spikes = jnp.asarray(spikes)
    if spikes.ndim != 3:
      raise ValueError(
          f"SpikingPhasor: `spikes` must be time-major (T, B, F) (rank 3); "
          f"got shape {spikes.shape}.")
    if spikes.shape[0] != self.period_T:
      raise ValueError(
          f"SpikingPhasor: `spikes` must have period_T={self.period_T} bins "
          f"on axis 0 (T, B, F); got shape {spikes.shape}.")
    theta = spikes_to_phase(spikes)  # [B, F_in]
    return phase_to_spikes(self.layer(theta), self.period_T)
