"""Every public module, described once for the shared contract tests.

The idea of Haiku's `integration/descriptors.py`: a list says, for each
public module, how to build it inside a transform, an example input and
how to call it on a sequence. `contracts_test.py` runs the checks every
module owes (golden parameter tree, the bfloat16 contract, jit against
eager, `__call__` against scanning `step`) once over `ALL_MODULES`, so the
per-module files test only what is particular to a module, and a new module
gets the contract by adding one entry here (a test fails until it is listed
here or in `IGNORED`).

The descriptors build modules through the public API only
(`spike_ssm.ssm.S5(...)`, ...), never through the zoo's names.
"""

from collections.abc import Callable
import dataclasses
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm import layers
from spike_ssm import neurons
from spike_ssm import nir as nir_lib
from spike_ssm import ssm
from spike_ssm.experimental import compress
from spike_ssm.experimental import phasor
from spike_ssm.experimental import raven
from spike_ssm.experimental import stochastic
from spike_ssm.models import backbone
from tests import tolerances as tol


def _call(module, x):
  return module(x)


def _run(core, x):
  """Unrolls an `hk.RNNCore` over (B, T, ...): (outputs, final state)."""
  return neurons.run(core, x)


def _parallel(core, x):
  """A reset-free neuron's parallel mode: (outputs, final state)."""
  return core.parallel(x)


