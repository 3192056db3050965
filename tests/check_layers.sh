#!/usr/bin/env bash
# The layer rule of DESIGN.md: core <- nn <- optim <- dist, dependencies pointing down only.
# Fails, listing each offending line, when a file of a lower layer includes a header of a
# higher one. Usage: check_layers.sh [ROOT] (default: the repository this script is in).
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
layers=(core nn optim dist)
bad=0
for i in "${!layers[@]}"; do
    layer=${layers[$i]}
    higher=("${layers[@]:$((i + 1))}")
    [ ${#higher[@]} -eq 0 ] && continue
    [ -d "$root/$layer" ] || { echo "check_layers: no folder $root/$layer" >&2; exit 2; }
    pattern="^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](\.\./)*($(IFS='|'; echo "${higher[*]}"))/"
    while IFS= read -r hit; do
        echo "layer violation: ${hit#"$root/"} (a $layer file may not include ${higher[*]} headers)"
        bad=1
    done < <(grep -rEn --include='*.hpp' --include='*.cpp' --include='*.h' "$pattern" "$root/$layer" || true)
done
if [ $bad -ne 0 ]; then exit 1; fi
echo "check_layers: core <- nn <- optim <- dist holds in $root"
