"""The Hub source against a stand-in Hub on loopback (tests/hub_server.py).

Everything runs for real: huggingface_hub talks HTTP to the local server,
files land in a Hugging Face cache under ``tmp_path``, the CLI runs as a
``seewhy`` process with ``HF_ENDPOINT`` pointing at the server.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from builders import sparse_safetensors
from hub_server import HubServer, commit_of, sparse_gguf
from seewhy.audit import audit_release, default_analyzers
from seewhy.errors import (
    HubGatedError,
    HubNotFoundError,
    HubUnavailableError,
    ReleaseReadError,
)
from seewhy.release import open_release
from seewhy.release.hub import (
    HubAnalyzer,
    HubLimits,
    HubRef,
    HubRelease,
    open_hub_release,
    parse_hub_source,
)
from seewhy.release.sniff import HEAD_BYTES
from seewhy.report.model import CoverageStatus, Report

FAST = HubLimits(retry_base_wait=0.01, retries=2)


def _repo(hub: HubServer, repo_id: str) -> Path:
    folder = hub.root / repo_id
    folder.mkdir(parents=True)
    return folder


def _tiny(hub: HubServer, repo_id: str = "acme/tiny", *, gb: float = 0.0) -> Path:
    """A small release: card, config, tokenizer config, one sparse safetensors file."""
    folder = _repo(hub, repo_id)
    (folder / "README.md").write_text(
        "---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# Tiny\n\nA tiny model.\n"
    )
    (folder / "config.json").write_text(
        json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 2048}))
    cols = max(64, int(gb * 1e9 / (2 * 4096)))
    sparse_safetensors(folder / "model.safetensors", {"w": ("BF16", [4096, cols])})
    return folder


def _open(hub: HubServer, tmp_path: Path, source: str, **kw: Any) -> HubRelease:
    release = open_hub_release(
        source, endpoint=hub.url, cache_dir=tmp_path / "cache", limits=kw.pop("limits", FAST), **kw
    )
    assert isinstance(release, HubRelease)
    return release


def _audit(release: HubRelease) -> Report:
    return audit_release(
        release, source=release.name, analyzers=[*default_analyzers(), HubAnalyzer()]
    )


def _env(hub: HubServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGINGFACE_")) and k != "TRANSFORMERS_OFFLINE"
    }
    env |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "NO_COLOR": "1"}
    env |= {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    return env | extra


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


# ------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("acme/tiny", HubRef("acme/tiny")),
        ("acme/tiny@v1.0", HubRef("acme/tiny", "v1.0")),
        ("hf://acme/tiny@refs/pr/1", HubRef("acme/tiny", "refs/pr/1")),
        ("meta-llama/Llama-3.2-1B", HubRef("meta-llama/Llama-3.2-1B")),
        ("tiny", None),
        ("./acme/tiny", None),
        ("/abs/acme", None),
        ("a/b/c", None),
        ("acme/../etc", None),
        ("acme/tiny@", None),
    ],
)
def test_hub_ids_are_parsed(source: str, expected: HubRef | None) -> None:
    assert parse_hub_source(source) == expected


# ------------------------------------------------------------- done means


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A report less what differs by where it was read (documented in seewhy.release.hub).

    The release's name is its repository id on the Hub and its folder's name on
    disk; it is replaced by one placeholder wherever the report repeats it.
    """
    name = json.dumps(doc["release"]["name"])[1:-1]
    doc = json.loads(json.dumps(doc).replace(f'"{name}"', '"<release>"'))
    doc.pop("metadata")
    for key in ("name", "repo_id", "revision", "refs"):
        doc["release"].pop(key)
    doc["facts"] = [f for f in doc["facts"] if not f["key"].startswith("hub.")]
    doc["analyzers"] = [a for a in doc["analyzers"] if a["analyzer"] != "hub"]
    for cov in doc["coverage"]:
        cov["steps"] = [s for s in cov["steps"] if s["analyzer"] != "hub"]
    return doc


