"""JupyterLab 4 in a real browser: serve the repository on localhost, open the tutorial in
headless Chromium (Debian's, driven through chromedriver), run it from the UI, and check that
the token table and the plots are rendered in the page (trusted, so as SVG)."""

import shutil
import sys
from pathlib import Path

import pytest

from conftest import NOTEBOOKS, artifacts_dir, browser, lab_server, wait_for
from test_untrusted import check_table_styles

# The JupyterLab 4 of .venv, which runs these tests.
REPO_JUPYTER = Path(sys.executable).parent / "jupyter"

TOKEN = "transformer-nb-e2e"


@pytest.fixture
def jupyterlab():
    """A JupyterLab 4 server on localhost, rooted at the repository, with a scratch copy of the
    tutorial (so that autosave never touches the committed notebook)."""
    scratch = NOTEBOOKS / "_e2e_browser.ipynb"
    shutil.copy(NOTEBOOKS / "00-tutorial.ipynb", scratch)
    try:
        with lab_server(REPO_JUPYTER, "browser", TOKEN) as base:
            yield base
    finally:
        scratch.unlink(missing_ok=True)


def test_tutorial_runs_in_jupyterlab_and_renders_tables_and_plots(jupyterlab):
    driver = browser()
    try:
        # ?reset: not the user's saved workspace, which may reopen other notebooks (and start
        # their kernels) beside this one.
        driver.get(f"{jupyterlab}/lab/tree/notebooks/_e2e_browser.ipynb?reset&token={TOKEN}")
        wait_for(driver, "return window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", 120, "the notebook")
        # The kernel named in the notebook's metadata must come up idle before we run anything.
        wait_for(
            driver,
            """const w = window.jupyterapp.shell.currentWidget;
               return w && w.sessionContext && w.sessionContext.session &&
                      w.sessionContext.session.kernel && w.sessionContext.session.kernel.name === 'transformer-nb' &&
                      w.sessionContext.session.kernel.status === 'idle';""",
            180,
            "the transformer-nb kernel",
        )
        # Outputs committed with the notebook are cleared first, so what we see comes from this run.
        driver.execute_script(
            "window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');"
            "window.jupyterapp.commands.execute('notebook:run-all-cells');"
        )
        wait_for(
            driver,
            """const w = window.jupyterapp.shell.currentWidget;
               const cells = w.content.widgets.filter(c => c.model.type === 'code');
               return cells.length > 0 && cells.every(c => c.model.executionCount !== null) &&
                      w.sessionContext.session.kernel.status === 'idle';""",
            1800,
            "every cell to run",
        )
        errors = driver.execute_script("return document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]').length")
        tables = driver.execute_script(
            "return [...document.querySelectorAll('.jp-RenderedHTMLCommon table')].map(t => t.textContent)"
        )
        svg_outputs = driver.execute_script(
            "return document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"image/svg+xml\"] img, .jp-RenderedSVG img, .jp-RenderedSVG svg').length"
        )
        # Trusted now (it ran here): the tables look as they do untrusted.
        check_table_styles(driver, "jupyterlab4, trusted")
        driver.execute_script("document.querySelector('.jp-Notebook').scrollTop = 0")
        driver.save_screenshot(str(artifacts_dir("browser") / "tutorial-top.png"))
        driver.execute_script(
            "const p = document.querySelector('.jp-RenderedSVG'); if (p) p.scrollIntoView();"
        )
        driver.save_screenshot(str(artifacts_dir("browser") / "tutorial-plot.png"))
    finally:
        driver.quit()
    assert errors == 0
    assert any("[CLS]" in t and "[SEP]" in t and "attention mask" in t for t in tables), tables
    assert svg_outputs >= 3, f"{svg_outputs} SVG outputs rendered"
