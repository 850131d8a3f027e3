"""Tests for spike_ssm.nir: build_sequential, to_nir and from_nir."""

import os
import tempfile
from typing import NamedTuple
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import chex
import haiku as hk
import jax
import jax.numpy as jnp
import nir
import numpy as np

from spike_ssm import nir as nir_lib
from tests import tolerances as tol
from tests.neurons import references as refs

B, T, D_IN, HIDDEN, D_OUT = 3, 16, 6, 8, 5
PREFIX = nir_lib.DEFAULT_NAME


# ----------------------------------------------------------------------------
# An independent float64 reference: forward Euler on NIR's documented ODEs.
# ----------------------------------------------------------------------------


class Sim(NamedTuple):
  outputs: np.ndarray  # (B, T, D_out) of the last node
  states: dict  # node key -> {"v": (B, T, N), "i": ...} after each step
  distance: np.ndarray  # every spiking membrane minus its threshold, flat


def _walk(graph):
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
  for key in _walk(graph):
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


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def _transform(spec, name=None):
  return hk.without_apply_rng(
      hk.transform(nir_lib.build_sequential(spec, name=name)))


def _init(spec, seed=0, name=None):
  model = _transform(spec, name)
  x = jnp.zeros((1, 2, D_IN), jnp.float32)
  return model, model.init(jax.random.PRNGKey(seed), x)


def _write_and_read(graph):
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "net.nir")
    nir.write(path, graph)
    return nir.read(path)


def _with_decays(params, rng, name, fields):
  """Replaces learnable decays with random per-unit values in [0.5, 0.95]."""
  params = {k: dict(v) for k, v in params.items()}
  for field in fields:
    shape = params[name][field].shape
    params[name][field] = jnp.asarray(
        rng.uniform(0.5, 0.95, size=shape).astype(np.float32))
  return params


PER_UNIT = np.linspace(0.55, 0.9, HIDDEN).astype(np.float32)
PER_UNIT_OUT = np.linspace(0.6, 0.85, D_OUT).astype(np.float32)

# name -> (spec, dt, learnable decays to randomise: {layer: fields}).
ROUND_TRIPS = {
    "lif_zero_dt_half": (
        [("linear", {"output_size": HIDDEN}),
         ("lif", {"beta": PER_UNIT, "threshold": 0.8, "reset": "zero"}),
         ("linear", {"output_size": D_OUT, "with_bias": False}),
         ("lif", {"beta": 0.7, "reset": "zero"})], 0.5, {}),
    "lif_learned_beta_dt_1e-3": (
        [("linear", {"output_size": HIDDEN}),
         ("lif", {"learn_beta": True, "reset": "zero"}),
         ("linear", {"output_size": D_OUT}),
         ("li", {"beta": PER_UNIT_OUT})], 1e-3, {"lif_1": ("beta",)}),
    "if_dt_half": (
        [("linear", {"output_size": HIDDEN}),
         ("if", {"threshold": 1.5, "reset": "zero"}),
         ("linear", {"output_size": D_OUT}),
         ("if", {"reset": "zero"})], 0.5, {}),
    "cuba_lif_dt_1e-3": (
        [("linear", {"output_size": HIDDEN}),
         ("cuba_lif", {"alpha": PER_UNIT[::-1], "beta": PER_UNIT,
                       "threshold": 0.6, "reset": "zero"}),
         ("linear", {"output_size": D_OUT, "with_bias": False}),
         ("cuba_lif", {"learn_alpha": True, "learn_beta": True,
                       "threshold": 0.4, "reset": "zero"})], 1e-3,
        {"cuba_lif_3": ("alpha", "beta")}),
    "li_dt_2": (
        [("linear", {"output_size": HIDDEN}),
         ("li", {"beta": PER_UNIT, "learn_beta": True}),
         ("linear", {"output_size": D_OUT}),
         ("li", {"beta": 1.0})], 2.0, {"li_1": ("beta",)}),
    "psu_lif_dt_half": (
        [("linear", {"output_size": HIDDEN}),
         ("psu_lif", {"beta": PER_UNIT, "threshold": 1.2}),
         ("scale", {}),
         ("linear", {"output_size": D_OUT}),
         ("psu_lif", {"learn_beta": True, "threshold": 2.0})], 0.5,
        {"psu_lif_4": ("beta",)}),
}

