"""The policy gate: a small YAML policy evaluated against an audit report.

A policy says what a release must be to pass a gate (CI, a pre-commit hook,
an organisation's vetting). Every rule is optional; a policy with only
``version: 1`` passes everything. The rules::

    version: 1
    license:
      allow: [Apache-2.0, MIT]          # license ids (SPDX, or a card's id: apache-2.0)
      allow_families: [bsd]             # or whole families (llama, gemma, cc, ...)
      forbid_restrictions: [non_commercial, user_threshold]   # clauses.toml tags
    findings:
      max_severity: low                 # any finding above it violates
      ignore: [SW-ZIP-008]              # rule ids that never count
      fully_checked: true               # every file fully checked, every analyzer done
    weights:
      formats: [safetensors, gguf]      # weights files of any other format violate
    signature:
      required: true                    # a model.sig whose digests hold
      trusted_signer: true              # ... and whose signer was verified
    openness:
      min_mof_class: III                # Model Openness Framework class III, II or I
      osaid: true                       # conforms to the Open Source AI Definition 1.0
    claims:
      must_reproduce: true              # every claim of the card reproduced by --evidence runs

:func:`load_policy` reads a file with a safe YAML loader and keeps the line
of every key, so an unknown key or a value of the wrong type is reported as
``policy.yaml:7: ...``. :func:`evaluate` is pure: a :class:`Policy` and a
:class:`~seewhy.report.model.Report` in, a list of :class:`Violation` out,
each with the report's own evidence (the finding, the quoted clause, the path
and offset). What the report does not know is never taken as a pass: a
license allow-list fails a release whose license is not identified, a
claims rule fails a report with no measured runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictBool,
    ValidationError,
    field_validator,
)

from seewhy.errors import UsageError
from seewhy.report.model import Evidence, Fact, Finding, Report, Severity

__all__ = [
    "ARCHIVE_FORMATS",
    "WEIGHTS_FORMATS",
    "Policy",
    "PolicyError",
    "Violation",
    "evaluate",
    "load_policy",
    "parse_policy",
]

MAX_POLICY_BYTES = 1024 * 1024
"""A policy file larger than this is refused (a policy is a page of YAML)."""

_WeightsKind = Literal[
    "safetensors",
    "gguf",
    "pytorch-zip",
    "torchscript",
    "pytorch-legacy",
    "pickle",
    "numpy",
    "numpy-zip",
    "onnx",
    "tensorflow",
    "keras-zip",
    "hdf5",
]
_ArchiveKind = Literal["zip", "tar", "7z", "compressed"]
WeightsFormat = Literal[_WeightsKind, _ArchiveKind]  # typing flattens it: the 16 names

WEIGHTS_FORMATS: tuple[str, ...] = get_args(_WeightsKind)
"""File kinds (seewhy.release.model.FileKind values) that hold weights."""

ARCHIVE_FORMATS: tuple[str, ...] = get_args(_ArchiveKind)
"""Containers that may hold weights: they count under ``weights.formats`` too."""
MofClass = Literal["I", "II", "III"]
_MOF_NUMBER = {"I": 1, "II": 2, "III": 3}
_MOF_LABEL = re.compile(r"^Class (I{1,3})\b")

# Signature statuses (seewhy.provenance.SignatureStatus) that mean "present, digests hold".
_SIGNED = ("verified", "unverified")


class PolicyError(UsageError):
    """A policy file that cannot be read, parsed or validated (exit 2)."""


# -------------------------------------------------------------------- model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _license_id(value: str) -> str:
    if _license_entry(value) is None:
        raise ValueError(
            f"unknown license id {value!r} (an SPDX id such as Apache-2.0, or a "
            "model card id such as llama3.1)"
        )
    return value


def _license_family(value: str) -> str:
    known = license_families()
    if value.lower() not in known:
        shown = ", ".join(sorted(known)[:12])
        raise ValueError(f"unknown license family {value!r} (known: {shown}, ...)")
    return value.lower()


def _restriction_tag(value: str) -> str:
    known = restriction_tags()
    if value not in known:
        raise ValueError(f"unknown restriction tag {value!r} (known: {', '.join(known)})")
    return value


def _rule_id(value: str) -> str:
    from seewhy.report.rules import registry

    if registry().find(value) is None:
        raise ValueError(f"unknown rule id {value!r} (run `seewhy rules` for the list)")
    return value


LicenseId = Annotated[str, AfterValidator(_license_id)]
LicenseFamily = Annotated[str, AfterValidator(_license_family)]
RestrictionTag = Annotated[str, AfterValidator(_restriction_tag)]
RuleId = Annotated[str, AfterValidator(_rule_id)]


class LicenseRules(_Section):
    """``license:``: which licenses are allowed, which clauses are not."""

    allow: tuple[LicenseId, ...] | None = None
    allow_families: tuple[LicenseFamily, ...] | None = None
    forbid_restrictions: tuple[RestrictionTag, ...] = ()


class FindingRules(_Section):
    """``findings:``: the worst finding allowed, rules to ignore, full coverage."""

    max_severity: Severity | None = None
    ignore: tuple[RuleId, ...] = ()
    fully_checked: StrictBool = False


class WeightsRules(_Section):
    """``weights:``: the formats weights may come in."""

    formats: tuple[WeightsFormat, ...] | None = None

    @field_validator("formats", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [v.lower() if isinstance(v, str) else v for v in value]
        return value


class SignatureRules(_Section):
    """``signature:``: a model.sig must be present (and its signer verified)."""

    required: StrictBool = False
    trusted_signer: StrictBool = False


class OpennessRules(_Section):
    """``openness:``: a minimum MOF class, OSAID conformance."""

    min_mof_class: MofClass | None = None
    osaid: StrictBool = False


class ClaimRules(_Section):
    """``claims:``: the card's claimed results must be reproduced by measured runs."""

    must_reproduce: StrictBool = False


