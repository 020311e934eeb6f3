"""Decide a file's kind from its bytes; the name only refines within a family.

A ``.bin`` that holds a zip is a zip; a ``model.safetensors`` that starts
with ``GGUF`` is a GGUF file, and the disagreement between its name and its
bytes is itself a problem (``sniff.name-mismatch``).

Text is decided strictly, because a file sniffed as text is only listed:
the head must decode as UTF-8 (a BOM is fine, and so is a character cut at
the end of the head) and hold no C0 control byte except TAB, LF, CR and FF,
and ESC only where it opens an ANSI escape sequence (``ESC [``, as in
captured terminal logs). NUL never. Protobuf, pickle and most binary
formats open with such bytes, so a small ONNX model whose bytes happen to
be valid UTF-8 is not text. UTF-16 text is not decoded: it is reported as
unknown content, which no analyzer reads, rather than listed as checked;
except a license (by name or vocabulary) in UTF-16 with or without a
byte-order mark (:func:`utf16_text`), which the license analyzer decodes.

When the bytes match no signature and are not text, a name that claims a
binary format decides: ``weights.onnx`` is tried as ONNX, so the format's
parser reads it and reports it if it parses as nothing (see
:func:`claimed_kind`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from seewhy.errors import FormatError
from seewhy.formats.compression import detect
from seewhy.formats.interface import Problem, Source
from seewhy.formats.torch import is_legacy_torch, is_pickle_start
from seewhy.release.model import FileKind, FileSource, ReadMeter

if TYPE_CHECKING:  # a format's parser is imported when the bytes say it is that format
    from seewhy.formats.archive import ZipListing

HEAD_BYTES = 64 * 1024

PROBLEM_CODES: dict[str, str] = {
    "sniff.name-mismatch": "the file's name says one format, its bytes another",
    "sniff.empty": "the file is empty (zero bytes)",
}

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_LICENSE_NAME = re.compile(
    r"^(licen[cs]e|copying|notice|use[_-]?policy|terms|acceptable[_-]use)", re.IGNORECASE
)
_TOKENIZER_NAMES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "tokenizer.model",
        "spiece.model",
        "sentencepiece.bpe.model",
    }
)
_PY_LINE = re.compile(
    r"^(?:import [\w.]+|from [\w.]+ import |def \w+\(|class \w+[(:]|if __name__ ==)", re.MULTILINE
)
_JINJA = re.compile(r"\{%-?\s*(?:if|for|set|macro|raw)\b|\{\{-?\s*\w")
_FRONT_MATTER = re.compile(r"^---\s*\n(?:[^\n]*\n){0,400}?---\s*(?:\n|$)")
_LICENSE_WORDS = re.compile(
    r"\b(licen[cs]e[ds]?|licensor|licensee|copyright|terms of use|acceptable use|permission is"
    r" hereby granted|warrant(?:y|ies))\b",
    re.IGNORECASE,
)

# The format a binary-format name claims: unrecognised, non-text bytes under
# such a name are tried as that format, so its parser reads them.
_CLAIMED: dict[str, FileKind] = {
    ".onnx": FileKind.ONNX,
    ".safetensors": FileKind.SAFETENSORS,
    ".gguf": FileKind.GGUF,
    ".bin": FileKind.PICKLE,
    ".pt": FileKind.PICKLE,
    ".pth": FileKind.PICKLE,
    ".ckpt": FileKind.PICKLE,
    ".pkl": FileKind.PICKLE,
    ".pickle": FileKind.PICKLE,
    ".joblib": FileKind.PICKLE,
    ".npy": FileKind.NUMPY,
    ".npz": FileKind.NUMPY_ZIP,
    ".h5": FileKind.HDF5,
    ".hdf5": FileKind.HDF5,
    ".keras": FileKind.KERAS_ZIP,
    ".pb": FileKind.TENSORFLOW,
    ".zip": FileKind.ZIP,
    ".tar": FileKind.TAR,
    ".7z": FileKind.SEVENZIP,
    ".gz": FileKind.COMPRESSED,
    ".bz2": FileKind.COMPRESSED,
    ".xz": FileKind.COMPRESSED,
    ".zst": FileKind.COMPRESSED,
}

# Kinds a file of a given extension may legitimately have.
_EXPECTED: dict[str, frozenset[FileKind]] = {
    ".safetensors": frozenset({FileKind.SAFETENSORS}),
    ".gguf": frozenset({FileKind.GGUF}),
    ".bin": frozenset(
        {FileKind.PYTORCH_ZIP, FileKind.PYTORCH_LEGACY, FileKind.PICKLE, FileKind.TORCHSCRIPT}
    ),
    ".pt": frozenset(
        {FileKind.PYTORCH_ZIP, FileKind.PYTORCH_LEGACY, FileKind.PICKLE, FileKind.TORCHSCRIPT}
    ),
    ".pth": frozenset(
        {FileKind.PYTORCH_ZIP, FileKind.PYTORCH_LEGACY, FileKind.PICKLE, FileKind.TORCHSCRIPT}
    ),
    ".ckpt": frozenset({FileKind.PYTORCH_ZIP, FileKind.PYTORCH_LEGACY, FileKind.PICKLE}),
    ".pkl": frozenset({FileKind.PICKLE, FileKind.PYTORCH_LEGACY}),
    ".pickle": frozenset({FileKind.PICKLE, FileKind.PYTORCH_LEGACY}),
    ".joblib": frozenset({FileKind.PICKLE, FileKind.COMPRESSED}),
    ".npy": frozenset({FileKind.NUMPY}),
    ".npz": frozenset({FileKind.NUMPY_ZIP, FileKind.ZIP}),
    ".onnx": frozenset({FileKind.ONNX}),
    ".keras": frozenset({FileKind.KERAS_ZIP}),
    ".h5": frozenset({FileKind.HDF5}),
    ".hdf5": frozenset({FileKind.HDF5}),
    ".json": frozenset({FileKind.JSON, FileKind.CONFIG, FileKind.TOKENIZER, FileKind.WEIGHT_INDEX}),
    ".py": frozenset({FileKind.PYTHON}),
    ".zip": frozenset(
        {
            FileKind.ZIP,
            FileKind.PYTORCH_ZIP,
            FileKind.TORCHSCRIPT,
            FileKind.NUMPY_ZIP,
            FileKind.KERAS_ZIP,
        }
    ),
    # ".pth.tar" is an old convention for torch.save checkpoints.
    ".tar": frozenset({FileKind.TAR, FileKind.PYTORCH_ZIP, FileKind.PYTORCH_LEGACY}),
    ".7z": frozenset({FileKind.SEVENZIP}),
}


@dataclass(frozen=True)
class Sniffed:
    """A file's kind, a short note on why, and any problems seen on the way."""

    kind: FileKind
    note: str = ""
    problems: tuple[Problem, ...] = ()