SPIKING = ("lif", "if", "cuba_lif", "psu_lif")


class RoundTripTest(parameterized.TestCase):

  @parameterized.parameters(*ROUND_TRIPS)
  def test_round_trip_through_hdf5_keeps_spikes_and_membranes(self, case):
    # Given a trained-looking network, exported at dt and read back from a
    # NIR file.
    spec, dt, learned = ROUND_TRIPS[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    model, params = _init(spec, seed=zlib.crc32(case.encode()) % 1000)
    for layer, fields in learned.items():
      params = _with_decays(params, rng, f"{PREFIX}/{layer}", fields)
    if f"{PREFIX}/scale_2" in params:
      params[f"{PREFIX}/scale_2"] = {"scale": jnp.asarray(
          rng.uniform(0.5, 1.5, size=HIDDEN).astype(np.float32))}
    path = os.path.join(self.create_tempdir().full_path, "net.nir")
    nir.write(path, nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=dt))
    graph = nir.read(path)
    # ... and inputs that keep every membrane of the float64 Euler
    # simulation of the exported graph away from its threshold.
    x, sim = refs.draw_away_from_threshold(
        rng, (B, T, D_IN), lambda x: simulate_nir(graph, x, dt), loc=0.5,
        scale=1.5)
    # When the graph is imported (dt from the file's metadata) and both
    # models run on the same inputs.
    imported, params2, spec2 = nir_lib.from_nir(graph)
    run = lambda m, p: jax.jit(
        lambda p, x: m.apply(p, x, return_states=True))(p, jnp.asarray(x))
    y, states = run(model, params)
    y2, states2 = run(imported, params2)
    # Then the layers are the same kinds, the decays are bit-identical ...
    self.assertEqual([k for k, _ in spec2], [k for k, _ in spec])
    for i, (kind, kwargs) in enumerate(spec):
      for field in ("alpha", "beta"):
        if field in spec2[i][1]:
          got = params2[f"{PREFIX}/{kind}_{i}"][field]
          want = _effective_decay(kind, kwargs, params.get(
              f"{PREFIX}/{kind}_{i}", {}), field)
          np.testing.assert_array_equal(got, np.broadcast_to(want, got.shape))
    # ... the spikes are exactly equal (to each other and to NIR's ODEs) ...
    last = spec[-1][0]
    if last in SPIKING:
      np.testing.assert_array_equal(y2, y)
      np.testing.assert_array_equal(y, sim.outputs)
      self.assertGreater(float(np.sum(sim.outputs)), 0)
      self.assertLess(float(np.mean(sim.outputs)), 1)
    else:
      np.testing.assert_allclose(y2, y, **tol.F32_SCAN_SHORT)
      np.testing.assert_allclose(y, sim.outputs, **tol.F32_VS_F64)
    # ... and every membrane matches within float32 tolerance.
    for i, (kind, _) in enumerate(spec):
      if kind in ("linear", "scale"):
        continue
      want = sim.states[f"{kind}_{i}"]
      for field, got in states[i]._asdict().items():
        np.testing.assert_allclose(getattr(states2[i], field), got,
                                   **tol.F32_SCAN_SHORT)
        np.testing.assert_allclose(got, want[field], **tol.F32_VS_F64)
    # And exporting the imported model gives back the same graph, ...
    again = nir_lib.to_nir(params2, spec2, input_shape=(D_IN,), dt=dt)
    self.assertCountEqual(again.nodes, graph.nodes)
    self.assertCountEqual(again.edges, graph.edges)
    for key, node in graph.nodes.items():
      got = again.nodes[key].to_dict()
      self.assertCountEqual(got, node.to_dict())
      for field, value in node.to_dict().items():
        if isinstance(value, np.ndarray):
          np.testing.assert_array_equal(got[field], value,
                                        err_msg=f"{key}.{field}")
    # ... and importing from the file's path gives the same parameters.
    _, params3, _ = nir_lib.from_nir(path)
    chex.assert_trees_all_equal(params3, params2)


