"""Mixed-precision policies from config strings, installed per module class.

Haiku looks a policy up by the exact class of the module being called (no
inheritance), and inside a policied call every parameter read is cast by the
innermost active policy. So the model class gets `precision.model` (e.g.
`p=f32,c=bf16,o=f32`), every SSM core class (a `ssm.SequenceLayer` that
declares `ssm_core`) gets `precision.ssm_core` and every spiking neuron
class gets `precision.neuron` (e.g. `p=f32,c=f32,o=bf16`), which keeps
eigenvalues, log steps and membranes in float32 inside a bfloat16 model:
`exp(dt * lambda)` over thousands of steps, or a membrane integrating small
currents, degrade badly in bfloat16.

The classes are passed explicitly (`core_classes=`, `neuron_classes=`) or,
by default, read from the bases' registries of subclasses
(`ssm.sequence_layer_classes()`, `neurons.spiking_core_classes()`), which
hold every class imported so far: import a custom layer's module before
installing the policies.
"""

from collections.abc import Iterable, Iterator, Mapping
import contextlib
from typing import Any

import haiku as hk
import jax.numpy as jnp
import jmp

from spike_ssm import neurons
from spike_ssm import ssm
from spike_ssm.models import backbone


def ssm_core_classes() -> tuple[type[hk.Module], ...]:
  """Every imported sequence-layer class that declares `ssm_core`."""
  return tuple(c for c in ssm.sequence_layer_classes() if c.ssm_core)


def policies(precision: Mapping[str, Any], *,
             core_classes: Iterable[type[hk.Module]] | None = None,
             neuron_classes: Iterable[type[hk.Module]] | None = None,
             ) -> dict[type[hk.Module], jmp.Policy]:
  """The class -> policy table a `config.precision` section asks for.

  Args:
    precision: `model`, `ssm_core` and `neuron` jmp policy strings.
    core_classes: the SSM core classes (default: `ssm_core_classes()`).
    neuron_classes: the neuron classes (default:
      `neurons.spiking_core_classes()`).
  """
  if core_classes is None:
    core_classes = ssm_core_classes()
  if neuron_classes is None:
    neuron_classes = neurons.spiking_core_classes()
  table = {backbone.SequenceModel: jmp.get_policy(precision["model"])}
  core = jmp.get_policy(precision["ssm_core"])
  for cls in core_classes:
    table[cls] = core
  neuron = jmp.get_policy(precision["neuron"])
  for cls in neuron_classes:
    table[cls] = neuron
  return table


def install(precision: Mapping[str, Any], **classes) -> None:
  """Sets the policies for this thread (call before tracing the model).

  Args:
    precision: as `policies`.
    **classes: `core_classes=` / `neuron_classes=`, as `policies`.
  """
  for cls, policy in policies(precision, **classes).items():
    hk.mixed_precision.set_policy(cls, policy)


@contextlib.contextmanager
def installed(precision: Mapping[str, Any], **classes) -> Iterator[None]:
  """Context manager form of `install` that restores the previous state."""
  with contextlib.ExitStack() as stack:
    for cls, policy in policies(precision, **classes).items():
      stack.enter_context(hk.mixed_precision.push_policy(cls, policy))
    yield


def loss_scale(kind: str) -> jmp.LossScale:
  """`none` -> NoOpLossScale (f32/bf16); `dynamic` for float16 compute."""
  if kind == "none":
    return jmp.NoOpLossScale()
  if kind == "dynamic":
    return jmp.DynamicLossScale(jnp.asarray(2.0**15, jnp.float32))
  if kind == "static":
    return jmp.StaticLossScale(jnp.asarray(2.0**15, jnp.float32))
  raise ValueError(f"loss_scale must be none|dynamic|static, got {kind!r}.")
