"""Model Openness Tool output: the release as a ``models/*.yml`` entry of MOT.

The entry follows lfai/model_openness_tool's model files: ``framework``
(name, version, date) and ``release`` (name, version, date, type,
architecture, producer, the distribution license and one entry per component
the release has). It is built only from the openness facts of the report
(``openness.mof.*``), so it says exactly what the audit found: a component
that was not found is left out (MOT reads that as missing), a component
inherits the distribution license as MOT's entries do. It is a draft for a
person to review: the header comment says so, and the release date is the
audit date.
"""

from __future__ import annotations

from typing import Any

import yaml

from seewhy.report.model import Fact, Report
from seewhy.report.sections import openness_mapping

_PRESENT = ("included", "invalid", "unlicensed")


def _component_facts(report: Report) -> list[Fact]:
    return [
        f
        for f in report.facts
        if f.key.startswith("openness.mof.")
        and isinstance(f.value, dict)
        and "mot" in f.value
        and "name" in f.value
    ]


def _component_path(path: str, huggingface: str) -> str:
    if "://" in path or not huggingface:
        return path
    return f"{huggingface}/blob/main/{path}"


def mof_entry(report: Report) -> dict[str, Any]:
    """The MOT entry as a mapping (see :func:`format_mof`)."""
    framework = openness_mapping(report, "openness.mof.framework")
    info = openness_mapping(report, "openness.mof.release")
    hf = str(info.get("huggingface") or "")
    components = []
    for fact in _component_facts(report):
        v = fact.value
        assert isinstance(v, dict)
        if v.get("mot") not in _PRESENT:
            continue
        entry: dict[str, Any] = {"name": v["name"], "description": v["description"]}
        if v.get("path"):
            entry["component_path"] = _component_path(str(v["path"]), hf)
        components.append(entry)
    release: dict[str, Any] = {
        "name": info["name"],
        "version": info.get("version", ""),
        "date": report.metadata.generated_at[:10],
        "type": info.get("type", ""),
        "architecture": info.get("architecture", ""),
    }
    if info.get("treatment"):
        release["treatment"] = info["treatment"]
    release["origin"] = info.get("base_model") or info["name"]
    release["producer"] = info.get("producer", "")
    release["contact"] = info.get("contact", "")
    if hf:
        release["huggingface"] = hf
    release["license"] = {
        "distribution": {
            "name": info.get("license_distribution", ""),
            "path": _component_path(str(info.get("license_distribution_path") or ""), hf),
        }
    }
    release["components"] = components
    return {
        "framework": {
            "name": framework["name"],
            "version": str(framework["version"]),
            "date": str(framework["date"]),
        },
        "release": release,
    }


def format_mof(report: Report) -> str:
    """The release as a Model Openness Tool YAML entry, with a review header."""
    entry = mof_entry(report)
    mof_class = report.fact("openness.mof.class")
    label = mof_class.value if mof_class is not None else "not computed"
    header = (
        f"# Model Openness Tool entry drafted by {report.metadata.tool} "
        f"{report.metadata.version} from a snapshot of {report.metadata.source}.\n"
        f"# Class as MOT computes it from this entry: {label}.\n"
        "# A draft: review every component before submitting; release.date is the audit date,\n"
        "# components not found in the snapshot are left out, linked ones inherit the\n"
        "# distribution license as MOT's rule says (their own licenses were not checked).\n"
    )
    return header + yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=100)
