"""The ``strata`` executable's entry point, kept free of imports so that Ctrl-C always exits cleanly.

Loading the CLI (pydantic models, the catalogue code, rich) takes a second or two on a busy machine; a user
who presses Ctrl-C in that time, having typed the wrong environment, must get the same quiet exit code 130
as later on (the CLI maps an interrupt to 130 itself), not a traceback of whichever import was running.
"""

from __future__ import annotations


def main() -> None:
    try:
        from stacks.cli import app
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    app()
