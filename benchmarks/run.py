r"""Speed of spike_ssm against Spyx 1.0, measured in the same process.

  python -m benchmarks.run [--only=LIF,S5] [--modes=auto,parallel]
                           [--json=PATH] [--repeats=N] [--budget=S]
                           [--roofline_mib=M] [--no_roofline]
                           [--smoke] [--strict]

First measures the machine's memory bandwidth (`benchmarks.roofline`), then
prints one table row per (component, library, mode) with forward and
forward+backward milliseconds (median of timed calls) and their spread
((max - min) / median over the interleaved rounds; above 20% the row is
flagged NOISY), the fraction of the bandwidth bound each reached (the
component's minimum bytes, `benchmarks.bytemodel`, over bandwidth x time),
compile seconds, and for every spike_ssm row its ratio to the peer row of
the same case (ours / theirs: below 1 means spike_ssm is faster). The
header gives the load average before and after. Writes the same rows, the
roofline and a description of the machine to JSON (default
`benchmarks/results_<backend>.json`). Without Spyx importable the spike_ssm
rows still run and the peer rows are reported as skipped. See
benchmarks/README.md for the cases, the byte models and the method.
"""

import argparse
import concurrent.futures
import dataclasses
import functools
import json
import os
import sys
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from benchmarks import bytemodel
from benchmarks import ours
from benchmarks import roofline
from benchmarks import spyx_peer
from benchmarks import timing
from benchmarks import workers
from spike_ssm.ops import scans

OURS = "spike_ssm"
SPYX = "spyx"
JAX = "jax"

COMPONENTS = ("LIF", "PSU_LIF", "S5", "LRU", "linear_scan", "Mamba",
              "MambaBlock")
# Components run only when named in --only (or with --smoke); none now.
OPT_IN = ()
SCAN_MODES = ("auto", "sequential", "parallel", "chunked")
# --smoke times only `auto` of each spike_ssm layer (each mode is two more
# compilations; the modes themselves are the library tests' business).
SMOKE_MODES = ("auto",)
# Timed calls per program and seconds of timed calls per group and pass.
# Twenty rounds: on the 2-core benchmark machine single calls spread by
# 30-150% (host noise), and the medians of ten rounds moved by up to 30%
# between consecutive runs.
DEFAULT_REPEATS = 20
DEFAULT_BUDGET_S = 6.0
# --smoke's roofline: tiny arrays, it only has to run.
SMOKE_ROOFLINE = dict(mib=4, matmul_n=64, reps=2)


@dataclasses.dataclass(frozen=True)
class Sizes:
  """Problem sizes. `FULL` are the issue's shapes; `SMOKE` only exercise."""
  lif: tuple[int, int, int]  # T, B, D
  ssm: tuple[int, int, int, int]  # T, B, D, P (state size)
  scan_lengths: tuple[int, ...]  # T values for linear_scan
  scan_state: tuple[int, int]  # trailing state shape of linear_scan
  mamba: tuple[int, int, int, int]  # T, B, D (d_model), N (d_state)


FULL = Sizes(lif=(1000, 32, 256), ssm=(1024, 16, 128, 64),
             scan_lengths=(256, 1024, 4096, 16384), scan_state=(16, 64),
             mamba=(1024, 8, 64, 16))
SMOKE = Sizes(lif=(8, 2, 4), ssm=(8, 2, 4, 4), scan_lengths=(16,),
              scan_state=(2, 3), mamba=(8, 2, 4, 2))


@dataclasses.dataclass
class Entry:
  """One library's implementation of a case.

  Attributes:
    library: "spike_ssm", "spyx" or "jax" (the native-primitive baseline).
    mode: how the recurrence is evaluated, for the table.
    build: `inputs -> Workload`; raises `timing.Unavailable` to skip.
    reference: the row that the group's spike_ssm rows are divided by.
    byte_dims: dims that differ from the group's for the byte model (the
      conjugate-symmetric S5 keeps P / 2 states).
  """
  library: str
  mode: str
  build: Callable[[Any], timing.Workload]
  reference: bool = False
  byte_dims: dict[str, Any] | None = None


