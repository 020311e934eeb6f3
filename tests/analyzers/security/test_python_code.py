"""The Python analyzer: realistic remote code stays quiet, payloads are caught, nothing runs."""

# ruff: noqa: E501 - the realistic samples keep the long lines real files have

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.python_code import (
    MAX_SOURCE_BYTES,
    PythonCodeAnalyzer,
    analyze_source,
)
from seewhy.audit import audit
from seewhy.report.model import CoverageStatus, Report, Severity

# ------------------------------------------------------------------ realistic remote code

CONFIGURATION = '''\
# coding=utf-8
# Copyright 2024 The Acme AI team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
""" Acme model configuration"""

from transformers.configuration_utils import PretrainedConfig
from transformers.utils import logging


logger = logging.get_logger(__name__)

ACME_PRETRAINED_CONFIG_ARCHIVE_MAP = {
    "acme/acme-7b": "https://huggingface.co/acme/acme-7b/resolve/main/config.json",
}


class AcmeConfig(PretrainedConfig):
    r"""
    This is the configuration class to store the configuration of a [`AcmeModel`].
    Rotary embeddings follow https://arxiv.org/abs/2104.09864.

    Args:
        vocab_size (`int`, *optional*, defaults to 32000):
            Vocabulary size of the Acme model.
    """

    model_type = "acme"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=None,
        hidden_act="silu",
        max_position_embeddings=4096,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        use_cache=True,
        pad_token_id=None,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        rope_theta=10000.0,
        rope_scaling=None,
        attention_dropout=0.0,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        if num_key_value_heads is None:
            num_key_value_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self._rope_scaling_validation()
        self.attention_dropout = attention_dropout

        super().__init__(
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )

    def _rope_scaling_validation(self):
        """
        Validate the `rope_scaling` configuration.
        """
        if self.rope_scaling is None:
            return

        if not isinstance(self.rope_scaling, dict) or len(self.rope_scaling) != 2:
            raise ValueError(
                "`rope_scaling` must be a dictionary with two fields, `type` and `factor`, "
                f"got {self.rope_scaling}"
            )
        rope_scaling_type = self.rope_scaling.get("type", None)
        rope_scaling_factor = self.rope_scaling.get("factor", None)
        if rope_scaling_type is None or rope_scaling_type not in ["linear", "dynamic"]:
            raise ValueError(
                f"`rope_scaling`'s type field must be one of ['linear', 'dynamic'], got {rope_scaling_type}"
            )
        if rope_scaling_factor is None or not isinstance(rope_scaling_factor, float) or rope_scaling_factor <= 1.0:
            raise ValueError(f"`rope_scaling`'s factor field must be a float > 1, got {rope_scaling_factor}")


AcmeConfig.register_for_auto_class()
'''

