"""SpikingSSM (Shen, Wang et al., AAAI 2025): the released LRA runs.

Read from shenshuaijie/SDN at the commit in SOURCE. The repository is an
add-on to state-spaces/s4: "Clone and setup S4 ... cp -r /path/to/this/repo/
src ./src ... models ... configs" (readme.md:118-130), so the training loop,
pipelines, optimiser hooks and the `SSMKernelDiag` used with trainable B are
S4's; S4's newest commit (SOURCE, 2024-02-21) predates SDN's first commit
(8f4083a, 2025-02-09), and the LRA configs are unchanged since then.

Citations: `exp/<name>:line` is SDN `configs/experiment/spikingssm/
<name>.yaml` (names listops, imdb, aan, cifar, pathfinder, pathx); other
plain paths are SDN files; `S4:` prefixes a state-spaces/s4 path (its
`configs/pipeline/`, `configs/dataset/`, ... as in `s4d.py`).
"""

SOURCE = {
    "shenshuaijie/SDN": {
        "commit": "709640e53796a1546f2636cd6c4e1a1193e81418",
        "ref": "main",
        "paths": (
            "configs/experiment/spikingssm/listops.yaml",
            "configs/experiment/spikingssm/imdb.yaml",
            "configs/experiment/spikingssm/aan.yaml",
            "configs/experiment/spikingssm/cifar.yaml",
            "configs/experiment/spikingssm/pathfinder.yaml",
            "configs/experiment/spikingssm/pathx.yaml",
            "models/spike/ss4d.py", "src/models/spike/neuron.py",
            "src/models/spike/surrogate.py", "src/utils/registry.py",
            "src/models/spike/mem_pred_d8k8_c3(relu(c2(c1(x))+c1(x)))_125.pkl",
            "model.py", "train.py", "generate.py", "readme.md",
        ),
    },
    "state-spaces/s4": {
        "commit": "e757cef57d89e448c413de7325ed5601aceaac13",
        "ref": "main",
        "paths": (
            "train.py", "configs/config.yaml", "configs/pipeline/imdb.yaml",
            "configs/pipeline/aan.yaml", "configs/pipeline/cifar.yaml",
            "configs/pipeline/pathx.yaml", "configs/dataset/listops.yaml",
            "configs/dataset/pathfinder.yaml",
            "configs/scheduler/cosine_warmup.yaml",
            "configs/optimizer/adamw.yaml", "configs/trainer/default.yaml",
            "configs/loader/default.yaml", "src/utils/optim_groups.py",
            "src/utils/config.py", "src/models/sequence/kernels/kernel.py",
            "src/models/sequence/kernels/ssm.py",
            "src/models/sequence/kernels/dplr.py",
            "src/models/nn/dropout.py", "src/tasks/encoders.py",
            "src/tasks/decoders.py",
        ),
    },
}

PAPER = {
    "title": ("SpikingSSMs: Learning Long Sequences with Sparse and Parallel "
              "Spiking State Space Models"),
    "arxiv": "2408.14909",
    # readme.md quotes no accuracies and the paper's LRA table could not be
    # retrieved with the tools of this session.
    "results_source": None,
}

