"""Helpers of the openness tests: real release folders and their license statements.

License statements are built the way license identification reports them
(:class:`ReleaseLicenses`), with the line numbers of the clauses looked up in
the real license texts copied from the shared corpus.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license.model import (
    ClauseTag,
    LicenseMatch,
    Location,
    MatchSource,
    ReleaseLicenses,
)
from seewhy.analyzers.openness import OpennessAnalyzer
from seewhy.audit import audit
from seewhy.report.model import Report

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"
OSD5 = "OSD 5: No discrimination against persons or groups"
OSD6 = "OSD 6: No discrimination against fields of endeavor"
LLAMA31_ID = "LicenseRef-scancode-llama-3.1-license-2024"
LLAMA31_NAME = "Llama 3.1 Community License Agreement"

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 8,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "vocab_size": 16,
}

APACHE_CARD = """---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
---

# tiny-apache-1M

A tiny model with random weights, released under the Apache License 2.0.
"""

LLAMA_CARD = """---
license: llama3.1
base_model: meta-llama/Llama-3.1-8B
---

# Llama-3.1-8B-Example

Llama-3.1-8B-Example is the best open-source LLM for computer networks.
"""

# Every MOF component, in the release or in the card.
FULL_CARD = """---
license: apache-2.0
pipeline_tag: text-generation
datasets:
- example/pretraining-mix
model-index:
- name: full-open-7B
  results:
  - task:
      type: text-generation
    dataset:
      name: ARC-Easy
      type: allenai/ai2_arc
    metrics:
    - type: accuracy
      value: 40.5
---

# full-open-7B

Paper: https://arxiv.org/abs/2401.00001

## Intended uses

Research on fully documented language models; not for production without evaluation.

## Limitations

The model is small and makes mistakes; it was not tuned for safety.

## Training Data

The model was pretrained on example/pretraining-mix, a 2-trillion-token mixture of
web text, code and papers, deduplicated and filtered as described in the paper.

## Evaluation

| Benchmark | Score |
|-----------|-------|
| ARC-Easy  | 40.5  |

## Sample outputs

Prompt: "The capital of France is" -> "Paris, a city on the Seine."

See also the technical report for details.
Technical report: https://arxiv.org/abs/2402.00002
"""

FULL_FILES = {
    "modeling_tiny.py": "import torch\n\nclass TinyModel:\n    pass\n",
    "train.py": "def main():\n    pass\n",
    "preprocess_data.py": "def main():\n    pass\n",
    "inference.py": "def main():\n    pass\n",
    "evaluate.py": "def main():\n    pass\n",
    "eval_data/arc.jsonl": '{"q": "a", "a": "b"}\n',
    "requirements.txt": "torch\n",
}


def corpus(rel: str) -> Path:
    """A file of the shared corpus; the test is skipped when the corpus is absent."""
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"shared corpus file {path} not available")
    return path


def write_weights(path: Path) -> None:
    """A small real safetensors file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.zeros((4, 4), dtype=np.float32)}, str(path), metadata={"format": "pt"})


def write_release(
    root: Path,
    *,
    card: str | None = None,
    license_file: str | None = None,
    weights: Sequence[str] = ("model.safetensors",),
    config: bool = True,
    files: Mapping[str, str] | None = None,
) -> Path:
    """A release folder: weights, config.json, README.md, LICENSE (a corpus text) and files."""
    root.mkdir(parents=True, exist_ok=True)
    for w in weights:
        write_weights(root / w)
    if config:
        (root / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    if card is not None:
        (root / "README.md").write_text(card, encoding="utf-8")
    if license_file is not None:
        shutil.copyfile(corpus(f"licenses/{license_file}"), root / "LICENSE")
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def line_of(path: Path, phrase: str) -> int:
    """1-based line of the first line of ``path`` that contains ``phrase``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if phrase in line:
            return number
    raise AssertionError(f"{phrase!r} not in {path}")


def match(
    license_id: str | None,
    *,
    name: str | None = None,
    source: MatchSource = "text",
    path: str = "LICENSE",
    line: int | None = 1,
    osi: bool | None = None,
    tags: tuple[ClauseTag, ...] = (),
    confidence: float = 0.95,
    kind: str = "license",
) -> LicenseMatch:
    """One license statement as license identification reports it."""
    assert kind in ("license", "use-policy")
    return LicenseMatch(
        license_id=license_id,
        name=name,
        family=None,
        version=None,
        kind="license" if kind == "license" else "use-policy",
        osi_approved=osi,
        fsf_libre=None,
        confidence=confidence,
        source=source,
        location=Location(path, line),
        excerpt=name or license_id,
        tags=tags,
    )


def apache(root: Path) -> ReleaseLicenses:
    """The statements of a release with the Apache-2.0 LICENSE and ``license: apache-2.0``."""
    first = line_of(root / "LICENSE", "Apache License")
    found = [match("Apache-2.0", name="Apache License 2.0", line=first, osi=True)]
    if (root / "README.md").is_file() and "license: apache-2.0" in (root / "README.md").read_text():
        found.append(
            match(
                "Apache-2.0",
                source="card-license",
                path="README.md",
                line=line_of(root / "README.md", "license: apache-2.0"),
                osi=True,
            )
        )
    return ReleaseLicenses(tuple(found))


def llama31(root: Path, path: str = "LICENSE") -> ReleaseLicenses:
    """The statements of a release that ships the Llama 3.1 LICENSE, clauses located in it."""
    text = root / path

    def tag(name: str, phrase: str, osd: str | None) -> ClauseTag:
        line = line_of(text, phrase)
        quote = " ".join(text.read_text(encoding="utf-8").split("\n")[line - 1].split())
        return ClauseTag(name, quote[:300], Location(path, line), osd)

    tags = (
        tag("user_threshold", "700 million monthly active users", OSD5),
        tag("use_policy_by_reference", "hereby incorporated by reference", OSD6),
        tag("attribution_display", "Built with Llama", None),
    )
    return ReleaseLicenses(
        (
            match(
                LLAMA31_ID,
                name=LLAMA31_NAME,
                path=path,
                line=line_of(text, "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT"),
                osi=False,
                tags=tags,
            ),
        ),
        base_models=("meta-llama/Llama-3.1-8B",),
    )


def run(root: Path, licenses: ReleaseLicenses) -> Report:
    """Audit ``root`` with the inventory and openness analyzers, license statements given."""
    return audit(
        root,
        analyzers=[InventoryAnalyzer(), OpennessAnalyzer(lambda release, ctx: licenses)],
        raise_errors=True,
    )


def fact_value(report: Report, key: str) -> object:
    """The value of a fact that must be there."""
    fact = report.fact(key)
    assert fact is not None, f"no fact {key}: {[f.key for f in report.facts]}"
    return fact.value


def rule_ids(report: Report) -> list[str]:
    """The rule ids of the report's findings, in order."""
    return [f.rule_id for f in report.findings]
