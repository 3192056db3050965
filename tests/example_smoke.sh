#!/usr/bin/env bash
# Smoke test of the training example at tiny sizes: output files and headers, a falling loss,
# reproducible metrics, resume matching the uninterrupted run, Ctrl-C, and bad options.
set -euo pipefail
exe="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
base=(--length 4 --layers 1 --d-model 16 --heads 2 --batch 16 --warmup 5 --study-layers 3 --study-steps 6
      --samples 1 --threads 1)
tiny=("${base[@]}" --steps 30 --eval-every 10)
fail() { echo "FAIL: $*"; exit 1; }

"$exe" "${tiny[@]}" --out "$work/a" > "$work/a.log"
for f in metrics.csv grad_norms.csv report.svg model.safetensors optimizer.safetensors train_state.json; do
    [ -s "$work/a/$f" ] || fail "missing $f"
done
[ "$(head -1 "$work/a/metrics.csv")" = "variant,step,loss,eval_loss,eval_accuracy,lr,grad_norm,tokens_per_s" ] || fail "metrics header"
[ "$(head -1 "$work/a/grad_norms.csv")" = "variant,step,layer,grad_norm" ] || fail "grad_norms header"
grep -q "<svg" "$work/a/report.svg" || fail "report.svg is not SVG"
for v in main-pre pre post none; do grep -q "^$v," "$work/a/metrics.csv" || fail "no rows for $v"; done
grep -q "^post,0,2," "$work/a/grad_norms.csv" || fail "no per-layer norm for post at step 0"
first=$(grep '^main-pre,' "$work/a/metrics.csv" | head -1 | cut -d, -f3)
last=$(grep '^main-pre,' "$work/a/metrics.csv" | tail -1 | cut -d, -f3)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "loss did not fall: $first -> $last"
grep -q "Gradient stability" "$work/a.log" || fail "no study table"

# Same seed, same metrics (timings aside).
"$exe" "${tiny[@]}" --out "$work/b" > /dev/null
diff <(cut -d, -f1-7 "$work/a/metrics.csv") <(cut -d, -f1-7 "$work/b/metrics.csv") || fail "runs differ"
cmp "$work/a/grad_norms.csv" "$work/b/grad_norms.csv" || fail "grad norms differ"

# Stopped at step 20 and resumed: the same metrics as the run that never stopped.
set +e
"$exe" "${tiny[@]}" --out "$work/c" --stop-after 20 > /dev/null
code=$?
set -e
[ $code -eq 130 ] || fail "--stop-after exit code $code"
"$exe" "${tiny[@]}" --out "$work/c" --resume > /dev/null
diff <(cut -d, -f1-7 "$work/a/metrics.csv") <(cut -d, -f1-7 "$work/c/metrics.csv") || fail "resumed run differs"

# A real Ctrl-C saves a checkpoint that --resume continues from.
"$exe" "${base[@]}" --steps 100000 --eval-every 5 --norm pre --out "$work/d" > /dev/null &
pid=$!
for _ in $(seq 1 300); do [ -s "$work/d/train_state.json" ] && break; sleep 0.1; done
kill -INT $pid
set +e
wait $pid
code=$?
set -e
[ $code -eq 130 ] || fail "Ctrl-C exit code $code"
grep -q '"step"' "$work/d/train_state.json" || fail "no state after Ctrl-C"

# Bad options: a clear message and exit code 2.
for bad in "--batch 0" "--d-model 16 --heads 3" "--text /no/such/file" "--norm sideways" "--steps abc"; do
    set +e
    # shellcheck disable=SC2086
    "$exe" $bad --out "$work/e" > "$work/e.log" 2>&1
    code=$?
    set -e
    [ $code -eq 2 ] || fail "'$bad' exited $code: $(cat "$work/e.log")"
done
echo "example smoke test passed"
