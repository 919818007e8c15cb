"""JupyterLab on the chapters: ``make lab`` (``python -m neurotype.book.lab``).

The chapters are percent-format ``.py`` files. jupytext's server extension (installed with
jupytext, enabled by its ``jupyter_server_config.d`` file) puts a contents manager in front of
JupyterLab that reads a ``.py`` chapter as a notebook and writes it back to the same ``.py`` file
on save (outputs are not kept: the ``.py`` stays the source of truth, and no ``.ipynb`` appears).
The settings in ``jupyterlab/overrides.json`` beside this module make *Jupytext Notebook* the
default viewer of Python files, so a double click on a chapter opens it as a notebook.

A chapter's kernel runs in ``book/``, so its default ``results_dir = "results"`` writes to
``book/results/`` (ignored by git), not over the ``results/`` of ``make book``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from neurotype import paths

__all__ = ["SETTINGS_DIR", "lab_command", "main"]

#: JupyterLab's application settings directory for the chapters (``overrides.json``).
SETTINGS_DIR: Path = Path(__file__).with_name("jupyterlab")


def lab_command(root: Path | str = paths.BOOK, *, port: int | None = None, token: str | None = None,
                open_browser: bool = True, ip: str = "127.0.0.1", expose_app: bool = False) -> list[str]:
    """The ``jupyter lab`` command line serving ``root`` with the chapters' settings.

    Parameters
    ----------
    root : path-like, default book/
        Folder JupyterLab serves.
    port : int, optional
        Default: JupyterLab's (8888, or the next free one).
    token : str, optional
        Default: a random token, printed with the URL.
    open_browser : bool, default True
    ip : str, default "127.0.0.1"
        Listen on localhost only.
    expose_app : bool, default False
        Make ``window.jupyterapp`` available to scripts in the page (the browser test drives JupyterLab
        through it).

    Returns
    -------
    list of str
    """
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={Path(root)}", f"--ServerApp.ip={ip}",
               f"--LabApp.app_settings_dir={SETTINGS_DIR}",
               # offline: no news feed, no update check, no PyPI look-ups from the extension manager
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
    if port is not None:
        command += [f"--port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        command.append("--no-browser")
    if expose_app:
        command.append("--LabApp.expose_app_in_browser=True")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses without this
        command.append("--allow-root")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurotype.book.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="default: 8888 or the next free port")
    parser.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    args = parser.parse_args(argv)
    command = lab_command(port=args.port, open_browser=not args.no_browser)
    try:
        return subprocess.call(command, cwd=paths.BOOK)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
