#!/usr/bin/env bash
# Builds gpu-bundle/ (git-ignored): everything the GPU machine needs to run peft4j's contract
# suites and the LoRA step comparison, which has no JDK, no Maven and no network there:
#   jre/        a jlinked Java runtime with only the modules the jars need (jdeps)
#   lib/        runtime + test dependencies (DJL api, pytorch-engine, pytorch-jni; NOT the
#               111 MB pytorch-native-cpu natives: the device's own libtorch is used)
#   app/        peft4j's jars, and its test classes as jars (the contract suites)
#   junit/      junit-platform-console-standalone (JUnit's command-line launcher)
#   djl-jni/    DJL 0.35.0's PyTorch JNI sources (engines/pytorch/pytorch-native, utils.h), the
#               JNI header generated from PyTorchLibrary.java, and this JDK's jni.h/jni_md.h,
#               to build libdjl_torch.so on the device if the shipped one does not load
# It must fit, with the tracked files, in the 64 MiB that travel with a device run; the size is
# printed and checked. Usage: gpu/build-bundle.sh [--skip-build]   (from anywhere)
# Env: DJL_SRC (a DJL git clone; default /work/.mirror/deepjavalibrary+djl/repo, brought by the
# session's fetch tool: github:deepjavalibrary/djl), MVN_FLAGS (e.g. -o), JAVA_HOME.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/gpu-bundle"
DJL_SRC="${DJL_SRC:-/work/.mirror/deepjavalibrary+djl/repo}"
DJL_TAG=v0.35.0
JUNIT_CONSOLE=org.junit.platform:junit-platform-console-standalone:1.11.4
LIMIT_MIB=60   # 64 MiB travel in all; the tracked tree is ~2 MiB
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
MVN="mvn -B -q ${MVN_FLAGS:-}"
# the modules whose test classes travel (the contract suites) and whose jars the harness needs
MODULES=peft-core,peft-models,peft-tasks,peft-lora,peft-mos,peft-shadow,peft-masa,peft-lift,peft-bench
TEST_MODULES="peft-core peft-lora peft-mos peft-shadow peft-masa peft-lift"
# jars that must not travel: the CPU natives (111 MB), ONNX Runtime (93 MB, only the ONNX import
# uses it), the MiniLM ONNX artifact (83 MB), HF tokenizers' natives (19 MB), JUnit/JMH pieces the
# console launcher already holds or nothing on the device runs
EXCLUDE='pytorch-native-cpu|onnxruntime|langchain4j-embeddings|/tokenizers-|/junit-jupiter|/junit-platform|/opentest4j|/apiguardian|/jmh-'

cd "$ROOT"
if [[ "${1:-}" != "--skip-build" ]]; then
  echo "== mvn install -DskipTests (jars + test classes)" >&2
  $MVN install -DskipTests >&2
