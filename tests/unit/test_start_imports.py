"""Starting the bot loads what every update needs, not what only reports need: matplotlib,
numpy, Pillow and openpyxl (about 57 MB of a process's memory) come with the first report."""

from __future__ import annotations

import json
import subprocess
import sys

REPORT_ONLY = ("matplotlib", "numpy", "PIL", "openpyxl")


def test_the_bot_starts_without_the_report_libraries() -> None:
    probe = (
        "import json, sys; import bot.app, bot.cli; "
        f"print(json.dumps([m for m in {REPORT_ONLY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []
