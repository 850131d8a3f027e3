"""NIR interchange: export feed-forward spiking networks to NIR and back.

NIR, the Neuromorphic Intermediate Representation (Pedersen et al. 2024,
"Neuromorphic intermediate representation: A unified instruction set for
interoperable brain-inspired computing", Nature Communications 15:8122), is a
graph of continuous-time primitives that simulators and neuromorphic chips
read and write. It needs the `nir` package (with `h5py` for files), imported
only when a NIR function is called.

  sequential  the network description: a spec of `(kind, kwargs)` layers,
              `SpikingSequential` and `build_sequential`
  exporter    `to_nir(params, spec, *, input_shape, dt=1.0, name=None)`
  importer    `from_nir(graph, *, dt=None, name=None)` ->
              `(transformed, params, spec)`

  spec = [("linear", {"output_size": 64}),
          ("lif", {"beta": 0.9, "reset": "zero", "learn_beta": True}),
          ("linear", {"output_size": 10}),
          ("li", {"beta": 0.8})]
  model = hk.without_apply_rng(hk.transform(build_sequential(spec)))
  params = model.init(key, x)                      # x: (B, T, 32)
  graph = to_nir(params, spec, input_shape=(32,), dt=1e-3)
  model2, params2, spec2 = from_nir(graph)         # dt from the metadata

What the mapping means (forward Euler at step dt), node by node, and what
raises: docs/nir.md.
"""

from spike_ssm.nir.exporter import to_nir
from spike_ssm.nir.importer import from_nir
from spike_ssm.nir.sequential import build_sequential
from spike_ssm.nir.sequential import DEFAULT_NAME
from spike_ssm.nir.sequential import LAYER_KINDS
from spike_ssm.nir.sequential import layer_name
from spike_ssm.nir.sequential import SpikingSequential

__all__ = [
    "DEFAULT_NAME",
    "LAYER_KINDS",
    "SpikingSequential",
    "build_sequential",
    "from_nir",
    "layer_name",
    "to_nir",
]
