"""NIR interchange: export feed-forward spiking networks to NIR and back.

NIR, the Neuromorphic Intermediate Representation (Pedersen et al. 2024,
"Neuromorphic intermediate representation: A unified instruction set for
interoperable brain-inspired computing", Nature Communications 15:8122), is a
graph of continuous-time primitives (`Affine`, `LIF`, `CubaLIF`, ...) that
simulators and neuromorphic chips (snnTorch, Norse, Spyx, Lava, SpiNNaker,
...) read and write. It needs the `nir` package (with `h5py` for files),
which this module imports only when a NIR function is called.

The network description
-----------------------
A network is a *spec*: a sequence of `(kind, kwargs)` pairs, run in order on
a `(B, T, D)` sequence. `kwargs` are the constructor arguments of the layer's
module, minus `name` (layers are named `f"{kind}_{index}"`) and, for neurons,
`hidden_shape` (it is the running width):

  kind        module                           kwargs (examples)
  "linear"    `hk.Linear` (per time step)      output_size, with_bias, w_init
  "scale"     `y = scale * x`, parameter       none
              `scale (D,)` initialised to 1
  "lif"       `neurons.LIF`                    beta, threshold, reset, ...
  "if"        `neurons.IF`                     threshold, reset
  "li"        `neurons.LI`                     beta, learn_beta
  "cuba_lif"  `neurons.CuBaLIF`                alpha, beta, threshold, reset
  "psu_lif"   `neurons.PSU_LIF`                beta, threshold
  "alif"      `neurons.ALIF` (runs; not        beta, rho, gamma, ...
              exportable)
  "s5"        `ssm.S5` (whole sequence)        state_size, conj_sym, ...
  "lru"       `ssm.LRU` (whole sequence)       state_size, ...

`build_sequential(spec)` returns a forward function for `hk.transform`, so
the same spec is trained, exported and re-imported:

  spec = [("linear", {"output_size": 64}),
          ("lif", {"beta": 0.9, "reset": "zero", "learn_beta": True}),
          ("linear", {"output_size": 10}),
          ("li", {"beta": 0.8})]
  model = hk.without_apply_rng(hk.transform(build_sequential(spec)))
  params = model.init(key, x)                      # x: (B, T, 32)
  ...train params...
  graph = to_nir(params, spec, input_shape=(32,), dt=1e-3)
  nir.write("net.nir", graph)
  model2, params2, spec2 = from_nir("net.nir")     # dt read from metadata
  y = model2.apply(params2, x)                     # same spikes as model

Node mapping and the dt convention
----------------------------------
NIR's neurons are ODEs; spike_ssm's are their discrete-time steps (integrate,
fire on `v > threshold`, reset, all in one step, output at step t depends on
input at step t). The map between them is the forward-Euler step of length
`dt` with the input held over the step, the convention of the reference
converters: snnTorch exports `tau = dt / (1 - beta)`, `r = tau / dt`, and
snnTorch, Norse and Spyx import `beta = 1 - dt / tau`. For the LIF,

  tau dv/dt = (v_leak - v) + r I
  =>  v_t = (1 - dt/tau) v_{t-1} + (r dt / tau) I_t      (v_leak = 0)

which is spike_ssm's `v_t = beta v_{t-1} + x_t` when

  beta = 1 - dt / tau      (tau = dt / (1 - beta), so beta in [0, 1) <->
                            tau in [dt, inf))
  r dt / tau = 1           (the input gain; exported as r = tau / dt).

  spike_ssm       NIR node        parameters written
  linear          Affine / Linear weight = w.T (NIR is (out, in); Haiku's w
                                  is (in, out)); bias when with_bias
  scale           Scale           scale
  lif             LIF             tau = dt/(1-beta), r = tau/dt, v_leak = 0,
                                  v_threshold, v_reset = 0
  if              IF              r = 1/dt (dv/dt = r I, Euler gain r dt = 1;
                                  snnTorch and Spyx write r = 1, the same at
                                  dt = 1), v_threshold, v_reset = 0
  li              LI (I if every  tau = dt/(1-beta), r = tau/dt, v_leak = 0
                  beta is 1)      (I: r = 1/dt)
  cuba_lif        CubaLIF         tau_syn = dt/(1-alpha), w_in = tau_syn/dt,
                                  tau_mem = dt/(1-beta), r = tau_mem/dt,
                                  v_leak = 0, v_threshold, v_reset = 0
  psu_lif         LI -> Threshold the reset-free LIF is exactly a leaky
                                  integrator followed by a Heaviside
  s5 / lru with   Linear -> LI    see "SSMs" below
  real eigenvalues   -> Linear

CubaLIF integrates the current first and feeds the membrane the current of
the same step, `i_t = alpha i_{t-1} + x_t`, `v_t = beta v_{t-1} + i_t` (as
snnTorch's `Synaptic` and Norse's CubaLIF import do); NIR's
`tau_syn dI/dt = -I + w_in S` with Euler gain `w_in dt / tau_syn = 1`.

The time constants are written as float64 so that the float32 decays survive
`beta -> tau -> beta` bit-exactly; weights keep their float32 values, and
thresholds are written as the float32 value the model compares against.
`to_nir` records `dt` in the graph's metadata (`graph.metadata["dt"]`), and
`from_nir(graph)` uses it when no `dt` is given (1.0 for graphs without it).

SSMs. A causal `S5` or `LRU` whose eigenvalues are all real (S5 with
`lambda_im = 0`, LRU with `theta_log = -inf`) is exported as a chain of LI
neurons, one per real state: `h_t = lam h_{t-1} + B x_t`,
`y_t = Re(C h_t) + d x_t` with real `lam` splits into the real and imaginary
parts of `h`, two real leaky integrators with decay `lam`, and the skip
`d x_t` rides on `D` memoryless LI units (`beta = 0`, `tau = dt`):

  Linear([Re B; Im B; I_D]) -> LI(beta = [lam, lam, 0]) ->
      Linear([Re C, -Im C, diag(d)])

(`C` already carries S5's factor 2 under `conj_sym`). It imports back as
`linear -> li -> linear`, with the same outputs up to float32 rounding.

Import. `from_nir` accepts a feed-forward chain `Input -> ... -> Output`
(one edge in and out of each node) of `Affine`, `Linear`, `Scale`, `LIF`,
`IF`, `LI`, `I`, `CubaLIF` and `LI`/`I -> Threshold` nodes, and returns
`(transformed, params, spec)`. Decays become trainable parameters
(`learn_beta` / `learn_alpha`) initialised at `1 - dt / tau`; `I` becomes an
`li` with `beta = 1`. A node whose input gain (`r dt / tau`, `r dt`, or
`(w_in dt / tau_syn)(r dt / tau_mem)`) differs from 1 by more than float32
rounding (relative 1e-6), as Norse's `r = 1` graphs do, gets a `scale` layer
with that gain in front of it: the membrane is then exactly NIR's (a CubaLIF's
current is scaled by `r dt / tau_mem`). `v_leak` and `v_reset` must be 0 and
`v_threshold` uniform over a layer (spike_ssm thresholds are scalars), and
`tau >= dt` (a decay in [0, 1]).

What NIR cannot express raises, naming the layer; nothing is dropped or
changed silently:

  * `reset="subtract"` (ValueError): NIR's LIF, IF and CubaLIF reset to
    `v_reset`. To deploy such a network on a NIR target anyway, change the
    spec to `reset="zero"` yourself (the parameters do not change) and
    re-validate it.
  * `alif` (TypeError): NIR has no adaptive threshold.
  * complex eigenvalues in `s5` / `lru`, a bidirectional `s5` (ValueError).
  * a decay of exactly 1 on some but not all units of a layer, or anywhere
    in a `cuba_lif`, `lif` or `psu_lif` (ValueError): Euler's `tau` is
    infinite there. (A `lif` with every beta = 1 is an IF: use "if"; an `li`
    with every beta = 1 is exported as NIR's `I`.)
  * on import, other node types (convolutions, pooling, Flatten, Delay,
    CubaLI, nested subgraphs such as snnTorch's recurrent layers), graphs
    that are not a single chain, and the parameter values above (TypeError
    for node types, ValueError for structure and values).

Training-only settings (surrogate, slope, detach_reset, scan modes, inits)
do not change the forward pass, are not exported, and take their defaults on
import.
"""

