"""JSON output: the Report as its schema defines it."""

from __future__ import annotations

import json

from seewhy.report.model import Report


def format_json(report: Report) -> str:
    """The report as indented, key-stable JSON (deterministic but for metadata)."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def report_schema() -> str:
    """The JSON Schema of the report."""
    return json.dumps(Report.model_json_schema(), indent=2) + "\n"
