#!/usr/bin/env bash
# CI: the installed tool, as a user gets it. Builds the wheel, installs it (not editable) into fresh
# venvs outside the source tree and runs the commands from another directory:
#   1. the full install (torch first, then the wheel with its `train` extra): --help, a tiny
#      training on a user's single CSV with a user config folder, export, predict;
#   2. the runtime-only install (the wheel alone): `import torch` must fail, predict must work on
#      the bundle trained in 1.
# Usage: scripts/ci_wheel_check.sh [work dir]   (default: a fresh temporary directory, removed at
# exit: its venvs take 1.6 GB, and CI machines may share a small disk; a given work dir is kept)
# TORCH_SPEC (default torch==2.13.0) is installed first, so pip does not pull a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
if [ -n "${1:-}" ]; then
  WORK="$1"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/bilstm-clf-wheel.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
fi
case "$WORK" in "$ROOT"|"$ROOT"/*) echo "error: the work dir must be outside the source tree" >&2; exit 2;; esac
mkdir -p "$WORK"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
step() { printf '\n== %s\n' "$*"; }
fail() { echo "ci_wheel_check: FAILED: $*" >&2; exit 1; }

step "build the wheel"
rm -rf "$WORK/dist" "$WORK/venv-build"
"$PYTHON" -m venv "$WORK/venv-build"  # its own pip: a fresh machine's python3 may have none
"$WORK/venv-build/bin/pip" wheel -q --no-deps -w "$WORK/dist" "$ROOT"
WHEEL="$(ls "$WORK"/dist/bilstm_clf-*.whl)"
echo "$WHEEL"
"$PYTHON" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for needed in ("bilstm_clf/configs/train.yaml", "bilstm_clf/configs/data/custom.yaml", "bilstm_clf/serving/runtime.py"):
    assert needed in names, f"{needed} missing from the wheel"
assert not any(n.startswith(("tests/", "configs/", "scripts/")) for n in names), "the wheel carries files outside the package"
print(f"{len(names)} files, configs included")
PY

step "full install: $TORCH_SPEC, then the wheel with [train]"
rm -rf "$WORK/venv-train"
"$PYTHON" -m venv "$WORK/venv-train"
"$WORK/venv-train/bin/pip" install -q "$TORCH_SPEC"
"$WORK/venv-train/bin/pip" install -q "$WHEEL[train]"
BIN="$WORK/venv-train/bin"

step "a user's project in another directory"
USER_DIR="$WORK/user-project"
rm -rf "$USER_DIR"
mkdir -p "$USER_DIR/conf/data"
cd "$USER_DIR"
"$BIN/python" - <<'PY'
import csv, random
random.seed(0)
good = ["a gorgeous , witty film", "warm and funny", "a moving story", "sharp and smart", "wonderful acting"]
bad = ["a dull mess", "boring and long", "a waste of time", "flat , lifeless", "awful dialogue"]
with open("reviews.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["review", "stars"])
    for i in range(60):
        pos = i % 2 == 0
        w.writerow([random.choice(good if pos else bad), "good" if pos else "bad"])
PY
# a user config folder: their data config on top of the shipped `custom` one
cat > conf/data/reviews.yaml <<'YAML'
defaults:
  - custom
name: reviews
data_dir: .
train_file: reviews.csv
text_field: review
label_field: stars
YAML
"$BIN/bilstm-clf-train" --help > help.txt
grep -q "^data: " help.txt || fail "--help does not list the config groups"
"$BIN/bilstm-clf-train" --config-dir conf data=reviews embeddings=none \
    model.embedding_dim=8 model.hidden_size=8 trainer.max_epochs=1 callbacks.progress_bar.refresh_rate=0 \
    hydra.run.dir=logs/runs/reviews/ci | tee train.out
RUN="$USER_DIR/logs/runs/reviews/ci"
test -f "$RUN/metrics.json" || fail "no metrics.json under the current directory's logs/"
test -f "$RUN/bundle/model.onnx" || fail "no bundle after training"
grep -q "no test split" train.out || fail "a single CSV should say there is no test split"

step "export and predict (full install)"
"$BIN/bilstm-clf-export" "$RUN" --out "$USER_DIR/exported"
printf 'a witty film\na dull mess\n' > texts.txt
"$BIN/bilstm-clf-predict" --bundle "$USER_DIR/exported" --input texts.txt | tee predictions.jsonl
test "$(grep -c '"label": "\(good\|bad\)"' predictions.jsonl)" = 2 || fail "predict did not label both texts"

step "runtime-only install: the wheel alone"
rm -rf "$WORK/venv-runtime"
"$PYTHON" -m venv "$WORK/venv-runtime"
"$WORK/venv-runtime/bin/pip" install -q "$WHEEL"
RBIN="$WORK/venv-runtime/bin"
if "$RBIN/python" -c "import torch" 2>/dev/null; then fail "torch is importable in the runtime-only install"; fi
echo "import torch fails here, as it should"
cd "$WORK"
"$RBIN/bilstm-clf-predict" --bundle "$RUN/bundle" "a witty film" "a dull mess" | tee runtime.jsonl
test "$(grep -c '"label": "\(good\|bad\)"' runtime.jsonl)" = 2 || fail "runtime-only predict did not label both texts"
"$RBIN/python" -c "from bilstm_clf.serving.runtime import Classifier; print(Classifier.load('$RUN/bundle').labels)"
set +e
"$RBIN/bilstm-clf-train" --help 2> train-missing.err; rc=$?
set -e
test "$rc" = 2 && grep -q "bilstm-clf\[train\]" train-missing.err || fail "bilstm-clf-train without the extra should name the install command (exit 2)"
cat train-missing.err

step "ci_wheel_check: OK"
