"""The report as a CycloneDX 1.6 ML-BOM (``seewhy audit --format cyclonedx``).

The BOM is built with cyclonedx-python-lib: the audited model is the BOM's
subject (``metadata.component``, type ``machine-learning-model``) with its
licenses, its sha256 (a one-file release hashed with ``--hash``) and every
file of the release as a sub-component of type ``file`` (size, kind, what
seewhy did to it, its sha256 when computed); each dataset the card lists
under ``datasets:`` is a component of type ``data`` the model depends on.

cyclonedx-python-lib does not model the ``modelCard`` object yet, so it is
added to the serialised JSON, on the model component, from the report's
facts only: the architecture and the datasets (``modelParameters``), the
measured scores with their intervals (``quantitativeAnalysis``), and the
audit's own findings and unknowns (``considerations``). Every value is data
from the report, never interpreted; the output validates against the
CycloneDX 1.6 JSON schema that the library ships (see :func:`validate`).
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

from seewhy.report.humanize import fact_text
from seewhy.report.model import Fact, Report, Severity

if TYPE_CHECKING:
    from cyclonedx.model.component import Component
    from cyclonedx.model.license import License

__all__ = ["MODEL_REF", "build_bom", "card_datasets", "format_cyclonedx", "validate"]

MODEL_REF = "model"
"""The bom-ref of the model component."""

MAX_DATASETS = 64
MAX_LIMITATIONS = 50
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def _prop(name: str, value: object) -> Any:
    from cyclonedx.model import Property

    return Property(name=f"seewhy:{name}", value=str(value))


def _license_entries(report: Report) -> list[License]:
    """The effective license: an SPDX id or expression where it is one, a named license else."""
    from cyclonedx.model.license import (
        DisjunctiveLicense,
        LicenseAcknowledgement,
        LicenseExpression,
    )
    from cyclonedx.spdx import fixup_id, is_expression

    basis = report.fact("openness.license")
    value = basis.value if basis is not None and isinstance(basis.value, dict) else {}
    name = value.get("license") or value.get("declared")
    if not name:
        declared = report.fact("declared_license")
        if declared is None:
            return []
        names = declared.value if isinstance(declared.value, list) else [declared.value]
        return [
            DisjunctiveLicense(id=fixup_id(str(n)), acknowledgement=LicenseAcknowledgement.DECLARED)
            if fixup_id(str(n))
            else DisjunctiveLicense(
                name=str(n)[:200], acknowledgement=LicenseAcknowledgement.DECLARED
            )
            for n in names
            if n not in (None, "")
        ]
    text = str(name)
    reason = str(value.get("reason") or "")
    spdx = fixup_id(text)
    if spdx is not None:
        return [DisjunctiveLicense(id=spdx, acknowledgement=LicenseAcknowledgement.CONCLUDED)]
    if " " in text and is_expression(text):
        return [LicenseExpression(text, acknowledgement=LicenseAcknowledgement.CONCLUDED)]
    notes = []
    changed = next(
        (
            f.message
            for f in report.findings
            if f.analyzer == "license" and "a modified license" in f.message
        ),
        None,
    )
    if changed or "modified" in text.lower():
        notes.append(_prop("license:note", changed or reason or "a modified license"))
    elif reason:
        notes.append(_prop("license:note", reason))
    if value.get("restrictions"):
        notes.append(_prop("license:restrictions", value["restrictions"]))
    if value.get("osi_approved") is not None:
        notes.append(_prop("license:osi-approved", str(bool(value["osi_approved"])).lower()))
    return [
        DisjunctiveLicense(
            name=text[:200],
            acknowledgement=LicenseAcknowledgement.CONCLUDED,
            properties=notes,
        )
    ]


def _file_component(cov: Any) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=cov.sha256)] if cov.sha256 else []
    return Component(
        name=cov.path,
        type=ComponentType.FILE,
        bom_ref=f"file:{cov.path}",
        hashes=hashes,
        properties=[
            _prop("file:size", cov.size),
            _prop("file:kind", cov.kind),
            _prop("file:coverage", cov.status.value),
        ],
    )


def card_datasets(report: Report) -> tuple[str, ...] | None:
    """The names under ``datasets:`` in the audited folder's model card; None without a card.

    The card is read bounded (:func:`seewhy.report.html.read_card`) and parsed
    by seewhy's restricted card parser; nothing else of the release is read.
    """
    from pathlib import Path

    from seewhy.formats.modelcard import parse_card
    from seewhy.report.html import read_card

    found = read_card(report, Path(report.metadata.source))
    if found is None:
        return None
    path, text = found
    return parse_card(text.encode("utf-8"), path=path).datasets


def _card_datasets(report: Report, datasets: tuple[str, ...] | None) -> list[str]:
    if datasets is None:
        return []
    out: list[str] = []
    for name in datasets[:MAX_DATASETS]:
        name = str(name).strip()
        if _DATASET.match(name) and name not in out:
            out.append(name)
    return out


def _model_properties(report: Report) -> list[Any]:
    props = []
    for v in report.verdicts:
        props.append(_prop(f"verdict:{v.topic}", v.value))
        props.append(_prop(f"verdict:{v.topic}:reason", v.reason))
    for key, name in (
        ("openness.mof.class", "openness:mof-class"),
        ("quantization", "quantization"),
        ("parameter_count", "parameters"),
        ("context_length", "context-length"),
        ("license.documents", "license:documents"),
    ):
        fact = report.fact(key)
        if fact is not None:
            props.append(_prop(name, fact_text(fact.value, key)))
    score = report.fact("openness.osai.score")
    if score is not None and isinstance(score.value, dict) and "total" in score.value:
        props.append(_prop("openness:osai-total", score.value["total"]))
    counts = report.severity_counts()
    props.extend(_prop(f"findings:{s.value}", counts[s]) for s in Severity if counts[s])
    props.append(_prop("files", report.release.file_count))
    props.append(_prop("bytes", report.release.total_bytes))
    return props


def build_bom(report: Report, *, datasets: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The BOM of ``report`` as a JSON object (CycloneDX 1.6).

    ``datasets`` are the names under the card's ``datasets:`` (see
    :func:`seewhy.formats.modelcard.parse_card`); None when no card was read.
    """
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        XsUri,
    )
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    rel = report.release
    files = [_file_component(c) for c in report.coverage]
    hashes = []
    if report.metadata.source_kind == "file" and len(report.coverage) == 1:
        sha = report.coverage[0].sha256
        if sha:
            hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=sha))
    refs = []
    if rel.repo_id:
        refs.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION,
                url=XsUri(f"https://huggingface.co/{rel.repo_id}"),
            )
        )
    model = Component(
        name=rel.repo_id or rel.name,
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=MODEL_REF,
        version=rel.revision,
        hashes=hashes,
        licenses=_license_entries(report),
        external_references=refs,
        properties=_model_properties(report),
        components=files,
    )
    names = _card_datasets(report, datasets)
    data = [
        Component(
            name=name,
            type=ComponentType.DATA,
            bom_ref=f"dataset:{name}",
            external_references=[
                ExternalReference(
                    type=ExternalReferenceType.DISTRIBUTION,
                    url=XsUri(f"https://huggingface.co/datasets/{name}"),
                )
            ]
            if "/" in name
            else [],
        )
        for name in names
    ]
    from cyclonedx.model.tool import ToolRepository

    tools = ToolRepository(components=[_seewhy_component(report)])
    generated = _timestamp(report.metadata.generated_at)
    bom = Bom(
        serial_number=uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"seewhy:{report.metadata.source}:{rel.revision}:{report.metadata.generated_at}",
        ),
        metadata=BomMetaData(tools=tools, component=model, timestamp=generated),
        components=data,
    )
    bom.register_dependency(model, data)
    for d in data:
        bom.register_dependency(d, [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's hints on what a BOM could also hold
        doc: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    doc["metadata"]["component"]["modelCard"] = _model_card(report, names)
    return doc


def _seewhy_component(report: Report) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    return Component(
        name=report.metadata.tool, version=report.metadata.version, type=ComponentType.APPLICATION
    )


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _model_card(report: Report, datasets: list[str]) -> dict[str, Any]:
    """The ``modelCard`` object, from the report's facts only."""
    params: dict[str, Any] = {}
    arch = report.fact("architecture")
    if arch is not None:
        text = fact_text(arch.value)
        params["architectureFamily"] = text.split(" ", 1)[0]
        params["modelArchitecture"] = text
    if datasets:
        params["datasets"] = [{"ref": f"dataset:{name}"} for name in datasets]
    card: dict[str, Any] = {"bom-ref": "model-card"}
    if params:
        card["modelParameters"] = params
    metrics = [m for f in report.facts if (m := _metric(f)) is not None]
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    limitations = [
        f"{f.severity.value}: {f.title} ({f.rule_id}): {f.message}"
        for f in sorted(report.findings, key=lambda f: -f.severity.rank)
    ][:MAX_LIMITATIONS]
    limitations += [
        f"{c.path}: could not be fully checked ({c.status.value})"
        for c in report.inconclusive_files()
    ][: max(0, MAX_LIMITATIONS - len(limitations))]
    considerations: dict[str, Any] = {}
    if limitations:
        considerations["technicalLimitations"] = limitations
    if considerations:
        card["considerations"] = considerations
    card["properties"] = [
        {"name": f"seewhy:{k}", "value": str(v)}
        for k, v in (
            ("quantization", _fact_value(report, "quantization")),
            ("parameters", _fact_value(report, "parameter_count")),
            ("openness:mof-class", _fact_value(report, "openness.mof.class")),
        )
        if v
    ]
    if not card["properties"]:
        del card["properties"]
    return card


def _fact_value(report: Report, key: str) -> str:
    fact = report.fact(key)
    return fact_text(fact.value, key) if fact is not None else ""


def _metric(fact: Fact) -> dict[str, Any] | None:
    if fact.key != "performance.claim" or not isinstance(fact.value, dict):
        return None
    value = fact.value
    measured = _number(value.get("measured"))
    if measured is None:
        return None
    metric: dict[str, Any] = {
        "type": str(value.get("metric") or "accuracy"),
        "value": f"{measured:.4f}",
        "slice": str(value.get("benchmark") or "?"),
    }
    low, high = _number(value.get("ci_low")), _number(value.get("ci_high"))
    if low is not None and high is not None:
        metric["confidenceInterval"] = {"lowerBound": f"{low:.4f}", "upperBound": f"{high:.4f}"}
    return metric


def format_cyclonedx(report: Report, *, datasets: tuple[str, ...] | None = None) -> str:
    """The report as CycloneDX 1.6 JSON (an ML-BOM), one trailing newline."""
    return json.dumps(build_bom(report, datasets=datasets), indent=2, ensure_ascii=False) + "\n"


def validate(text: str) -> list[str]:
    """Errors of ``text`` against the CycloneDX 1.6 JSON schema (strict); empty when valid."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(e) for e in errors or ()]
