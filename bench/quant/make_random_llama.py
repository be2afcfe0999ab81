#!/usr/bin/env python3
"""Writes a random-weight F16 GGUF with the shapes of Llama 3.2 1B (dim 2048, 16 layers, 32
query heads, 8 KV heads, FFN 8192, tied embeddings), so that the engines can be timed on a
model that is not a toy. With --experts N it is a Mixtral-layout mixture of experts instead
(the llama architecture with an F32 router ffn_gate_inp and stacked ffn_*_exps tensors of N
experts of width --expert-ffn, --experts-used of them per token). Its tokenizer is SmolLM2's (vocabulary 49152, copied with its
metadata from that GGUF), so both shardserve and llama.cpp load it as an ordinary "llama" model.
Weights ~ N(0, 0.02), norms 1: what it writes is garbage text, but the timings are real.

    /opt/peer-venv/bin/python bench/quant/make_random_llama.py OUT.gguf \
        [--tokenizer-from models/SmolLM2-135M-Instruct.Q4_1.gguf] [--seed 0]

Needs numpy and the `gguf` package (both in the peer venv, bench/install-peer). About 1.07 G
parameters: a 2.1 GB file, a minute or two. bench/quant/make_models.sh then quantizes it.
"""
import argparse
from pathlib import Path

import numpy as np
import gguf

ROOT = Path(__file__).resolve().parents[2]

# Llama 3.2 1B, but for the vocabulary (the tokenizer's) and a shorter context.
SHAPE = dict(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, hidden_dim=8192,
             context_length=8192, rope_freq_base=500000.0, rms_eps=1e-5)


def copy_tokenizer(src, writer):
    """Copies every tokenizer.* key (and the chat template) with its GGUF type."""
    for key, field in src.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), vtype)
    return len(src.fields["tokenizer.ggml.tokens"].data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--tokenizer-from",
                    default=str(ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--experts", type=int, default=0, help="0: a dense FFN")
    ap.add_argument("--experts-used", type=int, default=2)
    ap.add_argument("--expert-ffn", type=int, default=1024)
    for k, v in SHAPE.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    a = ap.parse_args()

    src = gguf.GGUFReader(a.tokenizer_from)
    w = gguf.GGUFWriter(a.out, "llama")
    n_vocab = copy_tokenizer(src, w)
    head_dim = a.dim // a.n_heads
    w.add_name("random weights, Mixtral layout" if a.experts else
               "random weights, Llama 3.2 1B shapes")
    w.add_block_count(a.n_layers)
    w.add_context_length(a.context_length)
    w.add_embedding_length(a.dim)
    # Mixtral's expert width is its feed_forward_length.
    w.add_feed_forward_length(a.expert_ffn if a.experts else a.hidden_dim)
    w.add_head_count(a.n_heads)
    w.add_head_count_kv(a.n_kv_heads)
    w.add_rope_freq_base(a.rope_freq_base)
    w.add_layer_norm_rms_eps(a.rms_eps)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(n_vocab)
    if a.experts:
        w.add_expert_count(a.experts)
        w.add_expert_used_count(a.experts_used)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    # numpy shapes: [rows, columns], the reverse of GGUF's order.
    tensors = [("token_embd.weight", (n_vocab, a.dim))]
    for l in range(a.n_layers):
        p = f"blk.{l}."
        tensors += [(p + "attn_norm.weight", (a.dim,)),
                    (p + "attn_q.weight", (a.n_heads * head_dim, a.dim)),
                    (p + "attn_k.weight", (a.n_kv_heads * head_dim, a.dim)),
                    (p + "attn_v.weight", (a.n_kv_heads * head_dim, a.dim)),
                    (p + "attn_output.weight", (a.dim, a.n_heads * head_dim)),
                    (p + "ffn_norm.weight", (a.dim,))]
        if a.experts:
            e, ff = a.experts, a.expert_ffn
            tensors += [(p + "ffn_gate_inp.weight", (e, a.dim)),
                        (p + "ffn_gate_exps.weight", (e, ff, a.dim)),
                        (p + "ffn_up_exps.weight", (e, ff, a.dim)),
                        (p + "ffn_down_exps.weight", (e, a.dim, ff))]
        else:
            tensors += [(p + "ffn_gate.weight", (a.hidden_dim, a.dim)),
                        (p + "ffn_up.weight", (a.hidden_dim, a.dim)),
                        (p + "ffn_down.weight", (a.dim, a.hidden_dim))]
    tensors.append(("output_norm.weight", (a.dim,)))

    def dtype(name, shape):
        # Norms and the router stay F32 (llama-quantize keeps ffn_gate_inp as it is).
        return np.float32 if len(shape) == 1 or "gate_inp" in name else np.float16

    for name, shape in tensors:
        n = int(np.prod(shape))
        t = np.dtype(dtype(name, shape))
        w.add_tensor_info(name, shape, t, n * t.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(a.seed)
    n_params = 0
    for name, shape in tensors:
        if len(shape) == 1:
            data = np.ones(shape, dtype=np.float32)
        else:
            data = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(dtype(name, shape))
        w.write_tensor_data(data)
        n_params += data.size
    w.close()
    print(f"{a.out}: {n_params / 1e9:.2f} G parameters, vocabulary {n_vocab}")


if __name__ == "__main__":
    main()
