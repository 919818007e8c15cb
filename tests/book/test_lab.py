"""JupyterLab is a way into the chapters: a real headless Chromium opens a `.py` chapter in a real JupyterLab
(jupytext's contents manager) as a notebook, runs every cell with smoke parameters, finds outputs and no
error, and saves the notebook back to the `.py` file.

The chapter (book/01_data.py, the quickest) is copied into a temporary folder with its parameters set to
``profile = "smoke"`` and ``results_dir`` inside that folder, so nothing is written into the repository's
results/. Needs Debian's chromium and chromium-driver (``make browser-env``): skipped without them, but
under CI a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest

from neurotype import paths
from neurotype.book.check import CHROMIUM_FLAGS
from neurotype.book.lab import lab_command

pytestmark = pytest.mark.slow  # starts JupyterLab and headless Chromium: not part of make test-fast

CHAPTER = "01_data.py"
TIMEOUT_S = 300


def _browser_or_skip() -> tuple[str, str]:
    binary, driver = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(binary).exists() and Path(driver).exists()):
        reason = "chromium and chromedriver are needed (`make browser-env` installs them)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return binary, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _chapter_with_parameters(source: Path, target: Path, results_dir: Path) -> None:
    """Copy a chapter, setting the smoke profile and results_dir in its parameters cell (other lines untouched)."""
    notebook = jupytext.read(source)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = re.sub(r"^profile\s*=.*$", 'profile = "smoke"', cell.source, flags=re.MULTILINE)
    cell.source = re.sub(r"^results_dir\s*=.*$", f"results_dir = {str(results_dir)!r}", cell.source, flags=re.MULTILINE)
    assert 'profile = "smoke"' in cell.source and str(results_dir) in cell.source
    jupytext.write(notebook, target, fmt="py:percent")


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")} if folder.exists() else {}


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free localhost port with a token, serving a temporary copy of the chapter."""
    root = tmp_path / "lab"
    root.mkdir()
    results = tmp_path / "results"
    _chapter_with_parameters(paths.BOOK / CHAPTER, root / CHAPTER, results)
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path / "home"  # keep the user's ~/.jupyter and ~/.ipython out of it
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib"), "HOME": str(home), "IPYTHONDIR": str(home / "ipython"),
           "JUPYTER_CONFIG_DIR": str(home / "jupyter"), "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    command = lab_command(root, port=port, token=token, open_browser=False, expose_app=True)  # what `make lab` runs
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "token": token, "root": root, "results": results, "log": tmp_path / "jupyterlab.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# JavaScript run in the page: the notebook that is open, read from JupyterLab's own model.
_CURRENT = "const w = window.jupyterapp.shell.currentWidget; const nb = w && w.content && w.content.model;"
_STATE = _CURRENT + """
if (!nb || !w.sessionContext) { return null; }
const cells = [];
for (let k = 0; k < nb.cells.length; k++) {
  const c = nb.cells.get(k);
  cells.push({type: c.type, count: c.type === 'code' ? c.executionCount : null,
              outputs: c.type === 'code' ? c.outputs.toJSON() : []});
}
return {factory: w.context.factoryName || null, path: w.context.path, busy: w.sessionContext.kernelDisplayStatus,
        cells: cells};
"""


def test_a_py_chapter_opens_runs_and_saves_as_a_notebook_in_jupyterlab(lab):
    binary, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    repository_results = _snapshot(paths.ROOT / "results")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={lab['root'].parent / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)

    def wait_for(script: str, what: str, timeout: float = TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = driver.execute_script(script)
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; JupyterLab log:\n{lab['log'].read_text()[-3000:]}")

    try:
        # Opening the .py file's URL, as a double click in the file browser does.
        driver.get(f"{lab['url']}/lab/tree/{CHAPTER}?token={lab['token']}")
        wait_for("return Boolean(window.jupyterapp)", "JupyterLab to load")
        # Wait until the notebook holds every code cell of the chapter: the panel appears before its model is
        # filled, and an early look sees one empty cell.
        expected = sum(c.cell_type == "code" for c in jupytext.read(lab["root"] / CHAPTER).cells)
        state = wait_for(_STATE.replace("return {factory", "if (!w.context.isReady || cells.filter(c => c.type === "
                                        f"'code').length < {expected}) {{ return null; }}\nreturn {{factory"),
                         "the chapter to open with all its cells")
        assert state["path"] == CHAPTER
        assert driver.execute_script("return document.querySelectorAll('.jp-NotebookPanel').length") >= 1, \
            "the .py chapter did not open as a notebook"
        wait_for(_CURRENT + "return w.sessionContext.session && w.sessionContext.session.kernel "
                 "&& w.sessionContext.kernelDisplayStatus === 'idle';", "the kernel to start")
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        code_cells = [c for c in state["cells"] if c["type"] == "code"]
        state = wait_for(_STATE.replace("return {factory", "if (!cells.filter(c => c.type === 'code').every(c => c.count)"
                                        " || w.sessionContext.kernelDisplayStatus !== 'idle') { return null; }\n"
                                        "return {factory"), "every cell to run")
        ran = [c for c in state["cells"] if c["type"] == "code"]
        assert len(ran) == len(code_cells) and all(c["count"] for c in ran)
        outputs = [o for c in ran for o in c["outputs"]]
        errors = [o for o in outputs if o["output_type"] == "error"]
        assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}"
        assert driver.execute_script("return document.querySelectorAll('.jp-OutputArea-output[data-mime-type="
                                     "\"application/vnd.jupyter.error\"]').length") == 0
        kinds = {key for o in outputs for key in o.get("data", {})}
        # Figures are shown (image/png) or glued for the book by myst_nb (papermill.record/image/png).
        assert any(kind.endswith("image/png") for kind in kinds), f"no figure among the outputs ({sorted(kinds)})"
        assert "text/html" in kinds, f"no table among the outputs ({sorted(kinds)})"
        assert (lab["results"] / "01_data").is_dir(), "the chapter wrote nothing to its results_dir"

        # Edit and save in JupyterLab: jupytext writes the notebook back to the .py file, and only there.
        driver.execute_script(_CURRENT + "nb.sharedModel.insertCell(0, {cell_type: 'markdown', "
                              "source: 'Saved from JupyterLab by the test.'});"
                              "return window.jupyterapp.commands.execute('docmanager:save');")
        saved = lab["root"] / CHAPTER
        deadline = time.monotonic() + 60
        while "Saved from JupyterLab by the test." not in saved.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        text = saved.read_text()
        assert "# Saved from JupyterLab by the test." in text and "# %%" in text
        assert jupytext.read(saved).cells[0].source == "Saved from JupyterLab by the test."
        assert sorted(p.name for p in lab["root"].iterdir() if not p.name.startswith(".")) == [CHAPTER]
    finally:
        driver.quit()
    assert _snapshot(paths.ROOT / "results") == repository_results, "the chapter wrote into the repository's results/"