def claimed_kind(name: str) -> FileKind | None:
    """The binary format a file's name claims (``x.onnx`` -> ONNX), or ``None``.

    Text formats (``.json``, ``.py``, ``.md``) claim nothing: their names
    never override the bytes.
    """
    return _CLAIMED.get(PurePosixPath(name.lower()).suffix)


def sniff_file(abs_path: Path, rel_path: str, size: int, meter: ReadMeter) -> Sniffed:
    """Sniff a file on disk, reading at most its head and, for zips, its directory."""
    with FileSource(abs_path, size, rel_path, meter) as source:
        head = source.read_at(0, HEAD_BYTES)
        return sniff(PurePosixPath(rel_path).name, head, source)


def sniff(name: str, head: bytes, source: Source) -> Sniffed:
    """Decide the kind of a file from its first bytes (and zip directory)."""
    problems: tuple[Problem, ...] = ()
    if source.size == 0:
        kind, note = FileKind.EMPTY, "zero bytes"
        problems = (Problem("sniff.empty", "empty file"),)
    else:
        kind, note = _by_content(name, head, source)
    ext = PurePosixPath(name.lower()).suffix
    expected = _EXPECTED.get(ext)
    # An empty file is reported as empty (sniff.empty); it is also a mismatch
    # only under a binary format's name (an empty __init__.py is fine).
    empty_ok = kind is FileKind.EMPTY and claimed_kind(name) is None
    if expected is not None and kind not in expected and not empty_ok:
        problems += (
            Problem(
                "sniff.name-mismatch",
                f"named {ext} but the bytes are {kind.value}",
                offset=0,
                excerpt=_hex_head(head),
            ),
        )
    return Sniffed(kind, note, problems)


def _hex_head(head: bytes) -> str:
    return head[:16].hex(" ")


def _by_content(name: str, head: bytes, source: Source) -> tuple[FileKind, str]:
    if head.startswith(b"GGUF"):
        return FileKind.GGUF, "GGUF magic"
    if _looks_like_safetensors(head):
        return FileKind.SAFETENSORS, "safetensors header length and '{'"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(source)
    if head.startswith(b"\x93NUMPY"):
        return FileKind.NUMPY, "NumPy .npy magic"
    if head.startswith(_HDF5_MAGIC) or head[512:520] == _HDF5_MAGIC:
        return FileKind.HDF5, "HDF5 signature"
    if is_legacy_torch(head):
        return FileKind.PYTORCH_LEGACY, "pickle of the legacy torch.save magic number"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return FileKind.SEVENZIP, "7z signature"
    if len(head) >= 262 and head[257:262] == b"ustar":
        from seewhy.formats.archive import legacy_torch_tar

        if legacy_torch_tar(source):
            return FileKind.PYTORCH_LEGACY, "tar with pickle, storages and tensors (torch < 1.6)"
        return FileKind.TAR, "ustar header"
    compression = detect(head)  # the one decision every analyzer shares
    if compression is not None:
        return FileKind.COMPRESSED, f"{compression.label} stream"
    protocol = is_pickle_start(head)
    if protocol is not None:
        return FileKind.PICKLE, f"pickle stream, protocol {protocol}"
    text = _as_text(head)
    if text is not None:
        return _text_kind(name, text)
    wide = utf16_text(head)  # a UTF-16 license (BOM or not) is read by the license analyzer
    if wide is not None and (
        _LICENSE_NAME.match(name.lower()) or len(_LICENSE_WORDS.findall(wide[0][:4000])) >= 3
    ):
        return FileKind.LICENSE, f"{wide[1]} license text"
    return _binary_kind(name, head, source)


