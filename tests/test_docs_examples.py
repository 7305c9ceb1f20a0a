"""Every Python and shell example in README.md and docs/*.md runs, so a published example
cannot break silently.

Each fenced ```python, ```bash, ```sh, ```shell or ```console block is one test, named
``FILE:LINE`` after its opening fence. Python blocks run in a fresh interpreter; shell
blocks run line by line (``\\`` continuations joined) with ``bash -c`` and every line must
exit 0. Comments, ``pip install`` and pytest commands are left out (also as steps of a
``&&`` chain), and so are the output lines of ``console`` blocks (only lines starting with
``$ `` are commands).

The blocks of one document run in document order in one temporary working folder, with one
temporary embedding cache, so a block may use what an earlier block wrote; a block selected
alone (``-k``, ``-m "not slow"``) still runs after the earlier blocks of its document that
are not skipped. Documents run in the background, two at a time, each example with one
torch thread (``OMP_NUM_THREADS=1`` unless set: on a shared 2-core machine this halves
their time) and the model hub off (``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``).

A block that cannot run here is marked in the Markdown by an HTML comment on the line just
before its fence, which a reader of the rendered page does not see:

    <!-- docs-test: skip (needs the model hub) -->     reported as skipped, with the reason
    <!-- docs-test: slow -->                          runs under @pytest.mark.slow

Any other ``docs-test`` comment, a skip without a reason, or a marker that is not on the
line before a block that runs fails the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).parents[1]
DOCUMENTS = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
RUN_LANGUAGES = {"python", *SHELL_LANGUAGES}
COMMAND_TIMEOUT_S = 600
PARALLEL_DOCUMENTS = 2  # each example runs one torch thread
OUTPUT_TAIL_CHARS = 4000

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*docs-test\b(?P<body>.*?)-->\s*$")
ANY_MARKER = re.compile(r"<!--\s*docs-test\b")
SKIP = re.compile(r"^skip\s*\((?P<reason>.*)\)$")
# Lines a test never runs: installing packages, and the test suite itself.
NOT_RUN = re.compile(r"^(?:python3? -m )?(?:pip install|pytest)\b")
OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Every example runs installed commands in subprocesses: minutes in all, so the whole module
# belongs to the full suite, not the fast tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class ShellCommand:
    line: int  # in the document, of the command's first line
    text: str


@dataclass(frozen=True)
class DocBlock:
    document: str  # relative to the repository
    line: int  # of the opening fence
    language: str
    code: str
    code_line: int  # the document line of the code's first line
    skip_reason: str | None = None
    slow: bool = False
    marker_problem: str | None = None

    @property
    def test_id(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.language == "python"

    def shell_commands(self) -> list[ShellCommand]:
        return shell_commands(self.code, self.code_line, console=self.language == "console")

    @property
    def reason_not_run(self) -> str | None:
        """Why this block is not run (None: it runs, or its marker is broken)."""
        if self.marker_problem is not None:
            return None
        if self.skip_reason is not None:
            return self.skip_reason
        if not self.is_python and not self.shell_commands():
            return "nothing to run: only comments, pip install and pytest lines"
        return None


@dataclass(frozen=True)
class Extraction:
    blocks: list[DocBlock]
    stray_markers: list[str]  # "LINE: why", markers that mark no block that runs


@dataclass(frozen=True)
class Marker:
    skip_reason: str | None = None
    slow: bool = False
    problem: str | None = None  # the marker's form is wrong


NO_REASON = "skip without a reason: write skip (WHY IT CANNOT RUN HERE)"


def parse_marker(body: str) -> Marker:
    """The marker of a comment whose text after ``docs-test`` is ``body``."""
    text = body.strip()
    if not text.startswith(":"):
        return Marker(problem=f"marker without ':' ({text!r})")
    text = text[1:].strip()
    if text == "slow":
        return Marker(slow=True)
    skip = SKIP.match(text)
    if skip:
        reason = skip["reason"].strip()
        return Marker(skip_reason=reason) if reason else Marker(problem=NO_REASON)
    if text == "skip":
        return Marker(problem=NO_REASON)
    return Marker(problem=f"unknown marker {text!r}: use 'skip (REASON)' or 'slow'")


def extract_blocks(markdown: str, document: str) -> Extraction:
    """The fenced blocks of ``markdown`` in the run languages, with their markers."""
    lines = markdown.splitlines()
    blocks: list[DocBlock] = []
    used_marker_lines: set[int] = set()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        language = info.split()[0].lower() if info else ""
        end = index + 1
        while end < len(lines) and not re.match(
            rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]
        ):
            end += 1
        if language in RUN_LANGUAGES:
            code_lines = [
                strip_indent(line, len(opening["indent"])) for line in lines[index + 1 : end]
            ]
            marker = Marker()
            comment = MARKER.match(lines[index - 1]) if index > 0 else None
            if comment:
                used_marker_lines.add(index - 1)
                marker = parse_marker(comment["body"])
            blocks.append(
                DocBlock(
                    document=document,
                    line=index + 1,
                    language=language,
                    code="\n".join(code_lines) + "\n",
                    code_line=index + 2,
                    skip_reason=marker.skip_reason,
                    slow=marker.slow,
                    marker_problem=marker.problem,
                )
            )
        index = end + 1
    stray = [
        f"{number + 1}: {line.strip()} is not on the line just before a block that runs"
        for number, line in enumerate(lines)
        if ANY_MARKER.search(line) and number not in used_marker_lines
    ]
    return Extraction(blocks, stray)


def strip_indent(line: str, indent: int) -> str:
    removable = len(line) - len(line.lstrip(" "))
    return line[min(indent, removable) :]


def shell_commands(code: str, first_line: int, *, console: bool = False) -> list[ShellCommand]:
    """The commands of a shell block, continuations joined, in order; left out: comments,
    ``pip install`` and pytest commands (also as steps of a ``&&`` chain), and the output
    lines of a console block."""
    commands: list[ShellCommand] = []
    pending: list[str] = []
    pending_line = 0
    for offset, raw in enumerate(code.splitlines()):
        if pending:
            pending.append(raw)
        else:
            text = raw.strip()
            if console:
                if not text.startswith("$ "):
                    continue  # output
                text = text[2:].strip()
            if not text or text.startswith("#"):
                continue
            pending, pending_line = [text], first_line + offset
        if pending[-1].rstrip().endswith("\\"):
            continue
        command = " ".join(part.rstrip().removesuffix("\\").strip() for part in pending)
        pending = []
        kept = [step for step in command.split(" && ") if not NOT_RUN.match(step.strip())]
        if kept:
            commands.append(ShellCommand(pending_line, " && ".join(kept)))
    if pending:
        commands.append(ShellCommand(pending_line, " ".join(part.strip() for part in pending)))
    return commands


def document_name(path: Path) -> str:
    return path.relative_to(REPOSITORY).as_posix()


def extract_document(path: Path) -> Extraction:
    return extract_blocks(path.read_text(encoding="utf-8"), document_name(path))


EXTRACTIONS = {document_name(path): extract_document(path) for path in DOCUMENTS}


def block_params() -> Iterator:
    for extraction in EXTRACTIONS.values():
        for block in extraction.blocks:
            marks = []
            if block.slow:
                marks.append(pytest.mark.slow)
            if block.reason_not_run is not None:
                marks.append(pytest.mark.skip(reason=f"{block.test_id}: {block.reason_not_run}"))
            yield pytest.param(block, id=block.test_id, marks=marks)


def tail(text: str) -> str:
    return text if len(text) <= OUTPUT_TAIL_CHARS else "..." + text[-OUTPUT_TAIL_CHARS:]


def run_block(block: DocBlock, folder: Path, environment: dict[str, str]) -> str | None:
    """Run ``block`` in ``folder``; None when it succeeded, else what went wrong."""
    if block.is_python:
        steps = [(block.line, [sys.executable, "-c", block.code], "the Python block")]
    else:
        steps = [
            (command.line, ["bash", "-c", command.text], command.text)
            for command in block.shell_commands()
        ]
    for line, argv, shown in steps:
        try:
            done = subprocess.run(
                argv,
                cwd=folder,
                env=environment,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return f"{block.document}:{line}: {shown} ran past {COMMAND_TIMEOUT_S} s"
        if done.returncode != 0:
            return (
                f"{block.document}:{line}: {shown} exited {done.returncode} in {folder}\n"
                f"--- stdout ---\n{tail(done.stdout)}\n--- stderr ---\n{tail(done.stderr)}"
            )
    return None


def runnable(block: DocBlock) -> bool:
    return block.reason_not_run is None and block.marker_problem is None


class DocumentRuns:
    """Runs blocks in the background: the blocks of one document one after the other in its
    own folder (with its own embedding cache), ``PARALLEL_DOCUMENTS`` documents at a time.
    Each document runs its blocks up to its last selected one, so a block selected alone
    still finds what the blocks before it write."""

    def __init__(
        self,
        blocks: list[DocBlock],
        selected: list[DocBlock],
        root: Path,
        environment: dict[str, str],
    ):
        self.outcomes: dict[str, Future] = {}  # test id -> problem (None: ran fine)
        last_selected = {}
        for block in selected:
            last_selected[block.document] = max(block.line, last_selected.get(block.document, 0))
        chains = [
            [
                block
                for block in blocks
                if block.document == document and runnable(block) and block.line <= last_line
            ]
            for document, last_line in last_selected.items()
        ]
        chains.sort(key=lambda chain: -sum(map(command_count, chain)))  # longest first
        for chain in chains:
            for block in chain:
                self.outcomes[block.test_id] = Future()
        self.stopping = threading.Event()
        self.executor = ThreadPoolExecutor(PARALLEL_DOCUMENTS)
        for chain in chains:
            folder = root / re.sub(r"\W", "-", chain[0].document)
            self.executor.submit(self.run_chain, chain, folder, environment)

    def run_chain(self, chain: list[DocBlock], folder: Path, environment: dict[str, str]):
        try:
            self.run_in_order(chain, folder, environment)
        except BaseException as error:  # never leave a test waiting on its block
            for block in chain:
                outcome = self.outcomes[block.test_id]
                if not outcome.done():
                    outcome.set_result(f"{block.test_id}: not run: {error!r}")
            raise

    def run_in_order(self, chain: list[DocBlock], folder: Path, environment: dict[str, str]):
        (folder / "work").mkdir(parents=True)
        environment = environment | {"CLIPOSCOPE_CACHE_DIR": str(folder / "cache")}
        failed: list[str] = []
        for block in chain:
            if self.stopping.is_set():
                self.outcomes[block.test_id].set_result("not run: the tests were stopped")
                continue
            problem = run_block(block, folder / "work", environment)
            if problem is not None and failed:
                problem += f"\n(earlier blocks of this document failed too: {', '.join(failed)})"
            if problem is not None:
                failed.append(block.test_id)
            self.outcomes[block.test_id].set_result(problem)

    def problem(self, block: DocBlock) -> str | None:
        return self.outcomes[block.test_id].result()

    def stop(self) -> None:
        self.stopping.set()
        self.executor.shutdown(wait=False, cancel_futures=True)


def command_count(block: DocBlock) -> int:
    return 1 if block.is_python else len(block.shell_commands())


@pytest.fixture(scope="module")
def document_runs(request, tmp_path_factory) -> Iterator[DocumentRuns]:
    selected = [
        item.callspec.params["block"]
        for item in request.session.items
        if getattr(item, "function", None) is test_doc_block_runs
        and runnable(item.callspec.params["block"])
    ]
    bin_folder = str(Path(sys.executable).parent)  # `cliposcope` and `python` of this venv
    environment = os.environ | OFFLINE_ENVIRONMENT
    environment.setdefault("OMP_NUM_THREADS", "1")
    environment["PATH"] = os.pathsep.join([bin_folder, environment.get("PATH", "")])
    every_block = [block for extraction in EXTRACTIONS.values() for block in extraction.blocks]
    runs = DocumentRuns(every_block, selected, tmp_path_factory.mktemp("docs"), environment)
    yield runs
    runs.stop()


@pytest.mark.parametrize("block", list(block_params()))
def test_doc_block_runs(block: DocBlock, document_runs):
    if block.marker_problem is not None:
        pytest.fail(f"{block.test_id}: {block.marker_problem}")
    problem = document_runs.problem(block)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.mark.parametrize("document", list(EXTRACTIONS))
def test_doc_markers_mark_blocks_that_run(document):
    assert EXTRACTIONS[document].stray_markers == []


def test_the_documents_hold_examples():
    assert [path.name for path in DOCUMENTS][:1] == ["README.md"] and len(DOCUMENTS) > 1
    languages = {
        block.language for extraction in EXTRACTIONS.values() for block in extraction.blocks
    }
    assert {"python", "bash"} <= languages


SYNTHETIC = textwrap.dedent(
    """\
    # A page

    ```python
    print("plain")
    ```

    <!-- docs-test: skip (needs the model hub) -->
    ```bash
    cliposcope run paper --model openclip:ViT-B-32/openai
    ```

    <!-- docs-test: slow -->
    ```sh
    # a comment
    pip install 'cliposcope[dev]'
    cliposcope demo --out demo \\
        --seed 1   # trailing comment
    python -m pytest -q
    pytest tests
    ```

    ```console
    $ cliposcope models
    openclip  ...
    $ echo done
    done
    ```

    ```shell
    pip install cliposcope
    pip install -e '.[dev]' && cliposcope models && python -m pytest
    ```

    ```toml
    [project]
    ```

    ```
    plain text
    ```

    <!-- docs-test: skip -->
    ```python
    pass
    ```

    <!-- docs-test: skipped (typo) -->
    ```bash
    true
    ```

    <!-- docs-test: slow -->

    ```bash
    true
    ```

    <!-- docs-test: slow -->
    ```toml
    ```
    """
)


def test_extraction_finds_each_block_kind_and_marker():
    extraction = extract_blocks(SYNTHETIC, "page.md")
    blocks = {block.line: block for block in extraction.blocks}
    assert sorted(blocks) == [3, 8, 13, 22, 29, 43, 48, 54]
    assert [blocks[line].language for line in sorted(blocks)] == [
        "python",
        "bash",
        "sh",
        "console",
        "shell",
        "python",
        "bash",
        "bash",
    ]

    plain = blocks[3]
    assert plain.code == 'print("plain")\n' and plain.test_id == "page.md:3"
    assert (plain.skip_reason, plain.slow, plain.marker_problem, plain.reason_not_run) == (
        None,
        False,
        None,
        None,
    )

    hub = blocks[8]
    assert hub.skip_reason == hub.reason_not_run == "needs the model hub" and not hub.slow

    slow = blocks[13]
    assert slow.slow and slow.skip_reason is None and slow.reason_not_run is None
    assert slow.shell_commands() == [
        ShellCommand(16, "cliposcope demo --out demo --seed 1   # trailing comment")
    ]

    console = blocks[22]
    assert console.shell_commands() == [
        ShellCommand(23, "cliposcope models"),
        ShellCommand(25, "echo done"),
    ]

    chain = blocks[29]  # pip install and pytest are left out, even as steps of a chain
    assert chain.shell_commands() == [ShellCommand(31, "cliposcope models")]
    assert chain.reason_not_run is None
    [installs_only] = extract_blocks("```bash\npip install x  # c\n# c\n```\n", "p.md").blocks
    assert "nothing to run" in installs_only.reason_not_run

    assert "skip without a reason" in blocks[43].marker_problem
    assert blocks[43].reason_not_run is None  # a broken marker fails, never skips
    assert "unknown marker" in blocks[48].marker_problem
    assert blocks[54].marker_problem is None and not blocks[54].slow  # marker not adjacent
    assert [stray.split(":")[0] for stray in extraction.stray_markers] == ["52", "58"]


def test_a_failing_block_names_its_line(tmp_path):
    block = extract_blocks("```bash\ntrue\nfalse\n```\n", "page.md").blocks[0]
    problem = run_block(block, tmp_path, dict(os.environ))
    assert problem is not None and problem.startswith("page.md:3: false exited 1")
    assert (
        run_block(
            extract_blocks("```python\nprint(1)\n```\n", "p.md").blocks[0],
            tmp_path,
            dict(os.environ),
        )
        is None
    )


def test_a_document_runs_in_order_in_one_folder(tmp_path):
    markdown = (
        "```bash\necho made > made.txt\n```\n\n"
        "```bash\nfalse\n```\n\n"
        "```python\nprint(open('made.txt').read())\n```\n\n"
        "```python\nraise SystemExit(open('made.txt').read())\n```\n\n"
        "```bash\ntrue\n```\n"
    )
    blocks = extract_blocks(markdown, "page.md").blocks
    made, failing, reading, failing_too, after = blocks
    runs = DocumentRuns(blocks, [reading, failing_too], tmp_path, dict(os.environ))
    try:
        assert runs.problem(made) is None
        assert runs.problem(reading) is None  # ran after the blocks before it, in their folder
        assert runs.problem(failing).startswith("page.md:6: false exited 1")
        assert "earlier blocks of this document failed too: page.md:5" in runs.problem(failing_too)
        assert after.test_id not in runs.outcomes  # nothing runs after the last selected block
    finally:
        runs.stop()