class Policy(_Section):
    """A whole policy file (see the module's docstring for the language)."""

    version: Literal[1]
    license: LicenseRules = LicenseRules()
    findings: FindingRules = FindingRules()
    weights: WeightsRules = WeightsRules()
    signature: SignatureRules = SignatureRules()
    openness: OpennessRules = OpennessRules()
    claims: ClaimRules = ClaimRules()

    @property
    def needs_hashes(self) -> bool:
        """Whether the audit must hash every file (to compare a signature's digests)."""
        return self.signature.required or self.signature.trusted_signer


# --------------------------------------------------------- knowledge lookups


def _license_entry(value: str) -> Any:
    from seewhy.analyzers.license.kb import load_kb

    return load_kb().lookup(value)


@cache
def license_families() -> frozenset[str]:
    """Every license family the knowledge base knows (curated entries and SPDX ids)."""
    from seewhy.analyzers.license.kb import load_kb, spdx_family

    kb = load_kb()
    families = {e.family for e in kb.entries}
    families.update(spdx_family(r.id, kb.spdx_families) for r in kb.spdx.values())
    return frozenset(f.lower() for f in families)


@cache
def restriction_tags() -> tuple[str, ...]:
    """The clause tags of ``clauses.toml``, in its order."""
    from seewhy.analyzers.license.kb import load_kb

    return tuple(c.tag for c in load_kb().clauses)


# ------------------------------------------------------------------ loading


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; every problem is a :class:`PolicyError` with its line."""
    where = str(path)
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"cannot read policy {where}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"{where}: a policy file is at most {MAX_POLICY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{where}: not UTF-8 text (byte {exc.start})") from exc
    return parse_policy(text, where)


def parse_policy(text: str, where: str = "policy") -> Policy:
    """Validate policy YAML ``text``; ``where`` names it in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{where}{line}: not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where}: not valid YAML: {exc}") from exc
    if node is None:
        raise PolicyError(f"{where}: the policy is empty (start it with `version: 1`)")
    if not isinstance(node, yaml.MappingNode):
        raise PolicyError(f"{where}:{node.start_mark.line + 1}: a policy is a mapping of keys")
    lines: dict[tuple[str | int, ...], int] = {}
    _index_lines(node, (), lines, where)
    data = yaml.SafeLoader(text).get_single_data()
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_validation_message(exc, lines, where)) from None