COMMON = {
    # readme.md:118-130
    "code_version": "SDN main @ 709640e on S4 main @ e757cef",
    "model_selection": None,  # not in the code
    "reported_test_acc": None,  # see PAPER["results_source"]
    "padding": "to the batch maximum",  # S4:src/dataloaders/lra.py:84,279,581
    "ssm_kernel": "diag",  # models/spike/ss4d.py:100-103
    # models/spike/ss4d.py:29-31 and S4:src/models/sequence/kernels/dplr.py:
    # 50-70 (diag-lin, ss4d.py:101).
    "ssm_init": "S4D-Lin: A = -0.5 + i pi n",
    # models/spike/ss4d.py:45-48 and S4:.../kernels/ssm.py:456.
    "discretization": "zoh",
    "dt_transform": "exp",  # models/spike/ss4d.py:40; S4:.../kernels/ssm.py:217
    "c_init": "complex normal, (channels, H, N/2)",  # models/spike/ss4d.py:25
    "b_clip": None,  # S4:src/models/sequence/kernels/dplr.py:100-101 (ones)
    "n_ssm": None,  # per channel: ss4d.py:29-31; S4:.../kernels/ssm.py:237
    "bidirectional": True,  # exp/<name>: layer.bidirectional, every file
    # models/spike/ss4d.py:97-98,128-138: channels x2, the second kernel
    # flipped into a two-sided convolution of length 2L; its lag-0 tap lands
    # one step ahead (as S4's FFTConv).
    "bidirectional_form": "two-sided kernel, reverse branch offset by one",
    "d_feedthrough": "D ~ N(0, 1), per feature",  # models/spike/ss4d.py:89,141
    "final_norm": False,  # models/spike/ss4d.py:189-218
    "bn_momentum": 0.9,  # models/spike/ss4d.py:184 (torch default 0.1)
    # models/spike/ss4d.py:184,201
    "bn_statistics": "batch x time, padding included",
    # models/spike/ss4d.py:189 (ignores lengths)
    "padding_masked_in_layers": False,
    # models/spike/ss4d.py:115-118,148-149: y = GLU(Conv1x1_{H->2H}(
    # dropout(spikes))), no GELU.
    "glu": "spike_full_glu",
    "dropout_tied": True,  # S4:src/models/nn/dropout.py:67 (tie=True)
    # models/spike/ss4d.py:148 (after the soma) and :207 (after the layer).
    "dropout_sites": ("after_spikes", "residual_branch"),
    "residual": "x + dropout(layer(norm(x)))",  # models/spike/ss4d.py:198-210
    "token_encoder": "embedding",  # S4:configs/pipeline/imdb.yaml:14
    # S4:src/tasks/encoders.py:417
    "encoder_init": "torch nn.Embedding default N(0, 1)",
    "head": "linear",  # S4:src/tasks/decoders.py:43
    "neuron": "sdn",  # models/spike/ss4d.py:70,105
    # src/models/spike/neuron.py:15-18: no evaluation-time switch; the
    # model's forward is the same in train and eval.
    "eval_neuron": "sdn",
    # neuron.py:7 (checkpoint "..._125"), :28 (BPTT neuron); generate.py's
    # default and the readme's example data use 0.2 (generate.py:101,
    # readme.md:87-88).
    "tau": 0.125,
    "threshold_init": 1.0,  # models/spike/ss4d.py:91-95 (ln_vth = 0)
    # models/spike/ss4d.py:91-95,145-146; exp/<name>: shared_vth false.
    "threshold_param": "per channel: input / exp(ln_vth), fire at 1",
    # generate.py:39-44; src/models/spike/neuron.py:40-42
    "reset": "hard, to 0",
    # src/models/spike/surrogate.py:4-17 (named piecewise_quadratic).
    "surrogate": "triangular: d/dx = max(0, 1 - |x|), spike x >= 0",
    # model.py:41-80 (trained); the shipped TorchScript file holds the fused
    # form conv1 (1->8, k=8, pad 8) -> slice [:L] -> relu -> relu(conv2(x)
    # + x) -> conv3 (8->1), batch norm folded in.
    "sdn_topology": "conv1x1(1->8) -> dwconv(k=8)+BN -> relu -> "
                    "relu(BN(conv1x1(8->8)) + x) -> conv1x1(8->1)",
    "sdn_taps": "t-8 .. t-1 (current input excluded)",  # model.py:53-55,75-78
    "sdn_hidden": 8,  # model.py:44; train.py:26
    "sdn_batch_norm": True,  # model.py:8-26 (folded in the shipped file)
    "sdn_residual": "around the 1x1 layer",  # model.py:79
    # train.py:17-27,62-80,113-115; generate.py:52-101: the SDN regresses
    # the leaked membrane tau * u_{t-1} from the currents.
    "sdn_training": "50000 x 1024 N(0,1) currents; SmoothL1; AdamW lr "
                    "0.01 wd 0.01; cosine; 100 epochs; batch 64",
    "optimizer": "adamw",  # S4:configs/optimizer/adamw.yaml:2
    "b1": 0.9,  # S4:configs/optimizer/adamw.yaml:5
    "b2": 0.999,  # S4:configs/optimizer/adamw.yaml:5
    "eps": 1e-8,  # torch AdamW default
    "ssm_lr": 0.001,  # exp/<name>: layer.lr; models/spike/ss4d.py:21
    # models/spike/ss4d.py:60; S4:.../kernel.py:111-122
    "ssm_weight_decay": 0.0,
    "grad_clip": None,  # S4:configs/trainer/default.yaml:9
    "schedule": "cosine_warmup",  # exp/<name>: override /scheduler
    "warmup_unit": "steps",  # exp/<name>: scheduler.num_warmup_steps
    "min_lr": 0.0,  # transformers cosine schedule ends at 0
    "drop_last": True,  # S4:configs/loader/default.yaml:4
}

