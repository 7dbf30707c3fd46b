"""Issue 9's robustness matrix, one test per case (the cases are in ``cases.py``)."""

from __future__ import annotations

import pytest

from .cases import CASES, Skip, Workspace
from .media import needs_ffmpeg

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """One workspace for the module: the inputs are made once and shared by the cases."""
    return Workspace(tmp_path_factory.mktemp("robustness"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, workspace):
    workspace.commands = []
    try:
        case.run(workspace)
    except Skip as e:
        pytest.skip(str(e))
