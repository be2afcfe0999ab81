#!/usr/bin/env python3
"""Makes tiny random-weight GGUF models that exercise every architecture path and tensor type
of the Llama-family engine, and records llama.cpp's output on them as the golden reference.

Writes tests/golden/synthetic/*.gguf and tests/golden/synthetic_golden.json, read by
model/llama/synthetic_models_test.cc. Run once (needs llama-cpp-python, numpy and gguf; CI
does not):
    /opt/peer-venv/bin/python tests/golden/make_synthetic_models.py
A model added later is made alone, its entry merged into the golden file and the other models
and their entries left as they are (every model has its own seed, from its place in MODELS):
    /opt/peer-venv/bin/python tests/golden/make_synthetic_models.py --only llama_q2k_q3k

Weights are random with a fixed seed: matrices ~N(0, 0.02) (K-quants are random bit patterns
whose super-block scale is chosen for that spread), norms near 1, biases ~N(0, 0.1). Legacy
quants go through gguf.quants; K-quants have no quantizer there, so their blocks are random
bytes (every scale, min and high bit pattern occurs), which llama.cpp reads like any other.
Models marked `pending` (a family the engine does not run yet; none at present) have their entries in tests/golden/synthetic_pending_golden.json instead,
which no test reads. When the engine runs one, drop its `pending`, rerun with --only NAME (the
file and the entry come out the same: same seed, same llama.cpp) to move its entry into the
golden file, delete it from the pending file, and list it in synthetic_models_test.cc.
The golden file holds, per model, the full logits at a few positions of a fixed 40-token
sequence evaluated one token at a time and as one batch, and the greedy continuation (one token per step) of it and
of a second sequence, with the top-2 gap of each step.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "tests" / "golden" / "synthetic"
GOLDEN = ROOT / "tests" / "golden" / "synthetic_golden.json"
PENDING_GOLDEN = ROOT / "tests" / "golden" / "synthetic_pending_golden.json"
LOGIT_POSITIONS = [0, 7, 20, 39]
N_GREEDY = 32
CONTEXT = 256

# --- a small byte-level BPE vocabulary (GPT-2 byte-to-unicode mapping) ---


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


MERGES = [("Ġ", "t"), ("h", "e"), ("i", "n"), ("Ġt", "he"), ("e", "r"), ("a", "n"), ("o", "n"),
          ("Ġ", "a"), ("r", "e"), ("a", "t"), ("e", "n"), ("o", "r"), ("Ġ", "s"), ("Ġ", "w"),
          ("Ġ", "c"), ("i", "s"), ("e", "s"), ("Ġ", "o"), ("in", "g"), ("Ġ", "the"), ("e", "d"),
          ("Ġ", "b"), ("an", "d"), ("Ġa", "nd")]
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def make_vocab():
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    types = [1] * 256
    merges = []
    for a, b in MERGES:
        if a + b not in tokens:
            tokens.append(a + b)
            types.append(1)
        merges.append(f"{a} {b}")
    for c in CONTROL:
        tokens.append(c)
        types.append(3)
    return tokens, types, merges


TOKENS, TOKEN_TYPES, TOKEN_MERGES = make_vocab()
N_VOCAB = len(TOKENS)
IM_START = TOKENS.index("<|im_start|>")
IM_END = TOKENS.index("<|im_end|>")
EOT = TOKENS.index("<|endoftext|>")

# --- weights ---

LEGACY = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}
K_QUANTS = {T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K}


def random_k_blocks(rng, qtype, n_rows, n_cols, std):
    """Random K-quant rows whose dequantized values have about `std` spread."""
    n_blocks = n_rows * n_cols // 256
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    blocks = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    if qtype in (T.Q3_K, T.Q6_K):
        # Q3_K: hmask, qs, 6-bit scales, d; Q6_K: ql, qh, int8 scales (-128 included), d
        d_off = [size - 2]
        ratio = None
    elif qtype == T.Q2_K:
        d_off = [size - 4, size - 2]  # 4-bit scales and mins, qs, d, dmin
        ratio = 1.5  # centre the mean: dmin * E[m] = d * E[sc] * E[q] (E[m] = E[sc])
    else:
        d_off = [0, 2]  # d, dmin; centre the mean: dmin * E[m] ~ d * E[sc] * E[q]
        ratio = 7.5 if qtype == T.Q4_K else 15.5
    ones = np.float16(1.0).tobytes()
    for o in d_off:
        blocks[:, o:o + 2] = np.frombuffer(ones, dtype=np.uint8)
    if ratio is not None:
        blocks[:, d_off[1]:d_off[1] + 2] = np.frombuffer(np.float16(ratio).tobytes(),
                                                         dtype=np.uint8)
    unit = dequantize(blocks.reshape(n_rows, -1), qtype)
    d = np.float32(std / unit.std())
    jitter = rng.uniform(0.7, 1.3, size=n_blocks).astype(np.float32)
    dd = (d * jitter).astype(np.float16)
    blocks[:, d_off[0]:d_off[0] + 2] = dd.view(np.uint8).reshape(n_blocks, 2)
    if ratio is not None:
        dm = (d * jitter * ratio * rng.uniform(0.8, 1.2, size=n_blocks)).astype(np.float16)
        blocks[:, d_off[1]:d_off[1] + 2] = dm.view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(n_rows, -1)


def add_matrix(w, rng, name, qtype, n_rows, n_cols, std=0.02):
    """Adds an [n_rows x n_cols] weight (GGUF shape [n_cols, n_rows]) of type qtype."""
    if qtype in K_QUANTS:
        w.add_tensor(name, random_k_blocks(rng, qtype, n_rows, n_cols, std), raw_dtype=qtype)
        return
    x = rng.normal(0.0, std, size=(n_rows, n_cols)).astype(np.float32)
    if qtype == T.F32:
        w.add_tensor(name, x)
    elif qtype == T.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


def add_fused_matrix(w, rng, name, qtype, parts, n_cols):
    """One matrix made of row blocks [(n_rows, std), ...] stacked in order (fused tensors)."""
    x = np.concatenate([rng.normal(0.0, std, size=(n, n_cols)).astype(np.float32)
                        for n, std in parts])
    if qtype == T.F32:
        w.add_tensor(name, x)
    else:
        w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


def add_experts(w, rng, name, qtype, n_experts, n_rows, n_cols, std):
    """A [n_experts][n_rows x n_cols] stack of matrices: GGUF shape [n_cols, n_rows, n_experts]."""
    x = rng.normal(0.0, std, size=(n_experts, n_rows, n_cols)).astype(np.float32)
    w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


def add_vector(w, rng, name, n, mean, std):
    w.add_tensor(name, (mean + rng.normal(0.0, std, size=n)).astype(np.float32))


# --- the variants ---

# Per-tensor types: `types[role]` is a type or a list cycled over the layers.
MODELS = [
    dict(name="llama_q4k_m", arch="llama", dim=256, hidden=512, heads=4, kv_heads=2, layers=2,
         embd=T.Q4_K, output=T.Q6_K,
         types=dict(q=T.Q4_K, k=T.Q4_K, v=[T.Q5_K, T.Q6_K], o=[T.Q5_K, T.Q4_K], gate=T.Q4_K,
                    up=T.Q4_K, down=[T.Q6_K, T.Q5_K])),
    dict(name="llama_legacy_quants", arch="llama", dim=256, hidden=512, heads=4, kv_heads=2,
         layers=2, embd=T.Q8_0, output=None,
         types=dict(q=[T.Q5_0, T.Q4_1], k=[T.Q5_1, T.Q8_0], v=[T.Q4_0, T.Q5_0],
                    o=[T.Q4_1, T.Q5_1], gate=[T.Q8_0, T.Q4_0], up=[T.Q5_1, T.Q5_0],
                    down=[T.Q4_0, T.Q8_0])),
    dict(name="llama_f16_bf16", arch="llama", dim=128, hidden=384, heads=4, kv_heads=2,
         layers=2, embd=T.F16, output=T.BF16,
         types=dict(q=[T.F16, T.BF16], k=[T.F32, T.F16], v=[T.BF16, T.F16], o=[T.F16, T.BF16],
                    gate=[T.BF16, T.F16], up=[T.F16, T.BF16], down=[T.BF16, T.F16])),
    dict(name="qwen2", arch="qwen2", dim=256, hidden=512, heads=4, kv_heads=2, layers=2,
         embd=T.Q8_0, output=None, freq_base=1e6, eps=1e-6, biases=True,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=T.Q8_0, o=T.Q8_0, gate=T.Q4_0, up=T.Q4_0,
                    down=T.Q8_0)),
    # llama.cpp has no "mistral" or "smollm" architecture (such GGUFs say "llama"): their
    # reference is the same file written with architecture "llama".
    dict(name="mistral", arch="mistral", ref_arch="llama", dim=256, hidden=512, heads=4, kv_heads=2, layers=2,
         embd=T.Q8_0, output=T.Q8_0, freq_base=1e6,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=T.Q8_0, o=T.Q8_0, gate=T.Q8_0, up=T.Q8_0,
                    down=T.Q8_0)),
    dict(name="smollm", arch="smollm", ref_arch="llama", dim=256, hidden=512, heads=4,
         kv_heads=2, layers=2, embd=T.Q8_0, output=None,
         types=dict(q=T.Q4_1, k=T.Q4_1, v=T.Q8_0, o=T.Q4_1, gate=T.Q4_1, up=T.Q4_1,
                    down=T.Q8_0)),
    dict(name="llama_rope_linear", arch="llama", dim=256, hidden=512, heads=4, kv_heads=2,
         layers=2, embd=T.Q8_0, output=None, rope_linear=2.0,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=T.Q8_0, o=T.Q8_0, gate=T.Q8_0, up=T.Q8_0,
                    down=T.Q8_0)),
    dict(name="llama_rope_freqs", arch="llama", dim=256, hidden=512, heads=4, kv_heads=2,
         layers=2, embd=T.Q8_0, output=None, freq_base=5e5, rope_freqs=True,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=T.Q8_0, o=T.Q8_0, gate=T.Q8_0, up=T.Q8_0,
                    down=T.Q8_0)),
    # Q2_K and Q3_K. On AVX-512 CPUs llama.cpp repacks Q2_K matrices whose row count is a
    # multiple of 8 (every projection here) and multiplies them in another order than the rest,
    # the order our Q2_K dot follows; so the output (282 rows) is Q3_K, which it never repacks,
    # and the Q2_K embedding is only read by rows.
    dict(name="llama_q2k_q3k", arch="llama", dim=256, hidden=512, heads=4, kv_heads=2, layers=2,
         embd=T.Q2_K, output=T.Q3_K,
         types=dict(q=[T.Q2_K, T.Q3_K], k=[T.Q3_K, T.Q2_K], v=[T.Q2_K, T.Q3_K],
                    o=[T.Q3_K, T.Q2_K], gate=[T.Q2_K, T.Q3_K], up=[T.Q3_K, T.Q2_K],
                    down=[T.Q2_K, T.Q3_K])),
    # --- issue 14's families (docs/model-families.md).
    # Qwen3: per-head RMS norms of q and k before RoPE (NEOX), head_dim 64 with dim 128 (the
    # attention width 256 is not dim, as in Qwen3-0.6B), untied output.
    dict(name="qwen3", arch="qwen3", dim=128, hidden=256, heads=4, kv_heads=2, head_dim=64,
         layers=2, embd=T.Q8_0, output=T.Q8_0, freq_base=1e6, eps=1e-6, qk_norm=True,
         types=dict(q=T.Q8_0, k=[T.Q4_1, T.Q8_0], v=T.Q8_0, o=[T.Q4_1, T.Q8_0], gate=T.Q8_0,
                    up=T.Q4_1, down=T.Q8_0)),
    # Phi-3: fused attn_qkv (rows q, k, v) and fused ffn_up (rows gate, up; no ffn_gate), NEOX
    # RoPE on 24 of head_dim 32 (partial rotary, as Phi-4-mini; Phi-3-mini rotates all),
    # phi3.attention.sliding_window present (as in Phi-3 files) and ignored by llama.cpp.
    # Its general.name avoids "phi3": llama.cpp gives the special tokens of a vocabulary so
    # named Phi-3's rstrip attributes and requires a "</s>" token, which this vocabulary lacks.
    dict(name="phi3", arch="phi3", general_name="synthetic-phi", dim=128, hidden=256, heads=4,
         kv_heads=2, layers=2, n_rot=24, embd=T.Q8_0, output=T.Q8_0, freq_base=1e4, eps=1e-5,
         fused_qkv=True, fused_gate_up=True, sliding_window=2047,
         types=dict(qkv=T.Q8_0, o=[T.Q4_1, T.Q8_0], up=T.Q8_0, down=[T.Q8_0, T.Q4_1])),
    # Gemma 3: six layers with the default pattern (layers 0-4 sliding-window, layer 5 global),
    # a window of 8 positions (the sequence is 40), rope base 1e6 on the global layer and
    # 10000 on the others, head_dim 32 with dim 64 (4 heads, 1 KV head, as Gemma 3 270M), QK
    # norms, post-attention and post-FFN norms, GELU gating, embeddings scaled by sqrt(dim),
    # tied output; no rope.dimension_count key, as in the real file. Small embeddings (std
    # 0.05; x8 by the scale) and a large final norm (8): with a tied output, large embeddings
    # make every step predict its own input token.
    dict(name="gemma3", arch="gemma3", dim=64, hidden=128, heads=4, kv_heads=1, head_dim=32,
         layers=6, embd=T.Q8_0, output=None, embd_std=0.05, output_norm=8.0, freq_base=1e6,
         eps=1e-6, qk_norm=True, post_norms=True, sliding_window=8, rope_dim_key=False,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=[T.Q8_0, T.Q4_1], o=T.Q8_0, gate=T.Q8_0,
                    up=[T.Q4_1, T.Q8_0], down=T.Q8_0)),
    # Qwen3-MoE: 8 experts, top-2, softmax over all 8 then the 2 weights renormalised; expert
    # width 64 (expert_feed_forward_length; feed_forward_length is not it), F32 router as in
    # quantized Qwen3-MoE files.
    dict(name="qwen3moe", arch="qwen3moe", dim=128, hidden=192, heads=4, kv_heads=2,
         layers=2, embd=T.Q8_0, output=T.Q8_0, freq_base=1e6, eps=1e-6, qk_norm=True,
         experts=8, experts_used=2, expert_hidden=64,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=T.Q8_0, o=T.Q8_0, router=T.F32,
                    gate_exps=T.Q8_0, up_exps=[T.Q4_1, T.Q8_0], down_exps=T.Q8_0)),
    # Mixtral: the llama architecture with 4 experts, top-2 (llama.cpp: softmax over all, top
    # 2, renormalised, the same as a softmax over the 2 selected logits); expert width is
    # feed_forward_length. Untied output, as Mixtral's.
    dict(name="mixtral", arch="llama", dim=128, hidden=128, heads=4, kv_heads=2, layers=2,
         embd=T.Q8_0, output=T.Q8_0, freq_base=1e6, experts=4, experts_used=2,
         types=dict(q=T.Q8_0, k=T.Q8_0, v=T.Q8_0, o=T.Q8_0, router=T.F32,
                    gate_exps=[T.Q4_1, T.Q8_0], up_exps=T.Q8_0, down_exps=T.Q8_0)),
]


def layer_type(spec, role, layer):
    t = spec["types"][role]
    return t[layer % len(t)] if isinstance(t, list) else t


def llama31_rope_factors(n_rot, base):
    """Llama 3.1's per-frequency divisors (factor 8, low/high freq factors 1 and 4), with an
    original context of 64 instead of 8192 so that most pairs of a 64-wide head are scaled."""
    factor, low, high, old_ctx = 8.0, 1.0, 4.0, 64
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for i in range(0, n_rot, 2):
        freq = 1.0 / (base ** (i / n_rot))
        wavelen = 2 * np.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_model(spec, seed, arch, path):
    rng = np.random.default_rng(seed)
    dim, hidden, heads, kv_heads = spec["dim"], spec["hidden"], spec["heads"], spec["kv_heads"]
    head_dim = spec.get("head_dim", dim // heads)
    n_rot = spec.get("n_rot", head_dim)
    n_experts = spec.get("experts", 0)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(spec.get("general_name", f"synthetic-{spec['name']}"))
    w.add_context_length(CONTEXT)
    w.add_embedding_length(dim)
    w.add_block_count(spec["layers"])
    w.add_feed_forward_length(hidden)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(spec.get("eps", 1e-5))
    if "head_dim" in spec:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if spec.get("rope_dim_key", True):
        w.add_rope_dimension_count(n_rot)
    w.add_rope_freq_base(spec.get("freq_base", 10000.0))
    if "sliding_window" in spec:
        w.add_sliding_window(spec["sliding_window"])
    if n_experts:
        w.add_expert_count(n_experts)
        w.add_expert_used_count(spec["experts_used"])
    if "expert_hidden" in spec:
        w.add_expert_feed_forward_length(spec["expert_hidden"])
    if "rope_linear" in spec:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(spec["rope_linear"])
    w.add_vocab_size(N_VOCAB)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(TOKENS)
    w.add_token_types(TOKEN_TYPES)
    w.add_token_merges(TOKEN_MERGES)
    w.add_bos_token_id(IM_START)
    w.add_eos_token_id(IM_END)
    w.add_add_bos_token(False)

    add_matrix(w, rng, "token_embd.weight", spec["embd"], N_VOCAB, dim,
               std=spec.get("embd_std", 0.5))
    add_vector(w, rng, "output_norm.weight", dim, spec.get("output_norm", 1.0), 0.1)
    if spec["output"] is not None:
        add_matrix(w, rng, "output.weight", spec["output"], N_VOCAB, dim, std=0.5)
    if spec.get("rope_freqs"):
        w.add_tensor("rope_freqs.weight",
                     llama31_rope_factors(head_dim, spec.get("freq_base", 10000.0)))
    for l in range(spec["layers"]):
        p = f"blk.{l}."
        add_vector(w, rng, p + "attn_norm.weight", dim, 1.0, 0.1)
        # q/k larger than the rest so that attention is far from uniform and RoPE matters.
        if spec.get("fused_qkv"):
            add_fused_matrix(w, rng, p + "attn_qkv.weight", layer_type(spec, "qkv", l),
                             [(heads * head_dim, 0.08), (kv_heads * head_dim, 0.08),
                              (kv_heads * head_dim, 0.1)], dim)
        else:
            add_matrix(w, rng, p + "attn_q.weight", layer_type(spec, "q", l), heads * head_dim,
                       dim, std=0.08)
            add_matrix(w, rng, p + "attn_k.weight", layer_type(spec, "k", l),
                       kv_heads * head_dim, dim, std=0.08)
            add_matrix(w, rng, p + "attn_v.weight", layer_type(spec, "v", l),
                       kv_heads * head_dim, dim, std=0.1)
        if spec.get("qk_norm"):
            add_vector(w, rng, p + "attn_q_norm.weight", head_dim, 1.0, 0.2)
            add_vector(w, rng, p + "attn_k_norm.weight", head_dim, 1.0, 0.2)
        if spec.get("biases"):
            add_vector(w, rng, p + "attn_q.bias", heads * head_dim, 0.0, 0.3)
            add_vector(w, rng, p + "attn_k.bias", kv_heads * head_dim, 0.0, 0.3)
            add_vector(w, rng, p + "attn_v.bias", kv_heads * head_dim, 0.0, 0.1)
        add_matrix(w, rng, p + "attn_output.weight", layer_type(spec, "o", l), dim,
                   heads * head_dim, std=0.1)
        if spec.get("post_norms"):
            add_vector(w, rng, p + "post_attention_norm.weight", dim, 1.0, 0.1)
        add_vector(w, rng, p + "ffn_norm.weight", dim, 1.0, 0.1)
        if n_experts:
            ff = spec.get("expert_hidden", hidden)
            # Router logits with a spread of about 1.5, so the top 2 are clear but not certain.
            add_matrix(w, rng, p + "ffn_gate_inp.weight", layer_type(spec, "router", l),
                       n_experts, dim, std=0.15)
            add_experts(w, rng, p + "ffn_gate_exps.weight", layer_type(spec, "gate_exps", l),
                        n_experts, ff, dim, std=0.1)
            add_experts(w, rng, p + "ffn_up_exps.weight", layer_type(spec, "up_exps", l),
                        n_experts, ff, dim, std=0.1)
            add_experts(w, rng, p + "ffn_down_exps.weight", layer_type(spec, "down_exps", l),
                        n_experts, dim, ff, std=0.1)
        elif spec.get("fused_gate_up"):
            add_fused_matrix(w, rng, p + "ffn_up.weight", layer_type(spec, "up", l),
                             [(hidden, 0.1), (hidden, 0.1)], dim)
            add_matrix(w, rng, p + "ffn_down.weight", layer_type(spec, "down", l), dim, hidden,
                       std=0.1)
        else:
            add_matrix(w, rng, p + "ffn_gate.weight", layer_type(spec, "gate", l), hidden, dim,
                       std=0.1)
            add_matrix(w, rng, p + "ffn_up.weight", layer_type(spec, "up", l), hidden, dim,
                       std=0.1)
            add_matrix(w, rng, p + "ffn_down.weight", layer_type(spec, "down", l), dim, hidden,
                       std=0.1)
        if spec.get("post_norms"):
            add_vector(w, rng, p + "post_ffw_norm.weight", dim, 1.0, 0.1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# --- the reference run ---


def fixed_sequences():
    rng = np.random.default_rng(1234)
    text = [int(t) for t in rng.integers(0, N_VOCAB - len(CONTROL), size=37)]
    main = [IM_START] + text[:18] + [IM_END, IM_START] + text[18:]
    assert len(main) == 40
    other = [int(t) for t in rng.integers(0, N_VOCAB - len(CONTROL), size=23)]
    return main, [IM_START] + other


def rnd(x):
    return float(f"{float(x):.6g}")


def greedy(llm, tokens):
    llm.reset()
    llm.eval(tokens)
    out, gaps = [], []
    for _ in range(N_GREEDY):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-row)
        out.append(int(order[0]))
        gaps.append(rnd(row[order[0]] - row[order[1]]))
        llm.eval([out[-1]])
    return out, gaps


def reference(path, main, other):
    from llama_cpp import Llama
    from llama_cpp_plain import use_plain_kernels
    use_plain_kernels()  # the plain dot products' order, not the CPU-dependent repacked ones
    llm = Llama(model_path=str(path), n_ctx=CONTEXT, n_threads=2, logits_all=True,
                flash_attn=False, verbose=False)
    assert llm.n_vocab() == N_VOCAB
    # Logits of the sequence fed one token per step (llama.cpp's decode path) and as one
    # batch (its prefill path: repacked Q4_0 / Q4_K and tinyBLAS kernels, which differ from
    # the decode path by up to a few tenths on these models).
    llm.reset()
    for t in main:
        llm.eval([t])
    logits = {str(p): [rnd(v) for v in llm.scores[p]] for p in LOGIT_POSITIONS}
    llm.reset()
    llm.eval(main)
    batch_logits = {str(p): [rnd(v) for v in llm.scores[p]] for p in LOGIT_POSITIONS}
    g_main, gaps_main = greedy(llm, main)
    g_other, gaps_other = greedy(llm, other)
    del llm
    return dict(logits=logits, batch_logits=batch_logits, greedy=g_main, greedy_gap=gaps_main, other_greedy=g_other,
                other_greedy_gap=gaps_other)


def main():
    import llama_cpp
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", metavar="NAME", action="append",
                        choices=[m["name"] for m in MODELS],
                        help="make only this model (repeatable) and merge its entry into the "
                        "existing golden file, leaving the other entries as they are")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    seqs = fixed_sequences()
    fresh = dict(llama_cpp_python=llama_cpp.__version__, n_vocab=N_VOCAB,
                 tokens=seqs[0], other_tokens=seqs[1], logit_positions=LOGIT_POSITIONS)
    goldens = {}  # path -> its contents, loaded (--only) or fresh on first use

    def golden_for(spec):
        path = PENDING_GOLDEN if spec.get("pending") else GOLDEN
        if path in goldens:
            return goldens[path]
        golden = dict(fresh, models={})
        if args.only and path.exists():
            old = json.loads(path.read_text())
            for key in ("n_vocab", "tokens", "other_tokens", "logit_positions"):
                assert old[key] == golden[key], f"{path} has another {key}: regenerate it all"
            if old["llama_cpp_python"] != golden["llama_cpp_python"]:
                print(f"note: {path} was made with llama-cpp-python {old['llama_cpp_python']}, "
                      f"the merged entries with {golden['llama_cpp_python']}")
            golden = old
        goldens[path] = golden
        return golden

    for i, spec in enumerate(MODELS):
        if args.only and spec["name"] not in args.only:
            continue
        path = OUT_DIR / f"{spec['name']}.gguf"
        write_model(spec, 100 + i, spec["arch"], path)
        if "ref_arch" in spec:
            twin = OUT_DIR / f"{spec['name']}.{spec['ref_arch']}.tmp.gguf"
            write_model(spec, 100 + i, spec["ref_arch"], twin)
            ref = reference(twin, *seqs)
            twin.unlink()
        else:
            ref = reference(path, *seqs)
        golden = golden_for(spec)
        golden["models"][spec["name"]] = dict(file=str(path.relative_to(ROOT)),
                                              arch=spec["arch"],
                                              ref_arch=spec.get("ref_arch", spec["arch"]), **ref)
        print(f"{spec['name']}: {path.stat().st_size} bytes, greedy {ref['greedy']}, "
              f"min gap {min(ref['greedy_gap']):.4f}")
    for path, golden in goldens.items():
        path.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