def _effective_decay(kind, kwargs, layer_params, field):
  """A layer's decay as its forward pass uses it (float32), from the spec
  and the constructors' documented defaults."""
  if kwargs.get(f"learn_{field}", False):
    return np.clip(np.asarray(layer_params[field]), 0.0, 1.0)
  default = 0.8 if (kind, field) == ("cuba_lif", "alpha") else 0.9
  return np.asarray(kwargs.get(field, default), np.float32)


class ExportTest(parameterized.TestCase):

  def test_nodes_edges_and_parameters_follow_the_euler_mapping(self):
    # Given a network with one layer of each exportable neuron kind.
    spec = [("linear", {"output_size": HIDDEN}),
            ("lif", {"beta": 0.9, "threshold": 0.8, "reset": "zero"}),
            ("linear", {"output_size": HIDDEN, "with_bias": False}),
            ("cuba_lif", {"alpha": 0.5, "beta": PER_UNIT, "reset": "zero"}),
            ("scale", {}),
            ("if", {"threshold": 2.0, "reset": "zero"}),
            ("psu_lif", {"beta": 0.6, "threshold": 0.3}),
            ("li", {"beta": 0.75})]
    _, params = _init(spec)
    dt = 0.25
    # When it is exported.
    graph = nir_lib.to_nir(params, spec, input_shape=D_IN, dt=dt)
    # Then the graph is one chain with a node per layer (two for psu_lif) ...
    types = {k: type(n).__name__ for k, n in graph.nodes.items()}
    self.assertEqual(types, {
        "input": "Input", "linear_0": "Affine", "lif_1": "LIF",
        "linear_2": "Linear", "cuba_lif_3": "CubaLIF", "scale_4": "Scale",
        "if_5": "IF", "psu_lif_6": "LI", "psu_lif_6_threshold": "Threshold",
        "li_7": "LI", "output": "Output"})
    keys = list(types)
    self.assertEqual(graph.edges, list(zip(keys[:-1], keys[1:])))
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"],
                                  [D_IN])
    np.testing.assert_array_equal(
        graph.nodes["output"].output_type["output"], [HIDDEN])
    self.assertEqual(graph.metadata["dt"], dt)
    # ... weights in NIR's (out, in) orientation ...
    lin0, lin2 = params[f"{PREFIX}/linear_0"], params[f"{PREFIX}/linear_2"]
    np.testing.assert_array_equal(graph.nodes["linear_0"].weight,
                                  np.asarray(lin0["w"]).T)
    np.testing.assert_array_equal(graph.nodes["linear_0"].bias, lin0["b"])
    np.testing.assert_array_equal(graph.nodes["linear_2"].weight,
                                  np.asarray(lin2["w"]).T)
    # ... and time constants tau = dt / (1 - decay) with unit Euler gain.
    f32 = lambda v: float(np.float32(v))
    lif = graph.nodes["lif_1"]
    np.testing.assert_allclose(lif.tau, dt / (1 - f32(0.9)), **tol.F64)
    np.testing.assert_allclose(lif.r * dt / lif.tau, 1.0, **tol.F64)
    np.testing.assert_array_equal(lif.v_threshold, np.full(HIDDEN, f32(0.8)))
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(lif.v_reset, 0.0)
    cuba = graph.nodes["cuba_lif_3"]
    np.testing.assert_allclose(cuba.tau_syn, dt / 0.5, **tol.F64)
    np.testing.assert_allclose(cuba.tau_mem, dt / (1 - PER_UNIT.astype(
        np.float64)), **tol.F64)
    np.testing.assert_allclose(cuba.w_in * dt / cuba.tau_syn, 1.0, **tol.F64)
    np.testing.assert_allclose(cuba.r * dt / cuba.tau_mem, 1.0, **tol.F64)
    np.testing.assert_array_equal(graph.nodes["scale_4"].scale, 1.0)
    np.testing.assert_allclose(graph.nodes["if_5"].r * dt, 1.0, **tol.F64)
    np.testing.assert_array_equal(graph.nodes["if_5"].v_threshold, 2.0)
    np.testing.assert_allclose(graph.nodes["psu_lif_6"].tau,
                               dt / (1 - f32(0.6)), **tol.F64)
    np.testing.assert_array_equal(
        graph.nodes["psu_lif_6_threshold"].threshold, f32(0.3))
    np.testing.assert_allclose(graph.nodes["li_7"].tau, dt / (1 - f32(0.75)),
                               **tol.F64)

  def test_li_with_every_beta_one_is_an_integrator(self):
    # Given a perfect-integrator readout.
    spec = [("linear", {"output_size": D_OUT}), ("li", {"beta": 1.0})]
    _, params = _init(spec)
    # When it is exported at dt = 0.5.
    graph = nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=0.5)
    # Then it is NIR's I node with Euler gain r dt = 1.
    self.assertIsInstance(graph.nodes["li_1"], nir.I)
    np.testing.assert_array_equal(graph.nodes["li_1"].r, 2.0)

  def test_custom_module_name(self):
    # Given a model built under another module name.
    spec = [("linear", {"output_size": 3})]
    _, params = _init(spec, name="net")
    self.assertEqual(list(params), ["net/linear_0"])
    # When it is exported with that name, then its weights are found.
    graph = nir_lib.to_nir(params, spec, input_shape=(D_IN,), name="net")
    np.testing.assert_array_equal(graph.nodes["linear_0"].weight,
                                  np.asarray(params["net/linear_0"]["w"]).T)
    # And with the default name it is a clear error.
    with self.assertRaisesRegex(ValueError, "spiking_sequential/linear_0"):
      nir_lib.to_nir(params, spec, input_shape=(D_IN,))


