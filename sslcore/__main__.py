"""``python -m sslcore``.

Python puts the working directory first on ``sys.path`` for ``python -m``; it is removed
here (as ``python -P`` / ``PYTHONSAFEPATH`` would) before the CLI imports anything else, so
that modules and plugin distributions (``*.dist-info``) lying in whatever folder the
command is run from are not imported. The package itself is imported already.
"""

import os
import sys


def _drop_working_directory_entry() -> str | None:
    """Remove ``sys.path[0]`` when it is the working directory Python added; returns it."""
    if sys.flags.safe_path or not sys.path:
        return None
    first = sys.path[0]
    try:
        if first not in ("", os.curdir) and os.path.realpath(first) != os.path.realpath(os.getcwd()):
            return None
    except (OSError, TypeError, ValueError):
        return None
    del sys.path[0]
    return os.path.abspath(first or os.curdir)


_removed = _drop_working_directory_entry()
if _removed is not None:
    import sslcore.plugins.manager

    sslcore.plugins.manager.removed_working_directory = _removed

from sslcore.cli import main  # noqa: E402 - after the path fix, on purpose

sys.exit(main())
