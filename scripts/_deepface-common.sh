# shellcheck shell=bash
# Shared helpers for the deepface side-by-side scripts (compare-deepface.sh, bench-deepface.sh).
# Sourced, not executed. Dev tooling only: FaceKit never runs Python at run time.

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/.." && pwd)"
# shellcheck disable=SC2034  # used by the scripts that source this file
DATASET_DEFAULT="${FACEKIT_DEEPFACE_DATASET:-/work/shared/data/deepface-dataset}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# FaceKit binary: $FACEKIT_BIN if given, else a release build of this checkout.
# A release build is what users run; a debug build would make every timing meaningless.
resolve_facekit_bin() {
  if [[ -n "${FACEKIT_BIN:-}" ]]; then
    [[ -x "$FACEKIT_BIN" ]] || die "FACEKIT_BIN=$FACEKIT_BIN is not an executable"
    printf '%s\n' "$FACEKIT_BIN"
    return
  fi
  log "FACEKIT_BIN not set: building release (swift build -c release) in $REPO_ROOT"
  (cd "$REPO_ROOT" && swift build -c release --product facekit >&2) || die "swift build failed"
  local bin="$REPO_ROOT/.build/release/facekit"
  [[ -x "$bin" ]] || die "no binary at $bin after the build"
  printf '%s\n' "$bin"
}

# The deepface venv's python (created on first use; idempotent and fast afterwards).
resolve_deepface_python() {
  local venv
  venv="$("$SCRIPTS_DIR/deepface-venv.sh" 2>/dev/null | tail -1)" || die "deepface-venv.sh failed (run it directly to see why)"
  printf '%s\n' "$venv/bin/python"
}

# DEEPFACE_HOME linked to FaceKit's model files, so both sides use identical weights.
# A missing file is only a warning here: the model x detector runs that need it will fail
# on the deepface side and show up as errors, and the others still run.
resolve_deepface_home() {
  local home rc=0
  home="$("$SCRIPTS_DIR/deepface-home.sh" 2>/dev/null | tail -1)" || rc=$?
  [[ $rc -eq 0 ]] || log "warning: deepface-home.sh reports missing FaceKit model files (run it directly to see which)"
  [[ -n "$home" ]] || die "deepface-home.sh printed no path"
  printf '%s\n' "$home"
}