def test_cli_audit_of_a_hub_repo_equals_the_audit_of_its_files_on_disk(
    hub: HubServer, tmp_path: Path
) -> None:
    folder = _tiny(hub, gb=1.0)
    shutil.copy(Path(__file__).parent / "test_hub.py", folder / "modeling_tiny.py")
    sparse_gguf(folder / "tiny.Q8_0.gguf", tensors=8, tensor_bytes=100_000_000)
    (folder / "optimizer.pt").write_bytes(pickle.dumps({"step": 1}, protocol=2))
    env = _env(hub, tmp_path)
    remote = _cli(env, "audit", "acme/tiny", "--format", "json")
    local = _cli(env, "audit", str(folder), "--format", "json")
    assert remote.returncode == local.returncode, remote.stderr
    r, d = json.loads(remote.stdout), json.loads(local.stdout)
    assert _comparable(r) == _comparable(d)
    facts = {f["key"]: f["value"] for f in r["facts"]}
    total = r["release"]["total_bytes"]
    assert facts["hub.total_bytes"] == total > 10**9
    # Only headers and small files came over the wire: well under 0.1% of the release.
    assert 0 < facts["hub.bytes_transferred"] < total / 1000
    assert facts["hub.bytes_transferred"] == hub.sent("/acme/tiny/resolve/")
    assert facts["hub.revision"] == r["release"]["revision"] == commit_of("acme/tiny")
    assert r["release"]["repo_id"] == "acme/tiny"
    steps = {c["path"]: c["steps"] for c in r["coverage"]}
    hub_step = next(s for s in steps["model.safetensors"] if s["analyzer"] == "hub")
    assert hub_step["deferred"] and "not downloaded" in hub_step["detail"]
    # Small files are in the usual Hugging Face cache, the weights are not.
    snapshot = tmp_path / "hf" / "hub" / "models--acme--tiny" / "snapshots" / commit_of("acme/tiny")
    assert (snapshot / "config.json").is_file()
    assert not (snapshot / "model.safetensors").exists()


def test_a_gguf_file_is_read_by_range_and_parsed_as_on_disk(hub: HubServer, tmp_path: Path) -> None:
    folder = _repo(hub, "acme/gguf")
    size = sparse_gguf(folder / "model.gguf", tensors=4, tensor_bytes=50_000_000)
    release = _open(hub, tmp_path, "acme/gguf")
    report = _audit(release)
    cov = {c.path: c for c in report.coverage}
    assert cov["model.gguf"].status is CoverageStatus.PARSED
    inventory = next(s for s in cov["model.gguf"].steps if s.analyzer == "inventory")
    assert "4 tensors" in inventory.detail
    assert report.fact("hub.total_bytes").value == size  # type: ignore[union-attr]
    assert release.bytes_transferred < size / 1000
    ranges = [r.range for r in hub.requests if r.path.endswith("model.gguf")]
    assert ranges and all(r is not None for r in ranges)


def test_a_real_gguf_model_parses_through_ranges(
    hub: HubServer, tmp_path: Path, smollm2_gguf: Path
) -> None:
    folder = _repo(hub, "acme/smol")
    os.symlink(smollm2_gguf, folder / smollm2_gguf.name)
    remote = _audit(_open(hub, tmp_path, "acme/smol"))
    from seewhy.audit import audit

    local = audit(smollm2_gguf)
    assert [f.rule_id for f in remote.findings] == [f.rule_id for f in local.findings]
    assert remote.coverage == local.coverage[:0] + tuple(
        c.model_copy(update={"steps": (*c.steps, *remote.coverage[0].steps[-1:])})
        for c in local.coverage
    )
    inventory = {f.key: f.value for f in local.facts if f.analyzer == "inventory"}
    assert {f.key: f.value for f in remote.facts if f.analyzer == "inventory"} == inventory
    sent = remote.fact("hub.bytes_transferred").value  # type: ignore[union-attr]
    assert isinstance(sent, int) and sent < smollm2_gguf.stat().st_size / 10


# ------------------------------------------------------------ revisions


