"""Tolerances, in one place (STYLE.md §8.4). No magic numbers in tests."""

# float32 ops against a float64 NumPy reference.
F32_VS_F64 = dict(rtol=1e-5, atol=1e-6)
# float32 sequential vs parallel/chunked scans, T <= 256.
F32_SCAN_SHORT = dict(rtol=1e-5, atol=1e-5)
# float32 scans, T > 256 or |a| -> 1.
F32_SCAN_LONG = dict(rtol=1e-4, atol=1e-4)
# bfloat16 inputs with float32 accumulation.
BF16_INPUT = dict(rtol=2e-2, atol=2e-2)
# A whole bfloat16 smoke path.
BF16_PATH = dict(rtol=1e-1, atol=1e-1)
# float64 (tests/x64) against a float64 reference.
F64 = dict(rtol=1e-10, atol=1e-12)
# Finite-difference gradient checks in float64 (jax.test_util.check_grads).
GRAD_F64 = dict(atol=1e-5, rtol=1e-5)


def scan_tol(length: int) -> dict[str, float]:
  """float32 scan-vs-scan tolerance for a sequence of `length` steps."""
  return F32_SCAN_SHORT if length <= 256 else F32_SCAN_LONG
# Leading-order asymptotics in float64: (error / step^p) against its limit,
# at |Lambda * step| <= 1e-3, where the next term is ~1e-3 of the leading.
ASYMPTOTIC_F64 = dict(rtol=1e-2, atol=0.0)
# Significance level of Kolmogorov-Smirnov checks on seeded samples.
KS_ALPHA = 1e-3

# Spike trains are compared exactly, so test inputs are redrawn until every
# membrane is at least this far from its threshold in the float64 reference:
# far above the float32 membrane errors above (< 1e-4), so rounding cannot
# flip a spike.
THRESHOLD_MARGIN = 1e-3
# The same guard for short spiking layers whose membranes see few float32
# roundings (seed layers): |membrane - threshold| must exceed this in the
# float64 reference before spike trains are compared exactly.
SPIKE_MARGIN_F32 = 1e-4

# Modulus of a float32 complex pole exp(-dt lambda) (cos + i sin): cos and
# sin are each rounded, so |a| can exceed its exact value by about one
# float32 ulp of 1.0 (measured < 2**-24 over 1e6 frequencies).
POLE_MODULUS_F32 = 2.0**-23
# float32 phases in (-pi, pi] against float64, on the circle: absolute, a
# few float32 ulps of pi (2.4e-7 each). Where a phase is the angle of a sum
# z, scale it by the sum's condition number sum|terms| / |z|.
PHASE_F32 = dict(rtol=0.0, atol=1e-6)
# Finite-difference step of check_grads for strongly curved functions (the
# phasor layers' 1/|z| terms): central differences err by ~eps^2 f''' / 6,
# which at check_grads' default eps = 1e-4 can exceed GRAD_F64; float64
# rounding at eps = 1e-6 is ~1e-10 relative.
GRAD_F64_STEP = 1e-6


# Rate checks on N seeded Bernoulli draws: |mean - p| must stay within this
# many binomial standard deviations sqrt(p (1 - p) / N) (a 5-sigma band: a
# correct sampler leaves it with probability < 1e-6).
BINOMIAL_SIGMAS = 5.0
# Stochastic spikes are compared exactly, so test draws are checked to keep
# every uniform at least this far from its firing probability (float64
# reference): far above float32 rounding of p, so no draw can flip.
PROBABILITY_MARGIN = 1e-5
# Quantiser tests redraw inputs until every scaled value is at least this far
# from a rounding boundary (k + 1/2) in float64, so float32 rounding of the
# division cannot change a code.
ROUNDING_MARGIN = 1e-3
