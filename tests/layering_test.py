"""Imports run one way (DESIGN.md): a package knows only the rooms below it.

ops <- neurons <- ssm <- layers / models <- training; data stands alone;
experimental and nir sit above the cores. Imports inside functions are
allowed only where listed in LAZY_UPWARD, each with its reason.
"""

import ast
import pathlib

from absl.testing import absltest
from absl.testing import parameterized

PKG = pathlib.Path(__file__).resolve().parents[1] / "spike_ssm"

# Which spike_ssm subpackages each one may import at module level.
ALLOWED = {
    "ops": {"ops"},
    "neurons": {"ops", "neurons"},
    "ssm": {"ops", "neurons", "ssm"},
    "layers": {"ops", "neurons", "ssm", "layers"},
    "models": {"ops", "neurons", "ssm", "layers", "models"},
    "data": {"data"},
    "training": {"ops", "neurons", "ssm", "layers", "models", "data",
                 "training"},
    # data stands apart (NumPy only), so reading it runs nothing back up.
    "experimental": {"ops", "neurons", "ssm", "data", "experimental"},
}

# Function-level upward imports, file -> the package it reaches for.
LAZY_UPWARD = {
    # A ChunkedSSM built from registry names needs the registry, which
    # names layers of every kind; module objects need nothing from above.
    ("ssm/chunked.py", "models"),
}


def _imports(path: pathlib.Path):
  """(subpackage, is_top_level) for every `spike_ssm.<sub>` import."""
  tree = ast.parse(path.read_text())
  top = {id(node) for node in tree.body}
  for node in ast.walk(tree):
    names = []
    if isinstance(node, ast.ImportFrom) and node.module:
      if node.module == "spike_ssm":
        names = [a.name for a in node.names]
      elif node.module.startswith("spike_ssm."):
        names = [node.module.split(".")[1]]
    elif isinstance(node, ast.Import):
      names = [a.name.split(".")[1] for a in node.names
               if a.name.startswith("spike_ssm.")]
    for name in names:
      yield name, id(node) in top


class LayeringTest(parameterized.TestCase):

  @parameterized.parameters(*sorted(ALLOWED))
  def test_package_imports_only_rooms_below(self, package):
    allowed = ALLOWED[package]
    for path in sorted((PKG / package).rglob("*.py")):
      rel = str(path.relative_to(PKG))
      for name, top_level in _imports(path):
        if name in allowed or name not in ALLOWED:
          continue  # Modules such as config_lib / nir are not rooms.
        self.assertFalse(top_level,
                         f"{rel} imports spike_ssm.{name} at module level")
        self.assertIn((rel, name), LAZY_UPWARD,
                      f"{rel} imports spike_ssm.{name} inside a function")


if __name__ == "__main__":
  absltest.main()
