"""The license knowledge base: families, phrases, clause patterns and lineage, all from data.

Everything here is read from ``seewhy/data/licenses/``:

* ``*.toml`` with ``[[license]]`` tables: one entry per license (or use policy)
  and version, with the ids, names, Hub ids, ``license_name`` values, URL
  patterns and phrases that identify it (see ``README.md`` there);
* ``spdx.json``: the SPDX license list with OSI/FSF flags, so every SPDX id
  resolves offline;
* ``clauses.toml``: restrictive-clause patterns, one ``[[tag]]`` per tag;
* ``base_models.toml``: which license a base model's family carries;
* ``modifications.toml``: known add-on texts (the Commons Clause, non-commercial
  riders, RAIL-style use restrictions) and the words a copy may swap without
  changing a license's meaning;
* ``fingerprints.json``: sampled token-shingle hashes of reference texts
  (built by :mod:`seewhy.analyzers.license.fingerprint`).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import sys
import zlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from importlib import resources
from typing import Any

from seewhy._datacache import load_tomls
from seewhy.analyzers.license.model import DocKind
from seewhy.analyzers.license.normalize import phrase

__all__ = [
    "Addon",
    "BaseRule",
    "ClauseRule",
    "ClauseSpec",
    "Entry",
    "Fingerprint",
    "KnowledgeBase",
    "Weighted",
    "load_kb",
    "normalize_url",
    "shingles",
    "spdx_entry",
    "spdx_family",
]

DATA_PACKAGE = "seewhy.data.licenses"
DEFAULT_PHRASE_WEIGHT = 2.0
_KINDS: tuple[DocKind, ...] = ("license", "use-policy", "prohibited-use-policy")


@dataclass(frozen=True)
class Weighted:
    """A phrase in matching form with the weight a hit adds to the score."""

    text: str
    weight: float = DEFAULT_PHRASE_WEIGHT


@dataclass(frozen=True)
class Entry:
    """One license or use policy, one version (or a family entry whose version is unknown)."""

    id: str
    name: str
    family: str
    kind: DocKind = "license"
    version: str | None = None
    osi_approved: bool | None = None
    fsf_libre: bool | None = None
    permissive: bool = False  # grants at least what an OSI/FSF license grants
    aliases: tuple[str, ...] = ()
    hf_ids: tuple[str, ...] = ()
    license_names: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    phrases: tuple[Weighted, ...] = ()
    require: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    version_from: str | None = None
    policy: str | None = None
    min_score: float = 4.0
    max_tokens: int | None = None  # short licenses: a longer text carries extra terms
    reference: tuple[str, ...] = ()  # tokens of the canonical text (short licenses)
    reference_text: str = ""  # the canonical text as written, with {{slot}} / {{optional}} marks
    labels: tuple[str, ...] = ()  # the names a version gives itself ("Llama 3.1 Community License")
    markers: tuple[str, ...] = ()  # wording only this version has (sections, links)
    dates: tuple[str, ...] = ()  # ISO dates this version carries (release date, last modified)
    curated: bool = True

    @property
    def matchable(self) -> bool:
        """Whether the entry can be recognised in a text."""
        return bool(self.titles or self.phrases)

    @property
    def generic(self) -> bool:
        """A family entry: the version is not known."""
        return self.version is None


@dataclass(frozen=True)
class ClauseRule:
    """A pattern over normalised tokens, with conditions on what precedes it.

    The patterns are kept as written and compiled on first use: most audits
    never read a license text, so most never need them.
    """

    source: str
    before_sources: tuple[str, ...] = ()
    not_before_sources: tuple[str, ...] = ()
    window: int = 60
    where: str = field(default="", compare=False)

    @cached_property
    def match(self) -> re.Pattern[str]:
        """The clause pattern."""
        return _compile(self.source, self.where)

    @cached_property
    def before(self) -> tuple[re.Pattern[str], ...]:
        """Patterns one of which must precede a match (within ``window`` tokens)."""
        return tuple(_compile(p, self.where) for p in self.before_sources)

    @cached_property
    def not_before(self) -> tuple[re.Pattern[str], ...]:
        """Patterns none of which may precede a match."""
        return tuple(_compile(p, self.where) for p in self.not_before_sources)


@dataclass(frozen=True)
class ClauseSpec:
    """One restriction tag: what it means, the OSD criterion it conflicts with, its patterns."""

    tag: str
    label: str
    osd_conflict: str | None
    rules: tuple[ClauseRule, ...]
    restriction: bool = True
    rule_id: str | None = None  # the finding reported for the tag


@dataclass(frozen=True)
class Addon:
    """A known text added to licenses (the Commons Clause, a non-commercial rider)."""

    id: str
    name: str
    phrases: tuple[str, ...] = ()  # any of these in the text names it
    tags: tuple[str, ...] = ()  # or: an addition that carries one of these clause tags
    restricts: bool = True
    anywhere: bool = False  # named in any license text, not only in additions to a canonical one


@dataclass(frozen=True)
class BaseRule:
    """Model ids that match ``pattern`` carry license ``license`` (compiled on first use)."""

    source: str
    license: str
    note: str = ""

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """The model-id pattern."""
        return _compile(self.source, "base_models.toml")


@dataclass(frozen=True)
class Fingerprint:
    """Sampled shingle hashes of one reference text."""

    license_id: str
    source: str
    hashes: frozenset[int]


@dataclass(frozen=True)
class References:
    """How prose points at a license (``references.toml``), in matching form."""

    triggers: tuple[str, ...] = ()
    line_triggers: tuple[str, ...] = ()
    headings: frozenset[str] = frozenset()
    window: int = 8
    section_tokens: int = 120
    policy_titles: tuple[str, ...] = ()
    prohibited_policy_titles: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpdxRecord:
    """One entry of the SPDX license list."""

    id: str
    name: str
    osi_approved: bool
    fsf_libre: bool | None
    deprecated: bool


@dataclass(frozen=True)
class KnowledgeBase:
    """The loaded knowledge base (immutable; see :func:`load_kb`)."""

    entries: tuple[Entry, ...]
    spdx: Mapping[str, SpdxRecord]
    clauses: tuple[ClauseSpec, ...]
    base_rules: tuple[BaseRule, ...]
    spdx_families: Mapping[str, str] = field(default_factory=dict)
    references: References = field(default_factory=lambda: References())
    addons: tuple[Addon, ...] = ()
    equivalents: Mapping[str, int] = field(default_factory=dict)  # token -> class
    _keys: Mapping[str, Entry] = field(default_factory=dict, repr=False)
    # Name phrases by first word; an SPDX-only license is kept as its record and made an
    # entry the first time its first word is looked up (most never are).
    _mentions: Mapping[str, tuple[tuple[str, Entry | SpdxRecord], ...]] = field(
        default_factory=dict, repr=False
    )
    _mention_entries: dict[str, tuple[tuple[str, Entry], ...]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # (fingerprints, shingle, sample_mod) from ``fingerprints.json``, read on first use:
    # only a license text is compared with them.
    _prints: tuple[tuple[Fingerprint, ...], int, int] | None = field(default=None, repr=False)

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        """Sampled shingle hashes of the reference texts."""
        return self._fingerprint_data()[0]

    @property
    def shingle(self) -> int:
        """Tokens per shingle of the fingerprints."""
        return self._fingerprint_data()[1]

    @property
    def sample_mod(self) -> int:
        """A shingle hash is kept when it is 0 modulo this."""
        return self._fingerprint_data()[2]

    def _fingerprint_data(self) -> tuple[tuple[Fingerprint, ...], int, int]:
        if self._prints is None:
            object.__setattr__(self, "_prints", _load_fingerprints())
        assert self._prints is not None
        return self._prints

    # --------------------------------------------------------------- lookups

    def get(self, license_id: str) -> Entry | None:
        """The entry for an id or alias (curated first, then SPDX)."""
        return self._keys.get(_key(license_id)) or self._spdx_entry(license_id)

    def lookup(self, value: str) -> Entry | None:
        """Resolve a card or GGUF value: Hub id, ``license_name``, id, alias or name."""
        value = value.strip()
        if not value:
            return None
        hit = self.get(value)
        if hit is not None:
            return hit
        words = phrase(value)
        if not words:
            return None
        return self._keys.get("~" + words)

    def by_url(self, url: str) -> Entry | None:
        """The entry whose URL patterns match ``url`` (scheme, www and query ignored)."""
        norm = normalize_url(url)
        if not norm:
            return None
        for entry in self.entries:
            for pattern in entry.urls:
                if fnmatch.fnmatchcase(norm, pattern):
                    return entry
        return None

    def base_license(self, model_id: str) -> tuple[Entry, BaseRule] | None:
        """The license a base model carries, known from its id by the lineage rules."""
        hits: list[tuple[BaseRule, int, int]] = []
        for rule in self.base_rules:
            span = _name_match(rule.pattern, model_id)
            if span is not None:
                hits.append((rule, *span))
        for rule, a, b in hits:  # the first rule, unless its name sits inside a longer one
            if any(o is not rule and o0 <= a and b <= o1 and o1 - o0 > b - a for o, o0, o1 in hits):
                continue
            entry = self.get(rule.license)
            if entry is not None:
                return entry, rule
        return None

    def mentions_from(self, first: str) -> tuple[tuple[str, Entry], ...]:
        """Name phrases (matching form) that begin with token ``first``, longest first."""
        done = self._mention_entries.get(first)
        if done is not None:
            return done
        found = self._mentions.get(first)
        if found is None:
            return ()
        done = tuple(
            (words, e if isinstance(e, Entry) else spdx_entry(e, self.spdx_families))
            for words, e in found
        )
        self._mention_entries[first] = done  # bounded: one per key of the index
        return done

    def without_fingerprints(self) -> KnowledgeBase:
        """The same knowledge base with no reference fingerprints (phrases only)."""
        _, shingle, mod = self._fingerprint_data()
        return replace(self, _prints=((), shingle, mod))

    def _spdx_entry(self, value: str) -> Entry | None:
        record = self.spdx.get(value.strip().lower())
        return None if record is None else spdx_entry(record, self.spdx_families)


def _name_match(pattern: re.Pattern[str], model_id: str) -> tuple[int, int] | None:
    """The span of the first match that starts a name: the letter or digit it opens on
    follows no other ("tinyllama" holds no "llama"); ``None`` when there is none."""
    for m in pattern.finditer(model_id):
        text = m.group()
        first = next((i for i, c in enumerate(text) if c.isalnum()), None)
        if first is None:
            continue
        at = m.start() + first
        if at == 0 or not model_id[at - 1].isalnum():
            return at, m.end()
    return None


def spdx_family(spdx_id: str, families: Mapping[str, str]) -> str:
    """The family of an SPDX id: from the prefix table, else the id less its version."""
    upper = spdx_id.upper()
    for prefix, family in families.items():
        if upper.startswith(prefix.upper()):
            return family
    return re.sub(r"[-.]?\d.*$", "", spdx_id).lower() or spdx_id.lower()


def spdx_entry(record: SpdxRecord, families: Mapping[str, str]) -> Entry:
    """An entry for an SPDX license that has no curated one (id, name and flags only)."""
    version = re.search(r"\d+(?:\.\d+)*[a-z]?", record.id)
    return Entry(
        id=record.id,
        name=record.name,
        family=spdx_family(record.id, families),
        version=version.group() if version else None,
        osi_approved=record.osi_approved,
        fsf_libre=record.fsf_libre,
        permissive=record.osi_approved or bool(record.fsf_libre),
        curated=False,
    )


def _key(value: str) -> str:
    return value.strip().lower().replace("_", "-").replace(" ", "-")


def normalize_url(url: str) -> str:
    """``https://www.Example.com/a/b/?q#f`` → ``example.com/a/b``."""
    url = url.strip().strip("<>()[]\"'").lower()
    url = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url)
    url = url.split("#", 1)[0].split("?", 1)[0]
    url = re.sub(r"^www\.", "", url)
    url = re.sub(r"/index\.html?$", "", url)
    return url.rstrip("/")


