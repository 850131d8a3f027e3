"""S5: simplified state-space layer (Smith, Warrington & Linderman, 2023).

"Simplified State Space Layers for Sequence Modeling", ICLR 2023,
arXiv:2208.04933. One multi-input multi-output diagonal complex SSM per
layer, HiPPO-initialised block by block, discretised per state with a
learnable step, and evaluated with a linear scan.
"""

import functools
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from spike_ssm.ops import discretization
from spike_ssm.ops import hippo
from spike_ssm.ops import scans
from spike_ssm.ssm import _diagonal

DISCRETIZATIONS = ("zoh", "bilinear")
C_INITS = ("trunc_standard_normal", "lecun_normal", "complex_normal")
# S5's eigenvalue clip (`clip_eigs`): Re(lambda) <= -1e-4 keeps every mode
# strictly decaying (S5 code, after Goel et al. 2022, arXiv:2206.11893).
_MAX_LAMBDA_RE = -1e-4


class S5State(NamedTuple):
  """Streaming state of an `S5` layer.

  Attributes:
    h: the complex hidden state, shape `(B, P')` with `P' = P/2` under
      `conj_sym` and `P` otherwise; complex64. Kept complex rather than as
      real pairs: jmp casts only floating leaves, so a complex state is never
      truncated to a half-precision compute dtype by a mixed-precision
      policy.
  """
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


def _pairs(z: jax.Array, dtype) -> jax.Array:
  """Complex `[...]` -> real pair `[..., 2]` of `dtype`."""
  return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1).astype(dtype)


