"""Tests for configs/tables: the released-recipe tables are complete and cited.

Each table module must name the commit it was read at, cover the six LRA
tasks (or say why a task is missing), use only the shared key vocabulary, and
carry a source comment beside every value it states.
"""

import ast
import importlib
import io
import math
import pathlib
import re
import tokenize

from absl.testing import absltest
from absl.testing import parameterized

import haiku as hk
import jax
import jax.numpy as jnp

from configs import tables
from spike_ssm import config_lib
from spike_ssm import zoo
from spike_ssm.data import listops
from spike_ssm.data import lra
from spike_ssm.training import optim
from tests.training.train_test import load_config

TABLES_DIR = pathlib.Path(tables.__file__).resolve().parent
HEX40 = re.compile(r"[0-9a-f]{40}")
REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
NORMS = ("batch", "layer", "none")
POOLINGS = ("mean", "masked_mean", "last", "last_valid", "cls")
WARMUP_UNITS = ("steps", "epochs", "fraction")


def load(name):
  return importlib.import_module(f"configs.tables.{name}")


def _literal_values(node):
  """(key, value node) pairs of a dict literal, recursing into nothing."""
  if not isinstance(node, ast.Dict):
    return []
  return [(k.value, v) for k, v in zip(node.keys, node.values)
          if isinstance(k, ast.Constant)]


def uncommented_values(path):
  """Keys of COMMON / PER_TASK rows whose value has no source comment.

  A value counts as cited when a comment sits on one of the lines the
  key-value pair spans, or when the line just above the key is a comment.
  """
  text = path.read_text()
  lines = text.split("\n")
  comments = [tok.start for tok in
              tokenize.generate_tokens(io.StringIO(text).readline)
              if tok.type == tokenize.COMMENT]
  comment_lines = {row for row, _ in comments}
  # Lines holding nothing but a comment (a comment above a key).
  own_lines = {row for row, col in comments
               if not lines[row - 1][:col].strip()}
  rows = []
  for stmt in ast.parse(text).body:
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
      continue
    target = getattr(stmt.targets[0], "id", None)
    if target == "COMMON":
      rows.append(("COMMON", stmt.value))
    elif target == "PER_TASK":
      for task, row in _literal_values(stmt.value):
        rows.append((task, row))
  missing = []
  for row_name, row in rows:
    if isinstance(row, ast.Constant) and row.value is None:
      continue
    for k_node, value in zip(row.keys, row.values):
      if not isinstance(k_node, ast.Constant):
        continue
      trailing = set(range(k_node.lineno, value.end_lineno + 1))
      if not (trailing & comment_lines or k_node.lineno - 1 in own_lines):
        missing.append(f"{row_name}.{k_node.value}")
  return missing


