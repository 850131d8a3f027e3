"""The vanilla Transformer of Long Range Arena (Tay et al., ICLR 2021).

Read from google-research/long-range-arena at the commit in SOURCE. Each
task trains `lra_benchmarks/<task>/train.py` with the `transformer_base.py`
config, which calls the task's base config. Citations: paths are relative to
`lra_benchmarks/`; `listops_cfg` is listops/configs/base_listops_config.py,
`tc_cfg` text_classification/configs/base_tc_config.py, `match_cfg`
matching/configs/base_match_config.py, `cifar_base` / `cifar_tr`
image/configs/cifar10/{base_cifar10_config,transformer_base}.py, `pf32_base`
/ `pf32_tr` image/configs/pathfinder32/..., `pf128_base`
image/configs/pathfinder128/base_pathfinder128_config.py (its
transformer_base.py only sets model_type); `tr.py` is
models/transformer/transformer.py and `layers.py`
models/layers/common_layers.py.
"""

SOURCE = {
    "google-research/long-range-arena": {
        "commit": "cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8",
        "ref": "main",
        "paths": (
            "README.md",
            "lra_benchmarks/listops/configs/base_listops_config.py",
            "lra_benchmarks/listops/configs/transformer_base.py",
            "lra_benchmarks/listops/train.py",
            "lra_benchmarks/listops/input_pipeline.py",
            "lra_benchmarks/text_classification/configs/base_tc_config.py",
            "lra_benchmarks/text_classification/configs/transformer_base.py",
            "lra_benchmarks/text_classification/train.py",
            "lra_benchmarks/text_classification/input_pipeline.py",
            "lra_benchmarks/matching/configs/base_match_config.py",
            "lra_benchmarks/matching/configs/transformer_base.py",
            "lra_benchmarks/matching/train.py",
            "lra_benchmarks/image/configs/cifar10/base_cifar10_config.py",
            "lra_benchmarks/image/configs/cifar10/transformer_base.py",
            "lra_benchmarks/image/configs/pathfinder32/"
            "base_pathfinder32_config.py",
            "lra_benchmarks/image/configs/pathfinder32/transformer_base.py",
            "lra_benchmarks/image/configs/pathfinder128/"
            "base_pathfinder128_config.py",
            "lra_benchmarks/image/configs/pathfinder128/transformer_base.py",
            "lra_benchmarks/image/train.py",
            "lra_benchmarks/image/input_pipeline.py",
            "lra_benchmarks/models/transformer/transformer.py",
            "lra_benchmarks/models/layers/common_layers.py",
            "lra_benchmarks/utils/train_utils.py",
        ),
    },
    # The ListOps vocabulary (encoder_vocab) is tfds' TokenTextEncoder.
    "tensorflow/datasets": {
        "commit": "1aceae884e13ecd0aa18c6ee5d57339827e61509",
        "ref": "master",
        "paths": ("tensorflow_datasets/core/deprecated/text/"
                  "text_encoder.py",),
    },
}

PAPER = {
    "title": "Long Range Arena: A Benchmark for Efficient Transformers",
    "arxiv": "2011.04006",
    "results_source": "google-research/long-range-arena README.md:35-46",
}

COMMON = {
    "code_version": "main @ cd31e5c",  # SOURCE
    "model_selection": None,  # not in the code
    "padding": "to seq_len with id 0",  # listops/input_pipeline.py:110-115
    "norm": "layer",  # tr.py:59,80
    "prenorm": True,  # tr.py:59-88
    "final_norm": True,  # tr.py:214 encoder_norm
    # tr.py:148,161-167: tokens with id 0 are padding for attention (for
    # pixel inputs this masks every black pixel).
    "padding_masked_in_layers": "attention keys with id 0",
    "glu": "none",  # tr.py:80-88 (GELU MLP block, layers.py:141-160)
    "dropout_tied": False,  # tr.py:72 broadcast_dropout=False
    # tr.py:176 (embeddings), :76 (attention output), layers.py MlpBlock.
    "dropout_sites": ("embeddings", "attention_output", "mlp"),
    "residual": "pre-LN: x + attn(LN(x)); x + mlp(LN(x))",  # tr.py:59-88
    "token_encoder": "embedding",  # tr.py:151-157
    "encoder_init": "normal(stddev=1.0)",  # tr.py:155
    "head": "pool -> dense(mlp_dim) -> relu -> dense",  # layers.py:166-194
    "use_lengths": False,  # layers.py:181-188 (no lengths)
    # listops/train.py:72-80
    "optimizer": "adam with decoupled weight decay (flax.optim.Adam)",
    "b1": 0.9,  # listops/train.py:75
    "b2": 0.98,  # listops/train.py:76
    "eps": 1e-9,  # listops/train.py:77
    "warmup_unit": "steps",  # utils/train_utils.py:131-132
    "drop_last": None,  # tf.data padded_batch keeps the last batch
}

