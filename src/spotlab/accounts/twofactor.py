"""Two-factor authentication with time-based one-time passwords (TOTP, RFC 6238).

Lifecycle of one login's 2FA: off -> ``enrol`` (a new random nonce; the seed and its
``otpauth://`` URI are shown once) -> ``confirm`` with a current code (on) ->
``disable`` with a current code (off). Enrolling again while 2FA is off starts over
with a new seed; while it is on, enrolling is refused (disable first).

Invariants
- No seed is stored: it is derived from the server secret, the username and the
  enrolment's nonce (``signing.derive_totp_seed``); the table keeps the nonce only.
- Time is the service's clock. A code is accepted for the current 30 s step and
  one step either side (``valid_window=1``), and at most once: the step it matched
  is written to ``totp_last_step`` with a compare-and-set, and a code for that step
  or an earlier one is refused afterwards (also between two concurrent requests).
- ``require`` is the gate sensitive actions call: with 2FA off it lets everything
  through; with 2FA on a missing code is ``TWO_FACTOR_REQUIRED`` and a wrong or
  reused one ``INVALID_TWO_FACTOR_CODE``. A refusal changes nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa

from spotlab.accounts.service import AccountService
from spotlab.accounts.signing import derive_totp_seed
from spotlab.accounts.tables import users
from spotlab.errors import ErrorCode, SpotlabError

ISSUER = "spotlab"
STEP_SECONDS = 30
VALID_WINDOW = 1  # steps either side of now that are still accepted (clock drift)
_NS = 1_000_000_000
_CODE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What a user scans into an authenticator app: the base32 ``secret`` and its ``otpauth_uri``."""

    secret: str
    otpauth_uri: str


class TwoFactor:
    """TOTP enrolment and checks for the users of one ``AccountService`` (its engine, secret and clock)."""

    def __init__(self, accounts: AccountService, issuer: str = ISSUER) -> None:
        self._engine = accounts.engine
        self._server_key = accounts.server_key
        self._clock = accounts.clock
        self._issuer = issuer

    def enrol(self, username: str) -> Enrolment:
        """Start (or restart) enrolment with a fresh seed; refused while 2FA is on."""
        row = self._user(username)
        if row.totp_enabled:
            raise SpotlabError(
                ErrorCode.TWO_FACTOR_ALREADY_ENABLED, "two-factor authentication is already on; disable it first"
            )
        nonce = secrets.token_hex(16)
        with self._engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.username == username, users.c.totp_enabled.is_(False))
                .values(totp_nonce=nonce, totp_last_step=0)
            )
        seed = derive_totp_seed(self._server_key, username, nonce)
        uri = pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name=self._issuer)
        return Enrolment(seed, uri)

    def confirm(self, username: str, code: str) -> None:
        """Turn 2FA on with a current code of the pending enrolment."""
        row = self._user(username)
        if row.totp_enabled:
            raise SpotlabError(ErrorCode.TWO_FACTOR_ALREADY_ENABLED, "two-factor authentication is already on")
        if row.totp_nonce is None:
            raise SpotlabError(
                ErrorCode.TWO_FACTOR_NOT_ENABLED, "no two-factor enrolment is pending; start one with POST /v1/2fa"
            )
        self._accept(row, code, enable=True)

    def disable(self, username: str, code: str) -> None:
        """Turn 2FA off; needs a current code."""
        row = self._enabled_user(username)
        self._accept(row, code, enable=False)

    def is_enabled(self, username: str) -> bool:
        return bool(self._user(username).totp_enabled)

    def require(self, username: str, code: str | None) -> None:
        """Let a sensitive action through: always with 2FA off; with 2FA on only with a fresh, correct code."""
        row = self._user(username)
        if not row.totp_enabled:
            return
        if code is None:
            raise SpotlabError(
                ErrorCode.TWO_FACTOR_REQUIRED,
                "two-factor authentication is on: send the current code of your authenticator as totp_code",
            )
        self._accept(row, code, enable=True)

    # -- helpers ------------------------------------------------------------------------

    def _accept(self, row, code: str, *, enable: bool) -> None:
        """Check ``code`` against the row's seed and consume its time step, setting ``totp_enabled`` to ``enable``."""
        step = self._matching_step(row, code)
        values = {"totp_last_step": step, "totp_enabled": enable}
        if not enable:
            values["totp_nonce"] = None
        with self._engine.begin() as conn:
            done = conn.execute(
                users.update()
                .where(
                    users.c.username == row.username,
                    users.c.totp_nonce == row.totp_nonce,
                    users.c.totp_last_step < step,
                )
                .values(**values)
            ).rowcount
        if not done:  # another request used this code (or changed the enrolment) meanwhile
            raise _invalid_code()

    def _matching_step(self, row, code: str) -> int:
        """The unused time step ``code`` belongs to, nearest now first; ``INVALID_TWO_FACTOR_CODE`` if none."""
        if not isinstance(code, str) or not _CODE.match(code):
            raise _invalid_code()
        totp = pyotp.TOTP(derive_totp_seed(self._server_key, row.username, row.totp_nonce))
        now_step = self._clock.now_ns() // _NS // STEP_SECONDS
        for offset in sorted(range(-VALID_WINDOW, VALID_WINDOW + 1), key=abs):
            step = now_step + offset
            if step > row.totp_last_step and totp.verify(code, for_time=step * STEP_SECONDS):
                return step
        raise _invalid_code()

    def _user(self, username: str):
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise SpotlabError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown user {username!r}")
        return row

    def _enabled_user(self, username: str):
        row = self._user(username)
        if not row.totp_enabled:
            raise SpotlabError(ErrorCode.TWO_FACTOR_NOT_ENABLED, "two-factor authentication is not on")
        return row


def _invalid_code() -> SpotlabError:
    return SpotlabError(
        ErrorCode.INVALID_TWO_FACTOR_CODE,
        "the two-factor code is wrong, expired or already used; wait for the next code of your authenticator",
    )
