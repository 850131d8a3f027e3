"""`run`: unroll a spiking core over a sequence."""

from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp

from spike_ssm.neurons import base

# Backends on which `run` takes a core's fused whole-sequence method. Measured
# with `python -m benchmarks.run --only=LIF` (T=1000 B=32 D=256):
#   cpu  2-core AMD EPYC, jax 0.10.2 (2026-12-04, three runs at load 3-4
#        from other jobs): fused fwd+bwd 0.33-0.38x Spyx's lax.scan,
#        forward 0.53-0.54x (the unfused hk.dynamic_unroll path: 1.03x
#        fwd+bwd);
#   gpu  NVIDIA H200, jax 0.11.2 (2026-12-04, benchmarks/results_gpu.json,
#        the fused code of that date): fused 36.9 ms vs Spyx 12.4 ms: its
#        in-place membrane writes and the separate spike pass cost more than
#        they save once every step is a kernel launch, so GPUs (and TPUs,
#        unmeasured) unroll the core.
FUSED_BACKENDS = ("cpu",)

# Steps per loop iteration when `run` unrolls a core with `hk.dynamic_unroll`
# (every core off `FUSED_BACKENDS`, and the cores without a fused method),
# per backend; 1 elsewhere. Measured in interleaved rounds (LIF T=1000 B=32
# D=256, `hk.dynamic_unroll(..., unroll=k)`, median of 20 calls, fwd /
# fwd+bwd ms, Spyx 11.6 / 12.5 ms in the same run; the sweep is
# `python -m benchmarks.sweeps --only=lif_unroll`):
#   gpu  NVIDIA H200, jax 0.11.2 (2026-12-04): k=1 12.0 / 22.5, 2 6.0 / 7.2,
#        4 3.1 / 4.6, 8 1.7 / 3.3, 16 1.0 / 2.7, 32 0.61 / 2.5; XLA compiles
#        k=8's fwd+bwd in 0.7 s, k=16's in 2.1 s, k=32's in 3.6 s. Every
#        step is a kernel launch on a GPU, and unrolling lets XLA fuse k
#        steps into one.
#   cpu  2-core AMD EPYC, jax 0.10.2 (same day, one process): k=2 to 32
#        1.5-4x slower than k=1 for fwd and fwd+bwd, so 1.
UNROLL = {"gpu": 8}


def run(core: hk.RNNCore,
        x: jax.Array,
        initial_state: Any = None,
        *,
        time_major: bool = False,
        unroll: int | None = None) -> tuple[Any, Any]:
  """Checks `x` against `core` and unrolls it over time.

  On the backends of `FUSED_BACKENDS` (the CPU), cores of the LIF family
  that declare a whole-sequence method (`base.whole_sequence_method`: `LIF`,
  `IF`) run as one fused scan with a custom VJP, equivalent to stepping
  them; every other core, any core under a mixed-precision policy, and
  every core on other backends is unrolled with `hk.dynamic_unroll`.

  Inside a transform `hk.dynamic_unroll` scans with `hk.scan`, so a core may
  create its parameters in its first step: during `init` Haiku unrolls that
  step once, during `apply` the parameters are loop constants of a single
  `lax.scan`.

  Args:
    core: an `hk.RNNCore` (any `SpikingCore`); must be called inside a Haiku
      transform.
    x: inputs `(B, T, *hidden_shape)`, or `(T, B, *hidden_shape)` with
      `time_major=True`.
    initial_state: the core's state for batch B; None means
      `core.initial_state(B)`.
    time_major: layout of `x` and of the returned outputs.
    unroll: steps per loop iteration of `hk.dynamic_unroll` (an int >= 1;
      None: `UNROLL` of the default backend, else 1). The outputs do not
      depend on it; the fused path ignores it.

  Returns:
    `(outputs, final_state)`: per-step outputs stacked in `x`'s layout, and
    the state after the last step.

  Raises:
    ValueError: `x` without batch and time axes, or (for cores with a
      `hidden_shape`) of the wrong rank or trailing shape; an `unroll` that
      is not an int >= 1.
  """
  if unroll is not None and (isinstance(unroll, bool) or
                             not isinstance(unroll, int) or unroll < 1):
    raise ValueError(f"run: unroll must be an int >= 1 or None, got "
                     f"{unroll!r}.")
  x = jnp.asarray(x)
  x = base.to_time_major(x, getattr(core, "hidden_shape", None), time_major,
                         "run")  # [T, B, ...]
  state = core.initial_state(x.shape[1]) if initial_state is None else (
      initial_state)
  whole = (base.whole_sequence_method(core)
           if x.shape[0] and jax.default_backend() in FUSED_BACKENDS else None)
  if whole is not None:
    # The same checks the first step would make, then one fused scan.
    base.check_step(core, jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)
    outputs, final_state = whole(x, state)
  else:
    if unroll is None:
      unroll = UNROLL.get(jax.default_backend(), 1)
    outputs, final_state = hk.dynamic_unroll(core, x, state,
                                             unroll=unroll)  # [T, B, ...]
  return base.from_time_major(outputs, time_major), final_state