def _real_s5(params):
  layer = dict(params[f"{PREFIX}/s5_1"])
  layer["lambda_im"] = jnp.zeros_like(layer["lambda_im"])
  return {**params, f"{PREFIX}/s5_1": layer}


def _real_lru(params):
  layer = dict(params[f"{PREFIX}/lru_1"])
  # theta = exp(theta_log) = 0: every eigenvalue real.
  layer["theta_log"] = jnp.full_like(layer["theta_log"], -jnp.inf)
  return {**params, f"{PREFIX}/lru_1": layer}


SSM_CASES = {
    "s5_conj_sym": (("s5", {"state_size": 4}), _real_s5),
    "s5_full": (("s5", {"state_size": 3, "conj_sym": False,
                        "discretization": "bilinear"}), _real_s5),
    "lru": (("lru", {"state_size": 3, "r_min": 0.5}), _real_lru),
}


class SSMExportTest(parameterized.TestCase):

  @parameterized.parameters(*SSM_CASES)
  def test_real_eigenvalue_ssm_exports_as_an_li_chain(self, case):
    # Given a linear layer and an SSM whose eigenvalues are made real.
    layer, make_real = SSM_CASES[case]
    spec = [("linear", {"output_size": D_OUT}), layer]
    model, params = _init(spec)
    params = make_real(params)
    kind = layer[0]
    # When it is exported, written, read and imported.
    graph = _write_and_read(
        nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=0.1))
    imported, params2, spec2 = nir_lib.from_nir(graph)
    # Then the SSM is Linear -> LI -> Linear, its LI decays are the real
    # discrete eigenvalues (twice: real and imaginary parts) and D
    # memoryless units (tau = dt) carry the skip ...
    types = [type(graph.nodes[k]).__name__ for k in _walk(graph)]
    self.assertEqual(types, ["Affine", "Linear", "LI", "Linear"])
    li = graph.nodes[f"{kind}_1_li"]
    n = (li.tau.size - D_OUT) // 2
    decay = 1 - 0.1 / li.tau
    np.testing.assert_allclose(decay[:n], decay[n:2 * n], **tol.F64)
    np.testing.assert_allclose(li.tau[2 * n:], 0.1, **tol.F64)
    self.assertTrue(np.all((decay[:n] > 0) & (decay[:n] < 1)))
    self.assertEqual([k for k, _ in spec2], ["linear", "linear", "li",
                                             "linear"])
    # ... and the imported chain computes the SSM's outputs.
    x = jax.random.normal(jax.random.PRNGKey(3), (B, T, D_IN))
    y = jax.jit(model.apply)(params, x)
    y2 = jax.jit(imported.apply)(params2, x)
    self.assertGreater(float(jnp.std(y)), 0.1)
    np.testing.assert_allclose(y2, y, **tol.scan_tol(T))


