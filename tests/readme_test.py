"""The README stays true: its Quickstart and its library example."""

import pathlib
import re

from absl.testing import absltest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _blocks(language: str) -> list[str]:
  text = (ROOT / "README.md").read_text()
  return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


class ReadmeTest(absltest.TestCase):

  def test_quickstart_is_exactly_make_demo_then_make_test(self):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    self.assertEqual([c for c in commands if c], ["make demo", "make test"])
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
      self.assertRegex(makefile, rf"(?m)^{target}:")
    self.assertIn("make test", (ROOT / ".ci" / "run").read_text())

  def test_library_example_runs(self):
    (example,) = _blocks("python")
    namespace = {}
    # pylint: disable-next=exec-used
    exec(compile(example, "README.md", "exec"), namespace)
    # The example's outputs have the shapes its comments promise.
    self.assertEqual(namespace["spikes"].shape, (8, 1024, 32))
    self.assertEqual(namespace["y_train"].shape, (8, 1024, 32))
    self.assertEqual(namespace["y_eval"].shape, (8, 1024, 32))


if __name__ == "__main__":
  absltest.main()
