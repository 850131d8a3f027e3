"""Pure JAX math for spiking SSMs. Never imports haiku (tests enforce it).

  scans           linear_scan: h_t = a_t h_{t-1} + b_t in every mode
  hippo           HiPPO matrices, NPLR / DPLR forms, S5 / S4D inits
  discretization  ZOH / bilinear for diagonal systems, log-step init
  kernels         S4D Vandermonde and S4 Cauchy/Woodbury kernels
  selective_scan  Mamba's input-dependent scan without (B, T, D, N) arrays
  routed_scan     Raven's routed slot recurrence, bit-exact shielding
  conv            causal depthwise convolution (direct, FFT, streaming step)
                  and the long-kernel FFT convolutions of S4 / S4D
  surrogate       exact-forward spikes with surrogate gradients
  quant           int8 / ternary fake quantisation with straight-through
  complex_pairs   complex <-> real-pair storage, complex projections
  checks          argument checks for the public edges of layers / neurons
  fusion          fusion_barrier: a value XLA:CPU stores instead of
                  recomputing in every consumer (residual stacks)
"""

from spike_ssm.ops import checks
from spike_ssm.ops import complex_pairs
from spike_ssm.ops import conv
from spike_ssm.ops import discretization
from spike_ssm.ops import fusion
from spike_ssm.ops import hippo
from spike_ssm.ops import kernels
from spike_ssm.ops import quant
from spike_ssm.ops import routed_scan
from spike_ssm.ops import scans
from spike_ssm.ops import selective_scan
from spike_ssm.ops import surrogate
from spike_ssm.ops.hippo import hippo_initialization
from spike_ssm.ops.scans import linear_scan
from spike_ssm.ops.scans import ScanMode
from spike_ssm.ops.surrogate import spike
