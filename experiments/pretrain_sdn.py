r"""Pre-trains the surrogate dynamic network (SDN) of SpikingSSMs.

  python -m experiments.pretrain_sdn                       # tau = 0.125
  python -m experiments.pretrain_sdn --tau=0.25 --steps=4000 \
      --out=/tmp/sdn_tau0.25.npz

Regresses the leaked membrane `m_t = tau * u_{t-1}` of the iterative
hard-reset LIF (threshold 1; `spike_ssm.neurons.sdn`) from random input
currents with an MSE loss and Adam (optax), then reports the spike
agreement `mean(H(m_hat + I - 1) == H(m + I - 1))` on held-out currents
drawn with a different seed, and writes the weights (float32 `.npz` with
`tau` and the measured agreements). Without `--out` the file goes to the
package (`spike_ssm/neurons/sdn_weights/sdn_tau<tau>.npz`).

Input currents (`--distribution`):

  paper    i.i.d. N(0, 1) per step, the SDN paper's training set (Shen et
           al. 2025, "Training and Evaluation of SDN").
  soma     (default) what a SpikingSSM layer feeds its soma: the S4D
           output `y = K * u + D u` divided by the learnable threshold. At
           init that is a mix of an i.i.d. part (`D u`, |D| ~ 0.8) and a
           strongly autocorrelated part (the S4D-Lin convolution: lag-1
           autocorrelation from -0.4 to 0.998, median 0.8), with a
           per-channel scale from 0.15 to 2.5 (measured on a random S4D-Lin
           layer, N = 64, dt in [1e-3, 1e-1], unit-variance input). So each
           sequence is `mu + sigma * (sqrt(1 - w) eps_t + sqrt(w) z_t)` with
           `eps` i.i.d. N(0, 1), `z` a unit-variance AR(1) process with
           coefficient rho ~ U[0, 0.999], mixing weight w ~ U[0, 1], scale
           sigma log-uniform on [0.25, 3] and offset mu ~ U[-0.5, 0.5]; one
           sequence in four is the paper's N(0, 1) exactly.

Runs in about two minutes on one CPU core at the defaults.
"""

import json
import time

from absl import app
from absl import flags
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax

from spike_ssm.neurons import sdn as sdn_lib

DISTRIBUTIONS = ("soma", "paper")


def make_currents(rng: np.random.Generator, batch: int, length: int,
                  distribution: str = "soma") -> np.ndarray:
  """Random input currents `(batch, length)` float32 (see module doc)."""
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got "
                     f"{distribution!r}.")
  eps = rng.standard_normal((batch, length))
  if distribution == "paper":
    return eps.astype(np.float32)
  rho = rng.uniform(0.0, 0.999, (batch, 1))
  innov = rng.standard_normal((batch, length)) * np.sqrt(1.0 - rho**2)
  z = np.empty((batch, length))
  z[:, 0] = rng.standard_normal(batch)  # The stationary distribution.
  for t in range(1, length):
    z[:, t] = rho[:, 0] * z[:, t - 1] + innov[:, t]
  w = rng.uniform(0.0, 1.0, (batch, 1))
  sigma = np.exp(rng.uniform(np.log(0.25), np.log(3.0), (batch, 1)))
  mu = rng.uniform(-0.5, 0.5, (batch, 1))
  x = mu + sigma * (np.sqrt(1.0 - w) * eps + np.sqrt(w) * z)
  paper = rng.uniform(size=(batch, 1)) < 0.25
  return np.where(paper, eps, x).astype(np.float32)


def _targets(currents: jax.Array, tau: float) -> jax.Array:
  """Leaked membranes of the iterative LIF for `(B, T)` currents."""
  return sdn_lib.lif_hard_reset(currents[..., None], tau).leaked[..., 0]


def spike_agreement(weights, currents: np.ndarray, tau: float) -> float:
  """Fraction of time steps where SDN and iterative LIF spike alike."""
  x = jnp.asarray(currents)[..., None]  # (B, T, 1)
  want = sdn_lib.lif_hard_reset(x, tau).spikes
  got = sdn_lib.sdn_spikes(weights, x)
  return float(jnp.mean(want == got))


