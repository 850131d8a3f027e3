"""Tests for the benchmark harness (benchmarks/): it runs; no timings asserted.

The whole harness runs once on tiny shapes (`--smoke`: every component, the
`auto` mode of each spike_ssm layer, a 4 MiB roofline) so that a renamed
module or a changed signature breaks a test rather than the next benchmark
run. Spyx is not installed in the test environment, so there its rows must
come back as skipped with a note; in the peer venv they must be measured.
The byte models, the spread and its flag, the roofline's kernels and the
train benchmark's flag are tested on their own, against hand counts.
"""

import json
import math
import os
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import bytemodel
from benchmarks import roofline
from benchmarks import run
from benchmarks import spyx_peer
from benchmarks import sweeps
from benchmarks import timing
from benchmarks import train_bench
from benchmarks import workers


class SmokeRunTest(parameterized.TestCase):

  def test_smoke_run_measures_every_available_case(self):
    # Given a tiny-shape run of every component, failing on any error other
    # than a module that has not landed yet.
    path = os.path.join(self.create_tempdir().full_path, "out.json")
    peer_ok, _ = spyx_peer.available()

    # When it runs, compiling each case's programs in two threads.
    payload = run.main(["--smoke", "--strict", "--compile_threads=2",
                        f"--json={path}"])

    # Then the JSON on disk is what it returned, with the machine described.
    with open(path, encoding="utf-8") as f:
      self.assertEqual(json.load(f), json.loads(json.dumps(payload)))
    self.assertEqual(payload["peer"]["available"], peer_ok)
    for key in ("cpu_model", "cpu_count", "backend", "versions",
                "device_kind", "loadavg_start", "loadavg_end"):
      self.assertIn(key, payload["machine"])
    self.assertIsNotNone(payload["machine"]["versions"]["jax"])
    self.assertEqual(payload["machine"]["device_kind"],
                     jax.devices()[0].device_kind)
    self.assertTrue(payload["complete"])
    self.assertEqual(payload["settings"]["modes"], list(run.SMOKE_MODES))

    # And the roofline ran on the smoke arrays, its bound one of its figures.
    roof = payload["roofline"]
    self.assertEqual(roof["array_mib"], run.SMOKE_ROOFLINE["mib"])
    self.assertGreater(roof["bandwidth_gbps"], 0)
    kind, kernel = roof["bandwidth_source"].split()
    self.assertEqual(roof[f"{kind}_gbps"][kernel], roof["bandwidth_gbps"])

    # And every component appears, each with a reference row.
    results = payload["results"]
    self.assertEqual({r["component"] for r in results}, set(run.COMPONENTS))
    for component in run.COMPONENTS:
      refs = [r for r in results
              if r["component"] == component and r["reference"]]
      self.assertNotEmpty(refs, component)

    # And the native-scan rows always run, as do Spyx's exactly when it
    # imports; a row that did not run says why.
    for r in results:
      if r["library"] in (run.OURS, run.JAX) and r["component"] == (
          "linear_scan"):
        self.assertEqual(r["status"], "ok", r)
      if r["library"] == run.SPYX:
        self.assertEqual(r["status"], "ok" if peer_ok else "skipped", r)
      if r["status"] != "ok":
        self.assertTrue(r["note"], r)
    if not peer_ok:
      self.assertIn("Spyx not importable", payload["notes"][0])

    # And measured rows carry positive finite times and compile times, and
    # spike_ssm rows the ratio to their group's measured reference row.
    for r in results:
      if r["status"] != "ok":
        continue
      for key in ("forward_ms", "forward_backward_ms", "compile_forward_s",
                  "compile_forward_backward_s", "bytes_forward",
                  "bytes_forward_backward",
                  "bytes_forward_backward_recompute"):
        self.assertTrue(math.isfinite(r[key]) and r[key] > 0, (key, r))
      # With the fraction of the bound that the bytes and times give, and
      # the spread of the calls (one call in a smoke run: no spread).
      for kind in ("forward", "forward_backward"):
        self.assertAlmostEqual(
            r[f"bandwidth_fraction_{kind}"],
            r[f"bytes_{kind}"] / (roof["bandwidth_gbps"] * 1e9) /
            (r[f"{kind}_ms"] * 1e-3))
        self.assertEqual(r[f"{kind}_spread"],
                         timing.spread(r[f"{kind}_times_ms"]))
        self.assertEqual(
            r[f"roofline_fraction_{kind}"],
            bytemodel.roofline_fraction(
                r[f"bytes_{kind}"], r[f"flops_{kind}"],
                roof["bandwidth_gbps"], roof["matmul_bound_gflops"],
                r[f"{kind}_ms"]))
        if r[f"flops_{kind}"] == 0:  # Elementwise: the bandwidth bound.
          self.assertAlmostEqual(r[f"roofline_fraction_{kind}"],
                                 r[f"bandwidth_fraction_{kind}"])
      self.assertEqual(r["noisy"], max(r["forward_spread"],
                                       r["forward_backward_spread"]) > 0.2)
      ref = [q for q in results if q["reference"] and q["status"] == "ok"
             and q["component"] == r["component"] and q["shape"] == r["shape"]]
      if r["library"] == run.OURS and ref:
        self.assertAlmostEqual(r["ratio_forward"],
                               r["forward_ms"] / ref[0]["forward_ms"])
      else:
        self.assertIsNone(r["ratio_forward"])


