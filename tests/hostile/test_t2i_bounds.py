"""`run t2i` options that multiply the work have maxima, and so has the design as a whole
(images = prompts x seeds per prompt), checked before anything is loaded or drawn:
`--seeds-per-prompt 1000000000` once grew to 17 GB before the first image."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from cliposcope.errors import CliposcopeError
from cliposcope.probes.t2i import (
    MAX_IMAGES,
    T2ISettings,
    build_design,
    design_size,
    design_words,
)

from .conftest import run_cli

T2I = ["run", "t2i", "--generator", "planted:0.9,0.6,0.3", "--detector", "truth:planted"]

CASES = [
    (["--seeds-per-prompt", "1000000000"], "--seeds-per-prompt 1000000000 is out of range"),
    (["--seeds-per-prompt", "10001"], "--seeds-per-prompt 10001 is out of range"),
    (["--seeds-per-prompt", "0"], "--seeds-per-prompt 0 is out of range"),
    (["--combinations", "100001"], "--combinations 100001 is out of range"),
    (["--combinations", "1000000000000"], "--combinations 1000000000000 is out of range"),
    (["--combinations", "0"], "--combinations 0 is out of range"),
    (["--examples", "1000000000"], "--examples 1000000000 is out of range"),
    (["--seeds-per-prompt", "10000", "--combinations", "1000"], "6,720,000 images"),
    (["--seeds-per-prompt", "2000", "--orders", "all", "--combinations", "500"], "images"),
    (["--seeds-per-prompt", "10000", "--size-order", "--combinations", "100"], "4,400,000 images"),
    (
        ["--n", "5", "--orders", "all", "--combinations", "100000", "--seeds-per-prompt", "20"],
        "1,901,040 images",
    ),
    (["--vocab", "{w}/many.txt", "--seeds-per-prompt", "1000"], "images"),
    (["--vocab", "{w}/many.txt", "--combinations", "100000", "--n", "4"], "images"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("t2i-world")
    (w / "many.txt").write_text("".join(f"thing{i:05d}\n" for i in range(2000)))
    return w


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "needle"), CASES, ids=[" ".join(e) for e, _ in CASES])
def test_work_beyond_the_maxima_is_one_line(extra, needle, world, tmp_path, capsys):
    out = tmp_path / "out"
    extra = [a.replace("{w}", str(world)) for a in extra]
    code, _, err = run_cli(capsys, *T2I, *extra, "--out", out, "--quiet")
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], (needle, lines[0])
    assert "hint:" in lines[0] and "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


GRID = list(
    itertools.product([2, 3, 4], ["cyclic", "all"], [False, True], [True, False], [1, 7, 500])
)


@pytest.mark.parametrize(
    ("n", "orders", "size_order", "solo", "combinations"),
    [g for g in GRID if not (g[2] and g[0] > 3)][::3],
)
def test_the_counted_design_is_the_design_made(n, orders, size_order, solo, combinations):
    settings = T2ISettings(
        n=n,
        orders=orders,
        size_order=size_order,
        solo=solo,
        combinations=combinations,
        seeds_per_prompt=3,
    )
    words = design_words(settings)
    prompts, images = design_size(words, settings)
    assert prompts == len(build_design(words, settings))
    assert images == 3 * prompts


def test_a_design_at_the_limit_is_accepted_and_one_more_is_not():
    # 12 words, n 2: 66 combinations x 2 orders + 12 solo prompts = 144 prompts
    per_prompt = MAX_IMAGES // 144
    settings = T2ISettings(n=2, combinations=66, seeds_per_prompt=min(per_prompt, 10_000))
    assert design_size(design_words(settings), settings)[1] <= MAX_IMAGES
    with pytest.raises(CliposcopeError, match="images"):
        T2ISettings(n=2, combinations=66, seeds_per_prompt=10_000, orders="all", size_order=True)
