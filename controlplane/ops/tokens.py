"""Bearer tokens for the network-facing APIs, from a file or AWS Secrets Manager.

Either source holds one token per line (blank lines and `#` comments ignored). Several
tokens may be valid at once, which is how a token is rotated without downtime: add the
new one, move the clients, remove the old one. The file is re-read when it changes and the
secret every `refresh_s`, so no restart is needed. A presented token is compared with every
valid token in constant time (`hmac.compare_digest`), and every comparison is made, so the
time taken says nothing about which token came close.
"""

from __future__ import annotations

import hmac
import logging
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from controlplane.errors import InputError

log = logging.getLogger(__name__)
#: A shorter token is refused when the source is read: it could be guessed.
MIN_TOKEN_CHARS = 32


class TokenError(InputError):
    """A token source that cannot be used; the message names it and the problem."""


class TokenSource(Protocol):
    def tokens(self) -> tuple[bytes, ...]: ...


def parse_tokens(text: str, where: str) -> tuple[bytes, ...]:
    """Tokens from `text`, one per line; TokenError for a short or odd one, or none at all."""
    out: list[bytes] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) < MIN_TOKEN_CHARS or any(c.isspace() for c in line) or not line.isascii():
            raise TokenError(
                f"{where}: line {number}: a token is one word of at least {MIN_TOKEN_CHARS} "
                "ASCII characters"
            )
        out.append(line.encode("ascii"))
    if not out:
        raise TokenError(f"{where}: holds no token")
    return tuple(out)


class FileTokens:
    """Tokens in a file that only its owner may read; re-read whenever it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._tokens: tuple[bytes, ...] = ()
        self.tokens()  # a bad file is an error at start, not at the first request

    def tokens(self) -> tuple[bytes, ...]:
        try:
            info = self.path.stat()
        except OSError as error:
            return self._keep(f"{self.path}: cannot read: {error.strerror or error}")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return self._keep(f"{self.path}: readable by group or others; chmod 600 it")
        seen = (info.st_mtime_ns, info.st_size, info.st_ino)
        with self._lock:
            if seen == self._seen:
                return self._tokens
            try:
                tokens = parse_tokens(self.path.read_text(encoding="utf-8"), str(self.path))
            except (OSError, UnicodeDecodeError) as error:
                return self._keep(f"{self.path}: cannot read: {error}", locked=True)
            except TokenError as error:
                return self._keep(str(error), locked=True)
            self._seen, self._tokens = seen, tokens
            return tokens

    def _keep(self, problem: str, *, locked: bool = False) -> tuple[bytes, ...]:
        """The tokens read before; at start (none yet) the problem is an error."""
        if not self._tokens:
            raise TokenError(problem)
        log.error("tokens: %s; keeping the %d tokens read before", problem, len(self._tokens))
        return self._tokens


class SecretTokens:
    """Tokens in a Secrets Manager secret (its SecretString), re-read every `refresh_s`."""

    def __init__(
        self,
        read: Callable[[], str],
        where: str,
        *,
        refresh_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.where = where
        self.refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: tuple[bytes, ...] = ()
        self._at: float | None = None
        self.tokens()

    def tokens(self) -> tuple[bytes, ...]:
        with self._lock:
            now = self._clock()
            if self._at is not None and now - self._at < self.refresh_s:
                return self._tokens
            try:
                self._tokens = parse_tokens(self._read(), self.where)
            except Exception as error:
                if not self._tokens:
                    raise TokenError(f"{self.where}: {error}") from None
                log.error("tokens: %s: %s; keeping the tokens read before", self.where, error)
            self._at = now
            return self._tokens


def authorized(header: str | None, source: TokenSource) -> bool:
    """Whether `Authorization: Bearer <token>` names a valid token (constant-time compare)."""
    if header is None:
        return False
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    given = presented.strip().encode("utf-8", "replace")
    match = False
    for token in source.tokens():
        match |= hmac.compare_digest(given, token)
    return match
