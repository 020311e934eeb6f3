"""``config.json`` of a Hugging Face transformers model, and a parameter estimate.

:func:`parse_config` reads the fields an audit needs, validating each one's
type: a field of the wrong type is reported (``config.bad-field``) and then
treated as absent. Names differ between architectures (``hidden_size``,
``n_embd``, ``d_model``), so each field lists the keys it may come from and
:attr:`ModelConfig.keys` records which one was used.

:func:`estimate_parameters` counts, from the config alone, the parameters
that transformers creates for the common decoder architectures. It counts
tensors exactly as the modelling code builds them (embeddings, attention
projections with their grouped-query sizes, MLP projections, norms, the
language-model head unless tied), so for an unmodified checkpoint the figure
matches the number of weights in the files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem
from seewhy.formats.jsondoc import json_pointer_escape, load_json, problem_codes

__all__ = [
    "ESTIMATED_ARCHITECTURES",
    "PROBLEM_CODES",
    "ModelConfig",
    "ParamEstimate",
    "estimate_parameters",
    "parse_config",
]

_PREFIX = "config"
_MAX_SIZE = 1 << 40
"""Largest integer accepted for a size field; larger ones are reported."""

PROBLEM_CODES: dict[str, str] = {
    **problem_codes(_PREFIX),
    "config.not-object": "the top level of config.json is not a JSON object (error)",
    "config.bad-field": "a known field has the wrong type or an impossible value; ignored",
}
"""Every code this module emits -> one-line description."""


@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` says about a model; every field is optional.

    ``keys`` maps each field that was found to the JSON key it was read
    from (``"hidden_size" -> "n_embd"`` for GPT-2), so evidence can cite the
    key. ``raw`` is the whole parsed object, for fields not modelled here.
    ``problems`` holds every problem of the file, including those of a
    nested ``text_config`` (their pointers start with ``/text_config``).
    """

    model_type: str | None = None
    architectures: tuple[str, ...] = ()
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    head_dim: int | None = None
    tie_word_embeddings: bool | None = None
    torch_dtype: str | None = None
    quantization_config: Mapping[str, Any] | None = None
    quant_method: str | None = None
    rope_scaling: Mapping[str, Any] | None = None
    sliding_window: int | None = None
    auto_map: Mapping[str, Any] | None = None
    """Kept raw: it names Python code the Hub would import (``trust_remote_code``)."""
    text_config: ModelConfig | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def decoder(self) -> ModelConfig:
        """The config that describes the language model.

        For multimodal configs (gemma3, llava, ...) whose top level lacks the
        sizes, that is ``text_config``; otherwise the config itself.
        """
        if self.text_config is not None and self.hidden_size is None:
            return self.text_config
        return self


@dataclass(frozen=True)
class ParamEstimate:
    """A parameter count computed from a config.

    ``architecture`` is the model type whose formula was used;
    ``formula_notes`` says what was counted and which defaults were assumed.
    ``partial`` is true when only part of the model was counted (the text
    decoder of a multimodal model).
    """

    total: int
    architecture: str
    formula_notes: str
    partial: bool = False


# --------------------------------------------------------------------------
# parsing


