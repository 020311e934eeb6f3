"""The rule registry: every rule id documented once, in ``data/rules/*.toml``.

Parsers emit problem codes (``"safetensors.trailing-bytes"``); each rule lists
the codes it covers, so a contributor changes a severity or a help text in
the data file without touching code. The same text feeds ``seewhy rules``,
Markdown help and (later) SARIF ``rules[]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from seewhy._datacache import load_tomls
from seewhy.report.model import Confidence, Severity


@dataclass(frozen=True)
class Rule:
    """One documented rule."""

    id: str
    title: str
    severity: Severity
    confidence: Confidence
    analyzer: str
    help: str
    cwe: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleRegistry:
    """All rules, by id and by the problem codes they cover."""

    rules: tuple[Rule, ...]
    _by_id: dict[str, Rule] = field(init=False, repr=False, compare=False)
    _by_problem: dict[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_problem: dict[str, Rule] = {}
        for rule in self.rules:
            for code in rule.problems:
                by_problem.setdefault(code, rule)  # the first rule listing a code wins
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rules})
        object.__setattr__(self, "_by_problem", by_problem)

    def get(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError names the id when it is missing."""
        rule = self._by_id.get(rule_id)
        if rule is None:
            raise KeyError(f"no rule {rule_id!r} in the registry")
        return rule

    def find(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        return self._by_id.get(rule_id)

    def for_problem(self, code: str) -> Rule:
        """The rule that covers a parser problem code.

        Codes no rule lists fall back to the generic parser rule, so a new
        code never crashes an audit (a test keeps the table complete).
        """
        rule = self._by_problem.get(code)
        return rule if rule is not None else self.get(FALLBACK_RULE)

    def covered_codes(self) -> frozenset[str]:
        """Every problem code some rule lists."""
        return frozenset(self._by_problem)


FALLBACK_RULE = "SW-GEN-001"


@cache
def registry() -> RuleRegistry:
    """Load the registry from the packaged data files (once), one file per analyzer."""
    entries: list[dict[str, Any]] = []
    for data in load_tomls("seewhy.data.rules").values():
        entries.extend(data["rule"])
    rules = []
    seen: set[str] = set()
    for entry in entries:
        if entry["id"] in seen:
            raise ValueError(f"rule {entry['id']} is defined twice in data/rules/")
        seen.add(entry["id"])
        rules.append(
            Rule(
                id=entry["id"],
                title=entry["title"],
                severity=Severity(entry["severity"]),
                confidence=Confidence(entry.get("confidence", "high")),
                analyzer=entry["analyzer"],
                help=entry["help"].strip(),
                cwe=entry.get("cwe"),
                problems=tuple(entry.get("problems", ())),
            )
        )
    return RuleRegistry(tuple(sorted(rules, key=lambda r: r.id)))
