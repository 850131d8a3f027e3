r"""Pre-trains the surrogate dynamic network (SDN) of SpikingSSMs.

  python -m experiments.pretrain_sdn                       # tau = 0.125
  python -m experiments.pretrain_sdn --topology=released   # authors' net
  python -m experiments.pretrain_sdn --topology=released --measure
  python -m experiments.pretrain_sdn --tau=0.25 --steps=4000 \
      --out=/tmp/sdn_tau0.25.npz

Regresses the leaked membrane `m_t = tau * u_{t-1}` of the iterative
hard-reset LIF (threshold 1; `spike_ssm.neurons.sdn`) from random input
currents with an MSE loss and Adam (optax), then reports the spike
agreement `mean(H(m_hat + I - 1) == H(m + I - 1))` on held-out currents
drawn with a different seed (`evaluate`), and writes the weights (float32
`.npz` with `tau`, the topology and the measured agreements). Without
`--out` the file goes to the package
(`spike_ssm/neurons/sdn_weights/sdn_tau<tau>.npz`, or
`sdn_released_tau<tau>.npz` for `--topology=released`). With `--measure`
it trains nothing and measures an existing file the same way.

Topologies (`--topology`, `spike_ssm.neurons.sdn`):

  paper     (default) taps t-7 .. t, a residual around the depthwise
            convolution, no batch norm.
  released  the authors' released network (shenshuaijie/SDN `model.py`):
            taps t-8 .. t-1, batch norm after the depthwise convolution
            and after the 1 x 1 layer, a residual around the 1 x 1 layer.
            Trained as the release trains it, its batch norms in training
            mode (the batch's statistics; running statistics updated with
            PyTorch's momentum 0.1); the weights written and measured are
            the evaluation-mode network with the running statistics folded
            in (`sdn.fold_batch_norm`). Data, loss (MSE), optimiser and
            agreement measurement are those of the paper topology, so the
            two differ only in the network; the release's own recipe
            (SmoothL1, AdamW with decay 0.01, 100 epochs over 50 000 fixed
            N(0, 1) sequences of 1024 steps; configs/tables/README.md
            §4a.4) is not reproduced.

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

Runs in about two minutes on one CPU core at the defaults (either
topology). A bad flag value is a one-line error (exit status 2).
"""

import json
import os
import pathlib
import sys
import time
from typing import NamedTuple

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


def spike_agreement(weights, currents: np.ndarray, tau: float,
                    topology: str = "paper") -> float:
  """Fraction of time steps where SDN and iterative LIF spike alike.

  Args:
    weights: SDN weights (`sdn.WEIGHT_NAMES`) of `topology`.
    currents: `(B, T)` input currents.
    tau: the LIF's decay.
    topology: "paper" or "released".
  """
  x = jnp.asarray(currents)[..., None]  # (B, T, 1)
  want = sdn_lib.lif_hard_reset(x, tau).spikes
  got = sdn_lib.sdn_spikes(weights, x, topology=topology)
  return float(jnp.mean(want == got))


def network(hidden: int = 8, kernel_size: int = 8,
            topology: str = "paper") -> hk.TransformedWithState:
  """The SDN as trained here: `apply(params, state, x, is_training)`.

  One form for both topologies: the paper's network has no state (its
  `is_training` does nothing); the released one keeps its batch norms'
  running statistics as state, and `is_training=True` normalises with the
  batch's statistics and updates the running ones (PyTorch's `train()`).
  `x` is `(B, T, 1)`.
  """
  return hk.without_apply_rng(hk.transform_with_state(
      lambda x, is_training: sdn_lib.SDN(
          hidden, kernel_size, topology=topology, name="sdn")(
              x, is_training=is_training)))


class Trained(NamedTuple):
  """What `train` returns.

  Attributes:
    params: the network's parameters (`params["sdn"]`).
    state: its state (`state["sdn"]`: the released topology's running
      batch-norm statistics; empty for the paper topology).
    losses: `(steps,)` float32, the training MSE of each step (before
      that step's update; the released topology's in training mode).
    seconds: wall time of the training loop (compilation included).
  """
  params: hk.Params
  state: hk.State
  losses: np.ndarray
  seconds: float


def _check_positive_int(name: str, value) -> None:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < 1):
    raise ValueError(f"{name} must be an int >= 1, got {value!r}.")


