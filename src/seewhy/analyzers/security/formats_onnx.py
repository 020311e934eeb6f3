"""ONNX checks: external-data containment and links, custom operator domains.

For every tensor that keeps its data in another file (initializers, sparse
initializers, ``Constant`` values and sparse values, function attribute
defaults), the location must be a plain relative path that resolves inside
the release, through no symbolic link, to a regular file with a single hard
link that is long enough for the tensor's offset and length: the checks
onnx 1.21 added after CVE-2022-25882, CVE-2024-27318, CVE-2026-27489,
CVE-2026-34446 and CVE-2026-34447. Nothing outside the release is ever
opened; resolving an escaping location (``os.path.realpath``) only looks up
the metadata of its path components, and the target itself is never
stat'ed. Operators outside the standard and onnxruntime domains
(``seewhy/data/security/onnx.toml``) are listed, since they need native
custom-op libraries.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from seewhy.analyzers.interface import ResultBuilder
from seewhy.analyzers.security.formats_common import Collector, load_data, show
from seewhy.formats.onnx import ExternalTensor, OnnxInfo, iter_locations, location_flaws, parse_onnx
from seewhy.release.model import Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

__all__ = ["check_onnx", "check_onnx_info"]


@dataclass(frozen=True)
class _Domains:
    standard: frozenset[str]
    runtime: frozenset[str]


@cache
def _domains() -> _Domains:
    data = load_data("onnx.toml")
    return _Domains(frozenset(data["standard"]), frozenset(data["runtime"]))


def check_onnx(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Parse an ONNX model and check it; records findings and a coverage step."""
    with release.open(file) as source:
        info = parse_onnx(source)
    check_onnx_info(release, file, b, info)


def check_onnx_info(release: Release, file: ReleaseFile, b: ResultBuilder, info: OnnxInfo) -> None:
    """Check a parsed ONNX model (see the module docstring)."""
    for problem in info.problems:
        b.problem(file.path, problem)
    collector = Collector(b)
    targets: set[str] = set()
    for tensor, location in iter_locations(info):
        target = _check_location(release, file, collector, tensor, location)
        if target is not None:
            targets.add(target)
    _custom_domains(file, collector, info)
    collector.emit()
    for target in sorted(targets):
        if release.file(target) is not None and target != file.path:
            b.cover(target, CoverageStatus.LISTED, f"external tensor data of {file.path}")
    opsets = ", ".join(f"{d or 'ai.onnx'} v{v}" for d, v in info.opsets[:6]) or "none"
    b.cover(
        file.path,
        CoverageStatus.PARSED,
        f"ONNX IR v{info.ir_version}, opsets {opsets}: {info.graphs} graphs, {info.nodes} nodes, "
        f"{info.tensors} tensors ({len(info.external_tensors)} with external data checked)",
    )


def _evidence(file: ReleaseFile, tensor: ExternalTensor, location: str, note: str) -> Evidence:
    return Evidence(
        path=file.path,
        offset=tensor.offset,
        pointer=tensor.where,
        excerpt=f"location: {show(location)}",
        note=note,
    )


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_location(
    release: Release,
    file: ReleaseFile,
    collector: Collector,
    tensor: ExternalTensor,
    location: str,
) -> str | None:
    """Check one location of one tensor; return the release path of its target if inside."""
    name = show(tensor.name, 80) or "<unnamed>"
    shown = show(location)
    note = f"tensor {name}"
    flaws = location_flaws(location)
    if flaws:
        collector.add(
            "SW-ONNX-001",
            f"tensor {name}: location {shown!r} ({', '.join(flaws)})",
            _evidence(file, tensor, location, note),
        )
    if not location or "\x00" in location:
        return None
    if release.hub is not None:
        return _check_cached_location(release, file, collector, tensor, location)
    root = os.path.realpath(release.root)
    model_dir = Path(release.root, *PurePosixPath(file.path).parent.parts)
    candidate = model_dir / location
    real = os.path.realpath(candidate)
    if not _inside(root, real):
        collector.add(
            "SW-ONNX-002",
            f"tensor {name}: location {shown!r} resolves to {show(real)!r}, outside the release",
            _evidence(file, tensor, location, f"{note}; not opened"),
        )
        return None
    link = _linked_component(Path(release.root), model_dir, location)
    if link is not None:
        collector.add(
            "SW-ONNX-003",
            f"tensor {name}: location {shown!r} goes through the symbolic link {show(link)!r}",
            _evidence(file, tensor, location, note),
        )
    if not _check_target(file, collector, tensor, location, Path(real)):
        return None
    return Path(os.path.relpath(real, root)).as_posix()


