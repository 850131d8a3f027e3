"""S4 (Gu, Goel & Re, ICLR 2022): the LRA runs released with the paper (v1).

Read from state-spaces/s4 at tag `v1` (the commit in SOURCE; the README of
the current tree says these configs "are meant for the first version of the
S4 model, which is saved in a tag: `git checkout v1`",
models/s4/experiments.md:29-40 at HEAD). Hydra composes each run from
`configs/experiment/s4-lra-<name>.yaml` (cited `exp/<name>:line`, names
listops, imdb, aan, cifar, pathfinder, pathx) over the pipeline, model and
layer defaults (`pipeline/`, `model/`, `layer/` below are
`configs/pipeline/`, `configs/model/`, `configs/model/layer/`; `dataset/`,
`optimizer/`, `scheduler/`, `trainer/`, `loader/` likewise under
`configs/`). Code paths are relative to the repository root.
"""

SOURCE = {
    "state-spaces/s4": {
        "commit": "cfb6a06c3b3b61d97096d0154d5b6208e54a0f2d",
        "ref": "v1",
        "paths": (
            "configs/experiment/s4-lra-listops.yaml",
            "configs/experiment/s4-lra-imdb.yaml",
            "configs/experiment/s4-lra-aan.yaml",
            "configs/experiment/s4-lra-cifar.yaml",
            "configs/experiment/s4-lra-pathfinder.yaml",
            "configs/experiment/s4-lra-pathx.yaml",
            "configs/model/s4.yaml", "configs/model/layer/s4.yaml",
            "configs/pipeline/imdb.yaml", "configs/pipeline/listops.yaml",
            "configs/pipeline/aan.yaml", "configs/pipeline/cifar.yaml",
            "configs/pipeline/pathfinder.yaml", "configs/pipeline/pathx.yaml",
            "configs/dataset/listops.yaml", "configs/dataset/imdb.yaml",
            "configs/dataset/aan.yaml", "configs/dataset/pathfinder.yaml",
            "configs/optimizer/adamw.yaml", "configs/scheduler/plateau.yaml",
            "configs/trainer/default.yaml", "configs/loader/torch.yaml",
            "configs/config.yaml", "configs/callbacks/checkpoint.yaml",
            "train.py", "src/models/sequence/ss/s4.py",
            "src/models/sequence/ss/kernel.py", "src/models/hippo/hippo.py",
            "src/models/sequence/model.py", "src/models/sequence/block.py",
            "src/models/nn/components.py", "src/models/nn/residual.py",
            "src/tasks/decoders.py", "src/tasks/encoders.py",
            "src/dataloaders/datasets.py",
        ),
    },
}

PAPER = {
    "title": "Efficiently Modeling Long Sequences with Structured State Spaces",
    "arxiv": "2111.00396",
    # The v1 README quotes no LRA accuracies and the paper's table could not
    # be retrieved with the tools of this session: reported_test_acc is None.
    "results_source": None,
}

