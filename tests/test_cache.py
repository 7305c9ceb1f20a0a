"""Embedding cache: no second encode, resume after interruption, corruption recomputed."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest
from PIL import Image

from cliposcope.cache import CACHE_ENV_VAR, CachedEncoder, default_cache_dir
from cliposcope.encoders.base import Encoder, EncoderInfo, l2_normalise


class CountingEncoder(Encoder):
    """Deterministic fake: embedding from the text's hash; counts what it is asked to encode."""

    def __init__(self, fail_after: int | None = None, weights: str = "w0"):
        self.calls = 0
        self.encoded: list[str] = []
        self.fail_after = fail_after
        self.info = EncoderInfo(
            family="openclip",
            spec="fake:counting",
            name="fake",
            weights_source="test",
            weights_hash=weights,
            embed_dim=8,
            towers=("text", "image"),
        )

    def _encode_texts(self, texts, *, progress):
        self.calls += 1
        if self.fail_after is not None and len(self.encoded) + len(texts) > self.fail_after:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-run
        self.encoded.extend(texts)
        return np.stack([self.vector(text) for text in texts])

    def _encode_images(self, images, *, progress):
        self.calls += 1
        return np.stack([self.vector(str(np.asarray(image).sum())) for image in images])

    @staticmethod
    def vector(text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).normal(size=8).astype(np.float32)


TEXTS = [f"object {i} and object {i + 1}" for i in range(50)]


def expected(texts):
    return l2_normalise(np.stack([CountingEncoder.vector(t) for t in texts]))


def test_second_run_calls_the_model_zero_times(tmp_path):
    first = CachedEncoder(CountingEncoder(), tmp_path)
    np.testing.assert_array_equal(first.encode_text(TEXTS), expected(TEXTS))
    assert first.encoder.calls >= 1 and first.stats.misses == 50

    again = CachedEncoder(CountingEncoder(), tmp_path)  # a new process would do the same
    np.testing.assert_array_equal(again.encode_text(TEXTS), expected(TEXTS))
    assert again.encoder.calls == 0
    assert again.stats.hits == 50 and again.stats.misses == 0


def test_only_new_inputs_are_encoded_and_duplicates_once(tmp_path):
    cached = CachedEncoder(CountingEncoder(), tmp_path)
    cached.encode_text(TEXTS[:10])
    mixed = TEXTS[5:15] + TEXTS[12:14] + ["brand new", "brand new"]
    np.testing.assert_array_equal(cached.encode_text(mixed), expected(mixed))
    assert cached.encoder.encoded == TEXTS[:10] + TEXTS[10:15] + ["brand new"]


def test_interrupted_run_resumes(tmp_path):
    crashing = CachedEncoder(CountingEncoder(fail_after=25), tmp_path, chunk_size=10)
    with pytest.raises(KeyboardInterrupt):
        crashing.encode_text(TEXTS)
    resumed = CachedEncoder(CountingEncoder(), tmp_path, chunk_size=10)
    np.testing.assert_array_equal(resumed.encode_text(TEXTS), expected(TEXTS))
    assert resumed.encoder.encoded == TEXTS[20:]  # the two finished chunks were kept


def only_store_file(root):
    (path,) = root.rglob("*.sqlite")
    return path


def test_corrupt_entry_is_detected_and_recomputed(tmp_path):
    CachedEncoder(CountingEncoder(), tmp_path).encode_text(TEXTS[:3])
    with sqlite3.connect(only_store_file(tmp_path)) as db:
        key, blob = db.execute("SELECT key, vec FROM emb LIMIT 1").fetchone()
        flipped = bytes([blob[0] ^ 0xFF]) + blob[1:]
        db.execute("UPDATE emb SET vec = ? WHERE key = ?", (flipped, key))
    cached = CachedEncoder(CountingEncoder(), tmp_path)
    np.testing.assert_array_equal(cached.encode_text(TEXTS[:3]), expected(TEXTS[:3]))
    assert cached.stats.corrupt == 1 and cached.stats.misses == 1 and cached.stats.hits == 2
    healed = CachedEncoder(CountingEncoder(), tmp_path)
    healed.encode_text(TEXTS[:3])
    assert healed.encoder.calls == 0  # the recomputed vector replaced the bad one


def test_truncated_cache_file_is_moved_aside_and_recomputed(tmp_path):
    CachedEncoder(CountingEncoder(), tmp_path).encode_text(TEXTS)
    path = only_store_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    cached = CachedEncoder(CountingEncoder(), tmp_path)
    np.testing.assert_array_equal(cached.encode_text(TEXTS), expected(TEXTS))
    assert cached.encoder.encoded == TEXTS
    assert list(path.parent.glob(f"{path.name}.corrupt-*")), "the bad file is kept for inspection"


