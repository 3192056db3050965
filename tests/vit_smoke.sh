#!/usr/bin/env bash
# The ViT example learns Fashion-MNIST with the library's non-causal TransformerBlock (well above
# the 10% of chance after 300 small steps of a one-block model), and with --causal, where the
# class token at position 0 sees only itself, it stays near chance: the mask really is what
# decides. The model is small so that the AddressSanitizer build runs it in minutes.
# Usage: vit_smoke.sh VIT_FASHION_MNIST
set -euo pipefail
run() {
    "$1" --d-model 32 --heads 2 --layers 1 --steps 300 --batch 32 --train-limit 3000 --test-limit 500 \
        --threads 1 "${@:2}"
}
accuracy() { sed -n 's/.*held-out accuracy \([0-9.]*\)%.*/\1/p' <<< "$1" | tail -n 1; }
plain=$(run "$1")
echo "$plain" | tail -n 2
causal=$(run "$1" --causal)
echo "$causal" | tail -n 1
a=$(accuracy "$plain") b=$(accuracy "$causal")
[ -n "$a" ] && [ -n "$b" ] || { echo "vit_smoke: no accuracy line" >&2; exit 1; }
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= 50 && b <= 25) }' ||
    { echo "vit_smoke: expected >= 50% non-causal and <= 25% causal, got $a% and $b%" >&2; exit 1; }
echo "vit_smoke: ok ($a% non-causal, $b% causal)"
