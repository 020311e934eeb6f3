"""License identification and clause tagging against the shared reference corpus.

Expectations are read from the corpus manifests at test time (never copied
here): ``licenses/manifest.json`` gives each text's family, variant,
OSI status and the tags it must carry; ``cards/manifest.json`` each card's
declared license and base model.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from seewhy.analyzers.interface import AuditContext
from seewhy.analyzers.license import TAGS, LicenseMatch, identify_bytes, release_licenses
from seewhy.analyzers.license.kb import KnowledgeBase, load_kb
from seewhy.release.local import open_release


def _shared() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "corpus"
        if candidate.is_dir():
            return candidate
        candidate = parent.parent / "shared" / "corpus"
        if candidate.is_dir():
            return candidate
    return None


CORPUS = _shared()
LICENSES = CORPUS / "licenses" if CORPUS else None
CARDS = CORPUS / "cards" if CORPUS else None


def _manifest(folder: Path | None) -> list[dict[str, Any]]:
    if folder is None or not (folder / "manifest.json").is_file():
        return []
    data: list[dict[str, Any]] = json.loads((folder / "manifest.json").read_text("utf-8"))
    return data


LICENSE_ENTRIES = _manifest(LICENSES)
CARD_ENTRIES = _manifest(CARDS)
needs_corpus = pytest.mark.skipif(
    not LICENSE_ENTRIES, reason="the shared corpus (../shared/corpus) is not present"
)


def _is_spdx(identifier: str | None) -> bool:
    return bool(identifier) and not str(identifier).startswith("LicenseRef-")


def _expected_kind(variant: str) -> str:
    if "prohibited-use-policy" in variant:
        return "prohibited-use-policy"
    if "use-policy" in variant or "aup" in variant.split("-"):
        return "use-policy"
    return "license"


def _versions_in(variant: str) -> list[str]:
    return re.findall(r"\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)*", variant)


def _agrees(version: str, hints: list[str]) -> bool:
    return any(version == h or version.startswith(h) or h.startswith(version) for h in hints)


def _identify(entry: dict[str, Any], kb: KnowledgeBase | None = None) -> LicenseMatch:
    assert LICENSES is not None
    path = LICENSES / entry["file"]
    return identify_bytes(path.read_bytes(), entry["file"], kb=kb)[0]


def _check_identity(entry: dict[str, Any], match: LicenseMatch) -> None:
    kb = load_kb()
    expected_id = entry.get("spdx_or_licenseref")
    assert match.license_id is not None, f"{entry['file']}: not identified ({match.note})"
    assert match.kind == _expected_kind(entry["variant"]), entry["file"]
    assert bool(match.osi_approved) == entry["osi_approved"], entry["file"]
    if _is_spdx(expected_id):
        # An SPDX text: the manifest's family says where the file came from.
        assert match.license_id.lower() == str(expected_id).lower(), entry["file"]
        return
    assert match.family == entry["family"], entry["file"]
    if entry.get("scancode_key"):  # the text is ScanCode's own: its key must resolve to us
        resolved = kb.get(f"LicenseRef-scancode-{entry['scancode_key']}")
        assert resolved is not None, entry["scancode_key"]
        assert resolved.id == match.license_id, entry["file"]
    hints = _versions_in(entry["variant"])
    if hints:
        assert match.version is not None, f"{entry['file']}: no version"
        assert _agrees(match.version, hints), f"{entry['file']}: version {match.version}"
    elif match.version is not None:
        assert match.version, entry["file"]


@needs_corpus
@pytest.mark.parametrize("entry", LICENSE_ENTRIES, ids=lambda e: e["file"])
def test_corpus_text_is_identified(entry: dict[str, Any]) -> None:
    _check_identity(entry, _identify(entry))


@needs_corpus
@pytest.mark.parametrize("entry", LICENSE_ENTRIES, ids=lambda e: e["file"])
def test_corpus_text_is_identified_by_phrases_alone(entry: dict[str, Any]) -> None:
    """Reference fingerprints only add confidence: phrases alone must get every text right."""
    _check_identity(entry, _identify(entry, load_kb().without_fingerprints()))


@needs_corpus
@pytest.mark.parametrize(
    "entry",
    [e for e in LICENSE_ENTRIES if e.get("expected_tags") is not None],
    ids=lambda e: e["file"],
)
def test_corpus_text_has_its_tags(entry: dict[str, Any]) -> None:
    match = _identify(entry)
    got = {t.tag for t in match.tags}
    expected = set(entry["expected_tags"])
    assert got <= set(TAGS)
    if expected:
        assert expected <= got, f"missing {sorted(expected - got)}"
    else:
        assert not got, f"{entry['file']} is permissive but got {sorted(got)}"
    for tag in match.tags:
        assert tag.quote and len(tag.quote) <= 320
        assert tag.location.path == entry["file"]
        assert tag.location.line is not None and tag.location.line >= 1
        assert tag.location.end_line is not None and tag.location.end_line >= tag.location.line


@needs_corpus
def test_versions_of_one_family_get_distinct_ids() -> None:
    by_variant: dict[tuple[str, str], set[str]] = {}
    for entry in LICENSE_ENTRIES:
        match = _identify(entry)
        if match.license_id and not _is_spdx(entry.get("spdx_or_licenseref")):
            key = (entry["family"], _expected_kind(entry["variant"]))
            by_variant.setdefault(key, set()).add(f"{match.license_id}@{match.version}")
    llama = by_variant.get(("llama", "license"), set())
    assert len(llama) >= 6, llama  # 1, 2, 3, 3.1, 3.2, 3.3, 4 (two copies of 4)


# ----------------------------------------------------------------- cards


def _card_release(tmp_path: Path, entry: dict[str, Any]) -> Path:
    assert CARDS is not None
    root = tmp_path / "release"
    root.mkdir()
    shutil.copyfile(CARDS / entry["file"], root / "README.md")
    return root


@pytest.mark.skipif(not CARD_ENTRIES, reason="the shared card corpus is not present")
@pytest.mark.parametrize("entry", CARD_ENTRIES, ids=lambda e: e["file"])
def test_card_license_and_base_model_are_read(tmp_path: Path, entry: dict[str, Any]) -> None:
    found = release_licenses(open_release(_card_release(tmp_path, entry)), AuditContext())
    declared = entry.get("declared_license")
    card_license = [m for m in found.matches if m.source == "card-license"]
    if declared and declared != "other":
        assert any(m.excerpt == f"license: {declared}" for m in card_license)
        assert all(m.license_id is not None for m in card_license), card_license
    if entry.get("license_name"):
        named = [m for m in found.matches if m.source == "card-license-name"]
        assert named and named[0].excerpt == f"license_name: {entry['license_name']}"
        assert named[0].license_id is not None, named[0].note
    base = entry.get("base_model")
    expected_base = () if base is None else (base,) if isinstance(base, str) else tuple(base)
    assert found.base_models == expected_base
    for m in found.matches:
        assert m.location.path == "README.md"
        if m.source.startswith("card") and m.source != "card-body":
            assert m.location.line is not None or m.location.pointer is not None
