"""``python -m bot`` is the same as the ``aduan`` command."""

from bot.cli import main

raise SystemExit(main())
