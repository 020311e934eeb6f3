"""Inventory: parse every file by its kind, report facts and structural findings.

This analyzer reads headers only: weight files are parsed through their
headers (safetensors, GGUF) or their zip directories (PyTorch, NumPy), never
their tensor data. Pickles are listed but not analysed here, so a file that
holds one is *inconclusive*, never clean.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from seewhy.analyzers.interface import (
    MAX_CARD_BYTES,
    AnalyzerResult,
    AuditContext,
    ResultBuilder,
    parsed_card,
)
from seewhy.analyzers.inventory.sizes import card_title, claim_agrees, parse_size_claim
from seewhy.budget import BudgetExceeded
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.hfconfig import ModelConfig, estimate_parameters, parse_config
from seewhy.formats.interface import Problem
from seewhy.formats.jsondoc import line_of_key, load_json
from seewhy.formats.modelcard import ModelCard
from seewhy.formats.safetensors import SafetensorsInfo, parse_safetensors
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.release.sniff import claimed_kind
from seewhy.report.model import CoverageStatus, Evidence

if TYPE_CHECKING:  # the parsers are imported by the functions that need them
    from seewhy.formats.gguf import GgufInfo
    from seewhy.formats.shards import ShardIndex
    from seewhy.formats.torch import TorchTensors

MAX_JSON_BYTES = 16 * 1024 * 1024
CONFIG_TOLERANCE = 0.02  # config estimate vs counted parameters

P = CoverageStatus


@dataclass(frozen=True)
class WeightFile:
    """What one weight file's header says, for the release-level facts."""

    path: str
    fmt: str
    parameters: int
    by_type: dict[str, int]
    tensor_names: frozenset[str] | None = frozenset()
    """``None`` when the format's header does not name its tensors (PyTorch pickles)."""
    tensor_bytes: int | None = None
    """Bytes of tensor data, where the header gives them (safetensors)."""
    gguf: GgufInfo | None = None


@dataclass
class _State:
    weights: list[WeightFile] = field(default_factory=list)
    configs: dict[str, ModelConfig] = field(default_factory=dict)
    cards: dict[str, ModelCard] = field(default_factory=dict)
    indexes: dict[str, ShardIndex] = field(default_factory=dict)
    templates: list[Evidence] = field(default_factory=list)
    unparsed_shards: set[str] = field(default_factory=set)
    cache: dict[tuple[str, str], object] = field(default_factory=dict)


class InventoryAnalyzer:
    """Parses every file by its sniffed kind; emits facts, findings and coverage."""

    name = "inventory"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        for issue in release.issues:
            b.problem(issue.path, issue.problem)
        state = _State(cache=ctx.cache)
        for file in release.files:
            handler = _HANDLERS.get(file.kind, _listed)
            try:
                with ctx.budget.bound(file.path):
                    handler(release, file, b, state)
            except BudgetExceeded as exc:
                b.over_budget(file.path, exc)
                if file.kind is FileKind.SAFETENSORS:
                    state.unparsed_shards.add(file.path)
            except FormatError as exc:
                b.problem(file.path, Problem(exc.code, exc.message, exc.offset))
                b.cover(file.path, P.INCONCLUSIVE, f"could not be parsed: {exc.message}")
                if file.kind is FileKind.SAFETENSORS:
                    state.unparsed_shards.add(file.path)
            except ReleaseReadError as exc:
                b.problem(file.path, Problem("release.unreadable", f"read failed: {exc.reason}"))
                b.cover(file.path, P.ERROR, f"read failed: {exc.reason}")
            except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
                # A parser crash on hostile input is itself a finding.
                b.problem(
                    file.path,
                    Problem("parser.crash", f"the {file.kind.value} parser failed: {exc!r}"),
                )
                b.cover(file.path, P.INCONCLUSIVE, f"parser failed: {type(exc).__name__}")
        _release_facts(release, b, state)
        return b.result


# --------------------------------------------------------------------- per kind

Handler = Callable[[Release, ReleaseFile, ResultBuilder, _State], None]