MODELING = '''\
# coding=utf-8
# Copyright 2024 The Acme AI team and the HuggingFace Inc. team. All rights reserved.
""" PyTorch Acme model."""
import inspect
import math
import warnings
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_attn_mask_utils import _prepare_4d_causal_attention_mask
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import PreTrainedModel
from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS
from transformers.utils import (
    add_start_docstrings,
    add_start_docstrings_to_model_forward,
    is_flash_attn_2_available,
    is_flash_attn_greater_or_equal_2_10,
    logging,
    replace_return_docstrings,
)
from .configuration_acme import AcmeConfig


if is_flash_attn_2_available():
    from flash_attn import flash_attn_func, flash_attn_varlen_func
    from flash_attn.bert_padding import index_first_axis, pad_input, unpad_input  # noqa

    _flash_supports_window_size = "window_size" in list(inspect.signature(flash_attn_func).parameters)

try:
    from flash_attn.layers.rotary import apply_rotary_emb_func
except ImportError:
    apply_rotary_emb_func = None
    warnings.warn("flash_attn rotary kernels are not installed; using the PyTorch path")

# This makes `_prepare_4d_causal_attention_mask` a leaf function in the FX graph.
torch.fx.wrap("_prepare_4d_causal_attention_mask")

logger = logging.get_logger(__name__)

_CONFIG_FOR_DOC = "AcmeConfig"


def _get_unpad_data(attention_mask):
    seqlens_in_batch = attention_mask.sum(dim=-1, dtype=torch.int32)
    indices = torch.nonzero(attention_mask.flatten(), as_tuple=False).flatten()
    max_seqlen_in_batch = seqlens_in_batch.max().item()
    cu_seqlens = F.pad(torch.cumsum(seqlens_in_batch, dim=0, dtype=torch.int32), (1, 0))
    return indices, cu_seqlens, max_seqlen_in_batch


class AcmeRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


ALL_LAYERNORM_LAYERS.append(AcmeRMSNorm)


class AcmeRotaryEmbedding(nn.Module):
    def __init__(self, dim, max_position_embeddings=2048, base=10000, device=None):
        super().__init__()
        self.dim = dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2).float().to(device) / self.dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @torch.no_grad()
    def forward(self, x, position_ids):
        inv_freq_expanded = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        position_ids_expanded = position_ids[:, None, :].float()
        freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype=x.dtype), emb.sin().to(dtype=x.dtype)


def rotate_half(x):
    """Rotates half the hidden dims of the input."""
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class AcmeAttention(nn.Module):
    """Multi-headed attention from 'Attention Is All You Need' paper"""

    def __init__(self, config: AcmeConfig, layer_idx: Optional[int] = None):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        if layer_idx is None:
            logger.warning_once(
                f"Instantiating {self.__class__.__name__} without passing a `layer_idx` is not recommended."
            )
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.hidden_size // self.num_heads
        self.q_proj = nn.Linear(self.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, self.hidden_size, bias=False)

    def forward(self, hidden_states, attention_mask=None, position_ids=None, **kwargs):
        if "padding_mask" in kwargs:
            warnings.warn(
                "Passing `padding_mask` is deprecated and will be removed in v4.37. "
                "Please make sure use `attention_mask` instead.`"
            )
        bsz, q_len, _ = hidden_states.size()
        query_states = self.q_proj(hidden_states)
        attn_weights = torch.matmul(query_states, query_states.transpose(2, 3)) / math.sqrt(self.head_dim)
        attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32)
        return self.o_proj(attn_weights)


ACME_START_DOCSTRING = r"""
    This model inherits from [`PreTrainedModel`]. This model is also a PyTorch
    [torch.nn.Module](https://pytorch.org/docs/stable/nn.html#torch.nn.Module) subclass.
"""


@add_start_docstrings(
    "The bare Acme Model outputting raw hidden-states without any specific head on top.",
    ACME_START_DOCSTRING,
)
class AcmePreTrainedModel(PreTrainedModel):
    config_class = AcmeConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["AcmeDecoderLayer"]
    _skip_keys_device_placement = "past_key_values"
    _supports_flash_attn_2 = True

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()


class AcmeForCausalLM(AcmePreTrainedModel):
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @replace_return_docstrings(output_type=CausalLMOutputWithPast, config_class=_CONFIG_FOR_DOC)
    def forward(self, input_ids=None, labels=None, **kwargs):
        logits = self.lm_head(input_ids).float()
        loss = None
        if labels is not None:
            loss_fct = CrossEntropyLoss()
            loss = loss_fct(logits.view(-1, self.config.vocab_size), labels.view(-1))
        return CausalLMOutputWithPast(loss=loss, logits=logits)
'''

