"""A folder of mixed files with odd names: every file is covered, by content."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file

from seewhy.audit import audit
from seewhy.report.model import CoverageStatus


def _benign_folder(root: Path) -> None:
    root.mkdir()
    save_file({"w": np.ones((2, 2), np.float32)}, str(root / "weights.bin.tmp"))
    (root / "optimizer.state").write_bytes(pickle.dumps({"lr": 0.1, "step": 3}, protocol=4))
    buf = io.BytesIO()
    np.save(buf, np.arange(6, dtype=np.int64))
    (root / "no_extension_array").write_bytes(buf.getvalue())
    writer = gguf.GGUFWriter(str(root / "model"), "llama")
    writer.add_tensor("t", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with zipfile.ZipFile(root / "checkpoint.pth.tar", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"epoch": 1}, protocol=2))
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    (root / "chat.j2").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    (root / "helpers").write_text("import math\n\ndef area(r):\n    return math.pi * r * r\n")
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4}))
    (root / "README.md").write_text("---\nlicense: mit\n---\n# Mixed\n")


def test_every_odd_file_is_covered_and_judged_by_content(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    _benign_folder(root)
    report = audit(root)
    kinds = {c.path: c.kind for c in report.coverage}
    assert kinds == {
        "README.md": "model-card",
        "chat.j2": "jinja",
        "checkpoint.pth.tar": "pytorch-zip",
        "config.json": "config",
        "helpers": "python",
        "model": "gguf",
        "no_extension_array": "numpy",
        "optimizer.state": "pickle",
        "weights.bin.tmp": "safetensors",
    }
    for cov in report.coverage:
        assert cov.status in (CoverageStatus.PARSED, CoverageStatus.LISTED), cov
        assert any(not s.deferred for s in cov.steps), cov
    safety = report.verdict("load_safety")
    assert safety is not None and safety.value == "safe", safety


def test_the_same_names_hiding_payloads_are_caught(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    _benign_folder(root)
    marker = tmp_path / "pwned"
    payload = b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (root / "optimizer.state").write_bytes(payload)
    (root / "chat.j2").write_text("{{ cycler.__init__.__globals__.os.popen('id').read() }}")
    report = audit(root)
    flagged = {f.evidence[0].path for f in report.findings if f.severity.rank >= 3}
    assert {"optimizer.state", "chat.j2"} <= flagged
    safety = report.verdict("load_safety")
    assert safety is not None and safety.value == "unsafe"
    assert not marker.exists()
