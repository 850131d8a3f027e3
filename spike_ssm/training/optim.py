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
each parameter; `label_params` maps each parameter's role to an optimiser
group through a role -> group table, and labels undeclared parameters by
shape. Two roles are derived rather than declared: `step` is a dynamics
parameter that is the log step (`log_dt`, or a class's `step_params`), and
an undeclared parameter is a `vector` (at most one dimension: biases, norm
scales and offsets, skips D) or a `matrix`.

The groups (`GROUPS`, built by `group_transforms`):

  ssm        Adam at `ssm_lr`, no weight decay.
  ssm_decay  AdamW at `ssm_lr` with `weight_decay`.
  no_decay   AdamW at `lr` without weight decay.
  default    AdamW at `lr` with `weight_decay`.
  frozen     never updated.

`ssm_lr` is a rate of its own, not tied to `lr` (S4 v1's "fixed" 1e-3 SSM
rate is `ssm_lr=1e-3`); both follow the same schedule (`schedules`), as
every group does in the released S4, S4D and S5 code.

The role -> group tables are named after the released code (`GROUPINGS`,
configs/tables/README.md §1a.5, §2a.1, §3a.1, §4a.2):

  standard        S5's `opt_config=standard`: eigenvalues, log step and B at
                  the SSM rate without decay. S4 v1 (`lr: {dt, A, B:
                  0.001}`, C null) and SpikingSSM's fixed-B runs train the
                  same split.
  BandCdecay      S5 (Path-X): B in a group of its own at the SSM rate *with*
                  weight decay (`ssm_decay`).
  BfastandCdecay  S5 (ListOps, Image): B at the global rate with decay.
  null_dt         S4D v3 with a dict `lr` whose `dt` is null (ListOps, Text,
                  Retrieval, Image): the step trains at the global rate
                  without decay; A and B at the SSM rate without decay.
  ssm_rate_c      a float layer `lr` (S4D v3 Pathfinder / Path-X, SpikingSSM
                  with trainable B): step, A and B at the SSM rate without
                  decay, and C at the SSM rate with the global decay.

Two switches modify any of them (`grouping_table`): `dt_global` (S5 Text,
Retrieval) moves the step to the global rate with weight decay, and
`decay_vectors` puts every undeclared vector (norms, biases, D) in the
decayed group, as S5's and S4 v1's released code do (§1b.1); by default they
are not decayed, the papers' and this library's convention. Neuron
dynamics are never decayed, and fixed masks are frozen, in every grouping.

Warmup is linear from 0 over `warmup_steps`, `warmup_epochs` (times the
steps of one epoch, `len(train) // global_batch_size` as S5's
`int(train_size / bsz)` with the last partial batch dropped) or
`warmup_fraction` of the schedule's steps (SpikingSSM's 10 %), then cosine
decay to `lr * end_lr_ratio` at `schedule_steps` (default: the run's
length; S4D's ListOps schedules 80 000 steps and trains fewer);
`schedule="s5_released"` reproduces the offsets of S5's released trainer
instead (`s5_released_schedule`). Gradients are clipped by global norm first
when `grad_clip` is set.
"""

from collections.abc import Callable, Mapping
import math
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import optax

# Group -> (rate key, weight-decay key or None); "frozen" is never updated.
GROUPS = {
    "ssm": ("ssm_lr", None),
    "ssm_decay": ("ssm_lr", "weight_decay"),
    "no_decay": ("lr", None),
    "default": ("lr", "weight_decay"),
    "frozen": None,
}
LABELS = tuple(GROUPS)
# Role -> the class attribute declaring its parameter names.
ROLES = {"dynamics": "dynamics_params", "input": "input_params",
         "output": "output_params", "neuron": "neuron_params",
         "frozen": "frozen_params"}
# The dynamics parameters that are the (log) step, for a class that does
# not declare `step_params` itself.
STEP_NAMES = frozenset({"log_dt"})
# Every role a grouping table maps: the declared ones, the step, and the
# two shapes of an undeclared parameter.
TABLE_ROLES = ("dynamics", "step", "input", "output", "neuron", "frozen",
               "vector", "matrix")

_STANDARD = {"dynamics": "ssm", "step": "ssm", "input": "ssm",
             "output": None, "neuron": "no_decay", "frozen": "frozen",
             "vector": "no_decay", "matrix": "default"}
# Name -> role -> group (None: as an undeclared parameter of its shape).
# Module docstring; configs/tables/README.md §1a.5 (S5,
# s5/train_helpers.py:141-251), §2a.1 (S4 v1), §3a.1 (S4D v3), §4a.2.
GROUPINGS = {
    "standard": _STANDARD,
    "BandCdecay": dict(_STANDARD, input="ssm_decay"),
    "BfastandCdecay": dict(_STANDARD, input="default"),
    "null_dt": dict(_STANDARD, step="no_decay"),
    "ssm_rate_c": dict(_STANDARD, output="ssm_decay"),
}

Owners = Mapping[str, Mapping[str, type | None]]


def grouping_table(name: str = "standard", *, dt_global: bool = False,
                   decay_vectors: bool = False) -> dict[str, str | None]:
  """The role -> group table of grouping `name` with its switches.

  Args:
    name: a key of `GROUPINGS`.
    dt_global: train the step at the global rate with weight decay (S5's
      `--dt_global`).
    decay_vectors: weight-decay undeclared vectors (norms, biases, D) as
      the released S5 and S4 v1 code does.

  Raises:
    ValueError: an unknown name (listing the valid ones) or a switch that
      is not a bool, naming its `config.optim` key.
  """
  if not isinstance(name, str) or name not in GROUPINGS:
    raise ValueError(f"config.optim.grouping must be one of "
                     f"{sorted(GROUPINGS)}, got {name!r}.")
  for key, value in (("dt_global", dt_global),
                     ("decay_vectors", decay_vectors)):
    if not isinstance(value, bool):
      raise ValueError(f"config.optim.{key} must be a bool, got {value!r}.")
  table = dict(GROUPINGS[name])
  if dt_global:
    table["step"] = "default"
  if decay_vectors:
    table["vector"] = "default"
  return table


def config_groups(optim_config: Mapping[str, Any]) -> dict[str, str | None]:
  """`grouping_table` of `config.optim` (`grouping`, `dt_global`,
  `decay_vectors`; missing keys take their defaults)."""
  return grouping_table(optim_config.get("grouping", "standard"),
                        dt_global=optim_config.get("dt_global", False),
                        decay_vectors=optim_config.get("decay_vectors", False))


def role_groups(*, ssm_b_in_ssm_group: bool = True) -> dict[str, str | None]:
  """The `standard` table, or with B labelled by shape.

  Args:
    ssm_b_in_ssm_group: put the cores' input matrices B in the SSM group
      (S5's "standard" grouping) rather than with the ordinary weights.
  """
  return dict(_STANDARD, input="ssm" if ssm_b_in_ssm_group else None)


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


def param_table_role(cls: type | None, name: str, value) -> str:
  """The role of `TABLE_ROLES` a parameter plays (declared or derived)."""
  role = param_role(cls, name)
  if role == "dynamics" and name in getattr(cls, "step_params", STEP_NAMES):
    return "step"
  if role is None:
    return "vector" if len(value.shape) <= 1 else "matrix"
  return role


def _group(groups: Mapping[str, str | None], role: str, value) -> str:
  if role == "step" and "step" not in groups:
    role = "dynamics"  # A table written before the step was a role.
  group = groups.get(role)
  if group is None and role not in ("vector", "matrix"):
    role = "vector" if len(value.shape) <= 1 else "matrix"
    group = groups.get(role)
  return group if group is not None else _by_shape(value)


def label_params(params: hk.Params, owners: Owners, *,
                 ssm_b_in_ssm_group: bool = True,
                 groups: Mapping[str, str | None] | None = None
                 ) -> dict[str, dict[str, str]]:
  """A tree with the structure of `params` holding each leaf's group.

  Args:
    params: a params tree (or its shapes).
    owners: `param_owners`'s record for the same model.
    ssm_b_in_ssm_group: see `role_groups` (ignored when `groups` is given).
    groups: a role -> group table (`grouping_table`, `config_groups`;
      default `role_groups(...)`); a role mapped to None, or missing, is
      labelled as an undeclared parameter of its shape.

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
      labels[module][name] = _group(
          groups, param_table_role(cls, name, value), value)
  return labels


WARMUP_KEYS = ("warmup_steps", "warmup_epochs", "warmup_fraction")


def resolve_warmup(optim_config: Mapping[str, Any], schedule_steps: int,
                 steps_per_epoch: int | None = None) -> int:
  """The warmup length in steps from `config.optim`.

  At most one of `warmup_steps` (> 0), `warmup_epochs` and
  `warmup_fraction` (not None) is given; none means no warmup. Epochs count
  `steps_per_epoch` steps each (S5: `int(train_size / bsz)`, the last
  partial batch dropped) and are truncated to whole steps as S5's
  `warmup_end * steps_per_epoch`; a fraction is of `schedule_steps`, rounded
  to the nearest step (SpikingSSM's 10 % of `num_training_steps`).

  Raises:
    ValueError: several given, a negative value, a fraction above 1, or
      epochs without `steps_per_epoch`, naming the `config.optim` key.
  """
  steps = optim_config.get("warmup_steps", 0) or 0
  epochs = optim_config.get("warmup_epochs")
  fraction = optim_config.get("warmup_fraction")
  given = [k for k, v in zip(WARMUP_KEYS, (steps or None, epochs, fraction))
           if v is not None]
  if len(given) > 1:
    raise ValueError(
        f"Give at most one of config.optim.{', '.join(WARMUP_KEYS)} "
        f"(warmup_steps=0 and None count as not given), got {given}.")
  for key, value in zip(WARMUP_KEYS, (steps, epochs, fraction)):
    if value is not None and not (value >= 0 and math.isfinite(value)):
      raise ValueError(f"config.optim.{key} must be finite and >= 0, got "
                       f"{value}.")
  if fraction is not None:
    if fraction > 1:
      raise ValueError(
          f"config.optim.warmup_fraction must be in [0, 1], got {fraction}.")
    return int(round(fraction * schedule_steps))
  if epochs is not None:
    if steps_per_epoch is None or steps_per_epoch < 1:
      raise ValueError(
          "config.optim.warmup_epochs needs the steps of one epoch "
          f"(steps_per_epoch >= 1), got steps_per_epoch={steps_per_epoch}.")
    return int(epochs * steps_per_epoch)
  if int(steps) != steps:
    raise ValueError(
        f"config.optim.warmup_steps must be a whole number, got {steps}.")
  return int(steps)


def schedule_length(optim_config: Mapping[str, Any], total_steps: int) -> int:
  """`config.optim.schedule_steps`, or the run's `total_steps` if None.

  Raises:
    ValueError: `schedule_steps` below 1.
  """
  length = optim_config.get("schedule_steps")
  if length is None:
    return total_steps
  if length < 1:
    raise ValueError(
        f"config.optim.schedule_steps must be >= 1 (or None for the run's "
        f"length), got {length}.")
  return int(length)


def schedule(peak: float, total_steps: int, warmup_steps: int,
             end_ratio: float = 0.0) -> optax.Schedule:
  """Linear warmup from 0 to `peak`, then cosine decay to `peak*end_ratio`.

  Over `total_steps` steps: rate `peak * s / W` at step `s < W`, then
  `end + (peak - end) * (1 + cos(pi * (s - W) / (total - W))) / 2`, constant
  past the end (as `transformers.get_cosine_schedule_with_warmup`, which
  S4, S4D and SpikingSSM use, with `end = 0`).
  """
  warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0 if warmup_steps else peak,
      peak_value=peak,
      warmup_steps=warmup_steps,
      decay_steps=max(total_steps, warmup_steps + 1),
      end_value=peak * end_ratio)


SCHEDULES = ("warmup_cosine", "s5_released")


def s5_released_schedule(peak: float, total_steps: int, warmup_steps: int,
                         end_value: float = 0.0) -> optax.Schedule:
  """The rate S5's released trainer applies at each step (README §1b.2).

  lindermanlab/S5 `s5/train.py` / `s5/train_helpers.py` build the optimiser
  at the full rates and set the rate for step `s + 1` after step `s`, from
  the function of the epoch that step `s` belongs to: linear warmup
  `peak * (s + 1) / W` during the warmup epochs, then a cosine whose
  counter is the *global* step `s` while its length is `T - W`
  (`end + (peak - end) * (1 + cos(pi * min(s, T - W) / (T - W))) / 2`). So
  step 0 runs at `peak`, step `W` at `peak`, step `W + 1` already at the
  cosine's value at `W` (the decay starts part-way), and the rate reaches
  `end` at step `T - W + 1` and stays there: the last `W - 1` steps do not
  train.

  Args:
    peak: the base rate.
    total_steps: T, epochs times steps per epoch.
    warmup_steps: W, warmup epochs times steps per epoch.
    end_value: S5's `lr_min`.
  """
  decay = max(total_steps - warmup_steps, 1)

  def fn(step):
    s = jnp.asarray(step, jnp.float32)
    prev = s - 1.0  # The step after which this rate was set.
    warm = peak * s / max(warmup_steps, 1)
    count = jnp.clip(prev, 0.0, decay)
    cos = end_value + (peak - end_value) * 0.5 * (
        1.0 + jnp.cos(jnp.pi * count / decay))
    rate = jnp.where(prev < warmup_steps, warm, cos)
    return jnp.where(s <= 0, peak, rate)
  return fn


def schedules(optim_config: Mapping[str, Any], total_steps: int,
              steps_per_epoch: int | None = None
              ) -> dict[str, optax.Schedule]:
  """`{"lr": ..., "ssm_lr": ...}`: both rates' schedules (module docstring).

  Args:
    optim_config: `lr`, `ssm_lr`, `end_lr_ratio`, one warmup key
      (`warmup_steps`), optionally `schedule_steps` and `schedule`
      (`SCHEDULES`: "warmup_cosine", the default, or "s5_released", the
      offsets of S5's released trainer, `s5_released_schedule`).
    total_steps: the run's length in steps.
    steps_per_epoch: steps of one epoch (needed for `warmup_epochs`).

  Raises:
    ValueError: an unknown `schedule`, or bad warmup / length keys, naming
      the `config.optim` key.
  """
  c = optim_config
  kind = c.get("schedule", "warmup_cosine")
  if kind not in SCHEDULES:
    raise ValueError(f"config.optim.schedule must be one of {SCHEDULES}, "
                     f"got {kind!r}.")
  length = schedule_length(c, total_steps)
  warmup = resolve_warmup(c, length, steps_per_epoch)
  out = {}
  for key in ("lr", "ssm_lr"):
    if kind == "warmup_cosine":
      out[key] = schedule(c[key], length, warmup, c["end_lr_ratio"])
    else:
      out[key] = s5_released_schedule(c[key], length, warmup,
                                      c[key] * c["end_lr_ratio"])
  return out


def group_transforms(optim_config: Mapping[str, Any], total_steps: int,
                     steps_per_epoch: int | None = None
                     ) -> dict[str, optax.GradientTransformation]:
  """The transformation of each group of `GROUPS` (module docstring).

  Args:
    optim_config: as `schedules`, plus `weight_decay`, `b1`, `b2` and
      optionally `eps` (default 1e-8).
    total_steps: the run's length in steps.
    steps_per_epoch: steps of one epoch (needed for `warmup_epochs`).
  """
  c = optim_config
  rates = schedules(c, total_steps, steps_per_epoch)
  adam = dict(b1=c["b1"], b2=c["b2"], eps=c.get("eps", 1e-8))
  out = {}
  for group, spec in GROUPS.items():
    if spec is None:
      out[group] = optax.set_to_zero()
    elif spec[1] is None:
      out[group] = optax.adam(rates[spec[0]], **adam)
    else:
      out[group] = optax.adamw(rates[spec[0]], weight_decay=c[spec[1]],
                               **adam)
  return out


def make_optimizer(optim_config: Mapping[str, Any], total_steps: int,
                   labels: Mapping[str, Any], *,
                   transforms: Mapping[str, optax.GradientTransformation]
                   | None = None,
                   steps_per_epoch: int | None = None
                   ) -> optax.GradientTransformation:
  """Builds the grouped optimiser from `config.optim` (module docstring).

  Args:
    optim_config: as `group_transforms`, plus `grad_clip` (None: none).
    total_steps: the run's length in steps.
    labels: `label_params`'s tree for the parameters to optimise.
    transforms: group -> transformation (default: `group_transforms`); a
      grouping with more groups passes its own, with a matching `groups`
      table to `label_params`.
    steps_per_epoch: steps of one epoch (needed for `warmup_epochs`).

  Raises:
    ValueError: labels naming a group that has no transformation.
  """
  if transforms is None:
    transforms = group_transforms(optim_config, total_steps, steps_per_epoch)
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
