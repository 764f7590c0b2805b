"""The nginx driver: renders the whole website configuration from the desired state, checks it with `nginx -t`,
swaps it in atomically, reloads, and supervises Hostplane's own nginx (embedded layout).

Files (embedded layout, under state_dir/nginx):

    generations/<n>/nginx.conf        main file (pid, logs, events, `include <gen>/http.conf`)
    generations/<n>/http.conf         http-level settings, the catch-all default server, `include <gen>/sites/*.conf`
    generations/<n>/sites/<name>.conf one vhost per site
    generations/<n>/tls-files.txt     the certificate files this generation uses (when a site has TLS)
    tls/<id>.crt, tls/<id>.key        certificate chain and key of a site (0600, folder 0700): named by a digest
                                      of the chain, written once before the generation that uses them, removed
                                      when neither the live nor the previous generation refers to them
    conf -> generations/<n>           the live generation: nginx runs with `-c <base>/conf/nginx.conf`
    run/nginx.pid  logs/  tmp/

A change renders a complete new generation, `nginx -t` checks exactly those files, then one `rename()` of the
`conf` symlink makes the whole set live at once and a reload (SIGHUP to the master) picks it up. Every file of a
generation refers to its own folder, so a check always sees the files it will serve. If the reload fails, the
symlink goes back to the previous generation and nginx is reloaded again: the previous configuration stays live.

The system layout uses the same generations, with `check.conf` instead of `nginx.conf` (only for the isolated
check) and one fixed entry file in the host's nginx, `<conf_dir>/conf.d/hostplane.conf`, that includes
`<base>/conf/http.conf`; after the swap the host's whole configuration is checked with `nginx -t` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import fcntl
import functools
import hashlib
import ipaddress
import logging
import os
import re
import shutil
import signal
import stat
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jinja2

from hostplane.errors import ServiceConfigRejected, ServiceFailed
from hostplane.settings import Settings
from hostplane.system import daemons
from hostplane.system.files import atomic_write
from hostplane.system.mailconfig import start_daemon
from hostplane.system.runner import CommandError, run

log = logging.getLogger("hostplane.system.nginx")

Layout = Literal["embedded", "system"]
SITE_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
"""A site name as the domains service stores it (lowercase ASCII, IDNA-encoded): checked again here, since
the name becomes a server_name and a file name."""
TLS_ID = re.compile(r"^[0-9a-f]{16,64}$")
UNSAFE_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\"'\\$;{}#]")
MAX_PLAIN_FILE_NAME = 200
TLS_LIST = "tls-files.txt"
RETRIED_BIND = re.compile(rf"\b(bind|listen)\(\) to \S+ (backlog \d+ )?failed \({errno.EADDRINUSE}: ")
"""An error nginx logs for a listening address in use and then tries again (see `_reload_failure`)."""


class ConfigRenderError(ValueError):
    """A value cannot be put into an nginx configuration safely."""


def quote_path(value: object) -> str:
    """A path as a quoted nginx string; refuses anything nginx would read as syntax or a variable."""
    text = str(value)
    if not text.startswith("/") or UNSAFE_PATH_CHARS.search(text):
        raise ConfigRenderError(f"unsafe path for an nginx configuration: {text!r}")
    return f'"{text}"'


@dataclass(frozen=True, order=True)
class Site:
    """One vhost as the driver needs it."""

    name: str
    docroot: Path
    owner: str
    domain_id: int
    tls_id: str = ""
    """The site's certificate files (tls/<tls_id>.crt|.key), or "" without TLS."""

    def __post_init__(self) -> None:
        if not SITE_NAME.fullmatch(self.name):  # fullmatch: `$` alone would let a final newline through
            raise ConfigRenderError(f"invalid site name: {self.name!r}")
        if self.tls_id and not TLS_ID.fullmatch(self.tls_id):
            raise ConfigRenderError(f"invalid certificate files id: {self.tls_id!r}")
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", self.owner):
            raise ConfigRenderError(f"invalid owner name: {self.owner!r}")