# ------------------------------------------------------------------- loading


def _toml(name: str) -> dict[str, Any]:
    """One of the knowledge base's TOML files, parsed (see :mod:`seewhy._datacache`)."""
    return _tomls()[name]


@cache
def _tomls() -> dict[str, dict[str, Any]]:
    return load_tomls(DATA_PACKAGE)


def _strs(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key, ())
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _weighted(items: Iterable[Any]) -> tuple[Weighted, ...]:
    out: list[Weighted] = []
    for item in items:
        if isinstance(item, str):
            out.append(Weighted(phrase(item)))
        else:
            out.append(Weighted(phrase(item["text"]), float(item.get("weight", 2.0))))
    return tuple(w for w in out if w.text)


def _phrases(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(p for p in (phrase(s) for s in _strs(raw, key)) if p)


_NOT_INHERITED = frozenset(
    {"id", "version", "aliases", "hf_ids", "license_names", "urls", "require", "abstract"}
    | {"extends", "mentions", "max_tokens", "reference", "labels", "markers", "dates"}
)
_MARK = re.compile(r"\{\{[^{}]{0,80}\}\}")
_MERGED_LISTS = ("titles", "phrases", "negative")


def _resolve(raw: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """An entry with what it ``extends`` filled in (lists of phrases are concatenated)."""
    if "extends" not in raw:
        return dict(raw)
    parent = by_id.get(str(raw["extends"]))
    if parent is None or parent is raw:
        raise ValueError(f"license {raw['id']}: extends unknown {raw['extends']!r}")
    merged = {k: v for k, v in _resolve(parent, by_id).items() if k not in _NOT_INHERITED}
    for key, value in raw.items():
        merged[key] = [*merged.get(key, ()), *value] if key in _MERGED_LISTS else value
    return merged


def _entry(raw: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> Entry:
    merged = _resolve(raw, by_id)
    kind = str(merged.get("kind", "license"))
    if kind not in _KINDS:
        raise ValueError(f"license {merged['id']}: unknown kind {kind!r}")
    titles = _phrases(merged, "titles")
    names = {phrase(str(merged["name"])), *titles, *_phrases(merged, "mentions")}
    return Entry(
        id=str(merged["id"]),
        name=str(merged["name"]),
        family=str(merged["family"]),
        kind=kind,
        version=merged.get("version"),
        osi_approved=merged.get("osi_approved"),
        fsf_libre=merged.get("fsf_libre"),
        permissive=bool(merged.get("permissive", False)),
        aliases=_strs(merged, "aliases"),
        hf_ids=_strs(merged, "hf_ids"),
        license_names=_strs(merged, "license_names"),
        urls=tuple(normalize_url(u) for u in _strs(merged, "urls")),
        titles=titles,
        phrases=_weighted(merged.get("phrases", ())),
        require=_phrases(merged, "require"),
        negative=_phrases(merged, "negative"),
        mentions=tuple(sorted(n for n in names if n)),
        version_from=merged.get("version_from"),
        policy=merged.get("policy"),
        min_score=float(merged.get("min_score", 4.0)),
        max_tokens=merged.get("max_tokens"),
        reference=tuple(phrase(_MARK.sub(" ", str(merged.get("reference", "")))).split()),
        reference_text=str(merged.get("reference", "")),
        labels=_phrases(merged, "labels"),
        markers=_phrases(merged, "markers"),
        dates=_strs(merged, "dates"),
    )


_NOT_ENTRIES = ("clauses.toml", "base_models.toml", "references.toml", "modifications.toml")


def _load_entries(spdx: Mapping[str, SpdxRecord]) -> tuple[Entry, ...]:
    raws: list[dict[str, Any]] = []
    for name, data in _tomls().items():
        if name in _NOT_ENTRIES:
            continue
        raws.extend(data.get("license", []))
    by_id = {str(r["id"]): r for r in raws}
    if len(by_id) != len(raws):
        raise ValueError("a license id is defined twice in data/licenses/")
    entries: list[Entry] = []
    for raw in raws:
        if raw.get("abstract"):
            continue
        entry = _entry(raw, by_id)
        record = spdx.get(entry.id.lower())
        if record is not None:  # SPDX flags unless the data says otherwise
            entry = replace(
                entry,
                osi_approved=record.osi_approved
                if entry.osi_approved is None
                else entry.osi_approved,
                fsf_libre=record.fsf_libre if entry.fsf_libre is None else entry.fsf_libre,
                permissive=entry.permissive or record.osi_approved or bool(record.fsf_libre),
            )
        if entry.osi_approved:
            entry = replace(entry, permissive=True)
        entries.append(entry)
    return tuple(entries)


def _load_spdx() -> tuple[dict[str, SpdxRecord], dict[str, str]]:
    data = json.loads(resources.files(DATA_PACKAGE).joinpath("spdx.json").read_text("utf-8"))
    records: dict[str, SpdxRecord] = {}
    for item in data["licenses"]:
        record = SpdxRecord(
            id=item["licenseId"],
            name=item["name"],
            osi_approved=bool(item.get("isOsiApproved", False)),
            fsf_libre=None if item.get("isFsfLibre") is None else bool(item["isFsfLibre"]),
            deprecated=bool(item.get("isDeprecatedLicenseId", False)),
        )
        records[record.id.lower()] = record
    families = _base_models_toml().get("spdx_families", {})
    return records, dict(sorted(families.items(), key=lambda kv: -len(kv[0])))


@cache
def _base_models_toml() -> dict[str, Any]:
    """``base_models.toml``, parsed once (SPDX families and base-model rules)."""
    return _toml("base_models.toml")


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _space_anchor(pattern: str) -> str:
    r"""``\bword`` → `` word``: the same at token starts in normalised text, and a literal
    first character lets the regex engine skip ahead instead of trying every position."""
    return " " + pattern[2:] if pattern.startswith("\\b") else pattern


def _load_clauses() -> tuple[ClauseSpec, ...]:
    raw = _toml("clauses.toml")
    specs: list[ClauseSpec] = []
    for tag in raw["tag"]:
        where = f"clauses.toml tag {tag['id']}"
        rules = tuple(
            ClauseRule(
                source=_space_anchor(r["match"]),
                before_sources=_strs(r, "before"),
                not_before_sources=_strs(r, "not_before"),
                window=int(r.get("window", 60)),
                where=where,
            )
            for r in tag["rule"]
        )
        specs.append(
            ClauseSpec(
                tag=tag["id"],
                label=tag["label"],
                osd_conflict=tag.get("osd") or None,
                rules=rules,
                restriction=bool(tag.get("restriction", True)),
                rule_id=tag.get("finding"),
            )
        )
    return tuple(specs)


def _load_base_rules() -> tuple[BaseRule, ...]:
    raw = _base_models_toml()
    return tuple(
        BaseRule(r["pattern"], r["license"], r.get("note", "")) for r in raw.get("base", [])
    )


def decode_hashes(blob: str) -> frozenset[int]:
    """Hashes stored as base64 of little-endian uint32s."""
    values = array("I")
    if values.itemsize != 4:  # pragma: no cover - every supported platform has 4-byte 'I'
        values = array("L")
    values.frombytes(base64.b64decode(blob))
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    return frozenset(values)


def _load_fingerprints() -> tuple[tuple[Fingerprint, ...], int, int]:
    target = resources.files(DATA_PACKAGE).joinpath("fingerprints.json")
    if not target.is_file():
        return (), 5, 4
    data = json.loads(target.read_text("utf-8"))
    refs = tuple(
        Fingerprint(r["id"], r["source"], decode_hashes(r["hashes"])) for r in data["refs"]
    )
    return refs, int(data["shingle"]), int(data["sample_mod"])


def _index(
    entries: tuple[Entry, ...], spdx: Mapping[str, SpdxRecord]
) -> tuple[dict[str, Entry], dict[str, tuple[tuple[str, Entry | SpdxRecord], ...]]]:
    """Lookup keys (ids, Hub ids, names) and prose names, by first word."""
    keys: dict[str, Entry] = {}
    for entry in entries:  # later keys never override earlier ones
        for value in (entry.id, *entry.aliases, *entry.hf_ids, *entry.license_names):
            keys.setdefault(_key(value), entry)
    for entry in entries:
        for words in (phrase(entry.name), *entry.titles, *entry.mentions):
            keys.setdefault("~" + words, entry)
    mentions: dict[str, list[tuple[str, Entry | SpdxRecord]]] = {}
    for entry in entries:
        names = {*entry.mentions, *(phrase(a) for a in entry.aliases if len(a) > 3)}
        if entry.id.lower() in spdx:
            names.add(phrase(entry.id))
        for words in sorted(names):  # a set: sorted, so the index never depends on hashing
            if words:
                mentions.setdefault(words.split(" ", 1)[0], []).append((words, entry))
    curated = {e.id.lower() for e in entries}
    for key, record in spdx.items():  # "released under the EUPL-1.2": SPDX ids are names too
        words = phrase(record.id)
        if key in curated or record.deprecated or len(words) < 3 or words.isdigit():
            continue
        mentions.setdefault(words.split(" ", 1)[0], []).append((words, record))
    return keys, {k: tuple(sorted(v, key=lambda p: -len(p[0]))) for k, v in mentions.items()}


def _load_references() -> References:
    raw = _toml("references.toml")
    return References(
        triggers=tuple(sorted(_phrases(raw, "triggers"), key=len, reverse=True)),
        line_triggers=tuple(sorted(_phrases(raw, "line_triggers"), key=len, reverse=True)),
        headings=frozenset(_phrases(raw, "headings")),
        window=int(raw.get("window", 8)),
        section_tokens=int(raw.get("section_tokens", 120)),
        policy_titles=_phrases(raw, "policy_titles"),
        prohibited_policy_titles=_phrases(raw, "prohibited_policy_titles"),
    )


def _load_modifications() -> tuple[tuple[Addon, ...], dict[str, int]]:
    raw = _toml("modifications.toml")
    addons = tuple(
        Addon(
            id=str(a["id"]),
            name=str(a["name"]),
            phrases=_phrases(a, "phrases"),
            tags=_strs(a, "tags"),
            restricts=bool(a.get("restricts", True)),
            anywhere=bool(a.get("anywhere", False)),
        )
        for a in raw.get("addon", [])
    )
    classes: dict[str, int] = {}
    for i, group in enumerate(raw.get("equivalent", [])):
        for word in group.get("words", ()):
            classes[phrase(str(word))] = i
    return addons, classes


@cache
def load_kb() -> KnowledgeBase:
    """Load the knowledge base from the packaged data (once per process)."""
    spdx, families = _load_spdx()
    entries = _load_entries(spdx)
    keys, mentions = _index(entries, spdx)
    addons, equivalents = _load_modifications()
    return KnowledgeBase(
        entries=entries,
        spdx=spdx,
        clauses=_load_clauses(),
        base_rules=_load_base_rules(),
        spdx_families=families,
        references=_load_references(),
        addons=addons,
        equivalents=equivalents,
        _keys=keys,
        _mentions=mentions,
    )


def shingles(toks: Sequence[str], k: int, mod: int) -> frozenset[int]:
    """Sampled hashes of the ``k``-token shingles of ``toks`` (mixed hash % mod == 0 kept).

    A polynomial rolling hash over the tokens' crc32 values, mixed before
    sampling, so the same words always give the same hashes on any platform.
    """
    if not toks:
        return frozenset()
    crc = {t: zlib.crc32(t.encode("utf-8")) for t in set(toks)}
    codes = [crc[t] for t in toks]
    k = min(k, len(codes))
    top = pow(_BASE, k - 1, _MASK + 1)
    h = 0
    for c in codes[:k]:
        h = (h * _BASE + c) & _MASK
    out: set[int] = set()
    for i in range(len(codes) - k + 1):
        if i:
            h = ((h - codes[i - 1] * top) * _BASE + codes[i + k - 1]) & _MASK
        x = h ^ (h >> 16)
        x = (x * 0x45D9F3B) & _MASK
        x ^= x >> 16
        if x % mod == 0:
            out.add(x)
    return frozenset(out)


_BASE = 1_000_003
_MASK = 0xFFFFFFFF
