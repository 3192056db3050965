#!/usr/bin/env bash
# README's "Using tapegrad in your project", run as written: the install block, then a project
# of one's own built against the installed package (its CMakeLists.txt, main.cpp and build
# commands are README's blocks, taken from it verbatim). Then scripts/train on that same build
# folder, which was configured with the examples off: it must turn them on, and a second call
# must not configure or build again. Usage: readme_install.sh SOURCE_DIR
set -euo pipefail
src="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home"
mkdir -p "$HOME" "$work/tapegrad"

# A clean copy of the sources (not their build folders), named as README assumes.
if git -C "$src" rev-parse --git-dir > /dev/null 2>&1; then
    (cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 tar cf -) | tar xf - -C "$work/tapegrad"
else
    tar cf - -C "$src" --exclude=./build --exclude='./build-*' --exclude=./runs . | tar xf - -C "$work/tapegrad"
fi

# The fenced block after each "<!-- README test: NAME -->" line, written to NAME.
mkdir -p "$work/my_app"
awk -v dir="$work" '
    /^<!-- README test: .* -->$/ { name = $4; want = 1; next }
    want && /^```/ { if (inside) { inside = 0; want = 0; close(dir "/" name) } else { inside = 1 } ; next }
    inside { print > (dir "/" name) }
' "$src/README.md"
for f in install.sh my_app/CMakeLists.txt my_app/main.cpp build.sh; do
    [ -s "$work/$f" ] || { echo "readme_install: README has no block for $f" >&2; exit 1; }
done

cd "$work"
echo "== README: install"
bash -e install.sh
[ -f "$HOME/.local/tapegrad/include/tapegrad.hpp" ] && [ -f "$HOME/.local/tapegrad/include/tapegrad/nn/layers.hpp" ] ||
    { echo "readme_install: the headers are not where README says" >&2; exit 1; }
echo "== README: a project of one's own"
out=$(bash -e build.sh)
echo "$out"
echo "$out" | grep -Eq '^loss [0-9.]+, dloss/dW \(2, 3\)$' || { echo "readme_install: my_app printed something else" >&2; exit 1; }

echo "== scripts/train on a build folder configured with the examples off"
export TG_BUILD_DIR="$work/tapegrad-build"
first=$(bash tapegrad/scripts/train --help 2>&1) || { echo "$first"; exit 1; }
echo "$first" | tail -n 5
echo "$first" | grep -q "tapegrad: configuring" || { echo "readme_install: scripts/train did not turn the examples on" >&2; exit 1; }
echo "$first" | grep -q -- "--steps" || { echo "readme_install: no --help from the example" >&2; exit 1; }
second=$(bash tapegrad/scripts/train --help 2>&1)
if echo "$second" | grep -Eq "tapegrad: (configuring|built)|-- Configuring"; then
    echo "$second" | head -n 5
    echo "readme_install: a second scripts/train configured or built again" >&2
    exit 1
fi
echo "readme_install: ok"