class ArgsTest(parameterized.TestCase):

  def test_only_selects_components_case_insensitively(self):
    # Given / When
    args = run.parse_args(["--only=lif, s5,linear_SCAN"])
    # Then
    self.assertEqual(args.only, ["LIF", "S5", "linear_scan"])

  def test_modes_default_to_all_and_to_auto_in_smoke(self):
    self.assertEqual(run.parse_args([]).modes, list(run.SCAN_MODES))
    self.assertEqual(run.parse_args(["--smoke"]).modes, ["auto"])
    self.assertEqual(run.parse_args(["--modes=Parallel, auto"]).modes,
                     ["parallel", "auto"])

  def test_modes_choose_the_timed_entries(self):
    # Given only the chunked mode.
    groups = run.build_groups(run.SMOKE, ["chunked"])
    # Then every spike_ssm layer with modes has that one; S5's default
    # (conjugate-symmetric, auto) row comes only with auto.
    for g in groups:
      ours = [e.mode for e in g.entries if e.library == run.OURS]
      if g.component != "LIF":
        self.assertEqual(ours, ["chunked"], g.component)
      self.assertLen([e for e in g.entries if e.reference], 1)

  @parameterized.named_parameters(
      ("unknown_component", ["--only=LIF,GRU"], "--only"),
      ("zero_repeats", ["--repeats=0"], "--repeats"),
      ("negative_budget", ["--budget=-1"], "--budget"),
      ("unknown_mode", ["--modes=auto,fast"], "--modes"),
      ("no_mode", ["--modes=,"], "--modes"),
      ("zero_roofline", ["--roofline_mib=0"], "--roofline_mib"),
      ("zero_threads", ["--compile_threads=0"], "--compile_threads"),
  )
  def test_bad_arguments_raise_naming_the_flag(self, argv, flag):
    with self.assertRaisesRegex(ValueError, flag):
      run.parse_args(argv)