class S5(hk.Module):
  """S5 layer (Smith, Warrington & Linderman, 2023, arXiv:2208.04933).

  A diagonal complex SSM with `P'` states, continuous-time eigenvalues
  `Lambda`, input matrix `B~ (P', D)`, output matrix `C~ (D, P')`, skip `d`
  and one learnable step `Delta_p = step_rescale * exp(log_dt_p)` per state:

  .. math::

    \\bar\\Lambda, \\bar B &= \\mathrm{discretize}(\\Lambda, \\tilde B,
        \\Delta) \\quad (\\text{ZOH: } \\bar\\Lambda = e^{\\Lambda\\Delta},
        \\ \\bar B = (\\bar\\Lambda - 1) / \\Lambda \\cdot \\tilde B)  \\\\
    h_t &= \\bar\\Lambda \\odot h_{t-1} + \\bar B x_t, \\qquad h_0 = 0  \\\\
    y_t &= \\kappa\\,\\mathrm{Re}(\\tilde C h_t) + d \\odot x_t

  with `kappa = 2` under `conj_sym` (only one eigenvalue of each conjugate
  pair is kept, so `P' = P/2` and the real system is twice the real part)
  and `kappa = 1` otherwise. With `bidirectional`, a second state runs the
  same recurrence backwards in time, `g_t = Lambda_bar g_{t+1} + B_bar x_t`,
  and its own readout is added: `y_t = kappa Re(C~_f h_t + C~_b g_t) + d x_t`.

  Initialisation (S5, Sec. 4.3 and App. B; the reference code's choices):
  `Lambda` and the eigenvectors `V` come from the block-diagonal HiPPO-LegS
  matrix with `blocks` blocks of size `P/blocks`
  (`ops.hippo.block_diagonal_init`). `B~ = V^{-1} B` with `B` of shape
  `(P, D)` drawn by `jax.nn.initializers.lecun_normal` (which takes
  `fan_in = P` for that shape, as in S5's code). `C~ = C V` where `C` is a
  complex `(D, P)` matrix whose real and imaginary parts are truncated
  normals with variance `1/P` (`c_init="trunc_standard_normal"`) or
  `1/(P D)` (`"lecun_normal"`); `"complex_normal"` draws `C~` directly with
  real and imaginary parts `N(0, 1/2)`. `d ~ N(0, 1)`, and
  `log_dt ~ U[log dt_min, log dt_max]`.

  Parameters (float32; complex matrices as real pairs on a trailing axis):
    `lambda_re`, `lambda_im`, `log_dt` `(P',)`, `b` `(P', D, 2)`,
    `c` `(D, P', 2)` — `(D, 2P', 2)` when bidirectional, forward readout in
    `c[:, :P']` and backward readout in `c[:, P':]` (one name, so the
    optimiser labels it as it labels the causal layer's) — and `d` `(D,)`.

  The core runs in float32 (complex64) whatever the input dtype and the
  output comes back in the input dtype. Discretisation happens once per
  call; the recurrence is `spike_ssm.ops.scans.linear_scan` in `scan_mode`.
  """

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
      state_size: P, the real (HiPPO) state size. With `conj_sym` the
        complex state has P/2 entries.
      blocks: J, the number of HiPPO blocks in the init; must divide P.
      conj_sym: keep one eigenvalue of each conjugate pair (P/blocks must
        be even) and read out twice the real part.
      discretization: "zoh" or "bilinear".
      dt_min: smallest initial step, > 0.
      dt_max: largest initial step, >= dt_min.
      c_init: "trunc_standard_normal", "lecun_normal" or "complex_normal".
      bidirectional: add a backwards-in-time scan with its own readout.
        Such a layer sees the future, so it has no streaming `step`.
      clip_eigs: clip Re(lambda) to <= -1e-4 in the forward pass.
      step_rescale: positive factor on every step (e.g. to run a trained
        model at another sampling rate).
      scan_mode: `linear_scan` mode: "auto", "sequential", "parallel" or
        "chunked".
      chunk_size: chunk length for the chunked scan (must divide T), or None
        for the scan's default.
      name: module name.

    Raises:
      ValueError: on a bad size, a block count that does not divide P, an
        odd block size with conj_sym, a bad step range or rescale, or an
        unknown option.
    """
    super().__init__(name=name)
    owner = "S5"
    self.state_size = _diagonal.check_int(owner, "state_size", state_size, 1)
    self.blocks = _diagonal.check_int(owner, "blocks", blocks, 1)
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
    if discretization not in DISCRETIZATIONS:
      raise ValueError(
          f"{owner}: `discretization` must be one of {DISCRETIZATIONS}, got "
          f"{discretization!r}.")
    if c_init not in C_INITS:
      raise ValueError(
          f"{owner}: `c_init` must be one of {C_INITS}, got {c_init!r}.")
    dt_min, dt_max = float(dt_min), float(dt_max)
    if not dt_min > 0.0:
      raise ValueError(f"{owner}: `dt_min` must be > 0, got {dt_min}.")
    if not dt_min <= dt_max:
      raise ValueError(
          f"{owner}: `dt_min` must be <= `dt_max`, got dt_min={dt_min} > "
          f"dt_max={dt_max}.")
    step_rescale = float(step_rescale)
    if not step_rescale > 0.0:
      raise ValueError(
          f"{owner}: `step_rescale` must be > 0, got {step_rescale}.")
    _diagonal.check_scan_mode(owner, scan_mode, chunk_size)
    self.conj_sym = bool(conj_sym)
    self.discretization = discretization
    self.dt_min, self.dt_max = dt_min, dt_max
    self.c_init = c_init
    self.bidirectional = bool(bidirectional)
    self.clip_eigs = bool(clip_eigs)
    self.step_rescale = step_rescale
    self.scan_mode = scan_mode
    self.chunk_size = chunk_size
    # P': complex states actually carried.
    self.complex_state_size = (self.state_size // 2 if self.conj_sym
                               else self.state_size)

  # --------------------------------------------------------------------------
  # Parameters.
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
      return _pairs(jnp.asarray(vinv) @ b, dtype)  # [P', D, 2]
    return init

  def _c_init(self, features):
    p, pc = self.state_size, self.complex_state_size
    readouts = 2 if self.bidirectional else 1

    def one_readout(key):
      _, v, _ = self._eig()
      if self.c_init == "trunc_standard_normal":
        # Variance 1/P per entry (S5 draws each output row with lecun_normal
        # on a (1, P, 2) shape).
        init = jax.nn.initializers.lecun_normal(batch_axis=0)
      else:  # lecun_normal: fan_in = P * D for a (D, P, 2) shape.
        init = jax.nn.initializers.lecun_normal()
      c = _diagonal.pair_to_complex(init(key, (features, p, 2), jnp.float32))
      return c @ jnp.asarray(v)  # [D, P']

    def init(shape, dtype):
      if self.c_init == "complex_normal":
        return (jax.random.normal(hk.next_rng_key(), shape, jnp.float32) *
                np.sqrt(0.5)).astype(dtype)
      keys = jax.random.split(hk.next_rng_key(), readouts)
      c = jnp.concatenate([one_readout(k) for k in keys], axis=1)
      return _pairs(c, dtype)  # [D, readouts * P', 2]

    return (features, readouts * pc, 2), init

  def _lambda_init(self, part):
    def init(shape, dtype):
      del shape
      lam = self._eig()[0]
      return jnp.asarray(lam.real if part == "re" else lam.imag, dtype)
    return init

  def _params(self, features: int):
    _diagonal.check_features(self.module_name, self.params_dict(), features)
    pc = self.complex_state_size
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
    return lambda_re, lambda_im, b, c, d, log_dt

  def _discrete(self, features: int, dtype):
    """Lambda_bar (P',), B_bar (P', D), C (D, P' or 2P') scaled, d (D,)."""
    lambda_re, lambda_im, b, c, d, log_dt = (
        p.astype(dtype) for p in self._params(features))
    if self.clip_eigs:
      lambda_re = jnp.minimum(lambda_re, _MAX_LAMBDA_RE)
    lam = jax.lax.complex(lambda_re, lambda_im)
    step = self.step_rescale * jnp.exp(log_dt)
    lam_bar, b_bar = discretization.discretize(
        lam, _diagonal.pair_to_complex(b), step, self.discretization)
    c = _diagonal.pair_to_complex(c)
    if self.conj_sym:
      c = 2 * c  # y = 2 Re(C h): folded into C, which is smaller than y.
    return lam_bar, b_bar, c, d

  # --------------------------------------------------------------------------
  # Whole sequence.
  # --------------------------------------------------------------------------

  def __call__(self, x: jax.Array, *, time_major: bool = False) -> jax.Array:
    """Runs the S5 layer over a whole sequence.

    Args:
      x: input, shape `(B, T, D)`, or `(T, B, D)` with `time_major=True`;
        any floating dtype.
      time_major: whether `x` (and the output) are time-major.

    Returns:
      y, same shape and dtype as `x`.

    Raises:
      ValueError: if `x` is not rank 3 or its width differs from the width
        the parameters were created with.
      TypeError: if `x` is not floating point.
    """
    # [T, B, D] in the compute dtype: the scan runs over axis 0.
    u = _diagonal.sequence_input(self.module_name, x, time_major)
    lam_bar, b_bar, c, d = self._discrete(x.shape[-1], u.dtype)
    bu = _diagonal.project_in(u, b_bar)  # [T, B, P']
    h = scans.linear_scan(lam_bar, bu, mode=self.scan_mode,
                          chunk_size=self.chunk_size)  # [T, B, P']
    if self.bidirectional:
      g = scans.linear_scan(lam_bar, bu, mode=self.scan_mode, reverse=True,
                            chunk_size=self.chunk_size)  # [T, B, P']
      h = jnp.concatenate([h, g], axis=-1)  # [T, B, 2P'], matches c.
    y = _diagonal.project_out(h, c) + d * u  # [T, B, D]
    if not time_major:
      y = y.swapaxes(0, 1)  # [B, T, D]
    return y.astype(x.dtype)

  # --------------------------------------------------------------------------
  # Streaming.
  # --------------------------------------------------------------------------

  def _check_streamable(self, what: str) -> None:
    if self.bidirectional:
      raise ValueError(
          f"{self.module_name}: `{what}` needs a causal layer, but this S5 "
          "was built with bidirectional=True: its backward scan reads future "
          "inputs, so it cannot run one step at a time. Use __call__ on the "
          "whole sequence.")

  def initial_state(self, batch_size: int) -> S5State:
    """The zero state for `batch_size` sequences: `h` of shape `(B, P')`.

    Raises:
      ValueError: for a bidirectional layer, or a non-positive batch size.
    """
    self._check_streamable("initial_state")
    batch_size = _diagonal.check_int(self.module_name, "batch_size",
                                     batch_size, 1)
    return S5State(
        h=jnp.zeros((batch_size, self.complex_state_size), jnp.complex64))

  def step(self, x_t: jax.Array, state: S5State) -> tuple[jax.Array, S5State]:
    """Advances the recurrence by one time step.

    Args:
      x_t: input at one step, shape `(B, D)`.
      state: the previous `S5State`.

    Returns:
      `(y_t, next_state)`: y_t of shape `(B, D)` in the dtype of `x_t`.

    Raises:
      ValueError: for a bidirectional layer; if `x_t` is not rank 2, its
        width differs from the parameters', or `state.h` is not `(B, P')`.
      TypeError: if `x_t` is not floating point.
    """
    self._check_streamable("step")
    _diagonal.check_input(self.module_name, "x_t", x_t, 2, "(B, D)")
    _diagonal.check_state(self.module_name, state.h,
                          (x_t.shape[0], self.complex_state_size))
    dtype = _diagonal.compute_dtype(x_t.dtype)
    lam_bar, b_bar, c, d = self._discrete(x_t.shape[-1], dtype)
    u = x_t.astype(dtype)
    bu = _diagonal.project_in(u, b_bar)  # [B, P']
    h = lam_bar * state.h.astype(lam_bar.dtype) + bu
    y = _diagonal.project_out(h, c) + d * u  # [B, D]
    return y.astype(x_t.dtype), S5State(h=h.astype(state.h.dtype))
