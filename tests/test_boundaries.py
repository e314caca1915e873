"""Layering: the library never reaches into serve/ or cluster/, they use only its public
names, and the CLI reports a component that fails to load instead of hiding it."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

OCR_RAY = str(REPO / ".venv" / "bin" / "ocr-ray")


def _imports(package: str) -> dict[str, set[str]]:
    """Module file -> every module name it imports (``from X import y`` gives X and X.y)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(REPO))] = names
    return found


def test_the_library_imports_neither_serve_nor_cluster() -> None:
    leaks = {
        module: sorted(n for n in names if n.split(".")[0] in ("serve", "cluster"))
        for module, names in _imports("ocr_ray").items()
    }
    assert {m: n for m, n in leaks.items() if n} == {}


@pytest.mark.parametrize("package", ["serve", "cluster"])
def test_components_use_only_public_library_names(package: str) -> None:
    private = {
        module: sorted(n for n in names if n.startswith("ocr_ray.") and _private(n.split(".")[1]))
        for module, names in _imports(package).items()
    }
    assert {m: n for m, n in private.items() if n} == {}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _component(tmp_path: Path, name: str, target: str) -> dict[str, str]:
    """An installed distribution (on PYTHONPATH) declaring one ocr_ray.commands entry."""
    info = tmp_path / f"{name}_component-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-component\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ocr_ray.commands]\n{name} = {target}\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OCR_RAY, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO
    )


def test_installed_components_add_their_commands_without_warnings() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    assert "serve" in done.stdout and "cluster" in done.stdout
    assert "warning" not in done.stderr


def test_a_broken_component_is_reported_not_hidden(tmp_path: Path) -> None:
    env = _component(tmp_path, "broken", "serve.no_such_module:add_command")
    listed = _cli("jobs", "--limit", "1", env=env)
    assert "warning: the 'broken' component" in listed.stderr
    assert "No module named 'serve.no_such_module'" in listed.stderr
    called = _cli("broken", env=env)
    assert called.returncode == 3, called.stderr  # an internal error, not "not installed"
    assert "failed to load" in called.stderr


def test_a_component_missing_its_extra_says_what_to_install(tmp_path: Path) -> None:
    env = _component(tmp_path, "extra", "not_an_installed_package_xyz:add_command")
    assert "warning" not in _cli("--help", env=env).stderr
    called = _cli("extra", "anything", env=env)
    assert called.returncode == 2
    assert "pip install 'ocr-ray[extra]'" in called.stderr
