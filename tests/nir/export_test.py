"""to_nir: nodes, parameters and the errors for what NIR cannot express."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import nir
import numpy as np

from spike_ssm import nir as nir_lib
from tests import tolerances as tol
from tests.nir import references as ref

B, T, D_IN, HIDDEN, D_OUT = ref.B, ref.T, ref.D_IN, ref.HIDDEN, ref.D_OUT
PREFIX = ref.PREFIX


class ExportTest(parameterized.TestCase):

  def test_nodes_edges_and_parameters_follow_the_euler_mapping(self):
    # Given a network with one layer of each exportable neuron kind.
    spec = [("linear", {"output_size": HIDDEN}),
            ("lif", {"beta": 0.9, "threshold": 0.8, "reset": "zero"}),
            ("linear", {"output_size": HIDDEN, "with_bias": False}),
            ("cuba_lif", {"alpha": 0.5, "beta": ref.PER_UNIT, "reset": "zero"}),
            ("scale", {}),
            ("if", {"threshold": 2.0, "reset": "zero"}),
            ("psu_lif", {"beta": 0.6, "threshold": 0.3}),
            ("li", {"beta": 0.75})]
    _, params = ref.init(spec)
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
    np.testing.assert_allclose(cuba.tau_mem, dt / (1 - ref.PER_UNIT.astype(
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
    _, params = ref.init(spec)
    # When it is exported at dt = 0.5.
    graph = nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=0.5)
    # Then it is NIR's I node with Euler gain r dt = 1.
    self.assertIsInstance(graph.nodes["li_1"], nir.I)
    np.testing.assert_array_equal(graph.nodes["li_1"].r, 2.0)

  def test_custom_module_name(self):
    # Given a model built under another module name.
    spec = [("linear", {"output_size": 3})]
    _, params = ref.init(spec, name="net")
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
    model, params = ref.init(spec)
    params = make_real(params)
    kind = layer[0]
    # When it is exported, written, read and imported.
    graph = ref.write_and_read(
        nir_lib.to_nir(params, spec, input_shape=(D_IN,), dt=0.1))
    imported, params2, spec2 = nir_lib.from_nir(graph)
    # Then the SSM is Linear -> LI -> Linear, its LI decays are the real
    # discrete eigenvalues (twice: real and imaginary parts) and D
    # memoryless units (tau = dt) carry the skip ...
    types = [type(graph.nodes[k]).__name__ for k in ref.walk(graph)]
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
    _, params = ref.init(spec[:1] if case == "lif_bad_beta" else spec)
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
    _, params = ref.init(spec)
    kwargs = {"input_shape": (D_IN,), **overrides}
    with self.assertRaisesRegex(error, regex):
      nir_lib.to_nir(params, spec, **kwargs)

  def test_params_not_a_mapping(self):
    with self.assertRaisesRegex(TypeError, "`params` must be"):
      nir_lib.to_nir([1], [("linear", {"output_size": 3})],
                     input_shape=(D_IN,))

if __name__ == "__main__":
  absltest.main()