PER_TASK = {
    "listops": {
        # README.md:143-147
        "config_file": "lra_benchmarks/listops/configs/transformer_base.py",
        "reported_test_acc": 36.37,  # README.md:46
        "seq_len": 2000,  # listops_cfg:40
        # listops/input_pipeline.py:25-30,74-93 + text_encoder.py
        # (vocab_size = tokens + 1 OOV + 1 pad): the 15 symbols 0-9, [MIN,
        # [MAX, [MED, [SM and X (the renamed ']') seen in the validation
        # split, ids 1-15 in Python set order, pad 0, OOV 16.
        "encoder_vocab": 17,
        "positions": "sinusoidal",  # tr.py:111,169 (learn_pos_emb unset)
        "num_layers": 4,  # listops_cfg:47
        "width": 512,  # listops_cfg:45
        "num_heads": 8,  # listops_cfg:46
        "qkv_dim": 512,  # listops_cfg:48
        "mlp_dim": 1024,  # listops_cfg:49
        "dropout": 0.1,  # tr.py:109 (train.py does not set it)
        "attention_dropout": 0.1,  # tr.py:110
        # listops/train.py:180-190 passes no classifier_pool, so tr.py:113's
        # CLS holds (listops_cfg:43 pooling_mode is unused).
        "pooling": "cls",
        "batch_size": 32,  # listops_cfg:22
        "steps": 5000,  # listops_cfg:24
        # listops/train.py:216-217 passes only the base rate; the default
        # factors of utils/train_utils.py:94-97 equal listops_cfg:38-39.
        "schedule": "constant * linear_warmup * rsqrt_decay",
        "lr": 0.05,  # listops_cfg:26 (the constant c)
        "warmup": 1000,  # utils/train_utils.py:97 (= listops_cfg:39)
        "weight_decay": 0.1,  # listops_cfg:27
        "grad_clip": None,  # listops/train.py:97-125 (no clipping)
    },
    "text": {
        # README.md:139-147 (one train.py per task directory)
        "config_file": "lra_benchmarks/text_classification/configs/"
                       "transformer_base.py",
        "reported_test_acc": 64.27,  # README.md:46
        "seq_len": 1000,  # tc_cfg:43
        # text_classification/input_pipeline.py:132-134 (bytes + pad).
        "encoder_vocab": 257,
        "positions": "sinusoidal",  # tr.py:111,169 (learn_pos_emb unset)
        "num_layers": 4,  # tc_cfg:47
        "width": 256,  # tc_cfg:45
        "num_heads": 4,  # tc_cfg:46
        "qkv_dim": 256,  # tc_cfg:48
        "mlp_dim": 1024,  # tc_cfg:49
        "dropout": 0.1,  # tr.py:109
        "attention_dropout": 0.1,  # tr.py:110
        "pooling": "cls",  # tc_cfg:41 via text_classification/train.py:185
        "batch_size": 32,  # tc_cfg:23
        "steps": 20000,  # tc_cfg:25
        "schedule": "constant * linear_warmup * rsqrt_decay",  # tc_cfg:39
        "lr": 0.05,  # tc_cfg:27
        "warmup": 8000,  # tc_cfg:40
        "weight_decay": 0.1,  # tc_cfg:28
        "grad_clip": None,  # text_classification/train.py (no clipping)
    },
    "retrieval": {
        # README.md:139
        "config_file": "lra_benchmarks/matching/configs/transformer_base.py",
        "reported_test_acc": 57.46,  # README.md:46
        "seq_len": 4000,  # match_cfg:41
        "encoder_vocab": 257,  # match_cfg:44 char: bytes + pad
        "positions": "sinusoidal",  # tr.py:111,169 (learn_pos_emb unset)
        "num_layers": 4,  # match_cfg:48
        "width": 128,  # match_cfg:46
        "num_heads": 4,  # match_cfg:47
        "qkv_dim": 128,  # match_cfg:49
        "mlp_dim": 512,  # match_cfg:50
        "dropout": 0.1,  # tr.py:241
        "attention_dropout": 0.1,  # tr.py:242
        "pooling": "cls",  # match_cfg:43 via matching/train.py:187
        # tr.py:246,302 (interaction None) + layers.py:197-242.
        "head": "[u, v] -> dense(mlp) -> relu -> dense(mlp/2) -> relu -> "
                "dense",
        "batch_size": 32,  # match_cfg:23
        "steps": 5000,  # match_cfg:25
        "schedule": "constant * linear_warmup * rsqrt_decay",  # match_cfg:39
        "lr": 0.05,  # match_cfg:27
        "warmup": 8000,  # match_cfg:40
        "weight_decay": 0.1,  # match_cfg:28
        "grad_clip": None,  # matching/train.py (no clipping)
    },
    "image": {
        "config_file": "lra_benchmarks/image/configs/cifar10/"
                       "transformer_base.py",  # README.md:139-147
        "reported_test_acc": 42.44,  # README.md:46
        "seq_len": 1024,  # image/train.py:331-336 (flattened 32 x 32)
        # image/train.py:312-315 (no normalisation for transformers) +
        # image/input_pipeline.py:72.
        "input_scaling": "grayscale integer pixel tokens 0-255",
        "encoder_vocab": 256,  # image/input_pipeline.py:59-90
        "positions": "learned",  # cifar_base:55 (normal(0.02), tr.py:169)
        "num_layers": 1,  # cifar_tr:24
        "width": 128,  # cifar_tr:26
        "num_heads": 8,  # cifar_tr:28
        "qkv_dim": 64,  # cifar_tr:29
        "mlp_dim": 128,  # cifar_tr:27
        "dropout": 0.3,  # cifar_base:52
        "attention_dropout": 0.2,  # cifar_base:53
        "pooling": "cls",  # cifar_tr:25
        "batch_size": 256,  # cifar_base:27
        "epochs": 200,  # cifar_base:19
        "steps": 35000,  # cifar_base:29 ((45000 // 256) * 200)
        "schedule": "constant * linear_warmup * cosine_decay",  # cifar_base:41
        "lr": 0.0005,  # cifar_base:40
        "warmup": 175,  # cifar_base:42 (one epoch, 45000 // 256)
        "schedule_steps": 35000,  # cifar_base:43 steps_per_cycle
        "weight_decay": 0.0,  # cifar_base:31
        "grad_clip": None,  # cifar_base:32
    },
    "pathfinder": {
        "config_file": "lra_benchmarks/image/configs/pathfinder32/"
                       "transformer_base.py",  # README.md:139-147
        "reported_test_acc": 71.4,  # README.md:46
        "seq_len": 1024,  # image/train.py:331-336 (flattened 32 x 32)
        # image/train.py:312-315 + image/input_pipeline.py:186.
        "input_scaling": "integer pixel tokens 0-255",
        "encoder_vocab": 256,  # image/input_pipeline.py:143-200
        "positions": "sinusoidal",  # pf32_base:55 learn_pos_emb False
        "num_layers": 4,  # pf32_tr:24
        "width": 32,  # pf32_tr:26
        "num_heads": 4,  # pf32_tr:25
        "qkv_dim": 16,  # pf32_tr:28
        "mlp_dim": 32,  # pf32_tr:29
        "dropout": 0.2,  # pf32_tr:27
        "attention_dropout": 0.1,  # pf32_base:53
        "pooling": "mean",  # pf32_base:54
        "batch_size": 512,  # pf32_base:26
        "epochs": 200,  # pf32_base:18
        "steps": 62400,  # pf32_base:28 ((160000 // 512) * 200)
        "schedule": "constant * linear_warmup * cosine_decay",  # pf32_base:40
        "lr": 0.001,  # pf32_base:39
        "warmup": 312,  # pf32_base:41 (one epoch, 160000 // 512)
        "schedule_steps": 62400,  # pf32_base:42 steps_per_cycle
        "weight_decay": 0.0,  # pf32_base:30
        "grad_clip": None,  # pf32_base:31
    },
    "pathx": {
        "config_file": "lra_benchmarks/image/configs/pathfinder128/"
                       "transformer_base.py",  # README.md:139-147
        # README.md:35-46: every model, the Transformer included, FAILs.
        "reported_test_acc": None,
        "seq_len": 16384,  # image/train.py:331-336 (flattened 128 x 128)
        # image/train.py:312-315 + image/input_pipeline.py:186.
        "input_scaling": "integer pixel tokens 0-255",
        "encoder_vocab": 256,  # image/input_pipeline.py:143-200
        "positions": "learned",  # pf128_base:55 (normal(0.02), tr.py:169)
        "num_layers": 1,  # pf128_base:46
        "width": 32,  # pf128_base:48
        "num_heads": 2,  # pf128_base:47
        "qkv_dim": 16,  # pf128_base:51 (emb_dim // 2)
        "mlp_dim": 32,  # pf128_base:52 (qkv_dim * 2)
        "dropout": 0.1,  # pf128_base:49
        "attention_dropout": 0.1,  # pf128_base:53
        "pooling": "mean",  # pf128_base:54
        "batch_size": 64,  # pf128_base:26
        "epochs": 200,  # pf128_base:18
        "steps": 500000,  # pf128_base:28 ((160000 // 64) * 200)
        "schedule": "constant * linear_warmup * cosine_decay",  # pf128_base:40
        "lr": 0.001,  # pf128_base:39
        "warmup": 2500,  # pf128_base:41 (one epoch, 160000 // 64)
        "schedule_steps": 500000,  # pf128_base:42 steps_per_cycle
        "weight_decay": 0.0,  # pf128_base:30
        "grad_clip": 1.0,  # pf128_base:31
    },
}

UNAVAILABLE = {}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
