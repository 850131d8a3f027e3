"""S4D (Gu, Gupta, Goel & Re, NeurIPS 2022): the v3 LRA runs.

Read from state-spaces/s4 at the commit in SOURCE (main, v4 code). The runs
are `configs/experiment/lra/old/v3-s4-<name>.yaml` (cited `v3/<name>:line`,
names listops, imdb, aan, cifar, pathfinder, pathx): the v3.0.0 files
`configs/experiment/lra/s4-lra-*.yaml` renamed for the v4 keys (commit
62a14bb "Update LRA configs"), with the changes recorded in `ALTERNATIVES`.
Each composes over `configs/model/s4.yaml` (`model/s4.yaml`), whose layer is
`configs/model/layer/s4.yaml` (`layer/s4.yaml`) with `mode: nplr`, i.e. S4.
S4D is the same recipe with the diagonal kernel: "S4D is activated by the
argument `mode=diag` ... The default initialization (`init=legs`) ...
corresponds to the S4D-LegS method" (models/s4/README.md:50-54). This table
is that S4D-LegS run; `init=diag-inv` / `diag-lin` give S4D-Inv / S4D-Lin.
Other config directories are cited as `pipeline/`, `dataset/`, `scheduler/`,
`optimizer/`, `trainer/`, `loader/` under `configs/`.
"""

SOURCE = {
    "state-spaces/s4": {
        "commit": "e757cef57d89e448c413de7325ed5601aceaac13",
        "ref": "main",
        "paths": (
            "configs/experiment/lra/old/v3-s4-listops.yaml",
            "configs/experiment/lra/old/v3-s4-imdb.yaml",
            "configs/experiment/lra/old/v3-s4-aan.yaml",
            "configs/experiment/lra/old/v3-s4-cifar.yaml",
            "configs/experiment/lra/old/v3-s4-pathfinder.yaml",
            "configs/experiment/lra/old/v3-s4-pathx.yaml",
            "configs/model/s4.yaml", "configs/model/base.yaml",
            "configs/model/layer/s4.yaml", "configs/model/layer/s4d.yaml",
            "configs/pipeline/imdb.yaml", "configs/pipeline/aan.yaml",
            "configs/pipeline/cifar.yaml", "configs/pipeline/pathx.yaml",
            "configs/dataset/listops.yaml", "configs/dataset/imdb.yaml",
            "configs/dataset/aan.yaml", "configs/dataset/pathfinder.yaml",
            "configs/scheduler/cosine_warmup.yaml",
            "configs/optimizer/adamw.yaml", "configs/trainer/default.yaml",
            "configs/loader/default.yaml", "configs/config.yaml",
            "models/s4/README.md", "train.py", "src/utils/optim_groups.py",
            "src/utils/registry.py",
            "src/models/sequence/kernels/kernel.py",
            "src/models/sequence/kernels/ssm.py",
            "src/models/sequence/kernels/dplr.py",
            "src/models/sequence/kernels/fftconv.py",
            "src/models/hippo/hippo.py",
            "src/models/sequence/modules/s4block.py",
            "src/models/sequence/backbones/block.py",
            "src/models/sequence/backbones/model.py",
            "src/models/nn/dropout.py", "src/models/nn/normalization.py",
            "src/tasks/decoders.py", "src/tasks/encoders.py",
            "src/dataloaders/lra.py", "src/dataloaders/basic.py",
        ),
    },
}

PAPER = {
    "title": ("On the Parameterization and Initialization of Diagonal State "
              "Space Models"),
    "arxiv": "2206.11893",
    # The repository quotes no S4D LRA accuracies and the paper's table could
    # not be retrieved with the tools of this session.
    "results_source": None,
}

