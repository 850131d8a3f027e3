"""The spike_ssm side of each benchmark case.

Every builder takes the shared time-major input `x` `(T, B, D)` (the Spyx
side gets the very same array) and returns a `timing.Workload`. Modules run
inside `hk.without_apply_rng(hk.transform(...))`; `params` is the Haiku
parameter dict, so forward+backward differentiates every trainable
parameter and the input.

A builder raises `timing.Unavailable` when the module it needs has not
landed in this checkout yet, so the harness always runs.
"""

import inspect
from typing import Callable

import haiku as hk
import jax
from jax import lax

import spike_ssm
from spike_ssm.ops import scans
from benchmarks import timing


def _require(module, *names: str) -> None:
  missing = [n for n in names if not hasattr(module, n)]
  if missing:
    raise timing.Unavailable(
        f"{module.__name__} has no {', '.join(missing)} in this checkout")


def _accepts(fn: Callable, name: str) -> bool:
  try:
    return name in inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return False


def _haiku_workload(forward: Callable[[jax.Array], jax.Array],
                    x: jax.Array) -> timing.Workload:
  transformed = hk.without_apply_rng(hk.transform(forward))
  params = transformed.init(jax.random.key(0), x)
  return timing.Workload(transformed.apply, params, x)


def _decay_kwargs(cls) -> dict:
  # Spyx's neurons always train their decay; ask ours to do the same so that
  # both backward passes compute a decay gradient.
  return {"learn_beta": True} if _accepts(cls.__init__, "learn_beta") else {}


def _mode_kwargs(cls, mode: str) -> dict:
  if _accepts(cls.__init__, "scan_mode"):
    return {"scan_mode": mode}
  if mode != "auto":
    raise timing.Unavailable(f"{cls.__name__} takes no scan_mode argument")
  return {}


def _call_time_major(fn: Callable, x: jax.Array) -> jax.Array:
  """Calls a batch-major sequence layer on time-major `x`, time-major out."""
  if _accepts(fn, "time_major"):
    return fn(x, time_major=True)
  return fn(x.swapaxes(0, 1)).swapaxes(0, 1)  # [B, T, D] in, [T, B, D] out


# ----------------------------------------------------------------------------
# Neurons.
# ----------------------------------------------------------------------------


def lif(x: jax.Array, mode: str) -> timing.Workload:
  """`neurons.run(neurons.LIF(D), x)`: a sequential scan with reset."""
  del mode  # A neuron with reset has one evaluation order.
  neurons = spike_ssm.neurons
  _require(neurons, "LIF", "run")
  features = x.shape[-1]
  kwargs = _decay_kwargs(neurons.LIF)

  def forward(xs):
    core = neurons.LIF(features, beta=0.9, **kwargs)
    spikes, _ = neurons.run(core, xs, time_major=True)
    return spikes

  return _haiku_workload(forward, x)


def psu_lif(x: jax.Array, mode: str) -> timing.Workload:
  """`neurons.PSU_LIF(D, scan_mode=mode).parallel(x)`."""
  neurons = spike_ssm.neurons
  _require(neurons, "PSU_LIF")
  cls = neurons.PSU_LIF
  features = x.shape[-1]
  kwargs = {**_decay_kwargs(cls), **_mode_kwargs(cls, mode)}

  def forward(xs):
    core = cls(features, beta=0.9, **kwargs)
    spikes, _ = core.parallel(xs, time_major=True)
    return spikes

  return _haiku_workload(forward, x)


# ----------------------------------------------------------------------------
# SSM layers.
# ----------------------------------------------------------------------------


def _ssm_layer(name: str, x: jax.Array, state_size: int, mode: str,
               **extra) -> timing.Workload:
  _require(spike_ssm.ssm, name)
  cls = getattr(spike_ssm.ssm, name)
  kwargs = {**_mode_kwargs(cls, mode), **extra}

  def forward(xs):
    layer = cls(state_size, **kwargs)
    return _call_time_major(layer, xs)

  return _haiku_workload(forward, x)


def s5(x: jax.Array, state_size: int, mode: str) -> timing.Workload:
  """`spike_ssm.ssm.S5(state_size, conj_sym=False)` on `(T, B, D)`.

  Without conjugate symmetry S5 runs `state_size` complex states, as many as
  `spyx.ssm.S5Diag(D, state_size)`, so the two do the same work.
  """
  return _ssm_layer("S5", x, state_size, mode, conj_sym=False)


def s5_conj_sym(x: jax.Array, state_size: int,
                mode: str) -> timing.Workload:
  """`spike_ssm.ssm.S5(state_size)` as constructed by default.

  Conjugate symmetry keeps one eigenvalue of each pair: `state_size / 2`
  complex states, half the work of the matched row.
  """
  return _ssm_layer("S5", x, state_size, mode)


def lru(x: jax.Array, state_size: int, mode: str) -> timing.Workload:
  """`spike_ssm.ssm.LRU(state_size)` on `(T, B, D)`."""
  return _ssm_layer("LRU", x, state_size, mode)


def mamba(x: jax.Array, state_size: int, mode: str) -> timing.Workload:
  """`spike_ssm.ssm.Mamba(state_size)`: the selective core, d_inner = D.

  Matches `spyx.ssm.Mamba(d_inner=D, d_state=state_size)`.
  """
  return _ssm_layer("Mamba", x, state_size, mode)


def mamba_block(x: jax.Array, state_size: int, mode: str) -> timing.Workload:
  """`spike_ssm.ssm.MambaBlock(state_size, expand=2, conv_size=4)`.

  Matches `spyx.ssm.MambaBlock(d_model=D, d_state=state_size, d_conv=4,
  expand=2)`.
  """
  return _ssm_layer("MambaBlock", x, state_size, mode, expand=2, conv_size=4)


# ----------------------------------------------------------------------------
# Scans: ours and the native JAX baseline.
# ----------------------------------------------------------------------------


def linear_scan(a: jax.Array, b: jax.Array, mode: str) -> timing.Workload:
  """`ops.scans.linear_scan(a, b, mode=mode)`, a time-varying `a`."""
  return timing.Workload(lambda a_, b_: scans.linear_scan(a_, b_, mode=mode),
                         a, b)


def _affine_combine(earlier, later):
  a1, b1 = earlier
  a2, b2 = later
  return a1 * a2, a2 * b1 + b2


def native_associative_scan(a: jax.Array, b: jax.Array) -> timing.Workload:
  """Baseline: plain `lax.associative_scan`, differentiated by autodiff.

  This is how Spyx (and most JAX SSM code) evaluates the recurrence.
  """
  def fn(a_, b_):
    return lax.associative_scan(_affine_combine, (a_, b_), axis=0)[1]
  return timing.Workload(fn, a, b)
