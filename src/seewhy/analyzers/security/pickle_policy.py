"""Which globals a pickle may import, and how: the policy behind the pickle analyzer.

The knowledge lives in ``seewhy/data/security/pickle_globals.toml``: module
aliases, the dangerous callables and whole modules, per-framework allow-list
profiles (what may be called, only constructed, or only referenced), how
allowed callables use the globals passed to them, and the callables allowed
only in one safe form. This module resolves a :class:`GlobalRef` the way
Python would (Python 2 names, aliases such as ``posix`` → ``os``, dotted
names followed through attributes) and judges it.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seewhy.formats.pickle_vm import CallSite, GlobalRef

__all__ = [
    "USAGE_RANK",
    "Judgement",
    "PicklePolicy",
    "Resolution",
    "load_policy",
]

USAGE_RANK: dict[str, int] = {"reference": 0, "construct": 1, "call": 2}
"""How much a use of a global exposes: passed along < instantiated < called."""

try:
    import _compat_pickle

    _NAME_MAPPING: dict[tuple[str, str], tuple[str, str]] = dict(_compat_pickle.NAME_MAPPING)
    _IMPORT_MAPPING: dict[str, str] = dict(_compat_pickle.IMPORT_MAPPING)
except ImportError:  # pragma: no cover - part of CPython
    _NAME_MAPPING = {}
    _IMPORT_MAPPING = {}


@dataclass(frozen=True)
class Resolution:
    """What a global resolves to: the name Python looks up and every name it may reach."""

    name: str
    candidates: tuple[str, ...]
    mechanisms: tuple[str, ...]


@dataclass(frozen=True)
class Judgement:
    """The policy's answer for one global.

    ``level`` is ``allowed``, ``dangerous``, ``unsafe-form`` (an allowed
    callable called outside its safe form), ``computed`` (its name is not a
    constant) or ``unknown``; ``reason`` says why in one line.
    """

    level: str
    name: str
    reason: str
    mechanisms: tuple[str, ...] = ()
    profile: str | None = None


@dataclass(frozen=True)
class _Profile:
    name: str
    call: frozenset[str]
    construct: frozenset[str]
    reference: frozenset[str]
    construct_prefixes: tuple[str, ...]
    class_prefixes: tuple[str, ...]
    reference_prefixes: tuple[str, ...]
    storage_names: bool


class PicklePolicy:
    """The policy loaded from the data file; see the module docstring."""

    def __init__(self, data: dict[str, Any], torch_data: dict[str, Any]) -> None:
        self.aliases: dict[str, str] = dict(data.get("aliases", {}))
        danger = data.get("dangerous", {})
        self.dangerous_modules: tuple[str, ...] = tuple(danger.get("modules", ()))
        patterns = tuple(danger.get("callables", ()))
        self._exact_danger = frozenset(p for p in patterns if not _is_pattern(p))
        self._pattern_danger = tuple(p for p in patterns if _is_pattern(p))
        self.profiles: dict[str, _Profile] = {
            name: _Profile(
                name=name,
                call=frozenset(spec.get("call", ())),
                construct=frozenset(spec.get("construct", ())),
                reference=frozenset(spec.get("reference", ())),
                construct_prefixes=tuple(spec.get("construct_prefixes", ())),
                class_prefixes=tuple(spec.get("class_prefixes", ())),
                reference_prefixes=tuple(spec.get("reference_prefixes", ())),
                storage_names=bool(spec.get("storage_names", False)),
            )
            for name, spec in data.get("profile", {}).items()
        }
        self.forward: dict[str, tuple[str, ...]] = {
            entry["name"]: tuple(entry["args"]) for entry in data.get("forward", ())
        }
        self.conditions: dict[str, str] = {
            entry["name"]: entry["kind"] for entry in data.get("condition", ())
        }
        self.storage_sizes: dict[str, int] = {
            str(k): int(v) for k, v in torch_data.get("storage_sizes", {}).items()
        }
        self.storage_modules: frozenset[str] = frozenset(
            torch_data.get("storage_modules", {}).get("modules", ())
        )
        records = torch_data.get("records", {})
        self.torch_known_records: frozenset[str] = frozenset(records.get("known", ()))
        self.torch_pickles: frozenset[str] = frozenset(records.get("pickles", ()))
        self.torch_storage_folders: dict[str, str] = dict(records.get("storage_folders", {}))

    # ------------------------------------------------------------ resolution

    def _alias(self, module: str) -> tuple[str, str | None]:
        """Apply the longest alias prefix of a dotted module name."""
        parts = module.split(".")
        for cut in range(len(parts), 0, -1):
            head = ".".join(parts[:cut])
            target = self.aliases.get(head)
            if target is not None:
                rest = ".".join(parts[cut:])
                mapped = f"{target}.{rest}" if rest else target
                return mapped, f"module alias {head} → {target}"
        return module, None

    def resolve(self, ref: GlobalRef) -> Resolution | None:
        """Resolve a global as Python would; ``None`` when its name is not known."""
        if ref.module is None or ref.name is None:
            return None
        module, name = ref.module, ref.name
        mechanisms: list[str] = []
        if (module, name) in _NAME_MAPPING:
            new_module, new_name = _NAME_MAPPING[(module, name)]
            mechanisms.append(f"Python 2 name {module}.{name} → {new_module}.{new_name}")
            module, name = new_module, new_name
        elif module in _IMPORT_MAPPING:
            mechanisms.append(f"Python 2 module {module} → {_IMPORT_MAPPING[module]}")
            module = _IMPORT_MAPPING[module]
        module, note = self._alias(module)
        if note:
            mechanisms.append(note)
        full = f"{module}.{name}"
        candidates = [full]
        parts = name.split(".")
        if len(parts) > 1:
            mechanisms.append(
                f"dotted name {name!r} looked up through the attributes of {module}"
                + (
                    ""
                    if ref.protocol >= 4
                    else f" (CPython follows dots from protocol 4; this pickle is at "
                    f"{ref.protocol}, flagged all the same)"
                )
            )
            for start in range(len(parts) - 1):
                tail = parts[start:]
                aliased, _ = self._alias(".".join(tail[:-1]))
                candidates.append(f"{aliased}.{tail[-1]}")
        return Resolution(full, tuple(dict.fromkeys(candidates)), tuple(mechanisms))

    # ------------------------------------------------------------ judging

    def dangerous(self, name: str) -> str | None:
        """Why a resolved name is dangerous (callable or whole module), or ``None``."""
        return self.dangerous_callable(name) or self.dangerous_module(name)

    def dangerous_module(self, name: str) -> str | None:
        """Why ``name`` lies in a dangerous module, or ``None``."""
        for module in self.dangerous_modules:
            if name == module or name.startswith(module + "."):
                return f"module {module} is on the dangerous list"
        return None

    def dangerous_callable(self, name: str) -> str | None:
        """Why ``name`` is a dangerous callable, or ``None``."""
        if name in self._exact_danger:
            return f"{name} is on the dangerous list"
        for pattern in self._pattern_danger:
            if fnmatch.fnmatchcase(name, pattern):
                return f"{name} matches the dangerous pattern {pattern}"
        return None

    def listed(self, name: str, usage: str, profiles: Iterable[str]) -> str | None:
        """The profile that lists ``name`` exactly for ``usage`` (overrides dangerous modules)."""
        rank = USAGE_RANK[usage]
        for key in profiles:
            profile = self.profiles.get(key)
            if profile is None:
                continue
            if name in profile.call or (rank <= 1 and name in profile.construct):
                return key
            if rank == 0 and name in profile.reference:
                return key
        return None

    def allowed(self, name: str, usage: str, profiles: Iterable[str]) -> str | None:
        """The profile that allows ``name`` for ``usage``, or ``None``."""
        rank = USAGE_RANK[usage]
        for key in profiles:
            profile = self.profiles.get(key)
            if profile is None:
                continue
            if name in profile.call:
                return key
            if rank <= 1 and (
                name in profile.construct or name.startswith(profile.construct_prefixes)
            ):
                return key
            if name.startswith(profile.class_prefixes) and (
                rank <= 1 or name.rsplit(".", 1)[-1][:1].isupper()
            ):
                return key
            if rank == 0 and (
                name in profile.reference or name.startswith(profile.reference_prefixes)
            ):
                return key
            if profile.storage_names and self.is_storage(name):
                return key
        return None

    def is_storage(self, name: str) -> bool:
        """Whether ``name`` is a storage class torch.load maps without importing it."""
        module, _, cls = name.rpartition(".")
        return module in self.storage_modules and cls in self.storage_sizes

    def judge(
        self,
        ref: GlobalRef,
        usage: str,
        profiles: Sequence[str],
        calls: Sequence[CallSite] = (),
    ) -> Judgement:
        """Judge one global used at most as ``usage`` (``call`` sites given for conditions)."""
        resolution = self.resolve(ref)
        if resolution is None or not ref.constant:
            shown = ref.qualname
            return Judgement(
                "computed",
                shown,
                "the module or name is computed at load time, so no list can vouch for it",
                (ref.resolved_via,),
            )
        mechanisms = resolution.mechanisms
        name = resolution.name
        for candidate in resolution.candidates:
            why = self.dangerous_callable(candidate)
            if why is not None:
                return Judgement("dangerous", candidate, why, mechanisms)
        listed = self.listed(name, usage, profiles)
        if listed is None:
            for candidate in resolution.candidates:
                why = self.dangerous_module(candidate)
                if why is not None:
                    return Judgement("dangerous", candidate, why, mechanisms)
        profile = listed or self.allowed(name, usage, profiles)
        if profile is not None:
            condition = self.conditions.get(name)
            if condition is not None and usage == "call":
                failed = [c for c in calls if not _condition_holds(condition, c)]
                if failed:
                    return Judgement(
                        "unsafe-form",
                        name,
                        f"{name} is allowed only as {_CONDITION_TEXT[condition]}; it is called "
                        f"with {failed[0].args_summary}",
                        mechanisms,
                        profile,
                    )
            reason = f"allowed by the {profile} profile"
            return Judgement("allowed", name, reason, mechanisms, profile)
        dunder = [part for part in name.split(".") if _is_dunder(part)]
        if dunder:
            return Judgement(
                "dangerous",
                name,
                f"reaches Python internals through {dunder[0]} (attributes such as __builtins__, "
                "__globals__ and __class__ lead to eval and import)",
                mechanisms,
            )
        why = {
            "call": "is called and no allow-list profile lists it",
            "construct": "is instantiated and no allow-list profile lists it",
            "reference": "is imported and no allow-list profile lists it",
        }[usage]
        if name.startswith("__main__."):
            why += " (it names whatever the loading program defines in __main__)"
        return Judgement("unknown", name, f"{name} {why}", mechanisms)

    def forwarded(self, callable_name: str) -> tuple[str, ...]:
        """How an allowed callable uses the globals passed as its positional arguments."""
        return self.forward.get(callable_name, ())

    def element_size(self, storage_type: str) -> int | None:
        """Bytes per element of a torch storage class, or ``None`` if unknown."""
        return self.storage_sizes.get(storage_type)


_CONDITION_TEXT = {
    "latin1": "a call with a constant string and the 'latin1' encoding",
    "singleton-type": "type(None), type(NotImplemented) or type(...)",
}


def _condition_holds(kind: str, call: CallSite) -> bool:
    args = call.const_args
    if kind == "latin1":
        return (
            args is not None
            and len(args) == 2
            and isinstance(args[0], str)
            and isinstance(args[1], str)
            and args[1].lower().replace("_", "-") in ("latin1", "latin-1")
        )
    if kind == "singleton-type":
        if args == (None,):
            return True
        if len(call.arg_globals) == 1 and call.arg_globals[0] is not None:
            return call.arg_globals[0].qualname in (
                "builtins.NotImplemented",
                "builtins.Ellipsis",
                "__builtin__.NotImplemented",
                "__builtin__.Ellipsis",
            )
        return False
    return False


def _is_dunder(part: str) -> bool:
    return (
        len(part) > 4
        and part.startswith("__")
        and part.endswith("__")
        and part
        not in (
            "__main__",
            "__torch__",
        )
    )


def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


@cache
def load_policy() -> PicklePolicy:
    """The packaged policy, loaded once."""
    folder = resources.files("seewhy.data") / "security"
    data = tomllib.loads((folder / "pickle_globals.toml").read_text("utf-8"))
    torch_data = tomllib.loads((folder / "pickle_torch.toml").read_text("utf-8"))
    return PicklePolicy(data, torch_data)
