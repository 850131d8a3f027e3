"""Mamba (Gu & Dao, 2023): what is released, and that it has no LRA runs.

Read from state-spaces/mamba at the commit in SOURCE. The repository holds
the Mamba block and language models; it has no Long Range Arena config,
script or dataloader (`git grep -i` finds neither "listops" nor "long range
arena"; its only config file is mamba_ssm/models/config_mamba.py), and the
paper (arXiv:2312.00752) has no LRA experiment: its evaluation sections are
4.1 synthetic tasks, 4.2 language modeling, 4.3 DNA, 4.4 audio, 4.5 speed
and memory, 4.6 ablations (table of contents as mirrored at PAPER["toc"]).
So every task is None, and
COMMON records only the block the released code fixes
(mamba_ssm/modules/mamba_simple.py, cited `simple.py:line`).

The paper's training recipe (its Appendix E.2: optimiser, betas, weight
decay, clipping, schedule) could not be retrieved with the tools of this
session, so those keys are None here rather than filled from memory.
"""

SOURCE = {
    "state-spaces/mamba": {
        "commit": "e9594ce1c732d97440f0332fdc43170a2294dbfa",
        "ref": "main",
        "paths": ("mamba_ssm/modules/mamba_simple.py", "README.md",
                  "mamba_ssm/models/config_mamba.py"),
    },
}

PAPER = {
    "title": "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
    "arxiv": "2312.00752",
    "results_source": None,  # no LRA experiment in the paper
    "toc": "https://worldofsoftware.org/"
           "mamba-a-new-player-in-language-modeling-outperforms-big-names-"
           "hackernoon/amp",
}

COMMON = {
    "code_version": "main @ e9594ce",  # SOURCE
    "state_size": 16,  # simple.py:35 d_state
    "conv_size": 4,  # simple.py:36 d_conv
    "expand": 2,  # simple.py:37
    "dt_rank": "auto: ceil(d_model / 16)",  # simple.py:38,58
    "dt_min": 0.001,  # simple.py:39
    "dt_max": 0.1,  # simple.py:40
    # simple.py:41,83-87: dt_proj weight ~ U(-r^-1/2, r^-1/2) (dt_scale 1).
    "dt_init": "random",
    "dt_init_floor": 0.0001,  # simple.py:43,92-95
    # simple.py:91-99
    "dt_transform": "softplus (bias = inverse softplus of dt)",
    # simple.py:103-110
    "ssm_init": "S4D-Real: A_n = -(n + 1), per inner channel",
    "d_feedthrough": "D = 1, per inner channel",  # simple.py:113-114
    "conv_bias": True,  # simple.py:44
    "bias": False,  # simple.py:45 (in_proj, out_proj)
    "bidirectional": False,  # simple.py:64-72 (causal conv, causal scan)
    # simple.py:111,115: A_log and D carry _no_weight_decay; the rest of the
    # grouping belongs to the (unreleased) trainer.
    "param_groups": {
        "no_decay": {"params": ("A_log", "D"), "rule": None, "lr": None,
                     "weight_decay": 0.0},
    },
    "optimizer": None,  # paper App. E.2 not retrieved (see docstring)
    "b1": None,  # paper App. E.2 not retrieved
    "b2": None,  # paper App. E.2 not retrieved
    "weight_decay": None,  # paper App. E.2 not retrieved
    "grad_clip": None,  # paper App. E.2 not retrieved
    "schedule": None,  # paper App. E.2 not retrieved
    "dropout": None,  # paper App. E.2 not retrieved
}

_NO_LRA = ("state-spaces/mamba releases no LRA run and the Mamba paper has "
           "no LRA experiment (module docstring)")

PER_TASK = {
    "listops": None,
    "text": None,
    "retrieval": None,
    "image": None,
    "pathfinder": None,
    "pathx": None,
}

UNAVAILABLE = {task: _NO_LRA for task in PER_TASK}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