_Path = tuple[str | int, ...]


def _index_lines(node: yaml.Node, path: _Path, lines: dict[_Path, int], where: str) -> None:
    """The 1-based line of every key and list item, by its path; duplicate keys refused."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
            here = (*path, name)
            if here in lines:
                raise PolicyError(
                    f"{where}:{key.start_mark.line + 1}: duplicate key {_dotted(here)!r} "
                    f"(first at line {lines[here]})"
                )
            lines[here] = key.start_mark.line + 1
            _index_lines(value, here, lines, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _index_lines(item, (*path, i), lines, where)


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


def _validation_message(
    exc: ValidationError, lines: Mapping[tuple[str | int, ...], int], where: str
) -> str:
    parts: list[str] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
        line = _line_of(loc, lines)
        at = f"{where}:{line}" if line else where
        key = _dotted(loc)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            parts.append(f"{at}: unknown key {key!r} (allowed here: {', '.join(allowed)})")
        elif err["type"] == "missing":
            hint = " (write `version: 1` first)" if loc == ("version",) else ""
            parts.append(f"{at}: missing key {key!r}{hint}")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{at}: {key}: {msg}" if key else f"{at}: {msg}")
    return "; ".join(parts) if parts else f"{where}: invalid policy"


def _line_of(loc: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]) -> int:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 0


def _allowed_keys(section: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] = Policy
    for part in section:
        info = model.model_fields.get(str(part))
        sub = getattr(info, "annotation", None) if info is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return []
        model = sub
    return list(model.model_fields)


# --------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Violation:
    """One rule of the policy the report breaks, with the report's evidence for it."""

    rule: str  # the policy key, e.g. "license.allow"
    message: str  # what the report says, in one line
    evidence: tuple[Evidence, ...] = ()
    finding: str | None = None  # the report's rule id, when a finding is the cause
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "rule": self.rule,
            "message": self.message,
            "finding": self.finding,
            "evidence": [e.model_dump(exclude_none=True) for e in self.evidence],
        }


def evaluate(policy: Policy, report: Report) -> list[Violation]:
    """Every violation of ``policy`` by ``report``, in the policy's order."""
    out: list[Violation] = []
    out += _licenses(policy.license, report)
    out += _restrictions(policy.license, report)
    out += _findings(policy.findings, report)
    out += _coverage(policy.findings, report)
    out += _weights(policy.weights, report)
    out += _signature(policy.signature, report)
    out += _mof(policy.openness, report)
    out += _osaid(policy.openness, report)
    out += _claims(policy.claims, report)
    return out


# -- license


@dataclass(frozen=True)
class _Licensed:
    """One license statement of the report, resolved against the knowledge base."""

    value: str  # as the report states it
    where: str  # which fact
    license_id: str | None
    name: str | None
    family: str | None
    evidence: tuple[Evidence, ...]
    finding: str | None = None


