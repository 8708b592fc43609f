"""Users of the API: logins, tokens, API keys, two-factor authentication and withdrawal addresses.

The trading account itself (balances, orders) lives in the exchange; a user here is
the login that owns the exchange account of the same name.
"""

from spotlab.accounts.service import AccountService, Principal

__all__ = ["AccountService", "Principal"]
