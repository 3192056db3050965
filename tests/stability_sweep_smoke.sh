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
for f in sweep.csv init_grads.csv curvature.csv init_curvature.csv report.svg; do [ -s "$work/run/$f" ] || fail "missing $f"; done
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

# Curvature, in the gpt2 cells (the default --curvature-inits): every placement, both warmup
# settings and every depth, at step 0 (no preconditioner yet) and after updates 1, 2, 4 and 6.
c="$work/run/curvature.csv"
[ "$(head -1 "$c")" = "variant,init,layers,lr,warmup,step,sharpness,preconditioned_sharpness,threshold" ] ||
    fail "curvature.csv header: $(head -1 "$c")"
for v in pre post none; do for L in 1 2 3; do for w in 1 0; do for st in 0 1 2 4 6; do
    [ "$(grep -c "^$v,gpt2,$L,0.001,$w,$st," "$c")" -eq 1 ] || fail "curvature.csv lacks $v,gpt2,$L,0.001,$w,$st once"
done; done; done; done
grep -q ",xavier," "$c" && fail "curvature.csv measured xavier cells"
awk -F, 'NR > 1 && $6 == 0 && $8 != "" { exit 1 }' "$c" || fail "a preconditioned sharpness at step 0"
awk -F, 'NR > 1 && $6 > 0 && $4 == 0.001 && $8 == "" { exit 1 }' "$c" || fail "no preconditioned sharpness after a step"
# lr 0.001, no warmup: the threshold 38 / lr at step 0 and then the cosine schedule's lr.
grep -q "^pre,gpt2,1,0.001,0,0,[^,]*,,38000$" "$c" || fail "the threshold at step 0 is not 38 / lr: $(grep '^pre,gpt2,1,0.001,0,0,' "$c")"
awk -F, 'NR > 1 && $4 == 0.001 && !($7 + 0 > 0) { exit 1 }' "$c" || fail "a sharpness that is not positive at lr 0.001"
[ "$(head -1 "$work/run/init_curvature.csv")" = "variant,init,layers,block,sharpness" ] || fail "init_curvature.csv header"
for v in pre post none; do
    for L in 1 2; do grep -q "^$v,gpt2,$L,," "$work/run/init_curvature.csv" || fail "no whole-model sharpness for $v at $L"; done
    for lb in 1,0 2,0 2,1 3,0 3,1 3,2; do grep -q "^$v,gpt2,$lb," "$work/run/init_curvature.csv" || fail "no block sharpness $v $lb"; done
done
grep -q "^  [0-9]* of [0-9]* diverged cells crossed the threshold before diverging\|^  no cell with curvature" "$work/log" ||
    fail "the summary does not say whether diverged cells crossed the threshold"
grep -q "^  warmup: the sharpness after the 1 warmup steps" "$work/log" || fail "the summary says nothing of warmup"
grep -q "^curvature measurements took [0-9.]* s of the sweep's" "$work/log" || fail "the summary does not give the cost"

svg="$work/run/report.svg"
head -c 5 "$svg" | grep -q "<svg" || fail "report.svg is not SVG"
[ "$(grep -o 'class="heatmap"' "$svg" | wc -l)" -eq 12 ] || fail "report.svg should have 12 heat maps (3 placements x 2 inits x 2 warmups)"
[ "$(grep -o 'class="scaling" ' "$svg" | wc -l)" -eq 6 ] || fail "report.svg should have 6 scaling series"
grep -q 'class="diverged"' "$svg" || fail "report.svg marks no diverged cell"
grep -q 'class="legend"' "$svg" && grep -q 'held-out loss' "$svg" || fail "report.svg has no colour legend"
grep -q 'pre-norm, gpt2 init: slope [+-][0-9.]* (predicted -0.5)' "$svg" || fail "report.svg does not print the slope beside the prediction"
[ "$(grep -o 'class="curvature-panel"' "$svg" | wc -l)" -eq 6 ] || fail "report.svg should have 6 curvature panels (3 placements x 2 warmups)"
[ "$(grep -o 'class="block-sharpness"' "$svg" | wc -l)" -eq 3 ] || fail "report.svg should have 3 per-block sharpness panels"
grep -q 'class="threshold" d="M' "$svg" || fail "report.svg draws no threshold line"

# The last lines are the slopes, one per placement x init.
tail -7 "$work/log" | head -1 | grep -q "^slope of log(last block's gradient norm) against log(depth)" ||
    fail "the slopes are not at the end: $(tail -8 "$work/log")"
[ "$(tail -6 "$work/log" | grep -cE '^  (pre|post|none) +(gpt2|xavier) +slope [+-][0-9]+\.[0-9]{3} ')" -eq 6 ] ||
    fail "slope lines: $(tail -6 "$work/log")"
grep -q "^cell 108 of 108 (none, xavier, L=3, lr 3, warmup 0): final loss .*ETA 0:00$" "$work/log" || fail "no progress line for the last cell"

# Plain SGD, one placement: no warmup cells, the threshold 2 / lr, no preconditioned sharpness,
# and a line per cell on whether the sharpness reached 2 / lr.
"$exe" --optimizer sgd --placements post --inits gpt2 --steps 4 --d-model 16 --heads 2 --batch 8 --length 4 --threads 1 \
    --depths 1,2 --lrs 0.1 --scaling-depths 1,2 --scaling-seeds 1 --scaling-batches 1 --evals 1 --out "$work/sgd" > "$work/sgd.log" 2>&1 ||
    { cat "$work/sgd.log"; fail "the SGD run failed"; }
[ "$(tail -n +2 "$work/sgd/sweep.csv" | wc -l)" -eq 2 ] || fail "the SGD sweep should train 2 cells"
awk -F, 'NR > 1 && ($5 != 0 || $8 != "" || $9 != 20) { exit 1 }' "$work/sgd/curvature.csv" ||
    fail "SGD curvature rows need warmup 0, no preconditioned sharpness and threshold 2 / lr = 20"
[ "$(grep -c '^  SGD post L=[12] lr 0.1: sharpness ' "$work/sgd.log")" -eq 2 ] || fail "no SGD summary lines: $(cat "$work/sgd.log")"

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
bad "--optimizer sgd runs one placement at a time; got --placements pre,post,none" --optimizer sgd
bad "--curvature-inits names xavier, which --inits (gpt2) does not train" --inits gpt2 --curvature-inits xavier
bad "--optimizer: sgdm not in {adamw,sgd}" --optimizer sgdm
[ ! -e "$work/bad" ] || fail "a rejected command line wrote $work/bad"
echo "stability_sweep smoke test passed"
