#!/usr/bin/env bash
# The layer rule of DESIGN.md: dependencies point down only. Each layer may include headers of
# itself and of the layers listed for it below, and of no other layer:
#   core  <- data            (data links core only)
#   core  <- nn <- optim
#   distributed <- core, data, nn, optim
# Fails, listing each offending line, when a file includes a header of a layer it may not.
# Usage: check_layers.sh [ROOT] (default: the repository this script is in).
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
layers=(core data nn optim distributed)
declare -A allowed=(
    [core]=""
    [data]="core"
    [nn]="core"
    [optim]="core nn"
    [distributed]="core data nn optim"
)
bad=0
for layer in "${layers[@]}"; do
    [ -d "$root/$layer" ] || { echo "check_layers: no folder $root/$layer" >&2; exit 2; }
    forbidden=()
    for other in "${layers[@]}"; do
        [ "$other" = "$layer" ] && continue
        [[ " ${allowed[$layer]} " == *" $other "* ]] || forbidden+=("$other")
    done
    [ ${#forbidden[@]} -eq 0 ] && continue
    pattern="^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](\.\./)*(tapegrad/)?($(IFS='|'; echo "${forbidden[*]}"))/"
    while IFS= read -r hit; do
        echo "layer violation: ${hit#"$root/"} (a $layer file may include headers of: ${allowed[$layer]:-none but $layer})"
        bad=1
    done < <(grep -rEn --include='*.hpp' --include='*.cpp' --include='*.h' "$pattern" "$root/$layer" || true)
done
if [ $bad -ne 0 ]; then exit 1; fi
echo "check_layers: core <- data, core <- nn <- optim, and distributed above them all holds in $root"
