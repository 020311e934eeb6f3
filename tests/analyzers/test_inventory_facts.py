"""Inventory facts and claims on real files: PyTorch checkpoints, shard indexes, size claims.

Expected numbers come from the real objects the test writes (torch tensors,
safetensors headers), never from the code under test.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from builders import sparse_safetensors
from seewhy.analyzers.interface import AnalyzerResult, AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.formats.torch import TORCH_DTYPES
from seewhy.release import open_release


def inventory(folder: Path) -> AnalyzerResult:
    return InventoryAnalyzer().analyze(open_release(folder), AuditContext())


def fact(result: AnalyzerResult, key: str) -> object:
    found = [f for f in result.facts if f.key == key]
    assert found, f"no fact {key}: {[f.key for f in result.facts]}"
    return found[0].value


def rules(result: AnalyzerResult) -> list[str]:
    return [f.rule_id for f in result.findings]


def messages(result: AnalyzerResult) -> str:
    return "\n".join(e.excerpt or "" for f in result.findings for e in f.evidence) + "\n".join(
        f.message for f in result.findings
    )


# ------------------------------------------------------------------ PyTorch facts


class Tied(torch.nn.Module):
    """Embedding and output share one tensor (tied weights), plus a bf16 head and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 3).to(torch.bfloat16)
        self.out = torch.nn.Linear(8, 50, bias=False)
        self.out.weight = self.embed.weight
        self.register_buffer("steps", torch.zeros(2, dtype=torch.int64))


def state_dict_with_views() -> dict[str, torch.Tensor]:
    """A real state dict plus a view into one of its storages (a distinct tensor)."""
    sd = dict(Tied().state_dict())
    sd["embed_row"] = sd["embed.weight"][3]
    return sd


def expected(
    obj: dict[str, torch.Tensor] | torch.nn.Module,
) -> tuple[int, int, dict[str, int]]:
    """Tensors, parameters and parameters per dtype of the distinct tensors in ``obj``.

    Tensors with the same storage, offset, shape and stride (tied weights) are
    one tensor; other views of a storage are distinct.
    """
    values = obj.values() if isinstance(obj, dict) else obj.state_dict().values()
    distinct = {
        (t.untyped_storage().data_ptr(), t.storage_offset(), t.shape, t.stride(), t.dtype): t
        for t in values
    }
    by_dtype: dict[str, int] = {}
    for t in distinct.values():
        label = TORCH_DTYPES[str(t.dtype).removeprefix("torch.")]
        by_dtype[label] = by_dtype.get(label, 0) + t.numel()
    return len(distinct), sum(t.numel() for t in distinct.values()), by_dtype


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_torch_checkpoint_facts_match_torch(tmp_path: Path, zipped: bool) -> None:
    release = tmp_path / "release"
    release.mkdir()
    sd = state_dict_with_views()
    torch.save(sd, release / "pytorch_model.bin", _use_new_zipfile_serialization=zipped)
    tensors, parameters, by_dtype = expected(sd)
    assert len(sd) == tensors + 1  # the tied weight: two keys, two tensors, one storage

    result = inventory(release)
    assert fact(result, "parameter_count") == parameters
    assert fact(result, "parameters_by_dtype") == by_dtype
    notes = [s.detail for path, s in result.coverage if path == "pytorch_model.bin"]
    assert any(f"{tensors} tensors, {parameters:,} parameters" in n for n in notes), notes
    assert "SW-PT-001" not in rules(result)


def test_whole_module_saved_counts_parameters_and_buffers(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.BatchNorm1d(5))
    torch.save(model, release / "model.pt")  # Parameters: _rebuild_parameter(tensor, ...)
    _, parameters, by_dtype = expected(model)
    result = inventory(release)
    assert fact(result, "parameter_count") == parameters
    assert fact(result, "parameters_by_dtype") == by_dtype