from collections.abc import Mapping, Sequence
import os
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import neurons
from spike_ssm.neurons import base
from spike_ssm.ssm import lru as lru_lib
from spike_ssm.ssm import s5 as s5_lib

__all__ = [
    "DEFAULT_NAME",
    "LAYER_KINDS",
    "SpikingSequential",
    "build_sequential",
    "from_nir",
    "layer_name",
    "to_nir",
]

DEFAULT_NAME = "spiking_sequential"

_NEURONS = {
    "lif": neurons.LIF,
    "if": neurons.IF,
    "li": neurons.LI,
    "cuba_lif": neurons.CuBaLIF,
    "psu_lif": neurons.PSU_LIF,
    "alif": neurons.ALIF,
}
_SSMS = {"s5": s5_lib.S5, "lru": lru_lib.LRU}
LAYER_KINDS = ("linear", "scale", *_NEURONS, *_SSMS)

# An imported input gain this close to 1 is float rounding of r = tau / dt
# (a float32 file rounds tau and r separately), not a scale to reproduce.
_UNIT_GAIN_RTOL = 1e-6


def _nir():
  """The `nir` package, imported on first use (it pulls in h5py)."""
  try:
    import nir  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "spike_ssm.nir needs the `nir` package (pip install nir h5py).") from e
  return nir


def layer_name(kind: str, index: int) -> str:
  """The Haiku module name of layer `index` of a spec: `f"{kind}_{index}"`."""
  return f"{kind}_{index}"


# ----------------------------------------------------------------------------
# The spec and the model that runs it.
# ----------------------------------------------------------------------------


