"""The fuzz world: one runtime, the app of each port, and the accounts, credentials and objects that let generated
requests reach the deep code paths (a user with a website, a subdomain, a certificate, a mail domain with a mailbox,
an alias and a DKIM key, an SSH key and API keys; a second user; an administrator; a plan; a job; a cPanel-style
session on every port).

Generated requests change that state (they log out, revoke keys, change passwords, delete domains, turn the
two-factor policy on...). After every batch of a route that can write, and whenever a credential that should work
is refused, the world checks itself and repairs what was broken, so the next requests start deep again.

Provisioning runs without daemons, as in the unit tests: nginx vhosts are rendered and checked with the real
`nginx -t` (no nginx runs, so nothing is reloaded), Postfix/Dovecot read their lookup rows from SQLite files, OpenDKIM
tables are written and checked with `opendkim -n`, ACME orders go to a closed loopback port and fail fast.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.cookies
import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import delete, select, update

from hostplane.app import create_app
from hostplane.auth.models import ROLE_ADMIN, ThrottleCounter, User
from hostplane.auth.principal import Actor
from hostplane.panel.service import PanelSettingsService
from hostplane.runtime import Runtime
from hostplane.tls.selfsigned import self_signed_pem
from tests.fuzz.asgi import PEER, Answer, Wire, exchange
from tests.fuzz.request import PORTS, Cat, Live, Port, Request, to_wire

PASSWORD = "Fuzz-Panel-Passphrase-42"
MAILBOX_PASSWORD = "Fuzz-Mailbox-Passphrase-42"
SITE = "fuzz-site.example"
SUB_LABEL = "www"
SUB = f"{SUB_LABEL}.{SITE}"
MAIL = "fuzz-mail.example"
BOX = "box"
ALIAS = "alias"
BOB_SITE = "bob-site.example"
BOB_MAIL = "bob-mail.example"
PLAN = "fuzz-plan"
USERS = ("alice", "bob", "root")
SERVICES: dict[Port, str] = {"user": "cpaneld", "admin": "whostmgrd", "webmail": "webmaild"}
COOKIES = {"cpaneld": "cpsession", "whostmgrd": "whostmgrsession", "webmaild": "webmailsession"}
SERVER_PORTS: dict[Port, int] = {"user": 2083, "admin": 2087, "webmail": 2096}
UNREACHABLE_CA = "https://127.0.0.1:9/directory"


def settings_overrides() -> dict[str, Any]:
    """What the fuzz run needs in its Settings: ACME orders never leave the machine (a closed loopback port), and
    the peer is a trusted proxy so that X-Forwarded-For is parsed (and fuzzed)."""
    return {"acme_directory_url": UNREACHABLE_CA, "trusted_proxies": [PEER], "plain_http": True}


def _ssh_public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " fuzz"


class HarnessError(RuntimeError):
    """The world could not be set up or repaired: a bug of the harness (or of the app on good input)."""


class World:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.apps = {port: create_app(runtime, port) for port in PORTS}
        self.live: dict[str, Any] = {}
        self.dirty = True
        """A credential that should work was refused: check (and repair) before the next request."""
        self.changed = False
        """A request may have changed the world: check it at the end of the batch."""
        self.repairs = 0
        self.checks = 0
        certificate, key = self_signed_pem([SITE, SUB], days=90)
        self.certificate_pem = certificate.decode()
        self.key_pem = key.decode()
        other, other_key = self_signed_pem(["other.example"], days=90)
        self.ssh_public_key = _ssh_public_key()
        self._password_hash = ""
        self.live.update(
            {
                "pem.certificate": self.certificate_pem,
                "pem.key": self.key_pem,
                "pem.other": other.decode(),
                "pem.other_key": other_key.decode(),
            }
        )

    # --- the harness's own requests ----------------------------------------------------------------------

    async def call(
        self,
        port: Port,
        method: str,
        target: str,
        *,
        body: Any = None,
        token: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Answer:
        headers: list[tuple[bytes, bytes]] = []
        data = b""
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        if body is not None:
            data = json.dumps(body).encode()
            headers.append((b"content-type", b"application/json"))
        if form is not None:
            from urllib.parse import urlencode

            data = urlencode(dict(form)).encode()
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        return await exchange(self.apps[port], Wire(method, target, headers, data), SERVER_PORTS[port])

    async def _ok(self, port: Port, method: str, target: str, **kwargs: Any) -> Any:
        answer = await self.call(port, method, target, **kwargs)
        if not 200 <= answer.status < 300 or answer.error:
            raise HarnessError(f"{method} {target}: {answer.status} {answer.body[:500]!r} {answer.error or ''}")
        return json.loads(answer.body) if answer.body else None

    # --- generated requests ------------------------------------------------------------------------------

    async def resolve(self, value: Any, cache: dict[str, Any]) -> Any:
        if isinstance(value, Live):
            if value.name.startswith("ticket."):
                return await self._ticket_part(value.name, cache)
            return self.live[value.name]
        if isinstance(value, Cat):
            return "".join([str(await self.resolve(part, cache)) for part in value.parts])
        if isinstance(value, list | tuple):
            return [await self.resolve(item, cache) for item in value]
        if isinstance(value, dict):
            return {await self.resolve(k, cache): await self.resolve(v, cache) for k, v in value.items()}
        return value

    async def _ticket_part(self, name: str, cache: dict[str, Any]) -> str:
        """`ticket.<service>.cpsess|session`: a fresh one-time login URL (shared by both parts of one request)."""
        _, service, part = name.split(".")
        key = f"ticket.{service}"
        if key not in cache:
            port = next(p for p, s in SERVICES.items() if s == service)
            user, password = self._login_of(port)
            answer = await self._ok(
                port, "POST", "/login/", form={"user": user, "pass": password, "create_login_url": "1"}
            )
            path, _, query = answer["redirect"].partition("?")
            params = dict(pair.split("=", 1) for pair in query.split("&"))
            from urllib.parse import unquote

            cache[key] = {"cpsess": path.split("/")[1].removeprefix("cpsess"), "session": unquote(params["session"])}
        return str(cache[key][part])

    async def send(self, request: Request) -> tuple[Wire, Answer]:
        if self.dirty:
            await self.ensure()
        wire = await to_wire(request, self.resolve)
        answer = await exchange(self.apps[request.port], wire, SERVER_PORTS[request.port])
        if request.credential and refused(answer):
            self.dirty = True
        return wire, answer

    # --- checking and repairing -------------------------------------------------------------------------

    async def settle(self) -> None:
        """Between targets: forget the failed logins (so that throttling never outlives a batch), and repair the
        world if a request of the batch may have changed it."""
        async with self.runtime.writing() as db:
            await db.execute(delete(ThrottleCounter))
        if self.dirty or self.changed:
            await self.ensure()

    async def ensure(self) -> None:
        """Repair the world if a check finds anything broken."""
        self.checks += 1
        if "root.token" not in self.live or not await self.check():
            await self.repair()
        self.dirty = self.changed = False

    async def check(self) -> bool:
        async with self.runtime.writing() as db:
            await db.execute(delete(ThrottleCounter))
        probes = [
            ("user", "alice.token"),
            ("user", "alice.key"),
            ("admin", "root.token"),
            ("admin", "root.key"),
            ("user", "bob.token"),
        ]
        for port, credential in probes:
            answer = await self.call(port, "GET", "/api/v1/account/api-keys", token=self.live[credential])
            if answer.status != 200:
                return False
        for port, service in SERVICES.items():
            answer = await self._in_session(port, service)
            if answer.status != 200:
                return False
        usage = await self.call(
            "admin", "GET", f"/api/v1/admin/users/{self.live['alice.id']}/usage", token=self.live["root.token"]
        )
        if usage.status != 200 or json.loads(usage.body)["plan_id"] is not None:
            return False
        try:
            return await self._seeds(create=False)
        except HarnessError:
            return False

    async def _in_session(self, port: Port, service: str) -> Answer:
        cookie = f"{COOKIES[service]}={self.live[f'{service}.cookie']}"
        wire = Wire("GET", f"/cpsess{self.live[f'{service}.cpsess']}/probe", [(b"cookie", cookie.encode())])
        return await exchange(self.apps[port], wire, SERVER_PORTS[port])

    def _login_of(self, port: Port) -> tuple[str, str]:
        return {
            "user": ("alice", PASSWORD),
            "admin": ("root", PASSWORD),
            "webmail": (f"{BOX}@{MAIL}", MAILBOX_PASSWORD),
        }[port]

    async def bootstrap(self) -> None:
        """The administrator (straight into the database, as `hostplane init` would), then the rest over the API."""
        self._password_hash = await self.runtime.hashing.hash(PASSWORD)
        async with self.runtime.writing() as db:
            db.add(User(username="root", email="root@fuzz.example", role=ROLE_ADMIN, password_hash=self._password_hash))
        root = await self._login("root")
        for name in ("alice", "bob"):
            body = {"username": name, "email": f"{name}@fuzz.example", "password": PASSWORD, "role": "user"}
            await self._ok("admin", "POST", "/api/v1/admin/users", body=body, token=root)
        await self.repair()

    async def _login(self, username: str) -> str:
        answer = await self._ok("user", "POST", "/api/v1/auth/login", body={"username": username, "password": PASSWORD})
        token: str = answer["token"]
        self.live[f"{username}.token"] = token
        self.live[f"{username}.id"] = answer["user_id"]
        claims = jwt.decode(token, options={"verify_signature": False})
        self.live[f"{username}.session.id"] = claims["jti"]
        return token

    async def repair(self) -> None:
        self.repairs += 1
        async with self.runtime.writing() as db:
            await db.execute(delete(ThrottleCounter))
            ids = list(await db.scalars(select(User.id).where(User.username.in_(USERS))))
        for user_id in ids:
            async with self.runtime.writing(changes_user=user_id) as db:
                await db.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(
                        password_hash=self._password_hash,
                        disabled=False,
                        totp_secret_sealed=None,
                        totp_pending_sealed=None,
                        totp_last_step=None,
                    )
                )
        settings = PanelSettingsService(self.runtime)
        if await settings.two_factor_policy():
            await settings.set_two_factor_policy(Actor(None, "fuzz-harness"), False)
        for name in USERS:
            await self._login(name)
        root = self.live["root.token"]
        for plan in await self._ok("admin", "GET", "/api/v1/admin/plans", token=root):
            if plan["is_default"]:
                await self._ok(
                    "admin", "PATCH", f"/api/v1/admin/plans/{plan['id']}", body={"is_default": False}, token=root
                )
        await self._ok(
            "admin", "PUT", f"/api/v1/admin/users/{self.live['alice.id']}/plan", body={"plan_id": None}, token=root
        )
        for name in ("alice", "root"):
            token = self.live[f"{name}.token"]
            for key in await self._ok("user", "GET", "/api/v1/account/api-keys", token=token):
                await self._ok("user", "DELETE", f"/api/v1/account/api-keys/{key['identifier']}", token=token)
            created = await self._ok(
                "user", "POST", "/api/v1/account/api-keys", body={"description": "fuzz"}, token=token
            )
            self.live[f"{name}.key"] = created["token"]
            self.live[f"{name}.key.bare"] = created["token"].removeprefix("hp_")
            self.live[f"{name}.key.identifier"] = created["identifier"]
        scoped = await self._ok(
            "user",
            "POST",
            "/api/v1/account/api-keys",
            body={"description": "fuzz-ro", "scopes": ["domains:read", "mail:read"]},
            token=self.live["alice.token"],
        )
        self.live["alice.key.ro"] = scoped["token"]
        await self._seeds(create=True)
        await self._ok(
            "user",
            "PUT",
            f"/api/v1/mail/mailboxes/{self.live['mailbox.id']}/password",
            body={"password": MAILBOX_PASSWORD},
            token=self.live["alice.token"],
        )
        for port, service in SERVICES.items():
            user, password = self._login_of(port)
            answer = await self.call(port, "POST", "/login/", form={"user": user, "pass": password})
            if answer.status != 200:
                raise HarnessError(f"web login on the {port} port: {answer.status} {answer.body[:300]!r}")
            cookies = http.cookies.SimpleCookie(answer.header("set-cookie") or "")
            self.live[f"{service}.cookie"] = cookies[COOKIES[service]].value
            self.live[f"{service}.cpsess"] = json.loads(answer.body)["security_token"].removeprefix("/cpsess")
        self.dirty = False

    async def _seeds(self, *, create: bool) -> bool:
        """Check (and with `create`, make) the objects generated requests aim at; record their ids."""
        alice, bob, root = self.live["alice.token"], self.live["bob.token"], self.live["root.token"]

        async def need(found: bool) -> bool:
            if not found and not create:
                raise HarnessError("a seed is missing")
            return not found

        domains = {d["name"]: d["id"] for d in await self._ok("user", "GET", "/api/v1/domains", token=alice)}
        if await need(SITE in domains):
            domains[SITE] = (await self._ok("user", "POST", "/api/v1/domains", body={"name": SITE}, token=alice))["id"]
        if await need(SUB in domains):
            domains[SUB] = (
                await self._ok(
                    "user", "POST", f"/api/v1/domains/{domains[SITE]}/subdomains", body={"name": SUB_LABEL}, token=alice
                )
            )["id"]
        self.live["site.id"], self.live["sub.id"] = domains[SITE], domains[SUB]
        certificate = await self.call("user", "GET", f"/api/v1/domains/{domains[SITE]}/certificate", token=alice)
        if await need(certificate.status == 200):
            await self._ok(
                "user",
                "PUT",
                f"/api/v1/domains/{domains[SITE]}/certificate",
                body={"certificate": self.certificate_pem, "private_key": self.key_pem},
                token=alice,
            )
        mail = {d["name"]: d["id"] for d in await self._ok("user", "GET", "/api/v1/mail/domains", token=alice)}
        if await need(MAIL in mail):
            mail[MAIL] = (await self._ok("user", "POST", "/api/v1/mail/domains", body={"name": MAIL}, token=alice))[
                "id"
            ]
        self.live["maildomain.id"] = mail[MAIL]
        boxes = {
            b["local_part"]: b["id"]
            for b in await self._ok("user", "GET", f"/api/v1/mail/domains/{mail[MAIL]}/mailboxes", token=alice)
        }
        if await need(BOX in boxes):
            boxes[BOX] = (
                await self._ok(
                    "user",
                    "POST",
                    f"/api/v1/mail/domains/{mail[MAIL]}/mailboxes",
                    body={"local_part": BOX, "password": MAILBOX_PASSWORD},
                    token=alice,
                )
            )["id"]
        self.live["mailbox.id"] = boxes[BOX]
        aliases = {
            a["local_part"]: a["id"]
            for a in await self._ok("user", "GET", f"/api/v1/mail/domains/{mail[MAIL]}/aliases", token=alice)
        }
        if await need(ALIAS in aliases):
            aliases[ALIAS] = (
                await self._ok(
                    "user",
                    "POST",
                    f"/api/v1/mail/domains/{mail[MAIL]}/aliases",
                    body={"local_part": ALIAS, "destination": f"{BOX}@{MAIL}"},
                    token=alice,
                )
            )["id"]
        self.live["alias.id"] = aliases[ALIAS]
        dkim = await self.call("user", "GET", f"/api/v1/mail/domains/{mail[MAIL]}/dkim", token=alice)
        if await need(dkim.status == 200):
            await self._ok("user", "POST", f"/api/v1/mail/domains/{mail[MAIL]}/dkim", body={}, token=alice)
        keys = await self._ok("user", "GET", "/api/v1/account/ssh-keys", token=alice)
        if await need(bool(keys)):
            keys = [
                await self._ok(
                    "user",
                    "POST",
                    "/api/v1/account/ssh-keys",
                    body={"name": "fuzz", "public_key": self.ssh_public_key},
                    token=alice,
                )
            ]
        self.live["alice.ssh.fingerprint"] = keys[0]["fingerprint"]
        bob_domains = {d["name"]: d["id"] for d in await self._ok("user", "GET", "/api/v1/domains", token=bob)}
        if await need(BOB_SITE in bob_domains):
            bob_domains[BOB_SITE] = (
                await self._ok("user", "POST", "/api/v1/domains", body={"name": BOB_SITE}, token=bob)
            )["id"]
        self.live["bob.site.id"] = bob_domains[BOB_SITE]
        bob_mail = {d["name"]: d["id"] for d in await self._ok("user", "GET", "/api/v1/mail/domains", token=bob)}
        if await need(BOB_MAIL in bob_mail):
            bob_mail[BOB_MAIL] = (
                await self._ok("user", "POST", "/api/v1/mail/domains", body={"name": BOB_MAIL}, token=bob)
            )["id"]
        self.live["bob.maildomain.id"] = bob_mail[BOB_MAIL]
        plans = {p["name"]: p["id"] for p in await self._ok("admin", "GET", "/api/v1/admin/plans", token=root)}
        if await need(PLAN in plans):
            plans[PLAN] = (await self._ok("admin", "POST", "/api/v1/admin/plans", body={"name": PLAN}, token=root))[
                "id"
            ]
        self.live["plan.id"] = plans[PLAN]
        if "job.id" not in self.live:
            job = await self._ok("user", "POST", f"/api/v1/domains/{domains[SITE]}/certificate/acme", token=alice)
            self.live["job.id"] = job["id"]
        return True

    async def close(self) -> None:
        await self.runtime.close()


def refused(answer: Answer) -> bool:
    """The answer refuses the credential itself (not what it asked for): it was revoked, its password changed,
    its account disabled, its address throttled or the two-factor policy turned on."""
    if answer.status in (401, 429):
        return True
    return answer.status == 403 and (b"Access denied" in answer.body or b"set it up first" in answer.body)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("utf-8", "surrogatepass")).decode()


def now_epoch() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())
