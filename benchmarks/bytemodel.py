r"""The fewest bytes each benchmarked call must move, per component.

Notation: `|x|` the bytes of the timed input, `|p|` of the parameters (for
`linear_scan`, whose workload is `fn(a, b)`, `p` is `a` and `x` is `b`),
`|y|` of the forward's outputs, `R` the residuals, `X` what the backward
re-reads besides them. All float32.

  forward            F = |x| + |p| + |y|
  forward+backward   G = (|x| + |p|)            forward reads
                       + 2 |R|                  residuals: written, read back
                       + |X|                    backward re-reads
                       + (|x| + |p|)            gradients written
  recompute bound    G0 = 3 (|x| + |p|)         nothing stored: the backward
                                                re-reads every input and
                                                recomputes the rest

`G` assumes the backward does not re-run the forward's recurrence: the
recurrence's state sequence is its residual, stored once and read once.
Everything else the backward needs is either a residual or a per-step
function of the inputs (projections, elementwise maps, a short convolution)
that it recomputes from re-read inputs. The loss's cotangent, `2 y`, is
recomputed from the residuals, so the forward+backward program never writes
`y`. Per component (T steps, B batch, D features, P states, N states per
channel, S the scan's state shape, E the block's expansion):

  LIF, PSU_LIF   R = the membrane potential v, T B D     X = 0
  S5, LRU        R = the complex states, 2 T B P'        X = |x|
                 (P' = P, or P / 2 with conjugate symmetry)
  linear_scan    R = h, T prod(S)                        X = |a| = |p|
  Mamba          R = 0: the state is (T, B, D, N),       X = |x|
  MambaBlock     N times the input, so the minimum
                 recomputes it from the re-read input
                 (as the Mamba paper's kernel and
                 spike_ssm's selective_scan do)

Arithmetic (`matmul_flops`): the matrix products of the projections, the
only arithmetic that can outlast the memory traffic. S5 and LRU project the
real input (H = D features) onto P' complex states and back, four real
products of (T B) x H x P' each way: forward 8 T B H P' flops, and the
backward twice that (the input's and the weights' gradients), 24 T B H P'
in all. The elementwise components (LIF, PSU_LIF, linear_scan) count 0,
so their roofline is the bandwidth bound alone; Mamba and MambaBlock are not
modelled (None). The roofline time of a call is max(bytes / bandwidth,
flops / matmul rate) with both rates measured in the same run.

`G0` is a strict lower bound for every component (a backward that
recomputes every recurrence from chunk checkpoints); `G` is what the table
divides by. See benchmarks/README.md for the derivations.
"""

import math
from typing import Any, Mapping

import jax
import numpy as np

COMPONENTS = ("LIF", "PSU_LIF", "S5", "LRU", "linear_scan", "Mamba",
              "MambaBlock")


def tree_bytes(tree: Any) -> int:
  """Total bytes of the arrays (or shape/dtype structs) in a pytree."""
  return int(sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize
                 for leaf in jax.tree.leaves(tree)))


def residual_and_reread(component: str, dims: Mapping[str, Any],
                        x_bytes: int, p_bytes: int,
                        itemsize: int = 4) -> tuple[int, int]:
  """(|R|, |X|) in bytes for one call of `component` at `dims`.

  Args:
    component: one of `COMPONENTS`.
    dims: the case's dims: T, B, D (LIF, PSU_LIF, Mamba, MambaBlock), plus
      P (S5, LRU; the number of complex states) or T and S (linear_scan,
      "16x64").
    x_bytes: bytes of the timed input.
    p_bytes: bytes of the parameters.
    itemsize: bytes per real number.

  Raises:
    ValueError: on an unknown component.
  """
  if component in ("LIF", "PSU_LIF"):
    return dims["T"] * dims["B"] * dims["D"] * itemsize, 0
  if component in ("S5", "LRU"):
    return 2 * dims["T"] * dims["B"] * dims["P"] * itemsize, x_bytes
  if component == "linear_scan":
    state = math.prod(int(s) for s in str(dims["S"]).split("x"))
    return dims["T"] * state * itemsize, p_bytes
  if component in ("Mamba", "MambaBlock"):
    return 0, x_bytes
  raise ValueError(f"component: expected one of {list(COMPONENTS)}, got "
                   f"{component!r}.")


def traffic(component: str, dims: Mapping[str, Any], x_bytes: int,
            p_bytes: int, y_bytes: int) -> dict[str, int]:
  """The byte model of one call (module docstring).

  Returns:
    `forward` (F), `forward_backward` (G) and `forward_backward_recompute`
    (G0), in bytes.
  """
  r, reread = residual_and_reread(component, dims, x_bytes, p_bytes)
  reads = x_bytes + p_bytes
  return {
      "forward": reads + y_bytes,
      "forward_backward": reads + 2 * r + reread + reads,
      "forward_backward_recompute": 3 * reads,
  }


def bandwidth_fraction(n_bytes: int | None, gbps: float | None,
                       ms: float | None) -> float | None:
  """bytes / bandwidth / time: 1.0 means the call ran at the bound."""
  if n_bytes is None or not gbps or not ms:
    return None
  return n_bytes / (gbps * 1e9) / (ms * 1e-3)


def matmul_flops(component: str,
                 dims: Mapping[str, Any]) -> dict[str, int] | None:
  """The projections' flops of one call (module docstring), or None.

  Returns:
    `forward` and `forward_backward` flops; None for a component whose
    arithmetic is not modelled (Mamba, MambaBlock).

  Raises:
    ValueError: on an unknown component.
  """
  if component in ("LIF", "PSU_LIF", "linear_scan"):
    return {"forward": 0, "forward_backward": 0}
  if component in ("S5", "LRU"):
    forward = 8 * dims["T"] * dims["B"] * dims["D"] * dims["P"]
    return {"forward": forward, "forward_backward": 3 * forward}
  if component in ("Mamba", "MambaBlock"):
    return None
  raise ValueError(f"component: expected one of {list(COMPONENTS)}, got "
                   f"{component!r}.")


def roofline_fraction(n_bytes: int | None, flops: int | None,
                      gbps: float | None, gflops: float | None,
                      ms: float | None) -> float | None:
  """max(bytes / bandwidth, flops / matmul rate) / time: 1.0 is the roof.

  None where the time, the bytes, the flops or a rate is missing.
  """
  if n_bytes is None or flops is None or not gbps or not gflops or not ms:
    return None
  return max(n_bytes / (gbps * 1e9), flops / (gflops * 1e9)) / (ms * 1e-3)
