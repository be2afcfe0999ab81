#!/usr/bin/env bash
# Holds the served (packed) arithmetic to llama.cpp on real weights of every quantization type:
# for each smollm2-135m.TYPE.gguf made by make_models.sh (the default model requantized by
# llama-quantize), records llama.cpp's greedy continuations and top logits of the golden prompts
# (tests/golden/make_generation_golden.py --model, with llama-cpp-python), then runs
# llama_golden_test's PackedArithmeticStaysCloseToLlamaCpp on that file: the recorded logits along
# llama.cpp's own tokens no further from llama.cpp than the test allows beside the spread of
# llama.cpp's own summation orders (kLlamaCpp), and the same top token at every clear step.
# Prints one line per type: largest and mean logit differences, packed and kLlamaCpp.
# (make_generation_golden.py --no-repack records llama.cpp with its weights left unrepacked,
# which measures how far llama.cpp's repacked kernels move its own logits.)
#
#   bench/quant/check_types.sh            (after bench/install-peer, make_models.sh, scripts/build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
models=${BENCH_MODELS:-$root/models/bench}
python=${PEER_VENV:-/opt/peer-venv}/bin/python
test_bin=${BUILD_DIR:-$root/build}/model/llama/llama_golden_test
types=${TYPES:-Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K}

[ -x "$test_bin" ] || { echo "check_types: no $test_bin; run scripts/build" >&2; exit 1; }
failed=0
for t in $types; do
  model="$models/smollm2-135m.$t.gguf"
  golden="$models/smollm2-135m.$t.golden.json"
  [ -s "$model" ] || { echo "check_types: no $model; run bench/quant/make_models.sh" >&2; exit 1; }
  if [ ! -s "$golden" ]; then
    "$python" tests/golden/make_generation_golden.py --model "$model" --out "$golden.tmp" 2>/dev/null
    mv "$golden.tmp" "$golden"
  fi
  if out=$(SHARDSERVE_GOLDEN_MODEL="$model" SHARDSERVE_GOLDEN_JSON="$golden" "$test_bin" \
      --gtest_filter='LlamaGolden.PackedArithmeticStaysCloseToLlamaCpp' 2>&1); then
    echo "$t: $(grep -o 'packed arithmetic.*' <<<"$out")"
  else
    echo "$t: FAILED"
    grep -E 'Failure|Expected|Which is|differs' <<<"$out" | head -20
    failed=1
  fi
done
exit $failed
