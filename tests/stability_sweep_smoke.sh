#!/usr/bin/env bash
# Smoke test of the stability sweep (examples/stability_sweep) on a tiny grid: both CSV headers
# exactly, every cell of the grid once in sweep.csv, one init_grads.csv row per block, the parts of
# report.svg, the slopes as the last lines, a diverged cell (lr 3 cannot train), and clear
# errors for bad flags.
set -euo pipefail
exe="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$exe" --steps 6 --d-model 16 --heads 2 --batch 8 --length 4 --threads 1 --depths 1,2,3 --lrs 0.001,0.03,3 \
    --scaling-depths 1,2 --scaling-seeds 1 --scaling-batches 1 --evals 2 --out "$work/run" > "$work/log" 2>&1 ||
    { cat "$work/log"; fail "the run failed"; }
for f in sweep.csv init_grads.csv report.svg; do [ -s "$work/run/$f" ] || fail "missing $f"; done
[ "$(head -1 "$work/run/sweep.csv")" = "variant,init,layers,lr,warmup,final_loss,best_eval_accuracy,diverged,diverged_step,max_grad_norm" ] ||
    fail "sweep.csv header: $(head -1 "$work/run/sweep.csv")"
[ "$(head -1 "$work/run/init_grads.csv")" = "variant,init,layers,block,grad_norm" ] ||
    fail "init_grads.csv header: $(head -1 "$work/run/init_grads.csv")"

# Every (variant, init, layers, lr, warmup) once: 3 x 2 x 3 x 3 x 2 = 108 cells; warmup is 10% of
# 6 steps, rounded, at least 1.
[ "$(tail -n +2 "$work/run/sweep.csv" | wc -l)" -eq 108 ] || fail "sweep.csv has $(tail -n +2 "$work/run/sweep.csv" | wc -l) cells, not 108"
for v in pre post none; do for i in gpt2 xavier; do for L in 1 2 3; do for lr in 0.001 0.03 3; do for w in 1 0; do
    [ "$(grep -c "^$v,$i,$L,$lr,$w," "$work/run/sweep.csv")" -eq 1 ] || fail "cell $v,$i,$L,$lr,$w is not in sweep.csv once"
done; done; done; done; done
awk -F, 'NR > 1 && NF != 10 { exit 1 }' "$work/run/sweep.csv" || fail "a sweep.csv row without 10 fields"
awk -F, 'NR > 1 && (($8 == 0) != ($9 == "")) { exit 1 }' "$work/run/sweep.csv" || fail "diverged_step set without divergence, or missing"
awk -F, 'NR > 1 && $4 == 3 && $8 == 1 { n++ } END { exit !(n > 0) }' "$work/run/sweep.csv" || fail "no cell at lr 3 diverged"

# One row per (variant, init, depth, block): depths 1 and 2 have 1 + 2 blocks.
[ "$(tail -n +2 "$work/run/init_grads.csv" | wc -l)" -eq 18 ] || fail "init_grads.csv rows: $(tail -n +2 "$work/run/init_grads.csv" | wc -l)"
for v in pre post none; do for i in gpt2 xavier; do for lb in 1,0 2,0 2,1; do
    [ "$(grep -c "^$v,$i,$lb," "$work/run/init_grads.csv")" -eq 1 ] || fail "init_grads.csv lacks $v,$i,$lb once"
done; done; done

svg="$work/run/report.svg"
head -c 5 "$svg" | grep -q "<svg" || fail "report.svg is not SVG"
[ "$(grep -o 'class="heatmap"' "$svg" | wc -l)" -eq 12 ] || fail "report.svg should have 12 heat maps (3 placements x 2 inits x 2 warmups)"
[ "$(grep -o 'class="scaling" ' "$svg" | wc -l)" -eq 6 ] || fail "report.svg should have 6 scaling series"
grep -q 'class="diverged"' "$svg" || fail "report.svg marks no diverged cell"
grep -q 'class="legend"' "$svg" && grep -q 'held-out loss' "$svg" || fail "report.svg has no colour legend"
grep -q 'pre-norm, gpt2 init: slope [+-][0-9.]* (predicted -0.5)' "$svg" || fail "report.svg does not print the slope beside the prediction"

# The last lines are the slopes, one per placement x init.
tail -7 "$work/log" | head -1 | grep -q "^slope of log(last block's gradient norm) against log(depth)" ||
    fail "the slopes are not at the end: $(tail -8 "$work/log")"
[ "$(tail -6 "$work/log" | grep -cE '^  (pre|post|none) +(gpt2|xavier) +slope [+-][0-9]+\.[0-9]{3} ')" -eq 6 ] ||
    fail "slope lines: $(tail -6 "$work/log")"
grep -q "^cell 108 of 108 (none, xavier, L=3, lr 3, warmup 0): final loss .*ETA 0:00$" "$work/log" || fail "no progress line for the last cell"

# Bad flags: exit code 2, a message that names the flag and what to give, nothing written.
bad() {  # bad EXPECTED-MESSAGE ARGS...
    local want="$1"
    shift
    local code=0
    "$exe" "$@" --out "$work/bad" > "$work/bad.log" 2>&1 || code=$?
    [ $code -eq 2 ] || fail "'$*' exited $code (expected 2)"
    grep -qF -- "$want" "$work/bad.log" || fail "'$*': message was: $(cat "$work/bad.log")"
}
bad "--lrs: 0 is not positive: give a list such as 1e-3,3e-3,1e-2,3e-2" --lrs 0
bad "--depths: empty value: give a comma-separated list such as 2,6,12" --depths ""
bad "--lrs: 'abc' is not a number" --lrs 1e-3,abc
bad "--depths: '2.5' is not a whole number" --depths 2.5
bad "--placements: sideways not in {pre,post,none}" --placements sideways
bad "--scaling-depths 4: the slope needs at least two depths" --scaling-depths 4
bad "--d-model 16 is not divisible by --heads 3" --d-model 16 --heads 3
bad "--depths 2,2 names a value twice" --depths 2,2
[ ! -e "$work/bad" ] || fail "a rejected command line wrote $work/bad"
echo "stability_sweep smoke test passed"
