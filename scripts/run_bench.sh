#!/usr/bin/env bash
# `make bench`: every benchmark under bench/ with its defaults, one after the other (they print
# measured figures only; run them on a quiet machine). Extra arguments go to each script.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-osmesa}" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-osmesa}"
failed=()
for b in bench/bench_*.py; do
  echo "=== $b"
  .venv/bin/python "$b" "$@" || failed+=("$b")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "benchmarks that failed: ${failed[*]}"
  exit 1
fi
