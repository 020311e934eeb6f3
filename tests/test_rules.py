"""The rule registry documents every problem code every parser can emit."""

from __future__ import annotations

import importlib
import pkgutil

import seewhy.formats
from seewhy.formats.jsondoc import problem_codes
from seewhy.release import hub, sniff
from seewhy.report.rules import FALLBACK_RULE, registry

# Codes the inventory analyzer itself emits (besides the parsers').
ANALYZER_CODES = {
    "parser.crash",
    "inventory.too-large",
    "release.symlink-escape",
    "release.symlink-loop",
    "release.symlink-dangling",
    "release.unreadable",
    "release.too-many-files",
    "release.too-deep",
    "release.special-file",
    "release.skipped-dir",
    "release.name-escaped",
}


def all_parser_codes() -> set[str]:
    codes: set[str] = set(sniff.PROBLEM_CODES)
    for info in pkgutil.iter_modules(seewhy.formats.__path__):
        module = importlib.import_module(f"seewhy.formats.{info.name}")
        table = getattr(module, "PROBLEM_CODES", None)
        if table is not None and info.name != "jsondoc":
            codes |= set(table)
    codes |= set(problem_codes("json"))
    codes |= set(hub.PROBLEM_CODES)
    return codes


def test_every_code_has_exactly_one_rule() -> None:
    reg = registry()
    covered = reg.covered_codes()
    missing = (all_parser_codes() | ANALYZER_CODES) - covered
    assert not missing, f"codes without a rule: {sorted(missing)}"
    listed = [c for r in reg.rules for c in r.problems]
    assert len(listed) == len(set(listed)), "a code is listed by two rules"


def test_no_rule_lists_an_unknown_code() -> None:
    known = all_parser_codes() | ANALYZER_CODES
    stale = registry().covered_codes() - known
    assert not stale, f"rules list codes nothing emits: {sorted(stale)}"


def test_rules_are_documented() -> None:
    reg = registry()
    assert reg.get(FALLBACK_RULE)
    for rule in reg.rules:
        assert rule.id.startswith("SW-")
        assert len(rule.help) > 40, rule.id
        assert 0 < len(rule.title) <= 70, rule.id