def test_tensor_past_its_storage_is_a_finding(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2, 3)}, buffer)
    source = zipfile.ZipFile(buffer)
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                # shape (2, 3) -> (2, 9): the view now reads past the 6-element storage
                assert data.count(b"K\x02K\x03\x86") == 1
                data = data.replace(b"K\x02K\x03\x86", b"K\x02K\x09\x86")
            out.writestr(info.filename, data)
    (release / "weights.pt").write_bytes(rebuilt.getvalue())
    result = inventory(release)
    assert "SW-PT-001" in rules(result)
    assert "does not fit in storage" in messages(result)


# ------------------------------------------------------------------ shard index lookup


def shard_release(folder: Path, second: str, content: str) -> None:
    folder.mkdir(parents=True)
    save_file({"a": torch.ones(2)}, str(folder / "model-00001-of-00002.safetensors"))
    target = folder / second
    target.parent.mkdir(parents=True, exist_ok=True)
    if content == "safetensors":
        save_file({"b": torch.ones(3)}, str(target))
    else:
        target.write_bytes(pickle.dumps({"b": [1, 2, 3]}, protocol=4))
    index = {
        "metadata": {"total_size": 20},
        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": second},
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


@pytest.mark.parametrize(
    "second",
    ["./model-00002-of-00002.weights", "parts/model-00002-of-00002.st", "model-00002.data"],
)
def test_listed_shard_is_found_whatever_its_name(tmp_path: Path, second: str) -> None:
    folder = tmp_path / "release"
    shard_release(folder, second, "safetensors")
    result = inventory(folder)
    assert fact(result, "shards") == "complete: 2 of 2 listed shards present"
    assert "listed but not present" not in messages(result)
    assert fact(result, "parameter_count") == 5


def test_listed_shard_of_another_kind_says_what_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    shard_release(folder, "model-00002-of-00002.weights", "pickle")
    result = inventory(folder)
    text = messages(result)
    assert "listed but not present" not in text
    assert "is listed and present, but it is" in text
    assert "pickle" in text.split("is listed and present, but it is", 1)[1].split("\n", 1)[0]
    assert fact(result, "shards") == "incomplete or inconsistent: 2 of 2 listed shards present"


# ------------------------------------------------------------------ size claims


def sized_release(folder: Path, card: str, config: dict[str, object] | None = None) -> int:
    """A release of one header-only safetensors file of 1,000,000 F32 parameters."""
    folder.mkdir(parents=True)
    sparse_safetensors(folder / "model.safetensors", {"w": ("F32", [1000, 1000])})
    (folder / "README.md").write_text(card)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return 1000 * 1000


def size_findings(result: AnalyzerResult) -> list[str]:
    return [f.message for f in result.findings if f.rule_id == "SW-INV-001"]


def test_card_title_claim_is_checked(tmp_path: Path) -> None:
    counted = sized_release(tmp_path / "release", "---\nlicense: mit\n---\n\n# Tiny-Chat-7B\n")
    result = inventory(tmp_path / "release")
    assert fact(result, "parameter_count") == counted
    assert fact(result, "claimed_size") == "7B"
    found = size_findings(result)
    assert len(found) == 1 and "card title 'Tiny-Chat-7B'" in found[0]
    card_ev = [e for f in result.findings for e in f.evidence if e.path == "README.md"]
    assert card_ev and card_ev[0].line == 5


def test_title_agrees_but_model_name_and_name_or_path_do_not(tmp_path: Path) -> None:
    card = (
        "---\nmodel-index:\n- name: Tiny-9M\n  results: []\n---\n"
        "# Tiny 1M\n\n```\n# not-a-title-30B\n```\n"
    )
    sized_release(
        tmp_path / "release", card, {"model_type": "llama", "_name_or_path": "org/tiny-200M"}
    )
    result = inventory(tmp_path / "release")
    assert fact(result, "claimed_size") == "1M"
    found = size_findings(result)
    assert any("'Tiny-9M'" in m for m in found), found
    assert any("'org/tiny-200M'" in m for m in found), found
    assert not any("30B" in m for m in found)


def test_agreeing_names_raise_nothing(tmp_path: Path) -> None:
    sized_release(
        tmp_path / "release",
        "# Tiny-1M\n",
        {"model_type": "llama", "_name_or_path": "org/tiny-1.2M"},
    )
    result = inventory(tmp_path / "release")
    assert size_findings(result) == []
