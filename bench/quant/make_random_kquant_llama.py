#!/usr/bin/env python3
"""Writes a small random-weight Llama GGUF whose projections mix tensor types the way a Q4_K_M
file does: Q4_K attn_q, attn_k, attn_output, ffn_gate, ffn_up; Q6_K attn_v, ffn_down and the
(tied) token_embd; and in the last layer a Q5_0 ffn_up (a type the CUDA GEMV does not read, so
that projection mixes quantized and f16 matrices). For tests of the CUDA model's mixed-type
loading (tests/gpu/cuda_llama_quant_test.cc): the weights are random quant blocks with scales
chosen for weights of about +-0.05 (gguf-py cannot quantize K-quants; llama.cpp reads the
blocks as they are). Tokenizer: SmolLM2's, copied as make_random_llama.py does.

    /opt/peer-venv/bin/python bench/quant/make_random_kquant_llama.py OUT.gguf \\
        [--tokenizer-from models/SmolLM2-135M-Instruct.Q4_1.gguf] [--seed 0]

Default shapes: dim 256, 2 layers, 4 query heads and 2 KV heads of 64, FFN 512 (every width a
multiple of the K-quants' 256-element blocks): about 13 MB, a second.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import gguf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_random_llama import ROOT, copy_tokenizer  # noqa: E402

Q = gguf.GGMLQuantizationType


def random_blocks(rng, qtype, rows, cols):
    """Random blocks of qtype for a [rows, cols] tensor, scales set to finite small values."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    nb = cols // block_size
    b = rng.integers(0, 256, size=(rows, nb, type_size), dtype=np.uint8)

    def put_f16(offset, value):
        v = np.full((rows, nb), value, dtype=np.float16).view(np.uint8).reshape(rows, nb, 2)
        b[:, :, offset:offset + 2] = v

    if qtype == Q.Q4_K:  # d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles
        d = 5e-5
        put_f16(0, d)
        put_f16(2, d * 7.5)  # mean of sc * q ~ 7.5 * mean of m: weights centred near 0
    elif qtype == Q.Q6_K:  # ql[128], qh[64], int8 scales[16], d
        put_f16(208, 1e-5)
    elif qtype == Q.Q5_0:  # d, qh[4], qs[16]
        put_f16(0, 3e-3)
    else:
        raise ValueError(qtype)
    return b.reshape(rows, nb * type_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--tokenizer-from",
                    default=str(ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--n-kv-heads", type=int, default=2)
    ap.add_argument("--hidden-dim", type=int, default=512)
    a = ap.parse_args()

    src = gguf.GGUFReader(a.tokenizer_from)
    w = gguf.GGUFWriter(a.out, "llama")
    n_vocab = copy_tokenizer(src, w)
    hd = a.dim // a.n_heads
    w.add_name("random weights, Q4_K_M-like mixed types")
    w.add_block_count(a.n_layers)
    w.add_context_length(2048)
    w.add_embedding_length(a.dim)
    w.add_feed_forward_length(a.hidden_dim)
    w.add_head_count(a.n_heads)
    w.add_head_count_kv(a.n_kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(hd)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    rng = np.random.default_rng(a.seed)

    def quant(name, qtype, rows, cols):
        w.add_tensor(name, random_blocks(rng, qtype, rows, cols), raw_dtype=qtype)

    quant("token_embd.weight", Q.Q6_K, n_vocab, a.dim)
    for l in range(a.n_layers):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", np.ones(a.dim, dtype=np.float32))
        quant(p + "attn_q.weight", Q.Q4_K, a.n_heads * hd, a.dim)
        quant(p + "attn_k.weight", Q.Q4_K, a.n_kv_heads * hd, a.dim)
        quant(p + "attn_v.weight", Q.Q6_K, a.n_kv_heads * hd, a.dim)
        quant(p + "attn_output.weight", Q.Q4_K, a.dim, a.n_heads * hd)
        w.add_tensor(p + "ffn_norm.weight", np.ones(a.dim, dtype=np.float32))
        quant(p + "ffn_gate.weight", Q.Q4_K, a.hidden_dim, a.dim)
        last = l == a.n_layers - 1
        quant(p + "ffn_up.weight", Q.Q5_0 if last else Q.Q4_K, a.hidden_dim, a.dim)
        quant(p + "ffn_down.weight", Q.Q6_K, a.dim, a.hidden_dim)
    w.add_tensor("output_norm.weight", np.ones(a.dim, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{a.out}: {a.n_layers} layers of dim {a.dim}, vocabulary {n_vocab}")


if __name__ == "__main__":
    main()
