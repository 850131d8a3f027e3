r"""The machine's limits, measured in the same run: bandwidth and matmul rate.

  python -m benchmarks.roofline [--mib=N] [--matmul_n=N] [--json=PATH]

Memory bandwidth is measured STREAM-style over float32 arrays much larger
than the last-level cache, with two kernels, each once with NumPy (host
memory, one thread) and once as a jitted JAX program on the default device:

  copy    a <- s * a          2 arrays moved (read a, write a)
  triad   c <- a + s * c      3 arrays moved (read a and c, write c)

Both kernels update an array in place (NumPy `out=`, JAX a donated buffer),
so no write-allocate read and no freshly mapped output is paid; the scalar
`s` is a runtime argument, so XLA cannot fold the kernel away. NumPy's
triad runs in cache-sized blocks, so it streams each array once. Bytes are
counted as STREAM does (arrays x elements x 4), and each figure is the best
of `reps` timings (STREAM's convention: the best time is the one least
disturbed by other work).

One more JAX figure, `copy_fresh` (b = s * a into a new buffer), shows what
a program that allocates its output sees: on a CPU it includes mapping and
faulting in fresh pages, which every benchmarked program that returns a
large new array pays too.

`bandwidth_gbps`, the bound the benchmark table divides by, is the highest
of the in-place figures measured on the device the programs run on (NumPy's
count only on a CPU backend, where they share the memory).

Matmul rate: an `n x n` float32 product, NumPy (BLAS) and jitted JAX at
default precision (on a GPU that may use TF32), 2 n^3 flops per product.
"""

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

# Default array size per backend, MiB per array (float32). At least four
# times the last-level cache is enforced on top (see `default_mib`).
_DEFAULT_MIB = {"cpu": 128, "gpu": 1024, "cuda": 1024, "rocm": 1024,
                "tpu": 1024}
_DEFAULT_MATMUL_N = {"cpu": 1024}
_GPU_MATMUL_N = 8192
_BLOCK = 1 << 17  # NumPy triad block: 512 KiB of float32, L2 resident.


def last_level_cache_bytes() -> int | None:
  """The largest CPU cache of cpu0 from sysfs, or None where unreadable."""
  base = "/sys/devices/system/cpu/cpu0/cache"
  best = None
  try:
    entries = os.listdir(base)
  except OSError:
    return None
  for entry in entries:
    try:
      with open(os.path.join(base, entry, "size"), encoding="utf-8") as f:
        text = f.read().strip()
    except OSError:
      continue
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    digits = text.rstrip("KMG")
    if digits.isdigit():
      size = int(digits) * scale
      best = size if best is None else max(best, size)
  return best


def default_mib(backend: str) -> int:
  """MiB per array: the backend's default, and >= 4x the host's LLC.

  `backend` "cpu" also sizes NumPy's arrays on any machine (host memory).
  """
  mib = _DEFAULT_MIB.get(backend, 128)
  llc = last_level_cache_bytes()
  if llc is not None:
    mib = max(mib, math.ceil(4 * llc / (1 << 20)))
  return mib


def _best_s(fn: Callable[[], Any], reps: int) -> float:
  """Best wall time of `reps` calls of `fn` (which must block)."""
  best = math.inf
  for _ in range(reps):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def _np_triad(a: np.ndarray, c: np.ndarray, tmp: np.ndarray,
              s: np.float32) -> None:
  """c <- a + s * c in cache-sized blocks (one pass over each array)."""
  n = a.shape[0]
  for lo in range(0, n, _BLOCK):
    hi = min(lo + _BLOCK, n)
    t = tmp[:hi - lo]
    np.multiply(c[lo:hi], s, out=t)
    np.add(a[lo:hi], t, out=c[lo:hi])


