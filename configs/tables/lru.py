"""LRU (Orvieto et al., ICML 2023): no released LRA configuration was found.

No code or run configuration from the LRU authors was found: a search of the
public code index for LRU implementations returns only third-party
repositories (minimal-LRU, LRU-pytorch, Linear-Recurrent-Units-Tensorflow,
lru_experiments, ...), and the paper gives pseudo-code for the layer. The
implementation spike_ssm's LRU is checked against is
NicolasZucchet/minimal-LRU (SOURCE), which calls itself "an unofficial JAX
implementation" (README.md:3). Its README runs only ListOps
(`--epochs 40`, README.md:122) and IMDB (`--epochs 35`, README.md:131) with
the generic defaults of its run_train.py (4 x 256, hidden 128, r in
[0, 1], batch 64, lr 1e-3, run_train.py:42-79) and says "The other datasets
from the Long Range Arena benchmark have not been tested yet"
(README.md:136). Those are not the paper's recipes, so every task is None.
The per-task values of the LRU paper's appendix (its eigenvalue rings and
S5-derived settings, quoted in configs/lru_lra.py) could not be retrieved
with the tools of this session and are not restated here.
"""

SOURCE = {
    "NicolasZucchet/minimal-LRU": {
        "commit": "bbd71b1104c399ec0d13819527d791949e66f599",
        "ref": "main",
        "paths": ("README.md", "run_train.py", "lru/model.py"),
    },
}

PAPER = {
    "title": "Resurrecting Recurrent Neural Networks for Long Sequences",
    "arxiv": "2303.06349",
    "results_source": None,  # not retrieved (module docstring)
}

COMMON = {
    # README.md:3
    "code_version": "no author release; minimal-LRU is unofficial",
}

_NO_RELEASE = ("no LRA configuration from the LRU authors was found; the "
               "implementation used (minimal-LRU, unofficial) runs generic "
               "defaults on ListOps and IMDB only (module docstring)")

PER_TASK = {
    "listops": None,
    "text": None,
    "retrieval": None,
    "image": None,
    "pathfinder": None,
    "pathx": None,
}

UNAVAILABLE = {task: _NO_RELEASE for task in PER_TASK}

TASKS = {
    task: None if row is None else {**COMMON, **row}
    for task, row in PER_TASK.items()
}
