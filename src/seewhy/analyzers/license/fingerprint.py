"""Build ``data/licenses/fingerprints.json`` from reference license texts (a maintainer tool).

Each text is identified by its phrases alone (no fingerprints), and the
sampled 5-word-shingle hashes of every part that is identified are stored
under that license id, with the file name and sha256 as provenance. Texts
nothing identifies are skipped: a fingerprint never names a license the
phrases do not. Run::

    python -m seewhy.analyzers.license.fingerprint ../shared/corpus/licenses/*.txt \\
        -o src/seewhy/data/licenses/fingerprints.json
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

from seewhy.analyzers.license.kb import KnowledgeBase, load_kb, shingles
from seewhy.analyzers.license.normalize import decode, make_doc
from seewhy.analyzers.license.textmatch import identify_doc

__all__ = ["SAMPLE_MOD", "SHINGLE", "build", "encode_hashes", "main"]

SHINGLE = 5
SAMPLE_MOD = 4


def encode_hashes(hashes: Iterable[int]) -> str:
    """Hashes as base64 of sorted little-endian uint32s."""
    values = array("I", sorted(hashes))
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def build(paths: Iterable[Path], kb: KnowledgeBase | None = None) -> dict[str, object]:
    """The fingerprint document for ``paths`` (identified by phrases only)."""
    kb = (kb or load_kb()).without_fingerprints()
    refs: list[dict[str, str]] = []
    for path in sorted(paths):
        data = path.read_bytes()
        text = decode(data).text
        if text is None:
            continue
        doc = make_doc(text, path.name)
        for part in identify_doc(doc, kb):
            if part.entry is None or (part.note or "").startswith("names"):
                continue
            hashes = shingles(doc.toks[part.start : part.end], SHINGLE, SAMPLE_MOD)
            refs.append(
                {
                    "id": part.entry.id,
                    "source": f"{path.name} sha256:{hashlib.sha256(data).hexdigest()[:16]}",
                    "hashes": encode_hashes(hashes),
                }
            )
    return {
        "about": "sampled 5-word shingle hashes (crc32 % 4 == 0) of reference texts; "
        "built by seewhy.analyzers.license.fingerprint",
        "shingle": SHINGLE,
        "sample_mod": SAMPLE_MOD,
        "refs": sorted(refs, key=lambda r: (r["id"], r["source"])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    document = build(args.texts)
    args.output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
