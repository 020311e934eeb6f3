"""Openness grades beside the experts': MOF class (Model Openness Tool) and OSAI grid.

For every model of ``../shared/corpus/openness`` (expected.json, cards/manifest.json)
the card is laid out as a release, as its Hub repository has it: README.md (the card,
byte for byte) beside a stand-in weights file (a valid one-tensor safetensors) and a
config.json. seewhy audits the folder (inventory, license identification, openness)
and its answers are printed beside the experts' published ones:

* per card: seewhy's MOF class and the Model Openness Tool's, and the OSAI grid
  (12 parameters) beside the index's;
* the per-component confusion (MOT "included" against seewhy "included");
* MOF class agreement, OSAI cell agreement, and every case where seewhy rates a
  release, a component or a parameter MORE open than the expert;
* every disagreement with the evidence on both sides: seewhy's (card line, quote or
  "not found in this snapshot") and the expert's (MOT component license/status; the
  index's link and notes). A disagreement where the card has no evidence for what
  the expert graded more open is labelled "outside the card" (the expert read the
  paper, the repositories or dataset pages).

    .venv/bin/python benchmarks/openness_agreement.py [--corpus DIR] [--quiet] [--json OUT]

The layout invents config.json and the weights file. A component whose only evidence
is one of them (Model metadata from config.json, Model architecture from its library
class, Model parameters from the weights) is labelled "layout" when the entry does not
list it. seewhy keeps counting a library class named in config.json as the published
architecture: the MOT entries of Pythia, GPT-NeoX, OLMo and Granite count it so.

Every case where seewhy rates more open is put in one category (CATEGORIES): layout,
the entry's license spelling ("Apache 2.0" is not an SPDX id, MOT rejects it), the
entry's own license judgement (a component marked unlicensed, a paper given its arXiv
license; nothing in a card tells these apart from Pythia's entry, whose documents inherit
Apache-2.0, so seewhy keeps MOT's rule), a component the entry omits while the card shows
it (quoted), availability the index judged from elsewhere (weights taken down, API
only), or seewhy's own doing. OSAI agreement is printed over all cells and over the
cells whose card carries the evidence.

Targets (issue 8): MOF class equal for >= 90 % of cards and for every classified
release whose card carries the evidence, OSAI cells equal for >= 85 %, and no case
where seewhy rates more open than the expert.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer
from seewhy.analyzers.openness import OpennessAnalyzer, tables
from seewhy.audit import audit
from seewhy.report.model import Report

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "openness"
RANK = {"closed": 0, "unknown": 0, "partial": 1, "open": 2}
CONFIG = {"architectures": ["StandInForCausalLM"], "model_type": "stand-in"}
STAND_INS = ("config.json", "model.safetensors")  # the files the layout invents
OUTSIDE = "outside the card"
# Why seewhy rates a component or a cell more open than the expert. Only SEEWHY is seewhy's
# own doing (a detection or a license reading the card does not support); the others are
# the expert's judgement of things the card does not carry, or the benchmark's layout.
LAYOUT = "layout: evidence only from the benchmark's stand-in files (config.json, weights)"
SPELLING = (
    "expert entry's license string is an open license spelled so MOT rejects it "
    "(the entry's spelling, not in the card)"
)
JUDGEMENT = (
    "expert's own license judgement, not in the card (the entry marks the component "
    "unlicensed or gives a paper its arXiv license; MOT's rule gives a listed component "
    "the release license)"
)
OMITTED = "the expert entry does not list it; the card shows it (quoted)"
AVAILABILITY = "outside the card: the index judged availability from elsewhere (its note)"
SEEWHY = "seewhy more open than the card's evidence supports"
CATEGORIES = (LAYOUT, SPELLING, JUDGEMENT, OMITTED, AVAILABILITY, SEEWHY)


def stand_in_weights() -> bytes:
    """A valid safetensors file holding one float32 zero."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\0\0\0\0"


def lay_out(card: Path, root: Path) -> Path:
    """The card as a release folder: README.md, model.safetensors, config.json."""
    root.mkdir(parents=True)
    (root / "README.md").write_bytes(card.read_bytes())
    (root / "model.safetensors").write_bytes(stand_in_weights())
    (root / "config.json").write_text(json.dumps(CONFIG) + "\n")
    return root


