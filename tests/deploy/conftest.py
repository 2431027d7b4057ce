"""Deploy tests load Settings from what Terraform renders: no CONTROLPLANE_* from the caller."""

from __future__ import annotations

import os

import pytest

from controlplane.config import ENV_PREFIX


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