# ----------------------------------------------------------------------------
# Import of graphs written by other tools, and dt handling.
# ----------------------------------------------------------------------------


def _chain_graph(*nodes, width=D_IN, type_check=True):
  """Input -> nodes (key, node) ... -> Output."""
  keys = ["input", *(k for k, _ in nodes), "output"]
  last = nodes[-1][1]
  out_width = int(np.ravel(last.output_type["output"])[0])
  graph_nodes = {"input": nir.Input(input_type=np.array([width])),
                 **dict(nodes),
                 "output": nir.Output(output_type=np.array([out_width]))}
  return nir.NIRGraph(nodes=graph_nodes, edges=list(zip(keys[:-1], keys[1:])),
                      type_check=type_check)


def _affine(rng, n_in, n_out):
  return nir.Affine(
      weight=rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(
          np.float32),
      bias=rng.normal(0, 0.1, n_out).astype(np.float32))


class ForeignGraphTest(parameterized.TestCase):

  @parameterized.parameters("lif", "cuba_lif", "integrator")
  def test_non_unit_input_gain_becomes_a_scale_layer(self, neuron):
    # Given a graph in Norse's convention (r = 1, so the Euler input gain is
    # dt / tau, not 1), float32 parameters, dt = 1e-3.
    rng = np.random.default_rng(zlib.crc32(neuron.encode()))
    dt, n = 1e-3, HIDDEN
    tau = rng.uniform(2e-3, 2e-2, n).astype(np.float32)
    zeros, ones = np.zeros(n, np.float32), np.ones(n, np.float32)
    if neuron == "lif":
      node = nir.LIF(tau=tau, r=ones, v_leak=zeros, v_threshold=ones * 0.5)
    elif neuron == "cuba_lif":
      node = nir.CubaLIF(tau_syn=tau[::-1].copy(), tau_mem=tau, r=ones,
                         v_leak=zeros, v_threshold=ones * 0.5)
    else:
      node = nir.I(r=ones)
    graph = _chain_graph(("fc", _affine(rng, D_IN, n)), ("neuron", node))
    # When it is imported.
    model, params, spec = nir_lib.from_nir(graph, dt=dt)
    # Then a scale layer with the gain precedes the neuron ...
    kinds = [k for k, _ in spec]
    self.assertEqual(kinds[:2], ["linear", "scale"])
    self.assertEqual(kinds[2], "li" if neuron == "integrator" else neuron)
    # ... and the model reproduces the float64 Euler simulation of the graph.
    x, sim = refs.draw_away_from_threshold(
        rng, (B, T, D_IN), lambda x: simulate_nir(graph, x, dt), loc=0.5)
    y, states = jax.jit(lambda p, x: model.apply(p, x, return_states=True))(
        params, jnp.asarray(x))
    if neuron == "integrator":
      np.testing.assert_allclose(y, sim.outputs, **tol.F32_VS_F64)
    else:
      np.testing.assert_array_equal(y, sim.outputs)
      self.assertGreater(float(np.sum(sim.outputs)), 0)
    np.testing.assert_allclose(states[2].v, sim.states["neuron"]["v"],
                               **tol.F32_VS_F64)

  def test_explicit_dt_overrides_the_metadata(self):
    # Given a LIF exported at dt = 0.5.
    spec = [("linear", {"output_size": HIDDEN}),
            ("lif", {"beta": PER_UNIT, "reset": "zero"})]
    _, params = _init(spec)
    graph = nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=0.5)
    # When it is imported at dt = 0.25.
    _, params2, spec2 = nir_lib.from_nir(graph, dt=0.25)
    # Then the decay is Euler's at the new step, 1 - 0.25 / tau, and the
    # input gain r dt / tau = 1/2 becomes a scale layer.
    self.assertEqual([k for k, _ in spec2], ["linear", "scale", "lif"])
    tau = 0.5 / (1 - PER_UNIT.astype(np.float64))
    np.testing.assert_allclose(params2[f"{PREFIX}/lif_2"]["beta"],
                               1 - 0.25 / tau, **tol.F32_VS_F64)
    np.testing.assert_allclose(params2[f"{PREFIX}/scale_1"]["scale"], 0.5,
                               **tol.F32_VS_F64)

  def test_graph_without_metadata_uses_dt_one(self):
    # Given a graph with no dt in its metadata.
    graph = _chain_graph(
        ("li", nir.LI(tau=np.full(D_IN, 4.0), r=np.full(D_IN, 4.0),
                      v_leak=np.zeros(D_IN))))
    # When it is imported without a dt, then beta = 1 - 1 / tau.
    _, params, spec = nir_lib.from_nir(graph)
    self.assertEqual([k for k, _ in spec], ["li"])
    np.testing.assert_allclose(params[f"{PREFIX}/li_0"]["beta"], 0.75,
                               **tol.F32_VS_F64)


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------