def facts(report: Report) -> dict[str, Any]:
    return {f.key: f.value for f in report.facts}


def evidence_of(report: Report, key: str) -> str:
    """seewhy's evidence for one fact, as 'path:line "quote"' (first two pieces)."""
    fact = report.fact(key)
    if fact is None:
        return "(no fact)"
    parts = []
    for e in fact.evidence[:2]:
        where = f"{e.path}:{e.line}" if e.path and e.line else (e.path or "")
        quote = f' "{e.excerpt[:110]}"' if e.excerpt else ""
        note = f" ({e.note[:120]})" if e.note else ""
        parts.append(f"{where}{quote}{note}".strip())
    return "; ".join(parts) or "(no evidence)"


@dataclass
class Disagreement:
    card: str
    framework: str  # MOF class | MOF component | OSAI
    item: str
    seewhy: str
    expert: str
    direction: str  # more open | less open | different
    label: str
    seewhy_evidence: str
    expert_evidence: str


@dataclass
class Tally:
    mot_cards: int = 0
    mot_equal: int = 0
    classified: list[tuple[str, int, int, bool]] = field(default_factory=list)
    osai_cells: int = 0
    osai_equal: int = 0
    confusion: dict[str, Counter[str]] = field(default_factory=dict)
    osai_confusion: dict[str, Counter[str]] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)


def _class_rank(c: int) -> int:
    """How open a MOF class is: Unclassified 0, Class III 1, II 2, I 3."""
    return 0 if c == 0 else 4 - c


def _osai_expert(corpus: Path, file: str) -> dict[str, Any]:
    path = corpus / "osai" / file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _open_spelling(name: str | None) -> bool:
    """Whether an entry's license string is an open license id written another way
    ("Apache 2.0", "CC BY-SA 4.0"): MOT matches exact ids, so the entry's own spelling
    makes the component invalid."""
    if not name:
        return False
    mot = tables.mot()
    key = _norm(name)
    return any(_norm(lid) == key for lid in mot.licenses if mot.is_open(lid)) and not mot.is_open(
        name
    )


def only_stand_ins(report: Report, key: str) -> bool:
    """Whether every piece of seewhy's evidence for a fact is a file the layout invented."""
    fact = report.fact(key)
    if fact is None or not fact.evidence:
        return False
    return all(e.path in STAND_INS and not e.line for e in fact.evidence)


def _more_open_component(
    value: dict[str, Any], status: str, lic: str | None, report: Report, key: str
) -> str:
    """Why seewhy counts a component that the expert entry does not (see CATEGORIES)."""
    if status == "unlicensed" or "arxiv" in (lic or "").lower():
        return JUDGEMENT
    if status == "invalid":
        if _open_spelling(lic):
            return SPELLING
        return SEEWHY  # the entry names another, non-open license: seewhy read the card wrong
    if only_stand_ins(report, key):
        return LAYOUT
    return OMITTED


