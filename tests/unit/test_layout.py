"""Import rules between packages (nothing imports upward; see README "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "vrthinker"

# package -> vrthinker packages / third-party modules it must not import
FORBIDDEN: dict[str, set[str]] = {
    "files.py": {"vrthinker", "torch", "transformers"},
    "video": {"vrthinker.data", "vrthinker.episode", "vrthinker.policy", "vrthinker.train", "vrthinker.eval",
              "vrthinker.serve", "vrthinker.cli", "torch", "transformers"},
    "data": {"vrthinker.episode", "vrthinker.policy", "vrthinker.train", "vrthinker.eval", "vrthinker.serve",
             "vrthinker.cli", "torch", "transformers"},
    "episode": {"vrthinker.policy", "vrthinker.train", "vrthinker.eval", "vrthinker.serve", "vrthinker.cli",
                "torch", "transformers"},
    "policy": {"vrthinker.train", "vrthinker.eval", "vrthinker.serve", "vrthinker.cli"},
    "train": {"vrthinker.eval", "vrthinker.serve", "vrthinker.cli"},
    "eval": {"vrthinker.train", "vrthinker.serve", "vrthinker.cli"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_layout(package):
    bad = []
    paths = [SRC / package] if package.endswith(".py") else sorted((SRC / package).rglob("*.py"))
    for path in paths:
        for name in _imports(path):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, "\n".join(bad)