def _masked(module, x):
  """`module(x, mask=...)` with the second example padded after T // 3."""
  lengths = jnp.asarray([x.shape[1], max(1, x.shape[1] // 3)])
  mask = (jnp.arange(x.shape[1])[None] < lengths[:, None]).astype(x.dtype)
  return module(x, mask=mask)


def _normal(shape):
  def make(rng):
    return rng.normal(size=shape).astype(np.float32)
  return make


@dataclasses.dataclass(frozen=True)
class ModuleDescriptor:
  """How to build, feed and call one public module.

  Attributes:
    name: test id.
    create: builds the module; called inside a transform.
    shape: the example input's shape, batch-major (for a core, (B, T, ...)).
    golden: `tests/golden/<golden>.json`, the pinned parameter tree.
    apply: `(module, inputs) -> result`, how a sequence goes through it.
    outputs: `result -> (outputs, carry)`: what follows the input dtype
      and the final recurrent state (None when `apply` returns none).
    streaming: the module has `initial_state(batch_size)` and
      `step(x_t, state) -> (y_t, state)`, and `__call__` must equal
      scanning `step` from `initial_state` over time.
    rng: `apply` draws random numbers (from `hk.next_rng_key()`).
    with_state: built with `hk.transform_with_state` (running statistics).
    make_input: `np.random.Generator -> inputs` when a random normal input
      of `shape` does not fit (tokens, spike trains, binary spikes).
    floating: the input is a floating array (the bfloat16 checks apply).
    bf16_output: the dtype of the outputs for a bfloat16 input: bfloat16
      (they follow the input) unless the module says otherwise.
    bf16_tol: where set, a bfloat16 input gives the float32 result of the
      same (bfloat16-representable) input to this tolerance: the module
      computes in float32 and only rounds its output.
    tol: tolerance of jit against eager and of `__call__` against `step`.
    checks_input: a sequence layer that rejects, naming the argument, an
      input that is not rank 3, not floating, or of another width than its
      parameters (the checks shared by the SSM layers).
  """
  name: str
  create: Callable[[], Any]
  shape: tuple[int, ...]
  golden: str | None = None
  apply: Callable[[Any, Any], Any] = _call
  outputs: Callable[[Any], tuple[Any, Any]] = lambda r: (r, None)
  streaming: bool = False
  rng: bool = False
  with_state: bool = False
  make_input: Callable[[np.random.Generator], Any] | None = None
  floating: bool = True
  bf16_output: Any = jnp.bfloat16
  bf16_tol: dict[str, float] | None = None
  tol: dict[str, float] = dataclasses.field(
      default_factory=lambda: tol.F32_SCAN_SHORT)
  checks_input: bool = False

  def example(self, seed: int = 0, length: int | None = None):
    """The example input (float32 unless `make_input` says otherwise).

    Args:
      seed: of the draw.
      length: a sequence length other than `shape[1]` (normal inputs).
    """
    rng = np.random.default_rng(seed)
    shape = self.shape
    if length is not None:
      shape = shape[:1] + (length,) + shape[2:]
    make = self.make_input or _normal(shape)
    return jax.tree.map(jnp.asarray, make(rng))

  def transform(self, method: Callable[[Any, Any], Any] | None = None):
    """`(init, apply)` of `method(module, inputs)` (default: `self.apply`).

    `apply(params, state, rng, inputs)` has one signature for every
    descriptor; `state` is `{}` without `with_state`.
    """
    method = method or self.apply

    def forward(inputs):
      return method(self.create(), inputs)

    if self.with_state:
      f = hk.transform_with_state(forward)
      return f.init, f.apply

    f = hk.transform(forward)

    def init(rng, inputs):
      return f.init(rng, inputs), {}

    def apply(params, state, rng, inputs):
      return f.apply(params, rng, inputs), state

    return init, apply


# Modules whose outputs are float32 whatever the input dtype: the seed
# layers and the phasor modules meet float32 parameters without casting
# back, and the router's gates feed a float32 routed scan. (Under a policy
# every output takes the policy's output dtype.)
_PROMOTES = jnp.float32

# Sizes: small enough that every check compiles in about a second.
B, T, D = 2, 5, 3


def _tokens(rng):
  """A SequenceModel batch of token ids with ragged lengths."""
  lengths = np.asarray([14, 9, 4], np.int32)
  x = rng.integers(1, 12, size=(3, 14)).astype(np.int32)
  for i, n in enumerate(lengths):
    x[i, n:] = 0
  return {"inputs": x, "lengths": lengths,
          "targets": np.zeros((3,), np.int32)}


def _binary(shape):
  def make(rng):
    return (rng.random(shape) < 0.5).astype(np.float32)
  return make


def _spike_trains(period, shape):
  """One spike per neuron per cycle: trains (period, *shape) of phases."""
  def make(rng):
    theta = rng.uniform(-np.pi, np.pi, shape).astype(np.float32)
    return np.asarray(phasor.phase_to_spikes(theta, period))
  return make


# ----------------------------------------------------------------------------
# Sequence layers: (B, T, D) -> (B, T, D).
# ----------------------------------------------------------------------------

_FAST = dict(dt_min=0.05, dt_max=0.5)


def _Layer(*args, **kwargs):  # pylint: disable=invalid-name
  """A descriptor of a layer with the shared input checks."""
  return ModuleDescriptor(*args, checks_input=True, **kwargs)


SEQUENCE_LAYERS = (
    _Layer(
        "S5", lambda: ssm.S5(4), (B, T, D), "s5", streaming=True,
        bf16_tol=tol.BF16_INPUT),
    _Layer(
        "S5_bidirectional", lambda: ssm.S5(4, bidirectional=True), (B, T, D),
        "s5_bidirectional"),
    _Layer(
        "LRU", lambda: ssm.LRU(4), (B, T, D), "lru", streaming=True,
        bf16_tol=tol.BF16_INPUT),
    _Layer(
        "S4D", lambda: ssm.S4D(4), (B, T, D), "s4d", streaming=True,
        bf16_tol=tol.BF16_INPUT),
    _Layer(
        "S4D_bidirectional", lambda: ssm.S4D(4, bidirectional=True),
        (B, T, D), "s4d_bidirectionalTrue"),
    _Layer(
        "S4", lambda: ssm.S4(4), (B, T, D), "s4", streaming=True),
    _Layer(
        "S4_rank2_bidirectional",
        lambda: ssm.S4(4, rank=2, bidirectional=True), (B, T, D),
        "s4_bidirectionalTrue_rank2"),
    _Layer(
        "Mamba", lambda: ssm.Mamba(4, **_FAST), (B, T, D), "mamba",
        streaming=True, bf16_tol=tol.BF16_INPUT),
    _Layer(
        "MambaBlock", lambda: ssm.MambaBlock(3, **_FAST), (B, T, D),
        "mamba_block", streaming=True, bf16_tol=tol.BF16_INPUT),
    _Layer(
        "ChunkedSSM_lru_lru",
        lambda: ssm.ChunkedSSM(lambda: ssm.LRU(4, r_min=0.5, r_max=0.95),
                               lambda: ssm.LRU(4, r_min=0.5, r_max=0.95),
                               chunk_size=2),
        (B, 4, D), "chunked_lru_lru", streaming=True),
    _Layer(
        "ChunkedSSM_mamba_lru",
        lambda: ssm.ChunkedSSM(lambda: ssm.MambaBlock(3, **_FAST),
                               lambda: ssm.LRU(4, r_min=0.5, r_max=0.95),
                               chunk_size=2),
        (B, 4, D), "chunked_mamba_lru", streaming=True),
    # Evaluation (no rng): the exact iterative soma, which `step` streams.
    _Layer(
        "SpikingSSM", lambda: ssm.SpikingSSM(8), (2, 24, 5), "spiking_ssm",
        streaming=True),
    _Layer(
        "SpikingSSM_bidirectional_no_glu",
        lambda: ssm.SpikingSSM(8, bidirectional=True, glu=False), (2, 24, 5),
        "spiking_ssm_bidirectional"),
    _Layer(
        "LoongSpike", lambda: ssm.LoongSpike(8), (2, 24, 5), "loongspike",
        streaming=True),
    # The seed layers return (y, state) and take the state as an argument.
    ModuleDescriptor(
        "SpikeSSM",
        lambda: ssm.SpikeSSM(5, 4, 16, sparsity_level=0.5, tau=3.0,
                             noise_std=0.05),
        (3, 12, 5), "spike_ssm", outputs=lambda r: r, streaming=True,
        bf16_output=_PROMOTES),
    ModuleDescriptor(
        "CapibaraJAXSSM_same",
        lambda: ssm.CapibaraJAXSSM(
            dict(state_dim=6, input_dim=4, output_dim=4, conv_dim=3), 0.25),
        (3, 10, 4), "capibara_jaxssm_same", streaming=True,
        bf16_output=_PROMOTES),
    ModuleDescriptor(
        "CapibaraJAXSSM_proj",
        lambda: ssm.CapibaraJAXSSM(
            dict(state_dim=5, input_dim=4, output_dim=2, conv_dim=4), 0.25),
        (3, 10, 4), "capibara_jaxssm_proj", streaming=True,
        bf16_output=_PROMOTES),
    _Layer(
        "RavenRSM", lambda: raven.RavenRSM(4, 3, hard_top_k=2), (B, T, 6),
        "raven_rsm", streaming=True, bf16_tol=tol.BF16_INPUT),
    _Layer(
        "RavenRSM_default_slot_dim", lambda: raven.RavenRSM(4), (B, T, 6),
        "raven_rsm_default_slot_dim", bf16_tol=tol.BF16_INPUT),
    ModuleDescriptor(
        "SlotRouter", lambda: raven.SlotRouter(4, hard_top_k=1), (B, T, 6),
        "slot_router", bf16_output=_PROMOTES),
    # Spike trains are compared exactly; a flipped spike is a real error.
    _Layer(
        "SpikingSlotMemory", lambda: raven.SpikingSlotMemory(4, 3),
        (B, T, 6), "spiking_slot_memory", streaming=True),
    _Layer(
        "SpikingSlotMemory_readout",
        lambda: raven.SpikingSlotMemory(4, 3, readout=True), (B, T, 6),
        "spiking_slot_memory_readout", streaming=True),
)

# ----------------------------------------------------------------------------
# Neurons: cores unrolled by `neurons.run`, (B, T, N) -> (spikes, state).
# ----------------------------------------------------------------------------

_CORE = dict(apply=_run, outputs=lambda r: r)

NEURONS = (
    ModuleDescriptor("LIF", lambda: neurons.LIF(4), (B, 3, 4), "neurons_lif",
                     **_CORE),
    ModuleDescriptor(
        "LIF_learn_beta", lambda: neurons.LIF((2, 3), learn_beta=True),
        (B, 3, 2, 3), "neurons_lif_learn_beta", **_CORE),
    ModuleDescriptor("IF", lambda: neurons.IF(4), (B, 3, 4), "neurons_if",
                     **_CORE),
    ModuleDescriptor("LI", lambda: neurons.LI(4), (B, 3, 4), "neurons_li",
                     **_CORE),
    ModuleDescriptor(
        "LI_learn_beta", lambda: neurons.LI(4, learn_beta=True), (B, 3, 4),
        "neurons_li_learn_beta", **_CORE),
    ModuleDescriptor("CuBaLIF", lambda: neurons.CuBaLIF(4), (B, 3, 4),
                     "neurons_cuba_lif", **_CORE),
    ModuleDescriptor(
        "CuBaLIF_learn_alpha_beta",
        lambda: neurons.CuBaLIF(4, learn_alpha=True, learn_beta=True),
        (B, 3, 4), "neurons_cuba_lif_learn_alpha_beta", **_CORE),
    ModuleDescriptor("ALIF", lambda: neurons.ALIF(4), (B, 3, 4),
                     "neurons_alif", **_CORE),
    ModuleDescriptor(
        "ALIF_learn_beta", lambda: neurons.ALIF(4, learn_beta=True),
        (B, 3, 4), "neurons_alif_learn_beta", **_CORE),
    ModuleDescriptor(
        "PSU_LIF", lambda: neurons.PSU_LIF(4), (B, 3, 4), "neurons_psu_lif",
        apply=_parallel, outputs=lambda r: r),
    ModuleDescriptor(
        "PSU_LIF_learn_beta", lambda: neurons.PSU_LIF(4, learn_beta=True),
        (B, 3, 4), "neurons_psu_lif_learn_beta", apply=_parallel,
        outputs=lambda r: r),
    ModuleDescriptor(
        "ResonateFire", lambda: neurons.ResonateFire(4), (B, 3, 4),
        "neurons_resonate_fire", apply=_parallel, outputs=lambda r: r),
    ModuleDescriptor("SDN", lambda: neurons.SDN(8, 8), (1, 12, 2),
                     "neurons_sdn"),
    # The authors' released topology, with its batch norms (evaluation).
    ModuleDescriptor("SDN_released",
                     lambda: neurons.SDN(8, 8, topology="released"),
                     (1, 12, 2), "neurons_sdn_released", with_state=True),
    # Stochastic neurons: whole-sequence `__call__` and a streaming `step`
    # that draw the same spikes from the same key.
    ModuleDescriptor(
        "SPSN", lambda: stochastic.SPSN(4), (B, T, 4),
        "experimental_stochastic_spsn", streaming=True, rng=True),
    ModuleDescriptor(
        "StochasticAssociativeLIF",
        lambda: stochastic.StochasticAssociativeLIF(4), (B, T, 4),
        "experimental_stochastic_lif", streaming=True, rng=True),
    ModuleDescriptor(
        "StochasticAssociativeCuBaLIF",
        lambda: stochastic.StochasticAssociativeCuBaLIF(4), (B, T, 4),
        "experimental_stochastic_cuba", streaming=True, rng=True),
)

# ----------------------------------------------------------------------------
# Baselines, projections, phasors, models.
# ----------------------------------------------------------------------------

OTHER_MODULES = (
    # With padding: the second example's keys past a third are masked.
    ModuleDescriptor(
        "TransformerLayer", lambda: layers.TransformerLayer(2, qkv_dim=6),
        (B, T, 8), "transformer_layer", apply=_masked,
        bf16_tol=tol.BF16_PATH),
    ModuleDescriptor(
        "TransformerLayer_ffn",
        lambda: layers.TransformerLayer(2, qkv_dim=6, ffn_multiplier=4),
        (B, T, 8), "transformer_layer_ffn", apply=_masked,
        bf16_tol=tol.BF16_PATH),
    ModuleDescriptor("LSTMLayer", lambda: layers.LSTMLayer(6), (B, T, 4),
                     "lstm_layer", streaming=True),
    # hidden_size=None: the hidden width is the input's.
    ModuleDescriptor("LSTMLayer_input_width", layers.LSTMLayer, (B, T, 4),
                     streaming=True),
    ModuleDescriptor(
        "LSTMLayer_bidirectional",
        lambda: layers.LSTMLayer(6, bidirectional=True), (B, T, 4),
        "lstm_layer_bidirectional"),
    ModuleDescriptor("GRULayer", lambda: layers.GRULayer(6), (B, T, 4),
                     "gru_layer", streaming=True),
    ModuleDescriptor(
        "GRULayer_bidirectional",
        lambda: layers.GRULayer(6, bidirectional=True), (B, T, 4),
        "gru_layer_bidirectional"),
    ModuleDescriptor("Dense", lambda: layers.Dense(4), (B, T, 3), "dense"),
    ModuleDescriptor(
        "QuantLinear", lambda: layers.QuantLinear(6, mode="ternary"), (2, 9),
        "layers_quant_linear"),
    ModuleDescriptor(
        "PackedSpikeLinear", lambda: compress.PackedSpikeLinear(6),
        (2, 3, 10), "experimental_packed_spike_linear",
        make_input=_binary((2, 3, 10))),
    ModuleDescriptor("PhasorLinear", lambda: phasor.PhasorLinear(3), (2, 4),
                     "phasor_linear", bf16_output=_PROMOTES),
    ModuleDescriptor("PhasorMLP", lambda: phasor.PhasorMLP(4, 16, 2, 2),
                     (2, 4), "phasor_mlp", bf16_output=_PROMOTES),
    # One spike per neuron per cycle: the output is compared exactly.
    ModuleDescriptor(
        "SpikingPhasor",
        lambda: phasor.SpikingPhasor(phasor.PhasorLinear(4), 8), (8, 2, 3),
        "phasor_spiking_phasor", make_input=_spike_trains(8, (2, 3)),
        bf16_output=_PROMOTES),
    ModuleDescriptor(
        "SpikingSequential",
        lambda: nir_lib.SpikingSequential([
            ("linear", {"output_size": 8}),
            ("lif", {"learn_beta": True}),
            ("scale", {}),
            ("linear", {"output_size": 5, "with_bias": False}),
            ("cuba_lif", {"learn_alpha": True, "learn_beta": True}),
            ("psu_lif", {"learn_beta": True}),
            ("li", {"learn_beta": True})]),
        (3, 16, 6), "nir_spiking_sequential"),
    # S5's token encoder: token ids in, so no floating checks.
    ModuleDescriptor(
        "OneHotDense", lambda: backbone.OneHotDense(6, 20), (3, 14),
        "one_hot_dense",
        make_input=lambda rng: rng.integers(0, 20, (3, 14)).astype(np.int32),
        floating=False),
    ModuleDescriptor(
        "SequenceModel_lru",
        lambda: backbone.SequenceModel(
            num_classes=5, input_kind="tokens", vocab_size=12,
            pooling="masked_mean",
            backbone=dict(layer=lambda: ssm.LRU(8), num_layers=2, width=16,
                          norm="batch", glu="full_glu", dropout=0.0)),
        (3, 14), "sequence_model_lru",
        apply=lambda m, batch: m(batch, is_training=True), with_state=True,
        make_input=_tokens, floating=False),
    ModuleDescriptor(
        "SequenceModel_transformer",
        lambda: backbone.SequenceModel(
            num_classes=5, input_kind="tokens", vocab_size=12,
            pooling="masked_mean", positions="learned", max_len=32,
            backbone=dict(
                layer=lambda: layers.TransformerLayer(num_heads=2,
                                                      ffn_multiplier=2),
                num_layers=1, width=8, norm="none", glu="none")),
        (3, 14), "sequence_model_transformer",
        apply=lambda m, batch: m(batch, is_training=False), with_state=True,
        make_input=_tokens, floating=False),
)

ALL_MODULES = SEQUENCE_LAYERS + NEURONS + OTHER_MODULES

# Public modules with no descriptor of their own, and why.
IGNORED = {
    neurons.SpikingCore: "abstract base of the neuron cores",
    ssm.SequenceLayer: "abstract base of the sequence layers",
    backbone.SequenceBackbone: "the body of SequenceModel (described)",
    backbone.SequenceBatchNorm: "a norm inside SequenceModel (described)",
    backbone.GatedOutput: "the GLU inside SequenceModel (described)",
    backbone.PositionalEncoding: "inside SequenceModel_transformer",
    backbone.SpikingStage: "inside SequenceModel with a `neuron` option",
}