fi
rm -rf "$OUT"
mkdir -p "$OUT"/{lib,app,junit,djl-jni}
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "== test classpath of $MODULES" >&2
$MVN -pl "$MODULES" dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/gpu-cp.txt >&2
for m in ${MODULES//,/ }; do tr ':' '\n' < "$m/target/gpu-cp.txt"; echo; done | grep -v '^$' | sort -u \
  | grep -v '/io/peft4j/' | grep -Ev "$EXCLUDE" > "$TMP/deps.txt"
# one version per artifact (the modules' classpaths differ in a few patch versions): the highest
python3 - "$TMP/deps.txt" "$OUT/lib" <<'PY'
import os, re, shutil, sys
best = {}
for path in open(sys.argv[1]).read().split():
    version_dir = os.path.dirname(path)
    artifact = os.path.basename(os.path.dirname(version_dir))
    key = (artifact, os.path.basename(path)[len(artifact) + len(os.path.basename(version_dir)) + 1:])  # + classifier
    version = tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", os.path.basename(version_dir)))
    if key not in best or version > best[key][0]:
        best[key] = (version, path)
for _, path in best.values():
    shutil.copy(path, sys.argv[2])
PY
# DJL's JNI jar holds the glue for every platform; only linux-x86_64 (cpu, cu128) can run there
python3 - "$OUT"/lib/pytorch-jni-*.jar <<'PY'
import os, sys, zipfile
src = sys.argv[1]; tmp = src + ".tmp"
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zo:
    for item in zi.infolist():
        if not item.filename.startswith("jnilib/") or item.filename.startswith("jnilib/linux-x86_64/") \
                or not item.filename.count("/") > 1:
            zo.writestr(item, zi.read(item.filename))
os.replace(tmp, src)
PY
for m in ${MODULES//,/ }; do cp "$m/target/$m-"*[0-9T].jar "$OUT/app/"; done
for m in $TEST_MODULES; do
  (cd "$m/target/test-classes" && jar cf "$OUT/app/$m-tests.jar" .)
done
cp "peft-examples/target/peft-examples-"*[0-9T].jar "$OUT/app/"   # peft-bench's main code uses the CLI's model loader

echo "== $JUNIT_CONSOLE" >&2
# online: the launcher is not a build dependency, so an offline local repository may lack it
mvn -B -q dependency:copy -Dartifact="$JUNIT_CONSOLE" -DoutputDirectory="$OUT/junit" >&2

echo "== jdeps: the JDK modules the jars need" >&2
# modular jars make jdeps resolve their module graph and fail on missing modules: analyse
# copies without module-info (as plain class-path jars)
mkdir -p "$TMP/plain"
for j in "$OUT"/lib/*.jar "$OUT"/app/*.jar "$OUT"/junit/*.jar; do
  cp "$j" "$TMP/plain/"
  python3 - "$TMP/plain/$(basename "$j")" <<'PY'
import sys, zipfile, shutil, os
src = sys.argv[1]; tmp = src + ".tmp"
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zo:
    for item in zi.infolist():
        if not item.filename.endswith("module-info.class"):
            zo.writestr(item, zi.read(item.filename))
os.replace(tmp, src)
PY
done
MODS=""
for j in "$TMP"/plain/*.jar; do
  m=$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 17 "$j" 2>/dev/null | tail -1 || true)
  MODS="$MODS,$m"
done
# + jdk.unsupported (sun.misc.Unsafe: Guava, JNA), jdk.zipfs (JUnit reads jars through it), java.xml
# (JUnit's XML reports): modular jars hide their needs from the loop above
# Dropped although jdeps lists them (the runtime must fit the 64 MiB): java.desktop (AWT/ImageIO:
# DJL's image factory, JNA's AWT helpers, the CLI's loss.png; nothing the device run loads),
# java.compiler (annotation-processing types of compile-time annotations), java.sql (Gson's
# optional java.sql.Date adapters, looked up reflectively). The CPU rehearsal runs every contract
# suite and the step harness on this runtime (results/gpu.md).
DROP='^(java\.desktop|java\.compiler|java\.sql)$'
MODS=$(echo "$MODS,java.base,jdk.unsupported,jdk.zipfs,java.xml" | tr ',' '\n' | grep -E '^(java|jdk)\.' | grep -Ev "$DROP" | sort -u | paste -sd,)
echo "modules: $MODS" >&2
"$JAVA_HOME/bin/jlink" --add-modules "$MODS" --strip-debug --no-header-files --no-man-pages --compress=2 \
  --output "$OUT/jre"
strip --strip-unneeded "$OUT/jre/lib/server/libjvm.so" 2>/dev/null || true
echo "$MODS" > "$OUT/jre/MODULES"

echo "== DJL $DJL_TAG PyTorch JNI sources from $DJL_SRC" >&2
if git -C "$DJL_SRC" rev-parse -q --verify "$DJL_TAG^{commit}" >/dev/null 2>&1; then
  git -C "$DJL_SRC" archive "$DJL_TAG" engines/pytorch/pytorch-native/CMakeLists.txt \
      engines/pytorch/pytorch-native/src/main/native engines/pytorch/pytorch-native/src/main/patch \
      api/src/main/native | tar -x -C "$OUT/djl-jni"
  # the header build.sh makes with javac -h (no JDK on the device): generated here
  mkdir -p "$TMP/jni-src" "$OUT/djl-jni/engines/pytorch/pytorch-native/build/include"
  git -C "$DJL_SRC" archive "$DJL_TAG" engines/pytorch/pytorch-engine/src/main/java | tar -x -C "$TMP/jni-src"
  API_JAR=$(ls "$OUT"/lib/api-0.35.0.jar)
  "$JAVA_HOME/bin/javac" -nowarn -cp "$API_JAR:$(ls "$OUT"/lib/slf4j-api-*.jar | head -1):$(ls "$OUT"/lib/jna-*.jar | head -1)" \
      -sourcepath "$TMP/jni-src/engines/pytorch/pytorch-engine/src/main/java" \
      -h "$OUT/djl-jni/engines/pytorch/pytorch-native/build/include" -d "$TMP/jni-classes" \
      "$TMP/jni-src/engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java" 2>&1 \
      | grep -v '^Note:' >&2 || true
  test -s "$OUT/djl-jni/engines/pytorch/pytorch-native/build/include/ai_djl_pytorch_jni_PyTorchLibrary.h"
  git -C "$DJL_SRC" rev-parse "$DJL_TAG^{commit}" > "$OUT/djl-jni/COMMIT"
else
  echo "WARNING: no DJL clone with tag $DJL_TAG at $DJL_SRC (fetch github:deepjavalibrary/djl, or set DJL_SRC):" \
       "the bundle cannot build the JNI on the device" >&2
fi
mkdir -p "$OUT/djl-jni/jni-include"
cp "$JAVA_HOME/include/jni.h" "$JAVA_HOME/include/linux/jni_md.h" "$OUT/djl-jni/jni-include/"

{
  echo "built $(date -u +%FT%TZ) from $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo '+dirty')"
  "$OUT/jre/bin/java" -version 2>&1 | head -1
  echo "jdk modules: $MODS"
  (cd "$OUT" && ls lib app junit)
} > "$OUT/MANIFEST.txt"

BYTES=$(du -sb "$OUT" | cut -f1)
MIB=$(( (BYTES + 1048575) / 1048576 ))
echo "gpu-bundle: $BYTES bytes ($MIB MiB): jre $(du -sh "$OUT/jre" | cut -f1), lib $(du -sh "$OUT/lib" | cut -f1)," \
     "app $(du -sh "$OUT/app" | cut -f1), junit $(du -sh "$OUT/junit" | cut -f1), djl-jni $(du -sh "$OUT/djl-jni" | cut -f1)"
if (( MIB > LIMIT_MIB )); then
  echo "gpu-bundle is $MIB MiB, over the $LIMIT_MIB MiB it may take of the 64 MiB that travel" >&2
  exit 1
fi
