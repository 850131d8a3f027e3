"""A position-wise linear layer behind the sequence-layer interface.

`Dense` mixes channels at each time step and nothing across time:

    y_t = W x_t + b,    x_t: (D_in,), W: (D_in, D_out), y_t: (D_out,)

In a backbone block with spiking neurons (`model.neuron.kind="lif"`) and no
GLU, each block is `x + LIF(W norm(x) + b)`: a feed-forward LIF network in
which the membranes are the only memory, the baseline that spiking SSMs are
measured against (configs/shd.py:model=lif).
"""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np


class Dense(hk.Module):
  """Position-wise linear map `(B, T, D_in) -> (B, T, D_out)`.

  Args:
    output_size: D_out; None keeps the input width (as a backbone layer
      must).
    with_bias: add the bias `b`.
    name: module name.

  Parameters: `w` `(D_in, D_out)` (LeCun-normal, Haiku's `Linear`
  default) and `b` `(D_out,)` (zeros), under `dense/linear`.
  """

  def __init__(self, output_size: int | None = None, *,
               with_bias: bool = True, name: str | None = None):
    super().__init__(name=name)
    if output_size is not None and (
        isinstance(output_size, bool) or
        not isinstance(output_size, (int, np.integer)) or output_size < 1):
      raise ValueError(f"Dense: `output_size` must be an int >= 1 or None, "
                       f"got {output_size!r}.")
    self.output_size = None if output_size is None else int(output_size)
    self.with_bias = bool(with_bias)

  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the map at every position.

    Args:
      x: `(B, T, D_in)` floating point.

    Returns:
      `(B, T, D_out)` in `x`'s dtype.

    Raises:
      ValueError / TypeError: `x` not rank 3 / not floating point.
    """
    if not hasattr(x, "ndim") or x.ndim != 3:
      raise ValueError(f"Dense: `x` must have rank 3 (B, T, D), got shape "
                       f"{getattr(x, 'shape', type(x).__name__)}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(f"Dense: `x` must be floating point, got dtype "
                      f"{x.dtype}.")
    size = self.output_size or x.shape[-1]
    return hk.Linear(size, with_bias=self.with_bias, name="linear")(x)