class RatioAndTableTest(parameterized.TestCase):

  def _record(self, library, mode, fwd, bwd, reference=False, status="ok"):
    rec = dict(component="S5", library=library, shape="T=8", dims={},
               mode=mode, reference=reference, status=status, note=None,
               compile_forward_s=0.5, compile_forward_backward_s=1.5)
    if status == "ok":
      rec.update(forward_ms=fwd, forward_backward_ms=bwd)
    else:
      rec["note"] = "not here"
    return rec

  def test_ratios_divide_ours_by_the_reference_row(self):
    # Given two spike_ssm rows and a Spyx reference row.
    records = [self._record(run.OURS, "sequential", 2.0, 9.0),
               self._record(run.OURS, "parallel", 8.0, 3.0),
               self._record(run.SPYX, "parallel", 4.0, 6.0, reference=True)]
    # When
    run._add_ratios(records)
    # Then
    self.assertEqual([r["ratio_forward"] for r in records], [0.5, 2.0, None])
    self.assertEqual([r["ratio_forward_backward"] for r in records],
                     [1.5, 0.5, None])
    self.assertEqual(records[0]["ratio_to"], "spyx parallel")

  def test_no_ratio_without_a_measured_reference(self):
    records = [self._record(run.OURS, "auto", 2.0, 9.0),
               self._record(run.SPYX, "parallel", None, None, reference=True,
                            status="skipped")]
    run._add_ratios(records)
    self.assertIsNone(records[0]["ratio_forward"])
    self.assertIsNone(records[0]["ratio_forward_backward"])

  def test_noisy_rows_are_flagged_in_the_table(self):
    # Given one row whose fwd+bwd spread is just over 20%, one just under.
    records = [self._record(run.OURS, "auto", 2.0, 9.0),
               self._record(run.OURS, "parallel", 2.0, 9.0)]
    for rec, bwd_spread in zip(records, (0.21, 0.19)):
      rec.update(forward_spread=0.05, forward_backward_spread=bwd_spread)
      rec["noisy"] = run._is_noisy(rec)
    run._add_ratios(records)
    # When
    rows = run.format_table(records).splitlines()[2:]
    # Then only the first is flagged, and the spreads are printed.
    self.assertEqual([r["noisy"] for r in records], [True, False])
    self.assertIn("5.0% / 21% NOISY", rows[0])
    self.assertIn("5.0% / 19%", rows[1])
    self.assertNotIn("NOISY", rows[1])

  def test_header_gives_the_load_before_and_after(self):
    machine = timing.machine_info()
    machine["loadavg_start"] = [1.0, 2.0, 3.0]
    machine["loadavg_end"] = [4.5, 5.0, 6.0]
    lines = run.header_lines(machine, None)
    self.assertIn("before 1.00 2.00 3.00; after 4.50 5.00 6.00", lines[1])

  def test_table_lists_measured_rows_only(self):
    records = [self._record(run.OURS, "chunked", 2.0, 9.0),
               self._record(run.SPYX, "parallel", None, None, reference=True,
                            status="skipped")]
    run._add_ratios(records)
    table = run.format_table(records).splitlines()
    # Header, rule, one row.
    self.assertLen(table, 3)
    self.assertIn("chunked", table[2])
    self.assertNotIn("spyx", table[2])