def compare_mot(t: Tally, card: str, pair: dict[str, Any], report: Report) -> str:
    f = facts(report)
    expert = pair["mot"]
    label = str(f.get("openness.mof.class", "?"))
    mot = tables.mot()
    ours = next((c for c in (0, 1, 2, 3) if mot.label(c) == label), -1)
    t.mot_cards += 1
    t.mot_equal += ours == expert["class"]
    comps = expert["components"]
    carries = True
    for c in mot.components:
        slug = c.slug
        value = f.get(f"openness.mof.{slug}") or {}
        we = value.get("mot") == "included"
        they = comps.get(c.name, {}).get("status") == "open"
        cell = ("TP" if we else "FN") if they else ("FP" if we else "TN")
        t.confusion.setdefault(c.name, Counter())[cell] += 1
        required_for_class = expert["class"] > 0 and c.required and c.mof_class >= expert["class"]
        if they and required_for_class and not value.get("path"):
            carries = False  # the card does not show a component the class needs
        if we == they:
            continue
        status = comps.get(c.name, {}).get("status", "not listed")
        lic = comps.get(c.name, {}).get("resolved_license")
        expert_ev = f"MOT {expert['file']}: {status}" + (f" ({lic})" if lic else "")
        if they and not value.get("path"):
            direction, why = "less open", OUTSIDE
        elif they:
            direction, why = "less open", f"seewhy: {value.get('note', '')}"
        else:
            direction = "more open"
            why = _more_open_component(value, status, lic, report, f"openness.mof.{slug}")
        t.disagreements.append(
            Disagreement(
                card,
                "MOF component",
                c.name,
                "included" if we else str(value.get("mot")),
                "included" if they else status,
                direction,
                why,
                evidence_of(report, f"openness.mof.{slug}"),
                expert_ev,
            )
        )
    if expert["class"] > 0:
        t.classified.append((card, expert["class"], ours, carries))
    if ours != expert["class"]:
        more = _class_rank(ours) > _class_rank(expert["class"])
        why = "" if more or carries else OUTSIDE
        if more:
            # the class is more open because of the component disagreements; the class takes
            # the least excusable of their reasons (SEEWHY first)
            reasons = {
                d.label
                for d in t.disagreements
                if d.card == card and d.framework == "MOF component" and d.direction == "more open"
            }
            why = next((c for c in reversed(CATEGORIES) if c in reasons), SEEWHY)
        t.disagreements.append(
            Disagreement(
                card,
                "MOF class",
                "class",
                label,
                expert["label"],
                "more open" if more else "less open",
                why,
                f"progress {f.get('openness.mof.progress')}",
                f"MOT {expert['file']}: progress {expert['progress']}",
            )
        )
    return f"MOF seewhy {label[:9]:9} expert {expert['label'][:9]:9}"


def compare_osai(t: Tally, corpus: Path, card: str, pair: dict[str, Any], report: Report) -> str:
    f = facts(report)
    expert = pair["osai"]
    entry = _osai_expert(corpus, expert["file"])
    cells = []
    for ref, spec in expert["params"].items():
        theirs = spec["class"]
        value = f.get(f"openness.osai.{ref}") or {}
        ours = str(value.get("class", "?"))
        t.osai_cells += 1
        t.osai_equal += ours == theirs
        t.osai_confusion.setdefault(ref, Counter())[f"{ours}/{theirs}"] += 1
        cells.append(f"{ref[:6]}:{ours[:2]}/{theirs[:2]}")
        if ours == theirs:
            continue
        more = RANK.get(ours, 0) > RANK[theirs]
        if more:
            # weights: seewhy grades what the card shows (license, gating); the index also
            # weighs what happened elsewhere (taken down, no Hub page, API only): its note
            # is printed beside. Any other parameter graded more open is seewhy's doing.
            label = AVAILABILITY if ref.startswith("weights_") else SEEWHY
        elif value.get("not_found") and not value.get("link"):
            label = OUTSIDE  # seewhy found nothing in the card for it
        else:
            label = "the card's evidence graded lower (what it shows needs a reviewer)"
        raw = entry.get(ref)
        ex: dict[str, Any] = raw if isinstance(raw, dict) else {}
        expert_ev = f"OSAI {expert['file']}: {ex.get('link') or '-'} {ex.get('notes') or ''}"
        t.disagreements.append(
            Disagreement(
                card,
                "OSAI",
                ref,
                ours,
                theirs,
                "more open" if more else "less open",
                label,
                f"{value.get('notes', '')} | {evidence_of(report, f'openness.osai.{ref}')}",
                " ".join(expert_ev.split())[:300],
            )
        )
    return "OSAI " + " ".join(cells)


def run(corpus: Path, quiet: bool) -> Tally:
    pairs = json.loads((corpus / "expected.json").read_text(encoding="utf-8"))["pairs"]
    manifest = json.loads((corpus / "cards" / "manifest.json").read_text(encoding="utf-8"))
    files = {m["file"] for m in manifest}
    t = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            card = pair["card_file"]
            if card not in files:
                continue
            root = lay_out(corpus / "cards" / card, Path(tmp) / card.removesuffix(".md"))
            report = audit(
                root,
                analyzers=[InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()],
            )
            row = [f"{card[:44]:44}"]
            if pair.get("mot"):
                row.append(compare_mot(t, card, pair, report))
            if pair.get("osai"):
                row.append(compare_osai(t, corpus, card, pair, report))
            t.rows.append("  ".join(row))
    return t


