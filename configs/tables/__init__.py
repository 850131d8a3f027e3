"""What each paper's authors released for Long Range Arena, one table a paper.

Every module here (`s5`, `s4`, `s4d`, `spiking_ssm`, `loongspike`,
`lra_transformer`, `mamba`, `lru`) holds plain data read from the authors'
public repositories at a pinned commit, never from memory:

  SOURCE       {"owner/name": {"commit": 40-hex, "ref": tag or branch,
                 "paths": (files read, ...)}, ...}; where a value comes from a
                 paper rather than a repository, `PAPER` names it.
  COMMON       values shared by the paper's six LRA runs, each followed by a
               `# path:line` comment (paths are relative to the repository in
               SOURCE; "S4:" / "S5:" prefixes name another repository of
               SOURCE when one module cites two).
  PER_TASK     {task: {key: value}} for what differs between runs, same
               comments; a task the authors never ran is None.
  UNAVAILABLE  {task: reason} for every None task.
  TASKS        {task: COMMON | PER_TASK[task]} (None where unavailable): the
               complete recipe of each of the six tasks.

A value the sources do not give is None with the reason in its comment. Keys
come from one vocabulary, `KEYS` below, shared by every table; a key absent
from a row means the concept does not apply to that model (e.g. `blocks`
outside S5). Units: learning rates per step as the released optimiser sees
them; `warmup` in `warmup_unit`; `bn_momentum` in the Flax convention
(running = m * running + (1 - m) * batch, so PyTorch's default 0.1 is 0.9
here).

`configs/tables/README.md` explains the behaviours these recipes need, the
quirks of the released code and how today's `configs/*_lra.py` differ.
"""

LRA_TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")

PAPERS = ("s5", "s4", "s4d", "spiking_ssm", "loongspike", "lra_transformer",
          "mamba", "lru")