class TablesTest(parameterized.TestCase):

  def test_every_module_file_is_listed_in_papers(self):
    # Given the table modules on disk.
    files = sorted(p.stem for p in TABLES_DIR.glob("*.py")
                   if not p.name.startswith("_"))
    # Then PAPERS lists exactly them.
    self.assertEqual(files, sorted(tables.PAPERS))

  @parameterized.parameters(*tables.PAPERS)
  def test_source_pins_a_commit_per_repository(self, name):
    # Given a table module's SOURCE.
    source = load(name).SOURCE
    # Then it names at least one repository, each with a full commit hash
    # and the files read.
    self.assertNotEmpty(source)
    for repo, entry in source.items():
      self.assertRegex(repo, REPO.pattern + "$")
      self.assertRegex(entry["commit"], HEX40.pattern + "$",
                       msg=f"{name}: {repo} commit")
      self.assertNotEmpty(entry["paths"], msg=f"{name}: {repo} paths")
      for path in entry["paths"]:
        self.assertIsInstance(path, str)

  @parameterized.parameters(*tables.PAPERS)
  def test_six_tasks_each_a_row_or_a_reason(self, name):
    # Given a table module.
    module = load(name)
    # Then TASKS has the six LRA tasks; a missing one has a reason.
    self.assertEqual(tuple(module.TASKS), tables.LRA_TASKS)
    self.assertEqual(tuple(module.PER_TASK), tables.LRA_TASKS)
    for task, row in module.TASKS.items():
      if row is None:
        self.assertIsNone(module.PER_TASK[task])
        self.assertIsInstance(module.UNAVAILABLE.get(task), str,
                              msg=f"{name}.{task} is None without a reason")
        self.assertNotEmpty(module.UNAVAILABLE[task].strip())
      else:
        self.assertNotIn(task, module.UNAVAILABLE)
        # TASKS is the merge of COMMON and the task's row, nothing else.
        self.assertEqual(row, {**module.COMMON, **module.PER_TASK[task]})

  @parameterized.parameters(*tables.PAPERS)
  def test_only_the_shared_key_vocabulary(self, name):
    # Given every row of a table.
    module = load(name)
    rows = [("COMMON", module.COMMON)] + [
        (t, r) for t, r in module.PER_TASK.items() if r is not None]
    # Then each key is one of tables.KEYS.
    for row_name, row in rows:
      unknown = sorted(set(row) - set(tables.KEYS))
      self.assertEmpty(unknown, msg=f"{name}.{row_name}: unknown keys")

  @parameterized.parameters(*tables.PAPERS)
  def test_alternatives_use_tasks_and_the_key_vocabulary(self, name):
    # Given a module's alternative releases (e.g. S4D at tag v3.0.0).
    alternatives = getattr(load(name), "ALTERNATIVES", {})
    # Then each names LRA tasks (or "all") and only vocabulary keys.
    for release, rows in alternatives.items():
      self.assertLessEqual(set(rows), set(tables.LRA_TASKS) | {"all"},
                           msg=f"{name}.{release}")
      for task, row in rows.items():
        unknown = sorted(set(row) - set(tables.KEYS))
        self.assertEmpty(unknown, msg=f"{name}.{release}.{task}")

  @parameterized.parameters(*tables.PAPERS)
  def test_every_stated_value_has_a_source_comment(self, name):
    # Given the module's source text.
    path = TABLES_DIR / f"{name}.py"
    # Then no COMMON / PER_TASK value lacks a comment beside or above it.
    self.assertEmpty(uncommented_values(path))

  @parameterized.parameters(*tables.PAPERS)
  def test_categorical_values_are_from_their_vocabularies(self, name):
    # Given every complete row.
    for task, row in load(name).TASKS.items():
      if row is None:
        continue
      where = f"{name}.{task}"
      # Then categorical keys take their documented values and numbers are
      # in range.
      if "norm" in row:
        self.assertIn(row["norm"], NORMS, msg=where)
      if "pooling" in row:
        self.assertIn(row["pooling"], POOLINGS, msg=where)
      if row.get("warmup_unit") is not None:
        self.assertIn(row["warmup_unit"], WARMUP_UNITS, msg=where)
      if row.get("warmup_unit") == "fraction":
        self.assertBetween(row["warmup"], 0.0, 1.0, msg=where)
      acc = row.get("reported_test_acc")
      if acc is not None:
        self.assertBetween(acc, 0.0, 100.0, msg=where)
      if row.get("bn_momentum") is not None:
        self.assertBetween(row["bn_momentum"], 0.0, 1.0, msg=where)
      for key in ("lr", "ssm_lr", "weight_decay", "dropout", "dt_min",
                  "dt_max", "batch_size", "epochs", "steps", "num_layers",
                  "width"):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
          self.assertGreaterEqual(value, 0, msg=f"{where}.{key}")
      if isinstance(row.get("dt_min"), float) and isinstance(
          row.get("dt_max"), float):
        self.assertLess(row["dt_min"], row["dt_max"], msg=where)

  def test_s5_lr_is_lr_factor_times_ssm_lr(self):
    # Given S5's rows: the scripts set ssm_lr_base and lr_factor, and
    # s5/train.py sets lr = lr_factor * ssm_lr.
    for task, row in load("s5").TASKS.items():
      # Then the stated lr is that product.
      self.assertTrue(
          math.isclose(row["lr"], row["lr_factor"] * row["ssm_lr"],
                       rel_tol=1e-12), msg=task)

  def test_s5_param_groups_follow_opt_config_and_dt_global(self):
    # Given S5's rows.
    for task, row in load("s5").TASKS.items():
      ssm = set(row["param_groups"]["ssm"]["params"])
      # Then the SSM group holds the eigenvalues, B only under "standard",
      # and the log-step unless dt_global moved it to the regular group.
      self.assertLessEqual({"Lambda_re", "Lambda_im"}, ssm, msg=task)
      self.assertEqual("B" in ssm, row["opt_config"] == "standard",
                       msg=task)
      self.assertEqual("log_step" in ssm, not row["dt_global"], msg=task)
      self.assertEqual("none" in row["param_groups"],
                       row["opt_config"] == "BandCdecay", msg=task)

  def test_uncommented_values_finds_a_missing_comment(self):
    # Given a table text with one uncited value.
    path = self.create_tempfile(
        "t.py", content=("COMMON = {\n"
                         "    'lr': 0.1,  # cited:1\n"
                         "    'b1': 0.9,\n"
                         "}\n"
                         "PER_TASK = {'listops': None}\n")).full_path
    # Then the checker reports exactly that value.
    self.assertEqual(uncommented_values(pathlib.Path(path)), ["COMMON.b1"])


