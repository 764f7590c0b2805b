"""What the fuzz run sends: one target per route of every port, each a hypothesis strategy of requests.

- The native API (`/api/v1/...`, and the Pterodactyl and OpenPanel operations the OpenAPI document describes) through
  schemathesis, in its positive and negative modes, from the OpenAPI document of each port; then the ids in the path
  are often swapped for real ones, known field names get values that pass validation (or fail it in interesting
  ways), and the whole body is sometimes replaced by a broken one.
- The dialects, which OpenAPI does not describe (forms, query parameters, prefixes, cookies, cpsess paths), through
  hand-written strategies of their parameters.

Every request carries one of the credentials its dialect accepts (valid, another user's, scoped, broken, none), so
both the refusals and the deep paths run. `coverage()` lists the routes each port's targets cover; a test holds it to
the routes the apps really have, so a new route fails the run until it gets a target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from hostplane.dialects import easymail
from tests.fuzz.request import Cat, FormBody, JsonBody, Live, Port, RawBody, Request, Seg, Text
from tests.fuzz.values import (
    HUGE_INTS,
    RAW_BODIES,
    deep_json,
    deep_object,
    json_value,
    nasty_text,
    pem_text,
    ssh_key_text,
    text_or,
    wrong_type,
)
from tests.fuzz.world import (
    ALIAS,
    BOB_MAIL,
    BOB_SITE,
    BOX,
    MAIL,
    MAILBOX_PASSWORD,
    PASSWORD,
    SITE,
    SUB,
    SUB_LABEL,
    World,
    basic,
    now_epoch,
)

Strategy = st.SearchStrategy[Request]
EASYMAIL = easymail.DEFAULT_PREFIX


@dataclass(frozen=True)
class Target:
    port: Port
    name: str
    """"METHOD /template" for one route, or a family name."""
    covers: tuple[tuple[str, str], ...]
    """The (method, path template) of the app's routes this target reaches."""
    strategy: Strategy
    writes: bool
    """Requests may change the world: check it (and repair it) after the batch."""


# --- credentials ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    headers: tuple[tuple[str, Text], ...] = ()
    credential: str | None = None
    """Set when the credential should work (a refusal then means the world needs repair)."""


def bearer(name: str, works: bool = True) -> Auth:
    return Auth((("authorization", Cat(("Bearer ", Live(name)))),), name if works else None)