# S4:train.py:456-493, S4:src/utils/optim_groups.py:12-38 and S4:configs/
# config.yaml:42-44 (biases and norms of the backbone without decay) with
# models/spike/ss4d.py:15-63 (trainable_B false: S4DKernel registers dt and
# A at min(lr, 1e-3) without decay; C is a plain parameter).
_GROUPS_FIXED_B = {
    "main": {"params": "C, D, ln_vth, output_linear weight, encoder, "
                       "decoder (incl. bias)",
             "rule": "adamw", "lr": "lr", "weight_decay": "weight_decay"},
    "no_decay": {"params": "output_linear bias, batch/layer-norm parameters",
                 "rule": "adamw", "lr": "lr", "weight_decay": 0.0},
    "ssm": {"params": ("log_dt", "log_A_real", "A_imag"), "rule": "adamw",
            "lr": 0.001, "weight_decay": 0.0},
}
# Same hooks with S4's SSMKernelDiag (trainable_B true): a float lr reaches
# every registered tensor, C included, and C keeps the global weight decay
# (S4:src/models/sequence/kernels/kernel.py:82-87,111-122; ssm.py:523-534).
_GROUPS_TRAINABLE_B = {
    "main": {"params": "D, ln_vth, output_linear weight, encoder, decoder",
             "rule": "adamw", "lr": "lr", "weight_decay": "weight_decay"},
    "no_decay": {"params": "output_linear bias, batch/layer-norm parameters",
                 "rule": "adamw", "lr": "lr", "weight_decay": 0.0},
    "ssm": {"params": ("inv_dt", "A_real", "A_imag", "B"), "rule": "adamw",
            "lr": 0.001, "weight_decay": 0.0},
    "c": {"params": ("C",), "rule": "adamw", "lr": 0.001,
          "weight_decay": "weight_decay"},
}

