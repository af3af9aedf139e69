#!/usr/bin/env python3
"""Converts a sentence-transformers BERT folder (config.json, model.safetensors, tokenizer.json,
1_Pooling/config.json) to a GGUF file that llama.cpp runs as an embedding model.

Written for the test fixture (all-MiniLM-L6-v2) with PyPI `gguf` + `numpy` only: llama.cpp's own
convert_hf_to_gguf.py imports torch. It follows the conventions llama.cpp's WPM tokenizer and BERT
graph expect: architecture `bert`, non-causal attention, the pooling of 1_Pooling, tokenizer model
`bert` with "phantom space" pieces (a word-initial piece gets U+2581 in front, a `##` piece loses
its `##`), special tokens marked as control. Matrices are stored as F16, vectors as F32.

  make-embedding-gguf.py MODEL_DIR OUT.gguf
"""

import json
import struct
import sys
from pathlib import Path

import gguf
import numpy as np

SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def read_safetensors(path: Path):
    """8-byte header length, JSON header, raw little-endian tensors."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    dtypes = {"F32": "<f4", "F16": "<f2", "BF16": None}
    for name, info in header.items():
        if name == "__metadata__" or name in SKIPPED:
            continue
        if dtypes.get(info["dtype"]) is None:
            sys.exit(f"{name}: dtype {info['dtype']} is not supported by this converter")
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=dtypes[info["dtype"]])
        yield name, array.reshape(info["shape"]).astype(np.float32)


def pooling_type(model_dir: Path):
    config = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if config.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if config.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    sys.exit("only mean and CLS pooling are supported")


def vocabulary(model_dir: Path):
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    if tokenizer["model"]["type"] != "WordPiece":
        sys.exit("the tokenizer is not WordPiece")
    by_id = sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])
    special = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", []) if t["special"]}
    tokens, types = [], []
    for expected_id, (piece, token_id) in enumerate(by_id):
        if token_id != expected_id:
            sys.exit(f"the vocabulary has a gap at id {expected_id}")
        if piece in special:
            tokens.append(piece)
            types.append(gguf.TokenType.CONTROL)
        elif piece.startswith("##"):
            tokens.append(piece[2:])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append("\u2581" + piece)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types, special


def main():
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "bert":
        sys.exit(f"model_type {config.get('model_type')} is not bert")
    arch = gguf.MODEL_ARCH.BERT
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(pooling_type(model_dir))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokens, types, special = vocabulary(model_dir)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    for name, add in (
        ("[UNK]", writer.add_unk_token_id),
        ("[SEP]", writer.add_sep_token_id),
        ("[PAD]", writer.add_pad_token_id),
        ("[MASK]", writer.add_mask_token_id),
    ):
        if name in special:
            add(special[name])
    if "[CLS]" in special:
        # llama.cpp's BERT vocabulary uses BOS as [CLS].
        writer.add_bos_token_id(special["[CLS]"])
    writer.add_add_bos_token(True)
    writer.add_add_sep_token(True)

    names = gguf.get_tensor_name_map(arch, config["num_hidden_layers"])
    for name, tensor in read_safetensors(model_dir / "model.safetensors"):
        if name.startswith("bert."):
            name = name[len("bert.") :]
        new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            sys.exit(f"no GGUF name for tensor {name}")
        if tensor.ndim == 2 and not new_name.startswith("token_types"):
            tensor = tensor.astype(np.float16)
        writer.add_tensor(new_name, tensor)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
