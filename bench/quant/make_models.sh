#!/usr/bin/env bash
# Makes the GGUF files that bench/quant/compare_types.py times, one per quantization type, with
# llama.cpp's llama-quantize (bench/install-peer builds it):
#  - smollm2-135m.TYPE.gguf: the default model (models/SmolLM2-135M-Instruct.Q4_1.gguf)
#    requantized. Its dimension 576 is not a multiple of 256, so in the K-quant files only
#    ffn_down (1536 columns) is a K-quant; llama-quantize gives the other tensors a 32-block
#    type instead (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K / Q3_K -> Q4_0).
#  - llama1b-random.TYPE.gguf: random weights with the shapes of Llama 3.2 1B
#    (bench/quant/make_random_llama.py writes llama1b-random.F16.gguf first), where every
#    projection is of the type asked for.
#  - moe-random.Q4_K_M.gguf: random weights in the Mixtral layout (16 experts of width 1024, 4
#    used per token, dim 2048, 12 layers; make_random_llama.py --experts), for
#    bench/moe/bench_moe.py.
#
#   bench/quant/make_models.sh [smollm2|llama1b|moe|all]      (default all)
#
# Writes to BENCH_MODELS (default models/bench/, git-ignored with models/). Files already there
# are kept. TYPES overrides the list of types; PEER_SERVER and PEER_VENV are install-peer's.
# About 12 GB for everything; the 1B files take a few minutes of 2 cores each.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${BENCH_MODELS:-$root/models/bench}
quantize=${PEER_SERVER:-/opt/llama-server}/bin/llama-quantize
python=${PEER_VENV:-/opt/peer-venv}/bin/python
types=${TYPES:-Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K_M Q5_K_M Q6_K Q2_K Q3_K_M}
which=${1:-all}

[ -x "$quantize" ] || { echo "make_models: no $quantize; run bench/install-peer" >&2; exit 1; }
mkdir -p "$out"

# quantize_all SOURCE NAME: NAME.TYPE.gguf for every type, from SOURCE.
quantize_all() {
  local src=$1 name=$2 t dst
  for t in $types; do
    dst="$out/$name.$t.gguf"
    [ -s "$dst" ] && continue
    echo "make_models: $dst"
    "$quantize" --allow-requantize "$src" "$dst.tmp" "$t" "$(nproc)" >"$dst.log" 2>&1 ||
      { tail -5 "$dst.log" >&2; exit 1; }
    mv "$dst.tmp" "$dst"
    rm -f "$dst.log"
  done
}

case $which in
  smollm2 | all) quantize_all "$root/models/SmolLM2-135M-Instruct.Q4_1.gguf" smollm2-135m ;;&
  llama1b | all)
    f16="$out/llama1b-random.F16.gguf"
    if [ ! -s "$f16" ]; then
      "$python" "$root/bench/quant/make_random_llama.py" "$f16.tmp"
      mv "$f16.tmp" "$f16"
    fi
    quantize_all "$f16" llama1b-random
    ;;&
  moe | all)
    f16="$out/moe-random.F16.gguf"
    if [ ! -s "$f16" ]; then
      "$python" "$root/bench/quant/make_random_llama.py" "$f16.tmp" --n-layers 12 \
        --experts 16 --experts-used 4 --expert-ffn 1024
      mv "$f16.tmp" "$f16"
    fi
    types=Q4_K_M quantize_all "$f16" moe-random
    ;;
  smollm2 | llama1b) ;;
  *) echo "usage: $0 [smollm2|llama1b|moe|all]" >&2; exit 2 ;;
esac
ls -l "$out"
