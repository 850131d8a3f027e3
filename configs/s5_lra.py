r"""S5 on Long Range Arena, with S5's published per-task hyperparameters.

  python -m experiments.launch --config=configs/s5_lra.py              # listops
  python -m experiments.launch --config=configs/s5_lra.py:task=text \
      --config.data.root=/data/lra_release
  python -m experiments.launch --config=configs/s5_lra.py:demo         # minutes
  python -m experiments.launch --config=configs/s5_lra.py:smoke        # seconds

Arguments (comma separated after the colon): task=listops|text|retrieval|
image|pathfinder|pathx, demo (a small generated ListOps that trains in a few
minutes on 2 CPU cores and visibly learns), smoke (tiny, for tests).

Every per-task value is read from `configs/tables/s5.py`, the S5 authors'
released run scripts (lindermanlab/S5 `bin/run_experiments/run_lra_*.sh`
over `run_train.py`'s defaults, commit in that table's SOURCE): depth,
width, state size P, blocks J, conj_sym, ZOH, dt range, C init, clip_eigs,
bidirectional, pre-norm batch norm and its momentum (0.95; 0.9 on
Pathfinder / Path-X), GLU variant, dropout (tied over time at the GLU's
two sites), masked-mean pooling on the padded tasks (mean on the pixel
tasks), the token encoder (below), batch, epochs,
`lr = lr_factor * ssm_lr`, weight decay, Adam's b1 / b2 / eps, the
optimiser grouping (`opt_config` -> `optim.grouping`: ListOps and Image
`BfastandCdecay`, Text and Retrieval `standard` with `dt_global`,
Pathfinder `standard`, Path-X `BandCdecay`), the warmup in epochs (an epoch
is `len(train) // batch` steps, S5's `int(train_size / bsz)`) and cosine
decay to 0. Without `--config.data.root`, `task=listops` trains on the
built-in generator (LRA's rules), so the job runs offline.

What still differs from the released runs, and why
(configs/tables/README.md §1b, §1c):

* Token encoder: S5's one-hot code through a dense layer
  (`model.token_encoder="onehot_dense"`, LeCun-normal, zero bias) on
  ListOps, Text and Retrieval, one-hot width 20 on ListOps as S5's; on
  Text and Retrieval the width is our byte vocabulary (257), where S5
  builds a character vocabulary (135 on Text, `len(vocab)` on
  Retrieval), so the encoder's initial scale is 1/sqrt(257) there.
* Batch-norm statistics and the layers see only valid positions: padding
  is zeroed inside the blocks; S5 pads to the full length, runs the layers
  over the padding (the pad id's one-hot code is a real input) and masks
  it only in the pooling.
* Norms, biases and D are not weight-decayed (the paper's and this
  library's convention); the released code decays them (its `"norm"` entry
  never matches a parameter). `optim.decay_vectors=True` reproduces it.
* Schedule: 0 -> peak over the warmup, cosine to 0 at the run's end, as
  the paper describes. S5's code runs step 0 at the full rate, starts the
  cosine's counter at the global step and reaches 0 one warmup before the
  end (README §1b.2); `optim.schedule="s5_released"` reproduces that.
* Data: our loaders build the vocabularies (no `<eos>`, ListOps 16 ids
  in S5's 20 one-hot slots, where S5 uses 18); Text has no validation
  split in S5 (model selection on test), ours holds one out.
"""

from ml_collections import config_dict

from spike_ssm import config_lib
from spike_ssm import zoo

_TABLE = config_lib.load_table(__file__, "s5")
TASKS = tuple(_TABLE.TASKS)


def get_config(arg: str | None = None) -> config_dict.ConfigDict:
  """S5 on an LRA task. Args: task=..., demo, smoke (see module doc)."""
  arg = config_lib.parse_lra_arg(arg)
  row = _TABLE.TASKS[arg.task]
  config = config_lib.base_config()
  config.seed = 0
  config.data.task = arg.task
  config.data.global_batch_size = row["batch_size"]
  config.data.options = zoo.task_options_config(arg.task)
  config.model.update(
      layer="s5", num_layers=row["num_layers"], width=row["width"],
      norm=row["norm"], prenorm=row["prenorm"], glu=row["glu"],
      dropout=row["dropout"], positions="none")
  # Encoder, pooling, tied dropout and batch-norm momentum, from the row.
  config.model.update(config_lib.released_model(
      row, vocab_size=config_lib.LRA_VOCAB_SIZES.get(arg.task)))
  config.model.layer_kwargs = config_dict.ConfigDict(dict(
      state_size=row["state_size"], blocks=row["blocks"],
      conj_sym=row["conj_sym"], discretization=row["discretization"],
      dt_min=row["dt_min"], dt_max=row["dt_max"], c_init=row["c_init"],
      bidirectional=row["bidirectional"], clip_eigs=row["clip_eigs"],
      scan_mode="auto"))
  config.optim.update(config_lib.released_optim(
      row, grouping=row["opt_config"], dt_global=row["dt_global"]))
  config.train.num_epochs = row["epochs"]
  steps_per_epoch = config_lib.LRA_TRAIN_SIZES[arg.task] // row["batch_size"]
  config.train.update(log_every=100, eval_every=steps_per_epoch,
                      ckpt_every=steps_per_epoch)
  if arg.demo:
    _demo(config)
  if arg.smoke:
    _smoke(config)
  return config_lib.finalize(config)


def _demo(config: config_dict.ConfigDict) -> None:
  """A small generated ListOps that learns within minutes on 2 CPU cores.

  Keeps the ListOps row's encoder (one-hot width 20), masked-mean pooling,
  tied dropout and batch-norm momentum 0.95.
  """
  config_lib.lra_demo(config)
  # Batch norm and a bidirectional core as in S5's ListOps run: measured
  # 44.8% test vs 33.0% with layer norm at 2000 steps (majority 11.5%),
  # before the encoder, pooling and momentum above were the released ones
  # (issue 9 measured those at 45% test, training loss 1.28; with them,
  # benchmarks/FIDELITY.md: 46.1 +- 0.7% test over 2 seeds vs 43.2 +- 2.3%
  # for the earlier choices, on an H200).
  config.model.norm = "batch"
  config.model.layer_kwargs.update(state_size=32, blocks=4,
                                   bidirectional=True)
  config.optim.update(lr=3e-3, ssm_lr=1e-3)


def _smoke(config: config_dict.ConfigDict) -> None:
  """Tiny shapes: 2 steps in seconds (tests)."""
  config_lib.lra_smoke(config)
  config.model.layer_kwargs.update(state_size=8, blocks=2)
