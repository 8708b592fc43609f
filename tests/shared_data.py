"""Where the real market data for tests lives: ``../shared/data`` beside the project (CI has it too).

``SPOTLAB_SHARED_DATA`` points elsewhere. The files are read in place, never copied into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(os.environ.get("SPOTLAB_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
if not (DATA / "SOURCES.md").is_file():
    raise RuntimeError(
        f"the real market data the tests use is expected in {DATA} (../shared/data beside the project); "
        "set SPOTLAB_SHARED_DATA to where it is"
    )