def numpy_stream(n: int, reps: int) -> dict[str, float]:
  """GB/s of NumPy's in-place copy (a <- s a) and triad (c <- a + s c)."""
  a = np.full(n, 1.0, np.float32)
  c = np.full(n, 2.0, np.float32)
  tmp = np.empty(min(_BLOCK, n), np.float32)
  one, half = np.float32(1.0), np.float32(0.5)  # Values stay bounded.

  def copy():
    np.multiply(a, one, out=a)

  def triad():
    _np_triad(a, c, tmp, half)

  copy()
  triad()  # Touches every page before timing.
  return {"copy": 2 * 4 * n / _best_s(copy, reps) / 1e9,
          "triad": 3 * 4 * n / _best_s(triad, reps) / 1e9}


def _timed_batches(step: Callable[[], Any], bytes_per_call: float,
                   reps: int) -> float:
  """GB/s of `step` (a non-blocking call returning an array).

  After a warm-up call (compilation), a timed batch chains `k` calls and
  blocks on the last, so dispatch latency is amortised on fast devices;
  `k` makes a batch last ~5 ms (at most 50 calls). Best of `reps` batches.
  """
  jax.block_until_ready(step())  # Compiles and warms up.
  start = time.perf_counter()
  jax.block_until_ready(step())
  one = time.perf_counter() - start
  k = int(min(50, max(1, math.ceil(5e-3 / max(one, 1e-7)))))

  def batch():
    out = None
    for _ in range(k):
      out = step()
    jax.block_until_ready(out)

  return bytes_per_call * k / _best_s(batch, reps) / 1e9


def jax_stream(n: int, reps: int) -> dict[str, float]:
  """GB/s of jitted in-place copy and triad, and copy into a fresh buffer.

  In place means the updated array is a donated argument whose buffer the
  output reuses; each call consumes the previous call's output.
  """
  copy = jax.jit(lambda a, s: a * s, donate_argnums=0)
  triad = jax.jit(lambda a, c, s: a + s * c, donate_argnums=1)
  fresh = jax.jit(lambda a, s: a * s)
  one, half = jnp.float32(1.0), jnp.float32(0.5)
  x = jnp.full((n,), 1.0, jnp.float32)
  state = {"a": jnp.full((n,), 1.0, jnp.float32),
           "c": jnp.full((n,), 2.0, jnp.float32)}

  def step_copy():
    state["a"] = copy(state["a"], one)
    return state["a"]

  def step_triad():
    state["c"] = triad(x, state["c"], half)
    return state["c"]

  def step_fresh():
    return fresh(x, one)

  return {"copy": _timed_batches(step_copy, 2 * 4 * n, reps),
          "triad": _timed_batches(step_triad, 3 * 4 * n, reps),
          "copy_fresh": _timed_batches(step_fresh, 2 * 4 * n, reps)}


def matmul_gflops(n: int, reps: int) -> dict[str, float]:
  """GFLOP/s of an n x n float32 product: NumPy (BLAS) and jitted JAX."""
  rng = np.random.default_rng(0)
  a = rng.standard_normal((n, n), np.float32)
  b = rng.standard_normal((n, n), np.float32)
  flops = 2.0 * n**3
  a @ b  # pylint: disable=pointless-statement
  out = {"numpy": flops / _best_s(lambda: a @ b, reps) / 1e9}
  mm = jax.jit(jnp.matmul)
  ja, jb = jnp.asarray(a), jnp.asarray(b)
  gbps_like = _timed_batches(lambda: mm(ja, jb), flops, reps)
  out["jax"] = gbps_like  # flops * k / s / 1e9: GFLOP/s.
  return out


