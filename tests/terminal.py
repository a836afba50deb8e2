"""A program run on a pseudo-terminal and driven as a person at a keyboard would (stdlib only).

cookiecutter asks its questions only when it talks to a terminal, so the newcomer's interactive
run is played here on a real pty: read what is shown, type an answer, read on.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

# Colours, cursor moves and window titles: what a terminal interprets rather than shows.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")
ROWS, COLUMNS = 50, 200  # wide enough that no prompt is wrapped


class Terminal:
    """``command`` on a fresh pseudo-terminal; ``screen`` is all it has shown, as text."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self._master, replica = pty.openpty()
        fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=replica, stdout=replica, stderr=replica, start_new_session=True
        )
        os.close(replica)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._shown = ""
        self._read_up_to = 0
        self.screen = ""

    def _read(self, timeout: float) -> bool:
        """Take what the program has shown within ``timeout``; False once it has closed the pty."""
        ready, _, _ = select.select([self._master], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: every copy of the pty's other side is closed
            data = b""
        if not data:
            return False
        self._shown += self._decoder.decode(data)
        self.screen = ESCAPES.sub("", self._shown)
        return True

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait until ``pattern`` is shown after what was already expected; return the match."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while True:
            match = compiled.search(self.screen, self._read_up_to)
            if match:
                self._read_up_to = match.end()
                return match
            if not self._read(deadline - time.monotonic()) or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} was not shown; the screen:\n{self.screen}")

    def wait_for_prompt(self, timeout: float = 60) -> None:
        """Wait until the program stops at a question (its last line ends with ': ')."""
        deadline = time.monotonic() + timeout
        while not self.screen.endswith(": "):
            if not self._read(deadline - time.monotonic()) or time.monotonic() > deadline:
                raise AssertionError(f"no question is waiting; the screen:\n{self.screen}")

    def type(self, text: str) -> None:
        """Type ``text`` and press Enter."""
        os.write(self._master, f"{text}\r".encode())

    def finish(self, timeout: float = 120) -> int:
        """Read everything up to the program's end; its exit status."""
        deadline = time.monotonic() + timeout
        while self._read(deadline - time.monotonic()):
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"still running after {timeout}s; the screen:\n{self.screen}")
        os.close(self._master)
        return self.process.wait(timeout=10)
