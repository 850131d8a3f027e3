"""Imports run one way (DESIGN.md): a room knows only the rooms below it.

  ops <- neurons <- ssm <- layers <- models <- training
  data stands apart (NumPy only); experimental (which also reads data) and
  nir sit on the cores;
  zoo sits on top and knows every room; nothing in spike_ssm imports zoo.

A room is a subpackage (`spike_ssm/ssm/`) or a top-level module
(`spike_ssm/zoo.py`). There is no whitelist: an import of a room above,
at module level or inside a function, fails; so does an import of another
room's private module (`spike_ssm.ssm._x` from outside `ssm/`).
"""

import ast
import pathlib

from absl.testing import absltest
from absl.testing import parameterized

PKG = pathlib.Path(__file__).resolve().parents[1] / "spike_ssm"

_CORES = {"ops", "neurons", "ssm", "layers"}
# Which rooms each room may import.
ALLOWED = {
    "ops": {"ops"},
    "neurons": {"ops", "neurons"},
    "ssm": {"ops", "neurons", "ssm"},
    "layers": _CORES,
    "models": _CORES | {"models"},
    "data": {"data"},
    "training": _CORES | {"models", "data", "training"},
    # data stands apart (NumPy only), so reading it runs nothing back up.
    "experimental": {"ops", "neurons", "ssm", "data", "experimental"},
    "nir": _CORES | {"nir"},
    "config_lib": {"config_lib"},
    "zoo": _CORES | {"models", "data", "training", "experimental", "nir",
                     "config_lib", "zoo"},
    # The package facade re-exports a few rooms; it is below the zoo.
    "__init__": {"ops", "neurons", "ssm", "data"},
}


def _room(path: pathlib.Path) -> str:
  first = path.relative_to(PKG).parts[0]
  return first[:-3] if first.endswith(".py") else first


def _imports(path: pathlib.Path):
  """`(room, module, line)` for every `spike_ssm.*` import in `path`."""
  tree = ast.parse(path.read_text())
  for node in ast.walk(tree):
    modules = []
    if isinstance(node, ast.ImportFrom) and node.module:
      if node.module == "spike_ssm":
        modules = [f"spike_ssm.{a.name}" for a in node.names]
      elif node.module.startswith("spike_ssm."):
        modules = [f"{node.module}.{a.name}" for a in node.names]
    elif isinstance(node, ast.Import):
      modules = [a.name for a in node.names
                 if a.name.startswith("spike_ssm.")]
    for module in modules:
      yield module.split(".")[1], module, node.lineno


def _files():
  return sorted(PKG.rglob("*.py"))


class LayeringTest(parameterized.TestCase):

  def test_every_room_has_a_place(self):
    rooms = {_room(p) for p in _files()}
    self.assertEmpty(rooms - set(ALLOWED),
                     "add new rooms to ALLOWED, in their place")

  def test_rooms_import_only_rooms_below(self):
    for path in _files():
      room = _room(path)
      rel = path.relative_to(PKG)
      for target, module, line in _imports(path):
        self.assertIn(target, ALLOWED[room],
                      f"{rel}:{line} imports {module}: `{room}` may import "
                      f"only {sorted(ALLOWED[room])}")

  def test_nothing_imports_the_zoo(self):
    for path in _files():
      if _room(path) == "zoo":
        continue
      for target, module, line in _imports(path):
        self.assertNotEqual(target, "zoo",
                            f"{path.relative_to(PKG)}:{line} imports {module}")

  def test_no_private_module_of_another_room(self):
    for path in _files():
      room = _room(path)
      for target, module, line in _imports(path):
        private = any(part.startswith("_") and not part.startswith("__")
                      for part in module.split(".")[2:])
        self.assertFalse(
            private and target != room,
            f"{path.relative_to(PKG)}:{line} imports {module}, a private "
            f"module of `{target}`")


if __name__ == "__main__":
  absltest.main()
