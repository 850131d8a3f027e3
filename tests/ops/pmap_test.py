"""Every pure op under `pmap` across the 4 fake devices equals it on one.

Each case draws 4 independent problems, runs them one per device with
`chex.variants(with_pmap=True)` and compares every device's result with the
same problem jitted on a single device. The ops' numerics are proven against
float64 references in their own test files; this file proves they carry no
device-dependent state and trace under `pmap` (collectives-free SPMD).
"""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import conv
from spike_ssm.ops import discretization
from spike_ssm.ops import kernels
from spike_ssm.ops import quant
from spike_ssm.ops import selective_scan
from tests import tolerances as tol

DEVICES = 4


def _normal(rng, shape):
  return rng.standard_normal((DEVICES, *shape)).astype(np.float32)


def _complex(rng, shape):
  return (_normal(rng, shape) + 1j * _normal(rng, shape)).astype(np.complex64)


def _stable(rng, shape):
  """Continuous-time eigenvalues with negative real parts."""
  re = -np.exp(_normal(rng, shape))
  return (re + 1j * _normal(rng, shape)).astype(np.complex64)


def _cases():
  """(name, fn, args): fn takes one problem's arrays (no device axis)."""
  rng = np.random.default_rng(0)
  n, t, d = 6, 16, 3
  lam, b = _stable(rng, (n,)), _complex(rng, (n,))
  step = np.exp(_normal(rng, (n,)) - 2)
  x_seq = _normal(rng, (2, t, d))
  taps = _normal(rng, (4, d))
  sel_x = _normal(rng, (t, 2, d))
  sel_dt = np.log1p(np.exp(_normal(rng, (t, 2, d))))
  sel_a = -np.exp(_normal(rng, (d, n)))
  sel_b, sel_c = _normal(rng, (t, 2, n)), _normal(rng, (t, 2, n))
  s4d_c = _complex(rng, (d, n))
  s4d_lam, s4d_b = _stable(rng, (d, n)), _complex(rng, (d, n))
  s4d_step = np.exp(_normal(rng, (d,)) - 2)
  return [
      ("discretize_zoh",
       lambda l, b_, s: discretization.discretize(l, b_, s, "zoh"),
       (lam, b, step)),
      ("discretize_bilinear",
       lambda l, b_, s: discretization.discretize(l, b_, s, "bilinear"),
       (lam, b, step)),
      ("causal_conv_direct",
       lambda x, k: conv.causal_conv(x, k, "silu", method="direct"),
       (x_seq, taps)),
      ("causal_conv_fft",
       lambda x, k: conv.causal_conv(x, k, "silu", method="fft"),
       (x_seq, taps)),
      ("s4d_kernel",
       lambda l, b_, c, s: kernels.s4d_kernel(l, b_, c, s, t),
       (s4d_lam, s4d_b, s4d_c, s4d_step)),
      ("fft_conv", conv.fft_conv, (x_seq, taps)),
      ("selective_scan",
       lambda x, dt, a, b_, c: selective_scan.selective_scan(
           x, dt, a, b_, c, mode="sequential")[0],
       (sel_x, sel_dt, sel_a, sel_b, sel_c)),
      ("fake_quant_int8", quant.fake_quant_int8, (x_seq,)),
      ("fake_quant_ternary", quant.fake_quant_ternary, (taps,)),
  ]


CASES = _cases()


class PmapTest(chex.TestCase, parameterized.TestCase):

  @chex.variants(with_pmap=True)
  @parameterized.named_parameters(*[(c[0], c[1], c[2]) for c in CASES])
  def test_pmap_equals_single_device(self, fn, args):
    # Given 4 independent problems, one per device.
    self.assertEqual(jax.device_count(), DEVICES)
    args = tuple(jnp.asarray(a) for a in args)
    # When they run under pmap,
    mapped = self.variant(fn, broadcast_args_to_devices=False,
                          reduce_fn=None)(*args)
    # then device i's result is problem i's result on one device.
    single = jax.jit(fn)
    for i in range(DEVICES):
      want = single(*(a[i] for a in args))
      got = jax.tree.map(lambda m, i=i: m[i], mapped)
      chex.assert_trees_all_close(got, want, **tol.F32_SCAN_SHORT)


if __name__ == "__main__":
  absltest.main()
