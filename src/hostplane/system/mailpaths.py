"""Where the embedded mail services keep everything: one folder (settings.mail_dir, default state/mail)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hostplane.settings import Settings


@dataclass(frozen=True)
class MailPaths:
    root: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> MailPaths:
        return cls((settings.mail_dir or settings.state_dir / "mail").absolute())

    @property
    def lookup(self) -> Path:
        """postfix.db and dovecot.db (see system/maillookup.py)."""
        return self.root / "lookup"

    @property
    def vmail(self) -> Path:
        """Maildirs: vmail/<domain>/<local part>/Maildir, owned by the vmail user."""
        return self.root / "vmail"

    @property
    def archive(self) -> Path:
        """Maildirs of deleted mailboxes and domains, when archived rather than removed."""
        return self.root / "archive"

    # Postfix: config, queue (must exist, root-owned), data (created by `postfix check`), log.
    @property
    def postfix_config(self) -> Path:
        return self.root / "postfix" / "etc"

    @property
    def postfix_queue(self) -> Path:
        return self.root / "postfix" / "spool"

    @property
    def postfix_data(self) -> Path:
        return self.root / "postfix" / "data"

    @property
    def postfix_log(self) -> Path:
        return self.root / "postfix" / "maillog"

    @property
    def postfix_pidfile(self) -> Path:
        return self.postfix_queue / "pid" / "master.pid"

    # Dovecot: config, base_dir (sockets, master.pid), state_dir, log.
    @property
    def dovecot_config_dir(self) -> Path:
        return self.root / "dovecot"

    @property
    def dovecot_config(self) -> Path:
        return self.dovecot_config_dir / "dovecot.conf"

    @property
    def dovecot_run(self) -> Path:
        return self.root / "run"

    @property
    def dovecot_state(self) -> Path:
        return self.root / "dovecot-state"

    @property
    def dovecot_log(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def dovecot_pidfile(self) -> Path:
        return self.dovecot_run / "master.pid"

    def mailbox_home(self, domain: str, local_part: str) -> Path:
        """The home of one mailbox; names reach here only after the strict grammars, and this checks again."""
        home = self.vmail / domain / local_part
        if home.parent.parent != self.vmail or domain in {".", ".."} or local_part in {".", ".."}:
            raise ValueError("mailbox path escapes the mail root")
        return home

    def unreachable_parents(self) -> list[Path]:
        """Ancestors of the mail root the postfix and vmail users cannot traverse (they need o+x)."""
        blocked = []
        for parent in [self.root, *self.root.parents]:
            try:
                mode = parent.stat().st_mode
            except FileNotFoundError:
                continue
            if not mode & stat.S_IXOTH:
                blocked.append(parent)
        return blocked

    def make_reachable(self) -> None:
        """Give o+x (only traversal, not listing) to the root and any ancestor missing it; owner-only trees such
        as pytest's temporary folders need it before the daemons can reach their files."""
        for parent in self.unreachable_parents():
            os.chmod(parent, stat.S_IMODE(parent.stat().st_mode) | stat.S_IXOTH)
