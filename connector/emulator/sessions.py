"""The org's users and sessions: access tokens, their expiry, OAuth revoke, user lookup.

``OrgSessions`` is a part of ``Org`` (a mixin): the state it reads and writes is the org's.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime

__all__ = ["OrgSessions", "UserInfo"]


@dataclass
class UserInfo:
    """One of the org's users, as the contract's JSON line shows it."""

    key: str
    username: str
    password: str
    id: str
    refresh_token: str
    name: str
    email: str

    def public(self) -> dict[str, str]:
        """The user's entry in the ``emulator serve`` JSON line."""
        return {
            "username": self.username,
            "password": self.password,
            "id": self.id,
            "refresh_token": self.refresh_token,
        }


class OrgSessions:
    """Sessions and users of an org (mixed into ``Org``)."""

    organization_id: str
    session_ttl: float
    lock: threading.RLock
    users: dict[str, UserInfo]
    sessions: dict[str, tuple[str, float]]
    revoked_refresh_tokens: set[str]
    dirty: bool

    def now_dt(self) -> datetime:  # provided by Org
        raise NotImplementedError

    def new_session(self, user_id: str) -> str:
        """A fresh access token for ``user_id`` (Salesforce-shaped: ``00D...!AQ...``)."""
        token = f"{self.organization_id[:15]}!AQ{secrets.token_urlsafe(60)}"
        with self.lock:
            self.sessions[token] = (user_id, self.now_dt().timestamp() + self.session_ttl)
            self.dirty = True
        return token

    def user_for_token(self, token: str) -> str | None:
        """The user a live token acts as, or None when unknown or expired."""
        entry = self.sessions.get(token)
        if entry is None or entry[1] < self.now_dt().timestamp():
            return None
        return entry[0]

    def revoke(self, token: str) -> bool:
        """Revoke an access token, or a refresh token with its user's sessions (OAuth
        revoke); False when the token is neither."""
        with self.lock:
            if token in self.sessions:
                del self.sessions[token]
                self.dirty = True
                return True
            user = self.user_by(refresh_token=token)
            if user is None or token in self.revoked_refresh_tokens:
                return False
            self.revoked_refresh_tokens.add(token)
        self.expire_sessions(user.id)
        return True

    def expire_sessions(self, user_id: str | None = None) -> None:
        """Expire every session now, or one user's (tests: INVALID_SESSION_ID next call)."""
        with self.lock:
            for token, (owner, _expires) in list(self.sessions.items()):
                if user_id is None or owner == user_id:
                    del self.sessions[token]

    def user_by(
        self,
        *,
        username: str | None = None,
        user_id: str | None = None,
        refresh_token: str | None = None,
    ) -> UserInfo | None:
        """Find a user by username (case-insensitive), id or refresh token."""
        for u in self.users.values():
            if username is not None and u.username.lower() == username.lower():
                return u
            if user_id is not None and u.id == user_id:
                return u
            if refresh_token is not None and u.refresh_token == refresh_token:
                return u
        return None
