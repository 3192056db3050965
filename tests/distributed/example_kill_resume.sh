#!/usr/bin/env bash
# A rank lost mid-run: kill -9 of one rank of the training example under mpiexec must end the
# whole job promptly (every process gone), with a non-zero exit and a message naming the lost
# rank; --resume then continues from the last checkpoint and logs the same losses as a run that
# was never interrupted. Usage: example_kill_resume.sh EXAMPLE MPIEXEC...
set -uo pipefail
example="$1"; shift
work="$(mktemp -d)"
launcher=""
cleanup() {
    [ -n "$launcher" ] && kill -9 "$launcher" 2>/dev/null
    pkill -9 -f -- "--out $work/" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }
args=(--steps 100 --warmup 5 --batch 16 --norm pre --layers 2 --d-model 32 --heads 2 --threads 1 --samples 0
      --eval-every 10 --progress plain)

# The run that is never interrupted.
"$@" "$example" "${args[@]}" --out "$work/ref" > "$work/ref.log" 2>&1 || fail "uninterrupted run failed"

# The same run, with rank 1 killed once a checkpoint past step 20 is on disk.
"$@" "$example" "${args[@]}" --out "$work/run" > "$work/run.log" 2>&1 &
launcher=$!
step_on_disk() { sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$work/run/train_state.json" 2>/dev/null; }
for _ in $(seq 1200); do
    s=$(step_on_disk); [ -n "$s" ] && [ "$s" -ge 20 ] && break
    kill -0 "$launcher" 2>/dev/null || fail "the run ended before a checkpoint past step 20"
    sleep 0.05
done
victim=""
for pid in $(pgrep -f -- "--out $work/run"); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
[ -n "$victim" ] || fail "rank 1 not found"
start=$(date +%s.%N)
kill -9 "$victim"
wait "$launcher"; rc=$?
launcher=""
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$rc" -ne 0 ] || fail "mpiexec exited 0 after a rank was killed"
awk -v t="$took" 'BEGIN { exit !(t < 15) }' || fail "the job took ${took} s to end after the kill"
grep -Eiq "rank 1 .*(killed|signal 9)|process rank 1" "$work/run.log" || fail "no message names rank 1"
sleep 0.2
[ -z "$(pgrep -f -- "--out $work/run")" ] || fail "processes of the killed job are still running"
last=$(step_on_disk)
echo "rank 1 killed after the checkpoint of step $last; mpiexec exited $rc in ${took} s:"
grep -Ei "rank 1" "$work/run.log" | head -n 2

# Resume from the checkpoint left on disk: the whole curve equals the uninterrupted one.
"$@" "$example" "${args[@]}" --out "$work/run" --resume > "$work/resume.log" 2>&1 || fail "--resume failed"
grep -q "resuming main-pre at step $last" "$work/resume.log" || fail "did not resume at step $last"
diff <(cut -d, -f1-4 "$work/ref/metrics.csv") <(cut -d, -f1-4 "$work/run/metrics.csv") > "$work/diff.txt" ||
    fail "resumed curve differs: $(head -n 5 "$work/diff.txt")"
echo "resumed at step $last; losses of all $(($(wc -l < "$work/ref/metrics.csv") - 1)) steps equal the uninterrupted run's"