def _check_spec(spec) -> tuple[tuple[str, dict], ...]:
  """Validates a spec; returns it as a tuple of `(kind, dict)` pairs."""
  if (isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or
      not spec):
    raise ValueError(
        "spec must be a non-empty sequence of (kind, kwargs) pairs, got "
        f"{spec!r}.")
  layers = []
  for index, layer in enumerate(spec):
    if (isinstance(layer, (str, bytes)) or not isinstance(layer, Sequence) or
        len(layer) != 2):
      raise ValueError(
          f"spec[{index}] must be a (kind, kwargs) pair, got {layer!r}.")
    kind, kwargs = layer
    if kind not in LAYER_KINDS:
      raise ValueError(
          f"spec[{index}]: unknown layer kind {kind!r}; expected one of "
          f"{LAYER_KINDS}.")
    if not isinstance(kwargs, Mapping):
      raise ValueError(
          f"spec[{index}] ({kind}): kwargs must be a mapping of constructor "
          f"arguments, got {type(kwargs).__name__}.")
    if "name" in kwargs:
      raise ValueError(
          f"spec[{index}] ({kind}): do not pass `name`; layers are named "
          f"{layer_name(kind, index)!r} from their kind and position.")
    if kind in _NEURONS and "hidden_shape" in kwargs:
      raise ValueError(
          f"spec[{index}] ({kind}): do not pass `hidden_shape`; a neuron "
          "layer takes the width of its input.")
    if kind == "linear" and "output_size" not in kwargs:
      raise ValueError(
          f"spec[{index}] (linear): kwargs must include `output_size`, got "
          f"{sorted(kwargs)}.")
    if kind == "scale" and kwargs:
      raise ValueError(
          f"spec[{index}] (scale): takes no kwargs, got {sorted(kwargs)}.")
    layers.append((kind, dict(kwargs)))
  return tuple(layers)


class _Scale(hk.Module):
  """`y = scale * x` with a per-feature parameter `scale (D,)`, init 1."""

  def __call__(self, x: jax.Array) -> jax.Array:
    scale = hk.get_parameter("scale", (x.shape[-1],), jnp.float32,
                             init=hk.initializers.Constant(1.0))
    return x * scale.astype(x.dtype)


def _run_with_trace(core: base.SpikingCore, x: jax.Array):
  """`hk.scan`s a core over time-major `x (T, B, *H)`.

  Returns:
    `(outputs, states)`: outputs `(T, B, *H)` and the core's state after
    every step, each field `(T, B, *H)`. `hk.scan` rather than `lax.scan`
    because the core creates its parameters in its first step.
  """
  def step(state, x_t):
    out, state = core(x_t, state)
    return state, (out, state)

  _, (outputs, states) = hk.scan(step, core.initial_state(x.shape[1]), x)
  return outputs, states


class SpikingSequential(hk.Module):
  """A feed-forward stack of layers described by a spec (see module doc).

  For input `x (B, T, D)` every layer runs on the whole sequence in order:
  `linear` and `scale` act per time step, neuron layers step through time
  (`hk.scan`, output at step t from input at step t), `s5` / `lru` scan the
  sequence. Layer `i` is the submodule `f"{kind}_{i}"`, so its parameters
  live under `f"{self.module_name}/{kind}_{i}"`.

  Args:
    spec: sequence of `(kind, kwargs)` pairs, kinds from `LAYER_KINDS`.
    name: module name (default "spiking_sequential").
  """

  def __init__(self, spec, name: str | None = None):
    super().__init__(name=DEFAULT_NAME if name is None else name)
    self.spec = _check_spec(spec)

  def __call__(self, x: jax.Array, *, time_major: bool = False,
               return_states: bool = False):
    """Runs the stack.

    Args:
      x: input `(B, T, D)`, or `(T, B, D)` with `time_major=True`; floating.
      time_major: layout of `x`, of the output and of the states.
      return_states: also return every layer's state after every step.

    Returns:
      The last layer's output `(B, T, D_out)` (spikes, or membranes for an
      `li` readout), in `x`'s layout; with `return_states`, `(output,
      states)` where `states[i]` is layer i's state NamedTuple with fields
      `(B, T, *H)` for neuron layers and `()` for the others.

    Raises:
      ValueError: if `x` is not rank 3.
      TypeError: if `x` is not floating point.
    """
    x = jnp.asarray(x)
    layout = "(T, B, D)" if time_major else "(B, T, D)"
    if x.ndim != 3:
      raise ValueError(
          f"{type(self).__name__}: `x` must have rank 3, {layout}; got shape "
          f"{x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(
          f"{type(self).__name__}: `x` must be a floating array, got dtype "
          f"{x.dtype}.")
    h = x if time_major else x.swapaxes(0, 1)  # [T, B, D]
    states = []
    for index, (kind, kwargs) in enumerate(self.spec):
      name = layer_name(kind, index)
      state = ()
      if kind == "linear":
        h = hk.Linear(name=name, **kwargs)(h)
      elif kind == "scale":
        h = _Scale(name=name)(h)
      elif kind in _NEURONS:
        core = _NEURONS[kind](h.shape[2:], name=name, **kwargs)
        h, state = _run_with_trace(core, h)
      else:
        h = _SSMS[kind](name=name, **kwargs)(h, time_major=True)
      states.append(state)
    y = base.from_time_major(h, time_major)
    if return_states:
      return y, tuple(base.from_time_major(s, time_major) for s in states)
    return y


