#!/usr/bin/env bash
# Smoke test of the Fashion-MNIST example on a slice of the real data (Debian's
# dataset-fashion-mnist): output files, the CSV header, the last line, the checkpoint with its
# BatchNorm buffers, accuracy well above chance after one short epoch, and clear errors for a
# missing, corrupt or mismatched data file.
set -euo pipefail
exe="$1"
data="${2:-/usr/share/datasets/fashion-mnist}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$exe" --data "$data" --epochs 2 --train-limit 3000 --test-limit 1000 --threads 1 --out "$work/run" > "$work/log" 2>&1 ||
    { cat "$work/log"; fail "the run failed"; }
for f in metrics.csv model.safetensors report.svg; do [ -s "$work/run/$f" ] || fail "missing $f"; done
[ "$(head -1 "$work/run/metrics.csv")" = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,images_per_s" ] ||
    fail "metrics.csv header: $(head -1 "$work/run/metrics.csv")"
[ "$(wc -l < "$work/run/metrics.csv")" -eq 3 ] || fail "metrics.csv should have 2 epochs"
last=$(tail -1 "$work/log")
[[ "$last" =~ ^test\ accuracy:\ 0\.[0-9]{4}$ ]] || fail "last line: $last"
acc=${last#test accuracy: }
awk -v a="$acc" 'BEGIN { exit !(a > 0.6) }' || fail "accuracy $acc after 2 epochs on 3000 images (chance is 0.1)"
grep -q "bn1.running_mean" "$work/run/model.safetensors" || fail "no BatchNorm buffers in the checkpoint"
grep -q "bn2.num_batches_tracked" "$work/run/model.safetensors" || fail "no num_batches_tracked in the checkpoint"
grep -q "<svg" "$work/run/report.svg" && grep -q "Confusion matrix" "$work/run/report.svg" &&
    grep -q "data:image/png;base64," "$work/run/report.svg" || fail "report.svg lacks its parts"

# Bad data: a clear message naming the file, exit code 2, nothing written.
bad() {  # bad NAME EXPECTED-MESSAGE (with $work/bad prepared)
    if "$exe" --data "$work/bad" --epochs 1 --out "$work/bad-out" > "$work/bad.log" 2>&1; then fail "$1: accepted"; fi
    grep -q "$2" "$work/bad.log" || fail "$1: message was: $(cat "$work/bad.log")"
}
mkdir -p "$work/bad"
bad "missing folder" "train-images-idx3-ubyte.gz not found: the Fashion-MNIST files come from Debian's dataset-fashion-mnist"
cp "$data"/*.gz "$work/bad/"
head -c 5000 "$data/train-images-idx3-ubyte.gz" > "$work/bad/train-images-idx3-ubyte.gz"
bad "truncated gzip" "train-images-idx3-ubyte.gz: not a valid gzip file"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x00' | gzip > "$work/bad/train-images-idx3-ubyte.gz"
bad "wrong magic" "train-images-idx3-ubyte.gz: not an IDX file of 3-d unsigned bytes (magic number 2049, expected 2051)"
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c\x01\x02' | gzip > "$work/bad/train-images-idx3-ubyte.gz"
bad "short data" "the header announces 1568 bytes of data, the file holds 2"
cp "$data/t10k-images-idx3-ubyte.gz" "$work/bad/train-images-idx3-ubyte.gz"
bad "count mismatch" "holds 10000 images but .*train-labels-idx1-ubyte.gz holds 60000 labels"
[ ! -e "$work/bad-out/metrics.csv" ] || fail "a failed run wrote metrics.csv"
# Bad options: the value as typed and the bounds as written.
"$exe" --dropout 1.5 > "$work/opt.log" 2>&1 && fail "--dropout 1.5 accepted"
grep -q -- "--dropout: 1.5 is not in \[0, 0.99\]" "$work/opt.log" || fail "--dropout message: $(cat "$work/opt.log")"
"$exe" --lr -1 > "$work/opt.log" 2>&1 && fail "--lr -1 accepted"
grep -q -- "--lr: -1 is not a positive number" "$work/opt.log" || fail "--lr message: $(cat "$work/opt.log")"
echo "fashion_mnist smoke test passed"
