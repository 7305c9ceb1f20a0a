"""A vocabulary file (--vocab) from elsewhere: deep nesting, bad bytes and absurd numbers
end in one error line and exit 2, with no output folder left."""

from __future__ import annotations

import pytest
from tests.hostile.conftest import assert_one_clear_error

BAD_VOCABULARIES = {
    "deeply nested": b"[" * 5000 + b"]" * 5000,
    "nested beyond the limit": b"[" * 65 + b'"dog"' + b"]" * 65,
    "not UTF-8": b'["dog", "caf\xe9"]',
    "a number of 5000 digits": b"[" + b"9" * 5000 + b"]",
    "not JSON": b'["dog", ',
}


@pytest.mark.parametrize("case", BAD_VOCABULARIES)
def test_a_bad_vocabulary_file_is_one_error_line(case, tmp_path, capsys):
    words = tmp_path / "words.json"
    words.write_bytes(BAD_VOCABULARIES[case])
    out = tmp_path / "out"
    argv = ["run", "tor", "--model", "toy:default", "--vocab", words, "--out", out, "--quiet"]
    assert_one_clear_error(argv, capsys, str(words), out, tmp_path)
