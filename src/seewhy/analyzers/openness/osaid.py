"""The OSI Open Source AI Definition 1.0: Data Information, Code, Parameters.

OSAID 1.0 asks for the preferred form to modify the system: data
information (a description of all training data sufficient for a skilled
person to build a substantially equivalent system), the complete code used
to train and run it under OSI-approved licenses, and the parameters under
OSI-approved terms. A snapshot can show that each is there and under which
license; whether the description is sufficient and the code complete needs
a person, so "met" always says what was not verified, and what was not
found is "unknown", never "not met".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from seewhy.analyzers.openness.components import (
    DataInformation,
    Detected,
    EvidenceSet,
    Sighting,
)
from seewhy.analyzers.openness.licensing import ReleaseLicense, restriction_summary
from seewhy.report.model import Evidence

OsaidStatus = Literal["met", "not met", "unknown"]


@dataclass(frozen=True)
class Requirement:
    """One OSAID requirement and how the release fares."""

    key: str  # data_information | code | parameters
    name: str
    status: OsaidStatus
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Osaid:
    """The three OSAID 1.0 requirements."""

    data_information: Requirement
    code: Requirement
    parameters: Requirement

    @property
    def requirements(self) -> tuple[Requirement, Requirement, Requirement]:
        """The requirements in the definition's order."""
        return (self.data_information, self.code, self.parameters)

    @property
    def conforms(self) -> Literal["yes", "no", "unknown"]:
        """yes when all are met, no when any is not met, else unknown."""
        statuses = {r.status for r in self.requirements}
        if statuses == {"met"}:
            return "yes"
        return "no" if "not met" in statuses else "unknown"

    def unmet(self) -> tuple[Requirement, ...]:
        """Requirements not shown to be met."""
        return tuple(r for r in self.requirements if r.status != "met")


def _where(s: Sighting | None) -> str:
    if s is None:
        return "?"
    if s.url:
        return s.url
    return f"{s.path}:{s.line}" if s.line else str(s.path)


def _license_problem(lic: ReleaseLicense, what: str, need_osi: bool) -> tuple[OsaidStatus, str]:
    """(status, reason) when the license keeps ``what`` from meeting OSAID, else ("met", "")."""
    if lic.state == "none":
        return "unknown", f"{what}, but no license was found for it"
    if lic.state == "unidentified":
        return "unknown", f"{what}, but its license was not identified; a reviewer must read it"
    if lic.state == "restricted":
        summary = restriction_summary(lic.restrictions)
        return "not met", f"{what}, but under {lic.display}: {summary}"
    if lic.state == "not-open" or (need_osi and not lic.osi):
        return "not met", f"{what}, but under {lic.display}, which is not OSI-approved"
    return "met", ""


def _parameters(detected: Mapping[str, Detected], lic: ReleaseLicense) -> Requirement:
    weights = detected["Model parameters (Final)"]
    name = "Parameters"
    if not weights.present:
        return Requirement(
            "parameters",
            name,
            "unknown",
            "no weight files in the release: the parameters and their terms cannot be checked",
            (Evidence(note=f"not found: {weights.need}"),),
        )
    evidence = (*(s.evidence() for s in weights.sightings[:2]), *lic.evidence())
    if lic.unlicensed:  # no license anywhere: nobody is granted any right
        reason = (
            "weights present, but no license anywhere in this snapshot: no rights granted "
            "(a license published elsewhere would change this)"
        )
        return Requirement("parameters", name, "not met", reason, evidence)
    if lic.state == "none":  # not unlicensed: a license is referenced, not included
        reason = "weights present; their license is referenced, not included in this snapshot"
        return Requirement("parameters", name, "unknown", reason, evidence)
    status, reason = _license_problem(lic, "weights present", need_osi=False)
    if status != "met":
        return Requirement("parameters", name, status, reason, evidence)
    if lic.osi:
        reason = f"weights under {lic.display} (OSI-approved)"
    else:
        reason = (
            f"weights under {lic.display}, an open license that is not OSI-approved "
            "(OSAID 1.0 leaves 'OSI-approved terms' for parameters undefined)"
        )
    return Requirement("parameters", name, "met", reason, evidence)


def _code(detected: Mapping[str, Detected], lic: ReleaseLicense) -> Requirement:
    training = detected["Training code"]
    name = "Code"
    if not training.present:
        return Requirement(
            "code",
            name,
            "unknown",
            "no training code in the release or linked from the card; OSAID needs the complete "
            "code used to process data, train and run the system",
            (Evidence(note=f"not found: {training.need}"),),
        )
    where = _where(training.first)
    evidence = (*(s.evidence() for s in training.sightings[:2]), *lic.evidence()[:2])
    status, reason = _license_problem(lic, f"training code at {where}", need_osi=True)
    if status != "met":
        return Requirement("code", name, status, reason, evidence)
    missing = [
        n
        for n in ("Data preprocessing code", "Inference code", "Model architecture")
        if not detected[n].present
    ]
    reason = f"training code at {where} under {lic.display}; completeness not verified"
    if training.linked:
        reason += " (linked: its own license was not checked; MOT inherits the release license)"
    if missing:
        reason += "; not found: " + ", ".join(m.lower() for m in missing)
    return Requirement("code", name, "met", reason, evidence)


def _data_information(detected: Mapping[str, Detected], lic: ReleaseLicense) -> Requirement:
    card = detected["Data card"]
    datasets = detected["Datasets"]
    name = "Data Information"
    info = (
        detected.data_information()
        if isinstance(detected, EvidenceSet)
        else DataInformation(card.sightings, datasets.sightings, ())
    )
    if not info.found:
        return Requirement(
            "data_information",
            name,
            "unknown",
            "the card neither describes the training data nor lists datasets; OSAID needs a "
            "complete description of all training data and where to obtain it",
            (Evidence(note=f"not found: {card.need}; {datasets.need}"),),
        )
    shown = [d for d in (card, datasets) if d.present]
    evidence = (
        *(s.evidence() for d in shown for s in d.sightings[:2]),
        *(s.evidence() for s in info.undisclosed[:1]),
        *lic.evidence()[:2],
    )
    status, reason = _license_problem(lic, info.summary(), need_osi=False)
    if status != "met":
        return Requirement("data_information", name, status, reason, evidence)
    reason = (
        f"{info.summary()}; whether a skilled person could rebuild a substantially equivalent "
        "system from it was not verified"
    )
    return Requirement("data_information", name, "met", reason, evidence)


def check_osaid(detected: Mapping[str, Detected], lic: ReleaseLicense) -> Osaid:
    """Grade the release against the three OSAID 1.0 requirements."""
    return Osaid(
        # Code and data information carry the release's own license; the parameters carry
        # the effective one (a base model's terms bind the weights derived from it).
        data_information=_data_information(detected, lic.own),
        code=_code(detected, lic.own),
        parameters=_parameters(detected, lic),
    )
