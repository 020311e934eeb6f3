"""The Model Openness Tool's evaluation, step for step.

This mirrors ``web/modules/mof/src/ModelEvaluator.php`` of
lfai/model_openness_tool@8b5d30e: each component's license is resolved
(component, then the release license for the component's content type, then
the distribution license); a present component with an open license is
*included* (with a not-type-appropriate warning when the license is open but
not listed for its content type), one with no license is *unlicensed* and
one with any other license *invalid*. Classes are cumulative (III, then II,
then I), the technical report may be replaced by a research paper, and the
class is the lowest class at 100 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from seewhy.analyzers.openness import tables

MotStatus = Literal["included", "invalid", "unlicensed", "missing"]
UNLICENSED = "unlicensed"
_STATUSES = ("included", "invalid", "unlicensed")


@dataclass(frozen=True)
class MotComponent:
    """How MOT sees one component."""

    name: str
    status: MotStatus
    license: str | None  # the resolved license; None when missing or unlicensed
    type_appropriate: bool = True


@dataclass(frozen=True)
class MotResult:
    """A MOT evaluation: per-component status, per-class progress and the class."""

    mof_class: int  # 0 (unclassified), 1, 2 or 3
    label: str
    progress: Mapping[int, float]  # class -> percent
    components: Mapping[str, MotComponent]


def resolve_license(
    content_type: str,
    component_license: str | None,
    release_licenses: Mapping[str, str],
) -> str | None:
    """``ModelEvaluator::resolveLicense``.

    ``component_license`` is the component's own license: ``None`` when it
    has none (it inherits), ``""`` when it is explicitly unlicensed.
    ``release_licenses`` maps ``code``/``data``/``document``/``distribution``
    to license names.
    """
    if component_license is not None:
        return component_license or None
    return release_licenses.get(content_type) or release_licenses.get("distribution") or None


def evaluate(
    present: Mapping[str, str | None],
    release_licenses: Mapping[str, str],
) -> MotResult:
    """Evaluate a release the way MOT does.

    ``present`` maps the MOF name of every component the release has to its
    own license (``None`` to inherit, ``""`` for explicitly unlicensed);
    components not in it are missing. Unknown names raise KeyError.
    """
    t = tables.mot()
    components: dict[str, MotComponent] = {}
    for name, own in present.items():
        c = t.component(name)
        lic = resolve_license(c.content_type, own, release_licenses) or UNLICENSED
        if t.is_open(lic):
            components[name] = MotComponent(
                name, "included", lic, t.is_type_appropriate(lic, c.content_type)
            )
        elif lic == UNLICENSED:
            components[name] = MotComponent(name, "unlicensed", None)
        else:
            components[name] = MotComponent(name, "invalid", lic)
    for c in t.components:
        components.setdefault(c.name, MotComponent(c.name, "missing", None))

    # evaluate(): cumulative required components, III -> I, as per-class status lists.
    lists: dict[int, dict[str, list[int]]] = {}
    required: list[int] = []
    for cls in (3, 2, 1):
        required += [c.id for c in t.required(cls)]
        buckets: dict[str, list[int]] = {"missing": [], **{s: [] for s in _STATUSES}}
        for cid in required:
            buckets[components[t.by_id(cid).name].status].append(cid)
        lists[cls] = buckets
    _omit_technical_report(lists, t.technical_report_id, t.research_paper_id)

    progress = {cls: _progress(lists, cls, t) for cls in (3, 2, 1)}
    mof_class = 0
    for cls in (3, 2, 1):
        if progress[cls] == 100.0:
            mof_class = cls
    return MotResult(mof_class, t.label(mof_class), progress, components)


def _status(buckets: Mapping[str, list[int]], cid: int) -> str | None:
    return next((s for s in _STATUSES if cid in buckets[s]), None)


def _omit_technical_report(lists: dict[int, dict[str, list[int]]], report: int, paper: int) -> None:
    """``handleTechnicalReportOmission``: a research paper stands in for the report."""
    if _status(lists[3], report) == "included":
        return
    paper_status = _status(lists[1], paper)
    if paper_status is None:
        return
    for cls in (1, 2, 3):
        if report in lists[cls]["missing"]:
            lists[cls]["missing"].remove(report)
    for cls in (2, 3):
        lists[cls][paper_status].append(paper)


def _progress(lists: Mapping[int, Mapping[str, list[int]]], cls: int, t: tables.MotTables) -> float:
    """``ModelEvaluator::getProgress``."""
    total = 0
    included = 0
    level = 3
    while level >= cls:
        total += len(t.required(level))
        included = len(lists[level]["included"])
        if included < total:
            break
        level -= 1
    if level > cls:
        return 0.0
    if (
        cls == 1
        and _status(lists[1], t.technical_report_id) != "included"
        and _status(lists[1], t.research_paper_id) == "included"
    ):
        total -= 1
    return min(100.0, included / total * 100)
