"""S5 (Smith, Warrington & Linderman, ICLR 2023): the released LRA runs.

Read from lindermanlab/S5 at the commit in SOURCE. The six runs are the
scripts `bin/run_experiments/run_lra_{listops,imdb,aan,cifar,pathfinder,
pathx}.sh` (cited below as `<name>.sh:line`), each one `python run_train.py`
command; every flag they do not set takes its `run_train.py` default. Paths
in comments are relative to the repository root.

Units: `state_size` is `--ssm_size_base` (P, the real HiPPO size; with
conj_sym the complex state has P/2 modes, s5/train.py:78-80); `lr` is
`lr_factor * ssm_lr_base` (s5/train.py:37).
"""

SOURCE = {
    "lindermanlab/S5": {
        "commit": "3c18fdb6b06414da35e77b94b9cd855f6a95ef17",
        "ref": "main",
        "paths": (
            "bin/run_experiments/run_lra_listops.sh",
            "bin/run_experiments/run_lra_imdb.sh",
            "bin/run_experiments/run_lra_aan.sh",
            "bin/run_experiments/run_lra_cifar.sh",
            "bin/run_experiments/run_lra_pathfinder.sh",
            "bin/run_experiments/run_lra_pathx.sh",
            "run_train.py", "s5/train.py", "s5/train_helpers.py",
            "s5/seq_model.py", "s5/layers.py", "s5/ssm.py", "s5/ssm_init.py",
            "s5/dataloading.py", "s5/dataloaders/lra.py",
            "s5/dataloaders/basic.py",
        ),
    },
}

PAPER = {
    "title": "Simplified State Space Layers for Sequence Modeling",
    "arxiv": "2208.04933",
    # The repository's README quotes no accuracies; the paper's LRA table as
    # listed under "Results from the Paper" on its Papers with Code page.
    "results_source":
        "https://paperswithcode.com/paper/"
        "simplified-state-space-layers-for-sequence",
}

COMMON = {
    "code_version": "main @ SOURCE commit",  # the scripts use this code
    # s5/train.py:243-250
    "model_selection": "test acc at the epoch of best val acc",
    "padding": "to seq_len with the pad id",  # s5/train_helpers.py:301-305
    "conj_sym": True,  # run_train.py:45
    "ssm_kernel": "parallel_scan",  # s5/ssm.py:60-88
    "ssm_init": "hippo_legs_dplr_blocks",  # s5/train.py:76-90
    "discretization": "zoh",  # run_train.py:38
    "dt_min": 0.001,  # run_train.py:51
    "dt_max": 0.1,  # run_train.py:53
    "dt_transform": "exp",  # s5/ssm.py:219 step = exp(log_step)
    "b_init": "lecun_normal then V^-1 B",  # s5/ssm.py:160-167
    "b_clip": None,  # s5/ssm_init.py:115-131 (no clip)
    "trainable_b": True,  # s5/ssm.py:162
    "clip_eigs": False,  # run_train.py:47
    "bidirectional": True,  # every <name>.sh sets --bidirectional=True
    # s5/ssm.py:79-83,193-203
    "bidirectional_form": "shared Lambda, B; reverse scan; own C2",
    "d_feedthrough": "D ~ N(0, 1), per feature",  # s5/ssm.py:213
    "norm": "batch",  # every <name>.sh sets --batchnorm=True
    "prenorm": True,  # run_train.py:57
    "final_norm": False,  # s5/seq_model.py:64-67
    "bn_momentum": 0.95,  # run_train.py:61 (Flax BatchNorm)
    "bn_statistics": "batch x time, padding included",  # s5/layers.py:44-45
    "padding_masked_in_layers": False,  # s5/seq_model.py:157 (pooling only)
    "dropout_tied": True,  # s5/layers.py:49-53 broadcast_dims=[0]
    "residual": "x + branch",  # s5/layers.py:87
    "head": "dense -> log_softmax",  # s5/seq_model.py:143,174-175
    "optimizer": "adamw (regular) / adam (ssm)",  # s5/train_helpers.py:159-166
    "b1": 0.9,  # optax adam/adamw default
    "b2": 0.999,  # optax adam/adamw default
    "eps": 1e-8,  # optax adam/adamw default
    "ssm_weight_decay": 0.0,  # s5/train_helpers.py:162 (optax.adam)
    "grad_clip": None,  # s5/train_helpers.py:377-413 (no clipping)
    "schedule": "linear_warmup_then_cosine_step_offset",  # s5/train.py:167-180
    "warmup_unit": "epochs",  # run_train.py:79 --warmup_end
    "min_lr": 0.0,  # run_train.py:75
    "drop_last": True,  # s5/dataloading.py:28
}