def build_sequential(spec, *, name: str | None = None):
  """A forward function running `spec`, for `hk.transform`.

  Args:
    spec: sequence of `(kind, kwargs)` pairs (see the module docstring).
    name: the `SpikingSequential` module name (default
      "spiking_sequential"); pass the same name to `to_nir`.

  Returns:
    `forward(x, *, time_major=False, return_states=False)`, which builds a
    `SpikingSequential(spec, name=name)` and calls it.

  Raises:
    ValueError: on a malformed spec.
  """
  spec = _check_spec(spec)

  def forward(x, *, time_major: bool = False, return_states: bool = False):
    return SpikingSequential(spec, name=name)(
        x, time_major=time_major, return_states=return_states)

  return forward


# ----------------------------------------------------------------------------
# Export.
# ----------------------------------------------------------------------------


def _check_dt(dt) -> float:
  if (isinstance(dt, (bool, np.bool_)) or
      not isinstance(dt, (int, float, np.number)) or not np.isfinite(dt) or
      dt <= 0):
    raise ValueError(f"dt must be a finite number > 0, got {dt!r}.")
  return float(dt)


def _width_of(input_shape) -> int:
  dims = ((input_shape,) if isinstance(input_shape, (int, np.integer))
          else input_shape)
  ok = (isinstance(dims, Sequence) and len(dims) == 1 and
        isinstance(dims[0], (int, np.integer)) and
        not isinstance(dims[0], bool) and dims[0] > 0)
  if not ok:
    raise ValueError(
        "input_shape must be the per-step feature shape (D,) with D > 0 (NIR "
        f"Affine/Linear act on 1-D vectors), got {input_shape!r}.")
  return int(dims[0])


def _construct(where: str, cls, *args, **kwargs):
  """Builds a Haiku module outside the user's transform (runs its checks)."""
  try:
    return hk.transform(lambda: cls(*args, **kwargs)).apply({}, None)
  except (TypeError, ValueError) as e:
    raise type(e)(f"to_nir: {where}: {e}") from e


def _as_f64(x) -> np.ndarray:
  """float32 values (what the model computes with) held in float64."""
  return np.asarray(x, np.float32).astype(np.float64)


class _Exporter:
  """Collects the nodes of one `to_nir` call."""

  def __init__(self, params, prefix: str, dt: float):
    if not isinstance(params, Mapping):
      raise TypeError(
          "to_nir: `params` must be the Haiku params mapping of the model "
          f"built by build_sequential, got {type(params).__name__}.")
    self.params, self.prefix, self.dt = params, prefix, dt
    self.nodes, self.order = {}, []

  def add(self, key: str, node) -> None:
    self.nodes[key] = node
    self.order.append(key)

  def layer_params(self, where: str, name: str, required: tuple[str, ...]):
    path = f"{self.prefix}/{name}"
    layer = self.params.get(path, {})
    missing = [p for p in required if p not in layer]
    if missing:
      raise ValueError(
          f"to_nir: {where} needs parameters {missing} under {path!r}, but "
          f"`params` has {sorted(layer) if layer else 'no such module'} "
          f"(modules: {sorted(self.params)}). Pass the params of "
          "build_sequential(spec), with the same `name`.")
    return {k: np.asarray(v) for k, v in layer.items()}

  def decay(self, where, core_value, learn, layer, pname, width):
    """A layer's per-unit decay as the forward pass uses it, float64 (N,)."""
    if learn:
      value = layer[pname]
      if value.shape != (width,):
        raise ValueError(
            f"to_nir: {where}: parameter {pname!r} has shape {value.shape}, "
            f"expected ({width},).")
      value = np.clip(value, 0.0, 1.0)  # as base.decay_factor does
    else:
      value = np.broadcast_to(np.asarray(core_value, np.float32), (width,))
    return _as_f64(value)

  def tau(self, where: str, pname: str, decay: np.ndarray) -> np.ndarray:
    """Euler time constant `dt / (1 - decay)`; rejects a decay of 1."""
    if np.any(decay >= 1.0):
      raise ValueError(
          f"to_nir: {where}: {pname} = 1 on {int(np.sum(decay >= 1.0))} of "
          f"{decay.size} units; under forward Euler tau = dt / (1 - {pname}) "
          "is infinite there, which this NIR node cannot hold. (A lif with "
          "every beta = 1 is an IF: use kind 'if'; an li with every beta = 1 "
          "is exported as NIR's I node.)")
    return self.dt / (1.0 - decay)


def _zero_reset(where: str, core) -> None:
  if core.reset_mode != "zero":
    raise ValueError(
        f"to_nir: {where} has reset={core.reset_mode!r}, but NIR's LIF, IF "
        "and CubaLIF reset the membrane to v_reset; subtracting the threshold "
        "cannot be expressed. Use reset='zero' (the parameters do not "
        "change; re-validate the network) to export it.")


