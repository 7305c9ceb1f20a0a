"""What third-party libraries print while a model, generator or detector loads stays out
of the user's way unless they ask for it with ``--verbose``: a missing torchvision
checkpoint once printed torch hub's "Downloading: ..." line before cliposcope's error."""

from __future__ import annotations

import logging
import re
import sys
import warnings
from contextlib import contextmanager
from urllib.error import URLError

import pytest

from cliposcope.chatter import library_chatter_held, show_library_chatter
from cliposcope.errors import CliposcopeError

from .conftest import run_cli

DOWNLOADING = 'Downloading: "https://download.pytorch.org/models/x.pth" to /root/.cache/x.pth'


def talk_like_a_library():
    """The three ways libraries talk: stream writes, warnings, their own loggers (one
    configured before the load, one configured during it, as an import would)."""
    sys.stderr.write(DOWNLOADING + "\n")
    print("loading checkpoint shards: 100%")
    warnings.warn("`resume_download` is deprecated", FutureWarning, stacklevel=1)
    logging.getLogger("library.configured").warning("some weights were not used")
    late = logging.getLogger("library.imported.now")
    late.addHandler(logging.StreamHandler())
    late.propagate = False
    late.warning("a late handler's line")
    return late


@contextmanager
def configured_library_logger():
    """A library logger configured before the load, writing to this test's stderr."""
    logger = logging.getLogger("library.configured")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logging.getLogger("library.imported.now").handlers.clear()


def test_a_load_holds_every_kind_of_library_talk(capsys):
    with configured_library_logger() as configured:
        with library_chatter_held("a model"):
            late = talk_like_a_library()
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == ""
        late.warning("after the load")  # a handler made during the load writes again after it
        configured.warning("and the configured one too")
    assert capsys.readouterr().err == "after the load\nand the configured one too\n"


def test_cliposcope_warnings_pass_while_a_load_holds_the_rest(capsys):
    own = logging.getLogger("cliposcope.encoders.some_family")
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger("cliposcope").addHandler(handler)
    try:
        with library_chatter_held("a model"):
            own.warning("cliposcope's own warning")
            sys.stderr.write("library talk\n")
    finally:
        logging.getLogger("cliposcope").removeHandler(handler)
    assert capsys.readouterr().err == "cliposcope's own warning\n"


@pytest.mark.filterwarnings("ignore:`resume_download`")
def test_verbose_lets_the_talk_through(capsys):
    token = show_library_chatter.set(True)
    try:
        with configured_library_logger(), library_chatter_held("a model"):
            talk_like_a_library()
    finally:
        show_library_chatter.reset(token)
    captured = capsys.readouterr()
    assert DOWNLOADING in captured.err and "a late handler's line" in captured.err
    assert "loading checkpoint shards" in captured.out


def test_a_failed_load_says_how_much_was_held(capsys):
    with (
        pytest.raises(CliposcopeError) as failed,
        configured_library_logger(),
        library_chatter_held("torchvision:x"),
    ):
        talk_like_a_library()
        raise CliposcopeError("cannot load torchvision:x", hint="weights=FILE.pth")
    held = re.fullmatch(
        r"cannot load torchvision:x \(hint: weights=FILE\.pth; (\d+) line\(s\) of library "
        r"messages while loading torchvision:x were hidden; cliposcope --verbose shows them\)",
        str(failed.value),
    )
    assert held and int(held.group(1)) >= 5, str(failed.value)  # the five talks, at least
    assert capsys.readouterr().err == ""


@pytest.fixture
def hub_that_talks_then_fails(monkeypatch):
    import torchvision.models

    def get_model(name, **options):
        sys.stderr.write(DOWNLOADING + "\n")
        warnings.warn("weights enum is deprecated", UserWarning, stacklevel=1)
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.models, "get_model", get_model)


T2I = ["run", "t2i", "--generator", "planted:0.9,0.6,0.3"]
DETECTOR = ["--detector", "torchvision:fasterrcnn_resnet50_fpn_v2", "--combinations", "2"]


def test_an_unreachable_hub_is_one_line(hub_that_talks_then_fails, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, *T2I, *DETECTOR, "--out", out, "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: cannot load torchvision:"), err
    assert "2 line(s) of library messages" in err and "--verbose" in err
    assert "Downloading" not in err and not out.exists()


@pytest.mark.filterwarnings("ignore:weights enum")
@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_verbose_shows_the_hub_before_the_error(where, hub_that_talks_then_fails, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*T2I, *DETECTOR, "--out", out, "--quiet"]
    argv = ["--verbose", *argv] if where == "before the command" else [*argv, "--verbose"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == DOWNLOADING and lines[-1].startswith("error: cannot load"), err


def test_cliposcope_warnings_pass_with_no_handler_configured(capsys):
    """The Python API with logging left alone: Python's last-resort handler prints
    cliposcope's warnings (a QuickGELU mismatch, a fast path turned off), never the rest."""
    root = logging.getLogger()
    configured, root.handlers = root.handlers, []  # pytest's own capture handlers, aside
    try:
        with library_chatter_held("a model"):
            logging.getLogger("cliposcope.encoders.openclip").warning("fast text path off")
            logging.getLogger("library.unconfigured").warning("some library talk")
    finally:
        root.handlers = configured
    assert capsys.readouterr().err == "fast text path off\n"


def test_a_handler_made_during_one_load_is_held_in_the_next(capsys):
    with library_chatter_held("a model"):
        late = logging.getLogger("library.made.in.first.load")
        late.addHandler(logging.StreamHandler())  # holds the first load's gate
        late.propagate = False
    try:
        with library_chatter_held("its control"):
            late.warning("talk during the second load")
        assert capsys.readouterr().err == ""
        late.warning("after both")
        assert capsys.readouterr().err == "after both\n"
    finally:
        late.handlers.clear()


def test_root_handlers_keep_cliposcope_records_and_hold_the_rest(capsys):
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    root.addHandler(handler)
    try:
        with library_chatter_held("a model"):
            logging.getLogger("cliposcope.lab").warning("ours")
            logging.getLogger("urllib3.connectionpool").warning("retrying")
    finally:
        root.removeHandler(handler)
    assert capsys.readouterr().err == "ours\n"
