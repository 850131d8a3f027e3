"""A value XLA:CPU computes once: `fusion_barrier(x)` is `x`, stored.

XLA fuses cheap elementwise producers into each of their consumers,
recomputing them there instead of storing them. Down a residual stack
(x_{l+1} = x_l + f_l(x_l), and in the backward pass g_l = g_{l+1} + ...)
that recomputation compounds: on the CPU a consumer in block l re-derives
the whole elementwise chain of the blocks above it, and the training step
grows quadratically with depth. Measured on the 8-block S5 ListOps model
(`configs/s5_lra.py`, batch 5, T=2000, 2-core CPU, jax 0.10.2): 4.4 s per
step without barriers, 1.1-1.3 s with one at each block's input; with
only the forward value or only the cotangent fenced, 3.8 s and 2.8 s.

`lax.optimization_barrier` would say this, but XLA:CPU removes it before
fusion. A `while` loop survives: one iteration whose body selects the
carried value (`where(i < 0, 0, v)`, the loop counter `i` never negative)
so the loop is not forwarded away, with a trip count of `x[0] == x[0]`
(0 for a NaN there, when the loop returns `x` untouched). The result is
`x` bit for bit in every case (NaN, infinities, signed zeros). The
backward pass fences the cotangent the same way.

On other backends (`jax.default_backend()` at trace time) the barrier is
the identity: the recomputation was measured on XLA:CPU only, and a
`while` loop on an accelerator costs a host round trip per iteration. On the CPU the
barrier is a custom VJP, which forward-mode autodiff (`jax.jvp`) cannot
pass: forward-differentiating a model through it works on other backends
only.
"""

import jax
import jax.numpy as jnp


def _store(x: jax.Array) -> jax.Array:
  """`x`, written out by a one-iteration loop XLA can neither fuse nor drop."""
  flat = x.reshape(-1)
  if flat.shape[0] == 0:
    return x
  trips = (flat[0] == flat[0]).astype(jnp.int32)

  def body(carry):
    i, v = carry
    return i + 1, jnp.where(i < 0, jnp.zeros_like(v), v)

  return jax.lax.while_loop(lambda c: c[0] < trips, body,
                            (jnp.int32(0), x))[1]


def _active() -> bool:
  return jax.default_backend() == "cpu"


def fusion_barrier(x: jax.Array) -> jax.Array:
  """Returns `x`; on the CPU, stored once rather than recomputed by consumers.

  Args:
    x: an array; only floating and complex ones are stored (an integer or
      boolean array has no cotangent to fence and is returned as is).

  Returns:
    `x`, unchanged; its cotangent passes unchanged too (also stored).
  """
  if not _active() or not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
    return x
  return _stored(x)


@jax.custom_vjp
def _stored(x: jax.Array) -> jax.Array:
  return _store(x)


def _fwd(x):
  return _store(x), None


def _bwd(_, g):
  return (_store(g),)


_stored.defvjp(_fwd, _bwd)
