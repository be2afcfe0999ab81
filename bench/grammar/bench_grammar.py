#!/usr/bin/env python3
"""What grammar-constrained decoding costs: 32 sequences decoded together through
`shardserve worker --offline` (the scheduler, sampler and grammar path a served request takes),
once free and once each under a JSON-object grammar, on the default model. Reports the time per
generated token of the whole step (model + sampling) and the difference between the runs.

    python3 bench/grammar/bench_grammar.py [--streams 32] [--tokens 64] [--rounds 3]

The grammar is a generic JSON object (what response_format json_object compiles to, written
out here so the script needs no build of its own). Both runs use the same prompts and stop at
the same max_tokens, with end-of-sequence tokens suppressed where the grammar allows them
(ignore_eos) in the free run; the constrained run ends a sequence when its object is complete,
so tokens per second, not total time, is compared.
"""
import argparse
import json
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JSON_OBJECT = r'''root ::= object
object ::= "{" ws ( member ( ws "," ws member )* )? ws "}"
member ::= string ws ":" ws value
value ::= object | array | string | number | "true" | "false" | "null"
array ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ["\\/bfnrt] )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )?
ws ::= ( " " | "\n" [ \t]{0,20} )?
'''


def run(a, requests):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.writelines(json.dumps(r) + "\n" for r in requests)
    p = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "1",
                        a.shardserve, "worker", "-c", ROOT / "configs/local.yaml", "--group",
                        "smollm2-tp2", "--set", "groups[0].tp=1", "--set",
                        "groups[0].threads_per_rank=2", "--offline", f.name],
                       capture_output=True, text=True, check=True)
    m = re.search(r"(\d+) prompt \+ (\d+) generated tokens in (\d+) steps, ([\d.]+) s", p.stderr)
    g = re.search(r"sampling ([\d.]+) s; (\d+) tokens under a grammar, (\d+) of them masked",
                  p.stderr)
    results = [json.loads(line) for line in p.stdout.splitlines()]
    return (int(m.group(2)), int(m.group(3)), float(m.group(4)), results,
            (float(g.group(1)), int(g.group(2)), int(g.group(3))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shardserve", default=str(ROOT / "build/cli/shardserve"))
    a = ap.parse_args()
    prompts = [f"<|im_start|>user\nDescribe item number {i} of a shop's catalogue as a JSON "
               f"object.<|im_end|>\n<|im_start|>assistant\n" for i in range(a.streams)]
    free = [{"id": i, "prompt": p, "max_tokens": a.tokens, "temperature": 0.7, "seed": i,
             "ignore_eos": True} for i, p in enumerate(prompts)]
    constrained = [dict(r, grammar=JSON_OBJECT, ignore_eos=False) for r in free]
    per_token = {"free": [], "json": []}
    sampling = {"free": [], "json": []}
    for r in range(a.rounds):
        for name, requests in (("free", free), ("json", constrained))[::1 if r % 2 == 0 else -1]:
            tokens, steps, seconds, results, (sampling_s, n_constrained, masked) = run(a, requests)
            per_token[name].append(1e6 * seconds / tokens)
            sampling[name].append(1e6 * sampling_s / tokens)
            if name == "json":
                done = [x for x in results if x["finish_reason"] == "stop"]
                for x in done:
                    json.loads(x["text"])  # every finished answer parses
                print(f"  round {r + 1} json: {tokens} tokens, {steps} steps, "
                      f"{len(done)}/{len(results)} objects complete, {masked} of {n_constrained} "
                      f"samples masked")
            else:
                print(f"  round {r + 1} free: {tokens} tokens, {steps} steps")
    f, j = statistics.median(per_token["free"]), statistics.median(per_token["json"])
    print(f"{a.streams} streams, up to {a.tokens} tokens each, default model, tp 1, 2 threads: "
          f"{f:.0f} us per generated token free, {j:.0f} us under the JSON grammar "
          f"({j - f:+.0f} us, {100 * (j - f) / f:+.1f}%); of which sampling "
          f"{statistics.median(sampling['free']):.0f} us free, "
          f"{statistics.median(sampling['json']):.0f} us under the grammar")


if __name__ == "__main__":
    main()