def _listed(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    claimed = claimed_kind(file.path)
    if claimed is not None and file.kind in (FileKind.TEXT, FileKind.LICENSE):
        # Text under a binary format's name: no reader of that format parsed it.
        b.cover(
            file.path,
            P.INCONCLUSIVE,
            f"{file.sniff_note}; named as {claimed.value} but no {claimed.value} reader parsed it",
        )
        return
    b.cover(file.path, P.LISTED, file.sniff_note)


def _unreadable(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    b.cover(file.path, P.ERROR, "could not be read")


def _unsupported(why: str) -> Handler:
    def handler(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
        b.cover(file.path, P.UNSUPPORTED, why, deferred=True)

    return handler


def _pickle(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    b.cover(
        file.path,
        P.INCONCLUSIVE,
        f"{file.sniff_note}; pickle present, not analysed by the inventory",
        deferred=True,
    )


def _safetensors(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    with release.open(file) as src:
        info: SafetensorsInfo = parse_safetensors(src)
    state.cache[("safetensors", file.path)] = info  # the pickle analyzer reads its metadata
    for problem in info.problems:
        b.problem(file.path, problem)
    state.weights.append(
        WeightFile(
            path=file.path,
            fmt="safetensors",
            parameters=info.parameter_count,
            by_type=info.parameters_by_dtype,
            tensor_names=frozenset(t.name for t in info.tensors),
            tensor_bytes=sum(t.nbytes for t in info.tensors),
        )
    )
    b.cover(file.path, P.PARSED, f"header: {len(info.tensors)} tensors")


def _gguf(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    from seewhy.formats.gguf import parse_gguf

    with release.open(file) as src:
        info = parse_gguf(src)
    state.cache[("gguf", file.path)] = info
    for problem in info.problems:
        b.problem(file.path, problem)
    state.weights.append(
        WeightFile(
            path=file.path,
            fmt="gguf",
            parameters=info.parameter_count,
            by_type=info.parameters_by_type,
            tensor_names=frozenset(t.name for t in info.tensors),
            gguf=info,
        )
    )
    for key in info.chat_templates:
        state.templates.append(
            Evidence(path=file.path, offset=info.kv_offsets.get(key), pointer=key)
        )
    b.cover(file.path, P.PARSED, f"GGUF v{info.version}: {len(info.tensors)} tensors")


def _torch_zip(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    from seewhy.formats.archive import read_zip
    from seewhy.formats.torch import describe_torch_zip, zip_tensors

    tensors: TorchTensors | None = None
    counted = ""
    with release.open(file) as src:
        listing = read_zip(src)
        info = describe_torch_zip(listing, src)
        if not info.is_torchscript:
            try:
                tensors = zip_tensors(src, listing, info)
            except FormatError as exc:
                counted = f"; tensors not counted: {exc.message}"
    for problem in listing.problems:
        b.problem(file.path, problem)
    for problem in info.problems:
        b.problem(file.path, problem)
    pickles = ", ".join(info.pickle_members) or "none"
    kind = "TorchScript archive (code/)" if info.is_torchscript else "PyTorch zip"
    if tensors is not None:
        counted = _torch_weights(file, b, state, tensors)
    b.cover(
        file.path,
        P.INCONCLUSIVE,
        f"{kind}: {len(info.storages)} storages, {info.total_storage_bytes:,} bytes{counted}; "
        f"pickles not analysed by the inventory: {pickles}",
        deferred=True,
    )


def _torch_legacy(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    from seewhy.formats.torch import legacy_tensors

    with release.open(file) as src:
        tensors = legacy_tensors(src)
    counted = _torch_weights(file, b, state, tensors)
    b.cover(
        file.path,
        P.INCONCLUSIVE,
        f"{file.sniff_note}{counted}; pickles present, not analysed by the inventory",
        deferred=True,
    )


def _torch_weights(file: ReleaseFile, b: ResultBuilder, state: _State, t: TorchTensors) -> str:
    """Record a checkpoint's counted tensors as a weight file; return the coverage note."""
    for problem in t.problems:
        b.problem(file.path, problem)
    if not t.complete:
        return f"; tensors not counted ({t.reason})"
    state.weights.append(
        WeightFile(
            path=file.path,
            fmt="pytorch",
            parameters=t.parameters,
            by_type=t.by_dtype,
            tensor_names=None,
        )
    )
    return f"; {t.tensors} tensors, {t.parameters:,} parameters counted from the pickle"


def _numpy(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    from seewhy.formats.numpy import parse_npy_header

    with release.open(file) as src:
        info = parse_npy_header(src)
    for problem in info.problems:
        b.problem(file.path, problem)
    if info.has_object_dtype:
        b.cover(
            file.path,
            P.INCONCLUSIVE,
            f"object dtype {info.descr}: pickle, not analysed by the inventory",
            deferred=True,
        )
    else:
        b.cover(file.path, P.PARSED, f"dtype {info.descr}, shape {info.shape}")


def _npz(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    from seewhy.formats.archive import read_zip
    from seewhy.formats.numpy import describe_npz

    with release.open(file) as src:
        listing = read_zip(src)
        info = describe_npz(listing, src)
    for problem in (*listing.problems, *info.problems):
        b.problem(file.path, problem)
    if info.has_object_dtype:
        b.cover(
            file.path,
            P.INCONCLUSIVE,
            "a member has object dtype: pickle, not analysed by the inventory",
            deferred=True,
        )
    else:
        b.cover(file.path, P.PARSED, f"{len(info.arrays)} arrays")


def _zip(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    from seewhy.formats.archive import read_zip

    with release.open(file) as src:
        listing = read_zip(src)
    for problem in listing.problems:
        b.problem(file.path, problem)
    b.cover(
        file.path,
        P.INCONCLUSIVE,
        f"zip of {len(listing.members)} members listed; member contents not analysed",
        deferred=True,
    )


def _read_capped(release: Release, file: ReleaseFile, cap: int) -> bytes | None:
    if file.size > cap:
        return None
    return release.read_head(file, cap)


def _too_large(b: ResultBuilder, file: ReleaseFile, cap: int) -> None:
    b.problem(
        file.path,
        Problem("inventory.too-large", f"{file.size:,} bytes, above the {cap:,}-byte cap"),
    )
    b.cover(file.path, P.INCONCLUSIVE, f"larger than the {cap:,}-byte cap; not parsed")


def _json(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    data = _read_capped(release, file, MAX_JSON_BYTES)
    if data is None:
        # Large tokenizer.json files are data, not configuration: list them.
        if file.kind is FileKind.TOKENIZER:
            b.cover(file.path, P.LISTED, "large tokenizer file; listed")
            return
        _too_large(b, file, MAX_JSON_BYTES)
        return
    name = PurePosixPath(file.path).name
    if file.kind is FileKind.CONFIG and name == "config.json":
        config = parse_config(data)
        for problem in config.problems:
            b.problem(file.path, problem)
        state.configs[file.path] = config
    elif file.kind is FileKind.WEIGHT_INDEX:
        from seewhy.formats.shards import parse_index

        index = parse_index(data)
        for problem in index.problems:
            b.problem(file.path, problem)
        state.indexes[file.path] = index
    else:
        value, problems = load_json(data, what=name, code_prefix="json")
        for problem in problems:
            b.problem(file.path, problem)
        if isinstance(value, dict) and isinstance(value.get("chat_template"), str | list):
            text = data.decode("utf-8", "replace")
            state.templates.append(
                Evidence(
                    path=file.path,
                    line=line_of_key(text, "chat_template"),
                    pointer="/chat_template",
                )
            )
    b.cover(file.path, P.PARSED, file.sniff_note)


def _card(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    card = parsed_card(release, file, state.cache).card
    for problem in card.problems:
        b.problem(file.path, problem)
    state.cards[file.path] = card
    if file.size > MAX_CARD_BYTES:
        b.cover(file.path, P.PARSED, f"first {MAX_CARD_BYTES:,} bytes parsed (cap)")
    else:
        b.cover(file.path, P.PARSED, "model card")


def _template(release: Release, file: ReleaseFile, b: ResultBuilder, state: _State) -> None:
    state.templates.append(Evidence(path=file.path, line=1))
    b.cover(file.path, P.UNSUPPORTED, "template: left to the template analyzer", deferred=True)


_HANDLERS: dict[FileKind, Handler] = {
    FileKind.SAFETENSORS: _safetensors,
    FileKind.GGUF: _gguf,
    FileKind.PYTORCH_ZIP: _torch_zip,
    FileKind.TORCHSCRIPT: _torch_zip,
    FileKind.PYTORCH_LEGACY: _torch_legacy,
    FileKind.PICKLE: _pickle,
    FileKind.NUMPY: _numpy,
    FileKind.NUMPY_ZIP: _npz,
    FileKind.ZIP: _zip,
    FileKind.KERAS_ZIP: _unsupported("Keras archive: left to the formats analyzer"),
    FileKind.ONNX: _unsupported("ONNX model: left to the formats analyzer"),
    FileKind.TENSORFLOW: _unsupported("TensorFlow graph: left to the formats analyzer"),
    FileKind.HDF5: _unsupported("HDF5 file: left to the formats analyzer"),
    FileKind.TAR: _unsupported("tar archive: left to the formats analyzer"),
    FileKind.SEVENZIP: _unsupported("7z archive: left to the formats analyzer"),
    FileKind.COMPRESSED: _unsupported("compressed stream: left to the formats analyzer"),
    FileKind.PYTHON: _unsupported("Python code: left to the code analyzer"),
    FileKind.JINJA: _template,
    FileKind.UNKNOWN: _unsupported("unknown binary format"),
    FileKind.UNREADABLE: _unreadable,
    FileKind.CONFIG: _json,
    FileKind.TOKENIZER: _json,
    FileKind.WEIGHT_INDEX: _json,
    FileKind.JSON: _json,
    FileKind.MODEL_CARD: _card,
}


# ------------------------------------------------------------ release facts


def _release_facts(release: Release, b: ResultBuilder, state: _State) -> None:
    primary = _primary_weights(state)
    config_path, config = _root_config(state)
    _architecture(b, primary, config_path, config)
    counted = _parameters(b, state, primary)
    _quantization(b, primary, config_path, config)
    _context_and_vocab(b, primary, config_path, config)
    _chat_template(b, state)
    _shards(release, b, state)
    _declared_license(b, state, primary)
    _config_estimate(b, config_path, config, counted, primary)
    _size_claims(release, b, state, primary, counted)
    _card_facts(b, state)
    b.fact(
        "total_bytes",
        "Total size",
        release.total_bytes,
        [Evidence(note=f"{len(release.files)} files")],
    )


def _depth(path: str) -> int:
    return path.count("/")


def _primary_weights(state: _State) -> list[WeightFile]:
    """The weight files of the main model.

    Files listed by a shard index form one set; other safetensors files in the
    same folder form one set (shards without an index); a GGUF file is a set
    on its own. The main model is the set at the shallowest folder with the
    most parameters.
    """
    sets: dict[str, list[WeightFile]] = {}
    indexed: dict[str, str] = {}
    for index_path, index in state.indexes.items():
        parent = posixpath.dirname(index_path)
        for shard in index.shard_names:
            indexed[_join(parent, shard)] = index_path
    for w in state.weights:
        folder = posixpath.dirname(w.path) or "."
        if w.path in indexed:
            key = f"index:{indexed[w.path]}"
        elif w.fmt == "safetensors":
            key = f"dir:{folder}"
        else:
            key = f"file:{w.path}"
        sets.setdefault(key, []).append(w)
    if not sets:
        return []
    return min(
        sets.values(),
        key=lambda ws: (min(_depth(w.path) for w in ws), -sum(w.parameters for w in ws)),
    )


def _root_config(state: _State) -> tuple[str | None, ModelConfig | None]:
    if not state.configs:
        return None, None
    path = min(state.configs, key=lambda p: (_depth(p), p))
    return path, state.configs[path]


def _gguf_ev(w: WeightFile, key: str) -> Evidence:
    offset = w.gguf.kv_offsets.get(key) if w.gguf is not None else None
    return Evidence(path=w.path, offset=offset, pointer=key)


def _config_ev(path: str, config: ModelConfig, field_name: str) -> Evidence:
    key = config.keys.get(field_name, field_name)
    return Evidence(path=path, pointer=f"/{key}")


def _architecture(
    b: ResultBuilder,
    primary: list[WeightFile],
    config_path: str | None,
    config: ModelConfig | None,
) -> None:
    ggufs = [w for w in primary if w.gguf is not None and w.gguf.architecture]
    if ggufs and ggufs[0].gguf is not None:
        arch = ggufs[0].gguf.architecture
        b.fact("architecture", "Architecture", arch, [_gguf_ev(ggufs[0], "general.architecture")])
    elif config is not None and config_path is not None and config.model_type:
        value = config.model_type
        if config.architectures:
            value += f" ({', '.join(config.architectures)})"
        b.fact(
            "architecture", "Architecture", value, [_config_ev(config_path, config, "model_type")]
        )


def _parameters(b: ResultBuilder, state: _State, primary: list[WeightFile]) -> int | None:
    if not primary:
        return None
    total = sum(w.parameters for w in primary)
    by_type: dict[str, int] = {}
    for w in primary:
        for k, v in w.by_type.items():
            by_type[k] = by_type.get(k, 0) + v
    evidence = [
        Evidence(path=w.path, note=f"{w.parameters:,} from the {w.fmt} header") for w in primary
    ]
    b.fact("parameter_count", "Parameters (summed from weight headers)", total, evidence)
    ordered = sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    b.fact("parameters_by_dtype", "Parameters per dtype", dict(ordered), evidence[:1])
    counted = {w.path for w in primary}
    others = [w for w in state.weights if w.path not in counted]
    if others:
        b.fact(
            "other_weight_files",
            "Other weight files (not counted above)",
            {w.path: w.parameters for w in others},
            [Evidence(path=w.path) for w in others[:5]],
        )
    return total


def _quantization(
    b: ResultBuilder,
    primary: list[WeightFile],
    config_path: str | None,
    config: ModelConfig | None,
) -> None:
    values: list[str | int | float | bool | None] = []
    evidence: list[Evidence] = []
    for w in primary:
        if w.gguf is not None:
            ftype = w.gguf.file_type
            if ftype and ftype not in values:
                values.append(ftype)
                evidence.append(_gguf_ev(w, "general.file_type"))
    types = sorted({t for w in primary for t in w.by_type})
    if types:
        values.append("tensor types: " + "/".join(types))
        evidence.extend(
            Evidence(path=w.path, note="tensor types in the header") for w in primary[:1]
        )
    if config is not None and config_path is not None and config.decoder.quant_method:
        values.append(f"quantization_config: {config.decoder.quant_method}")
        evidence.append(_config_ev(config_path, config, "quantization_config"))
    if values:
        b.fact("quantization", "Quantization / dtypes", values, evidence)


def _context_and_vocab(
    b: ResultBuilder,
    primary: list[WeightFile],
    config_path: str | None,
    config: ModelConfig | None,
) -> None:
    info = next((w.gguf for w in primary if w.gguf is not None), None)
    gguf_path = next((w.path for w in primary if w.gguf is not None), "")
    if info is not None:
        arch = info.architecture or ""
        vocab_key = f"{arch}.vocab_size"
        if vocab_key not in info.metadata:
            vocab_key = "tokenizer.ggml.tokens"
        for key, label, value, gkey in (
            ("context_length", "Context length", info.context_length, f"{arch}.context_length"),
            ("vocab_size", "Vocabulary size", info.vocab_size, vocab_key),
        ):
            if value is not None:
                ev = Evidence(path=gguf_path, offset=info.kv_offsets.get(gkey), pointer=gkey)
                b.fact(key, label, value, [ev])
        return
    if config is None or config_path is None:
        return
    dec = config.decoder
    for key, label, field_name in (
        ("context_length", "Context length", "max_position_embeddings"),
        ("vocab_size", "Vocabulary size", "vocab_size"),
    ):
        value = getattr(dec, field_name)
        if value is not None:
            b.fact(key, label, value, [_config_ev(config_path, dec, field_name)])


def _chat_template(b: ResultBuilder, state: _State) -> None:
    evidence = state.templates[:5] or [
        Evidence(
            note="none found: no tokenizer.chat_template* key in GGUF files, no chat_template "
            "in JSON configs, no template file"
        )
    ]
    b.fact("chat_template", "Chat template present", bool(state.templates), evidence)


def _shards(release: Release, b: ResultBuilder, state: _State) -> None:
    """Check each shard index against the files of its folder (linear in files + entries)."""
    if not state.indexes:
        return
    from seewhy.formats.shards import check_shards

    by_path = {w.path: w for w in state.weights}
    files = {file.path: file for file in release.files}
    by_folder: dict[str, list[str]] = {}
    for path in (*by_path, *state.unparsed_shards):
        by_folder.setdefault(posixpath.dirname(path), []).append(path)
    for index_path, index in sorted(state.indexes.items()):
        folder = posixpath.dirname(index_path)
        listed = index.shard_names
        # Every listed shard that is present, whatever its extension or kind, then the
        # other weight files of the folder (to find shards the index does not list).
        pairs = [(s, _join(folder, s)) for s in listed]
        pairs = [(s, path) for s, path in pairs if path in files and path != index_path]
        names = {s for s, _ in pairs}
        paired = {path for _, path in pairs}
        for path in by_folder.get(folder, ()):
            name = posixpath.basename(path)
            if name not in names and path not in paired:
                pairs.append((name, path))
        present: dict[str, frozenset[str] | None] = {}
        sizes: dict[str, int] = {}
        for name, path in pairs:
            weight = by_path.get(path)
            present[name] = weight.tensor_names if weight is not None else None
            if weight is not None and weight.tensor_bytes is not None:
                sizes[name] = weight.tensor_bytes
        expected = _shard_kinds(index_path)
        misfits = {
            name: f"{files[path].sniff_note or files[path].kind.value}, not "
            + " or ".join(k.value for k in expected)
            for name, path in pairs
            if expected and files[path].kind not in expected
        }
        problems = check_shards(index, present, shard_sizes=sizes or None, misfits=misfits)
        for problem in problems:
            b.problem(index_path, problem)
        found = [s for s in listed if s in present]
        status = "complete" if not problems else "incomplete or inconsistent"
        b.fact(
            "shards",
            "Shards",
            f"{status}: {len(found)} of {len(listed)} listed shards present",
            [Evidence(path=index_path, pointer="/weight_map")],
        )


def _shard_kinds(index_path: str) -> tuple[FileKind, ...]:
    """The kinds a loader expects the shards of this index to be (empty when unknown)."""
    name = PurePosixPath(index_path).name.lower()
    if ".safetensors." in name:
        return (FileKind.SAFETENSORS,)
    if name.startswith("pytorch_model") or ".bin." in name or ".pt." in name:
        return (FileKind.PYTORCH_ZIP, FileKind.PYTORCH_LEGACY)
    return ()


def _join(folder: str, name: str) -> str:
    """The release path of ``name`` relative to ``folder`` (``""`` is the root)."""
    return posixpath.normpath(posixpath.join(folder, name))


def _declared_license(b: ResultBuilder, state: _State, primary: list[WeightFile]) -> None:
    values: list[str | int | float | bool | None] = []
    evidence: list[Evidence] = []
    for path, card in sorted(state.cards.items(), key=lambda kv: _depth(kv[0])):
        for lic in card.licenses or ((card.license,) if card.license else ()):
            values.append(lic)
            evidence.append(
                Evidence(
                    path=path,
                    line=card.line_of("license"),
                    pointer="license",
                    excerpt=f"license: {lic}",
                )
            )
        if card.license_name:
            values.append(f"license_name: {card.license_name}")
            evidence.append(
                Evidence(path=path, line=card.line_of("license_name"), pointer="license_name")
            )
        if card.license_link:
            values.append(f"license_link: {card.license_link}")
            evidence.append(
                Evidence(path=path, line=card.line_of("license_link"), pointer="license_link")
            )
        break
    for w in primary:
        if w.gguf is not None and w.gguf.license:
            values.append(w.gguf.license)
            evidence.append(_gguf_ev(w, "general.license"))
    if values:
        b.fact("declared_license", "Declared license", list(dict.fromkeys(values)), evidence)


def _config_estimate(
    b: ResultBuilder,
    config_path: str | None,
    config: ModelConfig | None,
    counted: int | None,
    primary: list[WeightFile],
) -> None:
    if config is None or config_path is None:
        return
    estimate = estimate_parameters(config)
    if estimate is None:
        return
    ev = Evidence(path=config_path, note=estimate.formula_notes)
    b.fact(
        "config_parameter_estimate", "Parameters (estimated from config.json)", estimate.total, [ev]
    )
    if counted is None or counted == 0 or estimate.partial:
        return
    if abs(counted - estimate.total) > CONFIG_TOLERANCE * estimate.total:
        b.finding(
            "SW-INV-002",
            f"config.json describes a {estimate.architecture} model of {estimate.total:,} "
            f"parameters, but the weight headers hold {counted:,}",
            [ev, *(Evidence(path=w.path, note=f"{w.parameters:,} parameters") for w in primary)],
        )


def _size_claims(
    release: Release,
    b: ResultBuilder,
    state: _State,
    primary: list[WeightFile],
    counted: int | None,
) -> None:
    """Check every size a name claims against the counted parameters.

    Names are read in this order: GGUF ``general.size_label`` and
    ``general.name``, the top-level card's title (first ``# `` heading) and
    ``model_name`` (model-index), config.json ``_name_or_path``, the weight
    file names and the release folder name. The first claim found is the
    ``claimed_size`` fact; each distinct claim the weights contradict is a
    finding that quotes where it was made.
    """
    candidates: list[tuple[str, Evidence]] = []
    for w in primary:
        if w.gguf is not None:
            for key in ("general.size_label", "general.name"):
                value = w.gguf.metadata.get(key)
                if isinstance(value, str):
                    candidates.append((value, _gguf_ev(w, key)))
    if state.cards:
        path = min(state.cards, key=lambda p: (_depth(p), p))
        card = state.cards[path]
        title = card_title(card.body, card.body_start_line)
        if title is not None:
            candidates.append((title[0], Evidence(path=path, line=title[1], note="card title")))
        if card.model_name:
            candidates.append((card.model_name, Evidence(path=path, pointer="model-index/name")))
    config_path, config = _root_config(state)
    if config is not None and config_path is not None:
        name_or_path = config.raw.get("_name_or_path")
        if isinstance(name_or_path, str):
            candidates.append((name_or_path, Evidence(path=config_path, pointer="/_name_or_path")))
    for w in primary:
        candidates.append((PurePosixPath(w.path).name, Evidence(path=w.path, note="file name")))
    if release.source_kind == "folder":
        candidates.append((release.name, Evidence(note="release folder name")))
    reported: set[int] = set()
    first = True
    for text, ev in candidates:
        claim = parse_size_claim(text)
        if claim is None:
            continue
        ev = ev.model_copy(update={"excerpt": text})
        if first:
            b.fact("claimed_size", "Size the name claims", claim.text, [ev])
            first = False
        if not counted or claim_agrees(claim, counted) or claim.parameters in reported:
            continue
        reported.add(claim.parameters)
        where = ev.note or ev.pointer or "the name"
        b.finding(
            "SW-INV-001",
            f"{where} {text!r} claims {claim.text} ({claim.parameters:,}) parameters but the "
            f"weight headers hold {counted:,}",
            [
                ev,
                *(Evidence(path=w.path, note=f"{w.parameters:,} parameters") for w in primary[:3]),
            ],
        )


def _card_facts(b: ResultBuilder, state: _State) -> None:
    """Base model and claimed results from the top-level model card."""
    if not state.cards:
        return
    path = min(state.cards, key=lambda p: (_depth(p), p))
    card = state.cards[path]
    if card.base_model:
        b.fact(
            "base_model",
            "Base model (card)",
            list(card.base_model),
            [Evidence(path=path, line=card.line_of("base_model"), pointer="base_model")],
        )
    if card.eval_results:
        values: list[str | int | float | bool | None] = []
        evidence: list[Evidence] = []
        for r in card.eval_results[:50]:
            metric = r.metric_name or r.metric_type or "metric"
            values.append(f"{r.dataset_name or r.dataset_type or '?'}: {metric} = {r.metric_value}")
            evidence.append(Evidence(path=path, line=r.line, pointer="model-index"))
        b.fact("claimed_results", "Results the card claims (model-index)", values, evidence)