@dataclass(frozen=True)
class NginxLayout:
    """Where the files go and how nginx is run; built from Settings (or by tests)."""

    kind: Layout
    binary: Path
    base: Path
    listen: tuple[str, ...]
    acme_webroot: Path
    system_conf_dir: Path = Path("/etc/nginx")
    reload_timeout: float = 10.0
    www_dir: Path | None = None
    """Where the docroots live (made reachable for the workers when our nginx starts)."""
    listen_tls: tuple[str, ...] = ()
    """Where sites with a certificate answer TLS (`<address> ssl`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> NginxLayout:
        base = (settings.state_dir / "nginx").absolute()
        https_port = settings.resolved_nginx_https_port
        if settings.nginx_layout == "embedded":
            listen: tuple[str, ...] = (listen_address(settings.nginx_bind_address, settings.nginx_http_port),)
            listen_tls: tuple[str, ...] = (listen_address(settings.nginx_bind_address, https_port),)
        else:
            listen = (str(settings.nginx_http_port), f"[::]:{settings.nginx_http_port}")
            listen_tls = (str(https_port), f"[::]:{https_port}")
        return cls(
            kind=settings.nginx_layout,
            binary=settings.nginx_binary,
            base=base,
            listen=listen,
            acme_webroot=settings.resolved_acme_webroot,
            system_conf_dir=settings.nginx_system_conf_dir,
            reload_timeout=settings.nginx_reload_timeout,
            www_dir=settings.resolved_www_dir,
            listen_tls=listen_tls,
        )

    @property
    def generations(self) -> Path:
        return self.base / "generations"

    @property
    def live_link(self) -> Path:
        return self.base / "conf"

    @property
    def main_file(self) -> str:
        """The file of a generation nginx is pointed at with -c."""
        return "nginx.conf" if self.kind == "embedded" else "check.conf"

    @property
    def live_conf(self) -> Path:
        return self.live_link / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.base / "run" / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.base / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.base / "logs" / "access.log"

    @property
    def temp_dir(self) -> Path:
        return self.base / "tmp"

    @property
    def tls_dir(self) -> Path:
        """Certificate chains and keys of the sites (root only)."""
        return self.base / "tls"

    def tls_files(self, tls_id: str) -> tuple[Path, Path]:
        """(full chain, key) of one certificate."""
        if not TLS_ID.fullmatch(tls_id):
            raise ConfigRenderError(f"invalid certificate files id: {tls_id!r}")
        return self.tls_dir / f"{tls_id}.crt", self.tls_dir / f"{tls_id}.key"

    @property
    def entry_file(self) -> Path:
        """System layout: the one file we own in the host's nginx configuration."""
        return self.system_conf_dir / "conf.d" / "hostplane.conf"


def listen_address(host: str, port: int) -> str:
    address = ipaddress.ip_address(host)  # a listen address reaches the config: IP literals only
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


# --- rendering ------------------------------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    # An nginx configuration, not HTML: names are checked and paths quoted instead of escaped.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hostplane", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )
    env.filters["q"] = quote_path
    return env


@dataclass(frozen=True)
class VhostTls:
    """Where a site with a certificate answers TLS, and its files."""

    listen: tuple[str, ...]
    certificate: Path
    key: Path


@functools.lru_cache(maxsize=65536)
def render_vhost(site: Site, listen: tuple[str, ...], acme_webroot: Path, tls: VhostTls | None = None) -> str:
    """One site's server block; depends on nothing but its arguments (cached: rendering stays cheap with many)."""
    if bool(site.tls_id) != (tls is not None) or (tls is not None and not tls.listen):
        raise ConfigRenderError(f"TLS settings do not fit site {site.name}")
    return (
        _environment()
        .get_template("nginx/vhost.conf.j2")
        .render(site=site, listen=listen, acme_webroot=acme_webroot, tls=tls)
    )


def vhost_tls(layout: NginxLayout, site: Site) -> VhostTls:
    certificate, key = layout.tls_files(site.tls_id)
    return VhostTls(listen=layout.listen_tls, certificate=certificate, key=key)


def tls_ids(sites: Iterable[Site]) -> set[str]:
    return {site.tls_id for site in sites if site.tls_id}


def vhost_file(name: str) -> str:
    """`sites/<name>.conf`; a name too long for a file name (253 + 5 > 255) is cut and made unique by a hash
    after `~`, which no domain name contains."""
    if len(name) > MAX_PLAIN_FILE_NAME:
        name = f"{name[: MAX_PLAIN_FILE_NAME - 17]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return f"sites/{name}.conf"