# Config file -> the table it reads (lru_lra.py takes S5's sizes and
# optimisation; its rings are the LRU paper's, see its docstring).
CONFIG_TABLES = {"s5_lra.py": "s5", "s4_lra.py": "s4", "s4d_lra.py": "s4d",
                 "spiking_ssm_lra.py": "spiking_ssm",
                 "loongspike_lra.py": "loongspike", "lru_lra.py": "s5"}
# Parameter names of the released code -> the role spike_ssm gives it.
RELEASED_ROLES = {"Lambda_re": "dynamics", "Lambda_im": "dynamics",
                  "A_real": "dynamics", "A_imag": "dynamics",
                  "log_A_real": "dynamics", "w": "dynamics",
                  "log_step": "step", "log_dt": "step", "inv_dt": "step",
                  "B": "input", "C": "output"}


# Our loaders' vocabularies (pixels are continuous for the SSM configs).
VOCAB_SIZES = {"listops": listops.VOCAB_SIZE, "text": lra.BYTE_VOCAB_SIZE,
               "retrieval": lra.BYTE_VOCAB_SIZE}
# A table's pooling -> ours: our "last" pools the last valid position, so it
# is the release's "last_valid" (S4 v1 Text) and its "last" (Pathfinder,
# unpadded) alike.
OUR_POOLING = {"mean": "mean", "masked_mean": "masked_mean", "last": "last",
               "last_valid": "last"}


def _expected_group(group, ssm_lr):
  """Our group for a released group's (lr, weight decay)."""
  lr, wd = group["lr"], group["weight_decay"]
  if isinstance(lr, float):  # A layer's own rate: the table's ssm_lr.
    assert lr == ssm_lr, (lr, ssm_lr)
    lr = "ssm_lr"
  decayed = wd == "weight_decay"
  assert decayed or wd == 0.0, wd
  return {("ssm_lr", False): "ssm", ("ssm_lr", True): "ssm_decay",
          ("lr", False): "no_decay", ("lr", True): "default"}[(lr, decayed)]


def _table_cases():
  return [(f"{name[:-len('_lra.py')]}_{task}", name, paper, task)
          for name, paper in CONFIG_TABLES.items()
          for task in tables.LRA_TASKS]


