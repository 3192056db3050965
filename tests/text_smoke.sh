#!/usr/bin/env bash
# Smoke test of the example's text task at tiny sizes, on README.md as the text: a BPE
# vocabulary trained on the training part and cached with the token files (used again, made
# again when the vocabulary size or the text changes), held_out.json and the last line
# "held-out bits per byte: X.XXX", the character-level run's line, generated samples decoded
# from BPE tokens, a run stopped and resumed, and bad options.
set -euo pipefail
exe="$1"
text_src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cp "$text_src" "$work/t.txt"
tiny=(--text "$work/t.txt" --context 16 --layers 1 --d-model 16 --heads 2 --batch 8 --steps 8 --eval-every 4
      --norm pre --curvature-every 0 --threads 1 --progress plain)
bpb='^held-out bits per byte: [0-9]+\.[0-9]{3}$'

"$exe" "${tiny[@]}" --tokenizer bpe --vocab 300 --samples 2 --out "$work/b" > "$work/b.log" 2>&1 ||
    { cat "$work/b.log"; fail "the bpe run failed"; }
for f in encoder.json vocab.bpe train.bin held_out.bin source.json; do
    [ -s "$work/b/tokenizer/$f" ] || fail "no tokenizer/$f"
done
grep -q "trained a BPE vocabulary of 300 tokens" "$work/b.log" || fail "no vocabulary trained: $(cat "$work/b.log")"
[[ "$(tail -1 "$work/b.log")" =~ $bpb ]] || fail "last line: $(tail -1 "$work/b.log")"
grep -q '"vocab_size": 300' "$work/b/held_out.json" || fail "held_out.json: $(cat "$work/b/held_out.json")"
grep -q "^held-out loss of the whole held-out text: [0-9.]* nats per token" "$work/b.log" || fail "no held-out loss line"
[ "$(grep -c '^  sample [0-9] of 2 (16 held-out tokens, then [0-9]* generated):' "$work/b.log")" -eq 2 ] ||
    fail "two samples: $(cat "$work/b.log")"
# The token files hold the text: uint16 ids below the vocabulary size, about 2-4 bytes each.
bytes=$(wc -c < "$work/t.txt")
tokens=$(( ($(wc -c < "$work/b/tokenizer/train.bin") + $(wc -c < "$work/b/tokenizer/held_out.bin")) / 2 ))
[ $((bytes / tokens)) -ge 1 ] && [ $((bytes / tokens)) -le 5 ] || fail "$tokens tokens for $bytes bytes"

# The cache is used again; another vocabulary size or a changed text makes it again.
"$exe" "${tiny[@]}" --tokenizer bpe --vocab 300 --samples 0 --out "$work/b" > "$work/b2.log" 2>&1 || fail "second run"
grep -q "BPE vocabulary of 300 tokens and token files from $work/b/tokenizer" "$work/b2.log" || fail "cache not used: $(cat "$work/b2.log")"
"$exe" "${tiny[@]}" --tokenizer bpe --vocab 320 --samples 0 --out "$work/b" > "$work/b3.log" 2>&1 || fail "third run"
grep -q "made from another text or vocabulary size; making it again" "$work/b3.log" || fail "cache not remade: $(cat "$work/b3.log")"
grep -q "trained a BPE vocabulary of 320 tokens" "$work/b3.log" || fail "no 320-token vocabulary"

# Character level: the same last line.
"$exe" "${tiny[@]}" --samples 0 --out "$work/c" > "$work/c.log" 2>&1 || { cat "$work/c.log"; fail "the char run failed"; }
[[ "$(tail -1 "$work/c.log")" =~ $bpb ]] || fail "char last line: $(tail -1 "$work/c.log")"
[ ! -e "$work/c/tokenizer" ] || fail "a char run made a tokenizer cache"

# Stopped after 4 steps (as Ctrl-C stops it), then resumed: the run ends with the same line and
# the same figure as the uninterrupted one.
"$exe" "${tiny[@]}" --tokenizer bpe --vocab 300 --samples 0 --out "$work/r" --stop-after 4 > "$work/r1.log" 2>&1 && fail "--stop-after exited 0"
"$exe" "${tiny[@]}" --tokenizer bpe --vocab 300 --samples 0 --out "$work/r" --resume > "$work/r2.log" 2>&1 ||
    { cat "$work/r2.log"; fail "resume failed"; }
[ "$(tail -1 "$work/r2.log")" = "$(tail -1 "$work/b2.log")" ] ||
    fail "resumed: $(tail -1 "$work/r2.log"), uninterrupted: $(tail -1 "$work/b2.log")"
# Resuming with another vocabulary is refused.
"$exe" "${tiny[@]}" --tokenizer bpe --vocab 320 --samples 0 --out "$work/r" --resume > "$work/r3.log" 2>&1 &&
    fail "resume with another --vocab accepted"
grep -q "written with other options" "$work/r3.log" || fail "resume message: $(cat "$work/r3.log")"

# Bad options.
"$exe" --text "$work/t.txt" --tokenizer bpe --vocab 100 > "$work/o.log" 2>&1 && fail "--vocab 100 accepted"
grep -q -- "--vocab" "$work/o.log" || fail "--vocab message: $(cat "$work/o.log")"
"$exe" --text "$work/t.txt" --tokenizer words > "$work/o.log" 2>&1 && fail "--tokenizer words accepted"
head -c 100 "$work/t.txt" > "$work/short.txt"
"$exe" --text "$work/short.txt" --context 16 --layers 1 --d-model 16 --heads 2 --tokenizer bpe --vocab 300 \
    --out "$work/s" > "$work/s.log" 2>&1 && fail "a 100-byte text accepted"
grep -q "with context 16 each part needs more than 17 (give a longer file or a shorter --context)" "$work/s.log" ||
    fail "short text: $(cat "$work/s.log")"
echo "text smoke test passed"