@dataclasses.dataclass
class Group:
  """Entries timed together (interleaved) on the same inputs."""
  component: str
  dims: dict[str, Any]
  make_inputs: Callable[[], Any]
  entries: list[Entry]

  @property
  def shape(self) -> str:
    return " ".join(f"{k}={v}" for k, v in self.dims.items())


def _normal(seed: int, shape: tuple[int, ...]) -> jax.Array:
  return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def _mode_label(mode: str, length: int) -> str:
  if mode == "auto":
    return f"auto (={scans.auto_mode(length).value})"
  return mode


def _our_modes(build: Callable[..., timing.Workload], length: int,
               modes: Sequence[str], *args) -> list[Entry]:
  return [
      Entry(OURS, _mode_label(m, length),
            lambda x, m=m: build(x, *args, m)) for m in modes
  ]


def _scan_inputs(length: int, state: tuple[int, ...]):
  # |a| in [0.5, 1): a stable recurrence, as in tests/ops/scans_test.py.
  key_a, key_b = jax.random.split(jax.random.key(3))
  a = jax.random.uniform(key_a, (length, *state), jnp.float32, 0.5, 1.0)
  return a, jax.random.normal(key_b, (length, *state), jnp.float32)


def build_groups(sizes: Sizes,
                 modes: Sequence[str] = SCAN_MODES) -> list[Group]:
  """Every benchmark case, grouped by what is compared with what.

  `modes` are the scan modes timed for every spike_ssm layer that has them.
  Inputs are made lazily, one group at a time, and every closure binds its
  sizes through defaults or `functools.partial` (the loop variables move on).
  """
  groups = []

  t, b, d = sizes.lif
  groups.append(Group(
      "LIF", dict(T=t, B=b, D=d), functools.partial(_normal, 0, (t, b, d)), [
          Entry(OURS, "sequential", lambda x: ours.lif(x, "sequential")),
          Entry(SPYX, "sequential", spyx_peer.lif, reference=True),
      ]))
  groups.append(Group(
      "PSU_LIF", dict(T=t, B=b, D=d), functools.partial(_normal, 1, (t, b, d)),
      _our_modes(ours.psu_lif, t, modes) +
      [Entry(SPYX, "parallel", spyx_peer.psu_lif, reference=True)]))

  t, b, d, p = sizes.ssm
  for name, our_build, peer_build in (("S5", ours.s5, spyx_peer.s5),
                                      ("LRU", ours.lru, spyx_peer.lru)):
    peer = Entry(SPYX, "parallel", functools.partial(_call, peer_build, p),
                 reference=True)
    extra = []
    if name == "S5" and "auto" in modes:
      # What `S5(P)` does by default: P/2 complex states (conj_sym).
      extra.append(Entry(
          OURS, _mode_label("auto", t) + f", conj_sym (P'={p // 2})",
          lambda x, p=p, t=t: ours.s5_conj_sym(x, p, "auto"),
          byte_dims=dict(P=p // 2)))
    groups.append(Group(
        name, dict(T=t, B=b, D=d, P=p),
        functools.partial(_normal, 2, (t, b, d)),
        _our_modes(our_build, t, modes, p) + extra + [peer]))

  state = sizes.scan_state
  for t in sizes.scan_lengths:
    native = Entry(JAX, "associative_scan",
                   lambda ab: ours.native_associative_scan(*ab),
                   reference=True)
    groups.append(Group(
        "linear_scan", dict(T=t, S="x".join(map(str, state))),
        functools.partial(_scan_inputs, t, state),
        [
            Entry(OURS, _mode_label(m, t),
                  lambda ab, m=m: ours.linear_scan(*ab, m))
            for m in modes
        ] + [native]))

  # Mamba / MambaBlock: ours in each mode against Spyx's associative scan
  # over the materialised (T, B, D, N) array.
  t, b, d, n = sizes.mamba
  for name, our_build, peer_build in (
      ("Mamba", ours.mamba, spyx_peer.mamba),
      ("MambaBlock", ours.mamba_block, spyx_peer.mamba_block)):
    groups.append(Group(
        name, dict(T=t, B=b, D=d, N=n),
        functools.partial(_normal, 4, (t, b, d)), [
            Entry(OURS, _mode_label(m, t),
                  lambda x, f=our_build, n=n, m=m: f(x, n, m))
            for m in modes
        ] + [
            Entry(SPYX, "parallel", functools.partial(_call, peer_build, n),
                  reference=True),
        ]))
  return groups


def _call(build, size, x):
  return build(x, size)


def _call_returns_ms(call: Callable[[], float]) -> float:
  return call()


# ----------------------------------------------------------------------------
# Measuring.
# ----------------------------------------------------------------------------


def _log(msg: str) -> None:
  print(msg, file=sys.stderr, flush=True)


def _new_record(group: Group, entry: Entry) -> dict[str, Any]:
  return dict(component=group.component, library=entry.library,
              shape=group.shape, dims=group.dims, mode=entry.mode,
              reference=entry.reference, status="ok", note=None)


def _failed(rec: dict[str, Any], error: BaseException, strict: bool) -> None:
  if strict:
    raise error
  rec.update(status="failed", note=f"{type(error).__name__}: {error}")


def _build_here(group: Group, records: list[dict[str, Any]], *,
                strict: bool, compile_threads: int):
  """Builds and compiles every entry in this process.

  Returns:
    [(record, {"forward": call, "grad": call})] for the entries built; the
    calls return arrays (timed with `timing.timed_call`).
  """
  inputs = group.make_inputs()
  lowered = []
  # Building and tracing run here, one entry after the other; only XLA's
  # compilation (which releases the GIL) may run in threads.
  for rec, entry in zip(records, group.entries):
    try:
      lowered.append((rec, entry,
                      timing.lower_workload(entry.build(inputs))))
    except timing.Unavailable as e:
      rec.update(status="skipped", note=str(e))
    except Exception as e:  # pylint: disable=broad-except
      _failed(rec, e, strict)

  def compile_one(low):
    try:
      return timing.compile_lowered(low), None
    except Exception as e:  # pylint: disable=broad-except
      return None, e

  if compile_threads > 1 and len(lowered) > 1:
    with concurrent.futures.ThreadPoolExecutor(compile_threads) as pool:
      outcomes = list(pool.map(compile_one, [low for _, _, low in lowered]))
  else:
    outcomes = [compile_one(low) for _, _, low in lowered]

  built = []
  for (rec, entry, low), (compiled, error) in zip(lowered, outcomes):
    if error is not None:
      _failed(rec, error, strict)
      continue
    rec.update(compile_forward_s=compiled.compile_forward_s,
               compile_forward_backward_s=compiled.compile_grad_s)
    rec.update(byte_record(group, entry, low.workload,
                           compiled.forward_out))
    built.append((rec, {"forward": compiled.forward, "grad": compiled.grad}))
  return built


def _build_in_workers(group: Group, records: list[dict[str, Any]],
                      isolate: dict[str, Any], pool: list[workers.Worker], *,
                      strict: bool, compile_threads: int):
  """Builds every entry in a worker process of its own (`benchmarks.workers`).

  The workers are appended to `pool` (the caller closes them). Compilations
  run one at a time unless `compile_threads` > 1 (then all at once).

  Returns:
    As `_build_here`, but each call returns its own milliseconds.
  """
  for j, entry in enumerate(group.entries):
    pool.append(workers.Worker(
        smoke=isolate["smoke"], modes=isolate["modes"],
        group_index=isolate["group_index"], entry_index=j,
        label=f"{group.component} [{entry.library}, {entry.mode}]"))

  def finish(worker):
    try:
      return worker.finish_build()
    except workers.WorkerError as e:  # It died or hung: that row failed.
      return "failed", str(e)

  replies = []
  if compile_threads > 1:
    for worker in pool:
      worker.start_build()
    replies = [finish(worker) for worker in pool]
  else:
    for worker in pool:
      worker.start_build()
      replies.append(finish(worker))
  built = []
  for rec, worker, (status, value) in zip(records, pool, replies):
    if status == "ok":
      rec.update(value)
      built.append((rec, {
          kind: functools.partial(worker.call, kind)
          for kind in ("forward", "grad")
      }))
    elif status == "skipped":
      rec.update(status="skipped", note=value)
    else:
      _failed(rec, workers.WorkerError(
          value if value.startswith(worker.label) else
          f"{worker.label}: {value}"), strict)
  return built


def measure_group(group: Group, *, repeats: int, budget_s: float,
                  strict: bool,
                  bandwidth_gbps: float | None = None,
                  matmul_gflops: float | None = None,
                  compile_threads: int = 1,
                  isolate: dict[str, Any] | None = None
                  ) -> list[dict[str, Any]]:
  """Builds, compiles and times every entry of `group`, interleaved.

  Args:
    group: the case.
    repeats: the most timed calls per program.
    budget_s: target seconds of timed calls per pass.
    strict: re-raise any error other than `timing.Unavailable`.
    bandwidth_gbps: the bound the byte model is divided by (None: no
      fractions).
    matmul_gflops: the arithmetic roof for the roofline fractions (None:
      none).
    compile_threads: XLA compilations run at once (their compile seconds
      are then wall times of concurrent work).
    isolate: None to build and time every entry in this process; else
      `dict(smoke=, modes=, group_index=)`, which say how a worker rebuilds
      `group` (`build_groups(sizes, modes)[group_index]`), and every entry
      runs in a worker process of its own (`benchmarks.workers`).

  Returns:
    One record per entry. Entries that could not be built have status
    "skipped" (missing library or module) or "failed" (anything else, unless
    `strict`, which re-raises) and a note saying why. Measured ones carry
    medians, spreads, a `noisy` flag, the byte and flop models and the
    fractions of the bandwidth bound and of the roofline.
  """
  records = [_new_record(group, entry) for entry in group.entries]
  pool = []
  try:
    if isolate is None:
      built = _build_here(group, records, strict=strict,
                          compile_threads=compile_threads)
      timer = timing.timed_call
    else:
      built = _build_in_workers(group, records, isolate, pool, strict=strict,
                                compile_threads=compile_threads)
      timer = _call_returns_ms
    for rec in records:
      if rec["note"]:
        _log(f"  note: {group.component} [{rec['library']}, {rec['mode']}] "
             f"{rec['status']}: {rec['note']}")
    if built:
      _log(f"  timing {group.component} {group.shape}: "
           f"{len(built)} implementation(s)"
           f"{' in worker processes' if isolate else ''}")
      for kind, attr in (("forward", "forward"),
                         ("forward_backward", "grad")):
        times = timing.interleaved_times([calls[attr] for _, calls in built],
                                         max_rounds=repeats,
                                         budget_s=budget_s, timer=timer)
        for (rec, _), ts in zip(built, times):
          rec[f"{kind}_ms"] = timing.median(ts)
          rec[f"{kind}_times_ms"] = [round(v, 4) for v in ts]
          rec[f"{kind}_spread"] = timing.spread(ts)
          rec[f"bandwidth_fraction_{kind}"] = bytemodel.bandwidth_fraction(
              rec[f"bytes_{kind}"], bandwidth_gbps, rec[f"{kind}_ms"])
          rec[f"roofline_fraction_{kind}"] = bytemodel.roofline_fraction(
              rec[f"bytes_{kind}"], rec[f"flops_{kind}"], bandwidth_gbps,
              matmul_gflops, rec[f"{kind}_ms"])
      for rec, _ in built:
        rec["noisy"] = _is_noisy(rec)
  finally:
    for worker in pool:
      worker.close()
  _add_ratios(records)
  return records


def byte_record(group: Group, entry: Entry, workload: timing.Workload,
                forward_out: Any) -> dict[str, int | None]:
  """The byte and flop models of one entry (`benchmarks.bytemodel`).

  Returns:
    `bytes_forward`, `bytes_forward_backward`,
    `bytes_forward_backward_recompute`, `flops_forward` and
    `flops_forward_backward` (None where the flops are not modelled).
  """
  dims = {**group.dims, **(entry.byte_dims or {})}
  model = bytemodel.traffic(group.component, dims,
                            x_bytes=bytemodel.tree_bytes(workload.x),
                            p_bytes=bytemodel.tree_bytes(workload.params),
                            y_bytes=bytemodel.tree_bytes(forward_out))
  record = {f"bytes_{k}": v for k, v in model.items()}
  flops = bytemodel.matmul_flops(group.component, dims)
  for kind in ("forward", "forward_backward"):
    record[f"flops_{kind}"] = None if flops is None else flops[kind]
  return record


def _is_noisy(rec: dict[str, Any]) -> bool:
  """Whether either pass's spread exceeds `timing.NOISY_SPREAD`."""
  return any(rec.get(f"{k}_spread") is not None
             and rec[f"{k}_spread"] > timing.NOISY_SPREAD
             for k in ("forward", "forward_backward"))


def _add_ratios(records: list[dict[str, Any]]) -> None:
  """ours / theirs for every measured spike_ssm row of one group."""
  refs = [r for r in records if r["reference"] and r["status"] == "ok"]
  ref = refs[0] if refs else None
  for rec in records:
    rec["ratio_to"] = None
    for kind in ("forward", "forward_backward"):
      rec[f"ratio_{kind}"] = None
    if ref is None or rec["library"] != OURS or rec["status"] != "ok":
      continue
    rec["ratio_to"] = f"{ref['library']} {ref['mode']}"
    for kind in ("forward", "forward_backward"):
      rec[f"ratio_{kind}"] = rec[f"{kind}_ms"] / ref[f"{kind}_ms"]


# ----------------------------------------------------------------------------
# Output.
# ----------------------------------------------------------------------------

_HEADER = ("component", "library", "shape", "mode", "fwd ms", "fwd+bwd ms",
           "spread f / f+b", "of bound f / f+b", "of roofline f / f+b",
           "compile s (f / f+b)",
           "ours/theirs fwd", "ours/theirs f+b")


def _ms(v: float | None) -> str:
  if v is None:
    return "-"
  return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.3f}"


def _ratio(v: float | None) -> str:
  return "-" if v is None else f"{v:.2f}x"


def _pct(v: float | None) -> str:
  if v is None:
    return "-"
  if v >= 0.1:
    return f"{100 * v:.0f}%"
  return f"{100 * v:.1f}%" if v >= 0.01 else f"{100 * v:.2g}%"


def _pair(r: dict[str, Any], key: str) -> str:
  """`key` % of forward / forward+backward, e.g. "3% / 12%"."""
  return (f"{_pct(r.get(key.format('forward')))} / "
          f"{_pct(r.get(key.format('forward_backward')))}")


def format_table(records: Sequence[dict[str, Any]]) -> str:
  """The measured rows as a Markdown table (skipped rows are left out)."""
  rows = []
  for r in records:
    if r["status"] != "ok":
      continue
    compile_s = (f"{r['compile_forward_s']:.2f} / "
                 f"{r['compile_forward_backward_s']:.2f}")
    lib = r["library"] + (" (ref)" if r["reference"] else "")
    spread = _pair(r, "{}_spread") + (" NOISY" if r.get("noisy") else "")
    rows.append((r["component"], lib, r["shape"], r["mode"],
                 _ms(r.get("forward_ms")), _ms(r.get("forward_backward_ms")),
                 spread, _pair(r, "bandwidth_fraction_{}"),
                 _pair(r, "roofline_fraction_{}"), compile_s,
                 _ratio(r["ratio_forward"]),
                 _ratio(r["ratio_forward_backward"])))
  widths = [max(len(row[i]) for row in [_HEADER, *rows])
            for i in range(len(_HEADER))]
  right = set(range(4, len(_HEADER)))

  def line(cells):
    return "| " + " | ".join(
        c.rjust(w) if i in right else c.ljust(w)
        for i, (c, w) in enumerate(zip(cells, widths))) + " |"

  rule = "|" + "|".join(
      ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
      for i, w in enumerate(widths)) + "|"
  return "\n".join([line(_HEADER), rule] + [line(r) for r in rows])


def _load(load: list[float] | None) -> str:
  return "n/a" if load is None else " ".join(f"{v:.2f}" for v in load)


def _machine_line(machine: dict[str, Any]) -> str:
  v = machine["versions"]
  return (f"{machine['cpu_model']}, {machine['cpu_count']} cores "
          f"({machine['cpu_usable']} usable), backend {machine['backend']} "
          f"({machine.get('device_kind')}), jax {v['jax']}, dm-haiku "
          f"{v['dm-haiku']}, spyx {v['spyx']}, flax {v['flax']}")


def header_lines(machine: dict[str, Any],
                 roof: dict[str, Any] | None) -> list[str]:
  """The lines printed above the table: machine, load, roofline, legend."""
  lines = [f"machine: {_machine_line(machine)}",
           "load average (1/5/15 min): before "
           f"{_load(machine['loadavg_start'])}; after "
           f"{_load(machine.get('loadavg_end'))}"]
  if machine.get("isolate") is not None:
    lines.append(
        "processes: " + ("each implementation in a worker process of its "
                         "own, one call at a time, rounds interleaved "
                         "(benchmarks/workers.py)" if machine["isolate"] else
                         "every implementation in this one process, rounds "
                         "interleaved"))
  if roof is not None:
    lines.append(roofline.summary(roof))
  lines.append(
      f"spread = (max - min) / median of a row's timed calls; NOISY above "
      f"{timing.NOISY_SPREAD:.0%}. of bound = minimum bytes "
      "(benchmarks/bytemodel.py) / bound bandwidth / median time; of "
      "roofline = max(that, projection flops / matmul rate) over the "
      "time: the arithmetic roof counts for S5 and LRU, Mamba's is not "
      "modelled (-).")
  return lines


def _write_json(path: str, payload: dict[str, Any]) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(payload, f, indent=1)
    f.write("\n")
  os.replace(tmp, path)  # A crash mid-write never leaves a truncated file.


# ----------------------------------------------------------------------------
# Entry point.
# ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  """Parses and validates the command line.

  Raises:
    ValueError: on an unknown `--only` component or `--modes` mode, a
      `--repeats` or `--compile_threads` < 1, a negative `--budget` or a
      `--roofline_mib` <= 0.
  """
  parser = argparse.ArgumentParser(
      prog="python -m benchmarks.run",
      description="spike_ssm vs Spyx speed benchmarks.")
  parser.add_argument(
      "--only", default="",
      help="comma-separated components to run, from: " +
      ", ".join(COMPONENTS) + " (default: all" +
      (" but " + ", ".join(OPT_IN) if OPT_IN else "") + ")")
  parser.add_argument(
      "--modes", default=None,
      help="comma-separated scan modes timed for spike_ssm layers, from: " +
      ", ".join(SCAN_MODES) + " (default: all; --smoke: " +
      ",".join(SMOKE_MODES) + ")")
  parser.add_argument("--roofline_mib", type=float, default=None,
                      help="MiB per array of the bandwidth measurement "
                      "(default: benchmarks.roofline's per backend)")
  parser.add_argument("--no_roofline", action="store_true",
                      help="skip the bandwidth measurement (no fractions)")
  parser.add_argument("--json", default=None,
                      help="output path (default benchmarks/results_"
                      "<backend>.json, or ..._smoke.json with --smoke)")
  parser.add_argument("--repeats", type=int, default=None,
                      help=f"most timed calls per program (default "
                      f"{DEFAULT_REPEATS}; long cases get fewer, at least 3)")
  parser.add_argument("--budget", type=float, default=None,
                      help="target seconds of timed calls per group and "
                      f"pass (default {DEFAULT_BUDGET_S:g})")
  parser.add_argument("--compile_threads", type=int, default=1,
                      help="compile a case's programs in this many threads "
                      "(default 1; compile seconds are then concurrent "
                      "wall times)")
  parser.add_argument("--isolate", default="auto",
                      choices=("auto", "on", "off"),
                      help="time every implementation in a worker process "
                      "of its own (benchmarks/workers.py; auto: on for a "
                      "full run on a CPU, off for --smoke and accelerators)")
  parser.add_argument("--smoke", action="store_true",
                      help="tiny shapes and one repeat: checks that it runs")
  parser.add_argument("--strict", action="store_true",
                      help="raise on any error other than a missing module")
  args = parser.parse_args(argv)

  known = {c.lower(): c for c in COMPONENTS}
  only = [s.strip() for s in args.only.split(",") if s.strip()]
  unknown = [s for s in only if s.lower() not in known]
  if unknown:
    raise ValueError(f"--only: unknown component(s) {unknown}; expected a "
                     f"comma-separated subset of {list(COMPONENTS)}.")
  args.only = [known[s.lower()] for s in only]
  if args.modes is None:
    args.modes = list(SMOKE_MODES if args.smoke else SCAN_MODES)
  else:
    modes = [s.strip().lower() for s in args.modes.split(",") if s.strip()]
    bad = [m for m in modes if m not in SCAN_MODES]
    if bad or not modes:
      raise ValueError(f"--modes: unknown or no mode(s) {bad}; expected a "
                       f"comma-separated subset of {list(SCAN_MODES)}.")
    args.modes = modes
  if args.compile_threads < 1:
    raise ValueError(f"--compile_threads: expected an integer >= 1, got "
                     f"{args.compile_threads}.")
  if args.roofline_mib is not None and not args.roofline_mib > 0:
    raise ValueError(f"--roofline_mib: expected MiB > 0, got "
                     f"{args.roofline_mib}.")
  if args.only:
    args.components = list(args.only)
  elif args.smoke:
    args.components = list(COMPONENTS)
  else:
    args.components = [c for c in COMPONENTS if c not in OPT_IN]
  if args.repeats is None:
    args.repeats = 1 if args.smoke else DEFAULT_REPEATS
  if args.repeats < 1:
    raise ValueError(f"--repeats: expected an integer >= 1, got "
                     f"{args.repeats}.")
  if args.budget is None:
    args.budget = 0.0 if args.smoke else DEFAULT_BUDGET_S
  if args.budget < 0:
    raise ValueError(f"--budget: expected seconds >= 0, got {args.budget}.")
  return args


def resolve_isolate(isolate: str, backend: str, smoke: bool) -> bool:
  """Whether `--isolate=auto|on|off` runs each entry in its own process.

  `auto` is on for full runs on a CPU, where one process's allocator
  couples the libraries' timings (`benchmarks/workers.py`), and off for
  `--smoke` (it only has to run) and on accelerators, whose device memory
  comes from XLA's own pool.
  """
  if isolate == "auto":
    return backend == "cpu" and not smoke
  return isolate == "on"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs the benchmarks; returns the JSON payload it wrote."""
  args = parse_args(argv)
  machine = timing.machine_info()
  peer_ok, peer_info = spyx_peer.available()
  _log(f"machine: {_machine_line(machine)}; load average "
       f"{_load(machine['loadavg_start'])}")
  if not peer_ok:
    _log(f"Spyx is not importable ({peer_info}): running spike_ssm alone; "
         "the peer rows are skipped.")

  roof = None
  if not args.no_roofline:
    kwargs = dict(SMOKE_ROOFLINE) if args.smoke else {}
    if args.roofline_mib is not None:
      kwargs["mib"] = args.roofline_mib
    roof = roofline.measure(**kwargs)
    _log(roofline.summary(roof))
  bound = None if roof is None else roof["bandwidth_gbps"]

  sizes = SMOKE if args.smoke else FULL
  groups = [(i, g) for i, g in enumerate(build_groups(sizes, args.modes))
            if g.component in args.components]
  isolate = resolve_isolate(args.isolate, machine["backend"], args.smoke)
  machine["isolate"] = isolate
  left_out = [c for c in COMPONENTS if c not in args.components]
  if left_out and not args.only:
    _log(f"not run by default: {', '.join(left_out)} (name them in --only)")
  path = args.json
  if path is None:
    suffix = "_smoke" if args.smoke else ""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        f"results_{machine['backend']}{suffix}.json")

  records = []
  for i, (group_index, group) in enumerate(groups):
    _log(f"[{group.component} {group.shape}]")
    records += measure_group(
        group, repeats=args.repeats, budget_s=args.budget,
        strict=args.strict, bandwidth_gbps=bound,
        matmul_gflops=None if roof is None else roof["matmul_bound_gflops"],
        compile_threads=args.compile_threads,
        isolate=dict(smoke=args.smoke, modes=args.modes,
                     group_index=group_index) if isolate else None)
    if i + 1 < len(groups):
      # A run stopped early (a time limit) still leaves the finished cases.
      _write_json(path, _payload(args, machine, roof, peer_ok, peer_info,
                                 records, complete=False))
  machine["loadavg_end"] = timing.loadavg()
  payload = _payload(args, machine, roof, peer_ok, peer_info, records,
                     complete=True)
  _write_json(path, payload)

  for line in header_lines(machine, roof):
    print(line)
  print(format_table(records))
  print("ratio = spike_ssm / reference row (ref) of the same case; "
        "< 1 means spike_ssm is faster.")
  for note in payload["notes"]:
    print(f"note: {note}")
  print(f"wrote {path}")
  return payload


def _payload(args: argparse.Namespace, machine: dict[str, Any],
             roof: dict[str, Any] | None, peer_ok: bool, peer_info: str,
             records: list[dict[str, Any]], *,
             complete: bool) -> dict[str, Any]:
  """The JSON document of a run (`complete` False while it is running)."""
  notes = [f"{r['component']} {r['shape']} [{r['library']}, {r['mode']}] "
           f"{r['status']}: {r['note']}" for r in records if r["note"]]
  if not peer_ok:
    notes.insert(0, f"Spyx not importable ({peer_info}); spike_ssm ran alone.")
  return dict(
      complete=complete,
      machine=machine,
      settings=dict(smoke=args.smoke, repeats=args.repeats,
                    budget_s=args.budget, components=args.components,
                    modes=args.modes, compile_threads=args.compile_threads,
                    isolate=machine.get("isolate"),
                    spread="(max - min) / median of the timed calls",
                    noisy_above=timing.NOISY_SPREAD,
                    roofline_fraction="max(bytes / roofline.bandwidth_"
                    "gbps, flops / roofline.matmul_bound_gflops) / median "
                    "time; flops from bytemodel.matmul_flops",
                    bandwidth_fraction="bytes / roofline.bandwidth_gbps / "
                    "median time; bytes from benchmarks/bytemodel.py"),
      roofline=roof,
      peer=dict(available=peer_ok, info=peer_info),
      results=records, notes=notes)


if __name__ == "__main__":
  try:
    main()
  except (ValueError, workers.WorkerError) as e:
    sys.exit(f"error: {e}")
