from __future__ import annotations

import pytest


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both connection eras the SDK serves: `legacy` (the initialize handshake, 2025-11-25, what
    stdio hosts speak today) and `auto` (the 2026-07-28 per-request path)."""
    return str(request.param)
