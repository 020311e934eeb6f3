"""Keras checks: every object a model config names, against an allow-list.

A Keras config is a tree of serialized objects (``module``, ``class_name``,
``registered_name``, ``config``); loading resolves each one to Python code.
Every object of every config is checked against
``seewhy/data/security/keras_allow.toml``:

* ``Lambda`` layers and serialized lambdas carry bytecode (SW-KERAS-001);
* modules known to run commands or load code, and dangerous callables inside
  Keras (``get_file``, ``enable_unsafe_deserialization``, nested
  ``load_model``) are critical (SW-KERAS-002);
* any other module or registered package outside Keras needs custom code
  (SW-KERAS-003, CVE-2025-1550);
* ``TFSMLayer`` loads an external SavedModel (SW-KERAS-004, CVE-2026-1462);
* ``enable_unsafe_deserialization`` anywhere in the text (SW-KERAS-005,
  CVE-2025-9906);
* class names without a module that Keras does not know (SW-KERAS-006) and
  TF-Keras op layers calling file or Python functions (SW-KERAS-007).

The same checks run on ``.keras`` archives, legacy HDF5 files (the
``model_config`` attribute) and ``keras_metadata.pb`` of TF-Keras
SavedModels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from seewhy.analyzers.interface import ResultBuilder
from seewhy.analyzers.security.formats_common import Collector, load_data, show
from seewhy.errors import FormatError
from seewhy.formats.interface import Problem
from seewhy.formats.jsondoc import load_json
from seewhy.formats.keras import (
    MAX_JSON_DEPTH,
    KerasObject,
    find_hdf5_configs,
    parse_keras_zip,
    walk_config,
)
from seewhy.formats.savedmodel import parse_keras_metadata
from seewhy.release.model import Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

__all__ = [
    "KerasPolicy",
    "check_config",
    "check_hdf5",
    "check_keras_metadata",
    "check_keras_zip",
    "policy",
]

MIB = 1024 * 1024


@dataclass(frozen=True)
class KerasPolicy:
    """The allow-list and deny-lists of ``keras_allow.toml``."""

    allowed_packages: frozenset[str]
    dangerous_modules: tuple[str, ...]
    dangerous_callables: frozenset[str]
    lambda_classes: frozenset[str]
    external_model_classes: frozenset[str]
    tf_op_classes: frozenset[str]
    special_classes: frozenset[str]
    builtin_classes: frozenset[str]
    tf_dangerous: tuple[str, ...]
    unsafe_tokens: tuple[str, ...]

    def dangerous_module(self, module: str) -> bool:
        """Whether ``module`` is, or is inside, a module on the deny-list."""
        return any(module == d or module.startswith(d + ".") for d in self.dangerous_modules)

    def allowed_package(self, dotted: str) -> bool:
        """Whether the top-level package of ``dotted`` is one Keras imports from."""
        return dotted.split(".", 1)[0] in self.allowed_packages


@cache
def policy() -> KerasPolicy:
    """The Keras policy, loaded once from the data file."""
    data = load_data("keras_allow.toml")
    classes = data["classes"]
    return KerasPolicy(
        allowed_packages=frozenset(data["modules"]["allowed_packages"]),
        dangerous_modules=tuple(data["modules"]["dangerous"]),
        dangerous_callables=frozenset(data["callables"]["dangerous"]),
        lambda_classes=frozenset(classes["lambda"]),
        external_model_classes=frozenset(classes["external_model"]),
        tf_op_classes=frozenset(classes["tf_op_layers"]),
        special_classes=frozenset(classes["special"]),
        builtin_classes=frozenset(classes["builtin"]),
        tf_dangerous=tuple(data["tf_functions"]["dangerous"]),
        unsafe_tokens=tuple(data["tokens"]["unsafe"]),
    )


# ---------------------------------------------------------------- config checks


def check_config(
    collector: Collector,
    path: str,
    value: Any,
    *,
    where: str,
    offset: int | None,
) -> tuple[int, bool]:
    """Check every object of one parsed config; return (objects checked, walk complete).

    ``where`` prefixes every JSON pointer in the evidence (``config.json#``,
    ``model_config#``); ``offset`` is where the JSON text starts in the file.
    """
    rules = policy()
    walk = walk_config(value, rules.unsafe_tokens)
    for hit in walk.hits:
        collector.add(
            "SW-KERAS-005",
            f"{show(hit.needle)} at {where}{hit.pointer}",
            Evidence(
                path=path, offset=offset, pointer=f"{where}{hit.pointer}", excerpt=show(hit.text)
            ),
        )
    lambdas: list[str] = []  # pointers of Lambda objects already reported
    for obj in walk.objects:
        nested = any(obj.pointer.startswith(root + "/") for root in lambdas)
        if obj.class_name in rules.lambda_classes and not nested:
            lambdas.append(obj.pointer)
        _check_object(collector, path, obj, rules, where, offset, report_lambda=not nested)
    if not walk.complete:
        collector.add(
            "SW-KERAS-010",
            f"the config holds more than {walk.values:,} values; the rest were not checked",
            Evidence(path=path, offset=offset, pointer=where, note="keras.too-many-objects"),
        )
    return len(walk.objects), walk.complete


def _describe(obj: KerasObject) -> str:
    parts = []
    if obj.module is not None:
        parts.append(f"module {show(obj.module, 80)!r}")
    if obj.class_name is not None:
        parts.append(f"class_name {show(obj.class_name, 80)!r}")
    if obj.registered_name is not None:
        parts.append(f"registered_name {show(obj.registered_name, 80)!r}")
    return ", ".join(parts) or "object"


def _check_object(
    collector: Collector,
    path: str,
    obj: KerasObject,
    rules: KerasPolicy,
    where: str,
    offset: int | None,
    *,
    report_lambda: bool = True,
) -> None:
    class_name = obj.class_name or ""
    pointer = f"{where}{obj.pointer}"
    described = _describe(obj)

    def evidence(excerpt: str | None = None) -> Evidence:
        return Evidence(
            path=path,
            offset=offset,
            pointer=pointer,
            excerpt=show(excerpt or described, 200),
        )

    if class_name in rules.lambda_classes and report_lambda:
        function = obj.detail("function") or obj.detail("config") or obj.detail("config.function")
        code = f"; function {show(function, 60)!r}" if function else ""
        collector.add("SW-KERAS-001", f"{described} at {pointer}{code}", evidence(function))
    if class_name in rules.external_model_classes:
        target = obj.detail("config.filepath") or obj.detail("filepath") or "?"
        collector.add(
            "SW-KERAS-004",
            f"{described} at {pointer} loads {show(target, 80)!r}",
            evidence(f"filepath: {target}"),
        )
    if class_name in rules.tf_op_classes:
        function = obj.detail("config.function") or obj.detail("function") or ""
        if any(token.lower() in function.lower() for token in rules.tf_dangerous):
            collector.add(
                "SW-KERAS-007",
                f"{class_name} at {pointer} calls tf.{show(function, 80)}",
                evidence(f"function: {function}"),
            )
    outside = _check_names(collector, obj, rules, pointer, evidence)
    if (
        not outside
        and obj.module is None
        and obj.registered_name is None
        and obj.class_name is not None
        and class_name not in rules.builtin_classes
        and class_name not in rules.special_classes
        and class_name not in rules.lambda_classes
        and class_name not in rules.tf_op_classes
        and class_name not in rules.external_model_classes
    ):
        collector.add("SW-KERAS-006", f"{described} at {pointer}", evidence())


def _check_names(
    collector: Collector,
    obj: KerasObject,
    rules: KerasPolicy,
    pointer: str,
    evidence: Any,
) -> bool:
    """Module and registered-name checks; True when the object was flagged as outside Keras."""
    described = _describe(obj)
    module = obj.module
    if module is not None:
        qualified = {f"{module}.{obj.class_name}"}
        config_name = obj.detail("config")
        if config_name is not None:
            qualified.add(f"{module}.{config_name}")
        if obj.registered_name is not None:
            qualified.add(f"{module}.{obj.registered_name}")
        if rules.dangerous_module(module):
            collector.add("SW-KERAS-002", f"{described} at {pointer}", evidence())
            return True
        if qualified & rules.dangerous_callables:
            name = sorted(qualified & rules.dangerous_callables)[0]
            collector.add("SW-KERAS-002", f"{show(name)} at {pointer}", evidence())
            return True
        if not rules.allowed_package(module):
            collector.add("SW-KERAS-003", f"{described} at {pointer} (outside Keras)", evidence())
            return True
    registered = obj.registered_name
    if registered is not None and ">" in registered:
        package = registered.split(">", 1)[0]
        if rules.dangerous_module(package):
            collector.add("SW-KERAS-002", f"{described} at {pointer}", evidence())
            return True
        if not rules.allowed_package(package):
            collector.add(
                "SW-KERAS-003",
                f"{described} at {pointer} (registered custom object)",
                evidence(),
            )
            return True
    return False


# ---------------------------------------------------------------- per file kind


def check_keras_zip(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Check a Keras 3 ``.keras`` archive: its zip structure and every config object."""
    with release.open(file) as source:
        archive = parse_keras_zip(source)
    # The inventory does not list Keras archives, so their zip problems are reported here.
    for problem in (*archive.listing.problems, *archive.problems):
        b.problem(file.path, problem)
    collector = Collector(b)
    objects = 0
    complete = True
    for member, value in archive.configs:
        count, done = check_config(
            collector, file.path, value, where=f"{member.name}#", offset=member.data_offset
        )
        objects += count
        complete = complete and done
    collector.emit()
    version = archive.keras_version or "unknown"
    detail = (
        f"Keras archive (keras {show(version, 40)}): {objects} config objects checked; "
        f"{len(archive.listing.members)} members"
    )
    status = CoverageStatus.PARSED if complete else CoverageStatus.INCONCLUSIVE
    b.cover(file.path, status, detail if complete else f"{detail}; config only partly checked")


def check_hdf5(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Find and check the Keras config of an HDF5 file; inconclusive when there is none."""
    with release.open(file) as source:
        found = find_hdf5_configs(source)
    for problem in found.problems:
        b.problem(file.path, problem)
    collector = Collector(b)
    objects = 0
    complete = True
    for config in found.configs:
        for problem in config.problems:
            b.problem(file.path, problem)
        where = f"{config.name or 'json@' + str(config.offset)}#"
        count, done = check_config(
            collector, file.path, config.value, where=where, offset=config.offset
        )
        objects += count
        complete = complete and done
    collector.emit()
    scanned = (
        "whole file scanned"
        if found.scanned >= found.size
        else f"first {found.scanned // MIB} MiB scanned"
    )
    if not found.configs:
        b.cover(
            file.path,
            CoverageStatus.INCONCLUSIVE,
            f"HDF5 without a Keras model_config ({scanned}); datasets not analysed",
        )
    elif not found.located:
        b.cover(
            file.path,
            CoverageStatus.INCONCLUSIVE,
            f"Keras-like config found by byte scan only ({objects} objects checked, {scanned}); "
            "the model_config attribute itself could not be located",
        )
    else:
        status = CoverageStatus.PARSED if complete else CoverageStatus.INCONCLUSIVE
        names = ", ".join(sorted({c.name for c in found.configs if c.name}))
        b.cover(file.path, status, f"Keras HDF5: {names} checked ({objects} objects; {scanned})")


def check_keras_metadata(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Check every layer document of a TF-Keras ``keras_metadata.pb``."""
    with release.open(file) as source:
        docs = parse_keras_metadata(source)
    collector = Collector(b)
    objects = 0
    complete = True
    for index, doc in enumerate(docs):
        try:
            value, problems = load_json(
                doc.data, what=f"metadata {index}", code_prefix="keras", max_depth=MAX_JSON_DEPTH
            )
        except FormatError as exc:
            b.problem(file.path, Problem(exc.code, exc.message, doc.offset))
            complete = False
            continue
        for problem in problems:
            b.problem(
                file.path, Problem(problem.code, problem.message, doc.offset, problem.pointer)
            )
        label = show(doc.node_path or doc.identifier or f"node {index}", 60)
        count, done = check_config(
            collector, file.path, value, where=f"{label}#", offset=doc.offset
        )
        objects += count
        complete = complete and done
    collector.emit()
    status = CoverageStatus.PARSED if complete else CoverageStatus.INCONCLUSIVE
    b.cover(
        file.path,
        status,
        f"TF-Keras metadata: {len(docs)} documents, {objects} config objects checked",
    )
