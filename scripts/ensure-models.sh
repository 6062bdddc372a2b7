#!/usr/bin/env bash
# ensure-models.sh FACEKIT_BIN NAME...: fetches the model files these models
# and detectors need, once. A stamp in the model folder records a successful
# pull so later runs cost nothing; `facekit models verify` re-checks digests.
set -euo pipefail
bin=$1; shift
home=${FACEKIT_HOME:-$HOME/.facekit}
stamp="$home/models/.pulled-$(echo "$*" | tr ' ' '_')"
if [[ -f "$stamp" ]]; then
  # Every file the stamp lists must still be there.
  ok=1
  while read -r f; do [[ -f "$home/models/$f" ]] || ok=0; done < "$stamp"
  [[ $ok -eq 1 ]] && exit 0
fi
echo "facekit: fetching model files for $* (first use)..." >&2
mkdir -p "$home/models"
"$bin" models pull "$@" > "$stamp.tmp"
cut -d: -f1 "$stamp.tmp" > "$stamp.files" && rm -f "$stamp.tmp" && mv "$stamp.files" "$stamp"
