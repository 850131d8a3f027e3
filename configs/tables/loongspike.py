"""LoongSpike (fractional-order spiking SSM): the released LRA runs.

Read from xinruihe389-commits/LoongSpike at the commit in SOURCE. The
repository carries its own copy of the state-spaces/s4 training system
(train.py, pipelines, optimiser hooks and kernels are byte-identical to
state-spaces/s4 @ e757cef, the loop the SpikingSSM table cites) plus
SpikingSSM's `ss4d.py`, neuron, surrogate and SDN weights (identical to
shenshuaijie/SDN @ 709640e) and the fractional layer
`models/spike/loongspike.py`. Its LRA configs select that layer with
`model._name_: loongspikingssm` (src/utils/registry.py:37).

Citations: `exp/<name>:line` is `configs/experiment/spikingssm/<name>.yaml`
(names listops, imdb, aan, cifar, pathfinder, pathx); other paths are files
of this repository. The soma, SDN and block are SpikingSSM's (see
`spiking_ssm.py`, whose values and citations hold here unchanged).
"""

SOURCE = {
    "xinruihe389-commits/LoongSpike": {
        "commit": "e59816b9fe005c65c99ed96bc9299c7ca6189f57",
        "ref": "main",
        "paths": (
            "configs/experiment/spikingssm/listops.yaml",
            "configs/experiment/spikingssm/imdb.yaml",
            "configs/experiment/spikingssm/aan.yaml",
            "configs/experiment/spikingssm/cifar.yaml",
            "configs/experiment/spikingssm/pathfinder.yaml",
            "configs/experiment/spikingssm/pathx.yaml",
            "models/spike/loongspike.py", "models/spike/ss4d.py",
            "src/models/spike/neuron.py", "src/models/spike/surrogate.py",
            "src/models/sequence/kernels/ssm.py",
            "src/models/sequence/kernels/kernel.py",
            "src/models/sequence/kernels/dplr.py",
            "src/utils/registry.py", "src/utils/optim_groups.py",
            "src/models/nn/dropout.py", "train.py", "configs/config.yaml",
            "configs/pipeline/imdb.yaml", "configs/pipeline/aan.yaml",
            "configs/pipeline/cifar.yaml", "configs/pipeline/pathx.yaml",
            "configs/dataset/listops.yaml", "configs/dataset/aan.yaml",
            "configs/dataset/pathfinder.yaml",
            "configs/scheduler/cosine_warmup.yaml",
            "configs/optimizer/adamw.yaml", "configs/trainer/default.yaml",
            "configs/loader/default.yaml", "src/tasks/encoders.py",
            "src/tasks/decoders.py", "src/dataloaders/lra.py",
            "src/dataloaders/basic.py", "README.md",
        ),
    },
}

PAPER = {
    "title": ("LongSpike: Fractional Order Spiking State Space Models for "
              "Efficient Long Sequence Learning"),
    "arxiv": "2606.12895",
    # README.md quotes no accuracies and the paper's LRA table could not be
    # retrieved with the tools of this session.
    "results_source": None,
}

