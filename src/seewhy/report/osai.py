"""European Open Source AI Index output: one system entry of the index's database.

The entry follows Language-Technology-Assessment/main-database: ``system``
and ``org`` blocks, then one ``{class, link, notes}`` block per parameter,
in the index's order. It is built only from the ``openness.osai.*`` facts
of the report. A parameter the snapshot could not grade has an empty class
(the index reads that as not applicable, so it is not scored) and notes that
start with "unknown:". The header comment gives seewhy's score.
"""

from __future__ import annotations

from typing import Any

import yaml

from seewhy.report.model import Report
from seewhy.report.sections import openness_mapping

_RESERVED = ("openness.osai.score", "openness.osai.system")


def osai_entry(report: Report) -> dict[str, Any]:
    """The index entry as a mapping (see :func:`format_osai`)."""
    system = openness_mapping(report, "openness.osai.system")
    verdict = report.verdict("openness")
    entry: dict[str, Any] = {
        "system": {
            "name": system.get("name", ""),
            "link": system.get("link", ""),
            "type": system.get("type", ""),
            "performanceclass": "",
            "basemodelname": system.get("basemodelname", ""),
            "endmodelname": system.get("endmodelname", ""),
            "endmodellicense": system.get("endmodellicense", ""),
            "releasedate": "",
            "notes": verdict.reason if verdict is not None else "",
        },
        "org": {"name": system.get("org", ""), "link": "", "notes": ""},
    }
    for fact in report.facts:
        if not fact.key.startswith("openness.osai.") or fact.key in _RESERVED:
            continue
        v = fact.value
        if not isinstance(v, dict):
            continue
        grade = str(v.get("class", ""))
        notes = str(v.get("notes", ""))
        entry[fact.key.removeprefix("openness.osai.")] = {
            "class": "" if grade == "unknown" else grade,
            "link": str(v.get("link") or ""),
            "notes": f"unknown: {notes}" if grade == "unknown" else notes,
        }
    return entry


def format_osai(report: Report) -> str:
    """The release as an Open Source AI Index YAML entry, with seewhy's score in a header."""
    entry = osai_entry(report)
    score = openness_mapping(report, "openness.osai.score")
    total = score.get("total")
    shown = "n/a" if total is None else f"{total:.3f}"
    header = (
        f"# Open Source AI Index entry drafted by {report.metadata.tool} "
        f"{report.metadata.version} from a snapshot of {report.metadata.source}.\n"
        f"# Score (open 1, partial 0.5, closed 0; mean over scored parameters): {shown} "
        f"over {score.get('scored', 0)} parameters; {score.get('unknown', 0)} unknown, "
        "not scored (empty class).\n"
        "# A draft: review every parameter before submitting.\n"
    )
    return header + yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=100)