def train(tau: float = sdn_lib.DEFAULT_TAU,
          *,
          steps: int = 4000,
          batch: int = 64,
          length: int = 256,
          lr: float = 1e-2,
          seed: int = 0,
          distribution: str = "soma",
          hidden: int = 8,
          kernel_size: int = 8,
          topology: str = "paper",
          log_every: int = 500,
          log=print) -> Trained:
  """Trains the `network` of `topology` to regress the LIF's leaked membrane.

  MSE against `lif_hard_reset(x, tau).leaked`, Adam with a cosine decay to
  1% of `lr`, fresh currents every step (`make_currents(rng, batch,
  length, distribution)` with `rng = default_rng(seed)`); every step runs
  the network with `is_training=True`. Arguments as `pretrain`.

  Raises:
    ValueError: a bad `tau`, `topology` or `distribution`, or a
      non-positive size, step count or learning rate.
  """
  tau = sdn_lib.check_tau(tau)
  sdn_lib.check_topology(topology)
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got "
                     f"{distribution!r}.")
  for name, value in (("steps", steps), ("batch", batch), ("length", length),
                      ("hidden", hidden), ("kernel_size", kernel_size)):
    _check_positive_int(name, value)
  if (isinstance(lr, bool) or not isinstance(lr, (int, float))
      or not 0.0 < lr < float("inf")):
    raise ValueError(f"lr must be a finite number > 0, got {lr!r}.")
  net = network(hidden, kernel_size, topology)
  rng = np.random.default_rng(seed)
  params, state = net.init(jax.random.PRNGKey(seed),
                           jnp.zeros((1, length, 1), jnp.float32), True)
  schedule = optax.cosine_decay_schedule(lr, steps, alpha=0.01)
  opt = optax.adam(schedule)
  opt_state = opt.init(params)

  @jax.jit
  def update(params, state, opt_state, currents):
    target = _targets(currents, tau)

    def loss_fn(p):
      pred, new_state = net.apply(p, state, currents[..., None], True)
      return jnp.mean(jnp.square(pred[..., 0] - target)), new_state

    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), state, opt_state, loss

  losses = []
  start = time.perf_counter()
  for step in range(1, steps + 1):
    currents = jnp.asarray(make_currents(rng, batch, length, distribution))
    params, state, opt_state, loss = update(params, state, opt_state,
                                            currents)
    losses.append(loss)
    if log_every and (step % log_every == 0 or step == steps):
      log(f"step {step:5d}  mse {float(loss):.3e}  "
          f"({time.perf_counter() - start:.0f} s)")
  losses = np.asarray(jax.device_get(losses), np.float32)
  return Trained(params, state, losses, time.perf_counter() - start)


def inference_weights(trained: Trained,
                      topology: str = "paper") -> dict[str, np.ndarray]:
  """The float32 `sdn.WEIGHT_NAMES` weights of a trained network.

  The released topology's batch norms are folded with their running
  statistics (`sdn.fold_batch_norm`: its evaluation mode).
  """
  if sdn_lib.check_topology(topology) == "paper":
    return {k: np.asarray(v, np.float32)
            for k, v in trained.params["sdn"].items()}
  return sdn_lib.fold_batch_norm(trained.params["sdn"], trained.state["sdn"])


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
             topology: str = "paper",
             log=print) -> tuple[dict[str, np.ndarray], dict[str, float]]:
  """Trains an SDN of `topology` for decay `tau` and measures it.

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
    topology: "paper" or "released" (module docstring): the released
      network trains with its batch norms in training mode and is folded
      (`sdn.fold_batch_norm`) into the weights returned and measured.
    log: where progress lines go.

  Returns:
    `(weights, report)`: float32 weights by name (`sdn.WEIGHT_NAMES`, for
    `sdn_leaked_membrane(..., topology=topology)`), and the held-out spike
    agreements (`agreement_<distribution>`) and LIF spike rates, the last
    step's training MSE and the training time.

  Raises:
    ValueError: a bad `tau`, `topology` or `distribution`, or a
      non-positive size, step count or learning rate.
  """
  _check_positive_int("eval_batch", eval_batch)
  trained = train(tau, steps=steps, batch=batch, length=length, lr=lr,
                  seed=seed, distribution=distribution, hidden=hidden,
                  kernel_size=kernel_size, topology=topology,
                  log_every=log_every, log=log)
  weights = inference_weights(trained, topology)
  report = {"train_seconds": trained.seconds,
            "final_mse": float(trained.losses[-1])}
  report.update(evaluate(weights, tau, topology, seed=seed,
                         eval_batch=eval_batch))
  return weights, report


def evaluate(weights, tau: float = sdn_lib.DEFAULT_TAU,
             topology: str = "paper", *, seed: int = 0,
             eval_batch: int = 256) -> dict[str, float]:
  """Held-out spike agreement of SDN `weights` with the iterative LIF.

  The measurement `pretrain` records: for each distribution in
  `DISTRIBUTIONS` (in that order, from one generator seeded `seed + 1000`),
  `eval_batch` sequences of 1024 steps; `agreement_<distribution>` is the
  fraction of time steps where `sdn_spikes` and `lif_hard_reset` agree,
  `spike_rate_<distribution>` the LIF's firing rate.
  """
  _check_positive_int("eval_batch", eval_batch)
  held_out = np.random.default_rng(seed + 1000)
  report = {}
  for dist in DISTRIBUTIONS:
    currents = make_currents(held_out, eval_batch, 1024, dist)
    report[f"agreement_{dist}"] = spike_agreement(weights, currents, tau,
                                                  topology)
    report[f"spike_rate_{dist}"] = float(
        sdn_lib.lif_hard_reset(jnp.asarray(currents)[..., None],
                               tau).spikes.mean())
  return report


