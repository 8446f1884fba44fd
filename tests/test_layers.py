"""The package's declared layers hold (pyproject.toml ``[tool.importlinter]``), and the check catches a backward import.

import-linter runs in a subprocess from the folder it checks, exactly as ``lint-imports`` would, so the
tests read the checkout's own ``genemail/`` and ``pyproject.toml`` (not an installed copy). The second
group copies the package to a temporary folder, adds one import that breaks a rule, and expects the
check to fail and to name that import. ``python -m tests.test_layers`` prints the debt counts that
docs/ARCHITECTURE.md quotes.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# `lint-imports` itself, run by this interpreter (its console script may not be on PATH).
LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(checkout: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on ``checkout``'s ``genemail`` package with its ``pyproject.toml``; writes no cache."""
    # A wide console keeps each reported import on one line; no colour codes in the captured text.
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "PYTHONUTF8": "1"}
    env.pop("PYTHONPATH", None)  # the checked folder alone provides `genemail`
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    """The part of import-linter's output that says what broke (everything when it failed otherwise)."""
    out = result.stdout + result.stderr
    start = out.find("Broken contracts")
    return out[start:] if start >= 0 else out


def test_declared_layers_hold() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, (
        "An import breaks the package's layers (pyproject.toml [tool.importlinter], docs/ARCHITECTURE.md).\n"
        + report(result)
    )
    assert "Contracts: 2 kept, 0 broken." in result.stdout, result.stdout


@pytest.fixture()
def package_copy(tmp_path: Path) -> Path:
    """A copy of ``genemail/`` and ``pyproject.toml`` that a test may break."""
    shutil.copytree(REPO_ROOT / "genemail", tmp_path / "genemail", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"\n{text}  # deliberately against the layers (tests/test_layers.py)\n")


# Each case touches a module that is sure to stay (a foundation or a package's __init__) and imports a whole
# package, so moving code inside the packages does not break the case.
@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        # a foundation reaching up into a stage
        ("taxonomy.py", "import genemail.generation",
         ["genemail.taxonomy is not allowed to import genemail.generation", "genemail.taxonomy -> genemail.generation"]),
        # an import hidden inside a function counts the same
        ("data/__init__.py", "def _late():\n    import genemail.segmentation",
         ["genemail.data is not allowed to import genemail.segmentation", "genemail.data -> genemail.segmentation"]),
        # independent siblings in one layer
        ("ratings/__init__.py", "import genemail.labels",
         ["genemail.ratings is not allowed to import genemail.labels", "genemail.ratings -> genemail.labels"]),
        # the Hub reaching into a stage below it: only the forbidden contract sees it
        ("hub/__init__.py", "import genemail.segmentation",
         ["genemail.hub is not allowed to import genemail.segmentation", "genemail.hub -> genemail.segmentation"]),
    ],
)
def test_a_backward_import_fails_and_is_named(
    package_copy: Path, module: str, line: str, expected: list[str]
) -> None:
    _append(package_copy / "genemail" / module, line)
    result = lint_imports(package_copy)
    out = report(result)
    assert result.returncode == 1, out
    for text in expected:
        assert text in out, out


def test_a_new_package_without_a_layer_fails(package_copy: Path) -> None:
    (package_copy / "genemail" / "writers").mkdir()
    (package_copy / "genemail" / "writers" / "__init__.py").write_text('"""A new package."""\n', encoding="utf-8")
    result = lint_imports(package_copy)
    out = report(result)
    assert result.returncode == 1, out
    assert "- genemail.writers" in out, out


def test_an_ignore_that_matches_nothing_fails(package_copy: Path) -> None:
    # Once a listed violation is fixed its ignore line must go, or the list would overstate the debt.
    pyproject = package_copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert "ignore_imports = [\n" in text
    stale = "genemail.errors -> genemail.taxonomy"  # errors imports nothing of GenEmail
    pyproject.write_text(text.replace("ignore_imports = [\n", f'ignore_imports = [\n    "{stale}",\n', 1), encoding="utf-8")
    result = lint_imports(package_copy)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"No matches for ignored import {stale}" in out, out


# --- the counts in docs/ARCHITECTURE.md: `python -m tests.test_layers` ---------------------------------


def package_imports(root: Path) -> list[tuple[str, str, int, bool]]:
    """Every import statement between GenEmail modules: (importer, imported, line, inside a function)."""
    found: list[tuple[str, str, int, bool]] = []
    for path in sorted((root / "genemail").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if parts[-1] == "__init__" else module.rpartition(".")[0]

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    found.extend((module, a.name, child.lineno, in_function) for a in child.names
                                 if a.name.split(".")[0] == "genemail")
                elif isinstance(child, ast.ImportFrom):
                    target = child.module or ""
                    if child.level:  # relative: resolve against the importer's package
                        base = package.split(".")[: len(package.split(".")) - child.level + 1]
                        target = ".".join(base + ([child.module] if child.module else []))
                    if target.split(".")[0] == "genemail":
                        found.append((module, target, child.lineno, in_function))
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def module_cycles(exclude_type_checking: bool) -> list[list[str]]:
    """Groups of GenEmail modules that import each other in a circle (Tarjan's strongly connected components)."""
    import grimp  # installed with import-linter (requirements-dev.txt)

    graph = grimp.build_graph("genemail", cache_dir=None, exclude_type_checking_imports=exclude_type_checking)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                groups.append(sorted([*group, v]))

    for module in edges:
        if module not in index:
            connect(module)
    return sorted(groups)


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    imports = package_imports(REPO_ROOT)
    inside = [i for i in imports if i[3]]
    print(f"import statements between genemail modules: {len(imports)}; inside functions: {len(inside)}")
    for label, exclude in (("all imports", False), ("without `if TYPE_CHECKING:` imports", True)):
        cycles = module_cycles(exclude)
        print(f"module cycles ({label}): {len(cycles)} groups, {sum(map(len, cycles))} modules")
        for group in cycles:
            print("   ", ", ".join(group))