class WorkerProcessTest(parameterized.TestCase):
  """`--isolate`: every entry of a group built and timed in its own process."""

  def test_isolated_group_matches_the_in_process_records(self):
    # Given the smoke LIF group (spike_ssm and Spyx) and how to rebuild it.
    index, group = next((i, g) for i, g in enumerate(
        run.build_groups(run.SMOKE, run.SMOKE_MODES)) if g.component == "LIF")
    isolate = dict(smoke=True, modes=list(run.SMOKE_MODES),
                   group_index=index)
    peer_ok, _ = spyx_peer.available()

    # When it is measured in worker processes.
    apart = run.measure_group(group, repeats=2, budget_s=0.0, strict=False,
                              bandwidth_gbps=1.0, isolate=isolate)

    # Then its rows are the group's, a missing peer is skipped with its
    # reason, and each measured row has the byte model of its workload as
    # built here and two timed calls per pass.
    self.assertEqual([(r["library"], r["mode"]) for r in apart],
                     [(e.library, e.mode) for e in group.entries])
    self.assertEqual([r["status"] for r in apart],
                     ["ok", "ok" if peer_ok else "skipped"])
    inputs = group.make_inputs()
    for a, entry in zip(apart, group.entries):
      if a["status"] != "ok":
        self.assertIn("spyx is not importable", a["note"])
        continue
      workload = entry.build(inputs)
      out = jax.eval_shape(workload.fn, workload.params, workload.x)
      for key, value in run.byte_record(group, entry, workload, out).items():
        self.assertEqual(a[key], value, key)
      for kind in ("forward", "forward_backward"):
        self.assertLen(a[f"{kind}_times_ms"], 2)
        self.assertTrue(all(v > 0 for v in a[f"{kind}_times_ms"]))
        # (The JSON keeps each call to 4 decimals of a millisecond.)
        self.assertAlmostEqual(a[f"{kind}_ms"],
                               timing.median(a[f"{kind}_times_ms"]),
                               places=3)
      self.assertGreater(a["compile_forward_backward_s"], 0)

  def test_a_worker_that_dies_is_reported_not_waited_for(self):
    # Given a worker asked for an entry its group does not have (it raises
    # IndexError while building and exits).
    worker = workers.Worker(smoke=True, modes=["auto"], group_index=0,
                            entry_index=99, label="LIF [nobody]")
    try:
      worker.start_build()
      # Then the parent gets an error naming the entry and the exit.
      with self.assertRaisesRegex(workers.WorkerError,
                                  r"LIF \[nobody\].*exited \(code 1\)"):
        worker.finish_build()
    finally:
      worker.close()

  def test_a_worker_lost_while_building_fails_its_row_only(self):
    # Given a group whose second worker dies while building (a stand-in
    # for the process: the parent's side is what is under test).
    index, group = next((i, g) for i, g in enumerate(
        run.build_groups(run.SMOKE, run.SMOKE_MODES)) if g.component == "LIF")
    calls = []

    class FakeWorker:

      def __init__(self, *, entry_index, label, **unused):
        del unused
        self.label, self.entry_index = label, entry_index

      def start_build(self):
        pass

      def finish_build(self):
        if self.entry_index == 1:
          raise workers.WorkerError(f"{self.label}: the worker process "
                                    "exited (code -9)")
        return "ok", {"compile_forward_s": 0.1,
                      "compile_forward_backward_s": 0.2,
                      "bytes_forward": 8, "bytes_forward_backward": 16,
                      "bytes_forward_backward_recompute": 24,
                      "flops_forward": 0, "flops_forward_backward": 0}

      def call(self, kind):
        calls.append((self.entry_index, kind))
        return 1.5

      def close(self):
        calls.append((self.entry_index, "closed"))

    # When the group is measured in (fake) workers, not strictly.
    with mock.patch.object(workers, "Worker", FakeWorker):
      records = run.measure_group(
          group, repeats=2, budget_s=0.0, strict=False, bandwidth_gbps=1.0,
          isolate=dict(smoke=True, modes=["auto"], group_index=index))
    # Then that row failed naming the worker, the other was timed (a warm-up
    # and two calls per pass), and both workers were closed.
    self.assertEqual([r["status"] for r in records], ["ok", "failed"])
    self.assertRegex(records[1]["note"],
                     r"^WorkerError: LIF \[spyx, sequential\]: the worker "
                     r"process exited \(code -9\)$")
    self.assertEqual(records[0]["forward_times_ms"], [1.5, 1.5])
    self.assertEqual(calls.count((0, "grad")), 3)
    self.assertIn((1, "closed"), calls)

  @parameterized.named_parameters(
      ("auto_cpu_full", "auto", "cpu", False, True),
      ("auto_cpu_smoke", "auto", "cpu", True, False),
      ("auto_gpu", "auto", "gpu", False, False),
      ("on_smoke", "on", "cpu", True, True),
      ("off_cpu", "off", "cpu", False, False),
  )
  def test_isolate_flag(self, flag, backend, smoke, expected):
    self.assertEqual(run.resolve_isolate(flag, backend, smoke), expected)
    self.assertEqual(run.parse_args([f"--isolate={flag}"]).isolate, flag)


