"""`from_nir`: a feed-forward NIR graph as a runnable Haiku model.

Accepts one `Input -> ... -> Output` chain of `Affine`, `Linear`, `Scale`,
`LIF`, `IF`, `LI`, `I`, `CubaLIF` and `LI`/`I -> Threshold` nodes and
returns `(transformed, params, spec)`. Decays are `1 - dt / tau`; an input
gain other than 1 becomes a `scale` layer. Other node types, graphs that are
not one chain and values spike_ssm cannot represent raise, naming the node.
The node-by-node mapping: docs/nir.md.
"""

from collections.abc import Mapping
import os
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.nir import sequential

# An imported input gain this close to 1 is float rounding of r = tau / dt
# (a float32 file rounds tau and r separately), not a scale to reproduce.
_UNIT_GAIN_RTOL = 1e-6


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
    dt: the time step of the discrete model (`beta = 1 - dt / tau`). None
      uses `graph.metadata["dt"]` (written by `to_nir`), else 1.0.
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
  nir = sequential.load_nir()
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
  dt = sequential.check_dt(dt)
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
  prefix = sequential.DEFAULT_NAME if name is None else name
  spec, params = [], {}
  for i, (kind, kwargs, layer) in enumerate(importer.layers):
    spec.append((kind, kwargs))
    if layer:
      params[f"{prefix}/{sequential.layer_name(kind, i)}"] = {
          k: jnp.asarray(v) for k, v in layer.items()}
  transformed = hk.without_apply_rng(
      hk.transform(sequential.build_sequential(spec, name=name)))
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
