"""Logins, bearer tokens and API keys: who is calling, and what they may do.

Invariants
- A user is created together with the exchange account of the same name; if the
  exchange refuses, no user row is left behind.
- Passwords are checked with argon2; ``login_max_failures`` wrong passwords in a
  row lock the login for ``login_lockout_seconds`` (the error says until when); a
  correct password resets the count. An unknown user and a wrong password get the
  same answer.
- A login token is a JWT (HS256) carrying the username, the scopes, an expiry and
  the user's token epoch; it is checked against this service's clock.
- API keys carry a subset of the scopes ``read``, ``trade`` and ``withdraw``; their
  secrets are derived (see ``signing``) and shown once. A revoked key fails at once
  in this process and within ``CACHE_SECONDS`` in others.
- Every refusal is a ``SpotlabError`` and changes nothing (except the failure count
  of a wrong password, which is the point).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass

import jwt
import sqlalchemy as sa

from spotlab.accounts import passwords, signing
from spotlab.accounts.tables import api_keys, metadata, users
from spotlab.clock import Clock, WallClock, ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError

SCOPES = ("read", "trade", "withdraw")
CACHE_SECONDS = 5
_NS = 1_000_000_000
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
MAX_KEYS_PER_USER = 20
TOKENS_CACHED = 10_000  # verified tokens remembered (signature checked once); the cache is cleared when full


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: the exchange ``account``, its ``scopes``, and how it proved itself."""

    account: str
    scopes: frozenset[str]
    via: str  # "token" or "api_key"
    key_id: str | None = None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            what = f"API key {self.key_id}" if self.key_id else "this token"
            raise SpotlabError(
                ErrorCode.SCOPE_REQUIRED,
                f"{what} lacks the {scope!r} scope (it has: {', '.join(sorted(self.scopes)) or 'none'})",
                scope=scope,
            )


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    label: str
    scopes: tuple[str, ...]
    created_at_ns: int
    secret: str | None = None  # only when just created

    @property
    def created_at(self):
        return ns_to_datetime(self.created_at_ns)


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    username: str
    scopes: frozenset[str]
    secret_sha256: str
    loaded: float