_INT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hidden_size", ("hidden_size", "n_embd", "d_model")),
    ("num_hidden_layers", ("num_hidden_layers", "n_layer")),
    ("num_attention_heads", ("num_attention_heads", "n_head")),
    ("num_key_value_heads", ("num_key_value_heads",)),
    ("intermediate_size", ("intermediate_size", "n_inner")),
    ("vocab_size", ("vocab_size",)),
    ("max_position_embeddings", ("max_position_embeddings", "n_positions", "seq_length")),
    ("head_dim", ("head_dim",)),
    ("sliding_window", ("sliding_window",)),
)
_STR_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model_type", ("model_type",)),
    ("torch_dtype", ("torch_dtype", "dtype")),
)
_DICT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("quantization_config", ("quantization_config",)),
    ("rope_scaling", ("rope_scaling",)),
    ("auto_map", ("auto_map",)),
)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Reader:
    """Reads validated fields out of one JSON object, collecting problems."""

    def __init__(self, obj: Mapping[str, Any], pointer: str) -> None:
        self.obj = obj
        self.pointer = pointer
        self.problems: list[Problem] = []
        self.keys: dict[str, str] = {}

    def _bad(self, key: str, expected: str, value: Any) -> None:
        self.problems.append(
            Problem(
                f"{_PREFIX}.bad-field",
                f"config.json: {key!r} should be {expected}, not {_type_name(value)}; ignored",
                pointer=f"{self.pointer}/{json_pointer_escape(key)}",
            )
        )

    def first(self, name: str, keys: tuple[str, ...], check: Callable[[str, Any], Any]) -> Any:
        """Return the first valid value among ``keys``; invalid ones are reported."""
        for key in keys:
            if key not in self.obj or self.obj[key] is None:
                continue
            value = check(key, self.obj[key])
            if value is not None:
                self.keys[name] = key
                return value
        return None

    def size(self, key: str, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, "a positive integer", value)
            return None
        if not 0 < value <= _MAX_SIZE:
            self.problems.append(
                Problem(
                    f"{_PREFIX}.bad-field",
                    f"config.json: {key!r} is {value}, outside 1..2**40; ignored",
                    pointer=f"{self.pointer}/{json_pointer_escape(key)}",
                )
            )
            return None
        return value

    def string(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str):
            self._bad(key, "a string", value)
            return None
        return value

    def boolean(self, key: str, value: Any) -> bool | None:
        if not isinstance(value, bool):
            self._bad(key, "a boolean", value)
            return None
        return value

    def mapping(self, key: str, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self._bad(key, "an object", value)
            return None
        return value

    def strings(self, key: str, value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._bad(key, "an array of strings", value)
            return None
        return tuple(value)


def _read_config(
    obj: Mapping[str, Any], pointer: str, *, nested: bool
) -> tuple[dict[str, Any], list[Problem]]:
    reader = _Reader(obj, pointer)
    values: dict[str, Any] = {}
    for name, keys in _STR_FIELDS:
        values[name] = reader.first(name, keys, reader.string)
    values["architectures"] = reader.first("architectures", ("architectures",), reader.strings)
    for name, keys in _INT_FIELDS:
        values[name] = reader.first(name, keys, reader.size)
    values["tie_word_embeddings"] = reader.first(
        "tie_word_embeddings", ("tie_word_embeddings",), reader.boolean
    )
    for name, keys in _DICT_FIELDS:
        values[name] = reader.first(name, keys, reader.mapping)

    quant = values["quantization_config"]
    if quant is not None and quant.get("quant_method") is not None:
        method = quant["quant_method"]
        if isinstance(method, str):
            values["quant_method"] = method
        else:
            reader.problems.append(
                Problem(
                    f"{_PREFIX}.bad-field",
                    "config.json: 'quantization_config.quant_method' should be a string, "
                    f"not {_type_name(method)}; ignored",
                    pointer=f"{pointer}/quantization_config/quant_method",
                )
            )

    problems = reader.problems
    if not nested:
        text = reader.first("text_config", ("text_config",), reader.mapping)
        if text is not None:
            sub_values, sub_problems = _read_config(text, f"{pointer}/text_config", nested=True)
            values["text_config"] = ModelConfig(**sub_values, problems=tuple(sub_problems))
            problems = problems + sub_problems

    values["architectures"] = values["architectures"] or ()
    values["keys"] = reader.keys
    values["raw"] = obj
    return values, problems


def parse_config(data: bytes) -> ModelConfig:
    """Parse the bytes of a ``config.json``.

    Raises:
        FormatError: ``config.not-utf8``, ``config.bad-json``,
            ``config.too-deep`` (from :func:`~seewhy.formats.jsondoc.load_json`)
            or ``config.not-object`` when the top level is not an object.
    """
    value, json_problems = load_json(data, what="config.json", code_prefix=_PREFIX)
    if not isinstance(value, dict):
        raise FormatError(
            f"{_PREFIX}.not-object",
            f"config.json: the top level is {_type_name(value)}, not an object",
            None,
        )
    values, problems = _read_config(value, "", nested=False)
    return ModelConfig(**values, problems=json_problems + tuple(problems))


# --------------------------------------------------------------------------
# parameter estimate


@dataclass(frozen=True)
class _Shape:
    """The sizes every transformer decoder formula needs."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    tied: bool


class _Extras:
    """Typed access to architecture-specific keys of the raw config, with defaults."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.notes: list[str] = []

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key)
        if isinstance(value, bool):
            return value
        if value is not None:
            self.notes.append(f"ignored non-boolean {key}")
        return default

    def size(self, key: str, default: int | None) -> int | None:
        value = self.raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_SIZE:
            return value
        if value is not None:
            self.notes.append(f"ignored invalid {key}")
        if default is not None:
            self.notes.append(f"{key} defaulted to {default}")
        return default

    def sizes(self, key: str) -> tuple[int, ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            return tuple(value)
        self.notes.append(f"ignored invalid {key}")
        return ()


def _shape(
    cfg: ModelConfig,
    extras: _Extras,
    *,
    tie_default: bool,
    head_dim_default: int | None = None,
    defaults: Mapping[str, int] | None = None,
    intermediate_default: int | None = None,
) -> _Shape | None:
    """Collect the sizes, applying the config class's defaults; None if a size is missing."""
    defaults = defaults or {}

    def pick(name: str) -> int | None:
        value: int | None = getattr(cfg, name)
        if value is None and name in defaults:
            value = defaults[name]
            extras.notes.append(f"{name} defaulted to {value}")
        return value

    vocab = pick("vocab_size")
    hidden = pick("hidden_size")
    layers = pick("num_hidden_layers")
    heads = pick("num_attention_heads")
    if vocab is None or hidden is None or layers is None or heads is None:
        return None
    kv_heads = pick("num_key_value_heads") or heads
    head_dim = cfg.head_dim
    if head_dim is None:
        head_dim = head_dim_default if head_dim_default is not None else hidden // heads
        if head_dim_default is not None:
            extras.notes.append(f"head_dim defaulted to {head_dim_default}")
    intermediate = pick("intermediate_size")
    if intermediate is None:
        if intermediate_default is None:
            return None
        intermediate = intermediate_default
    tied = cfg.tie_word_embeddings
    if tied is None:
        tied = tie_default
        extras.notes.append(f"tie_word_embeddings defaulted to {str(tie_default).lower()}")
    return _Shape(vocab, hidden, layers, heads, kv_heads, head_dim, intermediate, tied)


def _attention(
    s: _Shape, *, q_bias: bool, kv_bias: bool, o_bias: bool, qk_norm: bool = False
) -> int:
    """Separate q/k/v/o projections with grouped-query sizes (llama family)."""
    q_out = s.heads * s.head_dim
    kv_out = s.kv_heads * s.head_dim
    total = s.hidden * q_out + 2 * s.hidden * kv_out + q_out * s.hidden
    total += q_out if q_bias else 0
    total += 2 * kv_out if kv_bias else 0
    total += s.hidden if o_bias else 0
    total += 2 * s.head_dim if qk_norm else 0
    return total


def _gated_mlp(hidden: int, intermediate: int, *, bias: bool = False) -> int:
    """gate, up and down projections."""
    return 3 * hidden * intermediate + ((2 * intermediate + hidden) if bias else 0)


def _finish(
    s: _Shape, per_layer_total: int, arch: str, notes: list[str], *, final_norm: int
) -> ParamEstimate:
    embed = s.vocab * s.hidden
    head = 0 if s.tied else s.vocab * s.hidden
    total = embed + per_layer_total + final_norm + head
    notes = [*notes, "lm_head tied to embeddings" if s.tied else "untied lm_head"]
    return ParamEstimate(total, arch, "; ".join(notes))


def _llama_family(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    gemma = arch in ("gemma", "gemma2", "gemma3_text")
    defaults: dict[str, int] = {}
    if arch == "gemma3_text":
        # Gemma3TextConfig defaults; multimodal gemma3 configs rely on them.
        defaults = {
            "vocab_size": 262_208,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
        }
    s = _shape(
        cfg,
        extras,
        tie_default=gemma,
        head_dim_default=256 if gemma else None,
        defaults=defaults,
    )
    if s is None:
        return None
    notes = [f"{arch}: embeddings + {s.layers} x (q/k/v/o, gated MLP, RMSNorms) + final norm"]
    if arch == "qwen2":
        attn_bias = {"q_bias": True, "kv_bias": True, "o_bias": False}
        notes.append("q/k/v biases")
    elif arch == "mistral":
        attn_bias = {"q_bias": False, "kv_bias": False, "o_bias": False}
    else:
        flag = extras.flag("attention_bias", False)
        attn_bias = {"q_bias": flag, "kv_bias": flag, "o_bias": flag}
        if flag:
            notes.append("q/k/v/o biases")
    mlp_bias = arch == "llama" and extras.flag("mlp_bias", False)
    if mlp_bias:
        notes.append("MLP biases")
    qk_norm = arch in ("gemma3_text", "qwen3")
    if qk_norm:
        notes.append("q/k norms")
    norms = 4 if arch in ("gemma2", "gemma3_text") else 2
    per_layer = (
        _attention(s, **attn_bias, qk_norm=qk_norm)
        + _gated_mlp(s.hidden, s.intermediate, bias=mlp_bias)
        + norms * s.hidden
    )
    notes.append(f"{norms} RMSNorms per layer")
    return _finish(s, s.layers * per_layer, arch, notes + extras.notes, final_norm=s.hidden)


def _phi3(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    s = _shape(cfg, extras, tie_default=False)
    if s is None:
        return None
    qkv = s.hidden * (s.heads + 2 * s.kv_heads) * s.head_dim
    o = s.heads * s.head_dim * s.hidden
    mlp = s.hidden * 2 * s.intermediate + s.intermediate * s.hidden
    per_layer = qkv + o + mlp + 2 * s.hidden
    notes = ["phi3: fused qkv_proj and gate_up_proj, no biases, 2 RMSNorms per layer"]
    return _finish(s, s.layers * per_layer, arch, notes + extras.notes, final_norm=s.hidden)


def _gpt2(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    hidden = cfg.hidden_size
    s = _shape(cfg, extras, tie_default=True, intermediate_default=4 * hidden if hidden else None)
    if s is None:
        return None
    positions = cfg.max_position_embeddings
    if positions is None:
        positions = 1024
        extras.notes.append("n_positions defaulted to 1024")
    h, i = s.hidden, s.intermediate
    per_layer = (
        2 * (2 * h)  # ln_1, ln_2 (weight + bias)
        + (h * 3 * h + 3 * h)  # attn.c_attn
        + (h * h + h)  # attn.c_proj
        + (h * i + i)  # mlp.c_fc
        + (i * h + h)  # mlp.c_proj
    )
    notes = [
        f"gpt2: token + {positions} learned position embeddings, {s.layers} x "
        "(fused qkv, proj, MLP, all with biases; 2 LayerNorms) + ln_f"
    ]
    est = _finish(s, s.layers * per_layer, arch, notes + extras.notes, final_norm=2 * h)
    return ParamEstimate(est.total + positions * h, arch, est.formula_notes)


def _gpt_neox(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    s = _shape(cfg, extras, tie_default=False)
    if s is None:
        return None
    bias = extras.flag("attention_bias", True)
    h, i = s.hidden, s.intermediate
    per_layer = (
        2 * (2 * h)  # input_layernorm, post_attention_layernorm
        + h * 3 * h
        + (3 * h if bias else 0)  # attention.query_key_value
        + h * h
        + (h if bias else 0)  # attention.dense
        + (h * i + i)  # mlp.dense_h_to_4h
        + (i * h + h)  # mlp.dense_4h_to_h
    )
    notes = [
        f"gpt_neox: embed_in + {s.layers} x (fused qkv, dense, MLP with biases; "
        "2 LayerNorms) + final_layer_norm; rotary has no parameters"
    ]
    if not bias:
        notes.append("no attention biases")
    return _finish(s, s.layers * per_layer, arch, notes + extras.notes, final_norm=2 * h)


def _falcon(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    hidden = cfg.hidden_size
    ffn = extras.size("ffn_hidden_size", None)
    if ffn is None and hidden is not None:
        ffn = 4 * hidden
    s = _shape(cfg, extras, tie_default=True, intermediate_default=ffn)
    if s is None:
        return None
    h = s.hidden
    head_dim = h // s.heads
    new_arch = extras.flag("new_decoder_architecture", False)
    multi_query = extras.flag("multi_query", True)
    parallel = extras.flag("parallel_attn", True)
    bias = extras.flag("bias", False)
    kv_heads = extras.size("num_kv_heads", None) or s.heads
    if new_arch:
        qkv_out = (2 * kv_heads + s.heads) * head_dim
        kind = f"new decoder architecture ({kv_heads} kv heads)"
    elif multi_query:
        qkv_out = h + 2 * head_dim
        kind = "multi-query"
    else:
        qkv_out = 3 * h
        kind = "multi-head"
    ffn_size = s.intermediate
    per_layer = (
        h * qkv_out
        + h * h
        + h * ffn_size
        + ffn_size * h
        + ((qkv_out + h + ffn_size + h) if bias else 0)
    )
    ln_parallel = extras.size("num_ln_in_parallel_attn", None)
    if new_arch and ln_parallel is None:
        ln_parallel = 2
    # sequential: input + post-attention norms; parallel: ln_attn + ln_mlp, or one shared
    layer_norms = 2 if (not parallel or ln_parallel == 2) else 1
    per_layer += layer_norms * 2 * h
    notes = [
        f"falcon: {kind} fused qkv, {'parallel' if parallel else 'sequential'} attention/MLP, "
        f"{layer_norms} LayerNorm(s) per layer, linear biases {'on' if bias else 'off'}",
    ]
    if extras.flag("alibi", False):
        notes.append("alibi (no position parameters)")
    return _finish(s, s.layers * per_layer, arch, notes + extras.notes, final_norm=2 * h)


def _mixtral(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    s = _shape(cfg, extras, tie_default=False)
    if s is None:
        return None
    experts = extras.size("num_local_experts", 8) or 8
    per_layer = (
        _attention(s, q_bias=False, kv_bias=False, o_bias=False)
        + s.hidden * experts  # router
        + experts * _gated_mlp(s.hidden, s.intermediate)
        + 2 * s.hidden
    )
    notes = [f"mixtral: llama attention + {experts} experts and a router per layer"]
    return _finish(s, s.layers * per_layer, arch, notes + extras.notes, final_norm=s.hidden)


def _qwen2_moe(cfg: ModelConfig, arch: str) -> ParamEstimate | None:
    extras = _Extras(cfg.raw)
    s = _shape(cfg, extras, tie_default=False)
    if s is None:
        return None
    experts = extras.size("num_experts", 60) or 60
    moe_size = extras.size("moe_intermediate_size", 1408) or 1408
    shared_size = extras.size("shared_expert_intermediate_size", 5632) or 5632
    step = extras.size("decoder_sparse_step", 1) or 1
    mlp_only = set(extras.sizes("mlp_only_layers"))
    attention = _attention(s, q_bias=True, kv_bias=True, o_bias=False)
    sparse = (
        s.hidden * experts  # router
        + experts * _gated_mlp(s.hidden, moe_size)
        + _gated_mlp(s.hidden, shared_size)
        + s.hidden  # shared_expert_gate
    )
    dense = _gated_mlp(s.hidden, s.intermediate)
    total = 0
    for layer in range(s.layers):
        is_sparse = layer not in mlp_only and (layer + 1) % step == 0
        total += attention + (sparse if is_sparse else dense) + 2 * s.hidden
    notes = [
        f"qwen2_moe: qwen2 attention (q/k/v biases) + {experts} experts, a shared expert "
        "and its gate per sparse layer"
    ]
    return _finish(s, total, arch, notes + extras.notes, final_norm=s.hidden)


_ESTIMATORS: dict[str, Callable[[ModelConfig, str], ParamEstimate | None]] = {
    "llama": _llama_family,
    "mistral": _llama_family,
    "qwen2": _llama_family,
    "qwen3": _llama_family,
    "gemma": _llama_family,
    "gemma2": _llama_family,
    "gemma3_text": _llama_family,
    "phi3": _phi3,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "falcon": _falcon,
    "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe,
}

ESTIMATED_ARCHITECTURES: frozenset[str] = frozenset(_ESTIMATORS) | {"gemma3"}
"""``model_type`` values :func:`estimate_parameters` knows."""

# Top-level model types whose text_config holds the decoder, with the type
# to assume when text_config itself does not say.
_MULTIMODAL_TEXT: dict[str, str] = {"gemma3": "gemma3_text"}


def estimate_parameters(cfg: ModelConfig) -> ParamEstimate | None:
    """Estimate the parameter count of the model ``cfg`` describes.

    Returns ``None`` for a ``model_type`` without a formula, or when a size
    the formula needs is missing and has no default in transformers. For a
    multimodal config whose decoder is in ``text_config`` (gemma3), the text
    decoder is counted and the estimate is marked ``partial``.
    """
    model_type = cfg.model_type
    if model_type is None:
        return None
    if model_type in _ESTIMATORS:
        return _ESTIMATORS[model_type](cfg, model_type)
    text = cfg.text_config
    expected = _MULTIMODAL_TEXT.get(model_type)
    if text is None or expected is None or text.model_type not in (None, expected):
        return None
    est = _ESTIMATORS[expected](text, expected)
    if est is None:
        return None
    notes = f"{est.formula_notes}; text decoder only (text_config of {model_type}): "
    notes += "vision tower and projector not counted"
    return ParamEstimate(est.total, est.architecture, notes, partial=True)