def render(layout: NginxLayout, sites: Iterable[Site], gen_dir: Path) -> dict[str, str]:
    """The whole configuration for these sites, as {path relative to the generation: text}. Deterministic: the
    same sites (in any order) and generation folder give the same files."""
    ordered = sorted(set(sites))
    names = [site.name for site in ordered]
    if len(names) != len(set(names)):
        raise ConfigRenderError("two sites with the same name")
    env = _environment()
    certificates = sorted(tls_ids(ordered))
    common = {
        "layout": layout.kind,
        "gen_dir": gen_dir,
        "listen": layout.listen,
        "listen_tls": layout.listen_tls if certificates else (),
        "acme_webroot": layout.acme_webroot,
        "pid_file": layout.pid_file,
        "error_log": layout.error_log,
        "access_log": layout.access_log,
        "temp_dir": layout.temp_dir,
    }
    files = {
        layout.main_file: env.get_template(f"nginx/{layout.main_file}.j2").render(**common),
        "http.conf": env.get_template("nginx/http.conf.j2").render(**common),
    }
    for site in ordered:
        if site.tls_id:
            files[vhost_file(site.name)] = render_vhost(
                site, layout.listen, layout.acme_webroot, tls=vhost_tls(layout, site)
            )
        else:
            files[vhost_file(site.name)] = render_vhost(site, layout.listen, layout.acme_webroot)
    if certificates:
        files[TLS_LIST] = "".join(f"{tls_id}\n" for tls_id in certificates)
    return files


def entry_text(layout: NginxLayout) -> str:
    """System layout: the fixed entry file in the host's conf.d, pointing at the live generation."""
    return (
        "# Hostplane websites: the live generation of the configuration Hostplane renders. Do not edit.\n"
        f"include {quote_path(layout.live_link / 'http.conf')};\n"
    )


# --- results --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    generation: Path
    reloaded: bool


