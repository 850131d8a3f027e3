"""`to_nir`: a network built by `build_sequential(spec)` as a NIR graph.

Each layer becomes the NIR node(s) of its forward-Euler counterpart at step
`dt` (`tau = dt / (1 - beta)`, unit input gain); what NIR cannot express
raises, naming the layer. The node-by-node mapping: docs/nir.md.
"""

from collections.abc import Mapping, Sequence

import haiku as hk
import jax.numpy as jnp
import numpy as np

from spike_ssm.nir import sequential


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
      constant (`tau = dt / (1 - beta)`, `r = tau / dt`; docs/nir.md).
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
  nir = sequential.load_nir()
  spec = sequential.check_spec(spec)
  width = _width_of(input_shape)
  dt = sequential.check_dt(dt)
  ex = _Exporter(params, sequential.DEFAULT_NAME if name is None else name,
                 dt)
  ex.add("input", nir.Input(input_type=np.array([width])))
  for index, (kind, kwargs) in enumerate(spec):
    lname = sequential.layer_name(kind, index)
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
    elif kind in sequential.NEURONS:
      _export_neuron(nir, ex, where, lname, kind, kwargs, width)
    else:
      width = _export_ssm(nir, ex, where, lname, kind, kwargs, width)
  ex.add("output", nir.Output(output_type=np.array([width])))
  edges = list(zip(ex.order[:-1], ex.order[1:]))
  return nir.NIRGraph(nodes=ex.nodes, edges=edges, metadata={"dt": dt})


def _export_neuron(nir, ex: _Exporter, where, lname, kind, kwargs, width):
  """Adds the node(s) of one neuron layer."""
  core = _construct(where, sequential.NEURONS[kind], (width,), **kwargs)
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
  core = _construct(where, sequential.SSMS[kind], name=lname, **kwargs)
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
    module = sequential.SSMS[kind](name=lname, **kwargs)
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
