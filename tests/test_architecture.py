"""The shape of the package: layering, no argparse below the app, and registries that make
a new probe or model family one module, touching no other file."""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import cliposcope
from cliposcope.app.cli import main
from cliposcope.encoders.base import Encoder, EncoderInfo, LoadOptions
from cliposcope.encoders.registry import Family, register_family, unregister_family
from cliposcope.probes.presentation import BarChart, ReportSection
from cliposcope.probes.registry import Probe, make_result, register_probe, unregister_probe
from cliposcope.results import ProbeResult
from cliposcope.settings import option

PACKAGE = Path(cliposcope.__file__).parent
# Lowest first; see docs/architecture.md. A module may import its own layer and the layers below.
LAYERS = (
    (
        "ground",
        (
            "errors",
            "version",
            "atomic",
            "hashing",
            "provenance",
            "results",
            "plotting",
            "registry",
            "settings",
            "terminal",
            "json_depth",
            "chatter",
            "progress",
        ),
    ),
    ("encoders", ("specs", "encoders")),
    ("cache", ("cache",)),
    ("data", ("data",)),
    ("generation", ("generation",)),
    ("data kinds", ("data_kinds",)),
    ("probes", ("probes",)),
    ("scale", ("scale",)),
    ("lab", ("lab",)),
    ("report", ("report",)),
    ("app", ("app", "__main__")),
)


def layer_of(module: str) -> int | None:
    """Layer index of a cliposcope module name like 'cliposcope.probes.tor'."""
    parts = module.split(".")
    if parts[0] != "cliposcope":
        return None
    if len(parts) == 1:
        return len(LAYERS)  # the package itself: the public API over every layer
    for index, (_, tops) in enumerate(LAYERS):
        if parts[1] in tops:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def library_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        modules.append((name, path))
    return modules


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_imports_from_a_higher_layer():
    arrows_up = []
    for name, path in library_modules():
        own = layer_of(name)
        if own == len(LAYERS):
            continue  # the public API may name anything
        for imported in imported_modules(ast.parse(path.read_text())):
            other = layer_of(imported)
            if other is not None and other > own:
                arrows_up.append(f"{name} (layer {own}) -> {imported} (layer {other})")
    assert not arrows_up, arrows_up


def test_no_argparse_or_namespace_below_the_app():
    offenders = []
    for name, path in library_modules():
        if name.startswith(("cliposcope.app", "cliposcope.__main__")):
            continue
        text = path.read_text()
        if "argparse" in imported_modules(ast.parse(text)) or "Namespace" in text:
            offenders.append(name)
    assert not offenders, offenders


def test_every_builtin_family_and_probe_is_registered():
    assert {f.name for f in cliposcope.list_families()} >= {"openclip", "hf", "st", "toy"}
    names = [p.name for p in cliposcope.list_probes()]
    assert names[:8] == ["tor", "toc", "size-first", "ior", "i2tor", "matching", "attention", "ioc"]
    for probe in cliposcope.list_probes():
        assert dataclasses.is_dataclass(probe.settings) and probe.rows and probe.title


# --- a throwaway probe, registered here and nowhere else --------------------------------


@dataclasses.dataclass(frozen=True)
class EchoSettings:
    word: str = option("echo", "the word to embed")
    repeat: int = option(2, "how many copies")
    seed: int = option(0, "unused, but recorded")

    def __post_init__(self):
        if self.repeat < 1:
            from cliposcope.errors import CliposcopeError

            raise CliposcopeError(f"--repeat {self.repeat} is below 1", hint="at least 1")


def run_echo(encoder, data, settings: EchoSettings, *, progress=False) -> ProbeResult:
    import time

    started = time.perf_counter()
    vectors = encoder.encode_text([settings.word] * settings.repeat)
    self_similarity = float(vectors[0] @ vectors[-1])
    return make_result(
        "echo",
        encoder,
        settings=dataclasses.asdict(settings),
        metrics={"self_similarity": {"estimate": self_similarity, "ci95": [None, None]}},
        started=started,
        word_count=settings.repeat,
    )


def echo_rows(results: Sequence[ProbeResult]):
    return ["Model", "Echo similarity"], [
        [r.label, f"{r.metrics['self_similarity']['estimate']:.3f}"] for r in results
    ]


