"""Layering: the library never reaches into serve/ or cluster/, they use only its public
names, and the CLI reports a component that fails to load instead of hiding it."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.plugin_dist import write_dist

OCR_RAY = str(REPO / ".venv" / "bin" / "ocr-ray")


def _imports(package: str) -> dict[str, set[str]]:
    """Module file -> every module name it imports (``from X import y`` gives X and X.y),
    lazy imports inside functions included."""
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


# The library's layers, lowest first. A module may import its own unit (a package, or a
# top-level module) and the units of lower layers, never a higher or a sibling unit.
LAYERS = [
    {"exceptions", "_version", "settings", "accuracy"},
    {"models"},
    {"plugins"},  # the plugin interface and the entry-point registry
    {"engines", "formats", "wordboxes"},  # the built-in plugins, and the registry's front for each
    {"params"},  # the job parameters, declared once
    {"inputs", "store"},
    {"job", "page_view"},
    {"_cli_components"},
    {"api", "cli", "__init__"},
]
# What serve/ and cluster/ may import: the library's public modules.
PUBLIC = {"ocr_ray", *(f"ocr_ray.{m}" for m in ("api", "exceptions", "models", "params"))}
PUBLIC |= {f"ocr_ray.{m}" for m in ("plugins", "settings", "store", "accuracy", "page_view")}


def _unit(module: str) -> str | None:
    """The unit of an ``ocr_ray`` module name (its first part below ``ocr_ray``), or None
    for a name outside the library; a name of an attribute counts as its module's."""
    parts = module.split(".")
    if parts[0] != "ocr_ray":
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1] if _exists(parts[:2]) else "__init__"


def _exists(parts: list[str]) -> bool:
    base = REPO.joinpath(*parts)
    return base.is_dir() or base.with_suffix(".py").is_file()


def _layer(unit: str) -> int:
    return next(n for n, units in enumerate(LAYERS) if unit in units)


def test_every_library_unit_has_a_layer() -> None:
    units = {
        _unit("ocr_ray." + p.stem if p.is_file() else "ocr_ray." + p.name)
        for p in (REPO / "ocr_ray").iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert units <= set().union(*LAYERS)


def test_the_library_imports_only_downwards() -> None:
    wrong = {}
    for module, names in _imports("ocr_ray").items():
        own = _unit(
            "ocr_ray." + module.removeprefix("ocr_ray/").removesuffix(".py").replace("/", ".")
        )
        assert own is not None
        up = sorted(
            name
            for name in names
            if (unit := _unit(name)) is not None and unit != own and _layer(unit) >= _layer(own)
        )
        if up:
            wrong[module] = up
    assert wrong == {}


def test_no_module_of_the_library_imports_itself_in_a_cycle() -> None:
    graph = {
        _module(_dotted(path)): {_module(n) for n in names if n.startswith("ocr_ray.")}
        for path, names in _imports("ocr_ray").items()
    }
    cycles = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycles.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for name in sorted(graph.get(module, ())):
            if name != module and not module.startswith(name + "."):  # a package's own
                visit(name, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def _dotted(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_the_library_imports_neither_serve_nor_cluster() -> None:
    leaks = {
        module: sorted(n for n in names if n.split(".")[0] in ("serve", "cluster"))
        for module, names in _imports("ocr_ray").items()
    }
    assert {m: n for m, n in leaks.items() if n} == {}


@pytest.mark.parametrize("package", ["serve", "cluster", "tests/plugin_example.py"])
def test_components_use_only_public_library_names(package: str) -> None:
    private = {
        module: sorted(n for n in names if n.startswith("ocr_ray") and _module(n) not in PUBLIC)
        for module, names in _imports(package).items()
    }
    assert {m: n for m, n in private.items() if n} == {}


def _module(name: str) -> str:
    """The module a name of a module or of one of its attributes lies in."""
    parts = name.split(".")
    while len(parts) > 1 and not _exists(parts):
        parts.pop()
    return ".".join(parts)


def _component(tmp_path: Path, name: str, target: str) -> dict[str, str]:
    """An installed distribution (on PYTHONPATH) declaring one ocr_ray.commands entry
    (``target`` may name the extra it needs, as ``module:attr [extra]``)."""
    write_dist(tmp_path, f"{name}-component", {"ocr_ray.commands": {name: target}})
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
    env = _component(tmp_path, "extra", "not_an_installed_package_xyz:add_command [extra]")
    assert "warning" not in _cli("--help", env=env).stderr
    called = _cli("extra", "anything", env=env)
    assert called.returncode == 2
    # The extra the entry point declares, of the distribution that declares it.
    assert "pip install 'extra-component[extra]'" in called.stderr
