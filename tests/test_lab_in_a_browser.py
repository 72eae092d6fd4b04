"""The lab as a person uses it: `make lab` and `make workshop` started as the README says, and a
real Chromium (the system's, driven by Playwright) opening the address they print.

Each lab serves a copy of notebooks/ (LAB_DIR), so running lessons in the page never changes the
stored lessons, and reads its settings and workspaces from folders of its own, so nobody's own
JupyterLab layout reaches it. A failing test leaves a screenshot of the page in test-results/.

Each test starts and ends Playwright itself: its synchronous API runs an event loop in the
test's thread while it is open, and a session-long one would be in the way of every later test
on the same worker that runs asyncio (nbclient, the terminal tests).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import nbformat
import pytest

from helpers.config import PROJECT_DIR
from helpers.ops import browser as system_browser
from helpers.ops.processes import group_alive, stop_with_owner
from helpers.waiting import poll
from kernel_ports import free_port
from lesson_kernels import exercises
from limits import NEVER_HANGS

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

CHROMIUM = system_browser.find()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium here: {system_browser.install_command()}")
NOTEBOOKS = PROJECT_DIR / "notebooks"
ADDRESS = re.compile(r"(http://127\.0\.0\.1:\d+/lab\S*\?token=\w+)")
LESSONS = sorted(path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


RESULTS = PROJECT_DIR / "test-results"


@pytest.fixture
def page(request):
    """A page of the system's Chromium (as root it needs --no-sandbox, and a container's /dev/shm
    is small); its screenshot is kept in test-results/ when the test fails."""
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        opened = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        try:
            yield opened
        finally:
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                RESULTS.mkdir(exist_ok=True)
                opened.screenshot(path=str(RESULTS / f"{request.node.name}.png"))
            browser.close()


class Lab:
    """`make <target>` serving a copy of the lessons; ``address`` is the one it printed."""

    def __init__(self, target, folder):
        self.folder = folder
        self.lines = []
        settings = folder.parent / f"{target}-settings"
        # The terminal draws on a canvas; its screen-reader mode also writes the rows as text, which
        # the test reads. Nothing else differs from a learner's lab.
        terminal_settings = settings / "user" / "@jupyterlab" / "terminal-extension" / "plugin.jupyterlab-settings"
        terminal_settings.parent.mkdir(parents=True, exist_ok=True)
        terminal_settings.write_text('{"screenReaderMode": true}')
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings / "user"),
                   JUPYTERLAB_WORKSPACES_DIR=str(settings / "workspaces"), JUPYTER_RUNTIME_DIR=str(settings / "runtime"))
        options = f"--no-browser --port={free_port()} --ServerApp.port_retries=0"
        self.process = subprocess.Popen(["make", "-s", target, f"LAB_DIR={folder}", f"LAB_OPTS={options}"],
                                        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        # The lab stops with this test process however it ends (a run interrupted, a worker killed),
        # as the test nodes do: its own session would otherwise outlive the run.
        stop_with_owner(os.getpid(), self.process.pid, b"make", group=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.address = self._wait_for_address(timeout=120)
        self._wait_until_it_answers(timeout=60)

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def _wait_for_address(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = ADDRESS.search(line)
                if match:
                    return match.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise AssertionError("the lab printed no address to open:\n" + "\n".join(self.lines[-30:]))

    def _wait_until_it_answers(self, timeout):
        """Jupyter Server prints its address before it listens there: it binds the port in a
        callback that its event loop runs after the print (jupyter_server issue 1126), so on a
        busy machine the address refuses for a moment (a soak run's browser was refused there).
        A person opening the address takes longer than that; the test waits until it accepts."""
        port = int(re.search(r":(\d+)/", self.address).group(1))

        def answers():
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        poll(lambda: answers() or self.process.poll() is not None, timeout, interval=0.2)
        if not answers():
            running = "still runs" if self.process.poll() is None else f"ended with status {self.process.poll()}"
            self.stop()
            raise AssertionError(f"the lab printed {self.address} but nothing answered there within {timeout} s; "
                                 f"it {running} and printed:\n" + "\n".join(self.lines[-40:]))

    def printed(self):
        return "\n".join(self.lines)

    def open_in(self, page, address=None):
        """Open the printed address (or ``address``) in ``page``; if nothing answers there, fail
        with what the lab printed, and whether it still runs."""
        try:
            page.goto(address or self.address)
        except playwright.Error as error:
            running = "still runs" if self.process.poll() is None else f"ended with status {self.process.poll()}"
            raise AssertionError(f"{error}\nThe lab {running}; it printed:\n" + "\n".join(self.lines[-40:])) from None

    def stop(self):
        """End the whole session's process group (make, its shell, JupyterLab), not only make:
        make ends at once on SIGTERM, and a JupyterLab still shutting down its kernels was left
        running when only make was waited for. SIGKILL after 20 s; its kernels end with it."""
        group = self.process.pid
        for sent, patience in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(group, sent)
            except ProcessLookupError:
                break
            if poll(lambda: self.process.poll() is not None and not group_alive(group), patience, interval=0.2):
                break
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab") / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("student", ".ipynb_checkpoints", "__pycache__"))
    started = Lab("lab", folder)
    yield started
    started.stop()


def current_tab(page):
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")


def address_of(lab, name):
    """The lab's address for one notebook, in a fresh workspace (``reset``: no tabs from an earlier test)."""
    token = lab.address.split("?token=")[1]
    return lab.address.split("/lab")[0] + f"/lab/tree/{name}?reset&token={token}"


def open_notebook(page, lab, name):
    lab.open_in(page, address_of(lab, name))
    wait_for_idle_kernel(page)
    return page


def wait_for_idle_kernel(page, timeout=120_000):
    """The notebook is shown and its kernel is connected and idle (the status bar says so too: a
    Run All clicked while the kernel still starts is dropped)."""
    expect(page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first).to_be_visible(timeout=timeout)
    page.wait_for_function(
        """() => { const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                   const bar = document.querySelector('#jp-main-statusbar');
                   return s && s.getAttribute('data-status') === 'idle' && bar && /\\| Idle/.test(bar.textContent); }""",
        timeout=timeout)


def run_all(page):
    """Run, Run All Cells; and again if the first cell has not started within 30 s (a person would)."""
    for _ in range(2):
        menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function(
                """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt');
                           return p && /\\[(\\*|\\d+)\\]/.test(p.textContent); }""", timeout=30_000)
            return
        except playwright.TimeoutError:
            continue
    raise AssertionError("Run All Cells started nothing")


def cells(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def menu(page, *path):
    """Click through the lab's menu bar, as a person does: menu(page, "Run", "Run All Cells")."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{path[0]}$")).click()
    for label in path[1:]:
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")).first.click()


def wait_until_all_ran(page, timeout=240_000):
    """Every code cell shows an execution count and the kernel is idle, or a cell failed (Run All
    stops there); the test then asserts there is no error output."""
    page.wait_for_function(
        """() => { const panel = '.jp-NotebookPanel:not(.lm-mod-hidden) ';
                   if (document.querySelector(panel + ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")) return true;
                   const prompts = [...document.querySelectorAll(panel + '.jp-CodeCell .jp-InputPrompt')];
                   return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)); }""", timeout=timeout)
    wait_for_idle_kernel(page, timeout=timeout)


def error_outputs(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


def test_the_printed_address_opens_the_contents_page_and_every_lesson(page, lab):
    assert "token=..." not in lab.printed(), "make lab prints only an address a person can open"
    lab.open_in(page)
    contents = page.locator(".jp-RenderedMarkdown").first
    expect(contents).to_contain_text("lessons", timeout=60_000)
    for name in LESSONS:
        page.locator(f".jp-RenderedMarkdown a[href*='{name}']").first.click()
        expect(current_tab(page)).to_have_text(name, timeout=30_000)
        page.locator("#jp-main-dock-panel .lm-TabBar-tabLabel", has_text="index.ipynb").first.click()


def test_a_lab_terminal_runs_the_guide_worker(page, lab):
    lab.open_in(page, address_of(lab, "index.ipynb"))
    expect(page.locator(".jp-RenderedMarkdown").first).to_be_visible(timeout=60_000)
    menu(page, "File", "New", "Terminal")
    terminal = page.locator(".jp-Terminal").last
    expect(terminal).to_be_visible(timeout=30_000)
    terminal.click()
    page.keyboard.type("python scripts/worker.py --idle-timeout 2\n")
    screen = terminal.locator(".xterm-accessibility-tree")
    expect(screen).to_contain_text("Waiting for jobs", timeout=30_000)
    expect(screen).to_contain_text("Nothing for 2 s, stopping", timeout=30_000)


def test_lesson_02_runs_top_to_bottom_from_the_menu(page, lab):
    open_notebook(page, lab, "02_hello_queue.ipynb")
    run_all(page)
    wait_until_all_ran(page)
    assert error_outputs(page).count() == 0, error_outputs(page).first.inner_text()
    expect(page.locator(".jp-OutputArea-output", has_text="❌").first).to_be_visible()


def exercise_cells(name, number):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    found = next(e for e in exercises.exercises(notebook) if e.number == number)
    return found, exercises.solution_code(notebook.cells[found.solution])


def type_into(page, cell, code):
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)


def run_cells(page, *cell_locators):
    for cell in cell_locators:
        cell.locator(".jp-InputArea").click()
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")
        wait_for_idle_kernel(page)


def test_an_exercise_wrong_then_right_and_its_solution_on_request(page, lab):
    exercise, solution = exercise_cells("02_hello_queue.ipynb", 1)
    open_notebook(page, lab, "02_hello_queue.ipynb")
    run_all(page)
    wait_until_all_ran(page)
    assert error_outputs(page).count() == 0, error_outputs(page).first.inner_text()
    all_cells = cells(page)
    given, learner, check = (all_cells.nth(i) for i in (exercise.given, exercise.learner, exercise.check))
    type_into(page, learner, 'publish(channel, "hello", "one", persistent=True)')  # a subset
    run_cells(page, given, learner, check)
    expect(check.locator(".jp-OutputArea-output")).to_contain_text("❌")
    type_into(page, learner, solution)
    run_cells(page, given, learner, check)
    expect(check.locator(".jp-OutputArea-output")).to_contain_text("✅")
    hidden = all_cells.nth(exercise.solution).locator("details pre")
    expect(hidden).to_be_hidden()
    all_cells.nth(exercise.solution).locator("summary").click()
    expect(hidden).to_be_visible()
    expect(hidden).to_contain_text(solution.splitlines()[0].strip())


def test_lesson_10_live_chart_redraws_one_figure_in_place(page, lab):
    notebook = nbformat.read(NOTEBOOKS / "10_monitoring.ipynb", as_version=4)
    live = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and "LiveChart(" in cell.source)
    open_notebook(page, lab, "10_monitoring.ipynb")
    run_all(page)
    output = cells(page).nth(live).locator(".jp-OutputArea")
    page.wait_for_function(
        """(live) => { const panel = '.jp-NotebookPanel:not(.lm-mod-hidden) ';
                       if (document.querySelector(panel + ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")) return true;
                       const cell = document.querySelectorAll(panel + '.jp-Notebook .jp-Cell')[live];
                       return cell && cell.querySelector('.jp-OutputArea img'); }""", arg=live, timeout=180_000)
    assert error_outputs(page).count() == 0, error_outputs(page).first.inner_text()
    # The output area, not its image: each redraw puts a new <img> in place of the old one.
    # A redraw comes every half second while the chart runs; on a loaded machine the page may show
    # one late, so look again (up to NEVER_HANGS) rather than once after a fixed pause.
    first = output.screenshot()
    changed = poll(lambda: output.screenshot() != first, NEVER_HANGS, interval=0.5)
    assert output.locator("img").count() == 1, "the chart redraws in place: one figure, not one per update"
    assert changed, f"the live chart did not change within {NEVER_HANGS} s"
    wait_until_all_ran(page)


def test_the_workshop_edition_opens_from_make_workshop(page, tmp_path):
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("student", ".ipynb_checkpoints", "__pycache__"))
    workshop = Lab("workshop", folder)
    try:
        assert (folder / "student" / "00_set_up_and_check.ipynb").is_file()
        workshop.open_in(page)
        expect(current_tab(page)).to_have_text("00_set_up_and_check.ipynb", timeout=60_000)
        expect(page.locator(".jp-RenderedMarkdown", has_text="Workshop edition").first).to_be_visible(timeout=60_000)
        expect(page.locator("details summary")).to_have_count(0)
    finally:
        workshop.stop()