COMMON = {
    # The v3-s4 files use v4 key names (init, final_act), so they run with
    # the v4 code at this commit; see ALTERNATIVES for v3.0.0.
    "code_version": "main @ e757cef (v4 code)",
    "model_selection": None,  # not in the code; see README
    "reported_test_acc": None,  # see PAPER["results_source"]
    "seed": 2222,  # v3/<name>: train.seed, every file
    "padding": "to the batch maximum",  # src/dataloaders/lra.py:84,279,581
    "state_size": 64,  # v3/<name>: layer.d_state, every file
    # models/s4/README.md:52-54 (the files leave layer/s4.yaml:19 nplr).
    "ssm_kernel": "diag",
    "ssm_init": "legs (S4D-LegS)",  # v3/<name>: layer.init, every file
    "discretization": "zoh",  # src/models/sequence/kernels/ssm.py:456
    "dt_min": 0.001,  # v3/<name>: layer.dt_min (pathx overrides)
    "dt_max": 0.1,  # v3/<name>: layer.dt_max, every file
    "dt_transform": "softplus",  # layer/s4.yaml:25
    # src/models/sequence/kernels/ssm.py:182
    "c_init": "complex normal, (channels, H, N/2)",
    # src/models/sequence/kernels/dplr.py:140-161 -> hippo.nplr('legs').
    "b_init": "HiPPO-LegS B in the eigenbasis, V^* B",
    "b_clip": 2.0,  # src/models/hippo/hippo.py:203,274-275
    "trainable_b": True,  # v3/<name>: layer.lr.B 0.001 (not 0.0)
    "bidirectional": True,  # v3/<name>: layer.bidirectional, every file
    # src/models/sequence/kernels/fftconv.py:59-60,96-105: channels x2, the
    # second kernel flipped into a two-sided convolution; its lag-0 tap
    # lands one step ahead ("off-by-one in the reverse direction").
    "bidirectional_form": "two-sided kernel, reverse branch offset by one",
    # src/models/sequence/kernels/fftconv.py:57
    "d_feedthrough": "D ~ N(0, 1), per feature",
    "bn_momentum": 0.9,  # src/models/nn/normalization.py:35 (torch 0.1)
    # src/models/nn/normalization.py:8-35
    "bn_statistics": "batch x time, padding included",
    # train.py:301-302 (+ src/models/nn/utils.py:8-53) pass the batch's
    # lengths to the backbone; src/models/sequence/modules/s4block.py:151-161
    # zeroes each block's layer input there. The residual stream and the
    # batch-norm statistics still see the padded positions.
    "padding_masked_in_layers": "layer_inputs_only",
    # layer/s4.yaml:8,10 + src/models/sequence/modules/s4block.py:170-177:
    # y = GLU(Linear_{H->2H}(dropout(gelu(K * u + D u)))).
    "glu": "full_glu",
    "dropout_tied": True,  # model/s4.yaml:6 tie_dropout
    # fftconv.py:78-79,136 (untied: FFTConv gets no tie_dropout),
    # s4block.py:118-119,176 (tied), backbones/block.py:76-77,116 (tied).
    "dropout_sites": ("after_ssm_untied", "after_gelu", "residual_branch"),
    "residual": "x + dropout(branch)",  # model/base.yaml:10 residual R
    "token_encoder": "embedding",  # pipeline/imdb.yaml:14
    # src/tasks/encoders.py:417
    "encoder_init": "torch nn.Embedding default N(0, 1)",
    "head": "linear",  # src/tasks/decoders.py:43
    "optimizer": "adamw",  # optimizer/adamw.yaml:2
    "b1": 0.9,  # optimizer/adamw.yaml:5
    "b2": 0.999,  # optimizer/adamw.yaml:5
    "eps": 1e-8,  # torch AdamW default
    "ssm_weight_decay": 0.0,  # layer/s4.yaml:30 wd 0.0
    "grad_clip": None,  # trainer/default.yaml:9
    # scheduler/cosine_warmup.yaml:6 + src/utils/registry.py:17
    # (transformers.get_cosine_schedule_with_warmup): linear from 0, cosine
    # to 0 at schedule_steps, per step, for every group.
    "schedule": "cosine_warmup",
    "warmup_unit": "steps",  # scheduler/cosine_warmup.yaml:7
    "min_lr": 0.0,  # cosine to 0 (transformers schedule)
    "drop_last": True,  # loader/default.yaml:4
}

