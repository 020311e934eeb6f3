"""A release whose every attacker-controlled string is an HTML/script payload.

Used by the HTML report tests: the card (Markdown with raw HTML, ``javascript:``
and ``data:`` links, SVG, images that would be fetched), file names, a license
clause, a pickle's global name and a chat template. Each payload, if it ever
ran, would set ``window.__pwned`` or ``document.title``, open a dialog, write
to the console or fetch from ``evil.example``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

LICENSES = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "licenses"

MARK = "PWNED"
SCRIPT = f"<script>window.__pwned=1;document.title='{MARK}';alert('{MARK}')</script>"
IMG = f"<img src=x onerror=\"window.__pwned=2;console.log('{MARK}')\">"
SVG = f"<svg onload=\"window.__pwned=3\"><script>alert('{MARK}')</script></svg>"
JS_LINK = "javascript:window.__pwned=4;alert(1)"
DATA_LINK = "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="
EXTERNAL = "https://evil.example/track.png"

CARD = f"""---
license: apache-2.0
tags:
- {json.dumps(SCRIPT)}
model-index:
- name: {json.dumps("hostile " + SCRIPT)}
  results:
  - task:
      type: text-generation
    dataset:
      name: {json.dumps("ARC " + IMG)}
      type: allenai/ai2_arc
    metrics:
    - type: accuracy
      value: 42.0
---

# Hostile card {SCRIPT}

{IMG}

{SVG}

<iframe src="https://evil.example/frame"></iframe>
<style>body {{ display: none }}</style>
<link rel="stylesheet" href="https://evil.example/x.css">
<a href="{JS_LINK}" onclick="window.__pwned=5">raw link</a>

[markdown js link]({JS_LINK}) [data link]({DATA_LINK}) [Mixed case](JaVaScRiPt:alert(1))
[entity link](java&#x09;script:alert(1)) [fine link](https://example.org/docs)

![tracking pixel]({EXTERNAL})

<details open ontoggle="window.__pwned=6">x</details>
<math><mi xlink:href="javascript:alert(1)">m</mi></math>

| a | b |
|---|---|
| <b onmouseover="window.__pwned=7">cell</b> | `{SCRIPT}` |
"""

HOSTILE_NAMES = (
    '"><svg onload=window.__pwned=8>.json',
    "<img src=x onerror=window.__pwned=9>.txt",
    "&lt;script&gt;alert(1)&lt;&#47;script&gt;.md",
)

# A protocol-2 pickle whose GLOBAL names a markup payload (written as bytes, never loaded).
_ARG = b"echo pwned"
EVIL_PICKLE = (
    b"\x80\x02cos\nsystem<img src=x onerror=window.__pwned=10>\n(X"
    + len(_ARG).to_bytes(4, "little")
    + _ARG
    + b"tR."
)

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    "{{ '<script>window.__pwned=11</script>' }}"
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
)


def write_hostile_release(root: Path) -> Path:
    """Write the hostile release into ``root`` (created) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(CARD, encoding="utf-8")
    save_file({"w": np.zeros((4, 4), dtype=np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text(
        json.dumps({"model_type": f"llama{SCRIPT}", "architectures": [IMG]}), encoding="utf-8"
    )
    (root / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": CHAT_TEMPLATE}), encoding="utf-8"
    )
    (root / "evil.pkl").write_bytes(EVIL_PICKLE)
    for name in HOSTILE_NAMES:
        (root / name).write_text("{}\n", encoding="utf-8")
    policy = LICENSES / "llama__3.1-use-policy.txt"
    if policy.is_file():
        text = policy.read_text(encoding="utf-8").replace(
            "Military, warfare", f"Military {IMG}{SCRIPT}, warfare", 1
        )
        (root / "USE_POLICY.md").write_text(text, encoding="utf-8")
    license_text = LICENSES / "llama__3.1-license.txt"
    if license_text.is_file():
        shutil.copyfile(license_text, root / "LICENSE")
    return root
