"""The import layers of docs/architecture.md ("Layers"), checked on the source with `ast`.

Imports flow downward: `api` -> `core` -> stage packages -> `providers`, `store`. Every
import counts, those under `if TYPE_CHECKING:` and inside functions included: an
annotation-only import still ties two modules together. A rule broken on purpose goes in
KNOWN_VIOLATIONS with its reason, and the entry must go when the import does.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import corral

ROOT = Path(corral.__file__).parent
STAGES = frozenset({"privacy", "cache", "context", "routing", "governance", "observe", "cost", "jobs",
                    "batches", "incidents", "webhooks"})
# The composition root and the edges.
TOP = frozenset({"api", "gateway", "lifecycle", "maintenance", "worker", "cli", "banner"})
# Plain value types a settings module may name (they import nothing but `core`).
VALUE_MODULES = frozenset({"corral.cost.rates", "corral.privacy.types", "corral.governance.profiles"})
# (importer, imported) -> why it is tolerated for now. Remove an entry with its import.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT.parent)}:{self.line}: {self.importer} imports {self.imported}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The corral module an import of `name` loads (a name inside a module: that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, package: str) -> Iterator[str]:
    """Dotted names an import statement refers to, relative imports made absolute."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _imports() -> list[Import]:
    out: list[Import] = []
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, package):
                module = _resolve(target) if target.startswith("corral") else None
                if module and module != name and not name.startswith(module + "."):
                    out.append(Import(name, module, path, getattr(node, "lineno", 0)))
    return out


IMPORTS = _imports()


def _package(module: str) -> str:
    """'corral.routing.router' -> 'routing'; top-level modules are their own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_settings(module: str) -> bool:
    return module in ("corral.config", "corral.config_secrets") or module.endswith(".settings")


def _broken(rule: str, allowed: object) -> list[str]:
    """Imports that break `allowed(importer, imported)`, minus the known ones."""
    bad = [imp for imp in IMPORTS if not allowed(imp.importer, imp.imported)]  # type: ignore[operator]
    return [f"{imp} ({rule})" for imp in bad if (imp.importer, imp.imported) not in KNOWN_VIOLATIONS]


def test_core_imports_no_other_corral_package() -> None:
    def allowed(src: str, dst: str) -> bool:
        return _package(src) != "core" or _package(dst) in ("core", "")

    assert _broken("core is the bottom layer", allowed) == []


def test_stage_packages_never_import_the_edges() -> None:
    def allowed(src: str, dst: str) -> bool:
        return _package(src) not in STAGES or _package(dst) not in TOP

    assert _broken("a stage never imports api, gateway or cli", allowed) == []


def test_providers_import_neither_store_nor_stages_nor_edges() -> None:
    def allowed(src: str, dst: str) -> bool:
        return _package(src) != "providers" or _package(dst) not in {"store", *STAGES, *TOP}

    assert _broken("providers sit below the stages and know no store", allowed) == []


def test_store_imports_only_itself() -> None:
    def allowed(src: str, dst: str) -> bool:
        return _package(src) != "store" or _package(dst) in ("store", "")

    assert _broken("store knows tables, not requests", allowed) == []


def test_settings_modules_import_only_settings_core_and_values() -> None:
    def allowed(src: str, dst: str) -> bool:
        if not _is_settings(src):
            return True
        return _is_settings(dst) or _package(dst) in ("core", "") or dst in VALUE_MODULES

    assert _broken("settings import no feature runtime", allowed) == []


def test_value_modules_import_only_core() -> None:
    def allowed(src: str, dst: str) -> bool:
        return src not in VALUE_MODULES or _package(dst) in ("core", "")

    assert _broken("a value module is a leaf", allowed) == []


def test_only_the_store_imports_redis() -> None:
    found = []
    for name, path in MODULES.items():
        if _package(name) == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if any(t == "redis" or t.startswith("redis.") for t in _targets(node, "")):
                found.append(f"{path.relative_to(ROOT.parent)}:{getattr(node, 'lineno', 0)}")
    assert found == [], "catch corral.store.KVUnavailable instead of the client's errors"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for imp in IMPORTS:
        graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_type_checking_imports_included() -> None:
    assert [" <-> ".join(c) for c in _cycles()] == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above is only worth something if it can fail."""
    IMPORTS.append(Import("corral.core.types", "corral.core.errors", ROOT, 0))
    IMPORTS.append(Import("corral.core.errors", "corral.core.types", ROOT, 0))
    try:
        assert ["corral.core.errors", "corral.core.types"] in _cycles()
    finally:
        del IMPORTS[-2:]


def test_known_violations_are_still_real() -> None:
    """An entry whose import is gone must be removed, so the list only ever shrinks."""
    present = {(imp.importer, imp.imported) for imp in IMPORTS}
    assert [pair for pair in KNOWN_VIOLATIONS if pair not in present] == []


def _loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_reading_configuration_loads_no_feature_runtime() -> None:
    loaded = _loaded_by("import corral.config")
    runtime = {"aiohttp", "redis", "phonenumbers", "opentelemetry", "corral.observe.alerts",
               "corral.observe.tracing", "corral.privacy.policy", "corral.privacy.detect"}
    assert sorted(runtime & loaded) == []


def test_reading_configuration_loads_no_store() -> None:
    loaded = _loaded_by("import corral.config")
    assert sorted({"sqlalchemy", "corral.store"} & loaded) == []
