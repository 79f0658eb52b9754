#!/usr/bin/env bash
# The main job on the embedded default (what `make demo` runs):
#   1. generate the synthetic long-video preference suite,
#   2. validate it and decode every video,
#   3. judge a few pairs with the tiny offline Qwen2.5-VL model (untrained: its answers are noise;
#      the point is the whole thinking-with-image path running) and write the HTML traces.
# Idempotent: the suite is regenerated only if missing.
set -euo pipefail
OUT="${1:-runs/demo}"
VR="$(dirname "$0")/../.venv/bin/vrthinker"
[ -x "$VR" ] || VR=vrthinker
mkdir -p "$OUT"
if [ ! -f "$OUT/suite/pairs.jsonl" ]; then
  "$VR" data synth --out "$OUT/suite" --pairs 64 --seed 0
fi
"$VR" data check "$OUT/suite/pairs.jsonl" --format native --decode --on-bad-row fail
for i in 0 1 2; do
  line=$(sed -n "$((i + 1))p" "$OUT/suite/pairs.jsonl")
  prompt=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["prompt"])' "$line")
  a=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["video_a"])' "$line")
  b=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["video_b"])' "$line")
  echo "judging pair $i: $prompt"
  "$VR" judge --model tiny --prompt "$prompt" "$OUT/suite/$a" "$OUT/suite/$b" \
      --max-new-tokens 48 --trace-html "$OUT/traces/pair_$i.html"
done
echo "done: suite in $OUT/suite, traces in $OUT/traces/"