def release_licenses(report: Report) -> list[_Licensed]:
    """The license statements of a report, each resolved against the knowledge base.

    Identified license documents, the declared ids (card front matter, GGUF
    metadata; ``license_name:`` read as the name it gives), the license a base
    model passes down (lineage), and the weights license the openness analyzer
    settled on. A statement that names no license (``other``, a description
    that resolves to nothing) counts only when nothing else names one.
    """
    found: list[_Licensed] = []
    vague: list[_Licensed] = []
    docs = report.fact("license.documents")
    if docs is not None and isinstance(docs.value, list):
        aligned = len(docs.value) == len(docs.evidence)
        for i, raw in enumerate(docs.value):
            text = str(raw)
            lid, _, rest = text.partition(" (")
            if not rest.startswith("license"):
                continue  # use policies and other documents: see forbid_restrictions
            ev = (docs.evidence[i],) if aligned else docs.evidence
            found.append(_resolved(text, "license document", lid, ev))
    declared = report.fact("declared_license")
    if declared is not None:
        values = declared.value if isinstance(declared.value, list) else [declared.value]
        for item in values:
            if item is None or isinstance(item, dict):
                continue
            text = str(item)
            key, sep, rest = text.partition(":")
            if sep and key.strip() == "license_link":
                continue
            name = rest.strip() if sep and key.strip() == "license_name" else text
            ev = tuple(e for e in declared.evidence if e.excerpt and name in e.excerpt)
            statement = _resolved(text, "declared license", name, ev or declared.evidence)
            (found if statement.license_id is not None else vague).append(statement)
    weights = report.fact("openness.license")
    if weights is not None and isinstance(weights.value, dict):
        inherited = weights.value.get("inherited")
        if isinstance(inherited, str) and inherited:
            drift = tuple(e for f in report.findings if f.rule_id == DRIFT_RULE for e in f.evidence)
            statement = _resolved(
                inherited, "inherited through the base model", inherited, drift + weights.evidence
            )
            found.append(replace(statement, finding=DRIFT_RULE if drift else None))
        shown = weights.value.get("license")
        if isinstance(shown, str) and shown:
            statement = _resolved(shown, "weights license", shown, weights.evidence)
            (found if statement.license_id is not None else vague).append(statement)
    return found or vague


DRIFT_RULE = "SW-LIC-033"
"""The license analyzer's finding for a derivative whose license is not its base model's."""


def _resolved(value: str, where: str, lookup: str, evidence: tuple[Evidence, ...]) -> _Licensed:
    entry = _license_entry(lookup)
    return _Licensed(
        value=value,
        where=where,
        license_id=None if entry is None else entry.id,
        name=None if entry is None else entry.name,
        family=None if entry is None else entry.family.lower(),
        evidence=tuple(evidence),
    )


def _licenses(rules: LicenseRules, report: Report) -> list[Violation]:
    if rules.allow is None and rules.allow_families is None:
        return []
    ids = {e.id for v in rules.allow or () if (e := _license_entry(v)) is not None}
    families = set(rules.allow_families or ())
    allowed = ", ".join([*(rules.allow or ()), *(f"family {f}" for f in families)]) or "nothing"
    statements = release_licenses(report)
    if not statements:
        return [
            Violation(
                "license.allow",
                f"no license identified in the release (allowed: {allowed}); "
                "not found is unknown, never allowed",
            )
        ]
    # One violation per license, with the evidence of every statement of it.
    refused: dict[str, list[_Licensed]] = {}
    for s in statements:
        if s.license_id in ids or (s.family is not None and s.family in families):
            continue
        refused.setdefault(s.license_id or s.value.lower(), []).append(s)
    out: list[Violation] = []
    for key, group in refused.items():
        first = group[0]
        where = ", ".join(dict.fromkeys(s.where for s in group))
        if first.license_id is None:
            what = f"{first.value!r} ({where}) is not an identified license"
        else:
            what = f"{first.name} ({key}, family {first.family}; {where})"
        places = {(e.path, e.line, e.pointer, e.offset): e for s in group for e in s.evidence}
        evidence = tuple(places.values())
        finding = next((s.finding for s in group if s.finding), None)
        message = f"{what} is not allowed ({allowed})"
        out.append(Violation("license.allow", message, evidence, finding=finding))
    return out


def _restrictions(rules: LicenseRules, report: Report) -> list[Violation]:
    if not rules.forbid_restrictions:
        return []
    fact = report.fact("license.tags")
    if fact is None or not isinstance(fact.value, list):
        return []
    present = {str(v) for v in fact.value}
    out: list[Violation] = []
    for tag in rules.forbid_restrictions:
        if tag not in present:
            continue
        ev = tuple(e for e in fact.evidence if e.note == tag) or fact.evidence
        finding = _tag_finding(report, tag)
        out.append(
            Violation(
                "license.forbid_restrictions",
                f"the license has a forbidden {tag} clause",
                ev,
                finding=finding,
            )
        )
    return out


