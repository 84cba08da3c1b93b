"""Bounded output: what the model sees of a long text is its head and tail, with a note of what was cut.

`cut_middle` works on text already in memory (the editor reuses it). `OutputCapture` is fed a command's
output chunk by chunk and never holds more than head + tail bytes, however much the command prints.
"""

from __future__ import annotations


def cut_note(amount: int, unit: str = "characters") -> str:
    return f"[... {amount:,} {unit} cut from the middle ...]"


def cut_middle(text: str, head: int, tail: int) -> str:
    """Keep the first `head` and last `tail` characters of `text`, replacing the middle with a note."""
    head, tail = max(0, head), max(0, tail)
    cut = len(text) - head - tail
    if cut <= 0:
        return text
    end = text[len(text) - tail :] if tail else ""
    return f"{text[:head]}\n{cut_note(cut)}\n{end}"


def append_note(text: str, note: str) -> str:
    """`note` on a line of its own after `text`."""
    return f"{text}\n{note}" if text and not text.endswith("\n") else f"{text}{note}"


def _complete_utf8_prefix(data: bytes) -> bytes:
    """`data` without a multi-byte UTF-8 sequence left unfinished at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 == 0b1000_0000:  # continuation byte: keep looking for the lead byte
            continue
        if byte & 0b1000_0000 == 0:  # ASCII: nothing unfinished
            return data
        needed = 4 if byte >= 0b1111_0000 else 3 if byte >= 0b1110_0000 else 2
        return data if back >= needed else data[:-back]
    return data


def _complete_utf8_suffix(data: bytes) -> bytes:
    """`data` without continuation bytes at its start (the tail of a character cut in two)."""
    skip = 0
    while skip < min(3, len(data)) and data[skip] & 0b1100_0000 == 0b1000_0000:
        skip += 1
    return data[skip:]


class OutputCapture:
    """Accumulates a byte stream keeping only its first `head` and last `tail` bytes."""

    def __init__(self, head: int, tail: int, *, watch: tuple[bytes, ...] = ()):
        self.head_limit = max(0, head)
        self.tail_limit = max(0, tail)
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0
        self.watch = watch
        self.watched_seen = False  # whether any of `watch` went past, even in the part that was cut
        self._overlap = b""

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.watch and not self.watched_seen:
            self._look_for_watched(chunk)
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk or not self.tail_limit:
            return
        if len(chunk) >= self.tail_limit:
            self._tail[:] = chunk[-self.tail_limit :]
        else:
            self._tail += chunk
            excess = len(self._tail) - self.tail_limit
            if excess > 0:
                del self._tail[:excess]

    def _look_for_watched(self, chunk: bytes) -> None:
        window = self._overlap + chunk
        self.watched_seen = any(marker in window for marker in self.watch)
        keep = max(len(marker) for marker in self.watch) - 1
        self._overlap = window[-keep:] if keep else b""

    @property
    def cut_bytes(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    def text(self) -> str:
        """The captured output decoded as UTF-8 (bad bytes replaced), with a note where the middle was cut."""
        if not self.cut_bytes:
            return (bytes(self._head) + bytes(self._tail)).decode("utf-8", "replace")
        head = _complete_utf8_prefix(bytes(self._head)).decode("utf-8", "replace")
        tail = _complete_utf8_suffix(bytes(self._tail)).decode("utf-8", "replace")
        return f"{head}\n{cut_note(self.cut_bytes, 'bytes')}\n{tail}"
