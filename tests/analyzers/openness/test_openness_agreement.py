"""seewhy's openness grades beside the experts' on the real cards of the shared corpus.

Runs ``benchmarks/openness_agreement.py`` (the same code ``make bench`` prints) over
``shared/corpus/openness`` (expected.json, cards/manifest.json) and holds the figures
reached when it was calibrated, minus a small margin, so that a regression fails:

* MOF class equal to the Model Openness Tool's for 65 of 68 cards (96 %): floor 90 %;
  every classified release (Class I-III) equal;
* OSAI cells equal to the index's for 172 of 264 (65 %): floor 62 %;
* seewhy never grades an OSAI parameter more open than the index from the card's own
  evidence (the only cases are weights, where the layout's stand-in weights file meets
  an index entry that graded the real, taken-down or gated, weights);
* a MOF component rated more open than the MOT entry is always one that the entry
  omits or lists without a license while the card shows it (evidence quoted), and at
  most three cards get a higher class for that reason.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus" / "openness"
BENCH = ROOT / "benchmarks" / "openness_agreement.py"

MOT_FLOOR = 0.90
OSAI_FLOOR = 0.62
MAX_MOF_CLASS_MORE_OPEN = 3


@cache
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openness_agreement", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["openness_agreement"] = module
    spec.loader.exec_module(module)
    return module


@cache
def tally() -> Any:
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"shared openness corpus not available at {CORPUS}")
    return bench().run(CORPUS, quiet=True)


def test_mof_class_agrees_with_the_model_openness_tool() -> None:
    t = tally()
    assert t.mot_cards >= 60
    assert t.mot_equal / t.mot_cards >= MOT_FLOOR, f"{t.mot_equal}/{t.mot_cards}"


def test_every_classified_release_gets_the_experts_class() -> None:
    t = tally()
    assert t.classified, "expected.json lists Class I-III releases"
    wrong = [(card, theirs, ours) for card, theirs, ours, _ in t.classified if theirs != ours]
    assert not wrong
    assert {theirs for _, theirs, _, _ in t.classified} == {1, 2, 3}


def test_osai_cells_agree_with_the_index() -> None:
    t = tally()
    pairs = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["pairs"]
    assert t.osai_cells == 12 * sum(1 for p in pairs if p.get("osai"))
    assert t.osai_equal / t.osai_cells >= OSAI_FLOOR, f"{t.osai_equal}/{t.osai_cells}"


def test_osai_never_more_open_than_the_index_from_the_card() -> None:
    t = tally()
    more = [d for d in t.disagreements if d.framework == "OSAI" and d.direction == "more open"]
    unexplained = [d for d in more if d.label != bench().LAYOUT]
    assert not unexplained, [(d.card, d.item, d.seewhy, d.expert) for d in unexplained]
    assert all(d.item in ("weights_endmodel", "weights_basemodel") for d in more)


def test_mof_more_open_only_where_the_entry_omits_what_the_card_shows() -> None:
    t = tally()
    components = [
        d for d in t.disagreements if d.framework == "MOF component" and d.direction == "more open"
    ]
    assert all("expert entry" in d.label for d in components)
    assert all(d.seewhy_evidence and d.seewhy_evidence != "(no evidence)" for d in components)
    classes = [
        d for d in t.disagreements if d.framework == "MOF class" and d.direction == "more open"
    ]
    assert len(classes) <= MAX_MOF_CLASS_MORE_OPEN, [d.card for d in classes]


def test_every_disagreement_has_evidence_on_both_sides() -> None:
    t = tally()
    assert t.disagreements
    for d in t.disagreements:
        assert d.seewhy_evidence and d.expert_evidence, d
        if d.label == bench().OUTSIDE:
            assert d.direction == "less open"


def test_the_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    tally()  # skips without the corpus
    assert bench().main(["--corpus", str(CORPUS), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "MOF class equal to MOT" in out and "OSAI cells equal to the index" in out
    assert "seewhy more open than the expert" in out
