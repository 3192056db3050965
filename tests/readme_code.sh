#!/usr/bin/env bash
# README's code blocks marked <!-- README code: FILE --> must appear in FILE as written (the
# same lines, in a row), so that what README shows is what the tests compile and run.
set -euo pipefail
root="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Split the marked blocks into $work/block.N, their file names into $work/names.
awk -v dir="$work" '
    /^<!-- README code: [^ ]+ -->$/ { name = $4; want = 1; next }
    want && /^```/ { want = 0; n++; out = dir "/block." n; print name > (dir "/names"); inside = 1; printf "" > out; next }
    inside && /^```/ { inside = 0; next }
    inside { print >> out }
' "$root/README.md"
[ -s "$work/names" ] || { echo "no <!-- README code: FILE --> blocks in README.md"; exit 1; }
failed=0 i=0
while read -r name; do
    i=$((i + 1))
    # Is block.i a run of consecutive lines of the file?
    if ! awk 'NR == FNR { b[++n] = $0; next } { f[++m] = $0 }
              END { for (s = 1; s + n - 1 <= m; s++) { k = 1; while (k <= n && f[s + k - 1] == b[k]) k++; if (k > n) exit 0 } exit 1 }' \
            "$work/block.$i" "$root/$name"; then
        echo "README's block $i for $name is not in that file as written"
        failed=$((failed + 1))
    fi
done < "$work/names"
echo "$((i - failed)) of $i README code blocks match their files"
[ "$failed" -eq 0 ]