def to_nir(params: hk.Params, spec, *, input_shape, dt: float = 1.0,
           name: str | None = None):
  """Exports a network built by `build_sequential(spec)` to a NIR graph.

  Args:
    params: the model's Haiku params (e.g. from `transformed.init`).
    spec: the spec the model was built from.
    input_shape: the per-step input shape `(D,)` (or the int D).
    dt: the time step the discrete model stands for; sets every time
      constant (module docstring: `tau = dt / (1 - beta)`, `r = tau / dt`).
    name: the `SpikingSequential` module name given to `build_sequential`
      (default "spiking_sequential").

  Returns:
    A `nir.NIRGraph` chain `input -> <layer nodes> -> output`, node keys the
    layer names (`f"{kind}_{i}"`, with suffixes for multi-node layers), and
    `metadata["dt"] = dt`.

  Raises:
    ValueError: malformed spec, bad `input_shape` or `dt`, missing or
      misshapen parameters, or a layer NIR cannot express as configured
      (subtract reset, complex SSM eigenvalues, decays of 1, ...).
    TypeError: a layer kind NIR cannot express (`alif`), or `params` not a
      mapping.
  """
  nir = _nir()
  spec = _check_spec(spec)
  width = _width_of(input_shape)
  dt = _check_dt(dt)
  ex = _Exporter(params, DEFAULT_NAME if name is None else name, dt)
  ex.add("input", nir.Input(input_type=np.array([width])))
  for index, (kind, kwargs) in enumerate(spec):
    lname = layer_name(kind, index)
    where = f"layer {index} ({kind}, module {lname!r})"
    if kind == "alif":
      raise TypeError(
          f"to_nir: {where} is an ALIF neuron; NIR has no adaptive-threshold "
          "neuron, so it cannot be exported.")
    if kind == "linear":
      with_bias = kwargs.get("with_bias", True)
      layer = ex.layer_params(where, lname, ("w", "b") if with_bias else
                              ("w",))
      w = layer["w"]
      if w.ndim != 2 or w.shape[0] != width:
        raise ValueError(
            f"to_nir: {where}: `w` has shape {w.shape}, expected ({width}, "
            f"{kwargs['output_size']}).")
      weight = np.asarray(w.T, np.float32)  # NIR is (out, in)
      if with_bias:
        ex.add(lname, nir.Affine(weight=weight,
                                 bias=np.asarray(layer["b"], np.float32)))
      else:
        ex.add(lname, nir.Linear(weight=weight))
      width = w.shape[1]
    elif kind == "scale":
      layer = ex.layer_params(where, lname, ("scale",))
      ex.add(lname, nir.Scale(scale=np.broadcast_to(
          np.asarray(layer["scale"], np.float32), (width,)).copy()))
    elif kind in _NEURONS:
      _export_neuron(nir, ex, where, lname, kind, kwargs, width)
    else:
      width = _export_ssm(nir, ex, where, lname, kind, kwargs, width)
  ex.add("output", nir.Output(output_type=np.array([width])))
  edges = list(zip(ex.order[:-1], ex.order[1:]))
  return nir.NIRGraph(nodes=ex.nodes, edges=edges, metadata={"dt": dt})


def _export_neuron(nir, ex: _Exporter, where, lname, kind, kwargs, width):
  """Adds the node(s) of one neuron layer."""
  core = _construct(where, _NEURONS[kind], (width,), **kwargs)
  dt, ones, zeros = ex.dt, np.ones(width), np.zeros(width)
  required = tuple(
      p for p, learn in (("alpha", getattr(core, "learn_alpha", False)),
                         ("beta", getattr(core, "learn_beta", False)))
      if learn)
  layer = ex.layer_params(where, lname, required)
  threshold = None
  if hasattr(core, "threshold"):
    threshold = np.full(width, _as_f64(core.threshold))
  if kind == "if":
    _zero_reset(where, core)
    ex.add(lname, nir.IF(r=ones / dt, v_threshold=threshold, v_reset=zeros))
    return
  beta = ex.decay(where, core.beta, core.learn_beta, layer, "beta", width)
  if kind == "lif":
    _zero_reset(where, core)
    tau = ex.tau(where, "beta", beta)
    ex.add(lname, nir.LIF(tau=tau, r=tau / dt, v_leak=zeros,
                          v_threshold=threshold, v_reset=zeros))
  elif kind == "cuba_lif":
    _zero_reset(where, core)
    alpha = ex.decay(where, core.alpha, core.learn_alpha, layer, "alpha",
                     width)
    tau_syn = ex.tau(where, "alpha", alpha)
    tau_mem = ex.tau(where, "beta", beta)
    ex.add(lname, nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem,
                              r=tau_mem / dt, v_leak=zeros,
                              v_threshold=threshold, v_reset=zeros,
                              w_in=tau_syn / dt))
  elif kind == "li":
    if np.all(beta == 1.0):
      ex.add(lname, nir.I(r=ones / dt))
    else:
      tau = ex.tau(where, "beta", beta)
      ex.add(lname, nir.LI(tau=tau, r=tau / dt, v_leak=zeros))
  else:  # psu_lif: reset-free, so exactly a leaky integrator + Heaviside.
    tau = ex.tau(where, "beta", beta)
    ex.add(lname, nir.LI(tau=tau, r=tau / dt, v_leak=zeros))
    ex.add(f"{lname}_threshold", nir.Threshold(threshold=threshold))