def measure(mib: float | None = None, matmul_n: int | None = None,
            reps: int = 5) -> dict[str, Any]:
  """Measures bandwidth and matmul rate; returns a JSON-ready dict.

  Args:
    mib: MiB per array; default `default_mib(backend)` for JAX and
      `default_mib("cpu")` for NumPy (host memory, whatever the backend).
    matmul_n: matmul side; default 1024 on a CPU, 8192 elsewhere.
    reps: timings per kernel (the best is kept).

  Raises:
    ValueError: on a non-positive `mib`, `matmul_n` or `reps`.
  """
  backend = jax.default_backend()
  np_mib = default_mib("cpu") if mib is None else mib
  if mib is None:
    mib = default_mib(backend)
  if matmul_n is None:
    matmul_n = _DEFAULT_MATMUL_N.get(backend, _GPU_MATMUL_N)
  if not mib > 0:
    raise ValueError(f"mib: expected MiB > 0, got {mib}.")
  if not (isinstance(matmul_n, int) and matmul_n > 0):
    raise ValueError(f"matmul_n: expected an int > 0, got {matmul_n!r}.")
  if not (isinstance(reps, int) and reps > 0):
    raise ValueError(f"reps: expected an int > 0, got {reps!r}.")
  n = max(1, int(mib * (1 << 20)) // 4)
  start = time.perf_counter()
  np_bw = numpy_stream(max(1, int(np_mib * (1 << 20)) // 4), reps)
  jax_bw = jax_stream(n, reps)
  mm = matmul_gflops(matmul_n, reps)
  candidates = {f"jax {k}": v for k, v in jax_bw.items() if k != "copy_fresh"}
  if backend == "cpu":
    candidates.update({f"numpy {k}": v for k, v in np_bw.items()})
  source = max(candidates, key=candidates.get)
  llc = last_level_cache_bytes()
  return {
      "backend": backend,
      "device_kind": jax.devices()[0].device_kind,
      "array_mib": mib,
      "numpy_array_mib": np_mib,
      "host_llc_mib": None if llc is None else llc / (1 << 20),
      "reps": reps,
      "numpy_gbps": np_bw,
      "jax_gbps": jax_bw,
      "matmul_n": matmul_n,
      "matmul_gflops": mm,
      # The arithmetic roof: the faster of the two products (on an
      # accelerator, the device's; NumPy runs on the host).
      "matmul_bound_gflops": (max(mm.values()) if backend == "cpu" else
                              mm["jax"]),
      "bandwidth_gbps": candidates[source],
      "bandwidth_source": source,
      "seconds": time.perf_counter() - start,
  }


def summary(r: dict[str, Any]) -> str:
  """One line for a table header."""
  nb, jb, mm = r["numpy_gbps"], r["jax_gbps"], r["matmul_gflops"]
  return (f"roofline ({r['array_mib']:g} MiB arrays, NumPy "
          f"{r['numpy_array_mib']:g}; best of {r['reps']}): numpy copy "
          f"{nb['copy']:.1f} / triad {nb['triad']:.1f} GB/s; "
          f"jax ({r['device_kind']}) copy {jb['copy']:.1f} / triad "
          f"{jb['triad']:.1f} / fresh-output copy {jb['copy_fresh']:.1f} "
          f"GB/s; bound {r['bandwidth_gbps']:.1f} GB/s "
          f"({r['bandwidth_source']}); matmul {r['matmul_n']}^3 numpy "
          f"{mm['numpy']:.0f} / jax {mm['jax']:.0f} GFLOP/s (arithmetic "
          f"roof {r['matmul_bound_gflops']:.0f})")


def main(argv=None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(
      prog="python -m benchmarks.roofline",
      description=__doc__.splitlines()[0])
  parser.add_argument("--mib", type=float, default=None,
                      help="MiB per array (default: 128 on CPU, 1024 on "
                      "accelerators, at least 4x the host's LLC)")
  parser.add_argument("--matmul_n", type=int, default=None)
  parser.add_argument("--reps", type=int, default=5)
  parser.add_argument("--json", default=None, help="also write JSON here")
  args = parser.parse_args(argv)
  result = measure(args.mib, args.matmul_n, args.reps)
  print(summary(result))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(result, f, indent=1)
      f.write("\n")
  return result


if __name__ == "__main__":
  try:
    main()
  except ValueError as e:
    sys.exit(f"error: {e}")
