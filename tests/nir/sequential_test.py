"""SpikingSequential: layouts, states, bad input (golden: descriptors)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import numpy as np

from tests import tolerances as tol
from tests.nir import references as ref

B, T, D_IN, HIDDEN, D_OUT = ref.B, ref.T, ref.D_IN, ref.HIDDEN, ref.D_OUT
PREFIX = ref.PREFIX


GOLDEN_SPEC = [("linear", {"output_size": HIDDEN}),
               ("lif", {"learn_beta": True}),
               ("scale", {}),
               ("linear", {"output_size": D_OUT, "with_bias": False}),
               ("cuba_lif", {"learn_alpha": True, "learn_beta": True}),
               ("psu_lif", {"learn_beta": True}),
               ("li", {"learn_beta": True})]


class SpikingSequentialTest(parameterized.TestCase):

  def test_layouts_and_states(self):
    # Given the golden spec and random inputs.
    model, params = ref.init(GOLDEN_SPEC)
    x = jax.random.normal(jax.random.PRNGKey(1), (B, T, D_IN))
    # jit against eager: the shared contract test (descriptors).
    apply = jax.jit(model.apply, static_argnames=("time_major",
                                                  "return_states"))
    # When it runs batch-major and time-major.
    y, states = apply(params, x, return_states=True)
    y_tm, states_tm = apply(params, x.swapaxes(0, 1), time_major=True,
                            return_states=True)
    # Then the layouts agree, and each neuron layer's state has one entry
    # per step; linear and scale layers have none.
    chex.assert_shape(y, (B, T, D_OUT))
    np.testing.assert_allclose(y_tm.swapaxes(0, 1), y, **tol.F32_SCAN_SHORT)
    self.assertEqual(len(states), len(GOLDEN_SPEC))
    for (kind, _), state, state_tm in zip(GOLDEN_SPEC, states, states_tm):
      if kind in ("linear", "scale"):
        self.assertEqual(state, ())
        continue
      for got, got_tm in zip(state, state_tm):
        self.assertEqual(got.shape[:2], (B, T))
        np.testing.assert_allclose(got_tm.swapaxes(0, 1), got,
                                   **tol.F32_SCAN_SHORT)
    # And the li readout's output is its membrane.
    np.testing.assert_array_equal(y, states[-1].v)
    np.testing.assert_array_equal(apply(params, x), y)

  @parameterized.named_parameters(
      ("rank_two", (B, D_IN), np.float32, ValueError, "rank 3"),
      ("integer", (B, T, D_IN), np.int32, TypeError, "floating"),
  )
  def test_bad_input(self, shape, dtype, error, regex):
    model = ref.transform([("linear", {"output_size": 3})])
    with self.assertRaisesRegex(error, regex):
      model.init(jax.random.PRNGKey(0), np.zeros(shape, dtype))

if __name__ == "__main__":
  absltest.main()