TOKENIZATION = '''\
# Copyright (c) 2024 Acme AI. All rights reserved.
import os
from shutil import copyfile
from typing import Any, Dict, List, Optional, Tuple

import sentencepiece as spm

from transformers.tokenization_utils import AddedToken, PreTrainedTokenizer
from transformers.utils import logging


logger = logging.get_logger(__name__)

VOCAB_FILES_NAMES = {"vocab_file": "tokenizer.model"}

PRETRAINED_VOCAB_FILES_MAP = {
    "vocab_file": {},
    "tokenizer_file": {},
}
PRETRAINED_POSITIONAL_EMBEDDINGS_SIZES = {}


class AcmeTokenizer(PreTrainedTokenizer):
    """
    Construct an Acme tokenizer. Based on byte-level Byte-Pair-Encoding.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    pretrained_vocab_files_map = PRETRAINED_VOCAB_FILES_MAP
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token=None,
        sp_model_kwargs: Optional[Dict[str, Any]] = None,
        add_bos_token=True,
        add_eos_token=False,
        **kwargs,
    ):
        self.sp_model_kwargs = {} if sp_model_kwargs is None else sp_model_kwargs
        bos_token = AddedToken(bos_token, lstrip=False, rstrip=False) if isinstance(bos_token, str) else bos_token
        self.vocab_file = vocab_file
        self.add_bos_token = add_bos_token
        self.add_eos_token = add_eos_token
        self.sp_model = spm.SentencePieceProcessor(**self.sp_model_kwargs)
        self.sp_model.Load(vocab_file)
        super().__init__(bos_token=bos_token, unk_token=unk_token, pad_token=pad_token, **kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["sp_model"] = None
        return state

    def __setstate__(self, d):
        self.__dict__ = d
        self.sp_model = spm.SentencePieceProcessor(**self.sp_model_kwargs)
        self.sp_model.Load(self.vocab_file)

    @property
    def vocab_size(self):
        """Returns vocab size"""
        return self.sp_model.get_piece_size()

    def get_vocab(self):
        vocab = {self.convert_ids_to_tokens(i): i for i in range(self.vocab_size)}
        vocab.update(self.added_tokens_encoder)
        return vocab

    def _tokenize(self, text):
        return self.sp_model.encode(text, out_type=str)

    def save_vocabulary(self, save_directory, filename_prefix: Optional[str] = None) -> Tuple[str]:
        if not os.path.isdir(save_directory):
            logger.error(f"Vocabulary path ({save_directory}) should be a directory")
            return
        out_vocab_file = os.path.join(
            save_directory, (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES["vocab_file"]
        )

        if os.path.abspath(self.vocab_file) != os.path.abspath(out_vocab_file) and os.path.isfile(self.vocab_file):
            copyfile(self.vocab_file, out_vocab_file)
        elif not os.path.isfile(self.vocab_file):
            with open(out_vocab_file, "wb") as fi:
                content_spiece_model = self.sp_model.serialized_model_proto()
                fi.write(content_spiece_model)

        return (out_vocab_file,)
'''

TIKTOKEN_TOKENIZATION = '''\
"""Tokenization classes for Acme-Chat (tiktoken based)."""

import base64
import logging
import os
import unicodedata
from typing import Collection, Dict, List, Set, Tuple, Union

import tiktoken
from transformers import PreTrainedTokenizer, AddedToken

logger = logging.getLogger(__name__)


VOCAB_FILES_NAMES = {"vocab_file": "acme.tiktoken"}

PAT_STR = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"""
ENDOFTEXT = "<|endoftext|>"
IMSTART = "<|im_start|>"
IMEND = "<|im_end|>"
EXTRAS = tuple((f"<|extra_{i}|>" for i in range(205)))
SPECIAL_TOKENS = tuple(enumerate(((ENDOFTEXT, IMSTART, IMEND,) + EXTRAS), start=151643))
SPECIAL_TOKENS_SET = set(t for i, t in SPECIAL_TOKENS)


def _load_tiktoken_bpe(tiktoken_bpe_file: str) -> Dict[bytes, int]:
    with open(tiktoken_bpe_file, "rb") as f:
        contents = f.read()
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in contents.splitlines() if line)
    }


class AcmeTokenizer(PreTrainedTokenizer):
    """Acme tokenizer."""

    vocab_files_names = VOCAB_FILES_NAMES

    def __init__(self, vocab_file, errors="replace", extra_vocab_file=None, **kwargs):
        super().__init__(**kwargs)
        self.errors = errors
        self.mergeable_ranks = _load_tiktoken_bpe(vocab_file)
        self.special_tokens = {token: index for index, token in SPECIAL_TOKENS}
        enc = tiktoken.Encoding(
            "Acme",
            pat_str=PAT_STR,
            mergeable_ranks=self.mergeable_ranks,
            special_tokens=self.special_tokens,
        )
        self.tokenizer = enc

    def save_vocabulary(self, save_directory: str, **kwargs) -> Tuple[str]:
        file_path = os.path.join(save_directory, "acme.tiktoken")
        with open(file_path, "w", encoding="utf8") as w:
            for k, v in self.mergeable_ranks.items():
                line = base64.b64encode(k).decode("utf8") + " " + str(v) + "\\n"
                w.write(line)
        return (file_path,)
'''

BENIGN = {
    "configuration_acme.py": CONFIGURATION,
    "modeling_acme.py": MODELING,
    "tokenization_acme.py": TOKENIZATION,
    "tokenization_acme_tiktoken.py": TIKTOKEN_TOKENIZATION,
}


def rules_of(source: str) -> set[str]:
    return {f.rule_id for f in analyze_source(source.encode(), "x.py").findings}


