#!/usr/bin/env bash
# The test suite: unit tests of every package, then the integration tests that start real node
# processes over DDS. Each graph test picks its own ROS_DOMAIN_ID.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-osmesa}" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-osmesa}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
