"""The transports meet the store in one module: `copy` and every other adapter (the registry's
above all) import nothing of `dockyard.store`, function-level imports included; the engine joins
them through transport/store.py."""

from __future__ import annotations

import ast
from pathlib import Path

TRANSPORT = Path(__file__).resolve().parents[2] / "dockyard" / "transport"


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_only_the_store_adapter_imports_the_store() -> None:
    modules = sorted(TRANSPORT.rglob("*.py"))
    assert TRANSPORT / "registry" / "client.py" in modules  # the walk sees the registry transport
    offenders = {str(p.relative_to(TRANSPORT)): sorted(m for m in _imports(p) if m.split(".")[:2] == ["dockyard", "store"])
                 for p in modules if p != TRANSPORT / "store.py"}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert any(m.startswith("dockyard.store") for m in _imports(TRANSPORT / "store.py"))
