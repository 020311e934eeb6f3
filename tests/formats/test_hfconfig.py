"""Tests for seewhy.formats.hfconfig: config.json and the parameter estimate.

Exact expected counts come from published models whose configs are written
out below; each was checked by hand against the config values (see the
comment on each), and the two small ones also against the tensors of the
real GGUF files when those are installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats.hfconfig import (
    ESTIMATED_ARCHITECTURES,
    PROBLEM_CODES,
    ModelConfig,
    estimate_parameters,
    parse_config,
)


def config(obj: dict[str, Any]) -> ModelConfig:
    return parse_config(json.dumps(obj, indent=2).encode())


# --- real-shape configs (values as published in each model's config.json) ------

SMOLLM2_135M = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "hidden_act": "silu",
    "hidden_size": 576,
    "initializer_range": 0.041666666666666664,
    "intermediate_size": 1536,
    "is_llama_config": True,
    "max_position_embeddings": 8192,
    "model_type": "llama",
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 100000,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.40.1",
    "use_cache": True,
    "vocab_size": 49152,
}

GEMMA3_270M = {
    "architectures": ["Gemma3ForCausalLM"],
    "attention_bias": False,
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 640,
    "intermediate_size": 2048,
    "max_position_embeddings": 32768,
    "model_type": "gemma3_text",
    "num_attention_heads": 4,
    "num_hidden_layers": 18,
    "num_key_value_heads": 1,
    "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06,
    "rope_local_base_freq": 10000.0,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": 512,
    "torch_dtype": "bfloat16",
    "vocab_size": 262144,
}

GPT2 = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "resid_pdrop": 0.1,
    "summary_activation": None,
    "summary_type": "cls_index",
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}

TINYLLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 5632,
    "max_position_embeddings": 2048,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 22,
    "num_key_value_heads": 4,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.31.0.dev0",
    "use_cache": True,
    "vocab_size": 32000,
}

QWEN2_05B = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 896,
    "initializer_range": 0.02,
    "intermediate_size": 4864,
    "max_position_embeddings": 131072,
    "max_window_layers": 24,
    "model_type": "qwen2",
    "num_attention_heads": 14,
    "num_hidden_layers": 24,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 131072,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.40.1",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

PYTHIA_160M = {
    "architectures": ["GPTNeoXForCausalLM"],
    "bos_token_id": 0,
    "eos_token_id": 0,
    "hidden_act": "gelu",
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 2048,
    "model_type": "gpt_neox",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "rotary_emb_base": 10000,
    "rotary_pct": 0.25,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "transformers_version": "4.24.0",
    "use_cache": True,
    "use_parallel_residual": True,
    "vocab_size": 50304,
}

PHI3_MINI = {
    "architectures": ["Phi3ForCausalLM"],
    "attention_bias": False,
    "auto_map": {
        "AutoConfig": "configuration_phi3.Phi3Config",
        "AutoModelForCausalLM": "modeling_phi3.Phi3ForCausalLM",
    },
    "bos_token_id": 1,
    "eos_token_id": 32000,
    "hidden_act": "silu",
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "max_position_embeddings": 4096,
    "model_type": "phi3",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "original_max_position_embeddings": 4096,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "sliding_window": 2047,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 32064,
}

FALCON_7B = {
    "alibi": False,
    "apply_residual_connection_post_layernorm": False,
    "architectures": ["FalconForCausalLM"],
    "attention_dropout": 0.0,
    "auto_map": {
        "AutoConfig": "configuration_falcon.FalconConfig",
        "AutoModel": "modeling_falcon.FalconModel",
        "AutoModelForCausalLM": "modeling_falcon.FalconForCausalLM",
    },
    "bias": False,
    "bos_token_id": 11,
    "eos_token_id": 11,
    "hidden_dropout": 0.0,
    "hidden_size": 4544,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "falcon",
    "multi_query": True,
    "new_decoder_architecture": False,
    "num_attention_heads": 71,
    "num_hidden_layers": 32,
    "parallel_attn": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 65024,
}

MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "model_type": "mixtral",
    "num_attention_heads": 32,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 32000,
}

QWEN15_MOE_A27B = {
    "architectures": ["Qwen2MoeForCausalLM"],
    "decoder_sparse_step": 1,
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "max_position_embeddings": 8192,
    "model_type": "qwen2_moe",
    "moe_intermediate_size": 1408,
    "num_attention_heads": 16,
    "num_experts": 60,
    "num_experts_per_tok": 4,
    "num_hidden_layers": 24,
    "num_key_value_heads": 16,
    "shared_expert_intermediate_size": 5632,
    "tie_word_embeddings": False,
    "vocab_size": 151936,
}

QWEN3_06B = {
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": False,
    "head_dim": 128,
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "max_position_embeddings": 40960,
    "model_type": "qwen3",
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "num_key_value_heads": 8,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 151936,
}


# --- exact counts ------------------------------------------------------------
#
# SmolLM2-135M: embed 49152*576 = 28,311,552; per layer q 576*576 + k,v 2*576*192
#   + o 576*576 = 884,736, MLP 3*576*1536 = 2,654,208, norms 1,152 -> 3,540,096;
#   x30 = 106,202,880; + final norm 576 + embed (tied) = 134,515,008.
# Gemma 3 270M: embed 262144*640 = 167,772,160; per layer q 640*1024 + k,v
#   2*640*256 + o 1024*640 = 1,638,400, MLP 3*640*2048 = 3,932,160, 4 norms 2,560
#   + q/k norms 512 -> 5,573,632; x18 = 100,325,376; + 640 -> 268,098,176.
# GPT-2 small: wte 38,597,376 + wpe 786,432 + 12 * 7,087,872 + ln_f 1,536
#   = 124,439,808.
# TinyLlama-1.1B: 2 * 65,536,000 (untied) + 22 * 44,044,288 + 2,048
#   = 1,100,048,384.
# Qwen2-0.5B: 136,134,656 (tied) + 24 * 14,912,384 (incl. q/k/v biases 1,152)
#   + 896 = 494,032,768.
# Pythia-160m: 2 * 38,633,472 (untied embed_in/embed_out) + 12 * 7,087,872
#   + 1,536 = 162,322,944.


@pytest.mark.parametrize(
    ("cfg", "expected", "arch"),
    [
        (SMOLLM2_135M, 134_515_008, "llama"),
        (GEMMA3_270M, 268_098_176, "gemma3_text"),
        (GPT2, 124_439_808, "gpt2"),
        (TINYLLAMA, 1_100_048_384, "llama"),
        (QWEN2_05B, 494_032_768, "qwen2"),
        (PYTHIA_160M, 162_322_944, "gpt_neox"),
    ],
)
def test_exact_parameter_counts(cfg: dict[str, Any], expected: int, arch: str) -> None:
    est = estimate_parameters(config(cfg))
    assert est is not None
    assert est.total == expected
    assert est.architecture == arch
    assert not est.partial
    assert est.formula_notes


# Published rounded totals (model cards: Phi-3-mini "3.8B", Mixtral "46.7B",
# Qwen1.5-MoE-A2.7B "14.3B", Qwen3-0.6B "0.6B" with "0.44B" non-embedding).
@pytest.mark.parametrize(
    ("cfg", "billions", "digits"),
    [
        (PHI3_MINI, 3.8, 1),
        (MIXTRAL_8X7B, 46.7, 1),
        (QWEN15_MOE_A27B, 14.3, 1),
        (QWEN3_06B, 0.6, 1),
    ],
)
def test_published_rounded_counts(cfg: dict[str, Any], billions: float, digits: int) -> None:
    est = estimate_parameters(config(cfg))
    assert est is not None
    assert round(est.total / 1e9, digits) == billions


def test_qwen3_non_embedding_count() -> None:
    est = estimate_parameters(config(QWEN3_06B))
    assert est is not None
    assert round((est.total - 151936 * 1024) / 1e9, 2) == 0.44


def test_falcon_7b_hand_count() -> None:
    # Not a published figure: the tensors of FalconForCausalLM written out.
    h, v, layers, head_dim = 4544, 65024, 32, 4544 // 71
    per_layer = (
        h * (h + 2 * head_dim)  # multi-query query_key_value, no bias
        + h * h  # dense
        + 2 * h * 4 * h  # dense_h_to_4h, dense_4h_to_h
        + 2 * h  # one input_layernorm (parallel attention)
    )
    expected = v * h + layers * per_layer + 2 * h  # tied lm_head
    est = estimate_parameters(config(FALCON_7B))
    assert est is not None
    assert est.total == expected == 6_921_720_704
    assert "multi-query" in est.formula_notes


def test_falcon_variants_change_the_count_as_the_modelling_code_does() -> None:
    base = estimate_parameters(config(FALCON_7B))
    mha = estimate_parameters(config({**FALCON_7B, "multi_query": False}))
    biased = estimate_parameters(config({**FALCON_7B, "bias": True}))
    sequential = estimate_parameters(config({**FALCON_7B, "parallel_attn": False}))
    new_arch = estimate_parameters(
        config({**FALCON_7B, "new_decoder_architecture": True, "num_kv_heads": 71})
    )
    assert base and mha and biased and sequential and new_arch
    h, head_dim, layers = 4544, 64, 32
    assert mha.total - base.total == layers * h * (2 * h - 2 * head_dim)
    qkv_out = h + 2 * head_dim
    assert biased.total - base.total == layers * (qkv_out + h + 4 * h + h)
    assert sequential.total - base.total == layers * 2 * h
    # new architecture with kv heads == heads is plain multi-head, plus ln_mlp
    assert new_arch.total - mha.total == layers * 2 * h
    alibi = estimate_parameters(config({**FALCON_7B, "alibi": True}))
    assert alibi is not None
    assert alibi.total == base.total
    assert "alibi" in alibi.formula_notes


def test_tying_removes_exactly_one_embedding_matrix() -> None:
    tied = estimate_parameters(config({**TINYLLAMA, "tie_word_embeddings": True}))
    untied = estimate_parameters(config(TINYLLAMA))
    assert tied and untied
    assert untied.total - tied.total == 32000 * 2048


def test_llama_attention_and_mlp_bias() -> None:
    plain = estimate_parameters(config(SMOLLM2_135M))
    biased = estimate_parameters(config({**SMOLLM2_135M, "attention_bias": True, "mlp_bias": True}))
    assert plain and biased
    per_layer = (576 + 2 * 192 + 576) + (2 * 1536 + 576)
    assert biased.total - plain.total == 30 * per_layer


def test_mistral_head_dim_differs_from_hidden_over_heads() -> None:
    # Mistral-Nemo shape: head_dim 128 while 5120 / 32 = 160.
    nemo = {
        "model_type": "mistral",
        "hidden_size": 5120,
        "head_dim": 128,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "num_hidden_layers": 40,
        "intermediate_size": 14336,
        "vocab_size": 131072,
        "tie_word_embeddings": False,
    }
    est = estimate_parameters(config(nemo))
    assert est is not None
    attention = 5120 * 4096 + 2 * 5120 * 1024 + 4096 * 5120
    per_layer = attention + 3 * 5120 * 14336 + 2 * 5120
    assert est.total == 2 * 131072 * 5120 + 40 * per_layer + 5120


def test_gemma_families_differ_only_in_norms() -> None:
    shape = {k: v for k, v in GEMMA3_270M.items() if k != "model_type"}
    g1 = estimate_parameters(config({**shape, "model_type": "gemma"}))
    g2 = estimate_parameters(config({**shape, "model_type": "gemma2"}))
    g3 = estimate_parameters(config({**shape, "model_type": "gemma3_text"}))
    assert g1 and g2 and g3
    assert g2.total - g1.total == 18 * 2 * 640
    assert g3.total - g2.total == 18 * 2 * 256


def test_gemma_defaults_head_dim_and_tying() -> None:
    shape = {k: v for k, v in GEMMA3_270M.items() if k != "head_dim"}
    est = estimate_parameters(config(shape))
    assert est is not None
    assert est.total == 268_098_176
    assert "head_dim defaulted to 256" in est.formula_notes


def test_gemma3_multimodal_uses_text_config() -> None:
    text = {k: v for k, v in GEMMA3_270M.items() if k != "architectures"}
    cfg = config(
        {
            "architectures": ["Gemma3ForConditionalGeneration"],
            "model_type": "gemma3",
            "text_config": text,
            "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152},
            "mm_tokens_per_image": 256,
        }
    )
    assert cfg.hidden_size is None
    assert cfg.text_config is not None
    assert cfg.decoder is cfg.text_config
    assert cfg.decoder.hidden_size == 640
    est = estimate_parameters(cfg)
    assert est is not None
    assert est.total == 268_098_176
    assert est.partial
    assert "vision tower" in est.formula_notes


def test_gemma3_minimal_text_config_uses_transformers_defaults() -> None:
    # gemma-3-4b-it ships a text_config with only the non-default sizes.
    cfg = config(
        {
            "model_type": "gemma3",
            "text_config": {
                "hidden_size": 2560,
                "intermediate_size": 10240,
                "model_type": "gemma3_text",
                "num_hidden_layers": 34,
                "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                "sliding_window": 1024,
            },
        }
    )
    est = estimate_parameters(cfg)
    assert est is not None
    assert est.partial
    h, hd, q, kv = 2560, 256, 8, 4
    per_layer = h * q * hd + 2 * h * kv * hd + q * hd * h + 3 * h * 10240 + 4 * h + 2 * hd
    assert est.total == 262_208 * h + 34 * per_layer + h
    assert "vocab_size defaulted to 262208" in est.formula_notes


def test_qwen2_moe_dense_layers() -> None:
    sparse = estimate_parameters(config(QWEN15_MOE_A27B))
    dense_some = estimate_parameters(config({**QWEN15_MOE_A27B, "mlp_only_layers": [0, 1]}))
    step2 = estimate_parameters(config({**QWEN15_MOE_A27B, "decoder_sparse_step": 2}))
    assert sparse and dense_some and step2
    h = 2048
    moe = h * 60 + 60 * 3 * h * 1408 + 3 * h * 5632 + h
    dense = 3 * h * 5632
    assert sparse.total - dense_some.total == 2 * (moe - dense)
    assert sparse.total - step2.total == 12 * (moe - dense)


@pytest.mark.models
def test_small_counts_match_real_gguf_tensors(smollm2_gguf: Path, gemma_gguf: Path) -> None:
    gguf = pytest.importorskip("gguf")
    for path, cfg in ((smollm2_gguf, SMOLLM2_135M), (gemma_gguf, GEMMA3_270M)):
        reader = gguf.GGUFReader(path)
        tensors = sum(math.prod(int(d) for d in t.shape) for t in reader.tensors)
        est = estimate_parameters(config(cfg))
        assert est is not None
        assert est.total == tensors, path.name


# --- parsing -----------------------------------------------------------------


def test_llama_fields() -> None:
    cfg = config(SMOLLM2_135M)
    assert cfg.model_type == "llama"
    assert cfg.architectures == ("LlamaForCausalLM",)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (576, 30, 9)
    assert (cfg.num_key_value_heads, cfg.intermediate_size, cfg.vocab_size) == (3, 1536, 49152)
    assert cfg.max_position_embeddings == 8192
    assert cfg.tie_word_embeddings is True
    assert cfg.torch_dtype == "bfloat16"
    assert cfg.rope_scaling is None
    assert cfg.head_dim is None
    assert cfg.auto_map is None
    assert cfg.text_config is None
    assert cfg.decoder is cfg
    assert cfg.problems == ()
    assert cfg.raw["rope_theta"] == 100000
    assert cfg.keys["hidden_size"] == "hidden_size"


def test_gpt2_aliases_record_their_keys() -> None:
    cfg = config(GPT2)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (768, 12, 12)
    assert cfg.max_position_embeddings == 1024
    assert cfg.intermediate_size is None  # n_inner absent -> 4 * n_embd in the estimate
    assert cfg.keys["hidden_size"] == "n_embd"
    assert cfg.keys["max_position_embeddings"] == "n_positions"


def test_phi3_auto_map_is_kept_raw() -> None:
    cfg = config(PHI3_MINI)
    assert cfg.auto_map == PHI3_MINI["auto_map"]
    assert cfg.sliding_window == 2047


def test_qwen2_and_falcon_fields() -> None:
    q = config(QWEN2_05B)
    assert q.sliding_window == 131072
    assert q.num_key_value_heads == 2
    f = config(FALCON_7B)
    assert f.num_key_value_heads is None
    assert f.raw["multi_query"] is True


def test_quantization_config_and_dtype_alias() -> None:
    cfg = config(
        {
            "model_type": "llama",
            "dtype": "float16",
            "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128},
        }
    )
    assert cfg.torch_dtype == "float16"
    assert cfg.keys["torch_dtype"] == "dtype"
    assert cfg.quant_method == "gptq"
    assert cfg.quantization_config is not None
    assert cfg.quantization_config["bits"] == 4


def test_quantization_config_without_method() -> None:
    cfg = config({"quantization_config": {"load_in_4bit": True}})
    assert cfg.quant_method is None
    assert cfg.problems == ()


def test_mistral_null_head_dim_is_absent_without_problem() -> None:
    cfg = config({"model_type": "mistral", "head_dim": None, "sliding_window": None})
    assert cfg.head_dim is None
    assert cfg.sliding_window is None
    assert cfg.problems == ()


# --- hostile configs -----------------------------------------------------------


@pytest.mark.parametrize("text", [b"[]", b'"llama"', b"42", b"null", b"true"])
def test_non_object_is_refused(text: bytes) -> None:
    with pytest.raises(FormatError) as info:
        parse_config(text)
    assert info.value.code == "config.not-object"


@pytest.mark.parametrize(
    ("obj", "pointer"),
    [
        ({"hidden_size": "4096"}, "/hidden_size"),
        ({"hidden_size": 4096.0}, "/hidden_size"),
        ({"hidden_size": True}, "/hidden_size"),
        ({"hidden_size": -1}, "/hidden_size"),
        ({"hidden_size": 0}, "/hidden_size"),
        ({"hidden_size": 2**60}, "/hidden_size"),
        ({"vocab_size": [1]}, "/vocab_size"),
        ({"model_type": 3}, "/model_type"),
        ({"architectures": "LlamaForCausalLM"}, "/architectures"),
        ({"architectures": ["A", 1]}, "/architectures"),
        ({"tie_word_embeddings": "true"}, "/tie_word_embeddings"),
        ({"torch_dtype": ["bfloat16"]}, "/torch_dtype"),
        ({"quantization_config": "gptq"}, "/quantization_config"),
        ({"quantization_config": {"quant_method": 4}}, "/quantization_config/quant_method"),
        ({"rope_scaling": "linear"}, "/rope_scaling"),
        ({"auto_map": ["modeling.py"]}, "/auto_map"),
        ({"text_config": "gemma3_text"}, "/text_config"),
        ({"text_config": {"hidden_size": "x"}}, "/text_config/hidden_size"),
        ({"sliding_window": False}, "/sliding_window"),
        ({"a/b": 1, "head_dim": {}}, "/head_dim"),
    ],
)
def test_wrong_types_are_problems_and_absent(obj: dict[str, Any], pointer: str) -> None:
    cfg = config(obj)
    assert [p.code for p in cfg.problems] == ["config.bad-field"]
    assert cfg.problems[0].pointer == pointer
    key = pointer.split("/")[1]
    if key in ("quantization_config",) and pointer.count("/") > 1:
        assert cfg.quant_method is None
    elif key == "text_config" and pointer.count("/") > 1:
        assert cfg.text_config is not None
        assert cfg.text_config.hidden_size is None
        assert cfg.text_config.problems == cfg.problems
    else:
        assert key not in cfg.keys


def test_bad_alias_falls_back_to_the_next_key() -> None:
    cfg = config({"hidden_size": "big", "n_embd": 768})
    assert cfg.hidden_size == 768
    assert cfg.keys["hidden_size"] == "n_embd"
    assert [p.pointer for p in cfg.problems] == ["/hidden_size"]


def test_wrong_types_make_the_estimate_impossible_not_wrong() -> None:
    cfg = config({**SMOLLM2_135M, "hidden_size": "576"})
    assert estimate_parameters(cfg) is None


def test_nan_is_a_problem() -> None:
    text = json.dumps(SMOLLM2_135M).replace('"rms_norm_eps": 1e-05', '"rms_norm_eps": NaN')
    cfg = parse_config(text.encode())
    assert [p.code for p in cfg.problems] == ["config.non-finite-number"]
    assert cfg.problems[0].pointer == "/rms_norm_eps"
    assert cfg.raw["rms_norm_eps"] is None


def test_infinity_in_a_size_field() -> None:
    cfg = parse_config(b'{"hidden_size": Infinity}')
    assert cfg.hidden_size is None
    assert [p.code for p in cfg.problems] == ["config.non-finite-number"]


def test_duplicate_keys_keep_the_last_and_are_reported() -> None:
    cfg = parse_config(b'{"model_type": "llama", "auto_map": {}, "model_type": "evil"}')
    assert cfg.model_type == "evil"
    assert [(p.code, p.pointer) for p in cfg.problems] == [("config.duplicate-key", "/model_type")]


def test_deep_nesting_is_too_deep() -> None:
    with pytest.raises(FormatError) as info:
        parse_config(b'{"a": ' + b"[" * 1_000_000)
    assert info.value.code == "config.too-deep"


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "config.bad-json"), (b"{", "config.bad-json"), (b"\xff{}", "config.not-utf8")],
)
def test_broken_files(data: bytes, code: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_config(data)
    assert info.value.code == code


def test_nested_text_config_is_parsed_once() -> None:
    cfg = config({"text_config": {"text_config": {"hidden_size": 1}, "hidden_size": 2}})
    assert cfg.text_config is not None
    assert cfg.text_config.hidden_size == 2
    assert cfg.text_config.text_config is None


# --- estimate edge cases --------------------------------------------------------


def test_unknown_or_missing_model_type() -> None:
    assert estimate_parameters(config({**SMOLLM2_135M, "model_type": "t5"})) is None
    assert estimate_parameters(config({"hidden_size": 1})) is None
    assert estimate_parameters(ModelConfig()) is None


def test_unknown_wrapper_with_text_config_is_not_estimated() -> None:
    cfg = config({"model_type": "llava", "text_config": SMOLLM2_135M})
    assert estimate_parameters(cfg) is None


def test_missing_size_gives_none() -> None:
    for key in ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size"):
        shape = {k: v for k, v in SMOLLM2_135M.items() if k != key}
        assert estimate_parameters(config(shape)) is None, key


def test_missing_kv_heads_means_multi_head() -> None:
    shape = {k: v for k, v in TINYLLAMA.items() if k != "num_key_value_heads"}
    est = estimate_parameters(config(shape))
    full = estimate_parameters(config({**TINYLLAMA, "num_key_value_heads": 32}))
    assert est and full
    assert est.total == full.total


def test_invalid_extra_keys_fall_back_to_defaults_with_a_note() -> None:
    est = estimate_parameters(config({**SMOLLM2_135M, "attention_bias": "yes"}))
    plain = estimate_parameters(config(SMOLLM2_135M))
    assert est and plain
    assert est.total == plain.total
    assert "ignored non-boolean attention_bias" in est.formula_notes


def test_every_listed_architecture_estimates() -> None:
    for arch in ESTIMATED_ARCHITECTURES - {"gemma3"}:
        est = estimate_parameters(config({**TINYLLAMA, "model_type": arch}))
        assert est is not None, arch
        assert est.total > 0
        assert est.architecture == arch


def test_problem_codes() -> None:
    assert {
        "config.not-utf8",
        "config.bad-json",
        "config.too-deep",
        "config.too-many-values",
        "config.string-too-long",
        "config.duplicate-key",
        "config.non-finite-number",
        "config.too-many-problems",
        "config.not-object",
        "config.bad-field",
    } == set(PROBLEM_CODES)


# --- property-based -----------------------------------------------------------

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
_known_keys = st.sampled_from(
    [
        "model_type",
        "architectures",
        "hidden_size",
        "n_embd",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "vocab_size",
        "head_dim",
        "tie_word_embeddings",
        "quantization_config",
        "text_config",
        "auto_map",
        "sliding_window",
        "multi_query",
        "new_decoder_architecture",
        "num_kv_heads",
        "num_experts",
        "mlp_only_layers",
        "attention_bias",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([SMOLLM2_135M, GPT2, FALCON_7B, QWEN15_MOE_A27B, PHI3_MINI]),
    overrides=st.dictionaries(_known_keys, _values, max_size=4),
    model_type=st.sampled_from([*sorted(ESTIMATED_ARCHITECTURES), "other"]),
)
def test_random_configs_never_crash(
    base: dict[str, Any], overrides: dict[str, Any], model_type: str
) -> None:
    cfg = config({**base, "model_type": model_type, **overrides})
    est = estimate_parameters(cfg)
    assert est is None or est.total > 0
    assert all(p.code in PROBLEM_CODES for p in cfg.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_format_error(data: bytes) -> None:
    try:
        parse_config(data)
    except FormatError as exc:
        assert exc.code in PROBLEM_CODES
