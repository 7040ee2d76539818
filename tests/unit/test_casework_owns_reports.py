"""Rule 10 of shared/ARCHITECTURE.md, kept by reading the code: only bot/casework changes a
report's status or deadlines, and only casework stores a new report."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")
CASEWORK = ROOT / "bot" / "casework"
# A report's lifecycle fields: whoever assigns one changes the report's state.
GUARDED = frozenset(
    {
        "status",
        "verify_due_at",
        "first_response_due_at",
        "completion_due_at",
        "status_before_question",
        "reopen_count",
        "verdict",
        "closed_at",
        "resolved_at",
    }
)
# Other tables have a ``status`` too; their own storage module is where it changes.
OTHER_TABLES = {ROOT / "storage" / "outbox.py", ROOT / "storage" / "report_jobs.py"}


def _sources() -> list[Path]:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    return [p for p in files if "migrations" not in p.parts]


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found: list[ast.expr] = []
        for target in node.targets:
            found.extend(target.elts if isinstance(target, ast.Tuple) else [target])
        return found
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        return [node.target]
    return []


def _sets_a_deadline(node: ast.AST) -> bool:
    """``setattr(x, "status", …)`` or ``setattr(x, deadline.field, …)``."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "setattr"
        and len(node.args) >= 2
    ):
        return False
    name = node.args[1]
    if isinstance(name, ast.Constant):
        return name.value in GUARDED
    return isinstance(name, ast.Attribute) and name.attr == "field"


def test_only_casework_assigns_lifecycle_fields() -> None:
    offences = []
    for path in _sources():
        if path.is_relative_to(CASEWORK) or path in OTHER_TABLES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(node):
                if isinstance(target, ast.Attribute) and target.attr in GUARDED:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} .{target.attr}")
            if _sets_a_deadline(node):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} setattr")
    assert offences == []


def test_only_casework_stores_a_new_report() -> None:
    callers = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "add_complaint" and not path.is_relative_to(CASEWORK):
                    callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert callers == []


def test_the_guard_sees_an_offence() -> None:
    """The walk above does find assignments (so an empty result means something)."""
    tree = ast.parse("complaint.status, complaint.closed_at = 'closed', now\nx.verdict += 1")
    found = [t.attr for n in ast.walk(tree) for t in _targets(n) if isinstance(t, ast.Attribute)]
    assert found == ["status", "closed_at", "verdict"]
    calls = ast.parse("setattr(c, deadline.field, d)\nsetattr(c, 'status', s)\nsetattr(c, n, 1)")
    assert [_sets_a_deadline(n) for n in ast.walk(calls) if isinstance(n, ast.Call)] == [
        True,
        True,
        False,
    ]