class AccountService:
    """Users, tokens and API keys, in the ``accounts`` side database of the exchange's store."""

    def __init__(
        self,
        engine: sa.Engine,
        server_key: bytes,
        *,
        clock: Clock | None = None,
        token_ttl_seconds: int = 900,
        login_max_failures: int = 5,
        login_lockout_seconds: int = 900,
        password_hasher=None,
    ) -> None:
        if len(server_key) < 32:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, "the server secret key must have at least 32 bytes (HS256 and HMAC-SHA256)"
            )
        self.engine = engine
        self.server_key = server_key
        self.clock = clock or WallClock()
        self.token_ttl_ns = token_ttl_seconds * _NS
        self.login_max_failures = login_max_failures
        self.login_lockout_ns = login_lockout_seconds * _NS
        self.hasher = password_hasher or passwords.DEFAULT
        self._dummy_hash = passwords.hash_password(secrets.token_hex(16), self.hasher)
        self._keys: dict[str, _KeyEntry] = {}
        self._epochs: dict[str, tuple[int, float]] = {}
        self._tokens: dict[str, tuple[Principal, int, int]] = {}  # verified token -> (principal, expiry, epoch)
        self._cache_lock = threading.Lock()
        metadata.create_all(engine)

    # -- registration and login ---------------------------------------------------------

    def register(self, username: str, password: str, create_account) -> None:
        """Create the login ``username``; ``create_account(username)`` creates the exchange account."""
        if not _USERNAME.match(username or ""):
            raise SpotlabError(
                ErrorCode.VALIDATION_ERROR,
                "a username has 3 to 32 characters: letters, digits, '_', '.' or '-'",
                field="username",
            )
        password_hash = passwords.hash_password(password, self.hasher)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    users.insert().values(
                        username=username,
                        password_hash=password_hash,
                        created_at=self.clock.now_ns(),
                        failed_logins=0,
                        locked_until=0,
                        token_epoch=0,
                        totp_enabled=False,
                        totp_last_step=0,
                    )
                )
        except sa.exc.IntegrityError:
            raise SpotlabError(ErrorCode.USERNAME_TAKEN, f"the username {username!r} is taken") from None
        try:
            create_account(username)
        except SpotlabError as error:
            with self.engine.begin() as conn:
                conn.execute(users.delete().where(users.c.username == username))
            if error.code == ErrorCode.ACCOUNT_EXISTS:
                raise SpotlabError(ErrorCode.USERNAME_TAKEN, f"the username {username!r} is taken") from None
            raise

    def login(self, username: str, password: str) -> str:
        """A bearer token for ``username``; refuses wrong passwords and locked logins."""
        now = self.clock.now_ns()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
            if row is not None and row.locked_until > now:
                raise _locked(row.locked_until)
        if row is None:
            passwords.verify_password(
                self._dummy_hash, password, self.hasher
            )  # same work either way: no user enumeration
            raise SpotlabError(ErrorCode.INVALID_CREDENTIALS, "wrong username or password")
        if not passwords.verify_password(row.password_hash, password, self.hasher):
            self._record_failure(username, now)
            raise SpotlabError(ErrorCode.INVALID_CREDENTIALS, "wrong username or password")
        values: dict = {"failed_logins": 0, "locked_until": 0}
        if passwords.needs_rehash(row.password_hash, self.hasher):
            values["password_hash"] = passwords.hash_password(password, self.hasher)
        with self.engine.begin() as conn:
            conn.execute(users.update().where(users.c.username == username).values(**values))
        return self.issue_token(username, row.token_epoch, now)

    def _record_failure(self, username: str, now: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                users.update().where(users.c.username == username).values(failed_logins=users.c.failed_logins + 1)
            )
            failures = conn.execute(sa.select(users.c.failed_logins).where(users.c.username == username)).scalar()
            if failures >= self.login_max_failures:
                until = now + self.login_lockout_ns
                conn.execute(
                    users.update().where(users.c.username == username).values(locked_until=until, failed_logins=0)
                )
        if failures >= self.login_max_failures:
            raise _locked(until, f"{failures} wrong passwords in a row: ")

    def issue_token(self, username: str, epoch: int, now: int | None = None) -> str:
        now = self.clock.now_ns() if now is None else now
        claims = {
            "sub": username,
            "scp": " ".join(SCOPES),
            "iat": now // _NS,
            "exp": (now + self.token_ttl_ns) // _NS,
            "ep": epoch,
        }
        return jwt.encode(claims, self.server_key, algorithm="HS256")

    @property
    def token_ttl_seconds(self) -> int:
        return self.token_ttl_ns // _NS

    def verify_token(self, token: str) -> Principal:
        """The principal of a valid, unexpired, unrevoked login token (signature checks are cached)."""
        cached = self._tokens.get(token)
        if cached is None:
            cached = self._decode_token(token)
            with self._cache_lock:
                if len(self._tokens) >= TOKENS_CACHED:
                    self._tokens.clear()
                self._tokens[token] = cached
        principal, expires_ns, epoch = cached
        if expires_ns <= self.clock.now_ns():
            raise SpotlabError(ErrorCode.TOKEN_EXPIRED, "the bearer token has expired; log in again")
        if epoch != self._token_epoch(principal.account):
            raise SpotlabError(ErrorCode.UNAUTHENTICATED, "the bearer token was revoked; log in again")
        return principal

    def _decode_token(self, token: str) -> tuple[Principal, int, int]:
        try:
            claims = jwt.decode(
                token,
                self.server_key,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["sub", "exp", "scp", "ep"]},
            )
        except jwt.PyJWTError:
            raise SpotlabError(ErrorCode.UNAUTHENTICATED, "the bearer token is not valid") from None
        if not isinstance(claims.get("exp"), int) or not isinstance(claims.get("sub"), str):
            raise SpotlabError(ErrorCode.UNAUTHENTICATED, "the bearer token is not valid")
        scopes = frozenset(str(claims["scp"]).split()) & frozenset(SCOPES)
        return Principal(claims["sub"], scopes, "token"), claims["exp"] * _NS, claims["ep"]

    def _token_epoch(self, username: str) -> int | None:
        cached = self._epochs.get(username)
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        with self.engine.connect() as conn:
            epoch = conn.execute(sa.select(users.c.token_epoch).where(users.c.username == username)).scalar()
        with self._cache_lock:
            self._epochs[username] = (epoch, time.monotonic())
        return epoch

    def user(self, username: str):
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise SpotlabError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown user {username!r}")
        return row

    # -- API keys -----------------------------------------------------------------------

    def create_api_key(self, username: str, label: str, scopes: list[str]) -> ApiKey:
        wanted = tuple(sorted(set(scopes)))
        unknown = [s for s in wanted if s not in SCOPES]
        if not wanted or unknown:
            raise SpotlabError(
                ErrorCode.VALIDATION_ERROR,
                f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}",
                field="scopes",
            )
        if len(self.list_api_keys(username)) >= MAX_KEYS_PER_USER:
            raise SpotlabError(ErrorCode.VALIDATION_ERROR, f"at most {MAX_KEYS_PER_USER} API keys per user")
        key_id = "ak_" + secrets.token_hex(12)
        secret = signing.derive_secret(self.server_key, key_id)
        now = self.clock.now_ns()
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    username=username,
                    label=label,
                    scopes=" ".join(wanted),
                    secret_sha256=signing.secret_fingerprint(secret),
                    created_at=now,
                    revoked_at=None,
                )
            )
        return ApiKey(key_id, label, wanted, now, secret)

    def list_api_keys(self, username: str) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_keys)
                .where(api_keys.c.username == username, api_keys.c.revoked_at.is_(None))
                .order_by(api_keys.c.created_at, api_keys.c.key_id)
            ).all()
        return [ApiKey(r.key_id, r.label, tuple(r.scopes.split()), r.created_at) for r in rows]

    def revoke_api_key(self, username: str, key_id: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.username == username, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now_ns())
            ).rowcount
        with self._cache_lock:
            self._keys.pop(key_id, None)
        if not done:
            raise SpotlabError(ErrorCode.API_KEY_NOT_FOUND, f"no API key {key_id!r} on this account")

    def key_principal(self, key_id: str) -> tuple[Principal, str]:
        """``(principal, secret)`` of an active API key; ``UNAUTHENTICATED`` if unknown or revoked."""
        entry = self._keys.get(key_id)
        if entry is None or time.monotonic() - entry.loaded >= CACHE_SECONDS:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                ).first()
            if row is None:
                with self._cache_lock:
                    self._keys.pop(key_id, None)
                raise SpotlabError(ErrorCode.UNAUTHENTICATED, "unknown or revoked API key")
            entry = _KeyEntry(row.username, frozenset(row.scopes.split()), row.secret_sha256, time.monotonic())
            with self._cache_lock:
                self._keys[key_id] = entry
        secret = signing.derive_secret(self.server_key, key_id)
        if not secrets.compare_digest(signing.secret_fingerprint(secret), entry.secret_sha256):
            raise SpotlabError(ErrorCode.UNAUTHENTICATED, "this API key was made under another server secret")
        return Principal(entry.username, entry.scopes, "api_key", key_id), secret


def _locked(until_ns: int, why: str = "") -> SpotlabError:
    until = ns_to_datetime(until_ns).isoformat().replace("+00:00", "Z")
    return SpotlabError(
        ErrorCode.ACCOUNT_LOCKED,
        f"{why}this login is locked until {until} after too many wrong passwords",
        locked_until=until,
    )