def my_step(report: Report, path: str) -> CoverageStatus:
    """The status this analyzer gave a file (the inventory's own step is separate)."""
    cov = next(c for c in report.coverage if c.path == path)
    (step,) = [s for s in cov.steps if s.analyzer == "security.python"]
    return step.status


def severities(report: Report) -> list[Severity]:
    return [f.severity for f in report.findings]


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_realistic_remote_code_is_at_most_info(name: str) -> None:
    result = analyze_source(BENIGN[name].encode(), name)
    assert result.parsed
    from seewhy.report.rules import registry

    reg = registry()
    above_info = [
        (f.rule_id, f.message)
        for f in result.findings
        if reg.get(f.rule_id).severity is not Severity.INFO
    ]
    assert not above_info, above_info


def test_benign_release_audit(tmp_path: Path) -> None:
    release = tmp_path / "acme-7b"
    release.mkdir()
    for name, text in BENIGN.items():
        (release / name).write_text(text)
    report = audit(release, analyzers=[InventoryAnalyzer(), PythonCodeAnalyzer()])
    assert all(s is Severity.INFO for s in severities(report) if s), [
        (f.rule_id, f.message) for f in report.findings if f.severity is not Severity.INFO
    ]
    for cov in report.coverage:
        steps = [s for s in cov.steps if s.analyzer == "security.python"]
        assert len(steps) == 1 and steps[0].status is CoverageStatus.PARSED, cov
    # ordinary things are still listed at info, with evidence
    info = {f.rule_id for f in report.findings}
    assert {"SW-PY-040", "SW-PY-050", "SW-PY-017"} <= info
    write = next(f for f in report.findings if f.rule_id == "SW-PY-017")
    ev = write.evidence[0]
    assert ev.path == "tokenization_acme.py" and ev.line is not None
    assert ev.excerpt is not None and "open(" in ev.excerpt


# ------------------------------------------------------------------ malicious code


def canary_payloads(marker: Path) -> dict[str, str]:
    """Files that would create ``marker`` if imported; every one must be caught."""
    m = str(marker)
    blob = base64.b64encode(f"open({m!r}, 'w').write('x')".encode()).decode()
    noise = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(8))
    code = f"open({m!r}, 'w').write('x')  # {noise}"
    packed = base64.b64encode(zlib.compress(code.encode())).decode()
    return {
        "modeling_exec.py": f"import torch\nexec(\"open({m!r}, 'w').write('x')\")\n",
        "modeling_system.py": f"import os\nos.system('touch {m}')\n",
        "modeling_hidden.py": (
            f"import subprocess as sp\ndef _setup():\n    sp.run(['touch', {m!r}])\n_setup()\n"
        ),
        "modeling_b64.py": f"import base64\nexec(base64.b64decode({blob!r}))\n",
        "modeling_zlib.py": (
            f"import zlib, base64\nPAYLOAD = {packed!r}\n"
            "code = zlib.decompress(base64.b64decode(PAYLOAD))\n"
            "eval(compile(code, '<x>', 'exec'))\n"
        ),
        "modeling_getattr.py": (f"import os\ngetattr(os, 'sys' + 'tem')('touch {m}')\n"),
        "modeling_import.py": f"__import__('os').system('touch {m}')\n",
        "modeling_class.py": (
            "import os\n"
            "class Loader:\n"
            "    def __init__(self):\n"
            f"        os.popen('touch {m}')\n"
            "_loader = Loader()\n"
        ),
        "modeling_write.py": f"with open({m!r}, 'w') as fh:\n    fh.write('x')\n",
        "modeling_net.py": (
            "import socket\ns = socket.socket()\ns.connect(('203.0.113.7', 4444))\n"
        ),
    }