_TAU = flags.DEFINE_float("tau", sdn_lib.DEFAULT_TAU,
                          "Soma decay factor in (0, 1).")
_TOPOLOGY = flags.DEFINE_enum("topology", "paper", list(sdn_lib.TOPOLOGIES),
                              "SDN topology (see module doc).")
_STEPS = flags.DEFINE_integer("steps", 4000, "Adam steps.", lower_bound=1)
_BATCH = flags.DEFINE_integer("batch", 64, "Sequences per step.",
                              lower_bound=1)
_LENGTH = flags.DEFINE_integer("length", 256, "Steps per sequence.",
                               lower_bound=1)
_LR = flags.DEFINE_float("lr", 1e-2, "Peak learning rate (> 0).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed (held-out data: seed + 1000).")
_DIST = flags.DEFINE_enum("distribution", "soma", list(DISTRIBUTIONS),
                          "Input-current distribution (see module doc).")
_HIDDEN = flags.DEFINE_integer("hidden", 8, "SDN hidden channels.",
                               lower_bound=1)
_KERNEL = flags.DEFINE_integer("kernel_size", 8, "SDN causal taps.",
                               lower_bound=1)
_EVAL_BATCH = flags.DEFINE_integer(
    "eval_batch", 256, "Held-out sequences (of 1024 steps) per distribution.",
    lower_bound=1)
_OUT = flags.DEFINE_string(
    "out", None, "Output .npz (default: the packaged sdn_tau<tau>.npz, or "
    "sdn_released_tau<tau>.npz for --topology=released).")
_MEASURE = flags.DEFINE_bool(
    "measure", False, "Train nothing: measure the held-out agreement of the "
    "weights file at --out (default: the packaged one of --topology and "
    "--tau; its recorded topology and tau must match) and print it.")
flags.register_validator("tau", lambda v: v is not None and 0.0 < v < 1.0,
                         "must be a number in (0, 1)")
flags.register_validator("lr", lambda v: v is not None and 0.0 < v < np.inf,
                         "must be a finite number > 0")

EXIT_USAGE = 2


def _measure(path: pathlib.Path, tau: float, topology: str) -> None:
  """`--measure`: the held-out report of an existing weights file."""
  try:
    weights, file_tau = sdn_lib.load_sdn_weights(path)
    file_topology = sdn_lib.sdn_file_topology(path)
  except (OSError, ValueError) as e:
    print(f"error: --out: cannot read SDN weights from {str(path)!r}: "
          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
          file=sys.stderr)
    sys.exit(EXIT_USAGE)
  if file_topology != topology or not np.isclose(file_tau, tau, rtol=1e-6):
    print(f"error: --out: {str(path)!r} holds topology {file_topology!r} "
          f"for tau={file_tau:g}, not --topology={topology} --tau={tau:g}.",
          file=sys.stderr)
    sys.exit(EXIT_USAGE)
  report = evaluate(weights, tau, topology, seed=_SEED.value,
                    eval_batch=_EVAL_BATCH.value)
  print(f"Held-out agreement of {path} ({topology} topology, tau={tau:g}, "
        f"seed {_SEED.value + 1000}, {_EVAL_BATCH.value} x 1024 steps per "
        "distribution):")
  print(json.dumps({k: round(v, 6) for k, v in report.items()}, indent=1))


def parse_flags(argv):
  """absl's flag parsing, with a one-line error and exit status 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    print(f"error: {' '.join(lines) or type(e).__name__}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    sys.exit(EXIT_USAGE)
  tau, topology = _TAU.value, _TOPOLOGY.value
  out = pathlib.Path(_OUT.value or sdn_lib.weights_path(tau, topology))
  if _MEASURE.value:
    _measure(out, tau, topology)
    return
  folder = next((p for p in out.absolute().parents if p.exists()), None)
  if (out.is_dir() or folder is None or not folder.is_dir()
      or not os.access(folder, os.W_OK)):
    print(f"error: --out: cannot write {str(out)!r}.", file=sys.stderr)
    sys.exit(EXIT_USAGE)
  count = sdn_lib.num_weights(_HIDDEN.value, _KERNEL.value)
  print(f"Pre-training an SDN ({count} parameters, {topology} topology) for "
        f"tau={tau:g} on '{_DIST.value}' currents.")
  weights, report = pretrain(
      tau, steps=_STEPS.value, batch=_BATCH.value, length=_LENGTH.value,
      lr=_LR.value, seed=_SEED.value, distribution=_DIST.value,
      hidden=_HIDDEN.value, kernel_size=_KERNEL.value,
      eval_batch=_EVAL_BATCH.value, topology=topology)
  try:
    path = sdn_lib.save_sdn_weights(out, weights, tau, topology=topology,
                                    **report)
  except OSError as e:
    print(f"error: --out: cannot write {str(out)!r}: {e.strerror or e}",
          file=sys.stderr)
    sys.exit(1)
  print(json.dumps({k: round(v, 6) for k, v in report.items()}, indent=1))
  print(f"Wrote {path} ({path.stat().st_size} bytes).")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
