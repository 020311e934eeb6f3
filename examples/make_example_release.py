"""Write the bundled example release: a tiny llama-architecture model.

The folder is what a publisher would upload to the Hub: safetensors weights
(made with the real ``safetensors`` library), ``config.json``,
``tokenizer_config.json`` with a chat template, a model card and the
Apache-2.0 license. The weights are random; the point is the structure.

    python examples/make_example_release.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 256,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
    "bos_token_id": 1,
    "eos_token_id": 2,
}

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

CARD = """---
license: apache-2.0
language:
- en
library_name: transformers
pipeline_tag: text-generation
tags:
- example
model-index:
- name: seewhy-tiny-llama-0.1M
  results:
  - task:
      type: text-generation
    dataset:
      name: ARC-Easy
      type: allenai/ai2_arc
    metrics:
    - type: accuracy
      value: 25.0
      name: accuracy
---

# seewhy-tiny-llama-0.1M

A 0.1M-parameter llama-architecture model with random weights, made by
`examples/make_example_release.py` so that seewhy has a release to audit
whose every byte is known. It is not useful for anything else.

Released under the Apache License 2.0 (see LICENSE).
"""


def llama_tensors(cfg: dict[str, object], seed: int = 0) -> dict[str, np.ndarray]:
    """The tensors ``LlamaForCausalLM`` has for this config, random float32."""
    rng = np.random.default_rng(seed)
    h = int(str(cfg["hidden_size"]))
    inter = int(str(cfg["intermediate_size"]))
    heads = int(str(cfg["num_attention_heads"]))
    kv = int(str(cfg["num_key_value_heads"]))
    vocab = int(str(cfg["vocab_size"]))
    head_dim = h // heads

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    tensors = {"model.embed_tokens.weight": w(vocab, h)}
    for i in range(int(str(cfg["num_hidden_layers"]))):
        p = f"model.layers.{i}."
        tensors |= {
            p + "self_attn.q_proj.weight": w(heads * head_dim, h),
            p + "self_attn.k_proj.weight": w(kv * head_dim, h),
            p + "self_attn.v_proj.weight": w(kv * head_dim, h),
            p + "self_attn.o_proj.weight": w(h, heads * head_dim),
            p + "mlp.gate_proj.weight": w(inter, h),
            p + "mlp.up_proj.weight": w(inter, h),
            p + "mlp.down_proj.weight": w(h, inter),
            p + "input_layernorm.weight": np.ones(h, np.float32),
            p + "post_attention_layernorm.weight": np.ones(h, np.float32),
        }
    tensors["model.norm.weight"] = np.ones(h, np.float32)
    tensors["lm_head.weight"] = w(vocab, h)
    return tensors


def write_example_release(out: Path) -> Path:
    """Write the example release into ``out`` (created) and return it."""
    out.mkdir(parents=True, exist_ok=True)
    save_file(llama_tensors(CONFIG), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": 1, "eos_token_id": 2, "max_new_tokens": 64}, indent=2) + "\n"
    )
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "model_max_length": 512,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    (out / "README.md").write_text(CARD)
    shutil.copyfile(HERE / "data" / "LICENSE-Apache-2.0.txt", out / "LICENSE")
    return out


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the release into")
    args = parser.parse_args()
    print(write_example_release(args.out))


if __name__ == "__main__":
    main()
