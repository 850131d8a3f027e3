"""Timing primitives shared by every benchmark case.

A case is reduced to a `Workload`: a pure function `fn(params, x)` plus its
arguments. From it we time two programs, both jitted:

  forward            `fn(params, x)`
  forward+backward   `jax.grad` of `sum(fn(params, x) ** 2)` with respect to
                     `params` and `x` (the loss is the same for every library)

Compilation is done ahead of time (`jit(...).lower(...).compile()`) and timed
on its own, so the per-call timings never include tracing or compilation.
The compiled programs of a group of cases that are compared with each other
are then called in interleaved rounds (A, B, C, A, B, C, ...) and each
program's median is reported: on a shared machine a burst of background load
then hits every member of the group alike instead of skewing one of them,
which keeps the ratios meaningful even when the absolute numbers are noisy.
"""

import dataclasses
import datetime
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp


class Unavailable(Exception):
  """A workload cannot be built in this environment (missing library/API)."""


class Workload(NamedTuple):
  """A function to time and its arguments.

  Attributes:
    fn: pure `(params, x) -> outputs`; outputs may be any pytree of arrays.
    params: pytree of float32 parameters (may be empty).
    x: the input array.
  """
  fn: Callable[[Any, jax.Array], Any]
  params: Any
  x: jax.Array


def sum_of_squares(tree: Any) -> jax.Array:
  """The benchmark loss: sum of squares of every output leaf, in float32."""
  leaves = jax.tree.leaves(tree)
  return sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in leaves)


@dataclasses.dataclass
class Compiled:
  """The compiled forward and forward+backward programs of a workload."""
  forward: Callable[[], Any]
  grad: Callable[[], Any] | None
  compile_forward_s: float
  compile_grad_s: float | None
  forward_out: Any = None  # The forward's outputs as ShapeDtypeStructs.


@dataclasses.dataclass
class Lowered:
  """The traced and lowered (not yet compiled) programs of a workload."""
  workload: Workload
  forward: Any  # jax.stages.Lowered
  grad: Any | None
  lower_forward_s: float
  lower_grad_s: float | None


def _lower(fn: Callable[..., Any], *args) -> tuple[Any, float]:
  start = time.perf_counter()
  lowered = jax.jit(fn).lower(*args)
  return lowered, time.perf_counter() - start


def lower_workload(workload: Workload, *, backward: bool = True) -> Lowered:
  """Traces and lowers the forward (and forward+backward) programs.

  Args:
    workload: what to lower.
    backward: also lower `jax.grad` of the loss w.r.t. params and input.
  """
  params, x = workload.params, workload.x
  fwd, fwd_s = _lower(workload.fn, params, x)

  def loss(p, xs):
    return sum_of_squares(workload.fn(p, xs))

  grad, grad_s = None, None
  if backward:
    grad, grad_s = _lower(jax.grad(loss, argnums=(0, 1)), params, x)
  return Lowered(workload, fwd, grad, fwd_s, grad_s)


def compile_lowered(lowered: Lowered) -> Compiled:
  """XLA-compiles lowered programs (safe to call from several threads).

  Returns:
    A `Compiled` whose `forward`/`grad` are zero-argument callables running
    the compiled executables on the workload's own arguments, with the
    wall-clock compile time of each program (tracing + lowering + XLA).
  """
  params, x = lowered.workload.params, lowered.workload.x
  start = time.perf_counter()
  fwd = lowered.forward.compile()
  fwd_s = lowered.lower_forward_s + time.perf_counter() - start
  grad, grad_s = None, None
  if lowered.grad is not None:
    start = time.perf_counter()
    grad = lowered.grad.compile()
    grad_s = lowered.lower_grad_s + time.perf_counter() - start
  return Compiled(
      forward=lambda: fwd(params, x),
      grad=None if grad is None else (lambda: grad(params, x)),
      compile_forward_s=fwd_s,
      compile_grad_s=grad_s,
      forward_out=lowered.forward.out_info)


def compile_workload(workload: Workload, *, backward: bool = True) -> Compiled:
  """Traces, lowers and compiles the forward (and forward+backward) programs.

  Args:
    workload: what to compile.
    backward: also compile `jax.grad` of the loss w.r.t. params and input.

  Returns:
    See `compile_lowered`.
  """
  return compile_lowered(lower_workload(workload, backward=backward))


