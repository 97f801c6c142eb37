"""The layout's rules, checked: the import layers (``lint-imports``) and the size of
``registrations/`` (``docs/architecture.md``, "Layers")."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_code(tmp_path: Path) -> Path:
    for name in ("registrations", "courses"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_hold():
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward_import"),
    [
        ("courses/catalogue.py", "from registrations.seats import queries"),
        ("registrations/enums.py", "from registrations.payments import checkout"),
        ("registrations/messaging/outbox.py", "from registrations.messaging import broadcasts"),
        ("registrations/seats/booking.py", "from registrations.payments import cancellation"),
    ],
)
def test_an_import_that_points_up_fails_the_check(tmp_path, module, upward_import):
    root = copy_of_the_code(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{upward_import}  # noqa\n")
    result = run_lint_imports(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_registrations_has_at_most_15_modules_directly_under_it():
    modules = sorted(p.name for p in (ROOT / "registrations").glob("*.py"))
    assert len(modules) <= 15, modules
