"""The trace types our figures use, read from the code, and those of our plotly.js bundle, read
from its recipe (tools/plotly-bundle) and from the built file's banner."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import plotly
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType

from . import components

RECIPE = components.ROOT / "tools" / "plotly-bundle"
BUNDLE = components.ROOT / "static" / "vendor" / "plotly-layerviz.min.js"
PLOTLY_PY_BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

# Every trace class of plotly.graph_objects by its name (``Treemap``) -> its type (``treemap``).
TRACE_CLASSES = {
    name: cls._path_str
    for name in dir(go)
    if isinstance(cls := getattr(go, name), type) and issubclass(cls, BaseTraceType)
}
TRACE_TYPES = set(TRACE_CLASSES.values())
BANNER = re.compile(r"/\*! plotly\.js v(?P<version>[\d.]+), traces: (?P<traces>[\w, ]+);")


def figure_trace_types(folder: Path = components.ROOT / "layerviz") -> dict[str, set[str]]:
    """Trace type -> the modules of ``folder`` that make one. Figures are built with
    plotly.graph_objects, so in a module that imports it a trace is one of its classes
    (``go.Treemap(...)``, or imported by name) or a figure's ``add_<type>`` method
    (``fig.add_bar(...)``)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        modules, classes = _graph_objects_names(tree)
        if not modules and not classes:
            continue
        for node in ast.walk(tree):
            kind = None
            if isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id in modules:
                    kind = TRACE_CLASSES.get(node.attr)
                elif node.attr.startswith("add_"):
                    kind = node.attr.removeprefix("add_")
            elif isinstance(node, ast.Name) and node.id in classes:
                kind = TRACE_CLASSES.get(classes[node.id])
            if kind in TRACE_TYPES:
                found.setdefault(kind, set()).add(str(path.relative_to(folder)))
    return found


def _graph_objects_names(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    """The names a module gives plotly.graph_objects (``go``), and the classes it imports from
    it (local name -> class name)."""
    modules: set[str] = set()
    classes: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "plotly.graph_objects" and alias.asname:
                    modules.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module == "plotly":
            modules.update(a.asname or a.name for a in node.names if a.name == "graph_objects")
        elif isinstance(node, ast.ImportFrom) and node.module == "plotly.graph_objects":
            classes.update({a.asname or a.name: a.name for a in node.names})
    return modules, classes


def recipe_trace_types() -> list[str]:
    """The traces tools/plotly-bundle/index.js registers, in its order."""
    entry = (RECIPE / "index.js").read_text()
    names = re.findall(r'require\("plotly\.js/lib/(\w+)"\)', entry)
    return [name for name in names if name != "core"]


def bundle_banner() -> tuple[str, list[str]]:
    """The plotly.js version and the traces the built file says it was built with."""
    match = BANNER.match(BUNDLE.read_text()[:1000])
    assert match, f"{BUNDLE} has no banner of tools/plotly-bundle/build.mjs"
    return match["version"], match["traces"].split(", ")


def plotly_py_version() -> str:
    """The plotly.js version the Python plotly package bundles (its file's header)."""
    match = re.search(r"plotly\.js v([\d.]+)", PLOTLY_PY_BUNDLE.read_text()[:500])
    assert match, f"{PLOTLY_PY_BUNDLE} names no plotly.js version"
    return match[1]


def recipe_versions() -> tuple[str, str]:
    """The plotly.js version package.json pins, and the one package-lock.json installs."""
    package = json.loads((RECIPE / "package.json").read_text())
    lock = json.loads((RECIPE / "package-lock.json").read_text())
    return (
        package["devDependencies"]["plotly.js"],
        lock["packages"]["node_modules/plotly.js"]["version"],
    )