def _tag_finding(report: Report, tag: str) -> str | None:
    from seewhy.analyzers.license.kb import load_kb

    spec = next((c for c in load_kb().clauses if c.tag == tag), None)
    rule = spec.rule_id if spec is not None else None
    return rule if rule and any(f.rule_id == rule for f in report.findings) else None


# -- findings and coverage


def _findings(rules: FindingRules, report: Report) -> list[Violation]:
    if rules.max_severity is None:
        return []
    limit = rules.max_severity.rank
    ignored = set(rules.ignore)
    return [
        _finding_violation(f, rules.max_severity)
        for f in report.findings
        if f.severity.rank > limit and f.rule_id not in ignored
    ]


def _finding_violation(f: Finding, limit: Severity) -> Violation:
    many = f" ({f.occurrences} occurrences)" if f.occurrences > 1 else ""
    return Violation(
        "findings.max_severity",
        f"{f.rule_id} {f.severity.value} (above {limit.value}): {f.title}: {f.message}{many}",
        f.evidence,
        finding=f.rule_id,
    )


def _coverage(rules: FindingRules, report: Report) -> list[Violation]:
    if not rules.fully_checked:
        return []
    out = [
        Violation(
            "findings.fully_checked",
            f"{c.path} was not fully checked ({c.status.value})",
            tuple(
                Evidence(path=c.path, note=f"{s.analyzer}: {s.status.value} {s.detail}".strip())
                for s in c.steps
                if not s.status.conclusive
            )
            or (Evidence(path=c.path),),
        )
        for c in report.inconclusive_files()
    ]
    out += [
        Violation("findings.fully_checked", f"analyzer {a.analyzer} errored: {a.message}")
        for a in report.analyzers
        if a.status == "errored"
    ]
    safety = report.verdict("load_safety")
    if not out and safety is not None and safety.value == "inconclusive":
        out.append(
            Violation(
                "findings.fully_checked",
                f"load safety inconclusive: {safety.reason}",
                safety.evidence,
            )
        )
    return out


def _dict_value(fact: Fact | None) -> dict[str, Any]:
    """A fact's value when it is a table; {} for a missing fact or any other value."""
    return fact.value if fact is not None and isinstance(fact.value, dict) else {}


# -- weights and signature


def _weights(rules: WeightsRules, report: Report) -> list[Violation]:
    if rules.formats is None:
        return []
    allowed = set(rules.formats)
    watched = set(WEIGHTS_FORMATS) | set(ARCHIVE_FORMATS)
    return [
        Violation(
            "weights.formats",
            f"{c.path} is {c.kind} ({c.size} bytes); allowed: {', '.join(rules.formats) or 'none'}",
            (Evidence(path=c.path, offset=0, note=f"file kind {c.kind}, from its bytes"),),
        )
        for c in report.coverage
        if c.kind in watched and c.kind not in allowed
    ]


def _signature(rules: SignatureRules, report: Report) -> list[Violation]:
    if not (rules.required or rules.trusted_signer):
        return []
    fact = report.fact("provenance.signature")
    value = _dict_value(fact)
    status = str(value.get("status") or "unknown")
    reason = value.get("reason")
    ev = fact.evidence if fact is not None else ()
    said = f"signature {status}" + (f": {reason}" if reason else "")
    key = "signature.required" if rules.required else "signature.trusted_signer"
    if status not in _SIGNED:
        return [Violation(key, said, ev)]
    hashed = report.metadata.options.get("hash") is True
    if status == "unverified" and not hashed:
        # Without a trust anchor digests are compared only when the audit hashed the files.
        return [
            Violation(key, f"{said}; the signed digests were not compared (audit with --hash)", ev)
        ]
    out: list[Violation] = []
    uncovered = value.get("files_not_covered")
    if isinstance(uncovered, int) and uncovered > 0:
        out.append(Violation(key, f"{uncovered} file(s) not covered by the signature", ev))
    if rules.trusted_signer and status != "verified":
        out.append(
            Violation(
                "signature.trusted_signer",
                f"{said}; the signer was not verified (pass --public-key, "
                "--certificate-chain or --identity/--oidc-issuer)",
                ev,
            )
        )
    return out


