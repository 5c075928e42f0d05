"""The public surface changes only on purpose, and the distribution ships every package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import citycredit
import citycredit.errors
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_sdk_exports() -> None:
    assert sorted(citycredit.__all__) == sorted([
        "Agreement", "Algorithm", "Category", "CityCreditError", "CodeError", "Decision", "GatewayClient",
        "GatewayVerifier", "IssuedCode", "Issuer", "Offer", "Reason", "Redemption", "SigningKey", "StatusFetch",
        "Tier", "TrustAnchor", "TrustSnapshot", "VerifiedCode", "Verifier", "VerifierConfig",
        "VerifyingKey", "holder_pseudonym",
    ])
    for name in citycredit.__all__:
        assert getattr(citycredit, name) is not None


def test_every_error_is_exported_and_registered() -> None:
    registry = citycredit.errors.all_errors()
    exported = {getattr(citycredit.errors, n) for n in citycredit.errors.__all__}
    assert set(registry.values()) <= exported
    for code, cls in registry.items():
        assert code.startswith("CC_") and cls.__name__.endswith("Error")
        assert cls.code in citycredit.errors.__doc__  # the tree drawn in the docstring names it
        assert isinstance(citycredit.errors.error_for_code(code), cls)
        assert 400 <= cls.http_status < 600


def test_pyproject_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {  # the mapped folders are disjoint, so each package is named by its own mapping
        ".".join((package, *init.parent.relative_to(ROOT / folder).parts))
        for package, folder in config["package-dir"].items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"


@pytest.mark.slow
def test_sdk_installs_and_verifies_without_server_extras(tmp_path: Path) -> None:
    """A merchant's `pip install citycredit` pulls no server dependency and verifies a code."""
    # From a copy of the sources: a build in the tree itself would leave build/ behind, and stale modules there
    # would go into the wheel unseen.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "node_modules", ".*_cache",
                                                                 ".import-graph", ".citycredit", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    built = subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True, env=env, timeout=600,
                           capture_output=True, text=True)
    # The build says nothing of package data: its data folders are declared as such, not found as packages.
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr
    script = (
        "import importlib.util, citycredit\n"
        "from citycredit.testing import InMemoryAlliance\n"
        "a = InMemoryAlliance(now_s=1795000000)\n"
        "print(a.verifier().verify(a.issue(330100).code).tier.name)\n"
        "print([m for m in ('fastapi', 'grpc', 'sqlmodel', 'uvicorn', 'alembic')"
        " if importlib.util.find_spec(m)])\n"
    )
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout.split("\n")
    assert out[0] == "GOOD"
    assert out[1] == "[]"
