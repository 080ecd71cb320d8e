"""What strata says when a deploy needs the Pulumi CLI and it is not there, or when it is bypassed.

``strata plan``, ``strata stacks`` and ``strata packs`` need no Pulumi CLI. Deploying does: ``pulumi up``
runs the program in ``stacks/`` under the Pulumi engine, and the Automation API drives the same
``pulumi`` executable. Without it, users got a ``FileNotFoundError`` traceback from deep inside the
Automation API, or -- running ``python -m stacks`` -- a ``RunError`` traceback about a stack named
``stack``. Every such entry point now says, in one line, what is needed and where to get it.

This module imports no Pulumi, so entry points can check before loading the SDK.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pulumi import automation as auto

INSTALL_URL = "https://www.pulumi.com/docs/install/"


class PulumiCliMissing(RuntimeError):
    """The Pulumi CLI is not on PATH; the message says what needed it and how to install it."""


def cli_path() -> str | None:
    """The ``pulumi`` executable the Automation API would run (it looks it up on PATH), or None."""
    return shutil.which("pulumi")


def missing_message(what: str) -> str:
    """One line: ``<what> needs the Pulumi CLI, which is not installed (no pulumi on PATH): ...``."""
    return (
        f"{what} needs the Pulumi CLI, which is not installed (no `pulumi` on PATH): install it from "
        f"{INSTALL_URL} (`strata plan` works without it)"
    )


def require_cli(what: str) -> str:
    """The path of the Pulumi CLI, or :class:`PulumiCliMissing` naming ``what`` needed it."""
    path = cli_path()
    if path is None:
        raise PulumiCliMissing(missing_message(what))
    return path


def local_stack(stack_name: str, work_dir: str | Path, **workspace_options: Any) -> auto.Stack:
    """``create_or_select_stack`` of a stack of the strata project in ``work_dir``, checking for the CLI first.

    The Automation API shells out to ``pulumi``; without it the SDK fails with a bare
    ``FileNotFoundError``. ``workspace_options`` are passed to ``LocalWorkspaceOptions``.
    """
    require_cli(f"deploying stack {stack_name} through the Automation API")
    from pulumi import automation as auto

    return auto.create_or_select_stack(
        stack_name=stack_name, work_dir=str(work_dir), opts=auto.LocalWorkspaceOptions(**workspace_options)
    )


def under_engine() -> bool:
    """True when this process runs a program for the Pulumi engine (``pulumi up``, the Automation API or mocks).

    The engine's language host configures the resource monitor before it runs the program; ``python
    <program>`` leaves it unset.
    """
    from pulumi.runtime import settings

    return settings.get_monitor() is not None


def refuse_direct_run(program: str, folder: str) -> NoReturn:
    """End ``python -m <program>`` with one line saying how the program is run instead; exit code 2."""
    if cli_path() is None:
        message = missing_message(f"{program} is a Pulumi program: it")
    else:
        message = (
            f"{program} is a Pulumi program, run by the Pulumi CLI, not by python: "
            f"`pulumi stack select <stack>` then `pulumi up` in {folder} (`pulumi` is {cli_path()})"
        )
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)
