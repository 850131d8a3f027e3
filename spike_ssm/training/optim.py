"""Optimiser with parameter groups keyed on parameter names.

Every parameter gets exactly one label:

  ssm       SSM dynamics (eigenvalues, log steps, LRU's nu/theta/gamma and,
            when `ssm_b_in_ssm_group`, the core's input matrix `b`):
            Adam at `ssm_lr`, no weight decay (S5, Smith et al. 2023; LRU,
            Orvieto et al. 2023).
  no_decay  norm scales/offsets, biases and other 1-D vectors: AdamW at `lr`
            with no weight decay.
  frozen    fixed random masks (`*_mask`) and other non-trainable
            parameters: never updated.
  default   everything else: AdamW at `lr` with `weight_decay`.

Both learning rates follow linear warmup then cosine decay; gradients are
clipped by global norm first when `grad_clip` is set.
"""

from collections.abc import Mapping
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import optax

from spike_ssm.models import registry

LABELS = ("ssm", "no_decay", "frozen", "default")

# Names that are SSM dynamics wherever they appear.
UNAMBIGUOUS_SSM_NAMES = frozenset({
    "lambda_re", "lambda_im", "log_dt", "log_step", "nu_log", "theta_log",
    "gamma_log", "a_log"})
# Names that are SSM dynamics inside a registered SSM core module.
SSM_DYNAMICS_NAMES = UNAMBIGUOUS_SSM_NAMES | {"a", "a_re", "a_im", "p",
                                              "omega", "eta", "raw_decay",
                                              "raw_beta"}
# Input matrices of SSM cores; a generic name ("b" is also hk.Linear's bias),
# so it counts only when its module is a registered SSM core.
SSM_INPUT_NAMES = frozenset({"b", "b_re", "b_im"})
NORM_MODULE_HINTS = ("norm", "layer_norm", "batch_norm")
# Neuron dynamics (decays, poles, adaptation): never weight-decayed, which
# would pull them towards 0 (no leak memory, zero frequency).
NEURON_DYNAMICS_NAMES = frozenset({"beta", "alpha", "rho", "raw_lambda",
                                   "omega", "ln_vth", "raw_decay", "raw_beta"})


def _module_tail(module_path: str) -> str:
  return module_path.split("/")[-1].split("~")[-1].strip("_")


def label_for(module_path: str, name: str, value: jax.Array, *,
              ssm_modules: set[str], ssm_b_in_ssm_group: bool) -> str:
  """The group label of parameter `module_path/name` (see module docstring)."""
  tail = _module_tail(module_path)
  tail_base = tail.rsplit("_", 1)[0] if tail.rsplit("_", 1)[-1].isdigit() else tail
  in_ssm_core = tail in ssm_modules or tail_base in ssm_modules
  if name.endswith("_mask"):
    return "frozen"
  if in_ssm_core and name in SSM_DYNAMICS_NAMES:
    return "ssm"
  if in_ssm_core and ssm_b_in_ssm_group and name in SSM_INPUT_NAMES and (
      value.ndim >= 2):
    return "ssm"
  if name in UNAMBIGUOUS_SSM_NAMES:
    return "ssm"
  if (any(h in module_path for h in NORM_MODULE_HINTS) or value.ndim <= 1 or
      name in NEURON_DYNAMICS_NAMES):
    return "no_decay"
  return "default"


def label_params(params: hk.Params, *, ssm_b_in_ssm_group: bool = True,
                 ssm_modules: set[str] | None = None) -> Mapping[str, Any]:
  """A tree with the structure of `params` holding each leaf's label."""
  if ssm_modules is None:
    ssm_modules = registry.ssm_core_module_names()
  return {
      module: {
          name: label_for(module, name, value, ssm_modules=ssm_modules,
                          ssm_b_in_ssm_group=ssm_b_in_ssm_group)
          for name, value in leaves.items()
      } for module, leaves in params.items()
  }


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


def make_optimizer(optim_config: Mapping[str, Any], total_steps: int,
                   params: hk.Params, *,
                   ssm_modules: set[str] | None = None
                   ) -> optax.GradientTransformation:
  """Builds the grouped optimiser from `config.optim` (see module docstring).

  Args:
    optim_config: `lr`, `ssm_lr`, `weight_decay`, `warmup_steps`,
      `end_lr_ratio`, `b1`, `b2`, `grad_clip`, `ssm_b_in_ssm_group`.
    total_steps: schedule length.
    params: a params tree (or its shapes) used to compute the labels.
    ssm_modules: SSM core module names (default: from the layer registry).
  """
  c = optim_config
  lr = schedule(c["lr"], total_steps, c["warmup_steps"], c["end_lr_ratio"])
  ssm_lr = schedule(c["ssm_lr"], total_steps, c["warmup_steps"],
                    c["end_lr_ratio"])
  labels = label_params(params, ssm_b_in_ssm_group=c["ssm_b_in_ssm_group"],
                        ssm_modules=ssm_modules)
  adam = dict(b1=c["b1"], b2=c["b2"])
  groups = {
      "ssm": optax.adam(ssm_lr, **adam),
      "no_decay": optax.adamw(lr, weight_decay=0.0, **adam),
      "frozen": optax.set_to_zero(),
      "default": optax.adamw(lr, weight_decay=c["weight_decay"], **adam),
  }
  tx = optax.multi_transform(groups, labels)
  if c.get("grad_clip") is not None:
    tx = optax.chain(optax.clip_by_global_norm(c["grad_clip"]), tx)
  return tx


def l2_penalty(params: hk.Params, labels: Mapping[str, Any]) -> jax.Array:
  """Sum of squares of the `default`-group parameters (for an L2 term)."""
  leaves = jax.tree.leaves(
      jax.tree.map(lambda p, l: jnp.sum(jnp.square(p)) if l == "default" else
                   jnp.zeros(()), params, labels))
  return sum(leaves, jnp.zeros(()))
