#!/usr/bin/env bash
# The GPU check in one command: a subset of the tests on the GPU, a bfloat16 PixelCNN++ train step and its
# model FLOP utilisation, cached against naive sampling (PixelCNN++ 32x32x3 at batch 256, WaveNet at
# batch 1), gathered into one JSON (OUTDIR/device_check.json; a table is printed last).
#
#   experiments/device_check.sh --prepare          # here (a CPU machine with pip): the wheels into .whl/
#   experiments/device_check.sh [OUTDIR]           # on the GPU machine; OUTDIR defaults to $OUT, else
#                                                  # ./device_check_out
#   experiments/device_check.sh --stages train,audio [OUTDIR]     # some stages only
#
# Through this workplace's device tool (its machine has jax with CUDA but not tensorflow-datasets,
# ml_collections, soundfile, soxr or tensorboardX: they travel as wheels in the git-ignored .whl/):
#   run(command="bash experiments/device_check.sh", carry=[".whl"], timeout_s=600)
#
# Stages, in order: device (jax and the chip), tests, train, sampling, audio. Each has a timeout, cut to
# what is left of BUDGET_S, so the whole run ends inside one 600-second device command; the JSON is
# rewritten after every stage, so a run stopped early still returns what it measured. OUTDIR receives 7
# files (the device tool returns at most 8): device_check.json, train.json and the five stages' logs.
#
# Environment: DRY_RUN=1 prints the commands instead of running them. TINY=1 runs every stage on the CPU
# at tiny sizes (a smoke run of this script). BUDGET_S [570]; T_DEVICE [40], T_TESTS [140], T_TRAIN [140],
# T_SAMPLING [150], T_AUDIO [80] seconds (together 550); TEST_WORKERS [8]; TRAIN_CASES [pixelcnn_pp_paper_bf16];
# TRAIN_BATCH [0: the case's own]; PYTHON [python3].
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
PYTHON_SET="${PYTHON:-}"
PYTHON="${PYTHON:-python3}"
DRY_RUN="${DRY_RUN:-0}"
TINY="${TINY:-0}"
WHEEL_DIR="$REPO/.whl"
SITE_DIR="${SITE_DIR:-/tmp/armodels_site}"
# The packages the device image lacks, with their own missing dependencies (armodels_jax's imports).
WHEELS=(tensorflow-datasets ml_collections soundfile soxr tensorboardX importlib_resources array_record
        dm-tree immutabledict promise simple_parsing docstring_parser tensorflow-metadata
        googleapis-common-protos termcolor toml cffi pycparser)
ALL_STAGES="device,tests,train,sampling,audio"
STAGES="$ALL_STAGES"
PREPARE=0
OUTDIR=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prepare) PREPARE=1 ;;
    --stages) STAGES="$2"; shift ;;
    --stages=*) STAGES="${1#--stages=}" ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) OUTDIR="$1" ;;
  esac
  shift
done

show() {  # Prints a command as `+ word word ...` (shell-quoted).
  printf '+'; printf ' %q' "$@"; printf '\n'
}