# train.py:456-493 + src/utils/optim_groups.py:12-38 + configs/config.yaml:
# 42-44: biases and norm parameters of the backbone (not of the encoder /
# decoder) get weight decay 0; kernel.py:82-94,111-122 + ssm.py:523-534:
# with a dict lr, dt / A / B are registered with their entry (None: the
# global lr) and wd 0, C keeps the global lr and weight decay; with a float
# lr every registered tensor, C included, gets that lr, and C keeps the
# global weight decay.
_GROUPS_DICT_LR = {
    "main": {"params": "C, D, output_linear weights, encoder embedding, "
                       "decoder (incl. bias)",
             "rule": "adamw", "lr": "lr", "weight_decay": "weight_decay"},
    "no_decay": {"params": "backbone biases, batch/layer-norm parameters",
                 "rule": "adamw", "lr": "lr", "weight_decay": 0.0},
    "dt": {"params": ("inv_dt",), "rule": "adamw", "lr": "lr",
           "weight_decay": 0.0},
    "ssm": {"params": ("A_real", "A_imag", "B"), "rule": "adamw",
            "lr": 0.001, "weight_decay": 0.0},
}

PER_TASK = {
    "listops": {
        # models/s4/README.md:29-40 (the v1 list); v3 files listed in SOURCE
        "config_file": "configs/experiment/lra/old/v3-s4-listops.yaml",
        "seq_len": 2048,  # dataset/listops.yaml:2
        "encoder_vocab": 18,  # dataset/listops.yaml:6 ("Actual size 18")
        "num_layers": 8,  # v3/listops:9
        "width": 128,  # v3/listops:10
        "prenorm": False,  # v3/listops:11
        "final_norm": False,  # src/models/sequence/backbones/model.py:102-110
        "norm": "batch",  # v3/listops:12
        "n_ssm": 128,  # v3/listops:24 (${..d_model})
        "dropout": 0.0,  # v3/listops:8
        "pooling": "masked_mean",  # v3/listops:26-27 + pipeline/imdb.yaml:18
        "use_lengths": True,  # pipeline/imdb.yaml:18
        "batch_size": 50,  # v3/listops:30
        "lr": 0.01,  # v3/listops:33
        "weight_decay": 0.05,  # v3/listops:34
        "ssm_lr": 0.001,  # v3/listops:17-18 (A, B)
        "param_groups": _GROUPS_DICT_LR,  # v3/listops:15-18 (dt: null)
        "warmup": 1000,  # scheduler/cosine_warmup.yaml:7 (not overridden)
        "schedule_steps": 80000,  # v3/listops:37
        "epochs": 40,  # v3/listops:41
    },
    "text": {
        "config_file": "configs/experiment/lra/old/v3-s4-imdb.yaml",  # SOURCE
        "seq_len": 4096,  # v3/imdb:30
        # dataset/imdb.yaml:14,20: char level, min_freq 15 (~135 tokens).
        "encoder_vocab": None,
        "num_layers": 6,  # v3/imdb:12
        "width": 256,  # v3/imdb:13
        "prenorm": True,  # v3/imdb:14
        "final_norm": True,  # src/models/sequence/backbones/model.py:102-110
        "norm": "batch",  # v3/imdb:15
        "n_ssm": None,  # v3/imdb:27 null: H independent copies
        "dropout": 0.0,  # v3/imdb:11
        "pooling": "masked_mean",  # v3/imdb:7-8 + pipeline/imdb.yaml:18
        "use_lengths": True,  # pipeline/imdb.yaml:18
        "batch_size": 16,  # v3/imdb:34
        "lr": 0.01,  # v3/imdb:37
        "weight_decay": 0.05,  # v3/imdb:38
        "ssm_lr": 0.001,  # v3/imdb:20-21 (A, B)
        "param_groups": _GROUPS_DICT_LR,  # v3/imdb:18-21 (dt: null)
        "warmup": 1000,  # scheduler/cosine_warmup.yaml:7 (not overridden)
        "schedule_steps": 50000,  # v3/imdb:41
        "epochs": 32,  # v3/imdb:44
    },
    "retrieval": {
        "config_file": "configs/experiment/lra/old/v3-s4-aan.yaml",  # SOURCE
        "seq_len": 4000,  # dataset/aan.yaml:5
        "encoder_vocab": None,  # dataset/aan.yaml:6 ("Full size 98")
        "num_layers": 6,  # v3/aan:13
        "width": 256,  # v3/aan:15
        "prenorm": True,  # v3/aan:14
        "final_norm": True,  # src/models/sequence/backbones/model.py:102-110
        "norm": "batch",  # v3/aan:16
        "n_ssm": 256,  # v3/aan:28
        "dropout": 0.0,  # v3/aan:12
        "pooling": "masked_mean",  # pipeline/aan.yaml:7-10
        "use_lengths": True,  # pipeline/aan.yaml:10
        # pipeline/aan.yaml:11-13 + src/tasks/decoders.py:178-216.
        "head": "[u, v, u-v, u*v] -> linear(H) -> gelu -> linear",
        "batch_size": 64,  # v3/aan:31
        "lr": 0.01,  # v3/aan:34
        "weight_decay": 0.05,  # v3/aan:35
        "ssm_lr": 0.001,  # v3/aan:21-22 (A, B)
        "param_groups": _GROUPS_DICT_LR,  # v3/aan:19-22 (dt: null)
        "warmup": 2500,  # v3/aan:9
        "schedule_steps": 50000,  # v3/aan:8
        "epochs": 20,  # v3/aan:38
    },
    "image": {
        "config_file": "configs/experiment/lra/old/v3-s4-cifar.yaml",  # SOURCE
        "seq_len": 1024,  # 32 x 32 pixels
        # v3/cifar:28 + src/dataloaders/basic.py:83-117.
        "input_scaling": "grayscale, (x - 122.6/255) / (61/255)",
        "token_encoder": "dense",  # pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # src/tasks/encoders.py:418
        "num_layers": 6,  # v3/cifar:10
        "width": 512,  # v3/cifar:11
        "prenorm": False,  # v3/cifar:12
        "final_norm": False,  # src/models/sequence/backbones/model.py:102-110
        "norm": "layer",  # v3/cifar:13
        "n_ssm": 2,  # v3/cifar:25
        "dropout": 0.1,  # v3/cifar:8
        "pooling": "mean",  # pipeline/cifar.yaml:16-18
        "use_lengths": False,  # pipeline/cifar.yaml:16-18
        "batch_size": 50,  # v3/cifar:31
        "lr": 0.01,  # v3/cifar:34
        "weight_decay": 0.05,  # v3/cifar:35
        "ssm_lr": 0.001,  # v3/cifar:18-19 (A, B)
        "param_groups": _GROUPS_DICT_LR,  # v3/cifar:16-19 (dt: null)
        "warmup": 900,  # v3/cifar:41
        "schedule_steps": 180000,  # v3/cifar:42
        "epochs": 200,  # v3/cifar:38
    },
    "pathfinder": {
        # SOURCE
        "config_file": "configs/experiment/lra/old/v3-s4-pathfinder.yaml",
        "seq_len": 1024,  # dataset/pathfinder.yaml:4,16
        "input_scaling": "[0, 1] (center: False)",  # dataset/pathfinder.yaml:7
        "token_encoder": "dense",  # pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # src/tasks/encoders.py:418
        "num_layers": 6,  # v3/pathfinder:13
        "width": 256,  # v3/pathfinder:15
        "prenorm": True,  # v3/pathfinder:14
        "final_norm": True,  # src/models/sequence/backbones/model.py:102-110
        "norm": "batch",  # v3/pathfinder:16
        "n_ssm": 256,  # v3/pathfinder:25 (${..d_model})
        "dropout": 0.0,  # v3/pathfinder:12
        "pooling": "last",  # v3/pathfinder:27-28
        "use_lengths": False,  # pipeline/cifar.yaml:16-18
        "batch_size": 64,  # v3/pathfinder:31
        "lr": 0.004,  # v3/pathfinder:34
        "weight_decay": 0.03,  # v3/pathfinder:35
        "ssm_lr": 0.001,  # v3/pathfinder:19 (float: dt, A, B and C)
        "param_groups": {  # v3/pathfinder:19 + kernel.py:82-87,111-122
            "main": {"params": "D, output_linear weights, encoder, decoder",
                     "rule": "adamw", "lr": "lr",
                     "weight_decay": "weight_decay"},
            "no_decay": {"params": "backbone biases, norm parameters",
                         "rule": "adamw", "lr": "lr", "weight_decay": 0.0},
            "ssm": {"params": ("inv_dt", "A_real", "A_imag", "B"),
                    "rule": "adamw", "lr": 0.001, "weight_decay": 0.0},
            "c": {"params": ("C",), "rule": "adamw", "lr": 0.001,
                  "weight_decay": "weight_decay"},
        },
        "warmup": 2500,  # v3/pathfinder:9
        "schedule_steps": 500000,  # v3/pathfinder:8
        "epochs": 200,  # v3/pathfinder:38
    },
    "pathx": {
        "config_file": "configs/experiment/lra/old/v3-s4-pathx.yaml",  # SOURCE
        "seq_len": 16384,  # pipeline/pathx.yaml:7 (128 x 128)
        "input_scaling": "[0, 1] (center: False)",  # dataset/pathfinder.yaml:7
        "token_encoder": "dense",  # pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # src/tasks/encoders.py:418
        "num_layers": 6,  # v3/pathx:15
        "width": 256,  # v3/pathx:17
        "prenorm": True,  # v3/pathx:16
        "final_norm": True,  # src/models/sequence/backbones/model.py:102-110
        "norm": "batch",  # v3/pathx:18
        "n_ssm": None,  # v3/pathx:27 null: H independent copies
        "dt_min": 0.0001,  # v3/pathx:22
        "dropout": 0.0,  # v3/pathx:14
        "pooling": "mean",  # pipeline/cifar.yaml:16-18
        "use_lengths": False,  # pipeline/cifar.yaml:16-18
        "batch_size": 16,  # v3/pathx:30
        "lr": 0.001,  # v3/pathx:33-34 ("The original ... use lr=5e-4")
        "weight_decay": 0.05,  # v3/pathx:35
        "ssm_lr": 0.0005,  # v3/pathx:21 (float: dt, A, B and C)
        "param_groups": {  # v3/pathx:21 + kernel.py:82-87,111-122
            "main": {"params": "D, output_linear weights, encoder, decoder",
                     "rule": "adamw", "lr": "lr",
                     "weight_decay": "weight_decay"},
            "no_decay": {"params": "backbone biases, norm parameters",
                         "rule": "adamw", "lr": "lr", "weight_decay": 0.0},
            "ssm": {"params": ("inv_dt", "A_real", "A_imag", "B"),
                    "rule": "adamw", "lr": 0.0005, "weight_decay": 0.0},
            "c": {"params": ("C",), "rule": "adamw", "lr": 0.0005,
                  "weight_decay": "weight_decay"},
        },
        "warmup": 50000,  # v3/pathx:9-11 ("original ... used 1 epoch")
        "schedule_steps": 500000,  # v3/pathx:8
        "epochs": 50,  # v3/pathx:38
    },
}