# -- openness


def _mof_number(label: str) -> int:
    m = _MOF_LABEL.match(label)
    return _MOF_NUMBER[m.group(1)] if m else 0


def _mof(rules: OpennessRules, report: Report) -> list[Violation]:
    if rules.min_mof_class is None:
        return []
    wanted = _MOF_NUMBER[rules.min_mof_class]
    fact = report.fact("openness.mof.class")
    label = str(fact.value) if fact is not None else "not assessed"
    got = _mof_number(label)
    if got and got <= wanted:
        return []
    from seewhy.analyzers.openness.tables import mot

    missing: list[Evidence] = []
    for cls in range(3, wanted - 1, -1):
        for comp in mot().required(cls):
            value = _dict_value(report.fact(f"openness.mof.{comp.slug}"))
            status = value.get("status", "unknown")
            if status == "open":
                continue
            line = value.get("line")
            missing.append(
                Evidence(
                    path=str(value["path"]) if value.get("path") else None,
                    line=line if isinstance(line, int) and line > 0 else None,
                    note=f"{comp.name} (class {cls}): {status}"
                    + (f"; {value['note']}" if value.get("note") else ""),
                )
            )
    return [
        Violation(
            "openness.min_mof_class",
            f"MOF class {label}; the policy needs Class {rules.min_mof_class} or better",
            tuple(missing),
        )
    ]


def _osaid(rules: OpennessRules, report: Report) -> list[Violation]:
    if not rules.osaid:
        return []
    value = _dict_value(report.fact("openness.osaid"))
    conforms = value.get("conforms", "not assessed")
    if conforms == "yes":
        return []
    ev: list[Evidence] = []
    for part in ("data_information", "code", "parameters"):
        sub = report.fact(f"openness.osaid.{part}")
        if sub is None or not isinstance(sub.value, dict) or sub.value.get("status") == "met":
            continue
        ev.append(Evidence(note=f"{part}: {sub.value.get('status')}: {sub.value.get('reason')}"))
        ev.extend(sub.evidence)
    return [
        Violation(
            "openness.osaid",
            f"conformance to the Open Source AI Definition 1.0: {conforms}",
            tuple(ev),
        )
    ]


# -- claims


def _claims(rules: ClaimRules, report: Report) -> list[Violation]:
    if not rules.must_reproduce:
        return []
    verdict = report.verdict("performance")
    if verdict is None:
        return [
            Violation(
                "claims.must_reproduce",
                "the card's claims were not checked: no measured runs "
                "(run seewhy check with --evidence RUN)",
            )
        ]
    out: list[Violation] = []
    for fact in _claim_facts(report.facts):
        value = fact.value if isinstance(fact.value, dict) else {}
        outcome = value.get("outcome")
        if outcome == "reproduced":
            continue
        reasons = value.get("reasons")
        out.append(
            Violation(
                "claims.must_reproduce",
                f"claim {value.get('benchmark')} = {value.get('claimed_as_written')}: {outcome}"
                + (f" ({reasons})" if reasons else ""),
                fact.evidence,
                finding=next(
                    (
                        f.rule_id
                        for f in report.findings
                        if f.analyzer == "performance"
                        and any(e in f.evidence for e in fact.evidence)
                    ),
                    None,
                ),
            )
        )
    return out


def _claim_facts(facts: Iterable[Any]) -> list[Any]:
    return [f for f in facts if f.key == "performance.claim"]