def echo_chart(results: Sequence[ProbeResult]) -> BarChart:
    return BarChart("Echo", {r.label: [("echo", r.metrics["self_similarity"])] for r in results})


@pytest.fixture
def echo_probe():
    probe = Probe(
        name="echo",
        summary="a throwaway probe registered by a test",
        settings=EchoSettings,
        run=run_echo,
        title="ECHO: a word against itself",
        rows=echo_rows,
        report=ReportSection("Echo section", echo_chart),
    )
    register_probe(probe)
    yield probe
    unregister_probe("echo")


def test_a_probe_registered_in_a_test_reaches_cli_table_and_report(echo_probe, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "a throwaway probe registered by a test" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "echo", "--help"])
    assert "--repeat" in capsys.readouterr().out

    assert (
        main(
            [
                "run",
                "echo",
                "--model",
                "openclip:cliposcope-tiny?seed=0",
                "--repeat",
                "3",
                "--out",
                str(tmp_path),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    assert "ECHO: a word against itself" in capsys.readouterr().out
    [saved] = tmp_path.glob("echo_*.json")
    record = json.loads(saved.read_text())
    assert record["settings"]["repeat"] == 3 and record["provenance"]["word_count"] == 3
    assert record["metrics"]["self_similarity"]["estimate"] == pytest.approx(1.0)

    assert main(["table", str(saved)]) == 0
    assert "Echo similarity" in capsys.readouterr().out
    page = cliposcope.build_report(tmp_path).read_text()
    assert 'id="echo"' in page and "Echo section" in page

    assert (
        main(
            [
                "run",
                "echo",
                "--model",
                "openclip:cliposcope-tiny?seed=0",
                "--repeat",
                "0",
                "--out",
                str(tmp_path / "bad"),
                "--no-cache",
            ]
        )
        == 2
    )
    assert "--repeat 0" in capsys.readouterr().err


@pytest.mark.slow
def test_run_probe_and_the_battery_are_callable_from_python(tiny_openclip, tmp_path):
    from cliposcope.data.generate import SceneSettings, write_dataset
    from cliposcope.data.layout import LayoutSpec
    from cliposcope.data.scene_sets import split_scenes
    from cliposcope.probes.tor import TorSettings

    result = cliposcope.run_probe("tor", tiny_openclip, None, TorSettings(n=2, sample=50))
    assert result.probe == "tor" and result.role == "model"
    settings = SceneSettings(kind="comco", count=4, layout=LayoutSpec(n=3), seed=1)
    scene_set = split_scenes(write_dataset(settings, tmp_path / "scenes"))
    results = cliposcope.run_battery(
        tiny_openclip, scene_set, cliposcope.BatterySettings(tor_sample=20)
    )
    assert [r.probe for r in results] == ["tor", "ior", "i2tor", "matching", "attention"]


# --- a throwaway model family -----------------------------------------------------------


class ConstantEncoder(Encoder):
    """Every text embeds to the same unit vector; a family with no library of its own."""

    def __init__(self, spec, options: LoadOptions):
        self.info = EncoderInfo(
            family="constant",
            spec=spec.canonical,
            name=spec.target,
            weights_source="none",
            weights_hash="none",
            embed_dim=4,
            device=options.device,
            precision=options.precision,
            library="numpy",
            library_versions={"numpy": np.__version__},
        )

    def _encode_texts(self, texts, *, progress):
        return np.ones((len(texts), 4))


@pytest.fixture
def constant_family():
    family = Family(
        name="constant",
        description="a throwaway family registered by a test",
        load=ConstantEncoder,
        examples=("constant:anything    every text is the same vector",),
        libraries=("numpy",),
    )
    register_family(family)
    yield family
    unregister_family("constant")


def test_a_family_registered_in_a_test_loads_and_is_listed(constant_family, capsys, tmp_path):
    encoder = cliposcope.load_encoder("constant:anything", device="cpu")
    assert encoder.info.family == "constant" and encoder.info.device == "cpu"
    assert np.allclose(encoder.encode_text(["a", "b"]), 0.5)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "constant: a throwaway family" in out and "constant:anything" in out
    # its library's version enters the fingerprint
    other = dataclasses.replace(encoder.info, library_versions={"numpy": "0.0"})
    assert other.fingerprint != encoder.info.fingerprint
    # and it has no random-weight twin: the null is refused in one line
    assert (
        main(
            [
                "run",
                "tor",
                "--model",
                "constant:x",
                "--null",
                "random-init",
                "--n",
                "2",
                "--sample",
                "5",
                "--out",
                str(tmp_path / "out"),
                "--no-cache",
            ]
        )
        == 2
    )
    assert "random-init" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_toy_cache_fingerprint_follows_open_clip(tmp_path):
    toy = cliposcope.load_encoder("toy:default")
    upgraded = dict(toy.info.library_versions, open_clip_torch="999.0")
    assert dataclasses.replace(toy.info, library_versions=upgraded).fingerprint != (
        toy.info.fingerprint
    )


def test_capabilities_are_declared_and_forwarded_by_the_cache(tiny_openclip, tmp_path):
    from cliposcope.cache import CachedEncoder
    from probes.fakes import PositionWeightedEncoder

    assert tiny_openclip.supports("cls_attention")
    assert CachedEncoder(tiny_openclip, tmp_path).supports("cls_attention")
    fake = PositionWeightedEncoder()
    assert not fake.supports("cls_attention")
    assert not CachedEncoder(fake, tmp_path).supports("cls_attention")
    from cliposcope.errors import CliposcopeError

    with pytest.raises(CliposcopeError, match="exposes no CLS attention"):
        fake.cls_attention([])


def test_settings_options_follow_their_types_and_refuse_what_they_cannot_offer():
    import argparse

    from cliposcope.app.options import add_settings_options, settings_from_args
    from cliposcope.settings import internal

    @dataclasses.dataclass(frozen=True)
    class Knobs:
        on: bool = option(True, "on unless --no-on")
        off: bool = option(False, "off unless --off")
        ratio: float = option(0.5, "a float")
        count: int | None = option(None, "an optional int")
        hidden: tuple[str, ...] = internal(("a",))

    parser = argparse.ArgumentParser()
    add_settings_options(parser, Knobs)
    knobs = settings_from_args(Knobs, parser.parse_args(["--no-on", "--off", "--ratio", "2"]))
    assert knobs == Knobs(on=False, off=True, ratio=2.0, count=None)
    assert settings_from_args(Knobs, parser.parse_args([])) == Knobs()

    @dataclasses.dataclass(frozen=True)
    class Clash:
        device: str = option("x", "clashes with --device")

    owned = argparse.ArgumentParser()
    owned.add_argument("--device")
    with pytest.raises(TypeError, match="rename the field"):
        add_settings_options(owned, Clash)

    @dataclasses.dataclass(frozen=True)
    class Repeated:
        names: tuple[str, ...] = option(help="repeatable and required")

    parser = argparse.ArgumentParser()
    add_settings_options(parser, Repeated)
    parsed = parser.parse_args(["--names", "a", "--names", "b"])
    assert settings_from_args(Repeated, parsed) == Repeated(names=("a", "b"))

    @dataclasses.dataclass(frozen=True)
    class Unsupported:
        table: dict = option(None, "no scalar type")

    with pytest.raises(TypeError, match="cannot be a command-line option"):
        add_settings_options(argparse.ArgumentParser(), Unsupported)


def test_a_probe_without_a_report_section_still_gets_its_table(echo_probe, tmp_path, capsys):
    register_probe(dataclasses.replace(echo_probe, report=None))
    assert (
        main(
            [
                "run",
                "echo",
                "--model",
                "openclip:cliposcope-tiny?seed=0",
                "--out",
                str(tmp_path),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    page = cliposcope.build_report(tmp_path).read_text()
    assert 'id="echo"' in page and "ECHO: a word against itself" in page
    assert "Echo similarity" in page


# Where nothing may name a probe: the centre asks the registry instead.
PROBE_AGNOSTIC = ("app", "report", "scale", "probes/verdicts.py", "probes/battery.py")


def test_nothing_central_names_a_probe():
    names = {probe.name for probe in cliposcope.list_probes()}
    paths = []
    for place in PROBE_AGNOSTIC:
        target = PACKAGE / place
        paths += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                offenders.append(f"{where} names {node.value!r}")
    assert len(paths) > 20 and not offenders, offenders