def _export_ssm(nir, ex: _Exporter, where, lname, kind, kwargs, width) -> int:
  """Adds the Linear -> LI -> Linear chain of a real-eigenvalue SSM."""
  core = _construct(where, _SSMS[kind], name=lname, **kwargs)
  if getattr(core, "bidirectional", False):
    raise ValueError(
        f"to_nir: {where} is a bidirectional S5, which reads future inputs; "
        "NIR graphs are causal.")
  required = (("lambda_re", "lambda_im", "log_dt", "b", "c", "d")
              if kind == "s5" else
              ("nu_log", "theta_log", "gamma_log", "b", "c", "d"))
  layer = ex.layer_params(where, lname, required)
  # The layer's own discretisation, so the export cannot drift from it.
  def discrete():
    module = _SSMS[kind](name=lname, **kwargs)
    # pylint: disable-next=protected-access
    return module._discrete(width, jnp.float32)

  lam, b, c, d = hk.transform(discrete).apply({lname: layer}, None)
  lam, b, c, d = (np.asarray(a) for a in (lam, b, c, d))
  if np.any(np.imag(lam) != 0):  # exact: NIR's LI cannot oscillate at all
    raise ValueError(
        f"to_nir: {where} has complex eigenvalues (max |Im lambda_bar| = "
        f"{np.max(np.abs(np.imag(lam))):.3g}); NIR has no oscillatory neuron, "
        "so only SSMs with real eigenvalues export (as chains of LI nodes).")
  decay = _as_f64(np.real(lam))
  if np.any((decay < 0) | (decay >= 1)):
    raise ValueError(
        f"to_nir: {where} has real discrete eigenvalues outside [0, 1) "
        f"(range [{decay.min():.6g}, {decay.max():.6g}]); an LI decay must "
        "lie in [0, 1).")
  states = lam.shape[0]
  eye = np.eye(width, dtype=np.float32)
  w_in = np.concatenate([np.real(b), np.imag(b), eye]).astype(np.float32)
  w_out = np.concatenate([np.real(c), -np.imag(c), np.diag(d)],
                         axis=1).astype(np.float32)
  beta = np.concatenate([decay, decay, np.zeros(width)])
  tau = ex.dt / (1.0 - beta)
  ex.add(f"{lname}_in", nir.Linear(weight=w_in))  # (2N + D, D)
  ex.add(f"{lname}_li", nir.LI(tau=tau, r=tau / ex.dt,
                               v_leak=np.zeros(2 * states + width)))
  ex.add(f"{lname}_out", nir.Linear(weight=w_out))  # (D, 2N + D)
  return width


# ----------------------------------------------------------------------------
# Import.
# ----------------------------------------------------------------------------


def _supported_types(nir):
  return (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Scale, nir.LIF,
          nir.IF, nir.LI, nir.I, nir.CubaLIF, nir.Threshold)


def _chain(nir, graph) -> tuple[int, list[tuple[str, Any]]]:
  """Checks that `graph` is one Input -> ... -> Output chain.

  Returns:
    `(width, [(key, node), ...])`: the input width and the nodes strictly
    between the Input and the Output node, in order.
  """
  supported = _supported_types(nir)
  for key, node in graph.nodes.items():
    if isinstance(node, nir.NIRGraph):
      raise TypeError(
          f"from_nir: node {key!r} is a nested NIRGraph (e.g. a recurrent "
          "layer exported by snnTorch or Spyx); spike_ssm imports only flat "
          "feed-forward chains.")
    if not isinstance(node, supported):
      raise TypeError(
          f"from_nir: node {key!r} has type {type(node).__name__}, which "
          "spike_ssm cannot import; supported node types: "
          f"{sorted(t.__name__ for t in supported)}.")
  inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
  outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
  if len(inputs) != 1 or len(outputs) != 1:
    raise ValueError(
        "from_nir: the graph must have exactly one Input and one Output "
        f"node, got inputs {inputs} and outputs {outputs}.")
  succ = {k: [] for k in graph.nodes}
  pred = {k: [] for k in graph.nodes}
  for edge in graph.edges:
    src, dst = (e.decode() if isinstance(e, bytes) else str(e) for e in edge)
    if src not in succ or dst not in succ:
      raise ValueError(f"from_nir: edge {(src, dst)} names a missing node.")
    succ[src].append(dst)
    pred[dst].append(src)
  for key in graph.nodes:
    if len(succ[key]) > 1 or len(pred[key]) > 1:
      raise ValueError(
          f"from_nir: the graph is not a feed-forward chain: node {key!r} has "
          f"inputs {pred[key]} and outputs {succ[key]} (at most one each).")
  chain, key, seen = [], inputs[0], {inputs[0]}
  while key != outputs[0]:
    if not succ[key]:
      raise ValueError(
          f"from_nir: the chain from {inputs[0]!r} stops at {key!r} before "
          f"reaching the Output node {outputs[0]!r}.")
    key = succ[key][0]
    if key in seen:
      raise ValueError(f"from_nir: the graph has a cycle through {key!r}.")
    seen.add(key)
    if key != outputs[0]:
      chain.append((key, graph.nodes[key]))
  unused = sorted(set(graph.nodes) - seen)
  if unused:
    raise ValueError(
        f"from_nir: nodes {unused} are not on the Input -> Output chain.")
  shape = np.asarray(graph.nodes[inputs[0]].input_type["input"]).ravel()
  if shape.size != 1 or shape[0] < 1:
    raise ValueError(
        f"from_nir: the Input node must have a 1-D shape (D,), got "
        f"{tuple(shape)}.")
  return int(shape[0]), chain


