"""Round trips through NIR files: spikes, membranes and decays survive."""

import os
import zlib

from absl.testing import absltest
from absl.testing import parameterized
import chex
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


def _with_decays(params, rng, name, fields):
  """Replaces learnable decays with random per-unit values in [0.5, 0.95]."""
  params = {k: dict(v) for k, v in params.items()}
  for field in fields:
    shape = params[name][field].shape
    params[name][field] = jnp.asarray(
        rng.uniform(0.5, 0.95, size=shape).astype(np.float32))
  return params


# name -> (spec, dt, learnable decays to randomise: {layer: fields}).
ROUND_TRIPS = {
    "lif_zero_dt_half": (
        [("linear", {"output_size": HIDDEN}),
         ("lif", {"beta": ref.PER_UNIT, "threshold": 0.8, "reset": "zero"}),
         ("linear", {"output_size": D_OUT, "with_bias": False}),
         ("lif", {"beta": 0.7, "reset": "zero"})], 0.5, {}),
    "lif_learned_beta_dt_1e-3": (
        [("linear", {"output_size": HIDDEN}),
         ("lif", {"learn_beta": True, "reset": "zero"}),
         ("linear", {"output_size": D_OUT}),
         ("li", {"beta": ref.PER_UNIT_OUT})], 1e-3, {"lif_1": ("beta",)}),
    "if_dt_half": (
        [("linear", {"output_size": HIDDEN}),
         ("if", {"threshold": 1.5, "reset": "zero"}),
         ("linear", {"output_size": D_OUT}),
         ("if", {"reset": "zero"})], 0.5, {}),
    "cuba_lif_dt_1e-3": (
        [("linear", {"output_size": HIDDEN}),
         ("cuba_lif", {"alpha": ref.PER_UNIT[::-1], "beta": ref.PER_UNIT,
                       "threshold": 0.6, "reset": "zero"}),
         ("linear", {"output_size": D_OUT, "with_bias": False}),
         ("cuba_lif", {"learn_alpha": True, "learn_beta": True,
                       "threshold": 0.4, "reset": "zero"})], 1e-3,
        {"cuba_lif_3": ("alpha", "beta")}),
    "li_dt_2": (
        [("linear", {"output_size": HIDDEN}),
         ("li", {"beta": ref.PER_UNIT, "learn_beta": True}),
         ("linear", {"output_size": D_OUT}),
         ("li", {"beta": 1.0})], 2.0, {"li_1": ("beta",)}),
    "psu_lif_dt_half": (
        [("linear", {"output_size": HIDDEN}),
         ("psu_lif", {"beta": ref.PER_UNIT, "threshold": 1.2}),
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
    model, params = ref.init(spec, seed=zlib.crc32(case.encode()) % 1000)
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
        rng, (B, T, D_IN), lambda x: ref.simulate_nir(graph, x, dt), loc=0.5,
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

if __name__ == "__main__":
  absltest.main()