UNAVAILABLE = {}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}

# The same runs as first released, at tag v3.0.0 (commit ab287c6, the S4D
# paper's code): configs/experiment/lra/s4-lra-<name>.yaml (`v3.0.0/<name>`)
# with the v3 code. Only the values that differ from TASKS are listed.
ALTERNATIVES = {
    "v3.0.0": {
        "all": {
            "code_version": "tag v3.0.0 (ab287c6)",  # git tag
            # v3.0.0 src/models/sequence/ss/kernel.py:688 (SSKernelDiag).
            "discretization": "bilinear",
            # v3.0.0 configs/model/layer/s4.yaml has no dt_transform; the
            # kernel keeps log_dt (exp).
            "dt_transform": "exp",
            "b_clip": None,  # v3.0.0 has no B_clip anywhere (git grep)
            # v3.0.0 configs/config.yaml has no optimizer_param_grouping:
            # biases and norm parameters keep the global weight decay.
            "param_groups": "as TASKS without the no_decay group; C always "
                             "in the main group (kernel.py:199,710)",
        },
        "image": {"warmup": 1000,  # scheduler/cosine_warmup.yaml:7 (v3.0.0)
                  "schedule_steps": 200000},  # v3.0.0/cifar:41
        "pathx": {"lr": 0.0005,  # v3.0.0/pathx:31
                  "warmup": 10000,  # v3.0.0/pathx:9 ("1 epoch")
                  "seed": 1112},  # v3.0.0/pathx:38
    },
}