class _Importer:
  """Turns the nodes of one chain into `(kind, kwargs, params)` layers."""

  def __init__(self, dt: float, width: int):
    self.dt, self.width, self.layers = dt, width, []

  def per_unit(self, key: str, field: str, value) -> np.ndarray:
    try:
      return np.broadcast_to(np.asarray(value, np.float64),
                             (self.width,)).copy()
    except ValueError:
      raise ValueError(
          f"from_nir: node {key!r}: `{field}` has shape "
          f"{np.shape(value)}, expected ({self.width},) (the width of its "
          "input).") from None

  def zero(self, key: str, field: str, value) -> None:
    value = self.per_unit(key, field, value)
    if np.any(value != 0):
      raise ValueError(
          f"from_nir: node {key!r}: `{field}` must be 0 (spike_ssm neurons "
          f"rest and reset at 0), got values in [{value.min()}, "
          f"{value.max()}].")

  def threshold(self, key: str, field: str, value) -> float:
    value = self.per_unit(key, field, value)
    if not (np.all(value == value[0]) and np.isfinite(value[0]) and
            value[0] > 0):
      raise ValueError(
          f"from_nir: node {key!r}: `{field}` must be one finite value > 0 "
          "for the whole layer (spike_ssm thresholds are scalars), got "
          f"values in [{value.min()}, {value.max()}].")
    return float(value[0])

  def decay(self, key: str, field: str, tau) -> np.ndarray:
    """`1 - dt / tau` as float32; needs tau >= dt for a decay in [0, 1]."""
    tau = self.per_unit(key, field, tau)
    if not np.all(tau >= self.dt):
      raise ValueError(
          f"from_nir: node {key!r}: `{field}` must be >= dt = {self.dt} for a "
          f"forward-Euler decay 1 - dt/{field} in [0, 1], got values in "
          f"[{np.nanmin(tau)}, {np.nanmax(tau)}]. Pass the dt the graph was "
          "exported with: from_nir(graph, dt=...).")
    return (1.0 - self.dt / tau).astype(np.float32)

  def gain(self, key: str, gain) -> None:
    """Adds a `scale` layer when an input gain differs from 1."""
    gain = self.per_unit(key, "input gain", gain)
    if not np.all(np.isfinite(gain)):
      raise ValueError(
          f"from_nir: node {key!r}: its input gain (r dt / tau) is not "
          "finite.")
    if np.all(np.abs(gain - 1.0) <= _UNIT_GAIN_RTOL):
      return
    self.layers.append(("scale", {}, {"scale": gain.astype(np.float32)}))

  def add_linear(self, key: str, weight, bias) -> None:
    weight = np.asarray(weight)
    if weight.ndim != 2 or weight.shape[1] != self.width:
      raise ValueError(
          f"from_nir: node {key!r}: weight has shape {weight.shape}, expected "
          f"(out, {self.width}).")
    out = weight.shape[0]
    layer = {"w": np.asarray(weight.T, np.float32)}  # Haiku is (in, out)
    if bias is not None:
      bias = np.asarray(bias, np.float32)
      if bias.shape != (out,):
        raise ValueError(
            f"from_nir: node {key!r}: bias has shape {bias.shape}, expected "
            f"({out},).")
      layer["b"] = bias
    self.layers.append(("linear", {"output_size": out,
                                   "with_bias": bias is not None}, layer))
    self.width = out

  def add_node(self, nir, key: str, node, threshold_node) -> None:
    """Adds one node (and a Threshold fused onto an LI/I)."""
    dt = self.dt
    if isinstance(node, nir.Affine):
      self.add_linear(key, node.weight, node.bias)
    elif isinstance(node, nir.Linear):
      self.add_linear(key, node.weight, None)
    elif isinstance(node, nir.Scale):
      scale = self.per_unit(key, "scale", node.scale).astype(np.float32)
      self.layers.append(("scale", {}, {"scale": scale}))
    elif isinstance(node, nir.LIF):
      self.zero(key, "v_leak", node.v_leak)
      self.zero(key, "v_reset", node.v_reset)
      threshold = self.threshold(key, "v_threshold", node.v_threshold)
      beta = self.decay(key, "tau", node.tau)
      self.gain(key, self.per_unit(key, "r", node.r) * dt /
                self.per_unit(key, "tau", node.tau))
      self.layers.append(("lif", {"beta": beta, "learn_beta": True,
                                  "threshold": threshold, "reset": "zero"},
                          {"beta": beta}))
    elif isinstance(node, nir.IF):
      self.zero(key, "v_reset", node.v_reset)
      threshold = self.threshold(key, "v_threshold", node.v_threshold)
      self.gain(key, self.per_unit(key, "r", node.r) * dt)
      self.layers.append(("if", {"threshold": threshold, "reset": "zero"},
                          {}))
    elif isinstance(node, (nir.LI, nir.I)):
      if isinstance(node, nir.LI):
        self.zero(key, "v_leak", node.v_leak)
        beta = self.decay(key, "tau", node.tau)
        gain = (self.per_unit(key, "r", node.r) * dt /
                self.per_unit(key, "tau", node.tau))
      else:  # dv/dt = r I: an LI with beta = 1 and Euler gain r dt.
        beta = np.ones(self.width, np.float32)
        gain = self.per_unit(key, "r", node.r) * dt
      self.gain(key, gain)
      kwargs = {"beta": beta, "learn_beta": True}
      if threshold_node is None:
        self.layers.append(("li", kwargs, {"beta": beta}))
      else:
        kwargs["threshold"] = self.threshold(key, "threshold",
                                             threshold_node.threshold)
        self.layers.append(("psu_lif", kwargs, {"beta": beta}))
    elif isinstance(node, nir.CubaLIF):
      self.zero(key, "v_leak", node.v_leak)
      self.zero(key, "v_reset", node.v_reset)
      threshold = self.threshold(key, "v_threshold", node.v_threshold)
      alpha = self.decay(key, "tau_syn", node.tau_syn)
      beta = self.decay(key, "tau_mem", node.tau_mem)
      # Only the product of the two gains reaches the membrane: scaling the
      # input by it scales the current by r dt / tau_mem, and v not at all.
      self.gain(key, (self.per_unit(key, "w_in", node.w_in) * dt /
                      self.per_unit(key, "tau_syn", node.tau_syn)) *
                (self.per_unit(key, "r", node.r) * dt /
                 self.per_unit(key, "tau_mem", node.tau_mem)))
      self.layers.append((
          "cuba_lif", {"alpha": alpha, "beta": beta, "learn_alpha": True,
                       "learn_beta": True, "threshold": threshold,
                       "reset": "zero"}, {"alpha": alpha, "beta": beta}))
    else:  # a Threshold not fused onto an LI / I
      raise TypeError(
          f"from_nir: node {key!r} is a Threshold that does not follow an LI "
          "or I node; spike_ssm imports Threshold only as the spike of a "
          "reset-free LIF (LI -> Threshold = psu_lif).")


