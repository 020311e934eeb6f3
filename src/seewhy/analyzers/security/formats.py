"""Framework formats: ONNX, Keras, TensorFlow and archives, checked without loading them.

:class:`FrameworkFormatsAnalyzer` picks the files of a release whose loaders
have a history of turning a model file into code execution or file access,
and checks each with a bounded parser of its own (no onnx, keras,
tensorflow or h5py on the audit path):

========================  ====================================================
ONNX (by content)         external-data containment and links, custom ops
SavedModel / GraphDef     ops that call Python, touch files; asset names
(``saved_model.pb``,      (a ``.pb`` is told apart by name and structure;
``*.pb``)                 ``saved_model.pb`` often sniffs as ONNX)
``saved_model.pbtxt``     op names by pattern (inconclusive)
``keras_metadata.pb``     TF-Keras layer configs
Keras ``.keras`` zip      config.json objects vs the allow-list
HDF5 (``.h5``)            the ``model_config`` attribute, same checks
tar, compressed, zip, 7z  member names, links, devices, bombs, trailing data;
.npz non-array members    every member audited (:mod:`seewhy.analyzers.nested`)
weight files              more than one hard link
========================  ====================================================

Every file of these kinds gets a coverage step: ``parsed`` when every check
ran, ``inconclusive`` when something stayed unread (an archive member, an
HDF5 without a Keras config, a parser error), ``unsupported`` for 7z. A
parser that fails on a file is itself a finding, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import PurePosixPath

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.analyzers.security.formats_common import check_hard_links
from seewhy.budget import BudgetExceeded
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.interface import Problem
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import CoverageStatus

__all__ = ["FrameworkFormatsAnalyzer", "select_check"]

Check = Callable[[Release, ReleaseFile, ResultBuilder], None]

# The checks live in modules of their own (formats_archives, formats_keras,
# formats_onnx, formats_tf), each imported by the first file that needs it:
# a release without such files never imports their parsers.
_BY_KIND: dict[FileKind, tuple[str, str, str]] = {
    FileKind.KERAS_ZIP: ("Keras archive", "formats_keras", "check_keras_zip"),
    FileKind.HDF5: ("HDF5", "formats_keras", "check_hdf5"),
    FileKind.TAR: ("tar", "formats_archives", "check_tar"),
    FileKind.ZIP: ("zip", "formats_archives", "check_zip"),
    FileKind.SEVENZIP: ("7z", "formats_archives", "check_sevenzip"),
    FileKind.COMPRESSED: ("compressed stream", "formats_archives", "check_compressed"),
    FileKind.NUMPY_ZIP: ("npz", "formats_archives", "check_npz"),
    FileKind.PYTORCH_LEGACY: (
        "legacy torch.save tar",
        "formats_archives",
        "check_legacy_torch_tar",
    ),
}


def _check(module: str, name: str) -> Check:
    """The check ``name`` of ``seewhy.analyzers.security.<module>`` (imported now)."""
    check: Check = getattr(import_module(f"seewhy.analyzers.security.{module}"), name)
    return check


def select_check(release: Release, file: ReleaseFile) -> tuple[str, Check] | None:
    """The check that applies to ``file`` and a short name for it, or ``None``.

    Content decides first (the sniffed kind); a ``.pb`` name plus protobuf
    structure decides between ONNX, SavedModel and a frozen GraphDef.
    """
    name = PurePosixPath(file.path).name.lower()
    if name == "saved_model.pbtxt" and file.kind not in (FileKind.EMPTY, FileKind.UNREADABLE):
        return "text SavedModel", _check("formats_tf", "check_pbtxt")
    if file.kind is FileKind.ONNX:
        if _probe(release, file) == "saved_model":
            return "SavedModel", _check("formats_tf", "check_saved_model")
        return "ONNX", _check("formats_onnx", "check_onnx")
    if file.kind is FileKind.TENSORFLOW or (file.kind is FileKind.UNKNOWN and name.endswith(".pb")):
        if name == "keras_metadata.pb":
            return "TF-Keras metadata", _check("formats_keras", "check_keras_metadata")
        if name == "saved_model.pb":
            return "SavedModel", _check("formats_tf", "check_saved_model")
        shape = _probe(release, file)
        if shape == "saved_model":
            return "SavedModel", _check("formats_tf", "check_saved_model")
        if shape == "graph_def":
            return "GraphDef", _check("formats_tf", "check_graph_def")
        return None
    entry = _BY_KIND.get(file.kind)
    if entry is None:
        return None
    what, module, function = entry
    return what, _check(module, function)


def _probe(release: Release, file: ReleaseFile) -> str | None:
    from seewhy.formats.savedmodel import probe

    with release.open(file) as source:
        return probe(source)


class FrameworkFormatsAnalyzer:
    """Checks ONNX, Keras, TensorFlow and archive files of a release (see the module)."""

    name = "security.formats"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        for file in release.files:
            try:
                selected = select_check(release, file)
            except ReleaseReadError as exc:
                b.problem(file.path, Problem("release.unreadable", f"read failed: {exc.reason}"))
                b.cover(file.path, CoverageStatus.ERROR, f"read failed: {exc.reason}")
                continue
            if selected is None:
                continue
            what, check = selected
            from seewhy.analyzers.security.formats_archives import with_context

            try:
                with ctx.budget.bound(file.path):
                    _run(release, file, b, what, with_context(check, ctx))
            except BudgetExceeded as exc:
                b.over_budget(file.path, exc)
        check_hard_links(release, b)
        return b.result


def _run(release: Release, file: ReleaseFile, b: ResultBuilder, what: str, check: Check) -> None:
    """Run one check; turn every failure into a finding and an inconclusive step."""
    try:
        check(release, file, b)
    except FormatError as exc:
        b.problem(file.path, Problem(exc.code, exc.message, exc.offset))
        b.cover(
            file.path, CoverageStatus.INCONCLUSIVE, f"{what}: could not be parsed: {exc.message}"
        )
    except ReleaseReadError as exc:
        b.problem(file.path, Problem("release.unreadable", f"read failed: {exc.reason}"))
        b.cover(file.path, CoverageStatus.ERROR, f"read failed: {exc.reason}")
    except MemoryError:
        raise  # out of memory is the budget's to report (seewhy.budget), not a crash
    except Exception as exc:  # a parser crash on hostile input is itself a finding
        b.problem(
            file.path,
            Problem("parser.crash", f"the {what} checks failed: {type(exc).__name__}: {exc}"),
        )
        b.cover(
            file.path, CoverageStatus.INCONCLUSIVE, f"{what}: checks failed: {type(exc).__name__}"
        )