def test_a_named_revision_is_pinned_to_its_commit_in_the_report(
    hub: HubServer, tmp_path: Path
) -> None:
    _tiny(hub)
    hub.branch("acme/tiny", "v1")
    report = _audit(_open(hub, tmp_path, "acme/tiny@v1"))
    commit = commit_of("acme/tiny")
    assert report.release.revision == commit
    assert report.fact("hub.revision").value == commit  # type: ignore[union-attr]
    assert report.fact("hub.requested_revision").value == "v1"  # type: ignore[union-attr]
    # every file request named the pinned commit or the revision asked for
    assert all("/resolve/main/" not in r.path for r in hub.requests)


def test_missing_repo_and_revision_are_clear_errors(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    with pytest.raises(HubNotFoundError, match="repository not found"):
        _open(hub, tmp_path, "acme/nothing")
    with pytest.raises(HubNotFoundError, match="no such revision"):
        _open(hub, tmp_path, "acme/tiny@no-such-branch")


def test_cli_missing_repo_fails_that_source_only(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    out = tmp_path / "out"
    out.mkdir()
    proc = _cli(
        _env(hub, tmp_path), "audit", "acme/nothing", "acme/tiny", "-f", "json", "-o", str(out)
    )
    assert proc.returncode == 2
    assert "acme/nothing: repository not found on the Hub" in proc.stderr
    assert len(list(out.iterdir())) == 1  # the other source was still audited


# ---------------------------------------------------------------- gated


def test_gated_repo_without_token_names_hf_token(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub, "acme/gated")
    hub.gate("acme/gated", "hf_secret")
    proc = _cli(_env(hub, tmp_path), "audit", "acme/gated")
    assert proc.returncode == 2
    assert "gated repository" in proc.stderr and "HF_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr
    wrong = _cli(_env(hub, tmp_path, HF_TOKEN="hf_wrong"), "audit", "acme/gated")
    assert wrong.returncode == 2 and "has no access" in wrong.stderr
    ok = _cli(_env(hub, tmp_path, HF_TOKEN="hf_secret"), "audit", "acme/gated", "-f", "json")
    assert ok.returncode == 0, ok.stderr
    facts = {f["key"]: f["value"] for f in json.loads(ok.stdout)["facts"]}
    assert facts["hub.gated"] == "manual"


def test_hub_gating_makes_the_osai_weights_partial(hub: HubServer, tmp_path: Path) -> None:
    """The card of acme/gated sets no gating key; the Hub's own ``gated`` is the evidence
    that downloads are gated, so the index's weights grade is partial, not open."""
    folder = _tiny(hub, "acme/gated")
    hub.gate("acme/gated", "hf_secret")
    gated = _audit(_open(hub, tmp_path, "acme/gated", token="hf_secret"))
    assert gated.metadata.source_kind == "hub"
    fact = gated.fact("openness.osai.weights_endmodel")
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["class"] == "partial"
    assert any(e.pointer == "gated" and e.excerpt == "manual" for e in fact.evidence)
    on_disk = audit_release(open_release(folder), source=str(folder))
    disk_fact = on_disk.fact("openness.osai.weights_endmodel")
    assert disk_fact is not None and isinstance(disk_fact.value, dict)
    assert disk_fact.value["class"] == "open"


def test_cli_license_of_a_hub_repo_fetches_only_small_files(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub, "acme/tiny", gb=1.0)
    proc = _cli(_env(hub, tmp_path), "license", "acme/tiny", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["identified"] is True
    assert "Apache-2.0" in proc.stdout
    assert hub.sent("/acme/tiny/resolve/") < 1_000_000  # of a 1 GB release


def test_gated_repo_with_token_in_process(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub, "acme/gated")
    hub.gate("acme/gated", "hf_secret")
    with pytest.raises(HubGatedError):
        _open(hub, tmp_path, "acme/gated", token="hf_other")
    assert _open(hub, tmp_path, "acme/gated", token="hf_secret").gated == "manual"


# ------------------------------------------------------ rate limits, 5xx


def test_rate_limit_waits_for_retry_after_then_succeeds(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    hub.fail("info", [429], retry_after="1")
    hub.fail("resolve", [503, 500])
    release = _open(hub, tmp_path, "acme/tiny")
    assert release.file("config.json") is not None
    statuses = [r.status for r in hub.requests]
    assert statuses.count(429) == 1 and statuses.count(503) == 1


def test_a_retry_after_beyond_the_limit_fails_at_once(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    hub.fail("info", [429], retry_after="3600")
    with pytest.raises(HubUnavailableError, match=r"rate-limited.*3600"):
        _open(hub, tmp_path, "acme/tiny")


def test_server_errors_are_retried_then_fail_clearly(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    hub.fail("info", [500] * 10)
    with pytest.raises(HubUnavailableError, match=r"HTTP 500 after 3 tries"):
        _open(hub, tmp_path, "acme/tiny")
    assert sum(r.status == 500 for r in hub.requests) == 3


# --------------------------------------------------------- hostile repos


def test_a_repo_of_100000_files_is_capped_and_the_rest_is_a_gap(
    hub: HubServer, tmp_path: Path
) -> None:
    hub.many_files("acme/huge", 100_000)
    release = _open(hub, tmp_path, "acme/huge", limits=HubLimits(max_files=20, retries=0))
    assert len(release.files) == 20
    assert [g.problem.code for g in release.gaps] == ["release.too-many-files"]
    trees = [r for r in hub.requests if "/tree/" in r.path]
    assert len(trees) == 1  # one page of 1000 entries read; the other 99 never asked for
    report = _audit(release)
    assert report.verdict("load_safety").value == "inconclusive"  # type: ignore[union-attr]


def test_a_range_that_lies_about_its_length_is_a_finding(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    hub.lie_about_ranges("acme/tiny", "model.safetensors")
    report = _audit(_open(hub, tmp_path, "acme/tiny"))
    cov = {c.path: c for c in report.coverage}
    assert not cov["model.safetensors"].status.conclusive
    codes = [e.note for f in report.findings for e in f.evidence]
    assert any("hub.range-mismatch" in (n or "") for n in codes)
    assert report.verdict("load_safety").value == "inconclusive"  # type: ignore[union-attr]


def test_a_pickle_under_the_cap_is_downloaded_and_scanned(hub: HubServer, tmp_path: Path) -> None:
    folder = _repo(hub, "acme/pickled")

    class Boom:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, ("echo owned",))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom(), protocol=2))
    report = _audit(_open(hub, tmp_path, "acme/pickled"))
    assert report.verdict("load_safety").value == "unsafe"  # type: ignore[union-attr]
    assert any(f.severity.value == "critical" for f in report.findings)


def test_a_pickle_above_the_cap_is_inconclusive_never_clean(hub: HubServer, tmp_path: Path) -> None:
    folder = _repo(hub, "acme/bigpickle")
    data = pickle.dumps({"w": list(range(100_000))}, protocol=2)
    assert len(data) > 2 * HEAD_BYTES  # more than the head read to tell its kind
    (folder / "model.ckpt").write_bytes(data)
    limits = HubLimits(pickle_bytes=HEAD_BYTES, retries=0)
    release = _open(hub, tmp_path, "acme/bigpickle", limits=limits)
    assert "model.ckpt" in release.remote
    report = _audit(release)
    cov = {c.path: c for c in report.coverage}
    assert not cov["model.ckpt"].status.conclusive
    assert report.verdict("load_safety").value == "inconclusive"  # type: ignore[union-attr]
    assert any("download cap" in f.message for f in report.findings)
    with pytest.raises(ReleaseReadError, match="not downloaded"):
        release.sha256(release.file("model.ckpt"))  # type: ignore[arg-type]


# -------------------------------------------------------------- offline


def test_offline_resolves_the_repo_from_the_hf_cache(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    env = _env(hub, tmp_path)
    assert _cli(env, "audit", "acme/tiny", "-f", "json").returncode == 0
    before = len(hub.requests)
    offline = _cli(env | {"HF_HUB_OFFLINE": "1"}, "audit", "acme/tiny", "-f", "json")
    assert len(hub.requests) == before  # nothing asked of the Hub
    doc = json.loads(offline.stdout)
    assert doc["release"]["repo_id"] == "acme/tiny"
    assert doc["release"]["revision"] == commit_of("acme/tiny")
    assert {c["path"] for c in doc["coverage"]} == {
        "README.md",
        "config.json",
        "tokenizer_config.json",
    }
    safety = next(v for v in doc["verdicts"] if v["topic"] == "load_safety")
    assert safety["value"] == "inconclusive" and "cache" in safety["reason"]
    missing = _cli(env | {"HF_HUB_OFFLINE": "1"}, "audit", "acme/other")
    assert missing.returncode == 2 and "HF_HUB_OFFLINE" in missing.stderr


def test_an_existing_folder_named_like_a_repo_id_is_a_folder(
    hub: HubServer, tmp_path: Path
) -> None:
    folder = _tiny(hub)
    proc = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", "acme/tiny", "-f", "json"],
        capture_output=True,
        text=True,
        env=_env(hub, tmp_path),
        cwd=folder.parent.parent,
        timeout=120,
        check=False,
    )
    doc = json.loads(proc.stdout)
    assert doc["release"]["repo_id"] is None
    assert not any(r.path.startswith("/api/") for r in hub.requests)


def test_a_header_length_that_lies_is_bounded_by_the_transfer_budget(
    hub: HubServer, tmp_path: Path
) -> None:
    folder = _repo(hub, "acme/liar")
    path = folder / "model.safetensors"
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", 90_000_000) + b'{"w": ')  # claims a 90 MB header
    os.truncate(path, 2 * 10**9)
    limits = HubLimits(header_bytes=1024 * 1024, retries=0)
    release = _open(hub, tmp_path, "acme/liar", limits=limits)
    report = _audit(release)
    cov = {c.path: c for c in report.coverage}
    assert cov["model.safetensors"].status is CoverageStatus.ERROR
    assert any("transfer budget" in f.message for f in report.findings)
    assert release.bytes_transferred <= 1024 * 1024
    assert report.verdict("load_safety").value == "inconclusive"  # type: ignore[union-attr]


def test_range_reads_of_the_whole_release_are_bounded(hub: HubServer, tmp_path: Path) -> None:
    folder = _repo(hub, "acme/shards")
    for i in range(3):
        sparse_safetensors(folder / f"model-{i}.safetensors", {"w": ("BF16", [4096, 4096])})
    limits = HubLimits(range_total_bytes=HEAD_BYTES + 1000, retries=0)
    release = _open(hub, tmp_path, "acme/shards", limits=limits)
    assert release.transfer.ranged <= HEAD_BYTES + 1000
    assert [f.kind.value for f in release.files].count("unreadable") == 2
    report = _audit(release)
    assert report.verdict("load_safety").value == "inconclusive"  # type: ignore[union-attr]
    assert any("range requests are spent" in f.message for f in report.findings)


def test_hostile_listing_entries_are_gaps_not_files(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    bad = [
        {"type": "file", "path": "../outside.txt", "size": 5, "oid": "0" * 40},
        {"type": "file", "path": "config.json", "size": 5, "oid": "0" * 40},
        {"type": "file", "path": "neg.bin", "size": -1, "oid": "0" * 40},
    ]
    hub.inject("acme/tiny", bad)
    release = _open(hub, tmp_path, "acme/tiny")
    assert sorted(f.path for f in release.files) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
    ]
    notes = sorted(g.problem.message for g in release.gaps)
    assert notes == [
        "not read: a path that leaves the release",
        "not read: listed twice",
        "not read: listed with a negative size",
    ]


def test_a_listed_file_the_hub_cannot_serve_is_a_gap(hub: HubServer, tmp_path: Path) -> None:
    _tiny(hub)
    hub.inject("acme/tiny", [{"type": "file", "path": "ghost.json", "size": 9, "oid": "1" * 40}])
    release = _open(hub, tmp_path, "acme/tiny")
    assert release.file("ghost.json") is None
    assert [(g.path, g.problem.code) for g in release.gaps] == [
        ("ghost.json", "release.unreadable")
    ]
    assert "no such file" in release.gaps[0].problem.message
