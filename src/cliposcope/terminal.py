"""Text that is safe to print on a terminal. A model spec, a role, a file name or any other
string read from a result (or a folder listing) could hold control characters: an escape
sequence that sets the window title or colours the screen, a carriage return that
overwrites a line, a newline that forges a table row, a lone surrogate that stops the
print itself. Every such character is shown as a visible escape instead, as Python's
``repr`` writes it (``\\x1b``, ``\\n``, ``\\u202e``), so the text reads the same and can
do nothing. Every table cell, verdict line and message that shows a string from a file goes
through here."""

from __future__ import annotations

SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible_escape(character: str) -> str:
    """One character as the escape that names it."""
    if character in SHORT_ESCAPES:
        return SHORT_ESCAPES[character]
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_text(value: object) -> str:
    """``value`` as text with every character that is not printable (C0 and C1 controls,
    DEL, line and paragraph separators, bidirectional and other format characters, lone
    surrogates, unassigned code points) written as a visible escape; the ASCII space
    stays."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else visible_escape(c) for c in text)


def shown(value: object, limit: int = 80) -> str:
    """A string from a file as a message quotes it: neutralised, cut to ``limit``
    characters, in quotes."""
    text = terminal_text(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"'{text}'"
