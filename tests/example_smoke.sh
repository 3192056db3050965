#!/usr/bin/env bash
# Smoke test of the training example at tiny sizes: output files and headers, a falling loss,
# reproducible metrics, resume matching the uninterrupted run, Ctrl-C, the --text task (the
# study shortened with --steps, --samples, held-out series in report.svg), --help, bad options.
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
# Curvature: the main run (warmup 5) and the study runs (3 blocks, no warmup, and the warmup arm
# with 1 step of warmup, a sixth of 6) at step 0 and after updates 1, 2, 4 and the last;
# whole-model sharpness at initialisation at depths 2 and 4 too.
c="$work/a/curvature.csv"
[ "$(head -1 "$c")" = "variant,init,layers,lr,warmup,step,sharpness,preconditioned_sharpness,threshold" ] || fail "curvature.csv header"
for st in 0 1 2 4 5 16 30; do grep -q "^main-pre,gpt2,1,0.003,5,$st," "$c" || fail "curvature.csv lacks main-pre at step $st"; done
for v in pre post none; do
    for w in 0 1; do
        for st in 0 1 2 4 6; do grep -q "^$v,gpt2,3,0.003,$w,$st," "$c" || fail "curvature.csv lacks $v (warmup $w) at step $st"; done
    done
    for L in 2 4; do grep -q "^$v,gpt2,$L,0.003,0,0,[^,]*,," "$c" || fail "curvature.csv lacks $v's sharpness at init, $L blocks"; done
    for b in 0 1 2; do grep -q "^$v,gpt2,3,$b," "$work/a/init_curvature.csv" || fail "no sharpness of $v's block $b"; done
