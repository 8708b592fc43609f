"""API-key secrets and request signatures.

The scheme (documented in the README with a worked example):

- An API key has a public id (``key_id``) and a secret shown once at creation.
- A signed request carries three headers: ``SPOTLAB-KEY`` (the key id),
  ``SPOTLAB-TIMESTAMP`` (Unix time in milliseconds) and ``SPOTLAB-SIGNATURE``:
  lower-case hex of ``HMAC-SHA256(secret, timestamp + METHOD + path + body)``, where
  ``path`` includes the query string (``/v1/orders?market=BTC-USDT``) and ``body``
  is the exact bytes sent (empty for GET and DELETE).
- The server accepts a timestamp within the replay window (default +-5 s of its
  clock) and each signature once (a replayed request is refused).

Invariants
- The secret is derived, never stored: ``secret = base64url(HMAC-SHA256(server_key,
  "spotlab-api-key:" + key_id))``; the table keeps only its SHA-256, checked before
  use, so a database leak reveals no secret and a revoked key stays revoked.
- Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def derive_secret(server_key: bytes, key_id: str) -> str:
    digest = hmac.new(server_key, b"spotlab-api-key:" + key_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def signature_payload(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    return timestamp.encode() + method.upper().encode() + path.encode() + body


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes = b"") -> str:
    """The ``SPOTLAB-SIGNATURE`` value a client sends."""
    return hmac.new(secret.encode(), signature_payload(timestamp, method, path, body), hashlib.sha256).hexdigest()


def signature_matches(secret: str, signature: str, timestamp: str, method: str, path: str, body: bytes) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, method, path, body), signature.lower())


def derive_totp_seed(server_key: bytes, username: str, nonce: str) -> str:
    """The base32 TOTP seed of one 2FA enrolment (160 bits, as RFC 4226 recommends)."""
    digest = hmac.new(server_key, f"spotlab-totp:{username}:{nonce}".encode(), hashlib.sha256).digest()[:20]
    return base64.b32encode(digest).decode()
