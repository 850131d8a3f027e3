r"""S5: simplified state-space layer (Smith, Warrington & Linderman, 2023).

"Simplified State Space Layers for Sequence Modeling", ICLR 2023,
arXiv:2208.04933. One multi-input multi-output diagonal complex SSM per
layer with `P'` states, continuous eigenvalues `Lambda`, input matrix
`B~ (P', D)`, readout `C~ (D, P')`, skip `d` and one learnable step
`Delta_p = step_rescale * exp(log_dt_p)` per state:

.. math::

  \bar\Lambda, \bar B &= \mathrm{discretize}(\Lambda, \tilde B, \Delta)
      \quad (\text{ZOH: } \bar\Lambda = e^{\Lambda\Delta},
      \ \bar B = (\bar\Lambda - 1) / \Lambda \cdot \tilde B)  \\
  h_t &= \bar\Lambda \odot h_{t-1} + \bar B x_t, \qquad h_0 = 0  \\
  y_t &= \kappa\,\mathrm{Re}(\tilde C h_t) + d \odot x_t

with `kappa = 2` under `conj_sym` (one eigenvalue of each conjugate pair is
kept, `P' = P/2`, and the real system is twice the real part) and
`kappa = 1` otherwise. With `bidirectional` a second state runs the same
recurrence backwards in time with its own readout (`ssm.base.DiagonalSSM`);
such a layer cannot stream.

Initialisation (S5, Sec. 4.3 and App. B; the reference code's choices):
`Lambda` and the eigenvectors `V` come from the block-diagonal HiPPO-LegS
matrix with `blocks` blocks of size `P/blocks`
(`ops.hippo.block_diagonal_init`). `B~ = V^{-1} B` with `B (P, D)` drawn by
`lecun_normal` (fan_in = P for that shape, as S5's code). `C~ = C V` with
`C (D, P)` complex, real and imaginary parts truncated normals of variance
`1/P` (`c_init="trunc_standard_normal"`) or `1/(P D)` (`"lecun_normal"`);
`"complex_normal"` draws `C~` directly with parts `N(0, 1/2)`.
`d ~ N(0, 1)`, `log_dt ~ U[log dt_min, log dt_max]`.

Parameters (float32; complex matrices as real pairs on a trailing axis):
`lambda_re`, `lambda_im`, `log_dt` `(P',)`, `b` `(P', D, 2)`, `c`
`(D, P', 2)` — `(D, 2P', 2)` when bidirectional (forward readout in
`c[:, :P']`, backward in `c[:, P':]`: one name, one optimiser group) — and
`d` `(D,)`. The recurrence is `ops.scans.linear_scan` in `scan_mode`.
"""

import functools
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import checks
from spike_ssm.ops import complex_pairs
from spike_ssm.ops import discretization
from spike_ssm.ops import hippo
from spike_ssm.ssm import base

DISCRETIZATIONS = ("zoh", "bilinear")
C_INITS = ("trunc_standard_normal", "lecun_normal", "complex_normal")
# S5's eigenvalue clip (`clip_eigs`): Re(lambda) <= -1e-4 keeps every mode
# strictly decaying (S5 code, after Goel et al. 2022, arXiv:2206.11893).
_MAX_LAMBDA_RE = -1e-4


class S5State(NamedTuple):
  """Streaming state of an `S5`: `h` `(B, P')`, complex64."""
  h: jax.Array


@functools.lru_cache(maxsize=32)
def _hippo_init(state_size: int, blocks: int, conj_sym: bool):
  """Cached `(Lambda, V, Vinv)` (complex128 NumPy) of the block HiPPO init.

  Haiku rebuilds a module on every trace; the eigendecomposition only feeds
  the initialisers, and caching keeps repeated `init`s cheap.
  """
  lam, v, vinv = hippo.block_diagonal_init(state_size, blocks,
                                           conj_sym=conj_sym, measure="legs")
  for a in (lam, v, vinv):
    a.setflags(write=False)
  return lam, v, vinv


