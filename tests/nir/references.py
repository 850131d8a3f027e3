"""Shared by the NIR tests: a float64 NIR simulator and graph/model helpers.

The reference is forward Euler on NIR's documented ODEs, written
independently of spike_ssm.nir.
"""

import os
import tempfile
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import nir
import numpy as np

from spike_ssm import nir as nir_lib

B, T, D_IN, HIDDEN, D_OUT = 3, 16, 6, 8, 5
PREFIX = nir_lib.DEFAULT_NAME
PER_UNIT = np.linspace(0.55, 0.9, HIDDEN).astype(np.float32)
PER_UNIT_OUT = np.linspace(0.6, 0.85, D_OUT).astype(np.float32)


class Sim(NamedTuple):
  outputs: np.ndarray  # (B, T, D_out) of the last node
  states: dict  # node key -> {"v": (B, T, N), "i": ...} after each step
  distance: np.ndarray  # every spiking membrane minus its threshold, flat


def walk(graph):
  succ = dict(graph.edges)
  key = next(k for k, n in graph.nodes.items() if isinstance(n, nir.Input))
  order = []
  while not isinstance(graph.nodes[key], nir.Output):
    key = succ[key]
    order.append(key)
  return order[:-1]


def simulate_nir(graph, x, dt):
  """float64 simulation of a NIR chain with step dt, from the NIR ODEs.

  LIF: tau dv/dt = (v_leak - v) + r I; IF / I: dv/dt = r I; CubaLIF:
  tau_syn dI/dt = -I + w_in S, then the membrane sees the new current; a
  neuron fires when v > v_threshold and then sets v = v_reset.
  """
  h = np.asarray(x, np.float64)
  states, distances = {}, []
  f64 = lambda a: np.asarray(a, np.float64)
  for key in walk(graph):
    node = graph.nodes[key]
    if isinstance(node, nir.Affine):
      h = h @ f64(node.weight).T + f64(node.bias)
      continue
    if isinstance(node, nir.Linear):
      h = h @ f64(node.weight).T
      continue
    if isinstance(node, nir.Scale):
      h = h * f64(node.scale)
      continue
    if isinstance(node, nir.Threshold):
      distances.append((h - f64(node.threshold)).ravel())
      h = (h > f64(node.threshold)).astype(np.float64)
      continue
    v = np.zeros(h.shape[:1] + h.shape[2:])
    i = np.zeros_like(v)
    out, vs, is_ = (np.zeros_like(h) for _ in range(3))
    for t in range(h.shape[1]):
      if isinstance(node, (nir.LIF, nir.LI)):
        v = v + dt / f64(node.tau) * (f64(node.v_leak) - v +
                                      f64(node.r) * h[:, t])
      elif isinstance(node, (nir.IF, nir.I)):
        v = v + dt * f64(node.r) * h[:, t]
      elif isinstance(node, nir.CubaLIF):
        i = i + dt / f64(node.tau_syn) * (-i + f64(node.w_in) * h[:, t])
        v = v + dt / f64(node.tau_mem) * (f64(node.v_leak) - v +
                                          f64(node.r) * i)
      else:
        raise AssertionError(f"reference cannot simulate {node}")
      if isinstance(node, (nir.LI, nir.I)):
        out[:, t] = v
      else:
        distances.append((v - f64(node.v_threshold)).ravel())
        out[:, t] = v > f64(node.v_threshold)
        v = np.where(out[:, t] > 0, f64(node.v_reset), v)
      vs[:, t], is_[:, t] = v, i
    states[key] = {"v": vs, "i": is_}
    h = out
  distance = np.concatenate(distances) if distances else np.zeros(0)
  return Sim(h, states, distance)


def transform(spec, name=None):
  return hk.without_apply_rng(
      hk.transform(nir_lib.build_sequential(spec, name=name)))


def init(spec, seed=0, name=None):
  model = transform(spec, name)
  x = jnp.zeros((1, 2, D_IN), jnp.float32)
  return model, model.init(jax.random.PRNGKey(seed), x)


def write_and_read(graph):
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "net.nir")
    nir.write(path, graph)
    return nir.read(path)


def chain_graph(*nodes, width=D_IN, type_check=True):
  """Input -> nodes (key, node) ... -> Output."""
  keys = ["input", *(k for k, _ in nodes), "output"]
  last = nodes[-1][1]
  out_width = int(np.ravel(last.output_type["output"])[0])
  graph_nodes = {"input": nir.Input(input_type=np.array([width])),
                 **dict(nodes),
                 "output": nir.Output(output_type=np.array([out_width]))}
  return nir.NIRGraph(nodes=graph_nodes, edges=list(zip(keys[:-1], keys[1:])),
                      type_check=type_check)


def affine(rng, n_in, n_out):
  return nir.Affine(
      weight=rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(
          np.float32),
      bias=rng.normal(0, 0.1, n_out).astype(np.float32))


def lif_node(n=D_IN, **overrides):
  fields = dict(tau=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n),
                v_threshold=np.ones(n))
  fields.update(overrides)
  return nir.LIF(**fields)