def _check_target(
    file: ReleaseFile, collector: Collector, tensor: ExternalTensor, location: str, target: Path
) -> bool:
    """Check the external data file a location resolved to; False when it cannot be used."""
    name = show(tensor.name, 80) or "<unnamed>"
    shown = show(location)
    note = f"tensor {name}"
    try:
        st = target.stat()
    except OSError:
        collector.add(
            "SW-ONNX-005",
            f"tensor {name}: external data file {shown!r} is not in the release",
            _evidence(file, tensor, location, note),
        )
        return False
    if not stat.S_ISREG(st.st_mode):
        collector.add(
            "SW-ONNX-005",
            f"tensor {name}: external data {shown!r} is not a regular file",
            _evidence(file, tensor, location, note),
        )
        return False
    if st.st_nlink > 1:
        collector.add(
            "SW-ONNX-004",
            f"tensor {name}: external data file {shown!r} has {st.st_nlink} hard links",
            _evidence(file, tensor, location, note),
        )
    _check_range(file, collector, tensor, location, st.st_size)
    return True


def _check_cached_location(
    release: Release,
    file: ReleaseFile,
    collector: Collector,
    tensor: ExternalTensor,
    location: str,
) -> str | None:
    """Resolve ``location`` in a Hugging Face cache snapshot.

    Every file of a snapshot is a link into the repository's ``blobs/``, so
    following links on disk always leaves the snapshot folder. The release
    layer has already resolved those links (and reported any other link), so
    the location is resolved by its path alone and looked up among the
    release's files.
    """
    name = show(tensor.name, 80) or "<unnamed>"
    shown = show(location)
    note = f"tensor {name}"
    base = posixpath.dirname(file.path)
    relative = posixpath.normpath(posixpath.join(base, location.replace("\\", "/")))
    if relative == ".." or relative.startswith("../") or posixpath.isabs(relative):
        collector.add(
            "SW-ONNX-002",
            f"tensor {name}: location {shown!r} resolves to {show(relative)!r}, "
            "outside the snapshot",
            _evidence(file, tensor, location, f"{note}; not opened"),
        )
        return None
    target = release.file(relative)
    if target is None:
        collector.add(
            "SW-ONNX-005",
            f"tensor {name}: external data file {shown!r} is not in the release",
            _evidence(file, tensor, location, note),
        )
        return None
    if not _check_target(file, collector, tensor, location, target.abs_path):
        return None
    return relative


def _linked_component(root: Path, model_dir: Path, location: str) -> str | None:
    """The first symbolic link on the way from the model's folder to ``location``, if any.

    Only components inside the release are looked at (with ``lstat``).
    """
    current = model_dir
    for part in location.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        current = current.parent if part == ".." else current / part
        inside = current == root or root in current.parents
        if inside and current.is_symlink():
            return current.relative_to(root).as_posix()
    return None


def _check_range(
    file: ReleaseFile, collector: Collector, tensor: ExternalTensor, location: str, size: int
) -> None:
    name = show(tensor.name, 80) or "<unnamed>"
    offset = tensor.offset_value if tensor.data_offset is not None else 0
    length = tensor.length_value
    if offset is None or (tensor.data_length is not None and length is None):
        return  # malformed numbers are reported by the parser (onnx.bad-external-number)
    end = offset + length if length is not None else offset
    if offset > size or end > size:
        span = f"bytes {offset}..{end}" if length is not None else f"offset {offset}"
        collector.add(
            "SW-ONNX-006",
            f"tensor {name}: {span} of {show(location)!r}, a file of {size} bytes",
            _evidence(file, tensor, location, f"tensor {name}"),
        )


def _custom_domains(file: ReleaseFile, collector: Collector, info: OnnxInfo) -> None:
    domains = _domains()
    local = set(info.functions)
    by_domain: dict[str, list[str]] = {}
    first: dict[str, Evidence] = {}
    for op in info.operators:
        if op.domain in domains.standard or op.domain in domains.runtime:
            continue
        if (op.domain, op.op_type) in local:
            continue
        by_domain.setdefault(op.domain, []).append(f"{show(op.op_type, 60)} x{op.count}")
        first.setdefault(
            op.domain,
            Evidence(
                path=file.path,
                offset=op.first_offset,
                pointer=op.first_where,
                excerpt=f"domain: {show(op.domain)}, op_type: {show(op.op_type)}",
            ),
        )
    for domain, ops in sorted(by_domain.items()):
        listed = ", ".join(ops[:10]) + (f" and {len(ops) - 10} more" if len(ops) > 10 else "")
        collector.add("SW-ONNX-007", f"domain {show(domain)!r}: {listed}", first[domain])