@dataclass
class Drift:
    """What `reconcile` found different from the desired state (paths relative to the live generation)."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    not_live: bool = False
    """No live configuration at all (never applied, or the `conf` link was removed)."""
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.unexpected or self.not_live)

    def describe(self) -> list[str]:
        lines = [f"missing: {name}" for name in self.missing]
        lines += [f"changed: {name}" for name in self.changed]
        lines += [f"unexpected: {name}" for name in self.unexpected]
        if self.not_live:
            lines.append("no live configuration")
        return lines


# --- locking --------------------------------------------------------------------------------------------------

_held: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("hostplane_nginx_locks", default=frozenset())
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _loop_lock(key: str) -> asyncio.Lock:
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(key, asyncio.Lock())


# --- the driver -----------------------------------------------------------------------------------------------


class NginxDriver:
    """Applies a desired set of sites to nginx and supervises the embedded instance. Stateless apart from the
    files: any number of drivers for one base folder may exist, `exclusive()` orders them (also across
    processes, by a lock file)."""

    def __init__(self, layout: NginxLayout) -> None:
        self.layout = layout

    @classmethod
    def from_settings(cls, settings: Settings) -> NginxDriver:
        return cls(NginxLayout.from_settings(settings))

    # - locking -

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the configuration: one change at a time, from this process and others. Re-entrant in a task.

        A service takes it around its whole unit of work (read state, apply, commit), so two changes can never
        render from states that miss each other's rows."""
        key = str(self.layout.base)
        if key in _held.get():
            yield
            return
        async with _loop_lock(key):
            self.layout.base.mkdir(parents=True, exist_ok=True)
            handle = (self.layout.base / ".lock").open("a")
            try:
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.01)
                token = _held.set(_held.get() | {key})
                try:
                    yield
                finally:
                    _held.reset(token)
            finally:
                handle.close()  # releases the flock

    # - the configuration -

    def live_generation(self) -> Path | None:
        try:
            target = os.readlink(self.layout.live_link)
        except OSError:
            return None
        path = Path(target)
        path = path if path.is_absolute() else self.layout.live_link.parent / path
        return path if path.is_dir() else None

    def prepare_dirs(self) -> None:
        """Folders nginx needs; the served ones (ACME webroot) readable by the workers (`nobody`)."""
        for folder in (self.layout.generations, self.layout.base / "run", self.layout.base / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        if self.layout.kind == "embedded":
            self.layout.temp_dir.mkdir(parents=True, exist_ok=True)
        challenge = self.layout.acme_webroot / ".well-known" / "acme-challenge"
        challenge.mkdir(parents=True, exist_ok=True)
        for folder in (self.layout.acme_webroot, challenge.parent, challenge):
            os.chmod(folder, 0o755)  # noqa: S103 (served by the nginx workers)

    def make_reachable(self) -> None:
        """The workers run as `nobody`: give o+x (traversal only, not listing) to every folder above the www
        folder and the ACME webroot that lacks it (owner-only trees such as pytest's temporary folders, or a
        0700 state folder)."""
        for target in (self.layout.acme_webroot, self.layout.www_dir):
            if target is None:
                continue
            target.mkdir(parents=True, exist_ok=True)
            for folder in (target, *target.parents):
                mode = folder.stat().st_mode
                if not mode & stat.S_IXOTH:
                    os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)

    async def apply(self, sites: Iterable[Site]) -> Applied:
        """Render, check, swap and reload; on any failure the previous configuration stays (or is put back)
        live and ServiceConfigRejected / ServiceFailed is raised."""
        async with self.exclusive():
            return await self._apply(list(sites))

    async def _apply(self, sites: list[Site]) -> Applied:
        await asyncio.to_thread(self.prepare_dirs)
        gen_dir = self.layout.generations / f"{time.time_ns():020d}"
        try:
            files = render(self.layout, sites, gen_dir)
        except (ConfigRenderError, jinja2.TemplateError) as exc:
            log.error("nginx configuration could not be rendered: %s", exc)
            raise ServiceConfigRejected(
                "The web server configuration could not be built; nothing was changed."
            ) from exc
        await asyncio.to_thread(_write_generation, gen_dir, files)
        try:
            await self._check(self.layout.main_file, gen_dir)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, gen_dir, True)
            raise
        previous = self.live_generation()
        await asyncio.to_thread(_point_link, self.layout.live_link, gen_dir)
        try:
            if self.layout.kind == "system":
                await asyncio.to_thread(self._write_entry)
                await self._check_system()
            reloaded = await self._reload()
        except BaseException:
            await self._roll_back(previous, gen_dir)
            raise
        await asyncio.to_thread(self._prune, gen_dir, previous)
        return Applied(generation=gen_dir, reloaded=reloaded)

    async def _roll_back(self, previous: Path | None, failed: Path) -> None:
        if previous is not None:
            await asyncio.to_thread(_point_link, self.layout.live_link, previous)
        else:
            self.layout.live_link.unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, failed, True)
        if previous is not None:
            try:
                await self._reload()
            except (ServiceFailed, CommandError, OSError) as exc:
                log.error("nginx: reload after putting back %s failed too: %s", previous, exc)

    def _check_argv(self, conf: Path) -> list[str]:
        return [
            str(self.layout.binary),
            "-t",
            "-q",
            "-p",
            f"{self.layout.base}/",
            "-e",
            str(self.layout.error_log),
            "-c",
            str(conf),
        ]

    async def _check(self, main_file: str, gen_dir: Path) -> None:
        """`nginx -t` on the candidate generation, before anything goes live."""
        try:
            await run(self._check_argv(gen_dir / main_file), timeout=60)
        except CommandError as exc:
            output = exc.result.output if exc.result else str(exc)
            log.error("nginx -t refused the new configuration (%s): %s", gen_dir, output)
            raise ServiceConfigRejected(
                "The web server refused the new configuration (nginx -t failed); the previous configuration "
                "stays live and nothing was changed. The details are in the panel's log."
            ) from exc
        except OSError as exc:
            log.error("nginx could not be run (%s): %s", self.layout.binary, exc)
            raise ServiceFailed(f"The web server program could not be run ({self.layout.binary}).") from exc

    async def _check_system(self) -> None:
        conf = self.layout.system_conf_dir / "nginx.conf"
        try:
            await run([str(self.layout.binary), "-t", "-q", "-c", str(conf)], timeout=60)
        except CommandError as exc:
            output = exc.result.output if exc.result else str(exc)
            log.error("nginx -t of the host's configuration failed with our files: %s", output)
            raise ServiceConfigRejected(
                "The host's web server refused the new configuration; the previous one was put back."
            ) from exc

    def _write_entry(self) -> None:
        text = entry_text(self.layout)
        entry = self.layout.entry_file
        if not entry.exists() or entry.read_text() != text:
            atomic_write(entry, text.encode(), mode=0o644)

    def _prune(self, live: Path, previous: Path | None) -> None:
        keep = {live.name} | ({previous.name} if previous is not None else set())
        for child in self.layout.generations.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)
        in_use = _listed_tls(live) | (_listed_tls(previous) if previous is not None else set())
        self.prune_tls(in_use)

    # - certificate files -

    def write_tls_files(self, tls_id: str, fullchain_pem: bytes, key_pem: bytes) -> bool:
        """Write one certificate's chain and key (0600 root, folder 0700, each file atomically). Files of an id are
        never rewritten: the id is a digest of the chain, and the key is the one matching it. True if written now
        (the caller removes them with `remove_tls_files` if its change is refused)."""
        chain_path, key_path = self.layout.tls_files(tls_id)
        folder = self.layout.tls_dir
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        if chain_path.is_file() and key_path.is_file():
            return False
        atomic_write(key_path, key_pem, mode=0o600)
        atomic_write(chain_path, fullchain_pem, mode=0o600)
        return True

    def remove_tls_files(self, tls_id: str) -> None:
        """Remove a certificate's files unless the live generation uses them."""
        live = self.live_generation()
        if live is not None and tls_id in _listed_tls(live):
            return
        for path in self.layout.tls_files(tls_id):
            path.unlink(missing_ok=True)

    def missing_tls(self, sites: Iterable[Site]) -> set[str]:
        """Ids of certificates the sites use whose files are not on disk (deleted by hand, a new state folder)."""
        missing = set()
        for tls_id in tls_ids(sites):
            chain_path, key_path = self.layout.tls_files(tls_id)
            if not (chain_path.is_file() and key_path.is_file()):
                missing.add(tls_id)
        return missing

    def prune_tls(self, in_use: set[str]) -> None:
        try:
            entries = list(self.layout.tls_dir.iterdir())
        except FileNotFoundError:
            return
        for path in entries:
            if path.stem not in in_use:
                path.unlink(missing_ok=True)

    # - drift -

    async def reconcile(self, sites: Iterable[Site]) -> Drift:
        """Compare the live files with the desired state; if anything differs (a vhost deleted or edited by hand,
        a stray file, no live configuration), apply the desired state again. Idempotent."""
        sites = list(sites)
        async with self.exclusive():
            drift = await asyncio.to_thread(self.drift, sites)
            if not drift.clean:
                await self._apply(sites)
                drift.repaired = True
            return drift

    def drift(self, sites: Sequence[Site]) -> Drift:
        live = self.live_generation()
        if live is None:
            return Drift(not_live=True)
        desired = render(self.layout, sites, live)
        drift = Drift()
        for name, text in sorted(desired.items()):
            path = live / name
            try:
                current = path.read_text()
            except FileNotFoundError:
                drift.missing.append(name)
                continue
            except (OSError, UnicodeDecodeError):
                current = None
            if current != text:
                drift.changed.append(name)
        present = {str(path.relative_to(live)) for path in live.rglob("*") if path.is_file()}
        drift.unexpected = sorted(present - set(desired))
        if self.layout.kind == "system":
            entry = self.layout.entry_file
            if not entry.exists() or entry.read_text() != entry_text(self.layout):
                drift.changed.append(str(entry))
        return drift

    # - the process (embedded layout) -

    def master_pid(self) -> int | None:
        pid_file = self.layout.pid_file if self.layout.kind == "embedded" else Path("/run/nginx.pid")
        return daemons.read_pid(pid_file)

    def running(self) -> bool:
        return self.master_pid() is not None

    async def version(self) -> str:
        result = await run([str(self.layout.binary), "-v"], timeout=10)
        return result.output.removeprefix("nginx version:").strip()

    async def start(self, sites: Iterable[Site]) -> None:
        """Apply the desired state, then start our nginx if it is not running (it daemonizes and writes its
        pid file); returns once it listens."""
        if self.layout.kind != "embedded":
            raise ServiceFailed("Only the embedded nginx is started by Hostplane; the host runs its own.")
        async with self.exclusive():
            await self._apply(list(sites))
            if self.running():
                return
            await asyncio.to_thread(self.make_reachable)
            argv = [
                str(self.layout.binary),
                "-p",
                f"{self.layout.base}/",
                "-e",
                str(self.layout.error_log),
                "-c",
                str(self.layout.live_conf),
            ]
            try:
                # Not run(): the daemon would inherit its output pipes under uvloop (`hostplane serve`), and
                # reading them would never end. start_daemon sends the output to a temporary file.
                await start_daemon(argv, timeout=30)
            except (RuntimeError, OSError) as exc:
                log.error("nginx did not start: %s", exc)
                raise ServiceFailed("The web server did not start; the details are in the panel's log.") from exc
            await self.wait_healthy()

    async def wait_healthy(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.master_pid() is None:
            if time.monotonic() > deadline:
                raise ServiceFailed("The web server started but wrote no pid file.")
            await asyncio.sleep(0.02)
        host, port = _split_listen(self.layout.listen[0])
        try:
            await daemons.wait_for_port(host, port, timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError as exc:
            raise ServiceFailed(f"The web server does not listen on {host}:{port}.") from exc

    async def healthy(self) -> bool:
        if not self.running():
            return False
        host, port = _split_listen(self.layout.listen[0])
        return await asyncio.to_thread(daemons.port_open, host, port)

    async def stop(self) -> None:
        """Stop our nginx by its own pid (fast shutdown), waiting until it is gone."""
        pid = self.master_pid() if self.layout.kind == "embedded" else None
        if pid is not None:
            await daemons.stop_pid(pid, timeout=10)

    async def _reload(self) -> bool:
        """Make the running nginx load the live configuration; False if none is running (it will load it when it
        starts). Waits until new workers serve and the old ones left, so a request right after sees the change."""
        if self.layout.kind == "system":
            if not self.running():
                return False
            try:
                await run([str(self.layout.binary), "-s", "reload"], timeout=30)
            except CommandError as exc:
                raise ServiceFailed("The host's web server did not reload.") from exc
            return True
        pid = self.master_pid()
        if pid is None:
            return False
        old_workers = await asyncio.to_thread(_children, pid)
        log_offset = _size(self.layout.error_log)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + self.layout.reload_timeout
        while True:  # the new workers run the new configuration...
            await asyncio.sleep(0.005)
            workers = await asyncio.to_thread(_children, pid)
            if workers - old_workers:
                break
            failure = _reload_failure(self.layout.error_log, log_offset)
            if failure:
                log.error("nginx reload failed: %s", failure)
                raise ServiceFailed("The web server could not load the new configuration; it was put back.")
            if not daemons.pid_alive(pid):
                raise ServiceFailed("The web server stopped during a reload.")
            if time.monotonic() > deadline:
                raise ServiceFailed("The web server did not confirm the reload in time.")
        # ...and the old ones are gone: until an old worker has handled its QUIT it may still accept a connection
        # and answer it from the old configuration. Idle ones leave at once; busy ones finish their responses.
        settle = time.monotonic() + self.layout.reload_timeout
        while workers & old_workers:
            if time.monotonic() > settle:
                log.warning(
                    "nginx: old workers still finishing responses %ss after a reload", self.layout.reload_timeout
                )
                break
            await asyncio.sleep(0.005)
            workers = await asyncio.to_thread(_children, pid)
        return True


# --- helpers --------------------------------------------------------------------------------------------------


def _write_generation(gen_dir: Path, files: dict[str, str]) -> None:
    gen_dir.mkdir(parents=True)
    (gen_dir / "sites").mkdir()
    for name, text in files.items():
        path = gen_dir / name
        with path.open("w") as handle:
            handle.write(text)
        os.chmod(path, 0o644)
    os.chmod(gen_dir, 0o755)  # noqa: S103 (read by the nginx master; holds no secret)


def _listed_tls(gen_dir: Path) -> set[str]:
    """The certificate ids a generation refers to (from its tls-files.txt)."""
    try:
        text = (gen_dir / TLS_LIST).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {line for line in text.split() if TLS_ID.fullmatch(line)}


def _point_link(link: Path, target: Path) -> None:
    """Atomically (re)point a symlink: create it beside, then rename over the old one."""
    temp = link.with_name(f".{link.name}.{os.getpid()}.{time.time_ns()}")
    os.symlink(target, temp)
    try:
        os.replace(temp, link)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _children(pid: int) -> set[int]:
    """Pids whose parent is `pid` (the nginx workers of a master), from /proc."""
    return {child for child, fields in daemons.process_stats() if len(fields) > 1 and int(fields[1]) == pid}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _reload_failure(path: Path, offset: int) -> str:
    """The [emerg]/[alert] lines nginx logged since `offset` once they mean that the reload failed ("" until then).

    Not the first such line: a listening address in use is retried. nginx logs `bind() to <address> failed (98:
    Address already in use)` (or `listen() ...`), tries again every 500 ms, five times, and only then gives up with
    `still could not bind()`. If the port is free by then, the reload succeeds after all. Taking the first line as
    the failure put the previous configuration back while nginx was still loading the new one: the new one was
    served for a moment after the change had been refused, and the reload that put the previous one back took
    the failed reload's late workers for its own."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            tail = handle.read(65536).decode(errors="replace")
    except OSError:
        return ""
    lines = [line for line in tail.splitlines() if "[emerg]" in line or "[alert]" in line]
    if all(RETRIED_BIND.search(line) for line in lines):
        return ""  # none, or only tries nginx repeats: wait for its new workers or its last word
    return "\n".join(lines)


def _split_listen(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)