def test_garbage_cache_file_is_recomputed(tmp_path):
    CachedEncoder(CountingEncoder(), tmp_path).encode_text(TEXTS[:2])
    only_store_file(tmp_path).write_bytes(b"\x00garbage" * 100)
    cached = CachedEncoder(CountingEncoder(), tmp_path)
    np.testing.assert_array_equal(cached.encode_text(TEXTS[:2]), expected(TEXTS[:2]))
    assert cached.stats.misses == 2


def test_different_weights_do_not_share_entries(tmp_path):
    CachedEncoder(CountingEncoder(weights="w0"), tmp_path).encode_text(TEXTS[:3])
    other = CachedEncoder(CountingEncoder(weights="w1"), tmp_path)
    other.encode_text(TEXTS[:3])
    assert other.stats.hits == 0 and other.stats.misses == 3


def test_images_are_keyed_by_content(tmp_path):
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    red.save(tmp_path / "red.png")
    (tmp_path / "copy").mkdir()
    red.save(tmp_path / "copy" / "same-red.png")
    cached = CachedEncoder(CountingEncoder(), tmp_path / "cache")
    first = cached.encode_images([tmp_path / "red.png", blue])
    again = CachedEncoder(CountingEncoder(), tmp_path / "cache")
    second = again.encode_images([tmp_path / "copy" / "same-red.png", blue])
    np.testing.assert_array_equal(first, second)
    assert again.encoder.calls == 0


def test_real_encoder_through_cache_gives_identical_embeddings(tiny_openclip, tmp_path):
    texts = ["apple and pizza and desk", "a dog", "cat and teddy bear"]
    direct = tiny_openclip.encode_text(texts)
    np.testing.assert_array_equal(CachedEncoder(tiny_openclip, tmp_path).encode_text(texts), direct)
    np.testing.assert_array_equal(CachedEncoder(tiny_openclip, tmp_path).encode_text(texts), direct)


def test_default_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv(CACHE_ENV_VAR)
    assert "cliposcope" in str(default_cache_dir())


def test_cached_encoder_passes_other_methods_through(tiny_openclip, tmp_path):
    cached = CachedEncoder(tiny_openclip, tmp_path)
    image = Image.new("RGB", (64, 64), "red")
    np.testing.assert_array_equal(
        cached.cls_attention([image]), tiny_openclip.cls_attention([image])
    )
    with pytest.raises(AttributeError):
        cached.no_such_method  # noqa: B018


def test_fp16_storage_halves_the_rows_and_first_and_cached_runs_agree(tmp_path):
    first = CachedEncoder(CountingEncoder(), tmp_path, storage="fp16").encode_text(TEXTS)
    again_encoder = CountingEncoder()
    again = CachedEncoder(again_encoder, tmp_path, storage="fp16").encode_text(TEXTS)
    assert again_encoder.calls == 0
    np.testing.assert_array_equal(first, again)  # a rerun gives what the first run gave
    assert np.abs(first - expected(TEXTS)).max() < 2e-3  # fp16 rounding, nothing worse
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-6)
    [fp16] = tmp_path.rglob("*-fp16.sqlite")
    CachedEncoder(CountingEncoder(), tmp_path).encode_text(TEXTS)  # fp32 beside it
    [fp32] = [p for p in tmp_path.rglob("*.sqlite") if p != fp16]
    with sqlite3.connect(fp16) as half, sqlite3.connect(fp32) as full:
        blob16 = half.execute("SELECT vec FROM emb LIMIT 1").fetchone()[0]
        blob32 = full.execute("SELECT vec FROM emb LIMIT 1").fetchone()[0]
    assert len(blob16) * 2 == len(blob32)


def test_cache_info_and_prune(tmp_path, capsys):
    from cliposcope.app.cli import main
    from cliposcope.cache import list_stores

    CachedEncoder(CountingEncoder(), tmp_path).encode_text(TEXTS)
    CachedEncoder(CountingEncoder(weights="w1"), tmp_path, storage="fp16").encode_text(TEXTS[:5])
    stores = list_stores(tmp_path)
    # both files are the same size, so list_stores orders them by fingerprint
    assert sorted((s.storage, s.rows) for s in stores) == [("fp16", 5), ("fp32", 50)]
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 store(s)" in out and "fake:counting" in out and "fp16" in out
    assert main(["cache", "prune", "--cache-dir", str(tmp_path)]) == 2  # no filter: refused
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--all", "--dry-run"]) == 0
    assert len(list_stores(tmp_path)) == 2
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--older-than", "1"]) == 0
    assert len(list_stores(tmp_path)) == 2  # both used today
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--all"]) == 0
    assert list_stores(tmp_path) == [] and not list(tmp_path.rglob("*.sqlite*"))


def test_fp16_storage_is_recorded_in_the_model_record(tmp_path):
    cached = CachedEncoder(CountingEncoder(), tmp_path, storage="fp16")
    assert cached.info.settings["cache_storage"] == "fp16"
    assert "cache_storage" not in CachedEncoder(CountingEncoder(), tmp_path).info.settings