PER_TASK = {
    "listops": {
        # readme.md:132-135 (run pattern)
        "config_file": "configs/experiment/spikingssm/listops.yaml",
        "seed": 1234,  # exp/listops:42
        "seq_len": 2048,  # S4:configs/dataset/listops.yaml:2
        "encoder_vocab": 18,  # S4:configs/dataset/listops.yaml:6
        "num_layers": 6,  # exp/listops:10
        "width": 256,  # exp/listops:11
        "state_size": 4,  # exp/listops:15
        # exp/listops:12-13; the post-norm result is discarded,
        # models/spike/ss4d.py:212-214 (README: quirks).
        "norm": "batch",
        "prenorm": False,  # exp/listops:12
        "dt_min": 0.001,  # exp/listops:17
        "dt_max": 0.1,  # exp/listops:18
        "trainable_b": True,  # exp/listops:22
        "b_init": "ones (diag-lin, B_init constant)",  # S4:.../dplr.py:100-101
        "dropout": 0.0,  # exp/listops:8
        # exp/listops:24-25 + S4 pipeline/imdb.yaml:18
        "pooling": "masked_mean",
        "use_lengths": True,  # S4:configs/pipeline/imdb.yaml:18
        "batch_size": 32,  # exp/listops:28
        "lr": 0.01,  # exp/listops:31
        "weight_decay": 0.01,  # exp/listops:32
        "param_groups": _GROUPS_TRAINABLE_B,  # exp/listops:16,22
        "warmup": 12000,  # exp/listops:36 (10% of schedule_steps)
        "schedule_steps": 120000,  # exp/listops:35
        "epochs": 40,  # exp/listops:39
    },
    "text": {
        # No model._name_ (README: quirks)
        "config_file": "configs/experiment/spikingssm/imdb.yaml",
        "seed": 3333,  # exp/imdb:44
        "seq_len": 4096,  # exp/imdb:26
        # S4:configs/dataset/imdb.yaml:14,20: char level, min_freq 15.
        "encoder_vocab": None,
        "num_layers": 6,  # exp/imdb:11
        "width": 256,  # exp/imdb:12
        "state_size": 4,  # exp/imdb:16
        "norm": "batch",  # exp/imdb:14
        "prenorm": True,  # exp/imdb:13
        "dt_min": 0.001,  # exp/imdb:18
        "dt_max": 0.1,  # exp/imdb:19
        "trainable_b": True,  # exp/imdb:23
        "b_init": "ones (diag-lin, B_init constant)",  # S4:.../dplr.py:100-101
        "dropout": 0.0,  # exp/imdb:10
        "pooling": "masked_mean",  # exp/imdb:6-7 + S4 pipeline/imdb.yaml:18
        "use_lengths": True,  # S4:configs/pipeline/imdb.yaml:18
        "batch_size": 16,  # exp/imdb:30
        "lr": 0.01,  # exp/imdb:33
        "weight_decay": 0.05,  # exp/imdb:34
        "param_groups": _GROUPS_TRAINABLE_B,  # exp/imdb:17,23
        "warmup": 5000,  # exp/imdb:38 (10% of schedule_steps)
        "schedule_steps": 50000,  # exp/imdb:37
        "epochs": 32,  # exp/imdb:41
    },
    "retrieval": {
        # readme.md:132-135
        "config_file": "configs/experiment/spikingssm/aan.yaml",
        "seed": 3333,  # exp/aan:41
        "seq_len": 4000,  # S4:configs/dataset/aan.yaml:5
        "encoder_vocab": None,  # S4:configs/dataset/aan.yaml:6 (~98)
        "num_layers": 6,  # exp/aan:12
        "width": 256,  # exp/aan:13
        "state_size": 64,  # exp/aan:17
        "norm": "batch",  # exp/aan:15
        "prenorm": True,  # exp/aan:14
        "dt_min": 0.001,  # exp/aan:19
        "dt_max": 0.1,  # exp/aan:20
        "trainable_b": False,  # exp/aan:24
        "b_init": "fixed 1 (no B parameter)",  # models/spike/ss4d.py:45-48
        "dropout": 0.0,  # exp/aan:11
        "pooling": "masked_mean",  # exp/aan:6-7 + S4 pipeline/aan.yaml:10
        "use_lengths": True,  # S4:configs/pipeline/aan.yaml:10
        # S4:configs/pipeline/aan.yaml:11-13 + S4:src/tasks/decoders.py:
        # 178-216.
        "head": "[u, v, u-v, u*v] -> linear(H) -> gelu -> linear",
        "batch_size": 64,  # exp/aan:27
        "lr": 0.01,  # exp/aan:30
        "weight_decay": 0.01,  # exp/aan:31
        "param_groups": _GROUPS_FIXED_B,  # exp/aan:18,24
        "warmup": 5000,  # exp/aan:35 (10% of schedule_steps)
        "schedule_steps": 50000,  # exp/aan:34
        "epochs": 20,  # exp/aan:38
    },
    "image": {
        # readme.md:134
        "config_file": "configs/experiment/spikingssm/cifar.yaml",
        "seed": 2222,  # exp/cifar:42
        "seq_len": 1024,  # 32 x 32 pixels
        # exp/cifar:25 + S4:src/dataloaders/basic.py:83-117.
        "input_scaling": "grayscale, (x - 122.6/255) / (61/255)",
        "token_encoder": "dense",  # S4:configs/pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        # S4:src/tasks/encoders.py:418
        "encoder_init": "torch nn.Linear default",
        "num_layers": 6,  # exp/cifar:10
        "width": 512,  # exp/cifar:11
        "state_size": 64,  # exp/cifar:15
        # exp/cifar:12-13; the post-norm result is discarded,
        # models/spike/ss4d.py:212-214 (README: quirks).
        "norm": "layer",
        "prenorm": False,  # exp/cifar:12
        "dt_min": 0.001,  # exp/cifar:19
        "dt_max": 0.1,  # exp/cifar:20
        "trainable_b": False,  # exp/cifar:22
        "b_init": "fixed 1 (no B parameter)",  # models/spike/ss4d.py:45-48
        "dropout": 0.1,  # exp/cifar:8
        "pooling": "mean",  # S4:configs/pipeline/cifar.yaml:16-18
        "use_lengths": False,  # S4:configs/pipeline/cifar.yaml:16-18
        "batch_size": 50,  # exp/cifar:28
        "lr": 0.01,  # exp/cifar:31
        "weight_decay": 0.01,  # exp/cifar:32
        "param_groups": _GROUPS_FIXED_B,  # exp/cifar:18,22
        "warmup": 18000,  # exp/cifar:39 (10% of schedule_steps)
        "schedule_steps": 180000,  # exp/cifar:38
        "epochs": 200,  # exp/cifar:35
    },
    "pathfinder": {
        # readme.md:132-135 (run pattern)
        "config_file": "configs/experiment/spikingssm/pathfinder.yaml",
        "seed": 3333,  # exp/pathfinder:41
        "seq_len": 1024,  # S4:configs/dataset/pathfinder.yaml:4,16
        # S4:configs/dataset/pathfinder.yaml:7
        "input_scaling": "[0, 1] (center: False)",
        "token_encoder": "dense",  # S4:configs/pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        # S4:src/tasks/encoders.py:418
        "encoder_init": "torch nn.Linear default",
        "num_layers": 6,  # exp/pathfinder:13
        "width": 256,  # exp/pathfinder:15
        "state_size": 64,  # exp/pathfinder:18
        "norm": "batch",  # exp/pathfinder:16
        "prenorm": True,  # exp/pathfinder:14
        "dt_min": 0.001,  # exp/pathfinder:20
        "dt_max": 0.1,  # exp/pathfinder:21
        "trainable_b": False,  # exp/pathfinder:25
        "b_init": "fixed 1 (no B parameter)",  # models/spike/ss4d.py:45-48
        "dropout": 0.0,  # exp/pathfinder:12
        "pooling": "mean",  # exp/pathfinder:27-28 (no lengths)
        "use_lengths": False,  # S4:configs/pipeline/cifar.yaml:16-18
        "batch_size": 64,  # exp/pathfinder:31
        "lr": 0.004,  # exp/pathfinder:34
        "weight_decay": 0.01,  # exp/pathfinder:35
        "param_groups": _GROUPS_FIXED_B,  # exp/pathfinder:19,25
        "warmup": 50000,  # exp/pathfinder:8 (10% of schedule_steps)
        "schedule_steps": 500000,  # exp/pathfinder:7
        "epochs": 200,  # exp/pathfinder:38
    },
    "pathx": {
        # readme.md:132-135
        "config_file": "configs/experiment/spikingssm/pathx.yaml",
        "seed": 3333,  # exp/pathx:38
        "seq_len": 16384,  # S4:configs/pipeline/pathx.yaml:7
        # S4:configs/dataset/pathfinder.yaml:7
        "input_scaling": "[0, 1] (center: False)",
        "token_encoder": "dense",  # S4:configs/pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        # S4:src/tasks/encoders.py:418
        "encoder_init": "torch nn.Linear default",
        "num_layers": 6,  # exp/pathx:13
        "width": 256,  # exp/pathx:15
        "state_size": 64,  # exp/pathx:18
        "norm": "batch",  # exp/pathx:16
        "prenorm": True,  # exp/pathx:14
        "dt_min": 0.0001,  # exp/pathx:20
        "dt_max": 0.1,  # exp/pathx:21
        "trainable_b": True,  # exp/pathx:25
        "b_init": "ones (diag-lin, B_init constant)",  # S4:.../dplr.py:100-101
        "dropout": 0.0,  # exp/pathx:12
        "pooling": "mean",  # S4:configs/pipeline/cifar.yaml:16-18
        "use_lengths": False,  # S4:configs/pipeline/cifar.yaml:16-18
        "batch_size": 16,  # exp/pathx:28
        "lr": 0.001,  # exp/pathx:31
        "weight_decay": 0.01,  # exp/pathx:32
        "param_groups": _GROUPS_TRAINABLE_B,  # exp/pathx:19,25
        "warmup": 50000,  # exp/pathx:8 (10% of schedule_steps)
        "schedule_steps": 500000,  # exp/pathx:7
        "epochs": 50,  # exp/pathx:35
    },
}

UNAVAILABLE = {}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