PER_TASK = {
    "listops": {
        # README.md:79-80
        "config_file": "bin/run_experiments/run_lra_listops.sh",
        "seed": 6554595,  # listops.sh:3
        "reported_test_acc": 62.15,  # PAPER results_source
        "seq_len": 2048,  # s5/dataloaders/lra.py:228
        "token_encoder": "onehot_dense",  # s5/train_helpers.py:310-311
        "encoder_vocab": 20,  # s5/dataloading.py:110 (18 used)
        # s5/seq_model.py:39
        "encoder_init": "flax Dense default: lecun_normal (trunc.), bias 0",
        "width": 128,  # listops.sh:2
        "num_layers": 8,  # listops.sh:3
        "state_size": 16,  # listops.sh:4
        "blocks": 8,  # listops.sh:2
        "c_init": "lecun_normal",  # listops.sh:1
        "glu": "half_glu2",  # listops.sh:1
        "dropout": 0.0,  # listops.sh:4
        "dropout_sites": ("gate_input_gelu", "after_glu"),  # s5/layers.py:76-80
        "pooling": "masked_mean",  # s5/seq_model.py:158-161
        "use_lengths": True,  # s5/train.py:48-49 padded
        "batch_size": 50,  # listops.sh:2
        "epochs": 40,  # listops.sh:3
        "ssm_lr": 0.001,  # listops.sh:4
        "lr_factor": 3.0,  # listops.sh:3
        "lr": 0.003,  # s5/train.py:37
        "weight_decay": 0.04,  # listops.sh:4
        "opt_config": "BfastandCdecay",  # listops.sh:3
        "dt_global": False,  # run_train.py:73
        "param_groups": {  # s5/train_helpers.py:197-222
            "ssm": {"params": ("Lambda_re", "Lambda_im", "log_step"),
                    "rule": "adam", "lr": "ssm_lr", "weight_decay": 0.0},
            "regular": {"params": "all others: B, C1, C2, D, encoder, "
                                  "norms, GLU, decoder",
                        "rule": "adamw", "lr": "lr",
                        "weight_decay": "weight_decay"},
        },
        "warmup": 1,  # listops.sh:4
    },
    "text": {
        "config_file": "bin/run_experiments/run_lra_imdb.sh",  # README.md:79-80
        "seed": 8825365,  # imdb.sh:4
        "reported_test_acc": 89.31,  # PAPER results_source
        # s5/dataloading.py:77; s5/train.py:220-234
        "model_selection": "best test acc (no val split)",
        "seq_len": 4096,  # s5/dataloaders/lra.py:27
        "token_encoder": "onehot_dense",  # s5/train_helpers.py:310-311
        "encoder_vocab": 135,  # s5/dataloading.py:81
        # s5/seq_model.py:39
        "encoder_init": "flax Dense default: lecun_normal (trunc.), bias 0",
        "width": 256,  # imdb.sh:3
        "num_layers": 6,  # imdb.sh:5
        "state_size": 192,  # imdb.sh:6
        "blocks": 12,  # imdb.sh:2
        "c_init": "lecun_normal",  # imdb.sh:1
        "glu": "half_glu2",  # imdb.sh:1
        "dropout": 0.1,  # imdb.sh:5
        "dropout_sites": ("gate_input_gelu", "after_glu"),  # s5/layers.py:76-80
        "pooling": "masked_mean",  # s5/seq_model.py:158-161
        "use_lengths": True,  # s5/train.py:48-49 padded
        "batch_size": 50,  # imdb.sh:2
        "epochs": 35,  # imdb.sh:4
        "ssm_lr": 0.001,  # imdb.sh:5
        "lr_factor": 4.0,  # imdb.sh:4
        "lr": 0.004,  # s5/train.py:37
        "weight_decay": 0.07,  # imdb.sh:6
        "opt_config": "standard",  # imdb.sh:5
        "dt_global": True,  # imdb.sh:4
        "param_groups": {  # s5/train_helpers.py:141-167
            "ssm": {"params": ("B", "Lambda_re", "Lambda_im"),
                    "rule": "adam", "lr": "ssm_lr", "weight_decay": 0.0},
            "regular": {"params": "all others: log_step, C1, C2, D, "
                                  "encoder, norms, GLU, decoder",
                        "rule": "adamw", "lr": "lr",
                        "weight_decay": "weight_decay"},
        },
        "warmup": 0,  # imdb.sh:6
    },
    "retrieval": {
        "config_file": "bin/run_experiments/run_lra_aan.sh",  # README.md:79-80
        "seed": 5464368,  # aan.sh:3
        "reported_test_acc": 91.4,  # PAPER results_source
        "seq_len": 4000,  # s5/dataloaders/lra.py:562
        "token_encoder": "onehot_dense",  # s5/train_helpers.py:310-311
        # len(vocab) of the AAN train split, s5/dataloading.py:238
        "encoder_vocab": None,
        # s5/seq_model.py:39
        "encoder_init": "flax Dense default: lecun_normal (trunc.), bias 0",
        "width": 128,  # aan.sh:2
        "num_layers": 6,  # aan.sh:3
        "state_size": 256,  # aan.sh:4
        "blocks": 16,  # aan.sh:2
        "c_init": "trunc_standard_normal",  # aan.sh:1
        "glu": "half_glu1",  # run_train.py:43
        "dropout": 0.0,  # aan.sh:4
        "dropout_sites": ("after_gelu", "after_glu"),  # s5/layers.py:72-75
        "pooling": "masked_mean",  # s5/seq_model.py:310
        "use_lengths": True,  # s5/train.py:48-53
        # s5/seq_model.py:206-220,311-313
        "head": "[u, v, u-v, u*v] -> dense(H) -> gelu -> dense",
        "batch_size": 32,  # aan.sh:2
        "epochs": 20,  # aan.sh:3
        "ssm_lr": 0.001,  # aan.sh:4
        "lr_factor": 2.0,  # aan.sh:3
        "lr": 0.002,  # s5/train.py:37
        "weight_decay": 0.05,  # aan.sh:5
        "opt_config": "standard",  # aan.sh:4
        "dt_global": True,  # aan.sh:3
        "param_groups": {  # s5/train_helpers.py:141-167
            "ssm": {"params": ("B", "Lambda_re", "Lambda_im"),
                    "rule": "adam", "lr": "ssm_lr", "weight_decay": 0.0},
            "regular": {"params": "all others: log_step, C1, C2, D, "
                                  "encoder, norms, GLU, decoder",
                        "rule": "adamw", "lr": "lr",
                        "weight_decay": "weight_decay"},
        },
        "warmup": 1,  # aan.sh:5
    },
    "image": {
        # README.md:79-80
        "config_file": "bin/run_experiments/run_lra_cifar.sh",
        "seed": 16416,  # cifar.sh:3
        "reported_test_acc": 88.0,  # PAPER results_source
        "seq_len": 1024,  # s5/dataloading.py:203
        # s5/dataloaders/basic.py:96-117
        "input_scaling": "grayscale, (x - 122.6/255) / (61/255)",
        "token_encoder": "dense",  # s5/dataloading.py:204 IN_DIM = 1
        "encoder_vocab": None,  # continuous pixels
        # s5/seq_model.py:39
        "encoder_init": "flax Dense default: lecun_normal (trunc.), bias 0",
        "width": 512,  # cifar.sh:2
        "num_layers": 6,  # cifar.sh:3
        "state_size": 384,  # cifar.sh:4
        "blocks": 3,  # cifar.sh:2
        "c_init": "lecun_normal",  # cifar.sh:1
        "clip_eigs": True,  # cifar.sh:2
        "glu": "half_glu1",  # run_train.py:43
        "dropout": 0.1,  # cifar.sh:4
        "dropout_sites": ("after_gelu", "after_glu"),  # s5/layers.py:72-75
        "pooling": "mean",  # s5/seq_model.py:162-163
        "use_lengths": False,  # s5/train.py:57-59
        "batch_size": 50,  # cifar.sh:2
        "epochs": 250,  # cifar.sh:3
        "ssm_lr": 0.001,  # cifar.sh:4
        "lr_factor": 4.5,  # cifar.sh:3
        "lr": 0.0045,  # s5/train.py:37
        "weight_decay": 0.07,  # cifar.sh:4
        "opt_config": "BfastandCdecay",  # cifar.sh:3
        "dt_global": False,  # run_train.py:73
        "param_groups": {  # s5/train_helpers.py:197-222
            "ssm": {"params": ("Lambda_re", "Lambda_im", "log_step"),
                    "rule": "adam", "lr": "ssm_lr", "weight_decay": 0.0},
            "regular": {"params": "all others: B, C1, C2, D, encoder, "
                                  "norms, GLU, decoder",
                        "rule": "adamw", "lr": "lr",
                        "weight_decay": "weight_decay"},
        },
        "warmup": 1,  # cifar.sh:4
    },
    "pathfinder": {
        # README.md:79-80
        "config_file": "bin/run_experiments/run_lra_pathfinder.sh",
        "seed": 8180844,  # pathfinder.sh:3
        "reported_test_acc": 95.33,  # PAPER results_source
        "seq_len": 1024,  # s5/dataloading.py:139 (32 x 32)
        # s5/dataloaders/lra.py:443,458
        "input_scaling": "[0, 1] then (x - 0.5) / 0.5",
        "token_encoder": "dense",  # s5/dataloaders/lra.py:421 d_input = 1
        "encoder_vocab": None,  # continuous pixels
        # s5/seq_model.py:39
        "encoder_init": "flax Dense default: lecun_normal (trunc.), bias 0",
        "width": 192,  # pathfinder.sh:2
        "num_layers": 6,  # pathfinder.sh:4
        "state_size": 256,  # pathfinder.sh:5
        "blocks": 8,  # pathfinder.sh:2
        "c_init": "trunc_standard_normal",  # pathfinder.sh:1
        "bn_momentum": 0.9,  # pathfinder.sh:2
        "glu": "half_glu1",  # run_train.py:43
        "dropout": 0.05,  # pathfinder.sh:4
        "dropout_sites": ("after_gelu", "after_glu"),  # s5/layers.py:72-75
        "pooling": "mean",  # s5/seq_model.py:162-163
        "use_lengths": False,  # s5/train.py:57-59
        "batch_size": 64,  # pathfinder.sh:2
        "epochs": 200,  # pathfinder.sh:3
        "ssm_lr": 0.0009,  # pathfinder.sh:4
        "lr_factor": 5.0,  # pathfinder.sh:3
        "lr": 0.0045,  # s5/train.py:37
        "weight_decay": 0.03,  # pathfinder.sh:5
        "opt_config": "standard",  # pathfinder.sh:4
        "dt_global": False,  # run_train.py:73
        "param_groups": {  # s5/train_helpers.py:154-167
            "ssm": {"params": ("B", "Lambda_re", "Lambda_im", "log_step"),
                    "rule": "adam", "lr": "ssm_lr", "weight_decay": 0.0},
            "regular": {"params": "all others: C1, C2, D, encoder, norms, "
                                  "GLU, decoder",
                        "rule": "adamw", "lr": "lr",
                        "weight_decay": "weight_decay"},
        },
        "warmup": 1,  # pathfinder.sh:5
    },
    "pathx": {
        # README.md:79-80
        "config_file": "bin/run_experiments/run_lra_pathx.sh",
        "seed": 6429262,  # pathx.sh:3
        "reported_test_acc": 98.58,  # PAPER results_source
        "seq_len": 16384,  # s5/dataloading.py:169 (128 x 128)
        # s5/dataloaders/lra.py:443,458
        "input_scaling": "[0, 1] then (x - 0.5) / 0.5",
        "token_encoder": "dense",  # s5/dataloaders/lra.py:421 d_input = 1
        "encoder_vocab": None,  # continuous pixels
        # s5/seq_model.py:39
        "encoder_init": "flax Dense default: lecun_normal (trunc.), bias 0",
        "width": 128,  # pathx.sh:2
        "num_layers": 6,  # pathx.sh:3
        "state_size": 256,  # pathx.sh:4
        "blocks": 16,  # pathx.sh:2
        "c_init": "complex_normal",  # pathx.sh:1
        "dt_min": 0.0001,  # pathx.sh:3
        "bn_momentum": 0.9,  # pathx.sh:2
        "glu": "half_glu1",  # run_train.py:43
        "dropout": 0.0,  # pathx.sh:4
        "dropout_sites": ("after_gelu", "after_glu"),  # s5/layers.py:72-75
        "pooling": "mean",  # s5/seq_model.py:162-163
        "use_lengths": False,  # s5/train.py:57-59
        "batch_size": 32,  # pathx.sh:2
        "epochs": 75,  # pathx.sh:3
        "ssm_lr": 0.0006,  # pathx.sh:4
        "lr_factor": 3.0,  # pathx.sh:3
        "lr": 0.0018,  # s5/train.py:37
        "weight_decay": 0.06,  # pathx.sh:5
        "opt_config": "BandCdecay",  # pathx.sh:4
        "dt_global": False,  # run_train.py:73
        "param_groups": {  # s5/train_helpers.py:168-195
            "ssm": {"params": ("Lambda_re", "Lambda_im", "log_step"),
                    "rule": "adam", "lr": "ssm_lr", "weight_decay": 0.0},
            "none": {"params": ("B",), "rule": "adamw", "lr": "ssm_lr",
                     "weight_decay": "weight_decay"},
            "regular": {"params": "all others: C, D, encoder, norms, GLU, "
                                  "decoder",
                        "rule": "adamw", "lr": "lr",
                        "weight_decay": "weight_decay"},
        },
        "warmup": 1,  # pathx.sh:5
    },
}

UNAVAILABLE = {}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
