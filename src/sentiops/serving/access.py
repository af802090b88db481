"""Who may do what: three roles, each with its own credential, checked here and nowhere else.

| role       | credential                                             | may                                     |
|------------|--------------------------------------------------------|-----------------------------------------|
| API caller | `SENTIOPS_API_TOKEN(_FILE)` (bearer)                   | /predict*, /feedback (stored, untrusted) |
| labeller   | a named account in `SENTIOPS_LABELLERS_FILE`            | the Label page (trusted labels, named),  |
|            | (`name:<argon2id hash>` lines; sign in, or HTTP Basic) | the dashboard's pages                   |
| operator   | `SENTIOPS_ADMIN_TOKEN(_FILE)` (bearer, or sign in)     | /admin/*, the dashboard's pages         |

With no credential configured at all ("local mode", `make demo` on a laptop) predictions and the
Label page are open (labels recorded as given by `local`) and the admin routes closed; `sentiops
serve` refuses to start that way on any address but the loopback (`missing_credentials`).

A browser cannot send a bearer header, so /ui/login trades a credential for a session cookie. The
cookie holds no secret: it names the person and a random session id, signed (itsdangerous) with a
key derived from that person's own credential (the operator token, or the labeller's password
hash), so it cannot be forged, it expires, and it ends when that credential changes or the account
is removed. Signing out records the session id as ended on the volume (`EndedSessions`), so the
cookie stops working on every replica, not only in the browser that dropped it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from filelock import FileLock
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from sentiops.config import Settings
from sentiops.files import replaced_atomically, write_json_atomic
from sentiops.serving.token import TokenSource

log = logging.getLogger(__name__)

SESSION_COOKIE = "sentiops_session"
LOCAL = "local"  # who labels in local mode
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# argon2id with OWASP's minimum (19 MiB, 2 passes, 1 lane) rather than the library's 64 MiB
# default: a server verifies, and at most VERIFYING at once, so an attacker's wrong passwords
# cost it a bounded amount of memory.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
VERIFYING = threading.BoundedSemaphore(2)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when a name is unknown, so a wrong name takes as long as a wrong password."""
    return _HASHER.hash(secrets.token_hex(16))


class Role(StrEnum):
    CALLER = "caller"
    LABELLER = "labeller"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Person:
    """Someone signed in (or the local user): who they are and the session they hold."""

    role: Role
    name: str
    session: str | None = None