# name -> (second layer, params fix-up or None, error type, message regex).
EXPORT_ERRORS = {
    "alif": (("alif", {}), None, TypeError, "alif_1.*ALIF"),
    "lif_subtract": (("lif", {}), None, ValueError,
                     "lif_1.*reset='subtract'"),
    "if_subtract": (("if", {}), None, ValueError, "if_1.*subtract"),
    "cuba_lif_subtract": (("cuba_lif", {"reset": "subtract"}), None,
                          ValueError, "cuba_lif_1.*subtract"),
    "lif_beta_one_on_some_units": (
        ("lif", {"beta": np.array([1.0, 0.5, 0.5, 0.5, 0.5]),
                 "reset": "zero"}), None, ValueError, "lif_1.*infinite"),
    "li_learned_beta_one_on_some_units": (
        ("li", {"learn_beta": True}),
        lambda p: p.update(beta=jnp.array([0.5, 1.2, 0.5, 0.5, 0.5])),
        ValueError, "li_1.*beta = 1 on 1 of 5"),
    "cuba_lif_alpha_one": (
        ("cuba_lif", {"alpha": 1.0, "reset": "zero"}), None, ValueError,
        "cuba_lif_1.*alpha = 1"),
    "lif_bad_beta": (("lif", {"beta": 1.5, "reset": "zero"}), None,
                     ValueError, "lif_1.*beta must lie in"),
    "s5_complex": (("s5", {"state_size": 4}), None, ValueError,
                   "s5_1.*complex eigenvalues"),
    "lru_complex": (("lru", {"state_size": 4}), None, ValueError,
                    "lru_1.*complex eigenvalues"),
    "s5_bidirectional": (("s5", {"state_size": 4, "bidirectional": True}),
                         None, ValueError, "s5_1.*bidirectional"),
}


