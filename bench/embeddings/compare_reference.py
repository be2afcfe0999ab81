#!/usr/bin/env python3
"""Sentence embeddings per second of shardserve's BERT encoder next to sentence-transformers on
torch, same model files, same sentences, same number of threads, in one run. Rounds alternate
between the engines so that both see the same machine state; medians and ratios are printed.

    /opt/st-venv/bin/python bench/embeddings/compare_reference.py [--threads 2] [--rounds 5]

Needs a Python with torch and sentence-transformers (the venv of
tests/golden/embeddings/make_embedding_golden.py), models/all-MiniLM-L6-v2 (scripts/fetch-models)
and a release build of bench_embeddings (build/bench/embeddings/, or --bench PATH).

The sentences are ordinary English of about 30 tokens, made from a seeded grammar and tokenized
once by the model's own tokenizer; our side gets those token ids (it has no tokenizer), torch
the texts. Two torch figures: "forward" is the model on pre-tokenized, padded batches (the
encoder, pooling and normalisation: what our side times), "encode" is SentenceTransformer.encode
end to end (tokenization included). Before timing, our embeddings of every sentence are checked
against sentence-transformers' (cosine similarity >= 0.9999).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[2]

SUBJECTS = ["The old fisherman", "A young engineer from the city", "My neighbour's daughter",
            "The committee", "Every student in the class", "The small bakery on the corner",
            "Our new manager", "A group of tourists", "The research team", "Her grandfather"]
VERBS = ["carefully repaired", "quietly discussed", "finally delivered", "never understood",
         "proudly presented", "slowly rebuilt", "happily shared", "suddenly cancelled"]
OBJECTS = ["the broken wooden boat", "a detailed plan for the spring festival",
           "the results of last year's experiment", "a basket of fresh bread and cheese",
           "the long report about water quality", "an old map of the northern mountains",
           "the schedule for the evening trains", "a simple recipe for vegetable soup"]
TAILS = ["before the storm arrived in the harbour", "while everyone else was still asleep",
         "because nobody else had the time to do it", "after a long meeting on Tuesday afternoon",
         "even though the weather was terrible all week", "so that the children could play outside",
         "without asking anyone in the office for help", "and then went home to rest for a while"]


def sentences(n, seed=7):
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.choice(TAILS)}, and {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} it."
            for _ in range(n)]


def median(values):
    return statistics.median(values)


def time_torch(model, texts, batch, min_seconds, forward_only):
    import torch
    batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5
    features = [tokenize(b) for b in batches] if forward_only else None
    n, start, k = 0, time.perf_counter(), 0
    while True:
        i = k % len(batches)
        if forward_only:
            with torch.inference_mode():
                model(dict(features[i]))["sentence_embedding"]
        else:
            model.encode(batches[i], batch_size=batch, normalize_embeddings=True)
        n += len(batches[i])
        k += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return n / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    ap.add_argument("--bench", default=str(ROOT / "build/bench/embeddings/bench_embeddings"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--batches", default="1,32")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")]

    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(a.threads)
    model = SentenceTransformer(a.model, device="cpu")
    model.eval()
    texts = sentences(64)
    ids = [model.tokenizer(t)["input_ids"] for t in texts]
    lengths = [len(x) for x in ids]

    with tempfile.TemporaryDirectory() as tmp:
        inputs, dump = Path(tmp) / "inputs.json", Path(tmp) / "ours.json"
        inputs.write_text(json.dumps({"sequences": ids}))
        base = [a.bench, a.model, "--inputs", str(inputs), "--threads", str(a.threads)]

        # Validate: the same embeddings as sentence-transformers.
        subprocess.run(base + ["--dump", str(dump), "--min-seconds", "0.01", "--rounds", "1"],
                       check=True, capture_output=True, text=True)
        ours = torch.tensor(json.loads(dump.read_text())["embeddings"])
        ref = model.encode(texts, batch_size=32, convert_to_tensor=True, normalize_embeddings=True)
        cos = torch.nn.functional.cosine_similarity(ours, ref.float()).min().item()
        print(f"validation: min cosine similarity over {len(texts)} sentences {cos:.9f}")
        if cos < 0.9999:
            sys.exit("shardserve's embeddings differ from sentence-transformers'")

        results = {(engine, b): [] for engine in ("shardserve", "torch forward", "st encode")
                   for b in batches}
        for r in range(a.rounds):
            args = base + ["--rounds", "1", "--min-seconds", str(a.min_seconds)]
            for b in batches:
                args += ["--batch", str(b)]
            out = json.loads(subprocess.run(args, check=True, capture_output=True,
                                            text=True).stdout)
            for row in out["results"]:
                results[("shardserve", row["batch"])].append(row["embeddings_per_s"])
            for b in batches:
                results[("torch forward", b)].append(
                    time_torch(model, texts, b, a.min_seconds, forward_only=True))
                results[("st encode", b)].append(
                    time_torch(model, texts, b, a.min_seconds, forward_only=False))
            print(f"round {r + 1}/{a.rounds}: " + ", ".join(
                f"{e} b{b} {v[-1]:.1f}" for (e, b), v in results.items()), flush=True)

    print(f"\nall-MiniLM-L6-v2, {a.threads} threads, {len(texts)} sentences of "
          f"{min(lengths)}-{max(lengths)} tokens (mean {sum(lengths) / len(lengths):.1f}), "
          f"torch {torch.__version__}, medians of {a.rounds} alternating rounds")
    print(f"{'batch':>5} {'shardserve':>12} {'torch fwd':>12} {'st encode':>12} "
          f"{'vs fwd':>8} {'vs encode':>10}   (embeddings/s)")
    for b in batches:
        ours = median(results[("shardserve", b)])
        fwd = median(results[("torch forward", b)])
        enc = median(results[("st encode", b)])
        print(f"{b:>5} {ours:>12.1f} {fwd:>12.1f} {enc:>12.1f} {ours / fwd:>7.2f}x "
              f"{ours / enc:>9.2f}x")


if __name__ == "__main__":
    main()