def pct(a: int, b: int) -> str:
    return f"{a}/{b} = {100 * a / b:.1f}%" if b else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--quiet", action="store_true", help="figures only")
    parser.add_argument("--json", type=Path, help="write the figures and disagreements here")
    args = parser.parse_args(argv)
    if not (args.corpus / "expected.json").is_file():
        print(f"openness corpus not found at {args.corpus}: nothing to measure")
        return 0
    t = run(args.corpus, args.quiet)
    if not args.quiet:
        print("== per card (seewhy / expert)")
        for row in t.rows:
            print(row)
        print("\n== MOF components: MOT 'included' (expert) against seewhy 'included'")
        print(f"{'component':34} {'TP':>3} {'FN':>3} {'FP':>3} {'TN':>3}")
        for name, c in t.confusion.items():
            print(f"{name:34} {c['TP']:3} {c['FN']:3} {c['FP']:3} {c['TN']:3}")
        print("\n== OSAI parameters: seewhy/expert counts")
        for ref, c in t.osai_confusion.items():
            print(f"{ref:22} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        print("\n== disagreements (seewhy evidence | expert evidence)")
        for d in t.disagreements:
            print(
                f"- {d.card} {d.framework} {d.item}: seewhy {d.seewhy}, expert {d.expert} "
                f"[{d.direction}{'; ' + d.label if d.label else ''}]\n"
                f"    seewhy: {d.seewhy_evidence[:400]}\n    expert: {d.expert_evidence[:300]}"
            )
    more = [d for d in t.disagreements if d.direction == "more open"]
    by_kind = Counter(d.framework for d in more)
    outside = sum(1 for d in t.disagreements if d.label.startswith(OUTSIDE))
    osai_outside = sum(
        1
        for d in t.disagreements
        if d.framework == "OSAI" and (d.label == OUTSIDE or d.label == AVAILABILITY)
    )
    classified_ok = [c for c in t.classified if c[1] == c[2]]
    carrying = [c for c in t.classified if c[3]]
    carrying_ok = [c for c in carrying if c[1] == c[2]]
    print("\n== figures")
    print(f"MOF class equal to MOT:               {pct(t.mot_equal, t.mot_cards)} (target >= 90%)")
    print(f"classified releases (I-III) equal:    {pct(len(classified_ok), len(t.classified))}")
    print(
        f"  ... whose card carries the evidence: {pct(len(carrying_ok), len(carrying))} "
        "(target: all)"
    )
    for card, theirs, ours, carries in t.classified:
        mark = "=" if theirs == ours else "!"
        print(
            f"  {mark} {card}: expert class {theirs}, seewhy {ours or 'Unclassified'}"
            f"{'' if carries else ' (card lacks evidence the class needs)'}"
        )
    print(
        f"OSAI cells equal to the index:        {pct(t.osai_equal, t.osai_cells)} (target >= 85%)"
    )
    print(
        f"  ... over cells whose card carries the evidence: "
        f"{pct(t.osai_equal, t.osai_cells - osai_outside)} "
        f"({osai_outside} cells left out: the index graded from outside the card)"
    )
    print(
        f"seewhy more open than the expert:     {len(more)} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(by_kind.items())) or 'none'}) (target 0)"
    )
    for category in CATEGORIES:
        here = [d for d in more if d.label == category]
        kinds = Counter(d.framework for d in here)
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())) or "none"
        print(f"  {len(here):4} {category} ({detail})")
    print(f"disagreements labelled {OUTSIDE!r}: {outside} of {len(t.disagreements)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "mot_equal": t.mot_equal,
                    "mot_cards": t.mot_cards,
                    "classified": t.classified,
                    "osai_equal": t.osai_equal,
                    "osai_cells": t.osai_cells,
                    "osai_outside": osai_outside,
                    "more_open": len(more),
                    "more_open_by_category": {
                        c: sum(1 for d in more if d.label == c) for c in CATEGORIES
                    },
                    "disagreements": [d.__dict__ for d in t.disagreements],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
