#!/usr/bin/env bash
# One-command setup, safe to re-run: system libs, a venv with ROS 2 rclpy (PyPI wheels), torch
# (CPU), MuJoCo, Pinocchio and the rest; vla_interfaces built with colcon; project packages
# installed in editable mode. Each step is skipped when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VLA_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
say() { echo "[setup] $*"; }

# 1. System libraries: OSMesa for headless MuJoCo rendering (no GPU here).
if ! ldconfig -p 2>/dev/null | grep -q libOSMesa; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing libosmesa6 (headless rendering)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libosmesa6 >/dev/null
  else
    say "WARNING: libOSMesa not found and cannot apt-get install it; camera rendering will fail"
  fi
fi

# 2. Virtual environment and pinned Python packages.
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
REQ_HASH="$(cat requirements.txt requirements.lock | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.vla_requirements" 2>/dev/null)" != "$REQ_HASH" ]; then
  say "installing pinned packages (about 2 minutes on a fresh machine)"
  FIND_LINKS=()
  [ -d /opt/wheels ] && FIND_LINKS=(--find-links /opt/wheels)
  "${PIP[@]}" install "${FIND_LINKS[@]}" -r requirements.txt -c requirements.lock
  # gym-aloha only for its ALOHA MJCF assets: without gymnasium & co.
  "${PIP[@]}" install --no-deps gym-aloha==0.1.5
  echo "$REQ_HASH" > "$VENV/.vla_requirements"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# 3. The message wheels' CMake exports name the include dirs of the machine that built them:
#    point them at this Python's and this venv's numpy include dirs (ENVIRONMENT.md).
PYINC="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NPINC="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
{ grep -rl "/opt/python/cp311-cp311" "$VENV/share" --include="*.cmake" 2>/dev/null || true; } | while read -r f; do
  sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
         -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g" "$f"
done

# 4. Build vla_interfaces with colcon; rebuild only when a msg/srv/CMake file changed.
IF_HASH="$(cat src/vla_interfaces/msg/* src/vla_interfaces/srv/* src/vla_interfaces/CMakeLists.txt src/vla_interfaces/package.xml | sha256sum | cut -c1-16)"
if [ "$(cat install/vla_interfaces/.vla_hash 2>/dev/null)" != "$IF_HASH" ]; then
  say "building vla_interfaces with colcon"
  rm -rf build/vla_interfaces install/vla_interfaces
  ( export PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    "$VENV/bin/colcon" build --base-paths src/vla_interfaces --build-base build --install-base install \
      --event-handlers console_cohesion- > build_interfaces.log 2>&1 ) || {
    echo "[setup] colcon build of vla_interfaces failed; last lines of build_interfaces.log:"; tail -30 build_interfaces.log; exit 1; }
  echo "$IF_HASH" > install/vla_interfaces/.vla_hash
fi
# Make the built interfaces importable from the venv without sourcing anything: the ROS wheels
# put <venv>/lib on LD_LIBRARY_PATH at interpreter start, so the libraries go there.
for f in "$ROOT"/install/vla_interfaces/lib/*.so; do ln -sf "$f" "$VENV/lib/"; done
echo "$ROOT/install/vla_interfaces/lib/python3.11/site-packages" > "$SITE/vla_interfaces.pth"

# 5. The project's Python packages, editable.
PKGS=(vla_common vla_sim vla_controller vla_safety vla_action_expert vla_planner vla_tools)
PKG_HASH="$(for p in "${PKGS[@]}"; do cat "src/$p/setup.py"; done | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.vla_packages" 2>/dev/null)" != "$PKG_HASH" ]; then
  say "installing project packages (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation $(for p in "${PKGS[@]}"; do echo "-e src/$p"; done) \
    > setup_packages.log 2>&1 || { tail -30 setup_packages.log; exit 1; }
  echo "$PKG_HASH" > "$VENV/.vla_packages"
fi

"$VENV/bin/python" -c "import rclpy, vla_interfaces.msg, torch, mujoco, pinocchio, transformers" \
  || { say "import check failed"; exit 1; }
say "ready: $VENV"
