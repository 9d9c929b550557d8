#!/usr/bin/env bash
# Runs peft4j on the lent GPU machine from gpu-bundle/ (gpu/build-bundle.sh; carried with the
# run): no JDK, no Maven, no network there, only a Python with a CUDA PyTorch (whose torch/lib is
# a libtorch), transformers, peft, CMake, ninja and nvcc. Phases, each with its own time limit,
# each going on after a failure of the one before where it can:
#   1 engine   point DJL at that Python's libtorch (PYTORCH_LIBRARY_PATH/VERSION/FLAVOR); try DJL
#              0.35's shipped JNI glue (built for libtorch 2.7.1; cu128 flavour on a GPU), else
#              build DJL 0.35.0's JNI (gpu-bundle/djl-jni) against this libtorch with CMake (then
#              g++ directly if CMake cannot configure), and probe with a tiny LoRA train step
#   2 tests    every method's contract suite (*ContractTest) with -Dpeft4j.test.device=<device>
#   3 compare  LoRA r=8 train step, peft4j (io.peft4j.bench.LoraStepOnDevice) vs HF peft +
#              transformers (gpu/hf_peft_step.py) on the same device, float32: MiniLM shape
#              16 x 128 and Qwen2.5-0.5B shape 4 x 512; ratio and device memory of each
# Output: $OUT (the device tool's folder) or gpu-out/: log.txt, summary.txt, compare.jsonl,
# junit/*.xml, libdjl_torch.so (when built here: carry it back as gpu-bundle/jni-prebuilt/ to skip
# the build next time).
# Usage: gpu/run-on-device.sh [--device gpu|cpu] [--phases engine,tests,compare] [--steps N] [--tiny]
# Stand-ins (a CPU rehearsal): PEFT4J_PYTHON (default python3), PEFT4J_TORCH_LIB, PEFT4J_TORCH_VERSION,
# PEFT4J_TORCH_FLAVOR, PEFT4J_TORCH_CMAKE override what is read from that Python's torch.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$ROOT/gpu-bundle"
DEVICE=gpu; PHASES=engine,tests,compare; STEPS=20; TINY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --phases) PHASES="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --tiny) TINY="--tiny"; shift ;;
    *) echo "run-on-device.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
RESULTS="${OUT:-$ROOT/gpu-out}"
mkdir -p "$RESULTS"
WORK="$(mktemp -d /tmp/peft4j-gpu.XXXXXX)"
LOG="$RESULTS/log.txt"; SUMMARY="$RESULTS/summary.txt"
: > "$LOG"; : > "$SUMMARY"
exec > >(tee -a "$LOG") 2>&1
say() { echo "$*" | tee -a "$SUMMARY"; }
has_phase() { [[ ",$PHASES," == *",$1,"* ]]; }

[[ -x "$B/jre/bin/java" ]] || { say "FAIL: $B/jre/bin/java missing: run gpu/build-bundle.sh here and carry gpu-bundle"; exit 1; }
JAVA="$B/jre/bin/java"
PY="${PEFT4J_PYTHON:-python3}"
say "peft4j device run $(date -u +%FT%TZ): device=$DEVICE phases=$PHASES steps=$STEPS $TINY; bundle: $(head -1 "$B/MANIFEST.txt")"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$SUMMARY"

# ---------------------------------------------------------------- where the libtorch is
read -r T_LIB T_VER T_CUDA T_CMAKE T_ABI T_SITE < <("$PY" - <<'PY' 2>/dev/null
import os, site, torch
d = os.path.dirname(torch.__file__)
print(os.path.join(d, "lib"), torch.__version__.split("+")[0], torch.version.cuda or "none",
      torch.utils.cmake_prefix_path, int(torch.compiled_with_cxx11_abi()), os.path.dirname(d))
PY
) || true
TORCH_LIB="${PEFT4J_TORCH_LIB:-${T_LIB:-}}"
TORCH_VERSION="${PEFT4J_TORCH_VERSION:-${T_VER:-}}"
if [[ -n "${PEFT4J_TORCH_FLAVOR:-}" ]]; then FLAVOR="$PEFT4J_TORCH_FLAVOR"
elif [[ -n "${T_CUDA:-}" && "$T_CUDA" != none ]]; then FLAVOR="cu${T_CUDA//./}"
else FLAVOR=cpu; fi
TORCH_CMAKE="${PEFT4J_TORCH_CMAKE:-${T_CMAKE:-}}"
if [[ -z "$TORCH_LIB" || ! -e "$TORCH_LIB/libtorch.so" ]]; then
  say "FAIL engine: no libtorch found ($PY cannot import torch, or no libtorch.so in '$TORCH_LIB'); set PEFT4J_PYTHON or PEFT4J_TORCH_LIB"
  exit 1