# ---- --prepare: download the wheels (run where pip reaches a package index) -------------------------------
if [[ "$PREPARE" == "1" ]]; then
  # Pin the versions of the project's virtualenv (what the tests ran with here), if there is one.
  if [[ -z "$PYTHON_SET" && -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; fi
  if [[ "$DRY_RUN" != "1" ]]; then mkdir -p "$WHEEL_DIR"; fi
  platforms=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
           manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
  done
  status=0
  for name in "${WHEELS[@]}"; do
    # The version installed here, the one the tests ran with (none: the newest).
    version="$("$PYTHON" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass" "$name" 2>/dev/null)"
    spec="$name${version:+==$version}"
    download=("$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12
              --implementation cp "${platforms[@]}" -d "$WHEEL_DIR" "$spec")
    # A package published as a source archive only (promise) is pure Python: build its wheel here.
    build=("$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEEL_DIR" "$spec")
    show "${download[@]}"
    if [[ "$DRY_RUN" != "1" ]]; then
      if ! "${download[@]}"; then
        show "${build[@]}"
        "${build[@]}" || { echo "could not fetch $spec" >&2; status=1; }
      fi
    fi
  done
  if [[ "$DRY_RUN" != "1" ]]; then
    echo "$(ls "$WHEEL_DIR"/*.whl 2>/dev/null | wc -l) wheels, $(du -sh "$WHEEL_DIR" | cut -f1) in $WHEEL_DIR"
  fi
  exit "$status"
fi

# ---- the check ---------------------------------------------------------------------------------------------
OUTDIR="${OUTDIR:-${OUT:-$REPO/device_check_out}}"
BUDGET_S="${BUDGET_S:-570}"
if [[ "$TINY" == "1" ]]; then
  PLATFORM=cpu
  TEST_FILES=(tests/test_mixed_precision.py)
  TEST_ARGS=(-k "misspelt or unsupported")
  TRAIN_ARGS=(--tiny)
  SAMPLING_ARGS=(--models pixelcnn_pp --cases rgb --size tiny --batch 2 --naive-steps 2 --repeats 1)
  AUDIO_ARGS=(--cases audio --audio-size tiny --audio-batches 1 --audio-length 64 --audio-naive-steps 4
              --repeats 1)
else
  PLATFORM=cuda
  TEST_FILES=(tests/models/test_model_rules.py tests/test_mixed_precision.py)
  TEST_ARGS=(-n "${TEST_WORKERS:-8}")
  TRAIN_ARGS=(--steps 20 --warmup 3)
  # Ramachandran et al. 2017's setting: PixelCNN++ (paper size) on 32x32x3 images, batch 256.
  SAMPLING_ARGS=(--models pixelcnn_pp --cases rgb --size paper --batch 256 --naive-steps 3 --repeats 2)
  # WaveNet (paper size) at batch 1: one second of 16 kHz audio per cached run.
  AUDIO_ARGS=(--cases audio --audio-size paper --audio-batches 1 --audio-length 16000
              --audio-naive-steps 100 --repeats 2)
fi
TRAIN_CASES="${TRAIN_CASES:-pixelcnn_pp_paper_bf16}"
if [[ "${TRAIN_BATCH:-0}" != "0" ]]; then TRAIN_ARGS+=(--batch "$TRAIN_BATCH"); fi

START=$SECONDS
WORK="$OUTDIR"
if [[ "$DRY_RUN" != "1" ]]; then
  mkdir -p "$OUTDIR"
  # Raw files (stage table, JUnit XML, device info) stay out of OUTDIR; the summary gathers them.
  WORK="$(mktemp -d)"
  : > "$WORK/stages.tsv"
  if compgen -G "$WHEEL_DIR/*.whl" > /dev/null; then
    # The packages the image lacks, beside (not over) its own: PYTHONPATH comes before site-packages.
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE_DIR" "$WHEEL_DIR"/*.whl || echo "warning: installing the wheels of $WHEEL_DIR failed" >&2
    export PYTHONPATH="$REPO:$SITE_DIR${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "note: no wheels in $WHEEL_DIR (experiments/device_check.sh --prepare fetches them)" >&2
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3

summarize() {  # Rewrites WORK/device_check.json and copies it, the logs and train.json to OUTDIR.
  "$PYTHON" experiments/device_summary.py "$WORK" "$@"
  local f
  for f in device_check.json train.json device.log tests.log train.log sampling.log audio.log; do
    [[ -f "$WORK/$f" ]] && cp "$WORK/$f" "$OUTDIR/$f"
  done
  return 0
}

# stage NAME TIMEOUT LOG [ENV=VALUE ...] -- COMMAND ...: runs COMMAND with a timeout (cut to what is left
# of the budget), its output in WORK/LOG, records the outcome in stages.tsv and rewrites the summary.
stage() {
  local name="$1" limit="$2" log="$3"; shift 3
  local envs=()
  while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
  shift
  [[ ",$STAGES," == *",$name,"* ]] || return 0
  local left=$(( BUDGET_S - (SECONDS - START) - 10 ))
  (( limit > left )) && limit=$left
  if [[ "$DRY_RUN" == "1" ]]; then
    echo "# stage $name (timeout ${limit} s) -> $OUTDIR/$log"
    show timeout -k 10 "$limit" env "${envs[@]}" "$@"
    return 0
  fi
  if (( limit < 20 )); then
    echo "stage $name skipped: ${left} s left of BUDGET_S=$BUDGET_S" | tee -a "$WORK/$log"
    printf '%s\tskipped\t0\t0\n' "$name" >> "$WORK/stages.tsv"
    return 0
  fi
  echo "== stage $name (timeout ${limit} s)"
  local t0=$SECONDS rc
  timeout -k 10 "$limit" env "${envs[@]}" "$@" > "$WORK/$log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( SECONDS - t0 ))" "$limit" >> "$WORK/stages.tsv"
  tail -n 3 "$WORK/$log"
  summarize > /dev/null 2>&1
}

# device: what jax sees (a CUDA run that finds no GPU fails here, not silently on the CPU).
stage device "${T_DEVICE:-40}" device.log JAX_PLATFORMS="$PLATFORM" -- \
  "$PYTHON" experiments/device_summary.py --device "$WORK/device.json"

# tests: the model rules (DESIGN.md section 6, float32: XLA's default GPU matmul precision may use TF32,
# so the float32 tolerances need the full precision) and the mixed-precision tests, on the GPU.
stage tests "${T_TESTS:-140}" tests.log JAX_PLATFORMS="$PLATFORM" JAX_DEFAULT_MATMUL_PRECISION=highest \
  XLA_PYTHON_CLIENT_PREALLOCATE=false -- \
  "$PYTHON" -m pytest -q -p no:cacheprovider "${TEST_ARGS[@]}" --junitxml="$WORK/tests.xml" "${TEST_FILES[@]}"

# train: the project's own train step (bench_train.py) in bfloat16; FLOPs from XLA's cost analysis,
# utilisation against the chip's dense bfloat16 peak (device_peaks.json).
stage train "${T_TRAIN:-140}" train.log JAX_PLATFORMS="$PLATFORM" -- \
  "$PYTHON" experiments/bench_train.py --cases "$TRAIN_CASES" "${TRAIN_ARGS[@]}" --json "$WORK/train.json"

# sampling: PixelCNN++ cached against naive (Ramachandran et al. 2017: up to 183x).
stage sampling "${T_SAMPLING:-150}" sampling.log JAX_PLATFORMS="$PLATFORM" -- \
  "$PYTHON" experiments/bench_sampling.py "${SAMPLING_ARGS[@]}"

# audio: WaveNet samples per second at batch 1 against real time (16 and 24 kHz).
stage audio "${T_AUDIO:-80}" audio.log JAX_PLATFORMS="$PLATFORM" -- \
  "$PYTHON" experiments/bench_sampling.py "${AUDIO_ARGS[@]}"

if [[ "$DRY_RUN" == "1" ]]; then
  show "$PYTHON" experiments/device_summary.py WORKDIR
  echo "# writes $OUTDIR/device_check.json"
  exit 0
fi
echo "== summary ($(( SECONDS - START )) s) -> $OUTDIR/device_check.json"
summarize
