"""Optimiser groups read from the parameter roles modules declare.

Every module class may declare which of its parameters play which role
(class attributes, see `spike_ssm.ssm.base` and `spike_ssm.neurons.base`):

  dynamics_params  SSM dynamics: eigenvalues, log steps, LRU's nu / theta /
                   gamma, LoongSpike's omega / eta, ...
  input_params     an SSM core's input matrix B
  output_params    an SSM core's readout C
  neuron_params    neuron dynamics: decays, poles, thresholds
  frozen_params    never trained (fixed random masks)

`param_owners` records, during an abstract init, which module class created
each parameter; `label_params` maps each parameter's declared role to an
optimiser group through a role -> group table (`role_groups`), and labels
undeclared parameters by shape. The groups (`make_optimizer`):

  ssm       Adam at `ssm_lr`, no weight decay (S5, Smith et al. 2023; LRU,
            Orvieto et al. 2023).
  no_decay  AdamW at `lr` without weight decay: neuron dynamics, and every
            undeclared parameter with at most one dimension (biases, norm
            scales and offsets, skips).
  frozen    never updated.
  default   AdamW at `lr` with `weight_decay`: every other parameter.

A new grouping (S5's "BandCdecay", a fixed-rate or frozen SSM group, ...)
is a new table and, if needed, a new group, not a new rule: `role_groups()`
with `"output": "ssm"` moves every declared readout into the SSM group, and
`make_optimizer(..., transforms=)` takes groups beyond `LABELS`. Both
learning rates follow linear warmup then cosine decay; gradients are clipped
by global norm first when `grad_clip` is set.
"""

from collections.abc import Callable, Mapping
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import optax

LABELS = ("ssm", "no_decay", "frozen", "default")
# Role -> the class attribute declaring its parameter names.
ROLES = {"dynamics": "dynamics_params", "input": "input_params",
         "output": "output_params", "neuron": "neuron_params",
         "frozen": "frozen_params"}

Owners = Mapping[str, Mapping[str, type | None]]


def role_groups(*, ssm_b_in_ssm_group: bool = True) -> dict[str, str | None]:
  """The default role -> group table (None: label by shape).

  Args:
    ssm_b_in_ssm_group: put the cores' input matrices B in the SSM group
      (S5's "standard" grouping) rather than with the ordinary weights.
  """
  return {"dynamics": "ssm",
          "input": "ssm" if ssm_b_in_ssm_group else None,
          "output": None,
          "neuron": "no_decay",
          "frozen": "frozen"}


def param_role(cls: type | None, name: str) -> str | None:
  """The role `cls` declares for its parameter `name`, or None.

  Raises:
    ValueError: if `cls` declares `name` in more than one role.
  """
  if cls is None:
    return None
  roles = [role for role, attr in ROLES.items()
           if name in getattr(cls, attr, ())]
  if len(roles) > 1:
    raise ValueError(f"{cls.__name__} declares its parameter {name!r} in "
                     f"several roles {roles}; a parameter has one role.")
  return roles[0] if roles else None


def param_owners(init_fn: Callable[..., Any], *args,
                 **kwargs) -> tuple[Any, dict[str, dict[str, type | None]]]:
  """Abstractly runs `init_fn` and records each parameter's module class.

  Args:
    init_fn: a Haiku `init` (of `hk.transform` or `hk.transform_with_state`).
    *args: its arguments (arrays or `jax.ShapeDtypeStruct`s).
    **kwargs: its keyword arguments (static).

  Returns:
    `(shapes, owners)`: what `jax.eval_shape(init_fn, *args, **kwargs)`
    returns, and `{module_path: {name: class}}` with the class of the module
    that created each parameter (None for one created outside any module).
  """
  owners: dict[str, dict[str, type | None]] = {}
  entered = []

  def creator(next_creator, shape, dtype, init, context):
    module = context.module
    owners.setdefault(context.module_name, {})[context.name] = (
        None if module is None else type(module))
    return next_creator(shape, dtype, init)

  def interceptor(next_f, a, k, context):
    # The creator can only be pushed inside a transform: do it once, around
    # the outermost module call.
    del context
    if entered:
      return next_f(*a, **k)
    entered.append(True)
    try:
      with hk.custom_creator(creator):
        return next_f(*a, **k)
    finally:
      entered.pop()

  with hk.intercept_methods(interceptor):
    # A fresh function per call: jit caches traces by function, and the
    # recording is a side effect of tracing.
    shapes = jax.eval_shape(lambda *a: init_fn(*a, **kwargs), *args)
  return shapes, owners


