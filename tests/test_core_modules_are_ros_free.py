"""Every core module (anything not a ``*_node`` or ``ros_*`` adapter) must import without rclpy."""
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
ADAPTER_PREFIXES = ("ros_",)
ADAPTER_SUFFIXES = ("_node",)


def core_modules() -> list[str]:
    mods = []
    for pkg in sorted(p for p in SRC.iterdir() if (p / p.name / "__init__.py").is_file()):
        for f in sorted((pkg / pkg.name).rglob("*.py")):
            stem = f.stem
            if stem.startswith(ADAPTER_PREFIXES) or stem.endswith(ADAPTER_SUFFIXES):
                continue
            rel = f.relative_to(pkg).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods.append(".".join(parts))
    return mods


def test_core_modules_found():
    assert "vla_common.config" in core_modules()


@pytest.mark.parametrize("module", core_modules())
def test_core_module_does_not_load_rclpy(module):
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            "bad = [m for m in ('rclpy', 'rclpy.node') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{module} loaded rclpy or failed to import:\n{r.stdout}\n{r.stderr[-2000:]}"