done
grep -q "^main-pre,gpt2,1,0.003,5,1,[0-9.e+-]*,[0-9.e+-]*,[0-9.e+-]*$" "$c" || fail "no preconditioned sharpness after the first update"
grep -q "^sharpness at initialisation against depth:" "$work/a.log" || fail "the log does not print the sharpness against depth"
# Seven panels (main-pre, and each placement with and without warmup), each drawing its runs.
[ "$(grep -o 'class="curvature-panel"' "$work/a/report.svg" | wc -l)" -eq 7 ] || fail "report.svg should have 7 curvature panels"
[ "$(grep -o 'class="sharpness" d="M[0-9]' "$work/a/report.svg" | wc -l)" -eq 7 ] || fail "a curvature panel draws no line"
grep -q "warmup arm of the curvature study: the same runs with 1 warmup steps" "$work/a.log" || fail "no warmup arm"
grep -q "^curvature measurements: .*reached the tolerance\|stopped at the product limit" "$work/a.log" || fail "no measurement quality line"
first=$(grep '^main-pre,' "$work/a/metrics.csv" | head -1 | cut -d, -f3)
last=$(grep '^main-pre,' "$work/a/metrics.csv" | tail -1 | cut -d, -f3)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "loss did not fall: $first -> $last"
grep -q "Gradient stability" "$work/a.log" || fail "no study table"
grep -q "gradient-stability study: 3 layers, 6 steps" "$work/a.log" || fail "--study-steps 6 not used"
grep -q "shortened with the main run" "$work/a.log" && fail "study said shortened although --study-steps was given"
[ "$(grep -c '^  sort ' "$work/a.log")" -eq 1 ] || fail "--samples 1 did not print 1 sample: $(cat "$work/a.log")"
for c in train-loss eval-loss eval-accuracy grad-norm; do
    grep -q "class=\"$c\"" "$work/a/report.svg" || fail "report.svg has no $c series"
done
grep -q "main-pre at step 29; pre, post, none at step 5" "$work/a/report.svg" || fail "report.svg does not say which step the end panel shows"

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
diff "$work/a/curvature.csv" "$work/c/curvature.csv" || fail "the resumed run's curvature differs"

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

# --text: with --steps 8 and no --study-steps the study runs 4 steps (half), not 300, and without
# --warmup the warmup shrinks with --steps too; --samples 2 prints two samples of generated text;
# the report shows the held-out loss and accuracy.
for _ in $(seq 1 40); do echo "The quick brown fox jumps over the lazy dog, and the dog sleeps on."; done > "$work/t.txt"
"$exe" --text "$work/t.txt" --context 16 --layers 1 --d-model 16 --heads 2 --batch 8 --steps 8 --eval-every 4 \
    --samples 2 --threads 1 --out "$work/t" > "$work/t.log"
grep -q "gradient-stability study: 8 layers, 4 steps" "$work/t.log" || fail "study not shortened: $(cat "$work/t.log")"
grep -q "shortened with the main run: 4 steps is half of --steps 8" "$work/t.log" || fail "no line saying the study is shortened"
[ "$(awk -F, '$1 == "pre" || $1 == "post" || $1 == "none"' "$work/t/metrics.csv" | wc -l)" -eq 12 ] || fail "study runs are not 4 steps"
[ "$(grep -c '^  sample [0-9]* of 2 ' "$work/t.log")" -eq 2 ] || fail "--samples 2 with --text: $(cat "$work/t.log")"
grep -q 'class="eval-loss" data-variant="main-pre"' "$work/t/report.svg" || fail "no held-out loss of the text run in report.svg"
grep -q 'next-character accuracy' "$work/t/report.svg" || fail "report.svg does not say what the text accuracy is"
"$exe" --help > "$work/help.log"
grep -q "next-character accuracy" "$work/help.log" || fail "--help does not say what --text's accuracy is"
grep -q "half of --steps" "$work/help.log" || fail "--help does not say how the study follows --steps"

# A warmup longer than the run is cut to it, with a note; --progress plain writes whole lines only,
# --progress bar rewrites its line in place.
small=(--length 4 --layers 1 --d-model 16 --heads 2 --batch 8 --study-layers 2 --study-steps 2 --samples 0 --threads 1)
"$exe" "${small[@]}" --steps 3 --warmup 5 --progress plain --out "$work/w" > "$work/w.log" 2>&1 || fail "--steps 3 --warmup 5 failed: $(cat "$work/w.log")"
grep -q "note: --warmup 5 is longer than the run; warming up over all 3 steps" "$work/w.log" || fail "no warmup note"
grep -q $'\r' "$work/w.log" && fail "--progress plain wrote carriage returns"
"$exe" "${small[@]}" --steps 3 --progress bar --norm pre --out "$work/w2" > "$work/w2.log" 2>&1
grep -q $'\r' "$work/w2.log" || fail "--progress bar wrote no progress line"

# Numbers in messages as typed; --resume on a folder without a checkpoint names what is missing
# (and leaves no folder behind).
"$exe" --lr 30 > "$work/lr.log" 2>&1 && fail "--lr 30 accepted"
grep -q -- "--lr: 30 is not in \[0, 10\]" "$work/lr.log" || fail "--lr message: $(cat "$work/lr.log")"
"$exe" --resume --out "$work/nothing" > "$work/r.log" 2>&1 && fail "--resume without a checkpoint accepted"
grep -q "holds no checkpoint to continue (train_state.json, model.safetensors, optimizer.safetensors, metrics.csv, grad_norms.csv missing)" \
    "$work/r.log" || fail "--resume message: $(cat "$work/r.log")"
[ ! -e "$work/nothing" ] || fail "--resume created the folder it could not resume from"

# Bad options: a clear message and exit code 2.
for bad in "--batch 0" "--d-model 16 --heads 3" "--text /no/such/file" "--norm sideways" "--steps abc" "--progress fancy"; do
    set +e
    # shellcheck disable=SC2086
    "$exe" $bad --out "$work/e" > "$work/e.log" 2>&1
    code=$?
    set -e
    [ $code -eq 2 ] || fail "'$bad' exited $code: $(cat "$work/e.log")"
done
echo "example smoke test passed"