fi
export PYTORCH_LIBRARY_PATH="$TORCH_LIB" PYTORCH_VERSION="$TORCH_VERSION" PYTORCH_FLAVOR="$FLAVOR"
export DJL_CACHE_DIR="$WORK/djl-cache" ENGINE_CACHE_DIR="$WORK/djl-cache"
# CUDA runtime for DJL's CudaUtils (JNA: GPU count, memory): the pip nvidia-* packages' lib folders
CUDA_DIRS=""
if [[ -n "${T_SITE:-}" && -d "$T_SITE/nvidia" ]]; then
  CUDA_DIRS=$(find "$T_SITE/nvidia" -name 'libcudart.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
fi
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [[ -d "$d" ]] && CUDA_DIRS="${CUDA_DIRS:+$CUDA_DIRS:}$d"; done
export LD_LIBRARY_PATH="$TORCH_LIB${CUDA_DIRS:+:$CUDA_DIRS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
JOPTS=(-Xmx24g -Dai.djl.offline=true "-Djna.library.path=$TORCH_LIB${CUDA_DIRS:+:$CUDA_DIRS}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
CP="$B/app/*:$B/lib/*"
JNI_DIR="$DJL_CACHE_DIR/pytorch/$TORCH_VERSION-$FLAVOR-linux-x86_64"
JNI="$JNI_DIR/0.35.0-libdjl_torch.so"
say "libtorch: $TORCH_LIB (PYTORCH_VERSION=$TORCH_VERSION PYTORCH_FLAVOR=$FLAVOR, cxx11 abi ${T_ABI:-?}); cudart dirs: ${CUDA_DIRS:-none}"
JDEV=cpu; [[ "$DEVICE" == gpu* || "$DEVICE" == cuda* ]] && JDEV=gpu
PYDEV=cpu; [[ "$JDEV" == gpu ]] && PYDEV=cuda

probe() {  # a tiny LoRA train step on the device through the JNI in place
  timeout 300 "$JAVA" "${JOPTS[@]}" -cp "$CP" io.peft4j.bench.LoraStepOnDevice minilm 1 --device "$JDEV" --tiny
}

install_jni() { mkdir -p "$JNI_DIR" && cp "$1" "$JNI" && chmod 755 "$JNI"; }

build_jni() {  # DJL 0.35.0's pytorch-native against this libtorch: CMake first, then plain g++
  local src="$B/djl-jni/engines/pytorch/pytorch-native" bld="$WORK/jni-build" inc="$B/djl-jni/jni-include"
  [[ -f "$src/CMakeLists.txt" ]] || { echo "no DJL JNI sources in gpu-bundle/djl-jni"; return 1; }
  local ptv=""; [[ "$TORCH_VERSION" =~ ^(1\.13|2\.0|2\.1)\. ]] && ptv=V1_13_X
  local cuda=""; [[ "$FLAVOR" == cu* ]] && cuda=1
  local gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  if cmake -S "$src" -B "$bld" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_CMAKE" \
      -DJAVA_INCLUDE_PATH="$inc" -DJAVA_INCLUDE_PATH2="$inc" -DJAVA_AWT_INCLUDE_PATH=NotNeeded \
      -DJAVA_JVM_LIBRARY="$B/jre/lib/server/libjvm.so" -DJAVA_AWT_LIBRARY=NotNeeded \
      -DPT_VERSION="$ptv" -DUSE_CUDA="$cuda" > "$WORK/cmake.log" 2>&1 \
     && cmake --build "$bld" -j "$(nproc)" >> "$WORK/cmake.log" 2>&1 && [[ -f "$bld/libdjl_torch.so" ]]; then
    echo "built with CMake"; cp "$bld/libdjl_torch.so" "$WORK/libdjl_torch.so"; return 0
  fi
  echo "CMake build failed (last lines below); trying g++ directly"; tail -25 "$WORK/cmake.log"
  # g++: what DJL's CMakeLists does, minus Torch's CMake package (its CUDA checks are the usual
  # failure); USE_CUDA only gates TorchScript's separate stream and emptyCache in the glue
  local tinc; tinc=$(dirname "$TORCH_LIB")/include
  [[ -d "$tinc/torch" ]] || tinc=/usr/include
  local defs=(-DNDEBUG); [[ -n "$ptv" ]] && defs+=(-D"$ptv")
  local objs=() f
  mkdir -p "$WORK/gxx"
  for f in "$src"/src/main/native/*.cc; do
    objs+=("$WORK/gxx/$(basename "$f" .cc).o")
    g++ -c -O2 -fPIC -std=c++17 -D_GLIBCXX_USE_CXX11_ABI="${T_ABI:-1}" "${defs[@]}" \
        -I"$src/build/include" -I"$B/djl-jni/api/src/main/native" -I"$inc" \
        -I"$tinc" -I"$tinc/torch/csrc/api/include" "$f" -o "${objs[-1]}" &
    while (( $(jobs -rp | wc -l) >= $(nproc) )); do wait -n; done
  done
  wait
  for f in "${objs[@]}"; do [[ -f "$f" ]] || { echo "g++: $f was not built"; return 1; }; done
  g++ -shared -o "$WORK/libdjl_torch.so" "${objs[@]}" -L"$TORCH_LIB" -Wl,-rpath,'$ORIGIN' \
      -ltorch -ltorch_cpu -lc10 || return 1
  echo "built with g++"
}

# ---------------------------------------------------------------- 1 engine
ENGINE_OK=0
if has_phase engine || has_phase tests || has_phase compare; then
  echo "== 1 engine"
  if [[ -f "$B/jni-prebuilt/libdjl_torch.so" ]]; then
    install_jni "$B/jni-prebuilt/libdjl_torch.so"
    if probe; then ENGINE_OK=1; say "engine: OK with gpu-bundle/jni-prebuilt/libdjl_torch.so (built on an earlier run)"; fi
  fi
  if (( ! ENGINE_OK )); then
    shipped=cpu; [[ "$FLAVOR" == cu* ]] && shipped=cu128
    "$PY" - "$(ls "$B"/lib/pytorch-jni-*.jar)" "jnilib/linux-x86_64/$shipped/libdjl_torch.so" "$WORK/shipped.so" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read(sys.argv[2]))
PY
    install_jni "$WORK/shipped.so"
    if probe; then ENGINE_OK=1; say "engine: OK with DJL 0.35's shipped JNI ($shipped flavour, built for libtorch 2.7.1) on libtorch $TORCH_VERSION"
    else
      say "engine: the shipped JNI ($shipped, for 2.7.1) does not run on libtorch $TORCH_VERSION; building DJL 0.35.0's JNI"
      start=$(date +%s)
      if timeout 480 bash -c "$(declare -f build_jni); $(declare -p B WORK TORCH_VERSION TORCH_LIB TORCH_CMAKE FLAVOR T_ABI 2>/dev/null); build_jni"; then
        install_jni "$WORK/libdjl_torch.so"; cp "$WORK/libdjl_torch.so" "$RESULTS/libdjl_torch.so"
        say "engine: JNI built in $(( $(date +%s) - start )) s (copied to the results as libdjl_torch.so)"
        if probe; then ENGINE_OK=1; say "engine: OK with the JNI built here"; else say "FAIL engine: the JNI built here does not run either (see log.txt)"; fi
      else
        say "FAIL engine: could not build DJL's JNI against libtorch $TORCH_VERSION in 480 s (see log.txt)"
        [[ -f "$WORK/cmake.log" ]] && cp "$WORK/cmake.log" "$RESULTS/cmake.log"
      fi
    fi
  fi
fi

# ---------------------------------------------------------------- 2 tests
if has_phase tests && (( ENGINE_OK )); then
  echo "== 2 contract suites on $JDEV"
  TESTS=$(ls "$B"/app/*-tests.jar | paste -sd:)
  JARS=$(ls "$B"/app/*.jar "$B"/lib/*.jar | paste -sd:)   # JUnit's --class-path does not expand dir/*
  start=$(date +%s)
  timeout 420 "$JAVA" "${JOPTS[@]}" "-Dpeft4j.test.device=$JDEV" -jar "$B"/junit/junit-platform-console-standalone-*.jar \
      execute --disable-banner --details=summary --class-path "$JARS" --scan-classpath "$TESTS" \
      --include-classname '.*(ContractTest|TestDeviceTest)$' --reports-dir "$RESULTS/junit" 2>&1 | tee "$WORK/junit.txt"
  rc=${PIPESTATUS[0]}
  found=$(grep -E '^\[ +[0-9]+ tests (successful|failed|found|aborted|skipped)' "$WORK/junit.txt" | tr -s ' ' | paste -sd' ')
  say "tests (device $JDEV, exit $rc, $(( $(date +%s) - start )) s): $found"
  grep -E '^(  +)?(JUnit Jupiter:|MethodSource)' "$WORK/junit.txt" | head -40 >> "$SUMMARY" || true
elif has_phase tests; then
  say "tests: not run (no working engine)"
fi

# ---------------------------------------------------------------- 3 compare
if has_phase compare && (( ENGINE_OK )); then
  echo "== 3 LoRA step: peft4j vs HF peft on $JDEV"
  : > "$RESULTS/compare.jsonl"
  for model in minilm qwen2.5-0.5b; do
    ours=$(timeout 300 "$JAVA" "${JOPTS[@]}" -cp "$CP" io.peft4j.bench.LoraStepOnDevice "$model" "$STEPS" --device "$JDEV" $TINY | tail -1)
    echo "$ours"; [[ "$ours" == \{* ]] && echo "$ours" >> "$RESULTS/compare.jsonl"
    theirs=$(timeout 300 "$PY" "$ROOT/gpu/hf_peft_step.py" "$model" "$STEPS" --device "$PYDEV" $TINY 2> "$WORK/py.err" | tail -1)
    cat "$WORK/py.err"
    echo "$theirs"; [[ "$theirs" == \{* ]] && echo "$theirs" >> "$RESULTS/compare.jsonl"
    "$PY" - "$model" "$ours" "$theirs" "$(tail -1 "$WORK/py.err")" <<'PY' | tee -a "$SUMMARY"
import json, sys
model, ours, theirs, err = sys.argv[1:5]
def parse(s):
    try:
        return json.loads(s)
    except ValueError:
        return None
o, t = parse(ours), parse(theirs)
if o is None:
    print("compare %s: peft4j side failed (see log.txt)" % model)
elif t is None:
    print("compare %s: peft4j %.1f ms/step, gpu mem %s MiB; HF peft side %s" % (
        model, o["median_ms"], o["gpu_mem_used_peak_minus_baseline_mib"], err.strip() or "failed (see log.txt)"))
else:
    mo, mt = o["gpu_mem_used_peak_minus_baseline_mib"], t["gpu_mem_used_peak_minus_baseline_mib"]
    print("compare %s (%d x %d, %s, trainable %d vs %d): peft4j %.1f ms, HF peft %.1f ms, ratio peft4j/HF %.3f (goal <= 1.1);"
          " device memory peak-baseline peft4j %s MiB, HF %s MiB (torch max allocated %s MiB)%s" % (
          model, o["batch"], o["seq"], o["device"], o["trainable"], t["trainable"], o["median_ms"], t["median_ms"],
          o["median_ms"] / t["median_ms"], mo, mt, t["torch_max_memory_allocated_mib"],
          "" if o["trainable"] == t["trainable"] else "  WARNING: trainable counts differ"))
PY
  done
elif has_phase compare; then
  say "compare: not run (no working engine)"
fi
say "done $(date -u +%FT%TZ)"
rm -rf "$WORK"
