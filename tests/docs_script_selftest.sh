#!/usr/bin/env bash
# scripts/docs on a machine without Doxygen: it says how to get it and exits with 1.
# Usage: docs_script_selftest.sh ROOT
set -uo pipefail
root="$1"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
for tool in bash env sed grep tr cp mkdir rm dirname cat sort; do ln -s "$(command -v $tool)" "$bin/$tool"; done
out="$(PATH="$bin" bash "$root/scripts/docs" 2>&1)"
rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "scripts/docs returned $rc without Doxygen"; exit 1; }
echo "$out" | grep -q 'Doxygen is not installed; on Debian: sudo apt-get install doxygen' || { echo "no advice"; exit 1; }
