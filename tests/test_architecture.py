"""Data flows one way: each folder of the package is a layer, and a module imports only from
its own layer and those below. Modules are found by walking the package, so a new module is
covered the moment it exists; its layer is its folder.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "linreg"
BENCH = PACKAGE.parent / "bench"

# Lowest first. Top-level modules of linreg/ are the core (config, data, model, run, env, ...).
LAYERS = ("core", "targets", "engines", "results", "compare", "suites", "report", "jobs", "cli")
# Third-party packages a layer may not import, with everything below the layer that adds them.
PRESENTATION = {"pandas", "plotly", "kaleido"}
TERMINAL = {"typer", "rich", "click"}
FORBIDDEN = {
    layer: (PRESENTATION | TERMINAL)
    if LAYERS.index(layer) < LAYERS.index("report")
    else TERMINAL
    if layer != "cli"
    else set()
    for layer in LAYERS
}
# The entry point `python -m linreg` starts the CLI: the one module allowed above its folder.
ENTRY_POINTS = {"linreg.__main__": "cli"}


def module_name(root: Path, file: Path) -> str:
    parts = list(file.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(root: Path, module: str) -> str:
    """The folder under linreg/ that holds the module; the core for linreg/*.py itself."""
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    if len(parts) >= 2 and (root / parts[1]).is_dir():
        return parts[1]
    return "core"


def imports_of(root: Path, file: Path) -> list[str]:
    """Every module the file imports, at the top or inside a function, relative ones resolved."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    here = module_name(root, file).split(".")
    if file.name != "__init__.py":
        here = here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append(module)
            # `from linreg.report import figures` imports the module linreg.report.figures.
            found.extend(f"{module}.{alias.name}" for alias in node.names)
    return found


def violations(root: Path) -> list[str]:
    bench_modules = {p.stem for p in BENCH.glob("*.py")} | {"bench"}
    problems = []
    for file in sorted(root.rglob("*.py")):
        module = module_name(root, file)
        layer = layer_of(root, module)
        for imported in imports_of(root, file):
            top = imported.split(".")[0]
            if top == "linreg":
                if not _exists(root, imported):
                    continue  # `from linreg.x import name`: the name is not a module
                target = layer_of(root, imported)
                if LAYERS.index(target) > LAYERS.index(layer):
                    problems.append(f"{module} ({layer}) imports {imported} ({target})")
            elif top in FORBIDDEN[layer]:
                problems.append(f"{module} ({layer}) imports {top}")
            elif top in bench_modules:
                problems.append(f"{module} imports the bench suite's {top}")
    return problems


def _exists(root: Path, module: str) -> bool:
    path = root.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_every_module_imports_only_its_layer_and_those_below():
    assert violations(PACKAGE) == []


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (inside functions too)."""
    graph: dict[str, set[str]] = {}
    for file in sorted(root.rglob("*.py")):
        module = module_name(root, file)
        graph[module] = {
            imported
            for imported in imports_of(root, file)
            if imported.split(".")[0] == root.name and _exists(root, imported)
            and imported != module
        }  # fmt: skip
    return graph


def import_circles(root: Path) -> list[list[str]]:
    """The circles of the import graph: its strongly connected components of two or more
    modules (Tarjan's algorithm), each sorted."""
    graph = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_module_imports_itself_through_others():
    """No import circle, through imports inside functions either: each module can be read
    knowing only the modules it imports."""
    assert import_circles(PACKAGE) == []


def test_a_planted_import_circle_is_caught(tmp_path):
    copy = tmp_path / "linreg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "results" / "kinds.py"
    target.write_text(target.read_text(encoding="utf-8") + "\ndef f():\n"
                      "    from linreg.results import load\n")  # fmt: skip
    assert any({"linreg.results.kinds", "linreg.results.load"} <= set(c)
               for c in import_circles(copy))  # fmt: skip


def test_every_folder_of_the_package_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(LAYERS) - {"core"}


@pytest.mark.parametrize(
    ("module", "planted", "expected"),
    [
        ("compare/runs.py", "import pandas", "linreg.compare.runs (compare) imports pandas"),
        ("results/files.py", "from linreg.report import figures",
         "linreg.results.files (results) imports linreg.report.figures (report)"),
        ("config.py", "def f():\n    from linreg.cli import main\n",
         "linreg.config (core) imports linreg.cli (cli)"),
        ("engines/eager.py", "import rich.table", "linreg.engines.eager (engines) imports rich"),
    ],
)  # fmt: skip
def test_a_planted_upward_import_is_caught(tmp_path, module, planted, expected):
    copy = tmp_path / "linreg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + planted + "\n")
    assert expected in violations(copy)


def test_the_core_loads_nothing_above_it_when_it_trains():
    """At run time too: importing every core module and training loads no upper layer."""
    core = sorted(
        module_name(PACKAGE, f)
        for f in PACKAGE.rglob("*.py")
        if layer_of(PACKAGE, module_name(PACKAGE, f)) in ("core", "engines")
    )
    upper = [f"linreg.{layer}" for layer in LAYERS if layer not in ("core", "engines")]
    forbidden = upper + sorted(PRESENTATION | TERMINAL) + ["bench", "measure", "training"]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in core)
        + "from linreg.engines import train\nfrom linreg.config import TrainConfig\n"
        + "train(TrainConfig(epochs=2))\n"
        + f"print(','.join(m for m in {forbidden!r} if any(k == m or k.startswith(m + '.') "
        "for k in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_commands_that_read_bench_files_import_no_torch(tmp_path):
    """`linreg compare` and `linreg report` of benchmark sets only read files: torch's import,
    about a second, would be most of such a command's time."""
    sets = str(PACKAGE.parent / "results" / "baselines" / "amd-epyc-2c")
    commands = [
        ["compare", sets, sets],
        ["report", sets, "--out", str(tmp_path / "report.html")],
    ]
    code = (
        "import contextlib, io, sys\n"
        "from linreg.cli import main\n"
        f"for args in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        code = main(args)\n"
        "    print(args[0], code, 'torch' in sys.modules)\n"
    )
    # Run from elsewhere (so the results folder is not the checkout's), importing this
    # checkout's linreg whether or not it is installed.
    path = os.pathsep.join(filter(None, [str(PACKAGE.parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=env)  # fmt: skip
    assert out.stdout.splitlines() == ["compare 0 False", "report 0 False"]