NATIVE_AUTH: tuple[Auth, ...] = (
    bearer("alice.token"),
    bearer("alice.token"),
    bearer("alice.key"),
    bearer("root.token"),
    bearer("root.token"),
    bearer("root.key"),
    bearer("bob.token"),
    Auth((("authorization", Cat(("bearer  ", Live("alice.token"), " "))),), "alice.token"),
)
NATIVE_REFUSED: tuple[Auth, ...] = (
    Auth(),
    bearer("alice.key.ro", works=False),
    Auth((("authorization", "Bearer not-a-token"),)),
    Auth((("authorization", "Bearer hp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),)),
    Auth((("authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),)),
    Auth((("authorization", basic("root", PASSWORD)),)),
    Auth((("authorization", "Bearer"),)),
)


def credentials(valid: tuple[Auth, ...], refused: tuple[Auth, ...], header: str) -> st.SearchStrategy[Auth]:
    """A credential that should work three times in four; else one that must not (or any value at all)."""
    return one_in(4, st.sampled_from(valid), one_in(3, st.sampled_from(refused), odd_header(header)))


@cache
def native_auth() -> st.SearchStrategy[Auth]:
    return credentials(NATIVE_AUTH, NATIVE_REFUSED, "authorization")


@cache
def odd_header(name: str) -> st.SearchStrategy[Auth]:
    """A credential header with any value at all."""
    return nasty_text().map(lambda value: Auth(((name, value),)))


@cache
def odd_ids() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(HUGE_INTS), nasty_text())


def rarely(draw: st.DrawFn, n: int) -> bool:
    """True about once in `n` draws (never in the simplest examples, which hypothesis tries first)."""
    return draw(st.integers(0, n - 1)) == n - 1


@cache
def one_in(n: int, usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`rare` about once in `n` draws, else `usual` (which is also what the simplest examples use)."""
    return st.integers(0, n - 1).flatmap(lambda pick: rare if pick == n - 1 else usual)


@cache
def extra_headers() -> st.SearchStrategy[tuple[tuple[str, Text], ...]]:
    """Now and then a hostile header the edge or a dialect reads."""
    names = st.sampled_from(
        ["x-forwarded-for", "user-agent", "accept", "cookie", "x-cpanel-otp", "auth-token", "origin", "x-real-ip"]
    )
    forwarded = st.sampled_from(
        ["1.2.3.4", "1.2.3.4, 203.0.113.7", "::1", "garbage, ,", "::ffff:10.0.0.1", "300.1.1.1"]
    )
    one = st.tuples(names, st.one_of(nasty_text(), forwarded))
    return st.one_of(st.just(()), st.just(()), st.just(()), st.lists(one, max_size=3).map(tuple))


# --- values by field name -------------------------------------------------------------------------------------

NEW_DOMAINS = tuple(f"fz{i}.example" for i in range(8)) + ("bücher.example", "FZ1.EXAMPLE.", "xn--bcher-kva.example")
EXPIRIES = (
    "2031-01-01T00:00:00Z",
    "2020-01-01T00:00:00+00:00",
    "2031-01-01T00:00:00",
    "2031-13-01T00:00:00Z",
    "not a date",
)


@cache
def _ids(*names: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        lives(names),
        lives(names),
        st.integers(min_value=-3, max_value=40),
        nasty_text(),
    )


def field_values(path: str) -> dict[str, st.SearchStrategy[Any]]:
    """Strategies for the fields of native and dialect bodies: values that pass validation, and near misses."""
    return _field_values("/mail/" in path, "/domains" in path)


@cache
def _field_values(mail: bool, domains: bool) -> dict[str, st.SearchStrategy[Any]]:
    names = (
        text_or(*NEW_DOMAINS, MAIL, BOB_MAIL, f"sub.{MAIL}")
        if mail
        else text_or(*NEW_DOMAINS, SITE, BOB_SITE, SUB, SUB_LABEL, "new", "a.b")
    )
    passwords = text_or(PASSWORD, MAILBOX_PASSWORD, "Another-Good-Passphrase-7", "short")
    return {
        "name": names if domains else text_or("fuzz", "fuzz-plan", "key", "x" * 65),
        "local_part": text_or(BOX, ALIAS, "new", "new.box", "Box", "x" * 65, "a..b", "postmaster"),
        "destination": text_or(f"{BOX}@{MAIL}", "someone@elsewhere.example", f"{ALIAS}@{MAIL}", "a@b"),
        "password": passwords,
        "current_password": passwords,
        "password_confirmation": passwords,
        "email": text_or("alice@fuzz.example", "new@fuzz.example", "root@fuzz.example", "ALICE@FUZZ.EXAMPLE"),
        "username": text_or("alice", "root", "bob", "newuser", "alice@fuzz.example", "x"),
        "role": text_or("user", "admin", "root"),
        "code": text_or("000000", "123456", "1234567", "abcd-efgh-ijkl"),
        "challenge": text_or("x" * 43),
        "public_key": st.one_of(
            text_or(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl fz",
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 short",
                "ecdsa-sha2-nistp256 AAAA",
            ),
            ssh_key_text(),
        ),
        "fingerprint": text_or(Live("alice.ssh.fingerprint"), "SHA256:" + "A" * 43, "MD5:aa:bb"),
        "description": text_or("fuzz", "another key", "fuzz-ro"),
        "scopes": st.lists(text_or("domains:read", "mail:write", "*:read", "admin:write", "x:y"), max_size=4),
        "allowed_ips": st.lists(
            text_or("203.0.113.7", "10.0.0.0/8", "::1", "::ffff:203.0.113.7", "1.2.3.4/40"), max_size=4
        ),
        "expires_at": st.one_of(st.sampled_from(EXPIRIES), st.none()),
        "plan_id": st.one_of(st.just(Live("plan.id")), st.none(), st.integers(-2, 20)),
        "quota_mb": st.one_of(st.integers(-1, 10**6), st.none()),
        "selector": text_or("mail", "s2024", "-x", "a" * 64),
        "first_name": text_or("Alice", "Ñandú"),
        "last_name": text_or("Liddell"),
        "language": text_or("en", "pt-BR", "de", "english"),
        "certificate": st.one_of(text_or(Live("pem.certificate"), Live("pem.other"), Live("pem.key")), pem_text()),
        "private_key": st.one_of(text_or(Live("pem.key"), Live("pem.other_key"), Live("pem.certificate")), pem_text()),
        "chain": st.one_of(text_or(Live("pem.other"), ""), pem_text()),
        "features": st.lists(text_or("ssh", "dkim", "x" * 65), max_size=3),
        "is_default": st.booleans(),
        "twofa_code": text_or("123456"),
    }


def mutate_fields(draw: st.DrawFn, body: Any, path: str) -> Any:
    """Give known fields of a JSON object body values from `field_values` (each field: kept, replaced, or given a
    value of the wrong type); now and then add a known field the body lacks."""
    if not isinstance(body, dict):
        return body
    fields = field_values(path)
    out = dict(body)
    for key in list(out) + [k for k in fields if k not in out and rarely(draw, 6)]:
        if key not in fields:
            continue
        choice = draw(st.integers(0, 9))
        if choice < 6:
            out[key] = draw(fields[key])
        elif choice == 6:
            out[key] = draw(wrong_type())
    return out


@cache
def lives(names: tuple[str, ...]) -> st.SearchStrategy[Live]:
    return st.sampled_from([Live(name) for name in names])


# --- whole bodies ---------------------------------------------------------------------------------------------


@cache
def broken_body() -> st.SearchStrategy[JsonBody | RawBody]:
    return st.one_of(
        st.sampled_from([RawBody(data, ctype) for data, ctype in RAW_BODIES]),
        json_value().map(JsonBody),
        st.sampled_from([RawBody(deep_json(depth), "application/json") for depth in (64, 2000)]),
        st.sampled_from([RawBody(deep_object(depth), "application/json") for depth in (64, 2000)]),
    )


# --- the native API from OpenAPI ------------------------------------------------------------------------------

PATH_IDS: dict[str, tuple[str, ...]] = {
    "mail_domain_id": ("maildomain.id", "bob.maildomain.id"),
    "mailbox_id": ("mailbox.id",),
    "alias_id": ("alias.id",),
    "user_id": ("alice.id", "bob.id", "root.id"),
    "plan_id": ("plan.id",),
    "job_id": ("job.id",),
    "identifier": ("alice.key.identifier", "root.key.identifier"),
    "session_id": ("alice.session.id", "root.session.id"),
}


def path_ids(template: str, param: str) -> tuple[str, ...]:
    if param == "domain_id":
        if template.startswith("/api/v1/mail/"):
            return ("maildomain.id", "bob.maildomain.id", "site.id")
        return ("site.id", "sub.id", "bob.site.id", "maildomain.id")
    return PATH_IDS.get(param, ())


PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def split_template(template: str, values: dict[str, Any]) -> tuple[str | Seg, ...]:
    pieces: list[str | Seg] = []
    last = 0
    for match in PARAM.finditer(template):
        pieces.append(template[last : match.start()])
        pieces.append(Seg(values.get(match.group(1), "")))
        last = match.end()
    pieces.append(template[last:])
    return tuple(piece for piece in pieces if piece != "")


def _query_pairs(query: dict[str, Any] | None) -> tuple[tuple[Text, Text], ...]:
    pairs: list[tuple[Text, Text]] = []
    for key, value in (query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((str(key), item if isinstance(item, str) else _plain(item)))
    return tuple(pairs)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def native_targets(world: World, port: Port) -> list[Target]:
    schema = schemathesis.openapi.from_dict(world.apps[port].openapi())
    targets = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if operation.body or any(p.location != "header" for p in operation.iter_parameters()):
            modes.append(GenerationMode.NEGATIVE)
        cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in modes])
        template, method = operation.path, operation.method.upper()
        targets.append(
            Target(
                port=port,
                name=f"{method} {template} (openapi)",
                covers=((method, template),),
                strategy=_from_case(cases, template, method, port),
                writes=method not in ("GET", "HEAD"),
            )
        )
    return targets


def _from_case(cases: st.SearchStrategy[Any], template: str, method: str, port: Port) -> Strategy:
    @st.composite
    def build(draw: st.DrawFn) -> Request:
        case = draw(cases)
        values = dict(case.path_parameters or {})
        for param in list(values):
            choices = path_ids(template, param)
            pick = draw(st.integers(0, 5))
            if choices and pick < 3:
                values[param] = draw(lives(choices))
            elif pick == 3:
                values[param] = draw(odd_ids())
        auth = draw(native_auth())
        headers = [(k, v) for k, v in (case.headers or {}).items() if k.lower() != "authorization"]
        if rarely(draw, 10) and case.headers and "Authorization" in case.headers:
            auth = Auth((("authorization", str(case.headers["Authorization"])),))
        body: Any = None
        if isinstance(case.body, bytes):
            body = RawBody(case.body, case.media_type)
        elif case.body is not None and type(case.body).__name__ != "NotSet":
            body = JsonBody(mutate_fields(draw, case.body, template))
        pick = draw(st.integers(0, 19))
        if pick == 19:
            body = draw(broken_body())
        elif pick == 18 and isinstance(body, JsonBody):
            body = JsonBody(body.value, content_type=draw(st.sampled_from(("text/plain", "application/problem+json"))))
        return Request(
            port=port,
            route=f"{method} {template}",
            method=method,
            path=split_template(template, values),
            query=_query_pairs(case.query),
            headers=tuple(headers) + auth.headers + draw(extra_headers()),
            body=body,
            chunks=draw(st.sampled_from((1, 1, 1, 3))),
            credential=auth.credential,
        )

    return build()


# --- hand-written requests: shared pieces -----------------------------------------------------------------------


def chosen_pairs(params: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[list[tuple[Text, Text]]]:
    """Most named parameters, sometimes one twice, sometimes an unknown one."""

    @st.composite
    def build(draw: st.DrawFn) -> list[tuple[Text, Text]]:
        pairs: list[tuple[Text, Text]] = []
        for name, values in params.items():
            if rarely(draw, 6):
                continue
            value = draw(values)
            pairs.append((name, value if isinstance(value, str | Live | Cat) else _plain(value)))
        if pairs and rarely(draw, 10):
            pairs.append(draw(st.sampled_from(pairs)))
        if rarely(draw, 7):
            pairs.append((draw(nasty_text()), draw(nasty_text())))
        return pairs

    return build()


def placed(
    draw: st.DrawFn, pairs: list[tuple[Text, Text]], *, multipart_ok: bool = True
) -> tuple[tuple[tuple[Text, Text], ...], FormBody | JsonBody | RawBody | None]:
    """Put the parameters in the query string, a urlencoded form, a multipart form, or split between them; now
    and then send a body of the wrong kind instead."""
    where = draw(st.integers(0, 9))
    if where <= 2:
        return tuple(pairs), None
    if where <= 5:
        return (), FormBody(tuple(pairs))
    if where <= 7 and multipart_ok:
        return (), FormBody(tuple(pairs), multipart=True)
    if where == 8:
        half = len(pairs) // 2
        return tuple(pairs[:half]), FormBody(tuple(pairs[half:]))
    return (), draw(st.one_of(broken_body(), st.just(JsonBody({str(k): v for k, v in pairs if isinstance(k, str)}))))


def request_of(
    port: Port,
    route: str,
    method: str,
    path: tuple[str | Seg, ...],
    *,
    query: tuple[tuple[Text, Text], ...] = (),
    body: Any = None,
    auth: Auth = Auth(),
    headers: tuple[tuple[str, Text], ...] = (),
    chunks: int = 1,
) -> Request:
    return Request(
        port=port,
        route=route,
        method=method,
        path=path,
        query=query,
        headers=auth.headers + headers,
        body=body,
        chunks=chunks,
        credential=auth.credential,
    )


def target(
    port: Port, method: str, template: str, strategy: Strategy, *, also: Iterable[tuple[str, str]] = ()
) -> Target:
    return Target(
        port=port,
        name=f"{method} {template}",
        covers=((method, template), *also),
        strategy=strategy,
        writes=method not in ("GET", "HEAD"),
    )


# --- OpenPanel (user port) ------------------------------------------------------------------------------------


def openpanel_targets() -> list[Target]:
    login_fields = {
        "username": text_or("alice", "root", "bob", "alice@fuzz.example", "nobody"),
        "password": text_or(PASSWORD, "wrong-password"),
        "twofa_code": st.one_of(text_or("123456"), st.none()),
    }

    @st.composite
    def login(draw: st.DrawFn) -> Request:
        pick = draw(st.integers(0, 9))
        body: Any
        if pick < 6:
            fields = {k: draw(v) for k, v in login_fields.items() if not rarely(draw, 7)}
            if rarely(draw, 5):
                fields[draw(st.sampled_from(list(login_fields)))] = draw(wrong_type())
            if rarely(draw, 7):
                fields[draw(nasty_text())] = draw(json_value())
            body = JsonBody(fields)
        elif pick < 8:
            body = draw(broken_body())
        else:
            body = FormBody(tuple((k, draw(v) or "") for k, v in login_fields.items()))
        return request_of("user", "POST /api/login", "POST", ("/api/login",), body=body, headers=draw(extra_headers()))

    def dashboard(method: str) -> Strategy:
        @st.composite
        def build(draw: st.DrawFn) -> Request:
            auth = draw(native_auth())
            body = draw(st.one_of(st.none(), broken_body())) if method != "GET" else None
            return request_of(
                "user",
                f"{method} /api/domains",
                method,
                ("/api/domains",),
                body=body,
                auth=auth,
                headers=draw(extra_headers()),
            )

        return build()

    return [
        target("user", "POST", "/api/login", login()),
        *[
            target("user", method, "/api/domains", dashboard(method))
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        ],
    ]


# --- Pterodactyl client account (user port) -------------------------------------------------------------------

PTERO = "/api/client/account"


def pterodactyl_targets() -> list[Target]:
    fields = field_values(PTERO)

    def route(method: str, suffix: str, names: tuple[str, ...], *, query: bool = False) -> Target:
        template = PTERO + suffix

        @st.composite
        def build(draw: st.DrawFn) -> Request:
            auth = draw(native_auth())
            values = dict(draw(st.fixed_dictionaries({}, optional={n: fields.get(n, nasty_text()) for n in names})))
            if values and rarely(draw, 6):
                values[draw(st.sampled_from(list(values)))] = draw(wrong_type())
            body: Any = JsonBody(values) if names else None
            if rarely(draw, 10):
                body = draw(broken_body())
            params: tuple[tuple[Text, Text], ...] = ()
            if query:
                params = tuple(
                    draw(
                        st.lists(
                            st.tuples(
                                st.sampled_from(
                                    [
                                        "filter[event]",
                                        "filter[ip]",
                                        "filter[]",
                                        "sort",
                                        "page",
                                        "per_page",
                                        "include",
                                        "filter",
                                    ]
                                ),
                                text_or("timestamp", "-timestamp", "auth", "login,password", "2", "100", "101", "0"),
                            ),
                            max_size=4,
                        )
                    )
                )
            path: tuple[str | Seg, ...] = (template,)
            if "{identifier}" in suffix:
                identifier = draw(
                    st.one_of(
                        st.sampled_from([Live("alice.key.identifier"), Live("root.key.identifier")]), nasty_text()
                    )
                )
                path = (PTERO + "/api-keys/", Seg(identifier))
            return request_of(
                "user",
                f"{method} {template}",
                method,
                path,
                query=params,
                body=body,
                auth=auth,
                headers=draw(extra_headers()),
            )

        return target("user", method, template, build())

    return [
        route("GET", "", ()),
        route("PUT", "/email", ("email", "password")),
        route("PUT", "/password", ("current_password", "password", "password_confirmation")),
        route("GET", "/two-factor", ()),
        route("POST", "/two-factor", ("code", "password")),
        route("POST", "/two-factor/disable", ("password",)),
        route("DELETE", "/two-factor", ("password",), query=True),
        route("GET", "/activity", (), query=True),
        route("GET", "/api-keys", ()),
        route("POST", "/api-keys", ("description", "allowed_ips", "password")),
        route("DELETE", "/api-keys/{identifier}", ("password",)),
        route("GET", "/ssh-keys", ()),
        route("POST", "/ssh-keys", ("name", "public_key", "password")),
        route("POST", "/ssh-keys/remove", ("fingerprint", "password")),
    ]


# --- EasySuperSecureEmail (admin port, under its prefix) --------------------------------------------------------


def easymail_targets() -> list[Target]:
    domain = text_or(MAIL, BOB_MAIL, SITE, "FUZZ-MAIL.example.", *NEW_DOMAINS)
    hostname = text_or(SITE, SUB, BOB_SITE, MAIL, "other.example")
    address = text_or(f"{BOX}@{MAIL}", f"new@{MAIL}", f"{BOX}@{BOB_MAIL}", BOX, "new", f"{ALIAS}@{MAIL}")
    password = text_or(MAILBOX_PASSWORD, PASSWORD, "Another-Good-Passphrase-7", "short")
    ids = _ids("mailbox.id", "maildomain.id", "bob.maildomain.id")
    pem = st.one_of(
        text_or(Live("pem.certificate"), Live("pem.other"), Live("pem.key"), Live("pem.other_key")), pem_text()
    )
    routes: list[tuple[str, str, dict[str, st.SearchStrategy[Any]]]] = [
        (
            "POST",
            "/auth",
            {
                "username": text_or("alice", "root", "bob", "nobody"),
                "password": text_or(PASSWORD, "x"),
                "otp": text_or("123456"),
            },
        ),
        ("GET", "/domains", {}),
        ("GET", "/users/{domain_id}", {}),
        ("POST", "/domains", {"domain": domain, "username": address, "password": password}),
        ("POST", "/user/{domain_id}", {"email": address, "password": password}),
        ("POST", "/user-change-password", {"id": ids, "password": password, "domain_id": ids}),
        ("DELETE", "/domain", {"domain": domain}),
        ("DELETE", "/users", {"email": address}),
        ("POST", "/dkim/add-new-domain", {"domain": domain}),
        ("POST", "/ssl/letsencrypt/install", {"hostname": hostname}),
        ("POST", "/ssl/get-left-days", {"hostname": hostname}),
        (
            "POST",
            "/ssl/upload",
            {
                "ssl_certificate": pem,
                "ssl_certificate_key": pem,
                "ssl_certificate_chain": pem,
                "hostname": st.one_of(st.just(""), hostname),
            },
        ),
        ("GET", "/export/domain", {"domain": domain}),
    ]
    easy_auth = credentials(
        (
            Auth((("auth-token", Live("alice.token")),), "alice.token"),
            Auth((("auth-token", Live("alice.token")),), "alice.token"),
            Auth((("auth-token", Live("alice.key")),), "alice.key"),
            Auth((("auth-token", Live("bob.token")),), "bob.token"),
            Auth((("auth-token", Live("root.token")),), "root.token"),
        ),
        (
            Auth(),
            Auth((("auth-token", Live("alice.key.ro")),)),
            Auth((("auth-token", "garbage"),)),
            bearer("alice.token", works=False),
        ),
        "auth-token",
    )
    targets = []
    for method, suffix, params in routes:
        template = EASYMAIL + suffix

        def build(method: str = method, suffix: str = suffix, params: dict[str, Any] = params) -> Strategy:
            @st.composite
            def one(draw: st.DrawFn) -> Request:
                auth = draw(easy_auth)
                query, body = placed(draw, draw(chosen_pairs(params)))
                path: tuple[str | Seg, ...] = (EASYMAIL + suffix,)
                if "{domain_id}" in suffix:
                    path = (EASYMAIL + suffix.split("{")[0], Seg(draw(ids)))
                return request_of(
                    "admin",
                    f"{method} {EASYMAIL}{suffix}",
                    method,
                    path,
                    query=query,
                    body=body,
                    auth=auth,
                    headers=draw(extra_headers()),
                    chunks=draw(st.sampled_from((1, 1, 2))),
                )

            return one()

        targets.append(target("admin", method, template, build()))
    return targets


# --- WHM API 1 (admin port; refused on the others) --------------------------------------------------------------

WHM_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "twofactorauth_generate_tfa_config": (),
    "twofactorauth_set_tfa_config": ("secret", "tfa_token", "password"),
    "twofactorauth_get_issuer": (),
    "twofactorauth_set_issuer": ("issuer",),
    "twofactorauth_get_tfa_config_for_user": ("user",),
    "twofactorauth_get_user_configs": ("user",),
    "twofactorauth_remove_user_config": ("user", "user-0", "user-1"),
    "twofactorauth_policy_status": (),
    "twofactorauth_enable_policy": (),
    "twofactorauth_disable_policy": (),
    "api_token_create": (
        "token_name",
        "acl",
        "acl-0",
        "acl-1",
        "whitelist_ip",
        "whitelist_ip-0",
        "whitelist-ip-1",
        "expires_at",
        "password",
    ),
    "api_token_list": (),
    "api_token_update": ("token_name", "new_name", "acl-0", "whitelist_ip-0", "expires_at", "password"),
    "api_token_revoke": ("token_name", "token_name-0", "token_name-1", "password"),
    "api_token_get_details": ("token",),
    "create_user_session": ("user", "service", "goto_uri", "app", "preferred_domain"),
}


@cache
def whm_values() -> dict[str, st.SearchStrategy[Any]]:
    soon = str(now_epoch() + 86400)
    users = text_or("alice", "bob", "root", f"{BOX}@{MAIL}", "nobody", "ALICE")
    names = text_or("fuzz", "tok1", "tok-2", "fuzz-ro", "x" * 51)
    return {
        "secret": text_or("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "short"),
        "tfa_token": text_or("123456"),
        "password": text_or(PASSWORD),
        "issuer": text_or("Hostplane", "Fuzz Co", "a:b", "x" * 65),
        "user": users,
        "user-0": users,
        "user-1": users,
        "token_name": names,
        "token_name-0": names,
        "token_name-1": names,
        "new_name": names,
        "acl": text_or("all", "list-accts", "ssl", "create-acct", "bogus"),
        "acl-0": text_or("all", "ssl-info", "kill-acct"),
        "acl-1": text_or("passwd", "edit-dns"),
        "whitelist_ip": text_or("any", "203.0.113.7", "10.0.0.0/8", "::1", "bad"),
        "whitelist_ip-0": text_or("203.0.113.7", "1.2.3.4/33"),
        "whitelist-ip-1": text_or("::ffff:1.2.3.4", "any"),
        "expires_at": text_or("0", soon, "1", "12"),
        "token": text_or(Live("root.key"), Live("root.key.bare"), Live("alice.key"), "hp_x"),
        "service": text_or("cpaneld", "whostmgrd", "webmaild", "cpanel"),
        "goto_uri": text_or("/", "/frontend/jupiter/", "//evil.example", "https://evil.example/", "/\\evil", "/a?b=c"),
        "app": text_or("File_Manager", "Email_Accounts", "bad app", "*"),
        "preferred_domain": text_or(SITE, "bücher.example", "localhost", "host:8080"),
    }


@cache
def whm_auth() -> st.SearchStrategy[Auth]:
    def whm(user: str, key: str, works: bool) -> Auth:
        return Auth((("authorization", Cat((f"whm {user}:", Live(key)))),), key if works else None)

    valid = (
        whm("root", "root.key", True),
        whm("root", "root.key", True),
        whm("root", "root.key.bare", True),
        Auth((("authorization", basic("root", PASSWORD)),), "root.basic"),
        Auth((("authorization", basic("root", PASSWORD)), ("x-cpanel-otp", "123456")), "root.basic"),
        bearer("root.token"),
        Auth((("cookie", Cat(("whostmgrsession=", Live("whostmgrd.cookie")))),)),
    )
    refused = (
        Auth(),
        whm("alice", "alice.key", False),
        whm("root", "alice.key", False),
        Auth((("authorization", basic("root", "wrong")),)),
        Auth((("authorization", basic("alice", PASSWORD)),)),
        Auth((("authorization", "Basic !!!"),)),
        Auth((("authorization", "Basic " + "QQ==" * 3),)),
        bearer("alice.token", works=False),
        Auth((("authorization", Cat(("Bearer ", Live("root.key")))),)),
    )
    return one_in(6, credentials(valid, refused, "authorization"), odd_basic())


@cache
def odd_basic() -> st.SearchStrategy[Auth]:
    """HTTP Basic with any name and password (base64 carries what a header cannot: NUL, CR, LF...)."""
    return st.tuples(text_or("root", "alice"), text_or(PASSWORD)).map(
        lambda pair: Auth((("authorization", basic(*pair)),))
    )


def whm_targets() -> list[Target]:
    values = whm_values()
    functions = st.one_of(
        st.sampled_from(sorted(WHM_FUNCTIONS)),
        st.sampled_from(sorted(WHM_FUNCTIONS)),
        st.sampled_from(["applist", "listaccts", "create_user_session2", "API_TOKEN_LIST"]),
        nasty_text(),
    )

    def build(port: Port, method: str, in_session: bool) -> Strategy:
        @st.composite
        def one(draw: st.DrawFn) -> Request:
            function = draw(functions)
            names = WHM_FUNCTIONS.get(function, ("user", "token_name"))
            params = {name: values[name] for name in names}
            params["api.version"] = text_or("1", "1", "1", "0", "2", "1.0", "9" * 30)
            pairs = draw(chosen_pairs(params))
            query, body = placed(draw, pairs)
            if method == "GET" and body is not None and draw(st.booleans()):
                query, body = tuple(pairs), None
            auth = draw(whm_auth())
            template = "/json-api/{function}"
            path: tuple[str | Seg, ...] = ("/json-api/", Seg(function))
            if in_session:
                token = draw(
                    st.one_of(
                        st.just(Live("whostmgrd.cpsess")),
                        st.just(Live("whostmgrd.cpsess")),
                        st.just(Live("cpaneld.cpsess")),
                        st.just("0000000000"),
                    )
                )
                template = (
                    "/{token:cpsess}/json-api/{function}"
                    if port != "admin"
                    else "/{security_token}/json-api/{function}"
                )
                path = (Cat(("/cpsess", token)), "/json-api/", Seg(function))
                if port == "admin" and rarely(draw, 6):
                    path = ("/", Seg(draw(nasty_text())), "/json-api/", Seg(function))
            return request_of(
                port,
                f"{method} {template}",
                method,
                _flat(path),
                query=query,
                body=body,
                auth=auth,
                headers=draw(extra_headers()),
            )

        return one()

    targets = []
    for port in ("admin", "user", "webmail"):
        for method in ("GET", "POST"):
            targets.append(target(port, method, "/json-api/{function}", build(port, method, False)))
            session_template = (
                "/{security_token}/json-api/{function}" if port == "admin" else "/{token:cpsess}/json-api/{function}"
            )
            targets.append(target(port, method, session_template, build(port, method, True)))
    return targets


def _flat(path: tuple[Any, ...]) -> tuple[str | Seg, ...]:
    """Cat pieces of a path are literal (Live cpsess digits are safe in a path)."""
    out: list[str | Seg] = []
    for piece in path:
        out.append(Seg(piece) if isinstance(piece, Cat) else piece)
    return tuple(out)


# --- cPanel secure remote logins (every port) ------------------------------------------------------------------

SERVICE_OF: dict[Port, str] = {"user": "cpaneld", "admin": "whostmgrd", "webmail": "webmaild"}
LOGIN_OF: dict[Port, tuple[str, str]] = {
    "user": ("alice", PASSWORD),
    "admin": ("root", PASSWORD),
    "webmail": (f"{BOX}@{MAIL}", MAILBOX_PASSWORD),
}


def cpanel_targets() -> list[Target]:
    return [*_cpanel_port("user"), *_cpanel_port("admin"), *_cpanel_port("webmail")]


def _cpanel_port(port: Port) -> list[Target]:
    targets: list[Target] = []
    service = SERVICE_OF[port]
    user, password = LOGIN_OF[port]
    login_params = {
        "user": text_or(user, "alice", "root", f"{BOX}@{MAIL}", "nobody", user.upper()),
        "pass": text_or(password, "wrong"),
        "tfa_token": text_or("123456"),
        "goto_uri": text_or("/", "/frontend/", "//evil.example", "https://evil.example", "/\\x", "/a?b"),
        "active_token_for_reuse": text_or(
            Live(f"{service}.cpsess"),
            Cat(("/cpsess", Live(f"{service}.cpsess"))),
            "0000000000",
        ),
        "create_login_url": text_or("1", "0", "yes"),
        "login_only": text_or("1"),
    }
    cookie = Cat((f"{COOKIE_NAMES[service]}=", Live(f"{service}.cookie")))
    cookies = st.sampled_from(
        [
            (("cookie", cookie),),
            (("cookie", cookie),),
            (("cookie", cookie),),
            (),
            (("cookie", f"{COOKIE_NAMES[service]}=garbage"),),
            (("cookie", "cpsession=x; whostmgrsession=y; webmailsession=z"),),
            (("cookie", f'{COOKIE_NAMES[service]}="\\000\\012x"'),),
        ]
    )
    tokens = st.one_of(
        st.just(Live(f"{service}.cpsess")),
        st.just(Live(f"{service}.cpsess")),
        st.sampled_from([Live("cpaneld.cpsess"), Live("whostmgrd.cpsess"), Live("webmaild.cpsess")]),
        st.just("0000000000"),
        st.integers(0, 9_999_999_999).map(lambda n: f"{n:010d}"),
    )

    def login(port: Port = port, params: dict[str, Any] = login_params, path: str = "/login/") -> Strategy:
        @st.composite
        def one(draw: st.DrawFn) -> Request:
            query, body = placed(draw, draw(chosen_pairs(params)))
            return request_of(
                port, f"POST {path}", "POST", (path,), query=query, body=body, headers=draw(extra_headers())
            )

        return one()

    def redeem(port: Port = port, service: str = service, method: str = "GET", suffix: str = "/login/") -> Strategy:
        @st.composite
        def one(draw: st.DrawFn) -> Request:
            fresh = not rarely(draw, 3)
            token: Any = Live(f"ticket.{service}.cpsess") if fresh else draw(tokens)
            if fresh and rarely(draw, 6):
                token = draw(tokens)
            session = text_or(Live(f"ticket.{service}.session"), "garbage")
            params = {"session": session, "goto_uri": text_or("/", "//evil.example")}
            query, body = placed(draw, draw(chosen_pairs(params)))
            if method == "GET" and body is not None:
                query, body = query + body.pairs if isinstance(body, FormBody) else query, None
            return request_of(
                port,
                f"{method} /{{token:cpsess}}{suffix}",
                method,
                (Seg(Cat(("cpsess", token))), suffix),
                query=query,
                body=body,
                headers=draw(cookies) + draw(extra_headers()),
            )

        return one()

    def logout(port: Port = port, method: str = "GET", suffix: str = "/logout/") -> Strategy:
        @st.composite
        def one(draw: st.DrawFn) -> Request:
            return request_of(
                port,
                f"{method} /{{token:cpsess}}{suffix}",
                method,
                (Seg(Cat(("cpsess", draw(tokens)))), suffix),
                body=draw(st.one_of(st.none(), broken_body())) if method == "POST" else None,
                headers=draw(cookies) + draw(extra_headers()),
            )

        return one()

    @st.composite
    def page(draw: st.DrawFn, port: Port = port) -> Request:
        rest = draw(
            st.lists(
                st.one_of(nasty_text(), st.sampled_from(["frontend", "jupiter", "index.html", "json-api"])),
                max_size=3,
            )
        )
        path: list[str | Seg] = [Seg(Cat(("cpsess", draw(tokens)))), "/"]
        for part in rest:
            path += [Seg(part), "/"]
        query = tuple(draw(st.lists(st.tuples(nasty_text(), nasty_text()), max_size=2)))
        return request_of(
            port,
            "GET /{token:cpsess}/{path:path}",
            "GET",
            tuple(path),
            query=query,
            headers=draw(cookies) + draw(extra_headers()),
        )

    targets += [
        target(port, "POST", "/login/", login()),
        target(port, "POST", "/login", login(path="/login")),
        target(port, "GET", "/{token:cpsess}/{path:path}", page()),
    ]
    for method in ("GET", "POST"):
        targets += [
            target(port, method, "/{token:cpsess}/login/", redeem(method=method)),
            target(port, method, "/{token:cpsess}/login", redeem(method=method, suffix="/login")),
            target(port, method, "/{token:cpsess}/logout/", logout(method=method)),
            target(port, method, "/{token:cpsess}/logout", logout(method=method, suffix="/logout")),
        ]
    return targets


COOKIE_NAMES = {"cpaneld": "cpsession", "whostmgrd": "whostmgrsession", "webmaild": "webmailsession"}


# --- what every port has besides: the OpenAPI document, and paths nobody routes ---------------------------------


def meta_targets() -> list[Target]:
    targets: list[Target] = []
    for port in ("user", "admin", "webmail"):
        for method in ("GET", "HEAD"):

            @st.composite
            def document(draw: st.DrawFn, port: Port = port, method: str = method) -> Request:
                query = tuple(draw(st.lists(st.tuples(nasty_text(), nasty_text()), max_size=2)))
                auth = draw(native_auth())
                return request_of(
                    port,
                    f"{method} /openapi.json",
                    method,
                    ("/openapi.json",),
                    query=query,
                    auth=auth,
                    headers=draw(extra_headers()),
                )

            targets.append(target(port, method, "/openapi.json", document()))

        @st.composite
        def anywhere(draw: st.DrawFn, port: Port = port) -> Request:
            method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "FOO"]))
            parts = draw(
                st.lists(
                    st.one_of(
                        nasty_text(),
                        st.sampled_from(
                            [
                                "api",
                                "v1",
                                "client",
                                "json-api",
                                "cpsess0123456789",
                                "easymail",
                                "login",
                                "..",
                                "account",
                            ]
                        ),
                    ),
                    min_size=1,
                    max_size=5,
                )
            )
            path: list[str | Seg] = []
            for part in parts:
                path += ["/", Seg(part)]
            body = draw(st.one_of(st.none(), broken_body()))
            auth = draw(native_auth())
            return request_of(
                port, "ANY (unrouted paths)", method, tuple(path), body=body, auth=auth, headers=draw(extra_headers())
            )

        targets.append(Target(port, "ANY (unrouted paths)", (), anywhere(), writes=True))
        if port == "webmail":
            targets.append(
                target(
                    "webmail",
                    "GET",
                    "/api/v1/health",
                    st.builds(
                        lambda auth, headers: request_of(
                            "webmail", "GET /api/v1/health", "GET", ("/api/v1/health",), auth=auth, headers=headers
                        ),
                        native_auth(),
                        extra_headers(),
                    ),
                )
            )
    return targets


# --- all of them ---------------------------------------------------------------------------------------------


def all_targets(world: World) -> list[Target]:
    return [
        *native_targets(world, "user"),
        *native_targets(world, "admin"),
        *openpanel_targets(),
        *pterodactyl_targets(),
        *easymail_targets(),
        *whm_targets(),
        *cpanel_targets(),
        *meta_targets(),
    ]


def coverage(targets: Iterable[Target]) -> dict[Port, set[tuple[str, str]]]:
    covered: dict[Port, set[tuple[str, str]]] = {"user": set(), "admin": set(), "webmail": set()}
    for item in targets:
        covered[item.port].update(item.covers)
    return covered