COMMON = {
    # README.md:124-131
    "code_version": "LoongSpike main @ e59816b (in-tree S4 copy)",
    "model_selection": None,  # not in the code
    "reported_test_acc": None,  # see PAPER["results_source"]
    "padding": "to the batch maximum",  # src/dataloaders/lra.py:84,279,581
    # models/spike/loongspike.py:148-256 (fixed B) and
    # src/models/sequence/kernels/ssm.py:852-936 (trainable B).
    "ssm_kernel": "fractional diag: sum over M of diag kernels",
    # models/spike/loongspike.py:65-68
    "ssm_init": "S4D-Lin: A = -0.5 + i pi n",
    "discretization": "zoh",  # models/spike/loongspike.py:239-252
    "dt_transform": "exp",  # models/spike/loongspike.py:48,151
    # models/spike/loongspike.py:61-62
    "c_init": "complex normal, (channels, H, N/2)",
    "b_clip": None,  # src/models/sequence/kernels/dplr.py:100-101 (ones)
    "n_ssm": None,  # per channel: models/spike/loongspike.py:47-68
    "bidirectional": True,  # exp/<name>: layer.bidirectional, every file
    # models/spike/loongspike.py:302-303,335-346 (as ss4d.py).
    "bidirectional_form": "two-sided kernel, reverse branch offset by one",
    # models/spike/loongspike.py:294,349
    "d_feedthrough": "D ~ N(0, 1), per feature",
    "final_norm": False,  # models/spike/loongspike.py:401-427
    "bn_momentum": 0.9,  # models/spike/loongspike.py:396 (torch default 0.1)
    # models/spike/loongspike.py:396,410
    "bn_statistics": "batch x time, padding included",
    "padding_masked_in_layers": False,  # models/spike/loongspike.py:401
    "glu": "spike_full_glu",  # models/spike/loongspike.py:322-325,356-357
    "dropout_tied": True,  # src/models/nn/dropout.py:67 (tie=True)
    # models/spike/loongspike.py:356 (after the soma), :416 (after layer).
    "dropout_sites": ("after_spikes", "residual_branch"),
    # models/spike/loongspike.py:407-419
    "residual": "x + dropout(layer(norm(x)))",
    "token_encoder": "embedding",  # configs/pipeline/imdb.yaml:14
    # src/tasks/encoders.py:417
    "encoder_init": "torch nn.Embedding default N(0, 1)",
    "head": "linear",  # src/tasks/decoders.py:43
    "neuron": "sdn",  # models/spike/loongspike.py:276,316
    "eval_neuron": "sdn",  # src/models/spike/neuron.py:15-18 (no switch)
    "tau": 0.125,  # src/models/spike/neuron.py:7 (checkpoint "..._125")
    "threshold_init": 1.0,  # models/spike/loongspike.py:296-300 (ln_vth 0)
    # models/spike/loongspike.py:296-300,353-354; exp/<name>: shared false.
    "threshold_param": "per channel: input / exp(ln_vth), fire at 1",
    "reset": "hard, to 0",  # src/models/spike/neuron.py:40-42
    # src/models/spike/surrogate.py:4-17 (named piecewise_quadratic).
    "surrogate": "triangular: d/dx = max(0, 1 - |x|), spike x >= 0",
    # src/models/spike/mem_pred_..._125.pkl: the same file as SpikingSSM's
    # (identical bytes); see spiking_ssm.py for its topology and training.
    "sdn_topology": "as spiking_ssm (identical SDN weights file)",
    "frac_terms": 2,  # models/spike/loongspike.py:26; kernels/ssm.py:695
    # models/spike/loongspike.py:115-117: defaults for M = 2. Under the
    # sigmoid bounds omega_1 = 0 clamps to omega_min and its normalised value
    # to 1e-6 (:128-132), so it starts at 1e-6 + 1e-6 * (100 - 1e-6), about
    # 1.0e-4, not 0.
    "omega_init": (0.0, 0.1),
    "eta_init": (1.0, 0.1),  # models/spike/loongspike.py:117
    "omega_bounds": (1e-6, 100.0),  # models/spike/loongspike.py:34-35
    "eta_bounds": (1e-6, 10.0),  # models/spike/loongspike.py:36-37
    "omega_eta_learnable": True,  # models/spike/loongspike.py:30,125-143
    "optimizer": "adamw",  # configs/optimizer/adamw.yaml:2
    "b1": 0.9,  # configs/optimizer/adamw.yaml:5
    "b2": 0.999,  # configs/optimizer/adamw.yaml:5
    "eps": 1e-8,  # torch AdamW default
    "ssm_lr": 0.001,  # exp/<name>: layer.lr; models/spike/loongspike.py:42-45
    "ssm_weight_decay": 0.0,  # models/spike/loongspike.py:264
    "grad_clip": None,  # configs/trainer/default.yaml:9
    "schedule": "cosine_warmup",  # exp/<name>: override /scheduler
    "warmup_unit": "steps",  # exp/<name>: scheduler.num_warmup_steps
    "min_lr": 0.0,  # transformers cosine schedule ends at 0
    "drop_last": True,  # configs/loader/default.yaml:4
}

