"""Tests for spike_ssm.ops.routed_scan (the routed slot recurrence)."""

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import routed_scan
from spike_ssm.ops import scans
from tests import tolerances as tol


def assert_unrouted_unchanged(test, states, gates, h0):
  """Where gates[t, ...] == 0, states[t] equals states[t-1] bit for bit."""
  states, gates = np.asarray(states), np.asarray(gates)
  prev = np.concatenate(
      [np.broadcast_to(h0, states.shape[1:])[None], states[:-1]])
  unrouted = gates == 0
  test.assertGreater(unrouted.sum(), 0)
  test.assertGreater((~unrouted).sum(), 0)
  np.testing.assert_array_equal(states[unrouted], prev[unrouted])


class ShieldingTest(absltest.TestCase):

  def test_routed_scan_holds_unrouted_slots_bit_for_bit(self):
    # Given hard top-2 gates (exact zeros), decays < 1, writes, and an
    # initial memory.
    rng = np.random.default_rng(17)
    length, batch, slots, width = 64, 3, 6, 5
    logits = jnp.asarray(rng.normal(size=(length, batch, slots)), jnp.float32)
    gates = routed_scan.straight_through_top_k(jax.nn.sigmoid(logits), 2,
                                               logits)
    decay = jnp.asarray(rng.uniform(0.5, 1.0, (slots, width)), jnp.float32)
    writes = jnp.asarray(rng.normal(size=(length, batch, slots, width)),
                         jnp.float32)
    h0 = jnp.asarray(rng.normal(size=(batch, slots, width)), jnp.float32)
    modes = ("sequential", "parallel", "chunked")

    def run(g, a, w, h):
      held = {m: routed_scan.routed_scan(g, a, w, h, mode=m, chunk_size=8)
              for m in modes}
      coef = routed_scan.routed_transition(g, a, w)
      plain = {m: scans.linear_scan(*coef, h, mode=m, chunk_size=8)
               for m in modes}
      return held, plain

    # When the routed scan runs in every mode.
    held, plain = jax.jit(run)(gates, decay, writes, h0)
    for mode in modes:
      # Then every unrouted slot equals its previous value exactly,
      assert_unrouted_unchanged(self, held[mode], gates, h0)
      # and the hold changed the plain scan only within rounding.
      np.testing.assert_allclose(held[mode], plain[mode], err_msg=mode,
                                 **tol.F32_SCAN_SHORT)


class StraightThroughTopKTest(absltest.TestCase):

  def test_ties_still_keep_exactly_k(self):
    # Saturated logits give equal gates; the count must still be exact.
    gates = jnp.ones((3, 5))
    out = routed_scan.straight_through_top_k(gates, 2)
    np.testing.assert_array_equal((np.asarray(out) != 0).sum(-1), 2)

  def test_top_k_function_rejects(self):
    with self.assertRaisesRegex(ValueError, "k"):
      routed_scan.straight_through_top_k(jnp.ones((2, 3)), 4)
    with self.assertRaisesRegex(ValueError, "scores"):
      routed_scan.straight_through_top_k(jnp.ones((2, 3)), 1,
                                         jnp.ones((3, 2)))


if __name__ == "__main__":
  absltest.main()