class ExportErrorTest(parameterized.TestCase):

  @parameterized.parameters(*EXPORT_ERRORS)
  def test_unsupported_layer_raises_naming_it(self, case):
    # Given a network whose second layer NIR cannot express (or that is
    # malformed).
    layer, fix, error, regex = EXPORT_ERRORS[case]
    spec = [("linear", {"output_size": D_OUT}), layer]
    _, params = _init(spec[:1] if case == "lif_bad_beta" else spec)
    if fix is not None:
      params = {k: dict(v) for k, v in params.items()}
      fix(params[f"{PREFIX}/{layer[0]}_1"])
    # When it is exported, then a clear error names the layer.
    with self.assertRaisesRegex(error, regex):
      nir_lib.to_nir(params, spec, input_shape=(D_IN,))

  @parameterized.named_parameters(
      ("not_a_sequence", "lif", "non-empty sequence"),
      ("empty", [], "non-empty sequence"),
      ("not_a_pair", [("lif",)], r"spec\[0\] must be a \(kind, kwargs\)"),
      ("unknown_kind", [("conv", {})], "unknown layer kind 'conv'"),
      ("kwargs_not_mapping", [("lif", 0.9)], "must be a mapping"),
      ("name", [("lif", {"name": "x"})], "do not pass `name`"),
      ("hidden_shape", [("li", {"hidden_shape": 3})],
       "do not pass `hidden_shape`"),
      ("linear_without_size", [("linear", {})], "output_size"),
      ("scale_with_kwargs", [("scale", {"init": 1})], "takes no kwargs"),
  )
  def test_bad_spec(self, spec, regex):
    with self.assertRaisesRegex(ValueError, regex):
      nir_lib.build_sequential(spec)
    with self.assertRaisesRegex(ValueError, regex):
      nir_lib.to_nir({}, spec, input_shape=(D_IN,))

  @parameterized.named_parameters(
      ("two_dims", {"input_shape": (2, 3)}, ValueError, "input_shape"),
      ("zero_width", {"input_shape": 0}, ValueError, "input_shape"),
      ("dt_zero", {"dt": 0.0}, ValueError, "dt must be"),
      ("dt_nan", {"dt": float("nan")}, ValueError, "dt must be"),
      ("dt_bool", {"dt": True}, ValueError, "dt must be"),
      ("wrong_width", {"input_shape": (D_IN + 1,)}, ValueError,
       r"`w` has shape \(6, 3\)"),
  )
  def test_bad_arguments(self, overrides, error, regex):
    spec = [("linear", {"output_size": 3})]
    _, params = _init(spec)
    kwargs = {"input_shape": (D_IN,), **overrides}
    with self.assertRaisesRegex(error, regex):
      nir_lib.to_nir(params, spec, **kwargs)

  def test_params_not_a_mapping(self):
    with self.assertRaisesRegex(TypeError, "`params` must be"):
      nir_lib.to_nir([1], [("linear", {"output_size": 3})],
                     input_shape=(D_IN,))


def _lif(n=D_IN, **overrides):
  fields = dict(tau=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n),
                v_threshold=np.ones(n))
  fields.update(overrides)
  return nir.LIF(**fields)


def _import_error_cases():
  rng = np.random.default_rng(7)
  sub = _chain_graph(("lif", _lif()))
  branch = nir.NIRGraph(
      nodes={"input": nir.Input(input_type=np.array([D_IN])),
             "a": _lif(), "b": _lif(),
             "output": nir.Output(output_type=np.array([D_IN]))},
      edges=[("input", "a"), ("input", "b"), ("a", "output"),
             ("b", "output")])
  dangling = nir.NIRGraph(
      nodes={"input": nir.Input(input_type=np.array([D_IN])), "a": _lif(),
             "loose": _lif(),
             "output": nir.Output(output_type=np.array([D_IN]))},
      edges=[("input", "a"), ("a", "output")], type_check=False)
  return {
      "cuba_li": (_chain_graph(("syn", nir.CubaLI(
          tau_syn=np.ones(D_IN) * 2, tau_mem=np.ones(D_IN) * 2,
          r=np.ones(D_IN), v_leak=np.zeros(D_IN)))), TypeError,
                  "'syn' has type CubaLI"),
      "delay": (_chain_graph(("wait", nir.Delay(delay=np.ones(D_IN)))),
                TypeError, "'wait' has type Delay"),
      "nested_graph": (_chain_graph(("rnn", sub)), TypeError,
                       "'rnn' is a nested NIRGraph"),
      "lonely_threshold": (_chain_graph(
          ("fc", _affine(rng, D_IN, D_IN)),
          ("thr", nir.Threshold(threshold=np.ones(D_IN)))), TypeError,
                           "'thr' is a Threshold"),
      "branching": (branch, ValueError, "not a feed-forward chain"),
      "dangling": (dangling, ValueError, r"\['loose'\] are not on"),
      "v_leak": (_chain_graph(("n", _lif(v_leak=np.full(D_IN, 0.1)))),
                 ValueError, "'n': `v_leak` must be 0"),
      "v_reset": (_chain_graph(("n", _lif(v_reset=np.full(D_IN, -1.0)))),
                  ValueError, "'n': `v_reset` must be 0"),
      "per_unit_threshold": (_chain_graph(
          ("n", _lif(v_threshold=np.linspace(1, 2, D_IN)))), ValueError,
                             "'n': `v_threshold` must be one"),
      "tau_below_dt": (_chain_graph(("n", _lif(tau=np.full(D_IN, 0.5)))),
                       ValueError, "'n': `tau` must be >= dt = 1.0"),
      "weight_width": (_chain_graph(
          ("fc", nir.Linear(weight=np.ones((3, D_IN + 1), np.float32))),
          type_check=False), ValueError, r"'fc': weight has shape \(3, 7\)"),
      "only_io": (nir.NIRGraph(
          nodes={"input": nir.Input(input_type=np.array([D_IN])),
                 "output": nir.Output(output_type=np.array([D_IN]))},
          edges=[("input", "output")]), ValueError, "no nodes between"),
  }