class BackedOff(Exception):
    """Too many failed sign-ins for this account from this address: try again in ``wait`` s."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {wait} s")
        self.wait = wait


def token_matches(given: str, expected: str) -> bool:
    """Compare a secret in constant time (no timing hint of how much of it was right)."""
    return secrets.compare_digest(given.encode(), expected.encode())


class AccountError(ValueError):
    """A labeller account that cannot be added or removed as asked."""


def read_accounts(file: Path) -> dict[str, str]:
    """name -> argon2 hash, from a file of `name:hash` lines (blank lines and # comments skipped)."""
    accounts: dict[str, str] = {}
    for number, line in enumerate(file.read_text(encoding="utf-8-sig").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, hashed = line.partition(":")
        if not NAME.match(name) or not hashed.startswith("$argon2"):
            log.error("labeller accounts file %s line %d is not name:<argon2 hash>: skipped", file, number)
            continue
        accounts[name] = hashed
    return accounts


def write_account(file: Path, name: str, password: str) -> None:
    """Add ``name`` to the accounts file, or give it a new password (its sessions end)."""
    if not NAME.match(name):
        raise AccountError(f"labeller name {name!r}: use letters, digits, '.', '_' or '-' (64 at most)")
    if len(password) < 12:
        raise AccountError("a labeller's password needs at least 12 characters")
    accounts = read_accounts(file) if file.is_file() else {}
    accounts[name] = _HASHER.hash(password)
    _write_accounts(file, accounts)


def remove_account(file: Path, name: str) -> None:
    accounts = read_accounts(file) if file.is_file() else {}
    if name not in accounts:
        raise AccountError(f"no labeller {name!r} in {file}")
    del accounts[name]
    _write_accounts(file, accounts)


def _write_accounts(file: Path, accounts: dict[str, str]) -> None:
    with replaced_atomically(file, mode=0o600) as tmp:  # hashes, but still nobody else's business
        tmp.write_text("".join(f"{n}:{h}\n" for n, h in sorted(accounts.items())), encoding="utf-8")


class LabellerAccounts:
    """The accounts file, re-read when it changes (a rotated Secret), checked at most once a second.
    A configured file that is missing lets nobody sign in (fail closed)."""

    def __init__(self, file: Path, check_seconds: float = 1.0) -> None:
        self.file = file
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._seen: tuple[int, int, int] | None = None
        self._accounts: dict[str, str] = {}

    def accounts(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._checked >= self._check_seconds:
                self._checked = time.monotonic()
                self._refresh()
            return self._accounts

    def _refresh(self) -> None:
        try:
            stat = self.file.stat()
        except OSError:
            if self._seen is not None or not self._accounts:
                log.error("labeller accounts file %s is missing: no labeller can sign in", self.file)
            self._accounts, self._seen = {}, None
            return
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if seen != self._seen:
            try:
                self._accounts = read_accounts(self.file)
            except (OSError, UnicodeDecodeError) as exc:
                log.error("labeller accounts file %s cannot be read (%s): no labeller can sign in", self.file, exc)
                self._accounts = {}
            self._seen = seen

    def verify(self, name: str, password: str) -> bool:
        hashed = self.accounts().get(name)
        try:
            with VERIFYING:
                return _HASHER.verify(hashed or _dummy_hash(), password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False


class EndedSessions:
    """Session ids signed out before they expired, on the volume (every replica reads them), with
    when each would have expired anyway (then it is dropped: the file stays small)."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "ended-sessions.json"
        self._seen: tuple[int, int, int] | None = None
        self._ended: dict[str, float] = {}

    def end(self, session: str, until: float) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.file.with_name(".ended-sessions.lock")), timeout=10):
            now = time.time()
            ended = {k: v for k, v in self._read().items() if v > now}
            ended[session] = until
            write_json_atomic(self.file, ended)

    def __contains__(self, session: str) -> bool:
        try:
            stat = self.file.stat()
        except FileNotFoundError:
            return False
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)  # each write is a new file (renamed in)
        if seen != self._seen:
            self._ended, self._seen = self._read(), seen
        return session in self._ended

    def _read(self) -> dict[str, float]:
        try:
            found = json.loads(self.file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {k: float(v) for k, v in found.items() if isinstance(v, int | float)} if isinstance(found, dict) else {}


def _serializer(key_material: str, purpose: str) -> URLSafeTimedSerializer:
    key = hashlib.sha256(f"sentiops {purpose} session\0{key_material}".encode()).hexdigest()
    return URLSafeTimedSerializer(key, salt="sentiops-ui")


class Access:
    """The service's credentials: the API callers' token, the operators' token, the labellers'
    accounts, and the sessions of people who signed in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = TokenSource(settings.api_token, settings.api_token_file)
        self.admin = TokenSource(
            settings.admin_token, settings.admin_token_file, name="operator token", variable="SENTIOPS_ADMIN_TOKEN"
        )
        self.labellers = LabellerAccounts(settings.labellers_file) if settings.labellers_file else None
        self.ended = EndedSessions(settings.data / "queue")
        self.session_seconds = settings.ui_session_hours * 3600
        self.limiter = SignInLimiter(settings.ui_login_attempts_per_minute)

    @property
    def local(self) -> bool:
        """No credential configured at all: a laptop's defaults (only ever bound to the loopback)."""
        return not (self.api.configured or self.admin.configured or self.labellers is not None)

    # -- sessions -------------------------------------------------------------------------------
    def _key(self, role: Role, name: str) -> str | None:
        """What a session of this person is signed with; None when they have no credential now."""
        if role is Role.OPERATOR:
            return self.admin.get_or_none()
        if role is Role.LABELLER and self.labellers is not None:
            return self.labellers.accounts().get(name)
        return None

    def new_session(self, person: Person) -> str:
        key = self._key(person.role, person.name)
        assert key is not None, "sessions are only made for people whose credential was just checked"
        payload = {"v": 2, "role": str(person.role), "who": person.name, "sid": secrets.token_hex(16)}
        return _serializer(key, person.role).dumps(payload)

    def read_session(self, cookie: str) -> Person | None:
        """Who holds this cookie; None when it is missing, forged, expired, ended or its person's
        credential has changed."""
        if not cookie:
            return None
        _, peeked = URLSafeTimedSerializer("").loads_unsafe(cookie)
        if not isinstance(peeked, dict) or peeked.get("role") not in (Role.LABELLER, Role.OPERATOR):
            return None
        role, name = Role(peeked["role"]), str(peeked.get("who", ""))
        key = self._key(role, name)
        if key is None:
            return None
        try:
            payload = _serializer(key, role).loads(cookie, max_age=int(self.session_seconds))
        except (SignatureExpired, BadSignature):
            return None
        session = str(payload.get("sid", ""))
        if not session or session in self.ended:
            return None
        return Person(role, name, session)

    def end_session(self, cookie: str) -> None:
        person = self.read_session(cookie)
        if person is not None and person.session is not None:
            self.ended.end(person.session, time.time() + self.session_seconds)

    # -- sign-in --------------------------------------------------------------------------------
    def sign_in(self, name: str, secret: str, client: str, operator: bool = True) -> Person | None:
        """The person these credentials name: the operator token (any name; unless ``operator``
        is False, as for a labeller's script), or a labeller's name and password. Failures back off
        per (account, client address); raises BackedOff while this pair must wait."""
        account = self.limiter_key(name)
        wait = self.limiter.retry_after(account, client)
        if wait:
            raise BackedOff(wait)
        found = self._credentials(name, secret, operator)
        if found is None:
            self.limiter.failed(account, client)
        else:
            self.limiter.succeeded(account, client)
        return found

    def _credentials(self, name: str, secret: str, operator: bool) -> Person | None:
        admin = self.admin.get_or_none() if operator else None
        if admin and token_matches(secret, admin):
            return Person(Role.OPERATOR, name or "operator")
        if self.labellers is not None and name and self.labellers.verify(name, secret):
            return Person(Role.LABELLER, name)
        return None

    def limiter_key(self, name: str) -> str:
        """Whose failures a sign-in counts against: the labeller it names, else one bucket for
        every other name (so that changing the name does not buy more guesses)."""
        return name if self.labellers is not None and name in self.labellers.accounts() else "*"


def missing_credentials(settings: Settings) -> list[str]:
    """The credentials a server reachable from other machines must have and this one lacks."""
    missing = []
    if settings.api_token is None and settings.api_token_file is None:
        missing.append("SENTIOPS_API_TOKEN(_FILE) (API callers)")
    if settings.admin_token is None and settings.admin_token_file is None:
        missing.append("SENTIOPS_ADMIN_TOKEN(_FILE) (operators)")
    if settings.labellers_file is None:
        missing.append("SENTIOPS_LABELLERS_FILE (labeller accounts; `sentiops labellers add NAME`)")
    return missing


class SignInLimiter:
    """Failed sign-ins per (account, client address): after ``free`` failures each further one
    doubles the wait (1 s, 2 s, 4 s ... at most 15 minutes); a success clears it. Keyed by both,
    so one address behind a proxy cannot lock everyone out, and a guessed name locks nobody else."""

    def __init__(self, free: int, longest: float = 900.0) -> None:
        self.free = free
        self.longest = longest
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # -> (count, last failure)
        self._lock = threading.Lock()

    def retry_after(self, account: str, client: str) -> int:
        with self._lock:
            count, last = self._failures.get((account, client), (0, 0.0))
            if count < self.free:
                return 0
            wait = min(self.longest, 2.0 ** (count - self.free)) - (time.monotonic() - last)
            return max(0, int(wait + 0.999))

    def failed(self, account: str, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            count, last = self._failures.get((account, client), (0, now))
            if now - last > self.longest:
                count = 0  # quiet for the longest wait: start over
            self._failures[(account, client)] = (count + 1, now)
            if len(self._failures) > 10_000:  # bound what a flood of names and addresses can take
                self._failures = {k: v for k, v in self._failures.items() if now - v[1] < self.longest}

    def succeeded(self, account: str, client: str) -> None:
        with self._lock:
            self._failures.pop((account, client), None)
