#!/usr/bin/env bash
# tests/docs_code.py must fail on a C++ block without a marker and on a marked block that is not
# in its file, naming the page and line of each. Usage: docs_code_selftest.sh ROOT
set -uo pipefail
root="$1"
t="$(mktemp -d)"
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/docs" "$t/examples"
cp "$root/README.md" "$t/"
cp "$root/examples/readme_example.cpp" "$t/examples/"
cat > "$t/docs/bad.md" <<'MD'
# A page with two bad blocks

```cpp
int unmarked();
```

<!-- code: examples/readme_example.cpp -->
```cpp
int main() { return 7; }
```
MD
out="$(python3 "$root/tests/docs_code.py" "$t")"
rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "docs_code.py returned $rc on bad blocks"; exit 1; }
echo "$out" | grep -q 'docs/bad.md:3: a C++ block without a' || { echo "the unmarked block was not reported"; exit 1; }
echo "$out" | grep -q 'docs/bad.md:8: this block is not in examples/readme_example.cpp as written' ||
    { echo "the changed block was not reported"; exit 1; }
# And the good pages alone pass.
rm "$t/docs/bad.md"
python3 "$root/tests/docs_code.py" "$t" >/dev/null || { echo "README alone should pass"; exit 1; }
echo "docs_code_selftest: both bad blocks reported"