def _by_shape(value) -> str:
  return "no_decay" if len(value.shape) <= 1 else "default"


def label_params(params: hk.Params, owners: Owners, *,
                 ssm_b_in_ssm_group: bool = True,
                 groups: Mapping[str, str | None] | None = None
                 ) -> dict[str, dict[str, str]]:
  """A tree with the structure of `params` holding each leaf's group.

  Args:
    params: a params tree (or its shapes).
    owners: `param_owners`'s record for the same model.
    ssm_b_in_ssm_group: see `role_groups` (ignored when `groups` is given).
    groups: a role -> group table (default `role_groups(...)`); a role
      mapped to None, and an undeclared parameter, is labelled by shape.

  Raises:
    ValueError: a parameter `owners` has no record of.
  """
  if groups is None:
    groups = role_groups(ssm_b_in_ssm_group=ssm_b_in_ssm_group)
  labels = {}
  for module, leaves in params.items():
    labels[module] = {}
    for name, value in leaves.items():
      try:
        cls = owners[module][name]
      except KeyError:
        raise ValueError(
            f"No owner recorded for parameter {module}/{name}: compute "
            "`owners` with `param_owners` on the same model.") from None
      group = groups.get(param_role(cls, name))
      labels[module][name] = group if group is not None else _by_shape(value)
  return labels


def schedule(peak: float, total_steps: int, warmup_steps: int,
             end_ratio: float = 0.0) -> optax.Schedule:
  """Linear warmup from 0 to `peak`, then cosine decay to `peak*end_ratio`."""
  warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0 if warmup_steps else peak,
      peak_value=peak,
      warmup_steps=warmup_steps,
      decay_steps=max(total_steps, warmup_steps + 1),
      end_value=peak * end_ratio)


def group_transforms(optim_config: Mapping[str, Any], total_steps: int
                     ) -> dict[str, optax.GradientTransformation]:
  """The transformation of each group of `LABELS` (module docstring).

  Args:
    optim_config: `lr`, `ssm_lr`, `weight_decay`, `warmup_steps`,
      `end_lr_ratio`, `b1`, `b2`.
    total_steps: schedule length.
  """
  c = optim_config
  lr = schedule(c["lr"], total_steps, c["warmup_steps"], c["end_lr_ratio"])
  ssm_lr = schedule(c["ssm_lr"], total_steps, c["warmup_steps"],
                    c["end_lr_ratio"])
  adam = dict(b1=c["b1"], b2=c["b2"])
  return {
      "ssm": optax.adam(ssm_lr, **adam),
      "no_decay": optax.adamw(lr, weight_decay=0.0, **adam),
      "frozen": optax.set_to_zero(),
      "default": optax.adamw(lr, weight_decay=c["weight_decay"], **adam),
  }


def make_optimizer(optim_config: Mapping[str, Any], total_steps: int,
                   labels: Mapping[str, Any], *,
                   transforms: Mapping[str, optax.GradientTransformation]
                   | None = None) -> optax.GradientTransformation:
  """Builds the grouped optimiser from `config.optim` (module docstring).

  Args:
    optim_config: as `group_transforms`, plus `grad_clip` (None: none).
    total_steps: schedule length.
    labels: `label_params`'s tree for the parameters to optimise.
    transforms: group -> transformation (default: `group_transforms`); a
      grouping with more groups passes its own, with a matching `groups`
      table to `label_params`.

  Raises:
    ValueError: labels naming a group that has no transformation.
  """
  if transforms is None:
    transforms = group_transforms(optim_config, total_steps)
  bad = sorted({str(l) for l in jax.tree.leaves(labels)} - set(transforms))
  if bad:
    raise ValueError(f"make_optimizer: `labels` must hold group names "
                     f"{tuple(transforms)} (from label_params), got {bad}.")
  tx = optax.multi_transform(dict(transforms), labels)
  if optim_config.get("grad_clip") is not None:
    tx = optax.chain(optax.clip_by_global_norm(optim_config["grad_clip"]), tx)
  return tx


def l2_penalty(params: hk.Params, labels: Mapping[str, Any]) -> jax.Array:
  """Sum of squares of the `default`-group parameters (for an L2 term)."""
  leaves = jax.tree.leaves(
      jax.tree.map(lambda p, l: jnp.sum(jnp.square(p)) if l == "default" else
                   jnp.zeros(()), params, labels))
  return sum(leaves, jnp.zeros(()))
