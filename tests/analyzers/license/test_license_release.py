"""Release-level license identification and the license analyzer's findings."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from seewhy.analyzers.interface import AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer, ReleaseLicenses, release_licenses
from seewhy.analyzers.license.identify import CACHE_KEY, MAX_LICENSE_BYTES
from seewhy.audit import audit
from seewhy.release.local import open_release
from seewhy.report.model import Report


def _corpus() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        for candidate in (parent / "shared" / "corpus", parent.parent / "shared" / "corpus"):
            if (candidate / "licenses").is_dir():
                return candidate / "licenses"
    return None


LICENSES = _corpus()
needs_corpus = pytest.mark.skipif(LICENSES is None, reason="../shared/corpus is not present")


def _text(name: str) -> str:
    assert LICENSES is not None
    return (LICENSES / name).read_text("utf-8")


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, "utf-8")
    return root


def _licenses(root: Path) -> ReleaseLicenses:
    return release_licenses(open_release(root), AuditContext())


def _audit(root: Path) -> Report:
    return audit(root, analyzers=[InventoryAnalyzer(), LicenseAnalyzer()], raise_errors=True)


def _rules(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def _gguf(metadata: dict[str, str]) -> bytes:
    """A minimal GGUF v3 file: string metadata, no tensors."""

    def gstr(text: str) -> bytes:
        raw = text.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw

    body = b"".join(gstr(k) + struct.pack("<I", 8) + gstr(v) for k, v in metadata.items())
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)) + body


CARD_LLAMA = """---
license: llama3.1
base_model: meta-llama/Meta-Llama-3.1-8B-Instruct
---
# Tiny Llama fine-tune

