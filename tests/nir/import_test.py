"""from_nir: graphs written by other tools, dt handling and errors."""

import zlib

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import nir
import numpy as np

from spike_ssm import nir as nir_lib
from tests import tolerances as tol
from tests.neurons import references as refs
from tests.nir import references as ref

B, T, D_IN, HIDDEN, D_OUT = ref.B, ref.T, ref.D_IN, ref.HIDDEN, ref.D_OUT
PREFIX = ref.PREFIX


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
    graph = ref.chain_graph(("fc", ref.affine(rng, D_IN, n)), ("neuron", node))
    # When it is imported.
    model, params, spec = nir_lib.from_nir(graph, dt=dt)
    # Then a scale layer with the gain precedes the neuron ...
    kinds = [k for k, _ in spec]
    self.assertEqual(kinds[:2], ["linear", "scale"])
    self.assertEqual(kinds[2], "li" if neuron == "integrator" else neuron)
    # ... and the model reproduces the float64 Euler simulation of the graph.
    x, sim = refs.draw_away_from_threshold(
        rng, (B, T, D_IN), lambda x: ref.simulate_nir(graph, x, dt), loc=0.5)
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
            ("lif", {"beta": ref.PER_UNIT, "reset": "zero"})]
    _, params = ref.init(spec)
    graph = nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=0.5)
    # When it is imported at dt = 0.25.
    _, params2, spec2 = nir_lib.from_nir(graph, dt=0.25)
    # Then the decay is Euler's at the new step, 1 - 0.25 / tau, and the
    # input gain r dt / tau = 1/2 becomes a scale layer.
    self.assertEqual([k for k, _ in spec2], ["linear", "scale", "lif"])
    tau = 0.5 / (1 - ref.PER_UNIT.astype(np.float64))
    np.testing.assert_allclose(params2[f"{PREFIX}/lif_2"]["beta"],
                               1 - 0.25 / tau, **tol.F32_VS_F64)
    np.testing.assert_allclose(params2[f"{PREFIX}/scale_1"]["scale"], 0.5,
                               **tol.F32_VS_F64)

  def test_graph_without_metadata_uses_dt_one(self):
    # Given a graph with no dt in its metadata.
    graph = ref.chain_graph(
        ("li", nir.LI(tau=np.full(D_IN, 4.0), r=np.full(D_IN, 4.0),
                      v_leak=np.zeros(D_IN))))
    # When it is imported without a dt, then beta = 1 - 1 / tau.
    _, params, spec = nir_lib.from_nir(graph)
    self.assertEqual([k for k, _ in spec], ["li"])
    np.testing.assert_allclose(params[f"{PREFIX}/li_0"]["beta"], 0.75,
                               **tol.F32_VS_F64)


def _import_error_cases():
  chain, lif = ref.chain_graph, ref.lif_node
  rng = np.random.default_rng(7)
  sub = chain(("lif", lif()))
  branch = nir.NIRGraph(
      nodes={"input": nir.Input(input_type=np.array([D_IN])),
             "a": lif(), "b": lif(),
             "output": nir.Output(output_type=np.array([D_IN]))},
      edges=[("input", "a"), ("input", "b"), ("a", "output"),
             ("b", "output")])
  dangling = nir.NIRGraph(
      nodes={"input": nir.Input(input_type=np.array([D_IN])), "a": lif(),
             "loose": lif(),
             "output": nir.Output(output_type=np.array([D_IN]))},
      edges=[("input", "a"), ("a", "output")], type_check=False)
  return {
      "cuba_li": (chain(("syn", nir.CubaLI(
          tau_syn=np.ones(D_IN) * 2, tau_mem=np.ones(D_IN) * 2,
          r=np.ones(D_IN), v_leak=np.zeros(D_IN)))), TypeError,
                  "'syn' has type CubaLI"),
      "delay": (chain(("wait", nir.Delay(delay=np.ones(D_IN)))),
                TypeError, "'wait' has type Delay"),
      "nested_graph": (chain(("rnn", sub)), TypeError,
                       "'rnn' is a nested NIRGraph"),
      "lonely_threshold": (chain(
          ("fc", ref.affine(rng, D_IN, D_IN)),
          ("thr", nir.Threshold(threshold=np.ones(D_IN)))), TypeError,
                           "'thr' is a Threshold"),
      "branching": (branch, ValueError, "not a feed-forward chain"),
      "dangling": (dangling, ValueError, r"\['loose'\] are not on"),
      "v_leak": (chain(("n", lif(v_leak=np.full(D_IN, 0.1)))),
                 ValueError, "'n': `v_leak` must be 0"),
      "v_reset": (chain(("n", lif(v_reset=np.full(D_IN, -1.0)))),
                  ValueError, "'n': `v_reset` must be 0"),
      "per_unit_threshold": (chain(
          ("n", lif(v_threshold=np.linspace(1, 2, D_IN)))), ValueError,
                             "'n': `v_threshold` must be one"),
      "tau_below_dt": (chain(("n", lif(tau=np.full(D_IN, 0.5)))),
                       ValueError, "'n': `tau` must be >= dt = 1.0"),
      "weight_width": (chain(
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
      nir_lib.from_nir(ref.chain_graph(("n", ref.lif_node())), dt=-1.0)

if __name__ == "__main__":
  absltest.main()