class S5(base.DiagonalSSM):
  """S5 layer (module docstring), `(B, T, D) -> (B, T, D)`."""

  dynamics_params = frozenset({"lambda_re", "lambda_im", "log_dt"})
  state_type = S5State

  def __init__(self,
               state_size: int,
               *,
               blocks: int = 1,
               conj_sym: bool = True,
               discretization: str = "zoh",
               dt_min: float = 0.001,
               dt_max: float = 0.1,
               c_init: str = "trunc_standard_normal",
               bidirectional: bool = False,
               clip_eigs: bool = False,
               step_rescale: float = 1.0,
               scan_mode: str = "auto",
               chunk_size: int | None = None,
               name: str | None = None):
    """Constructs an S5 layer.

    Args:
      state_size: P, the real (HiPPO) state size; P/2 complex states under
        `conj_sym`.
      blocks: J, the number of HiPPO blocks in the init; must divide P.
      conj_sym: keep one eigenvalue of each conjugate pair (P/blocks must
        be even) and read out twice the real part.
      discretization: "zoh" or "bilinear".
      dt_min: smallest initial step, > 0.
      dt_max: largest initial step, >= dt_min.
      c_init: "trunc_standard_normal", "lecun_normal" or "complex_normal".
      bidirectional: add a backwards-in-time scan with its own readout.
      clip_eigs: clip Re(lambda) to <= -1e-4 in the forward pass.
      step_rescale: positive factor on every step (e.g. to run a trained
        model at another sampling rate).
      scan_mode: `linear_scan` mode: "auto", "sequential", "parallel" or
        "chunked".
      chunk_size: chunk length of the chunked scan (must divide T), or None
        for the scan's default.
      name: module name.

    Raises:
      ValueError: a bad size, a block count that does not divide P, an odd
        block size with conj_sym, a bad step range or rescale, or an
        unknown option.
    """
    super().__init__(name=name)
    owner = "S5"
    self.state_size = checks.check_int(owner, "state_size", state_size, 1)
    self.blocks = checks.check_int(owner, "blocks", blocks, 1)
    if self.state_size % self.blocks:
      raise ValueError(
          f"{owner}: `state_size` must be divisible by `blocks`, got "
          f"state_size={state_size}, blocks={blocks}.")
    block_size = self.state_size // self.blocks
    if conj_sym and block_size % 2:
      raise ValueError(
          f"{owner}: `conj_sym=True` needs an even block size "
          f"state_size/blocks, got state_size={state_size}, blocks={blocks} "
          f"(block size {block_size}).")
    self.discretization = checks.check_choice(owner, "discretization",
                                              discretization, DISCRETIZATIONS)
    self.c_init = checks.check_choice(owner, "c_init", c_init, C_INITS)
    self.dt_min, self.dt_max = checks.check_step_range(owner, dt_min, dt_max)
    self.step_rescale = checks.check_float(owner, "step_rescale",
                                           step_rescale, above=0.0)
    self.scan_mode = checks.check_scan_mode(owner, scan_mode, chunk_size)
    self.chunk_size = chunk_size
    self.conj_sym = bool(conj_sym)
    self.bidirectional = bool(bidirectional)
    self.clip_eigs = bool(clip_eigs)
    # P': complex states actually carried.
    self.num_states = (self.state_size // 2 if self.conj_sym
                       else self.state_size)

  @property
  def complex_state_size(self) -> int:
    """P', the number of complex states carried."""
    return self.num_states

  # --------------------------------------------------------------------------
  # Parameters and discretisation.
  # --------------------------------------------------------------------------

  def _eig(self):
    return _hippo_init(self.state_size, self.blocks, self.conj_sym)

  def _b_init(self, features):
    def init(shape, dtype):
      del shape
      _, _, vinv = self._eig()
      # lecun_normal on (P, D) takes fan_in = P, as S5's code does.
      b = jax.nn.initializers.lecun_normal()(
          hk.next_rng_key(), (self.state_size, features), jnp.float32)
      return complex_pairs.from_complex(jnp.asarray(vinv) @ b,
                                        dtype)  # [P', D, 2]
    return init

  def _c_init(self, features):
    p, pc = self.state_size, self.num_states
    readouts = 2 if self.bidirectional else 1

    def one_readout(key):
      _, v, _ = self._eig()
      if self.c_init == "trunc_standard_normal":
        # Variance 1/P per entry (S5 draws each output row with lecun_normal
        # on a (1, P, 2) shape).
        init = jax.nn.initializers.lecun_normal(batch_axis=0)
      else:  # lecun_normal: fan_in = P * D for a (D, P, 2) shape.
        init = jax.nn.initializers.lecun_normal()
      c = complex_pairs.to_complex(init(key, (features, p, 2), jnp.float32))
      return c @ jnp.asarray(v)  # [D, P']

    def init(shape, dtype):
      if self.c_init == "complex_normal":
        return (jax.random.normal(hk.next_rng_key(), shape, jnp.float32) *
                np.sqrt(0.5)).astype(dtype)
      keys = jax.random.split(hk.next_rng_key(), readouts)
      c = jnp.concatenate([one_readout(k) for k in keys], axis=1)
      return complex_pairs.from_complex(c, dtype)  # [D, readouts * P', 2]

    return (features, readouts * pc, 2), init

  def _lambda_init(self, part):
    def init(shape, dtype):
      del shape
      lam = self._eig()[0]
      return jnp.asarray(lam.real if part == "re" else lam.imag, dtype)
    return init

  def _discrete(self, features: int, dtype):
    """Lambda_bar (P',), B_bar (P', D), kappa C (D, P' or 2P'), d (D,)."""
    pc = self.num_states
    lambda_re = hk.get_parameter("lambda_re", (pc,), jnp.float32,
                                 self._lambda_init("re"))
    lambda_im = hk.get_parameter("lambda_im", (pc,), jnp.float32,
                                 self._lambda_init("im"))
    b = hk.get_parameter("b", (pc, features, 2), jnp.float32,
                         self._b_init(features))
    c_shape, c_init = self._c_init(features)
    c = hk.get_parameter("c", c_shape, jnp.float32, c_init)
    d = hk.get_parameter("d", (features,), jnp.float32,
                         hk.initializers.RandomNormal(stddev=1.0))
    log_dt = hk.get_parameter(
        "log_dt", (pc,), jnp.float32,
        lambda shape, dtype: discretization.log_step_init(
            hk.next_rng_key(), shape, self.dt_min, self.dt_max, dtype))
    lambda_re, lambda_im, b, c, d, log_dt = (
        p.astype(dtype) for p in (lambda_re, lambda_im, b, c, d, log_dt))
    if self.clip_eigs:
      lambda_re = jnp.minimum(lambda_re, _MAX_LAMBDA_RE)
    lam = jax.lax.complex(lambda_re, lambda_im)
    step = self.step_rescale * jnp.exp(log_dt)
    lam_bar, b_bar = discretization.discretize(
        lam, complex_pairs.to_complex(b), step, self.discretization)
    c = complex_pairs.to_complex(c)
    if self.conj_sym:
      c = 2 * c  # y = 2 Re(C h): folded into C, which is smaller than y.
    return lam_bar, b_bar, c, d