def utf16_text(head: bytes) -> tuple[str, str] | None:
    """``(text, encoding)`` when ``head`` is UTF-16 text: a byte-order mark, or, without
    one, the NUL of every other byte that ASCII-range UTF-16 has (little- or big-endian)
    and nothing but printable characters once decoded; ``None`` otherwise."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        data, encoding = head[2:], "utf-16-le" if head[0] == 0xFF else "utf-16-be"
        label = "UTF-16"
    else:
        sample = head[: len(head) & ~1]
        if len(sample) < 16:
            return None
        even, odd = sample[0::2], sample[1::2]
        half = len(sample) // 2
        if odd.count(0) >= 0.9 * half and even.count(0) <= 0.05 * half:
            encoding = "utf-16-le"
        elif even.count(0) >= 0.9 * half and odd.count(0) <= 0.05 * half:
            encoding = "utf-16-be"
        else:
            return None
        data, label = sample, f"UTF-16 {'LE' if encoding.endswith('le') else 'BE'} (no BOM)"
    text = data[: len(data) & ~1].decode(encoding, errors="replace")
    if not text or "\x00" in text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\t\n\r\f")
    return (text, label) if printable >= 0.97 * len(text) else None


def _binary_kind(name: str, head: bytes, source: Source) -> tuple[FileKind, str]:
    """Bytes that are not text: protobuf models by structure, then by name."""
    lower = name.lower()
    if _looks_like_onnx(head) or lower.endswith(".pb"):
        from seewhy.formats.savedmodel import probe

        # SavedModel and ONNX both open with a varint field 1 and a
        # length-delimited field 2: the top-level fields tell them apart.
        shape = probe(source)
        if shape is not None:
            return FileKind.TENSORFLOW, f"TensorFlow {shape.replace('_', ' ')} protobuf"
        if _looks_like_onnx(head):
            return FileKind.ONNX, "protobuf ModelProto fields"
    claimed = claimed_kind(name)
    if claimed is not None:
        ext = PurePosixPath(lower).suffix
        return claimed, f"named {ext}; bytes not recognised, tried as {_FORMAT_NAMES[claimed]}"
    if _JSON_START.match(head.lstrip(b"\xef\xbb\xbf \t\r\n").decode("latin-1")):
        # Looks like JSON but is not UTF-8 (or holds raw control bytes): keep
        # it in the JSON family so the JSON parser reports the error with its offset.
        return _json_kind(lower, head.decode("latin-1"))
    if lower in _TOKENIZER_NAMES:
        return FileKind.TOKENIZER, "binary tokenizer model (by name)"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return FileKind.UNKNOWN, "UTF-16 byte-order mark: not decoded, contents not analysed"
    return FileKind.UNKNOWN, "binary, no known signature: contents not analysed"


_FORMAT_NAMES: dict[FileKind, str] = {
    FileKind.ONNX: "ONNX",
    FileKind.SAFETENSORS: "safetensors",
    FileKind.GGUF: "GGUF",
    FileKind.PICKLE: "a pickle",
    FileKind.NUMPY: "NumPy .npy",
    FileKind.NUMPY_ZIP: "NumPy .npz",
    FileKind.HDF5: "HDF5",
    FileKind.KERAS_ZIP: "a Keras archive",
    FileKind.TENSORFLOW: "a TensorFlow protobuf",
    FileKind.ZIP: "a zip archive",
    FileKind.TAR: "a tar archive",
    FileKind.SEVENZIP: "a 7z archive",
    FileKind.COMPRESSED: "a compressed stream",
}


def _looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    # The signature is a u64 length then '{'. Whether the length is sane is
    # the parser's call: a lying length is a finding, not another kind.
    (n,) = struct.unpack("<Q", head[:8])
    return n >= 2 and head[8:9] == b"{"


def _zip_kind(source: Source) -> tuple[FileKind, str]:
    from seewhy.formats.archive import read_zip

    try:
        listing = read_zip(source)
    except FormatError as exc:
        return FileKind.ZIP, f"zip signature, unreadable directory: {exc.message}"
    return _classify_zip(listing)


def _classify_zip(listing: ZipListing) -> tuple[FileKind, str]:
    names = [m.name for m in listing.members]
    if not names:
        return FileKind.ZIP, "empty zip"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        if any("/code/" in n or n.startswith("code/") for n in names):
            return FileKind.TORCHSCRIPT, "zip with data.pkl and code/ (TorchScript)"
        return FileKind.PYTORCH_ZIP, "zip with data.pkl (torch.save)"
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return FileKind.TORCHSCRIPT, "zip with code/ and constants.pkl (TorchScript)"
    top = {n.split("/", 1)[0] for n in names}
    if "config.json" in top and ({"model.weights.h5", "metadata.json"} & top):
        return FileKind.KERAS_ZIP, "zip with config.json and model.weights.h5 (Keras v3)"
    if all(n.endswith(".npy") for n in names):
        return FileKind.NUMPY_ZIP, "zip of .npy members (.npz)"
    return FileKind.ZIP, f"zip archive, {len(names)} members"


# C0 controls that text never holds: all but TAB, LF, FF and CR, and ESC
# unless it opens an ANSI CSI sequence (or ends the head). NUL is among them.
# One translate and one memchr: a regular expression is ten times slower.
_FORBIDDEN = frozenset({*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)})
_CONTROL_MAP = bytes(0 if b in _FORBIDDEN else 1 for b in range(256))


def _has_forbidden_control(sample: bytes) -> bool:
    if b"\x00" in sample.translate(_CONTROL_MAP):
        return True
    at = sample.find(b"\x1b")
    while at != -1:
        if at + 1 < len(sample) and sample[at + 1] != 0x5B:  # ESC not followed by '['
            return True
        at = sample.find(b"\x1b", at + 1)
    return False


def _as_text(head: bytes) -> str | None:
    """The head decoded, when it is text for sure; ``None`` otherwise."""
    sample = head
    # A UTF-8 multi-byte sequence never holds a byte below 0x80, so the
    # search on raw bytes cannot hit inside a character.
    if _has_forbidden_control(sample):
        return None
    try:
        return sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still text.
        if exc.start >= len(sample) - 3 and exc.reason.startswith("unexpected end"):
            return sample[: exc.start].decode("utf-8")
        return None


def _looks_like_onnx(head: bytes) -> bool:
    # ModelProto: field 1 ir_version (varint, tag 0x08), a small version,
    # then another known field tag (producer_name, graph, opset_import, ...).
    if len(head) < 4 or head[0] != 0x08 or not 1 <= head[1] <= 30:
        return False
    return head[2] in {0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42, 0x52, 0x5A, 0x62, 0x72}


def _text_kind(name: str, text: str) -> tuple[FileKind, str]:
    lower = name.lower()
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("version https://git-lfs.github.com/spec/"):
        return FileKind.TEXT, "Git LFS pointer: the file's content was not downloaded"
    if _JSON_START.match(stripped):
        return _json_kind(lower, stripped)
    if lower in _TOKENIZER_NAMES:
        return FileKind.TOKENIZER, "tokenizer text (by name)"
    if _FRONT_MATTER.match(stripped.replace("\r\n", "\n")):
        return FileKind.MODEL_CARD, "Markdown with YAML front matter"
    if lower.startswith("readme"):
        return FileKind.MODEL_CARD, "README text"
    if _PY_LINE.search(text) and not lower.endswith((".md", ".txt")):
        return FileKind.PYTHON, "Python statements"
    if _JINJA.search(text) and (lower.endswith((".jinja", ".j2", ".jinja2")) or "{%" in text):
        return FileKind.JINJA, "Jinja tags"
    if _LICENSE_NAME.match(lower):
        return FileKind.LICENSE, "license text (by name)"
    if len(_LICENSE_WORDS.findall(text[:4000])) >= 3:
        return FileKind.LICENSE, "license vocabulary"
    if lower.endswith(".md") and stripped.startswith("#"):
        return FileKind.MODEL_CARD, "Markdown document"
    return FileKind.TEXT, "UTF-8 text"


_JSON_START = re.compile(r'[\[{]\s*(?:["{}\[\]\d-]|true|false|null|$)')
_JSON_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:')


def _json_kind(lower: str, text: str) -> tuple[FileKind, str]:
    keys = set(_JSON_KEY.findall(text[:16384]))
    if "weight_map" in keys:
        return FileKind.WEIGHT_INDEX, "JSON with weight_map"
    if lower in _TOKENIZER_NAMES or keys & {"tokenizer_class", "added_tokens", "chat_template"}:
        return FileKind.TOKENIZER, "tokenizer JSON"
    if keys & {"model_type", "architectures"}:
        return FileKind.CONFIG, "JSON with model_type/architectures"
    return FileKind.JSON, "JSON"