COMMON = {
    "code_version": "tag v1 (commit cfb6a06, tag object c6be830)",  # git tag
    # train.py:382-388 logs val and test every epoch; the checkpoint keeps
    # the best val/accuracy (callbacks/checkpoint.yaml:3-5); the paper's
    # selection rule is not in the code.
    "model_selection": None,
    "reported_test_acc": None,  # see PAPER["results_source"]
    "seed": 1112,  # exp/<name>: train.seed, every file
    "padding": "to the batch maximum",  # src/dataloaders/datasets.py:733
    "state_size": 64,  # layer/s4.yaml:2 (N; N/2 complex modes)
    "ssm_kernel": "nplr",  # src/models/sequence/ss/s4.py:59
    "ssm_init": "hippo_legs, rank 1",  # layer/s4.yaml:3-4
    # The kernel is evaluated at bilinear-transformed FFT nodes,
    # src/models/sequence/ss/kernel.py:123-131.
    "discretization": "bilinear",
    "dt_min": 0.001,  # layer/s4.yaml:5
    "dt_max": 0.1,  # layer/s4.yaml:6
    "dt_transform": "exp",  # src/models/sequence/ss/kernel.py:586-588
    # src/models/sequence/ss/kernel.py:607
    "c_init": "complex normal, (H, N/2)",
    # src/models/hippo/hippo.py:118
    "b_init": "HiPPO-LegS B in the eigenbasis, V^* B",
    # src/models/hippo/hippo.py:98-122: nplr() has no clip at v1 (B_clip
    # first appears in tag v4.0.0).
    "b_clip": None,
    "trainable_b": True,  # layer/s4.yaml:9 (B: 2)
    # layer/s4.yaml:7-11 + kernel.py:63-74,188-189: A (w) trainable=1 is one
    # tensor shared by all H channels; B (with P) trainable=2 is repeated
    # per channel; C (with Q) and dt are per channel.
    "n_ssm": "A shared by all H; B, P, C, Q, dt per channel",
    "bidirectional": False,  # src/models/sequence/ss/s4.py:30-61 (no option)
    # src/models/sequence/ss/s4.py:90
    "d_feedthrough": "D ~ N(0, 1), per feature",
    "bn_momentum": 0.9,  # src/models/nn/components.py:161-165 (torch 0.1)
    # src/models/nn/components.py:171-180
    "bn_statistics": "batch x time, padding included",
    "padding_masked_in_layers": False,  # src/tasks/decoders.py:91-97 only
    # src/models/sequence/ss/s4.py:124,129-137,190-194 + layer/s4.yaml:19-20:
    # y = Linear(dropout(gelu(K * u + D u))), no GLU.
    "glu": "gelu_linear",
    "dropout_tied": True,  # model/s4.yaml:6 + s4.py:125 (Dropout2d on B,H,L)
    # s4.py:190 (after GELU) and block.py:62-63,95 (residual branch).
    "dropout_sites": ("after_gelu", "residual_branch"),
    # model/s4.yaml:9 + src/models/nn/residual.py:6-24
    "residual": "x + dropout(branch)",
    "token_encoder": "embedding",  # pipeline/imdb.yaml:14
    # src/tasks/encoders.py:194
    "encoder_init": "torch nn.Embedding default N(0, 1)",
    "head": "linear",  # src/tasks/decoders.py:33
    "optimizer": "adamw",  # optimizer/adamw.yaml:2
    "b1": 0.9,  # torch AdamW default
    "b2": 0.999,  # torch AdamW default
    "eps": 1e-8,  # torch AdamW default
    "weight_decay": 0.0,  # optimizer/adamw.yaml:4 (default)
    "ssm_lr": 0.001,  # layer/s4.yaml:12-16 (fixed, not tied to lr)
    "ssm_weight_decay": 0.0,  # src/models/sequence/ss/kernel.py:187-189
    # train.py:313-344 + kernel.py:63-84,187-190: params with an `_optim`
    # attribute get their own AdamW group with the global settings overridden
    # by it; everything else is the main group.
    "param_groups": {
        "main": {"params": "all without _optim: C (with Q), D, "
                           "output_linear, encoder, decoder, norms, biases",
                 "rule": "adamw", "lr": "lr", "weight_decay": "weight_decay"},
        "ssm": {"params": ("log_dt", "w (A)", "B (with P)"),
                "rule": "adamw", "lr": 0.001, "weight_decay": 0.0},
    },
    "grad_clip": None,  # trainer/default.yaml:7 gradient_clip_val 0.0
    # pipeline/imdb.yaml:8,11 + scheduler/plateau.yaml:5-11: decay every
    # group's lr (SSM group included) on val/accuracy plateaus, per epoch.
    "schedule": "plateau_on_val_accuracy",
    "warmup": 0,  # no warmup scheduler in the composition
    "warmup_unit": "steps",  # (no warmup)
    "min_lr": 0.0,  # scheduler/plateau.yaml:11
    "plateau_factor": 0.2,  # scheduler/plateau.yaml:9
    "drop_last": True,  # loader/torch.yaml:4
}

