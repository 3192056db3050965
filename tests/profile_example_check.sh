#!/usr/bin/env bash
# Runs examples/profile_example in a scratch directory and checks what it wrote: the tables'
# headers, a valid Chrome trace whose op spans nest in their module spans (check_trace.py), a
# DOT graph naming the parameters, and the checkpointed model's equal loss.
set -euo pipefail
exe="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$exe" "$work" > "$work/out.txt"
cat "$work/out.txt"
grep -q '^Op .*Calls.*Self ms.*Total ms.*Backward ms.*Alloc.*Saved' "$work/out.txt"
grep -q '^Module .*Calls' "$work/out.txt"
grep -q '^h\.3 output RMS ' "$work/out.txt"
grep -q 'the same loss: true' "$work/out.txt"
python3 "$here/check_trace.py" "$work/step_trace.json"
grep -q 'h.0.attn.c_attn.weight' "$work/gpt_graph.dot"
grep -q 'digraph tapegrad' "$work/gpt_graph.dot"
echo "profile example: ok"