def pretrain(tau: float = sdn_lib.DEFAULT_TAU,
             *,
             steps: int = 4000,
             batch: int = 64,
             length: int = 256,
             lr: float = 1e-2,
             seed: int = 0,
             distribution: str = "soma",
             hidden: int = 8,
             kernel_size: int = 8,
             log_every: int = 500,
             eval_batch: int = 256,
             log=print) -> tuple[dict[str, np.ndarray], dict[str, float]]:
  """Trains an SDN for decay `tau`.

  Args:
    tau: soma decay in (0, 1).
    steps: Adam steps (fresh currents every step).
    batch: sequences per step.
    length: steps per sequence (the receptive field is only `kernel_size`,
      so short sequences suffice).
    lr: peak learning rate (cosine decay to 1% of it).
    seed: training-data and init seed; the held-out evaluation uses
      `seed + 1000`.
    distribution: input-current distribution, "soma" or "paper".
    hidden: SDN hidden channels.
    kernel_size: SDN causal taps.
    log_every: progress line every this many steps (0: silent).
    eval_batch: held-out sequences (of 1024 steps) per distribution.
    log: where progress lines go.

  Returns:
    `(weights, report)`: float32 weights by name, and held-out spike
    agreements / loss / timing.
  """
  tau = sdn_lib.check_tau(tau)
  net = hk.without_apply_rng(hk.transform(
      lambda x: sdn_lib.SDN(hidden, kernel_size, name="sdn")(x)))
  rng = np.random.default_rng(seed)
  params = net.init(jax.random.PRNGKey(seed),
                    jnp.zeros((1, length, 1), jnp.float32))
  schedule = optax.cosine_decay_schedule(lr, steps, alpha=0.01)
  opt = optax.adam(schedule)
  opt_state = opt.init(params)

  @jax.jit
  def update(params, opt_state, currents):
    target = _targets(currents, tau)

    def loss_fn(p):
      pred = net.apply(p, currents[..., None])[..., 0]
      return jnp.mean(jnp.square(pred - target))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  start = time.perf_counter()
  for step in range(1, steps + 1):
    currents = jnp.asarray(make_currents(rng, batch, length, distribution))
    params, opt_state, loss = update(params, opt_state, currents)
    if log_every and (step % log_every == 0 or step == steps):
      log(f"step {step:5d}  mse {float(loss):.3e}  "
          f"({time.perf_counter() - start:.0f} s)")
  seconds = time.perf_counter() - start
  weights = {k: np.asarray(v, np.float32) for k, v in params["sdn"].items()}

  held_out = np.random.default_rng(seed + 1000)
  report = {"train_seconds": seconds, "final_mse": float(loss)}
  for dist in DISTRIBUTIONS:
    currents = make_currents(held_out, eval_batch, 1024, dist)
    report[f"agreement_{dist}"] = spike_agreement(weights, currents, tau)
    report[f"spike_rate_{dist}"] = float(
        sdn_lib.lif_hard_reset(jnp.asarray(currents)[..., None],
                               tau).spikes.mean())
  return weights, report


_TAU = flags.DEFINE_float("tau", sdn_lib.DEFAULT_TAU,
                          "Soma decay factor in (0, 1).")
_STEPS = flags.DEFINE_integer("steps", 4000, "Adam steps.")
_BATCH = flags.DEFINE_integer("batch", 64, "Sequences per step.")
_LENGTH = flags.DEFINE_integer("length", 256, "Steps per sequence.")
_LR = flags.DEFINE_float("lr", 1e-2, "Peak learning rate.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed (held-out data: seed + 1000).")
_DIST = flags.DEFINE_enum("distribution", "soma", list(DISTRIBUTIONS),
                          "Input-current distribution (see module doc).")
_HIDDEN = flags.DEFINE_integer("hidden", 8, "SDN hidden channels.")
_KERNEL = flags.DEFINE_integer("kernel_size", 8, "SDN causal taps.")
_OUT = flags.DEFINE_string(
    "out", None, "Output .npz (default: the packaged sdn_tau<tau>.npz).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  tau = _TAU.value
  count = sdn_lib.num_weights(_HIDDEN.value, _KERNEL.value)
  print(f"Pre-training an SDN ({count} parameters) for tau={tau:g} on "
        f"'{_DIST.value}' currents.")
  weights, report = pretrain(
      tau, steps=_STEPS.value, batch=_BATCH.value, length=_LENGTH.value,
      lr=_LR.value, seed=_SEED.value, distribution=_DIST.value,
      hidden=_HIDDEN.value, kernel_size=_KERNEL.value)
  out = _OUT.value or sdn_lib.weights_path(tau)
  path = sdn_lib.save_sdn_weights(out, weights, tau, **report)
  print(json.dumps({k: round(v, 6) for k, v in report.items()}, indent=1))
  print(f"Wrote {path} ({path.stat().st_size} bytes).")


if __name__ == "__main__":
  app.run(main)