class ConfigsFollowTablesTest(parameterized.TestCase):
  """Each LRA config states the released table's values (no retyping)."""

  @parameterized.named_parameters(*_table_cases())
  def test_training_values_are_the_tables(self, name, paper, task):
    # Given a config of a task and the table row it reads.
    c = load_config(name, f"task={task}")
    row = load(paper).TASKS[task]
    # Then batch, epochs, rates, decay, Adam's constants, clipping and the
    # end of the schedule are the row's.
    self.assertEqual(c.data.global_batch_size, row["batch_size"])
    self.assertEqual(c.train.num_epochs, row["epochs"])
    for key in ("lr", "ssm_lr", "weight_decay", "b1", "b2", "eps",
                "grad_clip"):
      self.assertEqual(c.optim[key], row[key], msg=key)
    self.assertEqual(c.optim.end_lr_ratio * c.optim.lr, row["min_lr"])
    self.assertEqual(c.optim.schedule_steps, row.get("schedule_steps"))
    # And the warmup, resolved as the trainer does (an epoch is
    # len(train) // batch steps), is the row's in its unit.
    spe = config_lib.LRA_TRAIN_SIZES[task] // row["batch_size"]
    length = row.get("schedule_steps") or row["epochs"] * spe
    got = optim.resolve_warmup(c.optim, length, spe)
    want = {"steps": lambda w: w, "epochs": lambda w: w * spe,
            "fraction": lambda w: round(w * length)}[row["warmup_unit"]](
                row.get("warmup", 0))
    self.assertEqual(got, want)

  @parameterized.named_parameters(*_table_cases())
  def test_sizes_are_the_tables(self, name, paper, task):
    c = load_config(name, f"task={task}")
    row = load(paper).TASKS[task]
    kw = c.model.layer_kwargs
    for key in ("num_layers", "width", "norm", "prenorm"):
      self.assertEqual(c.model[key], row[key], msg=key)
    self.assertEqual(kw.state_size, row["state_size"])
    if name == "lru_lra.py":
      return  # The LRU has no step range or bidirectional form.
    self.assertEqual((kw.dt_min, kw.dt_max), (row["dt_min"], row["dt_max"]))
    self.assertEqual(kw.bidirectional, row["bidirectional"])
    spiking = paper in ("spiking_ssm", "loongspike")
    self.assertEqual(kw.dropout if spiking else c.model.dropout,
                     row["dropout"])
    if spiking:
      self.assertEqual((kw.tau, kw.vth_init),
                       (row["tau"], row["threshold_init"]))
    if paper == "loongspike":
      self.assertEqual((kw.num_terms, tuple(kw.omega_init),
                        tuple(kw.eta_init)),
                       (row["frac_terms"], row["omega_init"],
                        row["eta_init"]))

  @parameterized.named_parameters(
      *[c for c in _table_cases() if not c[1].startswith("lru")])
  def test_each_released_parameter_trains_in_its_released_group(
      self, name, paper, task):
    # Given the config's grouping and the row's released parameter groups.
    c = load_config(name, f"task={task}")
    row = load(paper).TASKS[task]
    groups = optim.config_groups(c.optim)
    # Then every SSM parameter the release lists by name (eigenvalues, step,
    # B, C) lands in the group with the release's rate and weight decay;
    # the ones it leaves in the main group are in ours (global rate, decay).
    listed = {}
    for group in row["param_groups"].values():
      if isinstance(group["params"], tuple):
        for param in group["params"]:
          role = RELEASED_ROLES[param.split(" ")[0]]
          listed[role] = _expected_group(group, row["ssm_lr"])
    roles = ["dynamics", "step", "input", "output"]
    if row["trainable_b"] is False:
      # No B parameter in the release (B = 1) nor in ours
      # (test_fixed_b_is_no_parameter): no group to compare.
      roles.remove("input")
    for role in roles:
      ours = groups[role] or "default"  # None: by shape; B, C are matrices.
      self.assertEqual(ours, listed.get(role, "default"),
                       msg=f"{role} ({c.optim.grouping}, dt_global="
                           f"{c.optim.dt_global})")

  @parameterized.named_parameters(*_table_cases())
  def test_model_options_are_the_tables(self, name, paper, task):
    # Given a config of a task and the table row it reads.
    c = load_config(name, f"task={task}")
    row = load(paper).TASKS[task]
    m, kw = c.model, c.model.layer_kwargs
    # Then the token encoder is the row's: S5's one-hot dense layer with
    # the row's one-hot width where our vocabulary fits in it (else ours),
    # an embedding otherwise ("dense": continuous pixels, whose linear
    # encoder does not depend on the option).
    if row["token_encoder"] == "onehot_dense":
      self.assertEqual(m.token_encoder, "onehot_dense")
      width, ours = row["encoder_vocab"], VOCAB_SIZES[task]
      self.assertEqual(m.onehot_dim,
                       width if width is not None and width >= ours
                       else None)
    else:
      self.assertIn(row["token_encoder"], ("embedding", "dense"))
      self.assertEqual((m.token_encoder, m.onehot_dim), ("embed", None))
    # And pooling, tied dropout and batch-norm momentum are the row's.
    self.assertEqual(m.pooling, OUR_POOLING[row["pooling"]])
    self.assertEqual(m.dropout_tied, row["dropout_tied"])
    self.assertEqual(m.bn_momentum, row["bn_momentum"])
    # And so are the B clip and a fixed B, where the layer has them.
    layer_options = zoo.layer_options(m.layer)
    for key in ("b_clip", "trainable_b"):
      if key in layer_options:
        self.assertEqual(kw[key], row[key], msg=key)
    # And the released code's quirks are off (the paper's behaviour).
    self.assertFalse(m.discard_postnorm)
    if paper in ("spiking_ssm", "loongspike"):
      self.assertEqual((kw.dropout_twice, kw.eval_mode, kw.sdn_topology),
                       (False, "iterative", "paper"))

  @parameterized.named_parameters(
      *[c for c in _table_cases()
        if c[1].startswith(("s4", "spiking", "loong"))])
  def test_fixed_b_is_no_parameter(self, name, paper, task):
    # Given a config's layer at a tiny width.
    c = load_config(name, f"task={task},smoke")
    row = load(paper).TASKS[task]
    layer = hk.transform_with_state(lambda x: zoo.layer_factory(
        c.model.layer, **c.model.layer_kwargs.to_dict())()(x))
    x = jax.ShapeDtypeStruct((1, 4, 2), jnp.float32)
    params, _ = jax.eval_shape(layer.init, jax.random.PRNGKey(0), x)
    names = {k for module in params.values() for k in module}
    # Then B is a trained parameter exactly where the release trains it.
    self.assertEqual("b" in names, row["trainable_b"], msg=sorted(names))

  def test_transformer_model_options_are_the_tables(self):
    for task in tables.LRA_TASKS:
      m = load_config("transformer_lra.py", f"task={task}").model
      row = load("lra_transformer").TASKS[task]
      self.assertEqual((m.token_encoder, m.onehot_dim), ("embed", None))
      self.assertEqual(m.dropout_tied, row["dropout_tied"])
      # [CLS] is not offered: the masked mean stands in (its docstring).
      self.assertEqual(m.pooling, "masked_mean" if row["pooling"] == "cls"
                       else OUR_POOLING[row["pooling"]], msg=task)

  def test_our_vocabulary_sizes_are_the_loaders(self):
    self.assertEqual(config_lib.LRA_VOCAB_SIZES,
                     {"listops": listops.VOCAB_SIZE,
                      "text": lra.BYTE_VOCAB_SIZE,
                      "retrieval": lra.BYTE_VOCAB_SIZE})

  def test_s5_grouping_names_are_the_scripts(self):
    for task in tables.LRA_TASKS:
      c = load_config("s5_lra.py", f"task={task}")
      row = load("s5").TASKS[task]
      self.assertEqual((c.optim.grouping, c.optim.dt_global),
                       (row["opt_config"], row["dt_global"]))


if __name__ == "__main__":
  absltest.main()