IMPORT_ERRORS = _import_error_cases()


class ImportErrorTest(parameterized.TestCase):

  @parameterized.parameters(*IMPORT_ERRORS)
  def test_unsupported_graph_raises_naming_the_node(self, case):
    graph, error, regex = IMPORT_ERRORS[case]
    with self.assertRaisesRegex(error, regex):
      nir_lib.from_nir(graph)

  def test_not_a_graph(self):
    with self.assertRaisesRegex(TypeError, "must be a nir.NIRGraph"):
      nir_lib.from_nir({"nodes": {}})

  def test_bad_dt(self):
    with self.assertRaisesRegex(ValueError, "dt must be"):
      nir_lib.from_nir(_chain_graph(("n", _lif())), dt=-1.0)


# ----------------------------------------------------------------------------
# The model itself.
# ----------------------------------------------------------------------------

GOLDEN_SPEC = [("linear", {"output_size": HIDDEN}),
               ("lif", {"learn_beta": True}),
               ("scale", {}),
               ("linear", {"output_size": D_OUT, "with_bias": False}),
               ("cuba_lif", {"learn_alpha": True, "learn_beta": True}),
               ("psu_lif", {"learn_beta": True}),
               ("li", {"learn_beta": True})]


class SpikingSequentialTest(parameterized.TestCase):

  def test_layouts_and_states(self):
    # Given the golden spec and random inputs.
    model, params = _init(GOLDEN_SPEC)
    x = jax.random.normal(jax.random.PRNGKey(1), (B, T, D_IN))
    apply = jax.jit(model.apply, static_argnames=("time_major",
                                                       "return_states"))
    # When it runs batch-major and time-major.
    y, states = apply(params, x, return_states=True)
    y_tm, states_tm = apply(params, x.swapaxes(0, 1), time_major=True,
                            return_states=True)
    # Then the layouts agree, and each neuron layer's state has one entry
    # per step; linear and scale layers have none.
    chex.assert_shape(y, (B, T, D_OUT))
    np.testing.assert_allclose(y_tm.swapaxes(0, 1), y, **tol.F32_SCAN_SHORT)
    self.assertEqual(len(states), len(GOLDEN_SPEC))
    for (kind, _), state, state_tm in zip(GOLDEN_SPEC, states, states_tm):
      if kind in ("linear", "scale"):
        self.assertEqual(state, ())
        continue
      for got, got_tm in zip(state, state_tm):
        self.assertEqual(got.shape[:2], (B, T))
        np.testing.assert_allclose(got_tm.swapaxes(0, 1), got,
                                   **tol.F32_SCAN_SHORT)
    # And the li readout's output is its membrane.
    np.testing.assert_array_equal(y, states[-1].v)
    np.testing.assert_array_equal(apply(params, x), y)

  @parameterized.named_parameters(
      ("rank_two", (B, D_IN), np.float32, ValueError, "rank 3"),
      ("integer", (B, T, D_IN), np.int32, TypeError, "floating"),
  )
  def test_bad_input(self, shape, dtype, error, regex):
    model = _transform([("linear", {"output_size": 3})])
    with self.assertRaisesRegex(error, regex):
      model.init(jax.random.PRNGKey(0), np.zeros(shape, dtype))


if __name__ == "__main__":
  absltest.main()
