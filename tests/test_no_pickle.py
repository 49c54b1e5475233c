"""No code runs from data: the source never unpickles, never loads YAML unsafely and never evals.

An `ast` scan of the package, plugins/, benchmarks/ and scripts/ that names file:line for each use of pickle-like
modules, torch.load without weights_only=True, np.load with allow_pickle, unsafe YAML loaders (yaml.load
passes only with a SafeLoader or a subclass of one defined in the same module), the eval and exec
builtins, pandas.read_pickle and joblib.load. Method calls (`model.eval()`) are not builtins.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("ar_perception", "plugins", "benchmarks", "scripts")

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "marshal", "shelve"}
UNSAFE_CALLS = {
    "yaml.load": "yaml.load (use yaml.safe_load)",
    "yaml.load_all": "yaml.load_all (use yaml.safe_load_all)",
    "yaml.full_load": "yaml.full_load (use yaml.safe_load)",
    "yaml.full_load_all": "yaml.full_load_all (use yaml.safe_load_all)",
    "yaml.unsafe_load": "yaml.unsafe_load (use yaml.safe_load)",
    "yaml.unsafe_load_all": "yaml.unsafe_load_all (use yaml.safe_load_all)",
    "pandas.read_pickle": "pandas.read_pickle",
    "joblib.load": "joblib.load",
    "builtins.eval": "eval()",
    "builtins.exec": "exec()",
}
SAFE_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"}
UNSAFE_NAMES = {
    f"yaml.{n}": f"yaml.{n}"
    for n in ("Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader", "UnsafeConstructor")
}


class _Scanner(ast.NodeVisitor):
    def __init__(self, where: str):
        self.where = where
        self.aliases: dict[str, str] = {}  # local name -> dotted name it was imported as
        self.safe_loaders = set(SAFE_LOADERS)  # plus this module's own subclasses of them
        self.found: list[str] = []

    def flag(self, node: ast.expr | ast.stmt, what: str) -> None:
        self.found.append(f"{self.where}:{node.lineno}: {what}")

    def qualname(self, node: ast.AST) -> str | None:
        """The dotted name an expression refers to, through import aliases (None for anything else)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name.split(".")[0] in UNSAFE_MODULES:
                self.flag(node, f"import {a.name}")
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in UNSAFE_MODULES:
            self.flag(node, f"from {module} import ...")
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{module}.{a.name}"
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.bases and all(self.qualname(b) in self.safe_loaders for b in node.bases):
            self.safe_loaders.add(node.name)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = self.qualname(func)
        if isinstance(func, ast.Name) and func.id in ("eval", "exec") and func.id not in self.aliases:
            name = f"builtins.{func.id}"  # a bare call; attribute calls such as model.eval() are methods
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if name in ("torch.load", "torch.serialization.load"):
            value = kw.get("weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                self.flag(node, "torch.load without weights_only=True")
        elif name == "numpy.load" and "allow_pickle" in kw:
            value = kw["allow_pickle"]
            if not (isinstance(value, ast.Constant) and value.value is False):
                self.flag(node, "numpy.load with allow_pickle")
        elif name in ("yaml.load", "yaml.load_all"):
            loader = kw.get("Loader", node.args[1] if len(node.args) > 1 else None)
            if loader is None or self.qualname(loader) not in self.safe_loaders:
                self.flag(node, UNSAFE_CALLS[name])
        elif name in UNSAFE_CALLS:
            self.flag(node, UNSAFE_CALLS[name])
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load) and (name := self.qualname(node)) in UNSAFE_NAMES:
            self.flag(node, UNSAFE_NAMES[name])
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and self.aliases.get(node.id) in UNSAFE_NAMES:
            self.flag(node, UNSAFE_NAMES[self.aliases[node.id]])


def scan_source(text: str, where: str) -> list[str]:
    """'where:line: what' for every unsafe use in one Python source."""
    scanner = _Scanner(where)
    scanner.visit(ast.parse(text, filename=where))
    return scanner.found


def scan_tree(root: Path, folders: tuple[str, ...] = SCANNED) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            found += scan_source(path.read_text(), str(path.relative_to(root)))
    return found


def test_the_package_plugins_and_benchmarks_load_no_code_from_data() -> None:
    assert sum(1 for f in SCANNED for _ in (REPO / f).rglob("*.py")) > 50  # the scan sees the real tree
    found = scan_tree(REPO)
    assert not found, "unsafe deserialisation or eval in the source:\n" + "\n".join(found)


PLANTED = """\
import pickle
import cPickle as cp
from dill import loads
import marshal
import torch
import numpy as np
import numpy
import yaml
import pandas as pd
import joblib
from yaml import FullLoader
torch.load("a.pt")
torch.load("a.pt", weights_only=False)
np.load("a.npy", allow_pickle=True)
numpy.load("a.npy", allow_pickle=flag)
yaml.load(text)
yaml.load(text, Loader=yaml.Loader)
yaml.unsafe_load(text)
yaml.load(text, Loader=FullLoader)
eval("1 + 1")
exec("x = 1")
pd.read_pickle("a.pkl")
joblib.load("a.joblib")
yaml.full_load(text)
class Mine(yaml.Loader):
    pass
yaml.load(text, Loader=Mine)
"""

CLEAN = """\
import torch
import numpy as np
import yaml
model.eval()
runner.exec("x")
torch.load("a.pt", map_location="cpu", weights_only=True)
np.load("a.npy")
np.load("a.npy", allow_pickle=False)
yaml.safe_load(text)
yaml.safe_dump({})
ast.literal_eval("1")
class Strict(yaml.SafeLoader):
    pass
class Stricter(Strict):
    pass
yaml.load(text, Loader=Strict)
yaml.load(text, Stricter)
yaml.load(text, Loader=yaml.SafeLoader)
"""


def test_the_scanner_flags_every_planted_pattern(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text(PLANTED)
    (tmp_path / "pkg" / "clean.py").write_text(CLEAN)
    assert scan_tree(tmp_path, ("pkg",)) == [
        "pkg/bad.py:1: import pickle",
        "pkg/bad.py:2: import cPickle",
        "pkg/bad.py:3: from dill import ...",
        "pkg/bad.py:4: import marshal",
        "pkg/bad.py:12: torch.load without weights_only=True",
        "pkg/bad.py:13: torch.load without weights_only=True",
        "pkg/bad.py:14: numpy.load with allow_pickle",
        "pkg/bad.py:15: numpy.load with allow_pickle",
        "pkg/bad.py:16: yaml.load (use yaml.safe_load)",
        "pkg/bad.py:17: yaml.load (use yaml.safe_load)",
        "pkg/bad.py:17: yaml.Loader",
        "pkg/bad.py:18: yaml.unsafe_load (use yaml.safe_load)",
        "pkg/bad.py:19: yaml.load (use yaml.safe_load)",
        "pkg/bad.py:19: yaml.FullLoader",
        "pkg/bad.py:20: eval()",
        "pkg/bad.py:21: exec()",
        "pkg/bad.py:22: pandas.read_pickle",
        "pkg/bad.py:23: joblib.load",
        "pkg/bad.py:24: yaml.full_load (use yaml.safe_load)",
        "pkg/bad.py:25: yaml.Loader",
        "pkg/bad.py:27: yaml.load (use yaml.safe_load)",
    ]
