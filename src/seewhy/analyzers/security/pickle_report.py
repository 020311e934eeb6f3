"""Turn a :class:`~seewhy.formats.pickle_vm.PickleScan` into findings, with evidence.

The scan describes (globals, call sites, persistent ids, nested pickles,
problems); :class:`ScanReporter` applies the policy
(:mod:`seewhy.analyzers.security.pickle_policy`) to it and emits findings
through a :class:`~seewhy.analyzers.interface.ResultBuilder`. Findings of
one rule about one global in one file (or zip member) are grouped: the
message counts them and the evidence lists the first few, each with the
opcode's byte offset and an excerpt such as ``GLOBAL 'posix system'`` or
``STACK_GLOBAL builtins.eval (via memo 3)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seewhy.analyzers.interface import ResultBuilder
from seewhy.analyzers.security.pickle_policy import USAGE_RANK, Judgement, PicklePolicy
from seewhy.formats.interface import Problem
from seewhy.report.model import Evidence

if TYPE_CHECKING:
    from seewhy.formats.pickle_vm import CallSite, GlobalRef, PickleScan

__all__ = ["MAX_EVIDENCE", "Location", "ScanReporter"]

MAX_EVIDENCE = 5
_CALL_KINDS = frozenset({"reduce", "inst", "obj"})
_NEW_KINDS = frozenset({"newobj", "newobj_ex"})
_METHOD_KINDS = frozenset({"setitem", "append", "additems"})


@dataclass(frozen=True)
class Location:
    """Where a scanned stream lives: the file, the zip member, and what offsets mean."""

    path: str
    member: str | None = None
    offsets: str = "byte offset in the file"
    expected: int | None = 1
    """How many pickles the loader reads (findings beyond them are marked)."""


@dataclass
class _Group:
    rule: str
    message: str
    evidence: list[Evidence] = field(default_factory=list)
    count: int = 0


@dataclass
class ScanReporter:
    """Collects findings for one audit; :meth:`flush` hands them to the builder."""

    builder: ResultBuilder
    policy: PicklePolicy
    groups: dict[tuple[str, ...], _Group] = field(default_factory=dict)
    imports: set[str] = field(default_factory=set)

    # ------------------------------------------------------------ public

    def report(
        self,
        scan: PickleScan,
        where: Location,
        profiles: Sequence[str],
        *,
        origin: str | None = None,
        anchor: int | None = None,
    ) -> None:
        """Judge a scan (and its nested scans) and record the findings.

        ``origin`` names a stream decoded from the file (an encoded pickle in a
        string); its offsets are then its own and the evidence points at
        ``anchor`` (the string's file offset; negative when unknown).
        """
        self._report(scan, where, tuple(profiles), (origin,) if origin else (), anchor)

    def flush(self) -> None:
        """Emit the grouped findings."""
        for group in self.groups.values():
            message = group.message
            if group.count > 1:
                message += f" ({group.count} occurrences; the first {len(group.evidence)} shown)"
            self.builder.finding(group.rule, message, group.evidence[:MAX_EVIDENCE])
        self.groups.clear()

    def add(
        self,
        rule: str,
        key: str,
        message: str,
        evidence: Sequence[Evidence],
        where: Location,
    ) -> None:
        """Add one finding occurrence under a grouping key."""
        group_key = (rule, where.path, where.member or "", key)
        group = self.groups.get(group_key)
        if group is None:
            group = self.groups[group_key] = _Group(rule, message)
        group.count += 1
        room = MAX_EVIDENCE - len(group.evidence)
        if room > 0:
            group.evidence.extend(list(evidence)[:room])

    # ------------------------------------------------------------ walking

    def _report(
        self,
        scan: PickleScan,
        where: Location,
        profiles: tuple[str, ...],
        trail: tuple[str, ...],
        anchor: int | None,
    ) -> None:
        usage, calls_of = self._usage(scan)
        # A reading with a carried memo (kind "shared-memo") calls globals that an
        # earlier pickle imported: they are judged here with the use made of them.
        own = set(scan.globals)
        carried = [ref for ref in usage if ref not in own]
        for ref in (*scan.globals, *carried):
            self._judge_global(
                scan,
                ref,
                usage.get(ref, "reference"),
                calls_of,
                where,
                profiles,
                trail,
                anchor,
                carried=ref not in own,
            )
        if scan.kind == "shared-memo-shifted":
            # Each pickle also reads on its own; this second reading numbers memo
            # entries otherwise, so its oddities are artefacts: only the deny list counts.
            for inner in scan.nested:
                self._report(inner, where, profiles, (*trail, inner.origin), anchor)
            return
        for call in scan.calls:
            self._judge_call(scan, call, where, trail, anchor)
        if scan.kind != "frame-divergent":
            # A shared-memo reading holds only the problems the first reading did not meet.
            for problem in scan.all_problems:
                self._problem(problem, where, trail, anchor)
        for inner in scan.nested:
            # Decoded pickles have offsets of their own: point at the outer call instead.
            inner_anchor = anchor
            if inner_anchor is None and inner.kind == "nested":
                inner_anchor = inner.origin_offset
            if inner.kind == "nested" and not self._allowed_loader(inner.loader, profiles):
                self.add(
                    "SW-PKL-005",
                    inner.origin,
                    f"a pickle is unpickled while loading: {inner.origin}"
                    + (f" (inside {' / '.join(trail)})" if trail else ""),
                    [
                        self._evidence(
                            where,
                            inner.origin_offset,
                            "nested pickle",
                            trail,
                            anchor,
                            note=f"{inner.origin}; {len(inner.globals)} globals inside",
                        )
                    ],
                    where,
                )
            self._report(inner, where, profiles, (*trail, inner.origin), inner_anchor)

    def _allowed_loader(self, loader: str, profiles: tuple[str, ...]) -> bool:
        """Whether a profile lets this loads-like callable run (its payload is judged)."""
        if not loader or "." not in loader:
            return False
        from seewhy.formats.pickle_vm import GlobalRef

        module, name = loader.rsplit(".", 1)
        judgement = self.policy.judge(
            GlobalRef(module, name, 0, "GLOBAL", "inline"), "call", profiles
        )
        return judgement.level == "allowed"

    def _usage(
        self, scan: PickleScan
    ) -> tuple[dict[GlobalRef, str], dict[GlobalRef, list[CallSite]]]:
        """The strongest use of each global, and the call sites that call it."""
        usage: dict[GlobalRef, str] = {}
        calls_of: dict[GlobalRef, list[CallSite]] = {}

        def bump(ref: GlobalRef | None, use: str) -> None:
            if ref is None:
                return
            current = usage.get(ref)
            if current is None or USAGE_RANK[use] > USAGE_RANK[current]:
                usage[ref] = use

        for call in scan.calls:
            ref = call.callable
            direct = call.callable_kind in ("global", "extension")
            if call.kind in _CALL_KINDS and direct:
                bump(ref, "call")
                if ref is not None:
                    calls_of.setdefault(ref, []).append(call)
            elif (call.kind in _NEW_KINDS and direct) or (
                call.kind == "build" and call.receiver == "instance" and direct
            ):
                bump(ref, "construct")
            elif call.kind in _METHOD_KINDS and call.receiver == "global":
                bump(ref, "call")
            if call.arg_globals and ref is not None and direct:
                resolution = self.policy.resolve(ref)
                spec = self.policy.forwarded(resolution.name) if resolution else ()
                for position, arg in enumerate(call.arg_globals):
                    if arg is not None:
                        bump(arg, spec[position] if position < len(spec) else "reference")
        return usage, calls_of

    # ------------------------------------------------------------ globals

    def _judge_global(
        self,
        scan: PickleScan,
        ref: GlobalRef,
        use: str,
        calls_of: dict[GlobalRef, list[CallSite]],
        where: Location,
        profiles: tuple[str, ...],
        trail: tuple[str, ...],
        anchor: int | None,
        *,
        carried: bool = False,
    ) -> None:
        calls = calls_of.get(ref, [])
        evidence = [self._evidence(where, ref.offset, _excerpt(ref), trail, anchor)]
        if calls:
            first = calls[0]
            evidence.append(
                self._evidence(
                    where,
                    first.offset,
                    f"{first.opcode} {ref.qualname}{_args(first.args_summary)}",
                    trail,
                    anchor,
                    note="called here",
                )
            )
        context = self._context(scan, ref, where, trail)
        if ref.opcode.startswith("EXT"):
            target = ref.qualname if ref.module is not None else "an unregistered code"
            self.add(
                "SW-PKL-006",
                ref.resolved_via,
                f"{ref.opcode} at offset {ref.offset} imports {target} through the copyreg "
                f"extension registry ({ref.resolved_via}){context}",
                evidence,
                where,
            )
            if ref.module is None:
                return
        judgement = self.policy.judge(ref, use, profiles, calls)
        if scan.kind == "shared-memo-shifted" and judgement.level != "dangerous":
            return
        # A global an earlier pickle imported, used here: its own finding, not a repeat.
        key = judgement.name + (f" used in {trail[-1]}" if carried and trail else "")
        if judgement.level == "allowed":
            self.imports.add(judgement.name)
            return
        how = _mechanisms(judgement, ref)
        used = {"call": "called", "construct": "instantiated", "reference": "imported"}[use]
        if judgement.level == "computed":
            self.add(
                "SW-PKL-002",
                f"{ref.offset}",
                f"STACK_GLOBAL at offset {ref.offset} imports a global whose name is computed "
                f"at load time ({ref.resolved_via}); it resolves to {ref.qualname} and is "
                f"{used}{context}",
                evidence,
                where,
            )
        elif judgement.level == "dangerous":
            self.add(
                "SW-PKL-001",
                key,
                f"{ref.opcode} at offset {ref.offset} imports {ref.qualname}{how}: "
                f"{judgement.reason}; it is {used}{_call_text(calls)}{context}",
                evidence,
                where,
            )
        elif judgement.level == "unsafe-form":
            self.add("SW-PKL-014", key, judgement.reason + context, evidence, where)
        else:
            rule = "SW-PKL-003" if use == "call" else "SW-PKL-004"
            self.add(
                rule,
                key,
                f"{ref.opcode} at offset {ref.offset} imports {ref.qualname}{how}: "
                f"{judgement.reason}{_call_text(calls)}{context}",
                evidence,
                where,
            )

    def _context(
        self, scan: PickleScan, ref: GlobalRef, where: Location, trail: tuple[str, ...]
    ) -> str:
        parts: list[str] = []
        if trail:
            parts.append(f"inside {' / '.join(trail)}")
        elif where.expected is not None and ref.pickle_index >= where.expected:
            parts.append(
                f"in pickle #{ref.pickle_index}, after the {where.expected} the loader reads"
            )
        elif scan.kind == "stream" and len(scan.pickles) > 1:
            parts.append(f"in pickle #{ref.pickle_index} of {len(scan.pickles)} stacked pickles")
        return f" ({'; '.join(parts)})" if parts else ""

    # ------------------------------------------------------------ calls

    def _judge_call(
        self,
        scan: PickleScan,
        call: CallSite,
        where: Location,
        trail: tuple[str, ...],
        anchor: int | None,
    ) -> None:
        if call.kind == "build" and call.receiver == "global" and call.callable is not None:
            target = call.callable.qualname
            self.add(
                "SW-PKL-011",
                target,
                f"BUILD at offset {call.offset} sets attributes of the global {target} "
                f"(state {call.args_summary})",
                [self._evidence(where, call.offset, f"BUILD on {target}", trail, anchor)],
                where,
            )
            return
        if call.kind not in _CALL_KINDS | _NEW_KINDS:
            return
        if call.callable_kind in ("call-result", "persistent", "unknown"):
            made_by = call.callable.qualname if call.callable is not None else "?"
            what = {
                "call-result": f"the result of a call of {made_by}",
                "persistent": "an object returned by persistent_load",
                "unknown": "a value built at load time",
            }[call.callable_kind]
            self.add(
                "SW-PKL-010",
                f"{call.offset}",
                f"{call.opcode} at offset {call.offset} calls {what} with {call.args_summary}",
                [self._evidence(where, call.offset, f"{call.opcode} {what}", trail, anchor)],
                where,
            )
        elif call.callable_kind == "extension":
            self.add(
                "SW-PKL-010",
                f"{call.offset}",
                f"{call.opcode} at offset {call.offset} calls a global chosen by the copyreg "
                f"extension registry with {call.args_summary}",
                [self._evidence(where, call.offset, f"{call.opcode} EXT value", trail, anchor)],
                where,
            )

    # ------------------------------------------------------------ problems

    def _problem(
        self, problem: Problem, where: Location, trail: tuple[str, ...], anchor: int | None
    ) -> None:
        rule = self.builder.rules.for_problem(problem.code)
        offset = problem.offset if problem.offset is not None else 0
        self.add(
            rule.id,
            f"{problem.code}:{offset}" if rule.id != "SW-PKL-007" else problem.code,
            problem.message + (f" (inside {' / '.join(trail)})" if trail else ""),
            [
                self._evidence(
                    where, offset, problem.excerpt or problem.code, trail, anchor, problem.code
                )
            ],
            where,
        )

    # ------------------------------------------------------------ evidence

    def _evidence(
        self,
        where: Location,
        offset: int | None,
        excerpt: str,
        trail: tuple[str, ...],
        anchor: int | None,
        note: str | None = None,
    ) -> Evidence:
        notes = [where.offsets]
        at = offset
        if anchor is not None:
            notes = [f"offset {offset} inside {' / '.join(trail)}; outer {where.offsets}"]
            at = anchor
        elif trail:
            notes.append(f"in {' / '.join(trail)}")
        if note:
            notes.insert(0, note)
        return Evidence(
            path=where.path,
            offset=at if at is not None and at >= 0 else None,
            pointer=where.member,
            excerpt=_clip(excerpt),
            note="; ".join(notes),
        )


def _excerpt(ref: GlobalRef) -> str:
    if ref.opcode in ("GLOBAL", "INST"):
        return f"{ref.opcode} '{ref.module} {ref.name}'"
    if ref.opcode.startswith("EXT"):
        return f"{ref.opcode} ({ref.resolved_via}) → {ref.qualname}"
    return f"{ref.opcode} {ref.qualname} (via {ref.resolved_via})"


def _mechanisms(judgement: Judgement, ref: GlobalRef) -> str:
    notes = list(judgement.mechanisms)
    if ref.opcode == "STACK_GLOBAL" and ref.resolved_via.startswith("memo"):
        notes.append(f"STACK_GLOBAL operands taken from the memo ({ref.resolved_via})")
    if judgement.name != ref.qualname:
        notes.append(f"resolves to {judgement.name}")
    return f" [{'; '.join(notes)}]" if notes else ""


def _call_text(calls: list[CallSite]) -> str:
    if not calls:
        return ""
    first = calls[0]
    return f"; called by {first.opcode} at offset {first.offset} with {first.args_summary}"


def _args(summary: str) -> str:
    return summary if summary.startswith("(") else f"({summary})"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
