"""Password hashing with argon2id (by default argon2-cffi's parameters: RFC 9106's low-memory profile).

Invariants
- Only hashes are stored; verification is constant-time inside argon2.
- A hash made with other parameters is re-hashed on the next successful login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT = PasswordHasher()


def hasher(memory_kib: int | None = None, time_cost: int | None = None) -> PasswordHasher:
    """argon2id with the given cost (``None``: the default); lower costs only where logins are not at stake."""
    if memory_kib is None and time_cost is None:
        return DEFAULT
    return PasswordHasher(time_cost=time_cost or DEFAULT.time_cost, memory_cost=memory_kib or DEFAULT.memory_cost)


def hash_password(password: str, using: PasswordHasher = DEFAULT) -> str:
    return using.hash(password)


def verify_password(password_hash: str, password: str, using: PasswordHasher = DEFAULT) -> bool:
    try:
        return using.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, using: PasswordHasher = DEFAULT) -> bool:
    return using.check_needs_rehash(password_hash)