# The one key vocabulary of every table: key -> meaning.
KEYS = {
    # Where the row comes from.
    "config_file": "the released run script / experiment config of the task",
    "code_version": "the code the config runs with (tag or commit note)",
    "seed": "the released run's random seed",
    "reported_test_acc": "test accuracy (%) the paper reports for the task",
    "model_selection": "which checkpoint's test accuracy is reported",
    # Data and input encoding.
    "seq_len": "padded / maximum sequence length (tokens or pixels)",
    "padding": "how a batch is padded (to seq_len or to the batch maximum)",
    "input_scaling": "how pixel values reach the model",
    "token_encoder": "onehot_dense | embedding | dense (continuous inputs)",
    "encoder_vocab": "rows of the embedding / one-hot width",
    "encoder_init": "initialiser of the encoder weights",
    "positions": "positional encoding added after the encoder",
    # Backbone.
    "num_layers": "number of residual blocks (depth)",
    "width": "features per position (H, d_model, emb_dim)",
    "state_size": "SSM state size as the released flag counts it",
    "blocks": "S5: J, HiPPO blocks of the initial A (P/J each)",
    "conj_sym": "S5: keep one of each conjugate eigenvalue pair",
    "n_ssm": "number of independent (A, B) copies across the H channels",
    "ssm_kernel": "kernel algorithm (S5 scan, S4 nplr/dplr, diag, ...)",
    "ssm_init": "initialisation of A (and B where tied to it)",
    "discretization": "zoh | bilinear | ...",
    "dt_min": "smallest initial step",
    "dt_max": "largest initial step",
    "dt_transform": "parameterisation of the step (exp: log-step, ...)",
    "c_init": "initialisation of C",
    "b_init": "initialisation of B",
    "b_clip": "clip of Im(B) at init (None: no clip)",
    "trainable_b": "whether B is a trained parameter",
    "clip_eigs": "S5: clip Re(lambda) <= -1e-4 in the forward pass",
    "bidirectional": "whether the layer also runs backwards in time",
    "bidirectional_form": "how the two directions are combined",
    "d_feedthrough": "the D skip term",
    "norm": "batch | layer | none",
    "prenorm": "True: norm before the layer; False: after the residual",
    "final_norm": "a norm after the last block",
    "bn_momentum": "batch-norm running-average weight (Flax convention)",
    "bn_statistics": "positions batch-norm statistics are taken over",
    "padding_masked_in_layers": "whether padded positions are zeroed inside",
    "glu": "the position-wise stage after the SSM (see README)",
    "dropout": "dropout rate",
    "dropout_tied": "True: one mask per (example, channel), shared over time",
    "dropout_sites": "where in a block dropout is applied (in order)",
    "residual": "the residual connection",
    "pooling": "mean | masked_mean | last | last_valid | cls",
    "use_lengths": "whether pooling uses the true (unpadded) lengths",
    "head": "the classifier on the pooled features",
    # Attention (LRA Transformer).
    "num_heads": "attention heads",
    "qkv_dim": "total query/key/value width",
    "mlp_dim": "hidden width of the feed-forward block",
    "attention_dropout": "dropout on attention weights",
    # Mamba block.
    "expand": "Mamba: inner width / d_model",
    "conv_size": "Mamba: causal depthwise convolution taps",
    "dt_rank": "Mamba: rank of the step projection",
    "dt_init": "Mamba: initialisation of the step projection",
    "dt_init_floor": "Mamba: smallest initial step after the floor",
    "bias": "Mamba: bias in the in/out projections",
    "conv_bias": "Mamba: bias in the causal convolution",
    # Spiking soma.
    "neuron": "the spiking nonlinearity used in training",
    "eval_neuron": "the spiking nonlinearity used at evaluation",
    "tau": "soma decay factor per step (u <- tau * u + I)",
    "threshold_init": "initial firing threshold",
    "threshold_param": "how the learnable threshold enters",
    "reset": "reset after a spike",
    "surrogate": "surrogate gradient of the spike",
    "sdn_topology": "the surrogate dynamic network as released",
    "sdn_taps": "inputs the SDN sees for time t",
    "sdn_hidden": "SDN channels",
    "sdn_batch_norm": "batch norm in the SDN while it is trained",
    "sdn_residual": "the SDN's residual connection",
    "sdn_training": "how the shipped SDN weights were trained",
    # LoongSpike fractional kernel.
    "frac_terms": "M, exponentials per mode",
    "omega_init": "initial omega_m (shift of the real part)",
    "eta_init": "initial eta_m (scale of A and of C)",
    "omega_bounds": "(min, max) of the sigmoid-bounded omega",
    "eta_bounds": "(min, max) of the sigmoid-bounded eta",
    "omega_eta_learnable": "whether omega and eta are trained",
    # Optimiser.
    "optimizer": "update rule of the main group",
    "b1": "Adam beta1",
    "b2": "Adam beta2",
    "eps": "Adam epsilon",
    "lr": "peak learning rate of the main group",
    "lr_factor": "S5: lr = lr_factor * ssm_lr",
    "ssm_lr": "learning rate of the SSM group (None: the main lr)",
    "weight_decay": "decoupled weight decay of the main group",
    "ssm_weight_decay": "weight decay of the SSM group",
    "opt_config": "S5: standard | BandCdecay | BfastandCdecay | noBCdecay",
    "dt_global": "S5: log-step in the main group instead of the SSM group",
    "param_groups": "every parameter group: params, rule, lr, weight decay",
    "grad_clip": "global-norm gradient clip (None: none)",
    # Schedule and budget.
    "schedule": "learning-rate schedule",
    "warmup": "warmup length, in warmup_unit",
    "warmup_unit": "steps | epochs | fraction (of the schedule's steps)",
    "schedule_steps": "length the schedule is defined over, in steps",
    "min_lr": "learning rate at the end of the schedule",
    "plateau_factor": "ReduceLROnPlateau factor",
    "plateau_patience": "ReduceLROnPlateau patience (epochs)",
    "batch_size": "examples per step",
    "epochs": "training epochs",
    "steps": "training steps (for step-budgeted runs)",
    "drop_last": "whether the last partial training batch is dropped",
}
