"""The one kind of failure a user fixes: bad input, missing files, no network.

Library code raises `UserError` with a one-line message that names the file or
value and says what to do. Entry points (the `main` of each `cxr` subcommand, wrapped in
`exits_cleanly`) print it as `error: <message>` on stderr and exit with `EXIT_CODE`,
without a traceback. Everything else is a bug and keeps its traceback.

The lowest layer of cxr: every module may import it, and it imports nothing of cxr.
"""

import functools
import sys

EXIT_CODE = 2


class UserError(Exception):
    """Input the user must fix; its message is the one line shown."""


def exits_cleanly(main):
    """Wraps an entry point: a `UserError` becomes one stderr line and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(EXIT_CODE)

    return wrapper