def test_payloads_are_caught_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    release = tmp_path / "evil"
    release.mkdir()
    payloads = canary_payloads(marker)
    for name, text in payloads.items():
        (release / name).write_text(text)
    (release / "config.json").write_text(
        json.dumps({"model_type": "acme", "auto_map": {"AutoModel": "modeling_exec.AcmeModel"}})
    )
    report = audit(release, analyzers=[InventoryAnalyzer(), PythonCodeAnalyzer()])
    assert not marker.exists()
    by_path: dict[str, set[str]] = {}
    for f in report.findings:
        for ev in f.evidence:
            if ev.path:
                by_path.setdefault(ev.path, set()).add(f.rule_id)
    for name in payloads:
        worst = max(
            (f.severity.rank for f in report.findings if any(e.path == name for e in f.evidence)),
            default=-1,
        )
        assert worst >= Severity.HIGH.rank, (name, by_path.get(name))
    # import-time execution is critical
    for name in (
        "modeling_exec.py",
        "modeling_system.py",
        "modeling_hidden.py",
        "modeling_b64.py",
        "modeling_zlib.py",
        "modeling_getattr.py",
        "modeling_import.py",
        "modeling_class.py",
        "modeling_net.py",
    ):
        assert "SW-PY-030" in by_path[name], (name, by_path[name])
    assert "SW-PY-032" in by_path["modeling_write.py"]
    assert "SW-PY-021" in by_path["modeling_zlib.py"]
    assert "SW-PY-020" in by_path["modeling_zlib.py"]


def test_evidence_points_at_the_line() -> None:
    src = "import os\n\n\ndef f():\n    os.system(\n        'id'\n    )\n"
    result = analyze_source(src.encode(), "m.py")
    finding = next(f for f in result.findings if f.rule_id == "SW-PY-011")
    ev = finding.evidence[0]
    assert (ev.path, ev.line, ev.end_line) == ("m.py", 5, 7)
    assert ev.excerpt == "os.system("
    # inside a function that nothing calls at import time: not import time
    assert "SW-PY-030" not in {f.rule_id for f in result.findings}


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("import subprocess\n", "SW-PY-041"),
        ("from os import system\n", "SW-PY-041"),
        ("import ctypes\ndef f():\n    ctypes.CDLL('x.so')\n", "SW-PY-013"),
        ("import pickle\ndef f(p):\n    return pickle.load(open(p, 'rb'))\n", "SW-PY-014"),
        ("import torch\ndef f(p):\n    return torch.load(p)\n", "SW-PY-014"),
        ("import requests\ndef f(u):\n    return requests.get(u)\n", "SW-PY-012"),
        ("import importlib\ndef f(n):\n    return importlib.import_module(n)\n", "SW-PY-015"),
        ("import builtins\ndef f(n):\n    return getattr(builtins, n)\n", "SW-PY-015"),
        ("import shutil\ndef f(p):\n    shutil.rmtree(p)\n", "SW-PY-016"),
        ("def f(x):\n    return eval(x)\n", "SW-PY-010"),
        ("import sys\nsys.path.insert(0, '/tmp')\n", "SW-PY-031"),
        ("import os\nos.environ['X'] = '1'\n", "SW-PY-031"),
        ("URL = 'http://198.51.100.4/payload'\n", "SW-PY-051"),
        ("DOC = 'see https://huggingface.co/acme'\n", "SW-PY-050"),
        ("s = os_system = None\nimport os as o\nx = o.popen\ndef f():\n    x('id')\n", "SW-PY-011"),
        ("import marshal\ndef f():\n    return marshal.loads(b'\\xe3abc')\n", "SW-PY-021"),
    ],
)
def test_rules(source: str, rule: str) -> None:
    assert rule in rules_of(source)


def test_safe_forms_are_quiet() -> None:
    quiet = (
        "import torch\n"
        "def f(p):\n"
        "    model.eval()\n"
        "    return torch.load(p, weights_only=True)\n"
        "import re\nPAT = re.compile('x')\n"
        "import importlib\n"
        "FLASH = importlib.util.find_spec('flash_attn') is not None\n"
        "if __name__ == '__main__':\n"
        "    import os\n"
        "    os.system('echo demo')\n"
    )
    rules = rules_of(quiet)
    assert rules <= {"SW-PY-040", "SW-PY-011"}, rules
    # the __main__ block runs only as a script: never an import-time finding
    assert "SW-PY-030" not in rules


def test_local_shadowing_does_not_hide_exec() -> None:
    src = "class A:\n    def exec(self):\n        pass\nexec('print(1)')\n"
    assert "SW-PY-030" in rules_of(src)


def test_decorator_and_init_subclass_run_at_import_time() -> None:
    src = "import os\ndef deco(f):\n    os.system('id')\n    return f\n@deco\ndef g():\n    pass\n"
    assert "SW-PY-030" in rules_of(src)
    src2 = (
        "import os\n"
        "class Base:\n"
        "    def __init_subclass__(cls):\n"
        "        os.system('id')\n"
        "class Child(Base):\n"
        "    pass\n"
    )
    assert "SW-PY-030" in rules_of(src2)


