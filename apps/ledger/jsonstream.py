"""Reading a chain export incrementally: one block object at a time, never the whole file as Python objects.

An export is {"format": ..., "version": ..., "params": {...}, "blocks": [{...}, ...]}. `export_items` yields
("format" | "version" | "params" | any other key, value) for the top-level members and ("block", object) for
each element of "blocks", as soon as it is read, so a caller can refuse a file at its first bad block. Memory
stays bounded by the largest single member (at most `max_item_bytes`), and the whole input by `max_bytes`.
"""

import codecs
import json

_WHITESPACE = " \t\n\r"


class _Reader:
    def __init__(self, stream, *, max_bytes: int, max_item_bytes: int, chunk: int = 1 << 16):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.json = json.JSONDecoder()
        self.buffer = ""
        self.pos = 0
        self.read_bytes = 0
        self.max_bytes = max_bytes
        self.max_item_bytes = max_item_bytes
        self.chunk = chunk
        self.eof = False

    def _fill(self, size: int) -> bool:
        if self.eof:
            return False
        data = self.stream.read(size)
        if isinstance(data, str):
            data = data.encode()
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:
            raise ValueError(f"the file is larger than {self.max_bytes} bytes (FEDCHAIN_IMPORT_MAX_BYTES); nothing was imported")
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as error:
            raise ValueError(f"the file is not UTF-8 text: {error}") from None
        self.buffer = self.buffer[self.pos :] + text
        self.pos = 0
        if not data:
            self.eof = True
        return bool(data) or bool(text)

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill(self.chunk):
                return ""

    def expect(self, char: str, what: str):
        found = self.peek()
        if found != char:
            raise ValueError(f"not a chain export: expected {what}, found {found[:1]!r} at byte {self.read_bytes}")
        self.pos += 1

    def value(self, what: str):
        self.peek()
        want = self.chunk
        while True:
            try:
                value, end = self.json.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                # Stopped by the end of what is buffered (more may follow), or by bad text?
                cut_short = error.msg.startswith("Unterminated string") or error.pos >= len(self.buffer) - 8
                if self.eof or not cut_short:
                    raise ValueError(f"{what} is not valid JSON: {error.msg}") from None
            except RecursionError:
                raise ValueError(f"{what} is nested too deeply") from None
            else:
                # A number or literal that ends with the buffer may go on in the next chunk.
                if end < len(self.buffer) or self.eof:
                    self.pos = end
                    return value
            if len(self.buffer) - self.pos > self.max_item_bytes:
                raise ValueError(f"{what} is larger than {self.max_item_bytes} bytes; nothing was imported")
            want = max(want, len(self.buffer) - self.pos)  # doubles what is buffered: linear work overall
            self._fill(want)


def export_items(stream, *, max_bytes: int, max_item_bytes: int):
    reader = _Reader(stream, max_bytes=max_bytes, max_item_bytes=max_item_bytes)
    reader.expect("{", "a JSON object")
    if reader.peek() == "}":
        reader.pos += 1
    else:
        while True:
            key = reader.value("a member name")
            if not isinstance(key, str):
                raise ValueError("not a chain export: a member name is not a string")
            reader.expect(":", "':' after a member name")
            if key == "blocks" and reader.peek() == "[":
                reader.pos += 1
                position = 0
                if reader.peek() == "]":
                    reader.pos += 1
                else:
                    while True:
                        yield "block", reader.value(f"blocks[{position}]")
                        position += 1
                        if reader.peek() == ",":
                            reader.pos += 1
                            continue
                        reader.expect("]", "',' or ']' in the list of blocks")
                        break
            else:
                yield key, reader.value(f"the member {key[:40]!r}")
            if reader.peek() == ",":
                reader.pos += 1
                continue
            reader.expect("}", "',' or '}' after a member")
            break
    if reader.peek() != "":
        raise ValueError("not a chain export: there is more after the top-level object")