class SweepsTest(parameterized.TestCase):
  """benchmarks.sweeps: the evidence behind UNROLL and PARALLEL_CHUNK_BYTES."""

  def test_lif_unroll_sweep_runs_and_variants_agree(self):
    peer_ok, _ = spyx_peer.available()
    records = sweeps.sweep("lif_unroll", smoke=True, repeats=2, budget_s=0.0)
    self.assertEqual([r["variant"] for r in records],
                     ["LIF unroll=1", "LIF unroll=4", "LIF spyx"])
    self.assertEqual([r["status"] for r in records],
                     ["ok", "ok", "ok" if peer_ok else "skipped"])
    # The unrolled loop computes the same spikes and gradients.
    self.assertEqual(records[1]["max_abs_forward"], 0.0)
    self.assertEqual(records[1]["max_abs_grad"], 0.0)
    for r in records[:2]:
      self.assertGreater(r["forward_backward_ms"], 0)
    self.assertIn("| LIF unroll=4 |", sweeps.format_rows(records))

  def test_mamba_chunk_variants_build(self):
    labels = []
    for label, build in sweeps._variants("mamba_chunk", smoke=True):
      labels.append(label)
      if "spyx" in label:
        continue
      workload = build()
      out = jax.eval_shape(workload.fn, workload.params, workload.x)
      self.assertEqual(out.shape, workload.x.shape, label)
    t = run.SMOKE.mamba[0]
    self.assertEqual(labels, [
        "Mamba parallel C=sqrt(T)", f"Mamba parallel C={t}", "Mamba spyx",
        "MambaBlock parallel C=sqrt(T)", f"MambaBlock parallel C={t}",
        "MambaBlock spyx"])

  @parameterized.named_parameters(
      ("unknown_sweep", ["--only=lif_unroll,fast"], "--only"),
      ("zero_repeats", ["--repeats=0"], "--repeats"),
      ("negative_budget", ["--budget=-1"], "--budget"),
      ("nan_budget", ["--budget=nan"], "--budget"),
  )
  def test_bad_arguments_raise_naming_the_flag(self, argv, flag):
    with self.assertRaisesRegex(ValueError, flag):
      sweeps.main(argv)


class InterleavedTimesTest(parameterized.TestCase):

  def _counting_calls(self, n):
    counts = [0] * n

    def make(i):
      def call():
        counts[i] += 1
        return jnp.zeros(())
      return call

    return counts, [make(i) for i in range(n)]

  @parameterized.named_parameters(
      # A zero budget still gets min(min_rounds, max_rounds) rounds.
      ("zero_budget", 0.0, 10, 3),
      ("max_rounds_caps_min_rounds", 0.0, 2, 2),
      # A generous budget on near-free calls runs up to max_rounds.
      ("budget_reaches_max", 60.0, 5, 5),
  )
  def test_rounds_and_warmup(self, budget, max_rounds, rounds):
    # Given two cheap callables.
    counts, calls = self._counting_calls(2)
    # When timed with two warm-up calls each.
    times = timing.interleaved_times(calls, max_rounds=max_rounds,
                                     budget_s=budget, warmup=2)
    # Then each got the expected number of timed calls plus its warm-up.
    self.assertEqual([len(t) for t in times], [rounds, rounds])
    self.assertEqual(counts, [rounds + 2, rounds + 2])
    self.assertTrue(all(v >= 0 for t in times for v in t))

  @parameterized.named_parameters(("max_rounds", dict(max_rounds=0)),
                                  ("warmup", dict(max_rounds=1, warmup=0)))
  def test_bad_counts_raise(self, kwargs):
    name = [k for k, v in kwargs.items() if v == 0][0]
    with self.assertRaisesRegex(ValueError, name):
      timing.interleaved_times([lambda: jnp.zeros(())], **kwargs)


class SpreadTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ("three", [1.0, 2.0, 3.0], 1.0),  # (3 - 1) / 2
      ("even_count", [4.0, 5.0, 7.0, 9.0], 5.0 / 6.0),  # median 6
      ("one_call", [2.5], 0.0),
  )
  def test_spread_is_range_over_median(self, values, expected):
    self.assertAlmostEqual(timing.spread(values), expected)

  @parameterized.named_parameters(("empty", []), ("zero_median", [0.0, 0.0]))
  def test_bad_timings_raise(self, values):
    with self.assertRaisesRegex(ValueError, "values"):
      timing.spread(values)


class ByteModelTest(parameterized.TestCase):

  # x: 96 bytes, p: 16 bytes, y: 96 bytes in every case below; the expected
  # figures are counted by hand from benchmarks/README.md's formulas.
  @parameterized.named_parameters(
      # LIF T=2 B=3 D=4: R = v = 24 floats = 96 bytes, nothing re-read.
      # F = 96 + 16 + 96; G = 112 + 2 * 96 + 0 + 112; G0 = 3 * 112.
      ("lif", "LIF", dict(T=2, B=3, D=4), 208, 416, 336),
      ("psu_lif", "PSU_LIF", dict(T=2, B=3, D=4), 208, 416, 336),
      # S5 T=2 B=3 D=4 P=5: R = 2 * 2 * 3 * 5 floats = 240 bytes, x re-read.
      # G = 112 + 480 + 96 + 112.
      ("s5", "S5", dict(T=2, B=3, D=4, P=5), 208, 800, 336),
      ("lru", "LRU", dict(T=2, B=3, D=4, P=5), 208, 800, 336),
      # Mamba: nothing stored, x re-read: G = 112 + 96 + 112.
      ("mamba", "Mamba", dict(T=2, B=3, D=4, N=7), 208, 320, 336),
      ("mamba_block", "MambaBlock", dict(T=2, B=3, D=4, N=7), 208, 320, 336),
  )
  def test_traffic_matches_hand_counts(self, component, dims, fwd, fwd_bwd,
                                       recompute):
    got = bytemodel.traffic(component, dims, x_bytes=96, p_bytes=16,
                            y_bytes=96)
    self.assertEqual(got, {"forward": fwd, "forward_backward": fwd_bwd,
                           "forward_backward_recompute": recompute})

  def test_linear_scan_row_moves_seven_arrays_fwd_bwd(self):
    # Given the smoke linear_scan case: a, b, h are T=16 x 2x3 floats.
    group = [g for g in run.build_groups(run.SMOKE, ["sequential"])
             if g.component == "linear_scan"][0]
    entry = group.entries[0]
    workload = entry.build(group.make_inputs())
    out = jax.eval_shape(workload.fn, workload.params, workload.x)
    # When
    got = run.byte_record(group, entry, workload, out)
    # Then: read a, b, write h; fwd+bwd: read a, b, write and read h,
    # re-read a, write da, db; recompute bound: a, b read twice + grads.
    array = 16 * 2 * 3 * 4
    self.assertEqual(got, {"bytes_forward": 3 * array,
                           "bytes_forward_backward": 7 * array,
                           "bytes_forward_backward_recompute": 6 * array,
                           "flops_forward": 0, "flops_forward_backward": 0})

  def test_conj_sym_s5_stores_half_the_states(self):
    # Given the smoke S5 group (P=4) and its conjugate-symmetric row.
    group = [g for g in run.build_groups(run.SMOKE, ["auto"])
             if g.component == "S5"][0]
    entry = [e for e in group.entries if "conj_sym" in e.mode][0]
    workload = entry.build(group.make_inputs())
    out = jax.eval_shape(workload.fn, workload.params, workload.x)
    # When
    got = run.byte_record(group, entry, workload, out)
    # Then G - 2 (|x| + |p|) - |x| = 2 |R| with R the P / 2 = 2 complex
    # states of T=8 B=2 steps.
    x = bytemodel.tree_bytes(workload.x)
    p = bytemodel.tree_bytes(workload.params)
    self.assertEqual(got["bytes_forward_backward"] - 2 * (x + p) - x,
                     2 * (2 * 8 * 2 * 2 * 4))

  @parameterized.named_parameters(
      # 8 T B H P: four real (T B) x H x P products each way; 3x with the
      # backward (input and weight gradients).
      ("s5", "S5", dict(T=2, B=3, D=4, P=5), 960, 2880),
      ("lru", "LRU", dict(T=2, B=3, D=4, P=5), 960, 2880),
      ("lif", "LIF", dict(T=2, B=3, D=4), 0, 0),
      ("scan", "linear_scan", dict(T=2, S="2x3"), 0, 0),
  )
  def test_matmul_flops_match_hand_counts(self, component, dims, fwd,
                                          fwd_bwd):
    self.assertEqual(bytemodel.matmul_flops(component, dims),
                     {"forward": fwd, "forward_backward": fwd_bwd})

  def test_matmul_flops_are_unmodelled_for_mamba_and_checked(self):
    self.assertIsNone(bytemodel.matmul_flops("Mamba", dict(T=2)))
    with self.assertRaisesRegex(ValueError, "component"):
      bytemodel.matmul_flops("GRU", {})

  @parameterized.named_parameters(("s5", "S5"))
  def test_modelled_flops_do_not_exceed_xla_count(self, component):
    # Given the smoke layer (T=8 B=2 D=4 P=4) and XLA's own count of its
    # compiled programs' flops (every op, not only the products).
    group = [g for g in run.build_groups(run.SMOKE, ["sequential"])
             if g.component == component][0]
    workload = group.entries[0].build(group.make_inputs())
    lowered = timing.lower_workload(workload)
    counts = []
    for program in (lowered.forward, lowered.grad):
      analysis = program.compile().cost_analysis()
      if isinstance(analysis, list):
        analysis = analysis[0]
      counts.append(analysis["flops"])
    # Then the model's products are a part of what XLA counts, and a
    # sizeable one (the model is not off by a factor).
    model = bytemodel.matmul_flops(component, group.dims)
    for kind, xla in zip(("forward", "forward_backward"), counts):
      self.assertLessEqual(model[kind], xla, kind)
      self.assertGreater(model[kind], 0.1 * xla, kind)

  @parameterized.named_parameters(
      # 1 GB at 10 GB/s: 100 ms, the whole call.
      ("memory_bound", 1e9, 0, 10.0, 100.0, 100.0, 1.0),
      # 2 GFLOP at 100 GFLOP/s: 20 ms of a 40 ms call.
      ("compute_bound", 1e3, 2e9, 10.0, 100.0, 40.0, 0.5),
      ("no_flops_model", 1e9, None, 10.0, 100.0, 10.0, None),
      ("no_time", 1e9, 0, 10.0, 100.0, None, None),
  )
  def test_roofline_fraction(self, n_bytes, flops, gbps, gflops, ms,
                             expected):
    got = bytemodel.roofline_fraction(n_bytes, flops, gbps, gflops, ms)
    if expected is None:
      self.assertIsNone(got)
    else:
      self.assertAlmostEqual(got, expected)

  def test_tree_bytes_counts_every_leaf(self):
    tree = {"a": jnp.zeros((2, 3)), "b": [jax.ShapeDtypeStruct((5,),
                                                                jnp.int8)]}
    self.assertEqual(bytemodel.tree_bytes(tree), 2 * 3 * 4 + 5)

  def test_unknown_component_raises(self):
    with self.assertRaisesRegex(ValueError, "component"):
      bytemodel.traffic("GRU", dict(T=1), 4, 0, 4)

  @parameterized.named_parameters(
      # 1 GB at 10 GB/s takes 100 ms: at the bound.
      ("at_bound", 10**9, 10.0, 100.0, 1.0),
      ("half", 10**9, 10.0, 200.0, 0.5),
      ("no_bandwidth", 10**9, None, 100.0, None),
      ("no_time", 10**9, 10.0, None, None),
  )
  def test_bandwidth_fraction(self, n_bytes, gbps, ms, expected):
    got = bytemodel.bandwidth_fraction(n_bytes, gbps, ms)
    if expected is None:
      self.assertIsNone(got)
    else:
      self.assertAlmostEqual(got, expected)