def timed_call(call: Callable[[], Any]) -> float:
  """Milliseconds of one call of `call`, until its outputs are ready."""
  start = time.perf_counter()
  jax.block_until_ready(call())
  return (time.perf_counter() - start) * 1e3


def interleaved_times(calls: Sequence[Callable[[], Any]],
                      *,
                      max_rounds: int,
                      min_rounds: int = 3,
                      budget_s: float = 3.0,
                      warmup: int = 1,
                      timer: Callable[[Callable[[], Any]], float] = timed_call
                     ) -> list[list[float]]:
  """Times each call in interleaved rounds, after warm-up.

  The number of rounds adapts to the cost of the group: enough rounds to
  spend about `budget_s` seconds, but at least `min(min_rounds, max_rounds)`
  and at most `max_rounds`, so long cases get fewer repeats.

  Args:
    calls: zero-argument callables returning JAX arrays (or pytrees).
    max_rounds: the most timed calls per callable (the `--repeats` N).
    min_rounds: the fewest timed calls per callable.
    budget_s: target wall time for all timed rounds together.
    warmup: untimed calls per callable before timing (at least 1, so the
      first execution's allocation and caching effects are excluded).
    timer: `timer(call)` runs `call` once and returns its milliseconds
      (default `timed_call`; `benchmarks.workers` passes calls that are
      timed in another process and return their own milliseconds).

  Returns:
    For each callable, its list of timed durations in milliseconds.

  Raises:
    ValueError: if `max_rounds` < 1 or `warmup` < 1.
  """
  if max_rounds < 1:
    raise ValueError(f"max_rounds must be >= 1, got {max_rounds}.")
  if warmup < 1:
    raise ValueError(f"warmup must be >= 1, got {warmup}.")
  estimate = [0.0] * len(calls)
  for i, call in enumerate(calls):
    for _ in range(warmup):
      estimate[i] = timer(call)
  per_round_s = max(sum(estimate) / 1e3, 1e-6)
  rounds = math.ceil(budget_s / per_round_s)
  rounds = max(min(min_rounds, max_rounds), min(rounds, max_rounds))
  times = [[] for _ in calls]
  for r in range(rounds):
    # Rotating the order keeps any first-in-round effect off one callable.
    for k in range(len(calls)):
      i = (r + k) % len(calls)
      times[i].append(timer(calls[i]))
  return times


def median(values: Sequence[float]) -> float:
  return float(statistics.median(values))


# A row whose spread exceeds this is flagged as noisy.
NOISY_SPREAD = 0.20


def spread(values: Sequence[float]) -> float:
  """(max - min) / median of the timed calls: 0 for one call.

  The whole range, not an interquartile one: with the 3 to 10 rounds a row
  gets, one disturbed call is exactly what should show.

  Raises:
    ValueError: on no values or a non-positive median.
  """
  if not values:
    raise ValueError("values: expected at least one timing, got none.")
  mid = median(values)
  if not mid > 0:
    raise ValueError(f"values: expected a positive median, got {mid}.")
  return (max(values) - min(values)) / mid


def loadavg() -> list[float] | None:
  """The 1, 5 and 15 minute load averages, or None where unavailable."""
  try:
    return list(os.getloadavg())
  except OSError:
    return None


# ----------------------------------------------------------------------------
# Machine description.
# ----------------------------------------------------------------------------


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.lower().startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
  try:
    return importlib.metadata.version(dist)
  except importlib.metadata.PackageNotFoundError:
    return None


def _git_commit() -> str | None:
  here = os.path.dirname(os.path.abspath(__file__))
  try:
    out = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, timeout=10,
                         check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
  """What the numbers were measured on (CPU, cores, versions, backend, load)."""
  devices = jax.devices()
  try:
    usable = len(os.sched_getaffinity(0))
  except AttributeError:
    usable = os.cpu_count()
  return {
      "cpu_model": _cpu_model(),
      "cpu_count": os.cpu_count(),
      "cpu_usable": usable,
      "platform": platform.platform(),
      "python": platform.python_version(),
      "backend": jax.default_backend(),
      "devices": [f"{d.platform}:{d.device_kind}" for d in devices],
      "device_kind": devices[0].device_kind,
      "versions": {
          name: _version(name) for name in ("jax", "jaxlib", "dm-haiku",
                                            "flax", "spyx", "numpy")
      },
      "spike_ssm_commit": _git_commit(),
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "loadavg_start": loadavg(),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
  }