PER_TASK = {
    "listops": {
        "config_file": "configs/experiment/s4-lra-listops.yaml",  # README.md:99
        "seq_len": 2048,  # dataset/listops.yaml:2
        "encoder_vocab": 18,  # dataset/listops.yaml:6 ("Actual size 18")
        "num_layers": 6,  # exp/listops:8
        "width": 128,  # exp/listops:9
        "prenorm": False,  # exp/listops:10
        "final_norm": False,  # src/models/sequence/model.py:76-84
        "norm": "batch",  # exp/listops:11
        "dropout": 0.0,  # exp/listops:7
        "pooling": "masked_mean",  # exp/listops:14 + pipeline/imdb.yaml:18
        "use_lengths": True,  # pipeline/imdb.yaml:18
        "batch_size": 50,  # exp/listops:17
        "lr": 0.01,  # exp/listops:20
        "weight_decay": 0.01,  # exp/listops:21
        "plateau_patience": 5,  # exp/listops:24
        "epochs": 50,  # exp/listops:27
    },
    "text": {
        "config_file": "configs/experiment/s4-lra-imdb.yaml",  # README.md:100
        "seq_len": 2048,  # exp/imdb:14
        # dataset/imdb.yaml:14,20: char level, min_freq 15 (~135 tokens);
        # the exact size is len(vocab) of the train split.
        "encoder_vocab": None,
        "num_layers": 4,  # exp/imdb:8
        "width": 128,  # exp/imdb:9
        "prenorm": True,  # exp/imdb:10
        "final_norm": True,  # src/models/sequence/model.py:76-84
        "norm": "batch",  # exp/imdb:11
        "dropout": 0.0,  # exp/imdb:7
        # pipeline/imdb.yaml:15-18 (not overridden): the last unpadded token
        # (src/tasks/decoders.py:68-69,91-97).
        "pooling": "last_valid",
        "use_lengths": True,  # pipeline/imdb.yaml:18
        # dataset/imdb.yaml:16 val_split 0.0: the test set doubles as the
        # validation set (src/dataloaders/datasets.py:718-720).
        "model_selection": None,
        "batch_size": 50,  # exp/imdb:18
        "lr": 0.01,  # exp/imdb:21
        "plateau_patience": 10,  # exp/imdb:24
        "epochs": 40,  # exp/imdb:27
    },
    "retrieval": {
        "config_file": "configs/experiment/s4-lra-aan.yaml",  # README.md:102
        "seq_len": 4000,  # dataset/aan.yaml:5
        # dataset/aan.yaml:6 says "Full size 98"; the exact size is
        # len(vocab) of the train split.
        "encoder_vocab": None,
        "num_layers": 6,  # exp/aan:8
        "width": 256,  # exp/aan:10
        "prenorm": True,  # exp/aan:9
        "final_norm": True,  # src/models/sequence/model.py:76-84
        "norm": "batch",  # exp/aan:11
        "dropout": 0.0,  # exp/aan:7
        "pooling": "masked_mean",  # pipeline/aan.yaml:8-10
        "use_lengths": True,  # pipeline/aan.yaml:10
        # pipeline/aan.yaml:11-13 + src/tasks/decoders.py:129-134,150-151.
        "head": "[u, v, u-v, u*v] -> linear(H) -> gelu -> linear",
        "batch_size": 64,  # exp/aan:14
        "lr": 0.002,  # exp/aan:17
        "plateau_patience": 20,  # exp/aan:20
        "epochs": 25,  # exp/aan:23
    },
    "image": {
        "config_file": "configs/experiment/s4-lra-cifar.yaml",  # README.md:101
        "seq_len": 1024,  # 32 x 32 pixels
        # exp/cifar:14 grayscale + src/dataloaders/datasets.py:316-337.
        "input_scaling": "grayscale, (x - 122.6/255) / (61/255)",
        "token_encoder": "dense",  # pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # pipeline/cifar.yaml:14
        "num_layers": 6,  # exp/cifar:8
        "width": 512,  # exp/cifar:9
        "prenorm": False,  # exp/cifar:10
        "final_norm": False,  # src/models/sequence/model.py:76-84
        "norm": "batch",  # exp/cifar:11
        "dropout": 0.2,  # exp/cifar:7
        "pooling": "mean",  # pipeline/cifar.yaml:16-18
        "use_lengths": False,  # pipeline/cifar.yaml:16-18
        "batch_size": 50,  # exp/cifar:17
        "lr": 0.004,  # exp/cifar:20
        "weight_decay": 0.01,  # exp/cifar:21
        "plateau_patience": 10,  # exp/cifar:24
        "epochs": 100,  # exp/cifar:27
    },
    "pathfinder": {
        # README.md:103
        "config_file": "configs/experiment/s4-lra-pathfinder.yaml",
        "seq_len": 1024,  # dataset/pathfinder.yaml:4,15
        # src/dataloaders/datasets.py:1097-1112.
        "input_scaling": "[0, 1] then (x - 0.5) / 0.5",
        "token_encoder": "dense",  # pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # pipeline/cifar.yaml:14
        "num_layers": 6,  # exp/pathfinder:8
        "width": 256,  # exp/pathfinder:10
        "prenorm": True,  # exp/pathfinder:9
        "final_norm": True,  # src/models/sequence/model.py:76-84
        "norm": "batch",  # exp/pathfinder:11
        "dropout": 0.1,  # exp/pathfinder:7
        "pooling": "last",  # exp/pathfinder:14
        "use_lengths": False,  # pipeline/cifar.yaml:16-18
        "batch_size": 100,  # exp/pathfinder:17
        "lr": 0.004,  # exp/pathfinder:20
        "plateau_patience": 10,  # exp/pathfinder:23
        "epochs": 200,  # exp/pathfinder:26
    },
    "pathx": {
        "config_file": "configs/experiment/s4-lra-pathx.yaml",  # README.md:104
        "seq_len": 16384,  # pipeline/pathx.yaml:7 (128 x 128)
        # src/dataloaders/datasets.py:1097-1112.
        "input_scaling": "[0, 1] then (x - 0.5) / 0.5",
        "token_encoder": "dense",  # pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # pipeline/cifar.yaml:14
        "num_layers": 6,  # exp/pathx:8
        "width": 256,  # exp/pathx:10
        "prenorm": True,  # exp/pathx:9
        "final_norm": True,  # src/models/sequence/model.py:76-84
        "norm": "batch",  # exp/pathx:11
        "dropout": 0.0,  # exp/pathx:7
        "dt_min": 0.001,  # layer/s4.yaml:5 (exp/pathx does not override)
        "pooling": "mean",  # pipeline/cifar.yaml:16-18
        "use_lengths": False,  # pipeline/cifar.yaml:16-18
        "batch_size": 32,  # exp/pathx:14
        "lr": 0.0005,  # exp/pathx:17
        "plateau_patience": 40,  # exp/pathx:20
        "epochs": 100,  # exp/pathx:23
    },
}

UNAVAILABLE = {}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