# train.py:456-493, src/utils/optim_groups.py:12-38, configs/config.yaml:
# 42-44 with models/spike/loongspike.py:42-68,258-267 (fixed B: dt and A at
# min(lr, 1e-3) without decay) and :94-143 (omega_logit / eta_logit are
# plain parameters: global lr and global weight decay).
_GROUPS_FIXED_B = {
    "main": {"params": "C, D, ln_vth, omega_logit, eta_logit, "
                       "output_linear weight, encoder, decoder (incl. bias)",
             "rule": "adamw", "lr": "lr", "weight_decay": "weight_decay"},
    "no_decay": {"params": "output_linear bias, batch/layer-norm parameters",
                 "rule": "adamw", "lr": "lr", "weight_decay": 0.0},
    "ssm": {"params": ("log_dt", "log_A_real", "A_imag"), "rule": "adamw",
            "lr": 0.001, "weight_decay": 0.0},
}
# Trainable B (SSMKernelFrac, src/models/sequence/kernels/ssm.py:680-850):
# registered as S4's SSMKernelDiag (a float lr reaches C too, which keeps
# the global weight decay, kernel.py:82-87,111-122); omega / eta logits are
# plain parameters (ssm.py:756-809).
_GROUPS_TRAINABLE_B = {
    "main": {"params": "D, ln_vth, omega_logit, eta_logit, output_linear "
                       "weight, encoder, decoder",
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
        # README.md:54-55
        "config_file": "configs/experiment/spikingssm/listops.yaml",
        "seed": 1234,  # exp/listops:42
        "seq_len": 2048,  # configs/dataset/listops.yaml:2
        "encoder_vocab": 18,  # configs/dataset/listops.yaml:6
        "num_layers": 6,  # exp/listops:10
        "width": 256,  # exp/listops:11
        "state_size": 4,  # exp/listops:15
        # exp/listops:12-13; the post-norm result is discarded,
        # models/spike/loongspike.py:421-423 (README: quirks).
        "norm": "batch",
        "prenorm": False,  # exp/listops:12
        "dt_min": 0.001,  # exp/listops:17
        "dt_max": 0.1,  # exp/listops:18
        "trainable_b": True,  # exp/listops:22
        # src/models/sequence/kernels/dplr.py:100-101
        "b_init": "ones (diag-lin, B_init constant)",
        "dropout": 0.0,  # exp/listops:8
        "pooling": "masked_mean",  # exp/listops:24-25 + pipeline/imdb.yaml:18
        "use_lengths": True,  # configs/pipeline/imdb.yaml:18
        "batch_size": 32,  # exp/listops:28
        "lr": 0.01,  # exp/listops:31
        "weight_decay": 0.01,  # exp/listops:32
        "param_groups": _GROUPS_TRAINABLE_B,  # exp/listops:16,22
        "warmup": 12000,  # exp/listops:36 (10% of schedule_steps)
        "schedule_steps": 120000,  # exp/listops:35
        "epochs": 40,  # exp/listops:39
    },
    "text": {
        # README.md:112-119
        "config_file": "configs/experiment/spikingssm/imdb.yaml",
        "seed": 3333,  # exp/imdb:45
        "seq_len": 4096,  # exp/imdb:27
        # configs/dataset/imdb.yaml:14,20: char level, min_freq 15.
        "encoder_vocab": None,
        "num_layers": 6,  # exp/imdb:12
        "width": 256,  # exp/imdb:13
        "state_size": 64,  # exp/imdb:17
        "norm": "batch",  # exp/imdb:15
        "prenorm": True,  # exp/imdb:14
        "dt_min": 0.001,  # exp/imdb:19
        "dt_max": 0.1,  # exp/imdb:20
        "trainable_b": True,  # exp/imdb:24
        # src/models/sequence/kernels/dplr.py:100-101
        "b_init": "ones (diag-lin, B_init constant)",
        "dropout": 0.0,  # exp/imdb:11
        "pooling": "masked_mean",  # exp/imdb:6-7 + pipeline/imdb.yaml:18
        "use_lengths": True,  # configs/pipeline/imdb.yaml:18
        "batch_size": 16,  # exp/imdb:31
        "lr": 0.01,  # exp/imdb:34
        "weight_decay": 0.05,  # exp/imdb:35
        "param_groups": _GROUPS_TRAINABLE_B,  # exp/imdb:18,24
        "warmup": 5000,  # exp/imdb:39 (10% of schedule_steps)
        "schedule_steps": 50000,  # exp/imdb:38
        "epochs": 32,  # exp/imdb:42
    },
    "retrieval": {
        # README.md:112-119
        "config_file": "configs/experiment/spikingssm/aan.yaml",
        "seed": 3333,  # exp/aan:41
        "seq_len": 4000,  # configs/dataset/aan.yaml:5
        "encoder_vocab": None,  # configs/dataset/aan.yaml:6 (~98)
        "num_layers": 6,  # exp/aan:12
        "width": 256,  # exp/aan:13
        "state_size": 64,  # exp/aan:17
        "norm": "batch",  # exp/aan:15
        "prenorm": True,  # exp/aan:14
        "dt_min": 0.001,  # exp/aan:19
        "dt_max": 0.1,  # exp/aan:20
        "trainable_b": False,  # exp/aan:24
        "b_init": "fixed 1 (no B parameter)",  # models/spike/loongspike.py:244
        "dropout": 0.0,  # exp/aan:11
        "pooling": "masked_mean",  # exp/aan:6-7 + pipeline/aan.yaml:10
        "use_lengths": True,  # configs/pipeline/aan.yaml:10
        # configs/pipeline/aan.yaml:11-13 + src/tasks/decoders.py:178-216.
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
        # README.md:48-49
        "config_file": "configs/experiment/spikingssm/cifar.yaml",
        "seed": 2222,  # exp/cifar:42
        "seq_len": 1024,  # 32 x 32 pixels
        # exp/cifar:25 + src/dataloaders/basic.py:83-117.
        "input_scaling": "grayscale, (x - 122.6/255) / (61/255)",
        "token_encoder": "dense",  # configs/pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # src/tasks/encoders.py:418
        "num_layers": 6,  # exp/cifar:10
        "width": 512,  # exp/cifar:11
        "state_size": 64,  # exp/cifar:15
        # exp/cifar:12-13; the post-norm result is discarded,
        # models/spike/loongspike.py:421-423 (README: quirks).
        "norm": "layer",
        "prenorm": False,  # exp/cifar:12
        # exp/cifar:19-20 are commented out: LoongSpikeKernel's defaults,
        # models/spike/loongspike.py:21-22.
        "dt_min": 0.001,
        "dt_max": 0.1,  # models/spike/loongspike.py:22 (exp/cifar:20 off)
        # exp/cifar:22 is commented out: LoongSpike's default,
        # models/spike/loongspike.py:284.
        "trainable_b": False,
        "b_init": "fixed 1 (no B parameter)",  # models/spike/loongspike.py:244
        "dropout": 0.1,  # exp/cifar:8
        "pooling": "mean",  # configs/pipeline/cifar.yaml:16-18
        "use_lengths": False,  # configs/pipeline/cifar.yaml:16-18
        "batch_size": 50,  # exp/cifar:28
        "lr": 0.01,  # exp/cifar:31
        "weight_decay": 0.01,  # exp/cifar:32
        "param_groups": _GROUPS_FIXED_B,  # exp/cifar:18 + loongspike.py:284
        "warmup": 18000,  # exp/cifar:39 (10% of schedule_steps)
        "schedule_steps": 180000,  # exp/cifar:38
        "epochs": 200,  # exp/cifar:35
    },
    "pathfinder": {
        # README.md:112-119
        "config_file": "configs/experiment/spikingssm/pathfinder.yaml",
        "seed": 3333,  # exp/pathfinder:41
        "seq_len": 1024,  # configs/dataset/pathfinder.yaml:4,16
        # configs/dataset/pathfinder.yaml:7
        "input_scaling": "[0, 1] (center: False)",
        "token_encoder": "dense",  # configs/pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # src/tasks/encoders.py:418
        "num_layers": 6,  # exp/pathfinder:13
        "width": 256,  # exp/pathfinder:15
        "state_size": 64,  # exp/pathfinder:18
        "norm": "batch",  # exp/pathfinder:16
        "prenorm": True,  # exp/pathfinder:14
        "dt_min": 0.001,  # exp/pathfinder:20
        "dt_max": 0.1,  # exp/pathfinder:21
        "trainable_b": False,  # exp/pathfinder:25
        "b_init": "fixed 1 (no B parameter)",  # models/spike/loongspike.py:244
        "dropout": 0.0,  # exp/pathfinder:12
        "pooling": "mean",  # exp/pathfinder:27-28 (no lengths)
        "use_lengths": False,  # configs/pipeline/cifar.yaml:16-18
        "batch_size": 64,  # exp/pathfinder:31
        "lr": 0.004,  # exp/pathfinder:34
        "weight_decay": 0.01,  # exp/pathfinder:35
        "param_groups": _GROUPS_FIXED_B,  # exp/pathfinder:19,25
        "warmup": 50000,  # exp/pathfinder:8 (10% of schedule_steps)
        "schedule_steps": 500000,  # exp/pathfinder:7
        "epochs": 200,  # exp/pathfinder:38
    },
    "pathx": {
        # README.md:112-119
        "config_file": "configs/experiment/spikingssm/pathx.yaml",
        "seed": 3333,  # exp/pathx:38
        "seq_len": 16384,  # configs/pipeline/pathx.yaml:7
        # configs/dataset/pathfinder.yaml:7
        "input_scaling": "[0, 1] (center: False)",
        "token_encoder": "dense",  # configs/pipeline/cifar.yaml:14
        "encoder_vocab": None,  # continuous pixels
        "encoder_init": "torch nn.Linear default",  # src/tasks/encoders.py:418
        "num_layers": 6,  # exp/pathx:13
        "width": 256,  # exp/pathx:15
        "state_size": 64,  # exp/pathx:18
        "norm": "batch",  # exp/pathx:16
        "prenorm": True,  # exp/pathx:14
        "dt_min": 0.0001,  # exp/pathx:20
        "dt_max": 0.01,  # exp/pathx:21
        "trainable_b": True,  # exp/pathx:25
        # src/models/sequence/kernels/dplr.py:100-101
        "b_init": "ones (diag-lin, B_init constant)",
        "dropout": 0.0,  # exp/pathx:12
        "pooling": "mean",  # configs/pipeline/cifar.yaml:16-18
        "use_lengths": False,  # configs/pipeline/cifar.yaml:16-18
        "batch_size": 32,  # exp/pathx:28
        "lr": 0.0005,  # exp/pathx:31
        "weight_decay": 0.01,  # exp/pathx:32
        "param_groups": _GROUPS_TRAINABLE_B,  # exp/pathx:19,25
        "warmup": 25000,  # exp/pathx:8 (5 epochs; 10% of schedule_steps)
        "schedule_steps": 250000,  # exp/pathx:7
        "epochs": 50,  # exp/pathx:35
    },
}

UNAVAILABLE = {}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
