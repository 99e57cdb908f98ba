"""Who may use the desk: users, API tokens, console sessions, roles and districts.

- Users: ``P:user:<name>`` hash (Argon2id password hash from ``argon2-cffi``, role,
  districts, display name), listed in ``P:users``.
- API tokens: ``ewd_`` + 43 random URL-safe characters, shown once; stored only as their
  SHA-256 (``P:token:<sha256>``; a token has 256 bits of entropy, so a slow hash adds
  nothing), listed per user in ``P:tokens:<name>``.
- Sessions: ``P:session:<id>`` hash (user, CSRF token, expiry) with a Redis TTL; the
  cookie carries the id signed with ``itsdangerous`` (timestamped, so a stolen old cookie
  is refused even if Redis kept the key).
- Failed logins: ``P:login:user:<name>`` and ``P:login:addr:<address>`` counters with the
  window's TTL; past the limit, logins are refused (HTTP 429) until the window passes.

Roles are ordered viewer < officer < admin. A user with districts sees and acts on alerts
of those districts only (an alert with no district is then out of reach); no districts
means the whole city.

>>> User("li", "officer", ("310115",)).may("viewer"), User("li", "officer", ("310115",)).may("admin")
(True, False)
>>> User("li", "officer", ("310115",)).sees("310104"), User("wang", "admin", ()).sees(None)
(False, True)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

ROLES = ("viewer", "officer", "admin")
ROLE_NAMES = {"viewer": "查看员", "officer": "处置员", "admin": "管理员"}


@dataclass(frozen=True)
class User:
    name: str
    role: str
    districts: tuple[str, ...] = ()
    display: str = ""

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees(self, district_code: str | None) -> bool:
        return not self.districts or district_code in self.districts

    @property
    def visible(self) -> tuple[str, ...] | None:
        """The districts this user is limited to, None for the whole city."""
        return self.districts or None

    @property
    def shown(self) -> str:
        return self.display or self.name


@dataclass(frozen=True)
class Session:
    id: str
    user: User
    csrf: str
    expires: float


class Auth:
    def __init__(self, client: redis.Redis, prefix: str, secret: str, session_minutes: float = 480.0,
                 login_attempts: int = 5, login_window: float = 300.0, hash_time_cost: int = 3,
                 hash_memory_kib: int = 65536) -> None:
        self.r = client
        self.p = prefix
        self.hasher = PasswordHasher(time_cost=hash_time_cost, memory_cost=hash_memory_kib)
        self.session_seconds = session_minutes * 60
        self.signer = URLSafeTimedSerializer(secret, salt="earlywarn-desk-session")
        self.login_attempts = login_attempts
        self.login_window = login_window
        self._dummy = self.hasher.hash(secrets.token_hex(8))

    def key(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    # ---- users -------------------------------------------------------------------------

    def add_user(self, name: str, password: str, role: str, districts: Sequence[str] = (), display: str = "") -> User:
        """Create or replace a user; ValueError on a bad role, district or too short a password."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"user name {name!r}: letters, digits, '.', '_' and '-' only")
        if len(password) < 8:
            raise ValueError("a password needs at least 8 characters")
        for d in districts:
            if not (len(d) == 6 and d.isdigit()):
                raise ValueError(f"district {d!r}: expected a 6-digit administrative code such as 310115")
        user = User(name, role, tuple(districts), display)
        p = self.r.pipeline()
        p.hset(self.key("user", name), mapping={"hash": self.hasher.hash(password), "role": role,
                                                 "districts": ",".join(districts), "display": display})
        p.sadd(self.key("users"), name)
        p.execute()
        return user

    def user(self, name: str) -> User | None:
        raw = self.r.hmget(self.key("user", name), "role", "districts", "display")
        if raw[0] is None:
            return None
        role, districts, display = (x.decode() if x else "" for x in raw)
        return User(name, role, tuple(d for d in districts.split(",") if d), display)

    def users(self) -> list[User]:
        return [u for u in (self.user(n.decode()) for n in sorted(self.r.smembers(self.key("users")))) if u]

    def check_password(self, name: str, password: str) -> User | None:
        stored = self.r.hget(self.key("user", name), "hash")
        try:
            # An unknown user costs the same hash as a known one: timing names no users.
            self.hasher.verify(stored.decode() if stored else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        return self.user(name) if stored else None

    # ---- login rate limit --------------------------------------------------------------

    def login_blocked(self, name: str, address: str) -> bool:
        n_user, n_addr = self.r.mget(self.key("login", "user", name), self.key("login", "addr", address))
        return int(n_user or 0) >= self.login_attempts or int(n_addr or 0) >= 4 * self.login_attempts

    def login_failed(self, name: str, address: str) -> None:
        p = self.r.pipeline()
        for k in (self.key("login", "user", name), self.key("login", "addr", address)):
            p.incr(k)
            p.expire(k, int(self.login_window), nx=True)
        p.execute()

    def login_succeeded(self, name: str) -> None:
        self.r.delete(self.key("login", "user", name))

    # ---- tokens ------------------------------------------------------------------------

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def issue_token(self, user: User, label: str, days: float = 90.0) -> str:
        token = "ewd_" + secrets.token_urlsafe(32)
        digest = self._digest(token)
        p = self.r.pipeline()
        p.hset(self.key("token", digest), mapping={"user": user.name, "label": label, "created": time.time()})
        p.expire(self.key("token", digest), int(days * 86400))
        p.sadd(self.key("tokens", user.name), digest)
        p.execute()
        return token

    def token_user(self, token: str) -> User | None:
        name = self.r.hget(self.key("token", self._digest(token)), "user")
        return self.user(name.decode()) if name else None

    def revoke_tokens(self, name: str) -> int:
        digests = [d.decode() for d in self.r.smembers(self.key("tokens", name))]
        if digests:
            self.r.delete(*(self.key("token", d) for d in digests), self.key("tokens", name))
        return len(digests)

    # ---- sessions ----------------------------------------------------------------------

    def start_session(self, user: User) -> tuple[Session, str]:
        """A new session and the signed cookie value that names it."""
        sid, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = time.time() + self.session_seconds
        p = self.r.pipeline()
        p.hset(self.key("session", sid), mapping={"user": user.name, "csrf": csrf, "expires": expires})
        p.pexpire(self.key("session", sid), max(1, int(self.session_seconds * 1000)))
        p.execute()
        return Session(sid, user, csrf, expires), self.signer.dumps(sid)

    def session(self, cookie: str) -> Session | None:
        try:
            sid = self.signer.loads(cookie, max_age=max(1, int(self.session_seconds) + 1))
        except BadSignature:  # also SignatureExpired
            return None
        raw = self.r.hmget(self.key("session", sid), "user", "csrf", "expires")
        if raw[0] is None or float(raw[2]) < time.time():
            return None
        user = self.user(raw[0].decode())
        return Session(sid, user, raw[1].decode(), float(raw[2])) if user else None

    def end_session(self, session_id: str) -> None:
        self.r.delete(self.key("session", session_id))

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf, presented or "")