# ------------------------------------------------------------------ hostile files


def test_python2_file_is_unparseable_and_inconclusive(tmp_path: Path) -> None:
    release = tmp_path / "old"
    release.mkdir()
    (release / "modeling_old.py").write_text(
        "import os\nprint 'hello'\ntry:\n    pass\nexcept Exception, e:\n    pass\n"
    )
    report = audit(release, analyzers=[InventoryAnalyzer(), PythonCodeAnalyzer()])
    finding = next(f for f in report.findings if f.rule_id == "SW-PY-001")
    assert "Python 2" in finding.message
    assert finding.evidence[0].line == 2
    assert my_step(report, "modeling_old.py") is CoverageStatus.INCONCLUSIVE


@pytest.mark.parametrize(
    "data",
    [
        b"x = 1\x00\n",
        b"x = '\xff\xfe'\n",
        b"\xff\xfe\x00\x00garbage",
        b"# -*- coding: no-such-codec -*-\nx = 1\n",
        b"x = " + b"(" * 500 + b"1" + b")" * 500 + b"\n",
        b"x = " + b"1+" * 200_000 + b"1\n",
        b"def f(:\n",
        b"",
        b"\xef\xbb\xbfimport os\n",
    ],
)
def test_hostile_sources_never_raise(data: bytes) -> None:
    result = analyze_source(data, "h.py")
    if not result.parsed:
        assert [f.rule_id for f in result.findings] == ["SW-PY-001"]


def test_latin1_cookie_is_honoured() -> None:
    data = b"# -*- coding: latin-1 -*-\nimport os\nos.system('caf\xe9')\n"
    result = analyze_source(data, "l.py")
    assert result.parsed
    ev = next(f for f in result.findings if f.rule_id == "SW-PY-011").evidence[0]
    assert ev.excerpt == "os.system('café')"


def test_huge_and_binary_python_files(tmp_path: Path) -> None:
    release = tmp_path / "big"
    release.mkdir()
    with (release / "modeling_big.py").open("wb") as fh:
        fh.write(b"x = 1\n" * (MAX_SOURCE_BYTES // 6 + 10))
    (release / "modeling_bin.py").write_bytes(b"\x00\x01\x02import os\x00" * 100)
    report = audit(
        release, analyzers=[InventoryAnalyzer(), PythonCodeAnalyzer()], raise_errors=True
    )
    rules = {f.rule_id for f in report.findings}
    assert {"SW-PY-001", "SW-PY-002"} <= rules
    for path in ("modeling_big.py", "modeling_bin.py"):
        assert my_step(report, path) is CoverageStatus.INCONCLUSIVE


def test_many_findings_are_capped() -> None:
    src = "import os\n" + "".join(f"os.system('a{i}')\n" for i in range(5000))
    result = analyze_source(src.encode(), "many.py")
    for f in result.findings:
        assert len(f.evidence) <= 20
    msg = next(f.message for f in result.findings if f.rule_id == "SW-PY-011")
    assert "5000 places" in msg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_crashes(text: str) -> None:
    analyze_source(text.encode("utf-8", "surrogatepass"), "r.py")


_PY_PIECES = st.sampled_from(
    [
        "import os\n",
        "from subprocess import run as r\n",
        "exec(",
        "eval(",
        ")",
        "(",
        "\n",
        "def f(x=os.system('a')):\n",
        "    ",
        "class C(Base, metaclass=M):\n",
        "@deco\n",
        "getattr(os, n)",
        "'__class__'",
        "x = ",
        "lambda: ",
        "[",
        "]",
        ":",
        ",",
        "yield ",
        "async def g():\n",
        "await ",
        "if __name__ == '__main__':\n",
        "base64.b64decode('QUJD')",
        "f'{x!r}'",
        "'http://198.51.100.1/x'",
        "try:\n",
        "except:\n",
        "with open('x', 'w') as f:",
        "match x:\n",
        "    case 1:\n",
        "global x\n",
        "*a, b = c\n",
        "del x\n",
        "pass\n",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PY_PIECES, max_size=40))
def test_random_python_never_crashes(pieces: list[str]) -> None:
    result = analyze_source("".join(pieces).encode(), "r.py")
    assert result.detail
