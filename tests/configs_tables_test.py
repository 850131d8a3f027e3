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

from configs import tables

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


if __name__ == "__main__":
  absltest.main()