def from_nir(graph, *, dt: float | None = None, name: str | None = None):
  """Imports a feed-forward NIR graph as a runnable Haiku model.

  Args:
    graph: a `nir.NIRGraph`, or the path of a NIR HDF5 file (read with
      `nir.read`).
    dt: the time step of the discrete model (module docstring: `beta = 1 -
      dt / tau`). None uses `graph.metadata["dt"]` (written by `to_nir`),
      else 1.0.
    name: module name of the built `SpikingSequential` (default
      "spiking_sequential"); the params are keyed by it.

  Returns:
    `(transformed, params, spec)`: `hk.without_apply_rng(hk.transform(
    build_sequential(spec, name=name)))`, whose `apply(params, x)` runs the
    graph on `x (B, T, D)`; the params set from the graph (float32); and the
    spec, a list of `(kind, kwargs)` pairs.

  Raises:
    TypeError: a node type spike_ssm cannot import, named in the message.
    ValueError: a graph that is not one Input -> ... -> Output chain, bad
      `dt`, or parameter values spike_ssm cannot represent (nonzero v_leak
      or v_reset, per-unit thresholds, tau < dt, misshapen arrays).
  """
  nir = _nir()
  if isinstance(graph, (str, os.PathLike)):
    graph = nir.read(graph)
  if not isinstance(graph, nir.NIRGraph):
    raise TypeError(
        "from_nir: `graph` must be a nir.NIRGraph or a path to a NIR file, "
        f"got {type(graph).__name__}.")
  if dt is None:
    metadata = graph.metadata if isinstance(graph.metadata, Mapping) else {}
    dt = metadata.get("dt", 1.0)
    dt = float(np.asarray(dt)) if np.ndim(dt) == 0 else dt
  dt = _check_dt(dt)
  width, chain = _chain(nir, graph)
  if not chain:
    raise ValueError("from_nir: the graph has no nodes between Input and "
                     "Output.")
  importer = _Importer(dt, width)
  index = 0
  while index < len(chain):
    key, node = chain[index]
    threshold_node = None
    if (isinstance(node, (nir.LI, nir.I)) and index + 1 < len(chain) and
        isinstance(chain[index + 1][1], nir.Threshold)):
      threshold_node = chain[index + 1][1]
      index += 1
    importer.add_node(nir, key, node, threshold_node)
    index += 1
  prefix = DEFAULT_NAME if name is None else name
  spec, params = [], {}
  for i, (kind, kwargs, layer) in enumerate(importer.layers):
    spec.append((kind, kwargs))
    if layer:
      params[f"{prefix}/{layer_name(kind, i)}"] = {
          k: jnp.asarray(v) for k, v in layer.items()}
  transformed = hk.without_apply_rng(
      hk.transform(build_sequential(spec, name=name)))
  # The params must be exactly what the model asks for.
  want = jax.eval_shape(transformed.init, jax.random.PRNGKey(0),
                        jax.ShapeDtypeStruct((1, 1, width), jnp.float32))
  got = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), params)
  if jax.tree.structure(want) != jax.tree.structure(got) or any(
      (a.shape, a.dtype) != (b.shape, b.dtype)
      for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got))):
    raise AssertionError(
        f"from_nir: internal error, built params {got} do not match the "
        f"model's {want}.")
  return transformed, params, spec
