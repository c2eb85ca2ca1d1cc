"""Make the shared contract suite importable as `contract` from the backend test modules.

Tests run with `--import-mode=importlib`, which does not put test directories on `sys.path`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# Plain asserts in the contract module get pytest's detailed failure messages.
pytest.register_assert_rewrite("contract")