class RooflineTest(parameterized.TestCase):

  def test_numpy_triad_covers_a_ragged_last_block(self):
    # Given arrays two blocks and three elements long.
    n = 2 * roofline._BLOCK + 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n).astype(np.float32)
    c = rng.standard_normal(n).astype(np.float32)
    expected = a.astype(np.float64) + 0.5 * c.astype(np.float64)
    tmp = np.empty(roofline._BLOCK, np.float32)
    # When
    roofline._np_triad(a, c, tmp, np.float32(0.5))
    # Then c <- a + 0.5 c everywhere.
    np.testing.assert_allclose(c, expected, rtol=1e-6, atol=1e-6)

  def test_measure_on_tiny_arrays(self):
    # Given / When: 1 MiB arrays, an 8 x 8 matmul, one timing each.
    r = roofline.measure(mib=1, matmul_n=8, reps=1)
    # Then every figure is a positive rate and the bound is the best
    # in-place figure of the backend's memory.
    rates = [*r["numpy_gbps"].values(), *r["jax_gbps"].values(),
             *r["matmul_gflops"].values()]
    self.assertTrue(all(math.isfinite(v) and v > 0 for v in rates), r)
    candidates = [r["jax_gbps"]["copy"], r["jax_gbps"]["triad"]]
    if r["backend"] == "cpu":
      candidates += list(r["numpy_gbps"].values())
    self.assertEqual(r["bandwidth_gbps"], max(candidates))
    self.assertEqual(r["device_kind"], jax.devices()[0].device_kind)
    self.assertIn("GB/s", roofline.summary(r))

  @parameterized.named_parameters(
      ("mib", dict(mib=0), "mib"),
      ("matmul_n", dict(mib=1, matmul_n=0), "matmul_n"),
      ("reps", dict(mib=1, matmul_n=8, reps=0), "reps"),
  )
  def test_bad_arguments_raise(self, kwargs, name):
    with self.assertRaisesRegex(ValueError, name):
      roofline.measure(**kwargs)

  def test_default_arrays_exceed_the_cache(self):
    llc = roofline.last_level_cache_bytes()
    mib = roofline.default_mib("cpu")
    self.assertGreaterEqual(mib, 128)
    if llc is not None:
      self.assertGreaterEqual(mib * (1 << 20), 4 * llc)


class TrainBenchTest(parameterized.TestCase):

  def test_configs_flag_parses_names_and_arguments(self):
    self.assertEqual(
        train_bench.parse_configs(" s5_lra,spiking_ssm_lra:demo "),
        [("s5_lra", None), ("spiking_ssm_lra", "demo")])

  @parameterized.named_parameters(("unknown", "s5_lra,gru_lra"),
                                  ("empty", " , "))
  def test_bad_configs_raise_naming_the_flag(self, text):
    with self.assertRaisesRegex(ValueError, "--configs"):
      train_bench.parse_configs(text)


class LossTest(absltest.TestCase):

  def test_sum_of_squares_covers_every_leaf(self):
    tree = (jnp.array([1.0, 2.0]), {"s": jnp.array([[3.0]], jnp.bfloat16)})
    self.assertEqual(float(timing.sum_of_squares(tree)), 14.0)


if __name__ == "__main__":
  absltest.main()