This model is fully open source.
"""


# ---------------------------------------------------------------- releases


@needs_corpus
def test_llama_31_release_documents_and_tags(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "llama",
        {
            "LICENSE": _text("llama__3.1-license.txt"),
            "USE_POLICY.md": _text("llama__3.1-use-policy.txt"),
            "README.md": CARD_LLAMA,
        },
    )
    found = _licenses(root)
    by_path = {m.location.path: m for m in found.matches if m.source == "text"}
    lic, aup = by_path["LICENSE"], by_path["USE_POLICY.md"]
    assert (lic.family, lic.version, lic.kind) == ("llama", "3.1", "license")
    assert (aup.family, aup.version, aup.kind) == ("llama", "3.1", "use-policy")
    assert lic.name == "Llama 3.1 Community License Agreement"
    assert lic.osi_approved is False
    tags = {t.tag: t for t in lic.tags}
    for wanted in (
        "user_threshold",
        "use_policy_by_reference",
        "naming_requirement",
        "attribution_display",
    ):
        tag = tags[wanted]
        assert tag.quote and tag.location.path == "LICENSE" and tag.location.line
        assert tag.osd_conflict is None or tag.osd_conflict.startswith("OSD")
    assert "700 million" in tags["user_threshold"].quote
    assert tags["user_threshold"].osd_conflict.startswith("OSD 5")  # type: ignore[union-attr]
    assert "Built with Llama" in tags["attribution_display"].quote
    card = [m for m in found.matches if m.source == "card-license"]
    assert card and card[0].license_id == lic.license_id
    assert found.base_models == ("meta-llama/Meta-Llama-3.1-8B-Instruct",)
    assert found.licenses and found.policies


@needs_corpus
def test_llama_31_release_findings(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "llama",
        {
            "LICENSE": _text("llama__3.1-license.txt"),
            "USE_POLICY.md": _text("llama__3.1-use-policy.txt"),
            "README.md": CARD_LLAMA,
        },
    )
    report = _audit(root)
    rules = _rules(report)
    assert {"SW-LIC-010", "SW-LIC-012", "SW-LIC-015", "SW-LIC-017", "SW-LIC-018"} <= rules
    assert not rules & {"SW-LIC-030", "SW-LIC-033", "SW-LIC-001"}
    threshold = next(f for f in report.findings if f.rule_id == "SW-LIC-010")
    assert threshold.evidence[0].path == "LICENSE" and threshold.evidence[0].line
    assert "700 million" in (threshold.evidence[0].excerpt or "")
    docs = report.fact("license.documents")
    assert docs is not None and any("3.1" in str(v) for v in docs.value)  # type: ignore[union-attr]
    assert report.fact("license.tags") is not None


@needs_corpus
def test_smollm2_like_release_has_no_restrictions(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "smol",
        {
            "LICENSE": _text("apache__2.0.txt"),
            "README.md": "---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# SmolLM2\n",
        },
    )
    found = _licenses(root)
    assert {m.license_id for m in found.matches} == {"Apache-2.0"}
    assert found.tags == ()
    report = _audit(root)
    assert not {r for r in _rules(report) if r.startswith("SW-LIC")}


def test_release_licenses_is_memoised(tmp_path: Path) -> None:
    root = _write(tmp_path / "r", {"README.md": "---\nlicense: mit\n---\n"})
    ctx = AuditContext()
    first = release_licenses(open_release(root), ctx)
    assert ctx.cache[CACHE_KEY] is first
    assert release_licenses(open_release(root), ctx) is first


def test_license_named_only_by_url(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "r",
        {
            "README.md": "---\nlicense: other\nlicense_link: https://www.llama.com/llama3_1/license/\n---\n"
        },
    )
    found = _licenses(root)
    link = [m for m in found.matches if m.source == "card-license-link"]
    assert link and link[0].license_id == "LicenseRef-scancode-llama-3.1-license-2024"
    assert link[0].location.pointer == "license_link" and link[0].location.line == 3
    assert not [m for m in found.matches if m.source == "card-license"]  # "other" points on


def test_license_link_to_a_hub_license_file_uses_the_lineage(tmp_path: Path) -> None:
    link = "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE"
    root = _write(
        tmp_path / "r",
        {"README.md": f"---\nlicense: other\nlicense_name: x-y-z\nlicense_link: {link}\n---\n"},
    )
    found = _licenses(root)
    by_source = {m.source: m for m in found.matches}
    assert by_source["card-license-link"].family == "qwen"
    assert by_source["card-license-name"].license_id is None


def test_relative_license_link(tmp_path: Path) -> None:
    mit = (
        "MIT License\n\nCopyright (c) 2024 X\n\nPermission is hereby granted, free of charge, "
        "to any person obtaining a copy of this software and associated documentation files "
        '(the "Software"), to deal in the Software without restriction.\n'
    )
    root = _write(
        tmp_path / "r",
        {
            "LICENSE.md": mit,
            "README.md": "---\nlicense: other\nlicense_name: x\nlicense_link: LICENSE.md\n---\n",
        },
    )
    found = _licenses(root)
    link = next(m for m in found.matches if m.source == "card-license-link")
    assert link.license_id == "MIT"
    missing = _write(
        tmp_path / "m", {"README.md": "---\nlicense: other\nlicense_link: LICENSE.md\n---\n"}
    )
    assert "SW-LIC-005" in _rules(_audit(missing))


@needs_corpus
def test_gated_prompt_with_a_license_and_eu_gate(tmp_path: Path) -> None:
    prompt = _text("llama__2-license.txt")
    indented = "\n".join("  " + line for line in prompt.splitlines())
    card = (
        f"---\nextra_gated_eu_disallowed: true\nextra_gated_prompt: |\n{indented}\n---\n# Llama 2\n"
    )
    found = _licenses(_write(tmp_path / "r", {"README.md": card}))
    gated = [m for m in found.matches if m.source == "card-gated-prompt"]
    assert gated and gated[0].family == "llama" and gated[0].version == "2"
    assert gated[0].location.pointer == "extra_gated_prompt"
    assert gated[0].location.line is not None and gated[0].location.line >= 4
    threshold = next(t for t in gated[0].tags if t.tag == "user_threshold")
    assert threshold.location.line is not None and threshold.location.line > 4
    geo = [t for t in found.tags if t.tag == "geographic_exclusion"]
    assert geo and geo[0].location.pointer == "extra_gated_eu_disallowed"


def test_card_body_sentence_names_the_license(tmp_path: Path) -> None:
    card = "---\nlicense: other\n---\n# Model\n\n"
    card += "The weights are released under the Gemma Terms of Use.\n"
    found = _licenses(_write(tmp_path / "r", {"README.md": card}))
    body = [m for m in found.matches if m.source == "card-body"]
    assert body and body[0].family == "gemma" and body[0].location.line == 6
    assert "Gemma Terms of Use" in (body[0].excerpt or "")


def test_license_section_in_the_card_body(tmp_path: Path) -> None:
    card = "# Model\n\n## License\n\nApache 2.0\n"
    found = _licenses(_write(tmp_path / "r", {"README.md": card}))
    assert [m.license_id for m in found.matches if m.source == "card-body"] == ["Apache-2.0"]


def test_gguf_metadata_license_and_disagreement(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "g",
        {
            "model.gguf": _gguf({"general.architecture": "llama", "general.license": "llama3.1"}),
            "README.md": "---\nlicense: apache-2.0\n---\n",
        },
    )
    found = _licenses(root)
    gguf = [m for m in found.matches if m.source == "gguf"]
    assert gguf and gguf[0].license_id == "LicenseRef-scancode-llama-3.1-license-2024"
    assert gguf[0].location.pointer == "general.license" and gguf[0].location.offset
    assert "SW-LIC-031" in _rules(_audit(root))


@needs_corpus
def test_card_disagrees_with_license_file(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "r",
        {"LICENSE": _text("gemma__tou-2025-03-24.txt"), "README.md": "---\nlicense: mit\n---\n"},
    )
    report = _audit(root)
    finding = next(f for f in report.findings if f.rule_id == "SW-LIC-030")
    assert {e.path for e in finding.evidence} == {"README.md", "LICENSE"}


def test_llama_fine_tune_labelled_apache(tmp_path: Path) -> None:
    card = "---\nlicense: apache-2.0\nbase_model: meta-llama/Llama-3.1-8B-Instruct\n---\n"
    report = _audit(_write(tmp_path / "r", {"README.md": card}))
    finding = next(f for f in report.findings if f.rule_id == "SW-LIC-033")
    assert "Llama 3.1" in finding.message
    gemma = "---\nlicense: mit\nbase_model:\n- google/gemma-2-9b\n---\n"
    assert "SW-LIC-033" in _rules(_audit(_write(tmp_path / "g", {"README.md": gemma})))
    qwen = "---\nlicense: apache-2.0\nbase_model: Qwen/Qwen2.5-14B\n---\n"
    assert not _rules(_audit(_write(tmp_path / "q", {"README.md": qwen}))) & {
        "SW-LIC-033",
        "SW-LIC-034",
    }
    nolicense = "---\nbase_model: meta-llama/Llama-2-70b-hf\n---\n"
    assert "SW-LIC-035" in _rules(_audit(_write(tmp_path / "n", {"README.md": nolicense})))
    drift = "---\nlicense: cc-by-nc-2.0\nbase_model: meta-llama/Llama-2-70b-hf\n---\n"
    assert "SW-LIC-034" in _rules(_audit(_write(tmp_path / "d", {"README.md": drift})))


def test_conflicting_duplicate_statements(tmp_path: Path) -> None:
    card = "---\nlicense:\n- apache-2.0\n- llama3.1\n---\n"
    report = _audit(_write(tmp_path / "r", {"README.md": card}))
    assert "SW-LIC-032" in _rules(report)
    dup = "---\nlicense: mit\nlicense: gemma\n---\n"  # YAML keeps the last; inventory reports it
    found = _licenses(_write(tmp_path / "d", {"README.md": dup}))
    assert [m.family for m in found.matches if m.source == "card-license"] == ["gemma"]


def test_no_license_anywhere(tmp_path: Path) -> None:
    report = _audit(_write(tmp_path / "r", {"README.md": "# A model\n\nNothing about terms.\n"}))
    assert "SW-LIC-002" in _rules(report)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("LICENSE", b"", None),  # empty: sniffed as EMPTY, still read by name
        ("LICENSE", b"\x00\x01\x02\x03" * 64, "SW-LIC-003"),
        (
            "COPYING",
            "Ce logiciel est régi par la licence CeCILL maison.".encode("latin-1"),
            "SW-LIC-001",
        ),
        ("LICENSE.txt", "Random words that are no license at all.\n" * 3, "SW-LIC-001"),
    ],
)
def test_bad_license_files_never_raise(
    tmp_path: Path, name: str, content: str | bytes, rule: str | None
) -> None:
    root = _write(tmp_path / "r", {name: content, "README.md": "---\nlicense: mit\n---\n"})
    report = _audit(root)
    assert all(a.status == "completed" for a in report.analyzers)
    if rule is not None:
        assert rule in _rules(report)


def test_non_utf8_license_file_is_decoded(tmp_path: Path) -> None:
    text = (
        "Apache License\nVersion 2.0, January 2004\n\nLicensed under the Apache License, "
        "Version 2.0 (the “License”); you may not use this file except in compliance with the "
        "License.\n"
    )
    root = _write(tmp_path / "r", {"LICENSE": text.encode("cp1252")})
    found = _licenses(root)
    assert found.matches[0].license_id == "Apache-2.0"
    assert "Windows-1252" in (found.matches[0].note or "")


def test_huge_license_file_is_capped(tmp_path: Path) -> None:
    filler = "This paragraph repeats to make a very large license file.\n" * 40_000
    root = _write(tmp_path / "r", {"LICENSE": "MIT License\n\n" + filler})
    found = _licenses(root)
    match = found.matches[0]
    assert match.truncated and "first" in (match.note or "")
    assert (root / "LICENSE").stat().st_size > MAX_LICENSE_BYTES
    assert "SW-LIC-004" in _rules(_audit(root))
