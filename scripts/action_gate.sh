#!/usr/bin/env bash
# The gate step of the leakaudit GitHub Action (action.yml): gate every submission file, build
# each one's PDF, and collect one markdown comment. Runs outside Actions too (tests call it).
#
# Environment:
#   LEAKAUDIT       the leakaudit executable (default: leakaudit on PATH)
#   SUBMISSIONS     newline- or space-separated submission files (globs allowed)
#   CHANGED_FILES   optional newline-separated files changed in the pull request: when set,
#                   only submissions among them are gated ("" = gate every submission)
#   OUT             output folder (one sub-folder per submission)
#   STORE           answer store shared by the submissions (cached between runs)
#   MAX_TEXT_ANSWERABLE, MIN_MG, MAX_LEAKED, ZOO, EXTRA_ARGS   gate options ("" = default)
#   GITHUB_OUTPUT   optional: status=, exit-code=, files= are appended
# Exit status: the worst gate exit code (0 pass, 1 a threshold failed, 2 bad input or setup);
# 0 with a notice when no submission changed.
set -uo pipefail
LEAKAUDIT="${LEAKAUDIT:-leakaudit}"
OUT="${OUT:-leakaudit-gate}"
STORE="${STORE:-$OUT/store}"
mkdir -p "$OUT"

# -- which files ------------------------------------------------------------------------------
shopt -s globstar nullglob
files=()
for pattern in ${SUBMISSIONS:-}; do
  for f in $pattern; do
    [ -f "$f" ] && files+=("$f")
  done
done
if [ -n "${CHANGED_FILES:-}" ]; then
  keep=()
  for f in "${files[@]}"; do
    norm="${f#./}"
    if printf '%s\n' "$CHANGED_FILES" | sed 's#^\./##' | grep -qxF -- "$norm"; then keep+=("$f"); fi
  done
  files=("${keep[@]}")
fi
printf '%s\n' "${files[@]}" > "$OUT/files.txt"
comment="$OUT/comment.md"
echo "## leakaudit gate" > "$comment"
if [ "${#files[@]}" -eq 0 ]; then
  echo "No submission file changed: nothing to gate." | tee -a "$comment"
  [ -n "${GITHUB_OUTPUT:-}" ] && { echo "status=skipped"; echo "exit-code=0"; echo "files="; } >> "$GITHUB_OUTPUT"
  exit 0
fi

# -- gate each ----------------------------------------------------------------------------------
args=(--run-dir "$STORE")
[ -n "${MAX_TEXT_ANSWERABLE:-}" ] && args+=(--max-text-answerable "$MAX_TEXT_ANSWERABLE")
[ -n "${MIN_MG:-}" ] && args+=(--min-mg "$MIN_MG")
[ -n "${MAX_LEAKED:-}" ] && args+=(--max-leaked "$MAX_LEAKED")
[ -n "${ZOO:-}" ] && args+=(--zoo "$ZOO")
# shellcheck disable=SC2206  # EXTRA_ARGS is split on spaces on purpose (like a command line)
extra=(${EXTRA_ARGS:-})
worst=0
for f in "${files[@]}"; do
  name="$(printf '%s' "${f#./}" | tr -c 'A-Za-z0-9._-' '_')"
  dir="$OUT/$name"
  echo "::group::leakaudit gate $f"
  "$LEAKAUDIT" gate "$f" --out "$dir" "${args[@]}" "${extra[@]}"
  code=$?
  if [ -f "$dir/summary.json" ]; then
    "$LEAKAUDIT" report "$dir" -o "$dir/audit.pdf" --max-samples 12 || echo "::warning::PDF report failed for $f"
  fi
  echo "::endgroup::"
  [ "$code" -gt "$worst" ] && worst=$code
  { echo; [ -f "$dir/summary.md" ] && sed 's/^## /### /' "$dir/summary.md" || echo "\`$f\`: the gate wrote no summary (exit $code)"; } >> "$comment"
done
case "$worst" in 0) status=pass ;; 1) status=fail ;; *) status=error ;; esac
echo >> "$comment"
echo "Files: verdict.json, junit.xml, summary.md and audit.pdf per submission in the \`leakaudit-gate\` artifact." >> "$comment"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  { echo "status=$status"; echo "exit-code=$worst"; echo "files=$(tr '\n' ' ' < "$OUT/files.txt")"; } >> "$GITHUB_OUTPUT"
fi
echo "leakaudit gate: $status (exit $worst) on ${#files[@]} submission(s)"
exit "$worst"
