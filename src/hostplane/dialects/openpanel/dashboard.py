"""The OpenPanel dashboard object (`POST`/`GET /api/domains`), every key of the reference, from real data.

Where Hostplane has no such thing (CPU limits, databases, FTP), the key is there with OpenPanel's "none"
value: 0 for counts and limits. Limits follow OpenPanel's convention, which is also the plans': 0 = unlimited.

- `domains`: every website (domain and subdomain) as {docroot, domain_id, domain_url}; `maindomains`: the main
  domains as {domain_url, tld}; `subdomains`: the subdomains, shaped like `domains`;
- `user_websites`: [name, "Static"] for each website (nginx serves its docroot; there are no app installers);
- `domains_limit`, `websites_limit`, `email_limit` from the plan, `email_count` the mailboxes that exist;
- `twofa_enabled`: true when on, null when off (the reference shows null for an account without it);
  `twofa_nag`: "True" while the panel's two-factor policy waits for this account to set it up, else "False";
- `last_ip`: the address of the account's last successful login ("" if none); `locale`: its language;
- `ip_address`, `ns1`..`ns4`, `custom_message`, `knowledge_base_link`: settings (openpanel_*).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hostplane.auth.models import User
from hostplane.domains.models import Domain
from hostplane.errors import NotFound
from hostplane.panel.service import two_factor_policy_on
from hostplane.plans.limits import usage
from hostplane.runtime import Runtime

WEBSITE_TYPE = "Static"


def _domain_item(domain: Domain) -> dict[str, Any]:
    return {"docroot": domain.docroot, "domain_id": domain.id, "domain_url": domain.name}


async def dashboard(runtime: Runtime, user_id: int) -> dict[str, Any]:
    settings = runtime.settings
    async with runtime.reading() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        domains = list(await db.scalars(select(Domain).where(Domain.user_id == user_id).order_by(Domain.name)))
        found = await usage(db, user_id)
        policy = await two_factor_policy_on(db)
    main = [domain for domain in domains if domain.parent_id is None]
    subs = [domain for domain in domains if domain.parent_id is not None]
    nameservers = [*settings.openpanel_nameservers, "", "", "", ""][:4]
    ip_address = settings.openpanel_ip_address or settings.nginx_bind_address
    return {
        "cpu_limit": 0,
        "custom_message": settings.openpanel_custom_message,
        "db_limit": 0,
        "db_usage": 0,
        "domains": [_domain_item(domain) for domain in domains],
        "domains_limit": found.limits["domains"],
        "email_count": found.used["mailboxes"],
        "email_limit": found.limits["mailboxes"],
        "ftp_count": 0,
        "ftp_limit": 0,
        "how_to_guides": "no",
        "how_to_topics": [],
        "ip_address": str(ip_address),
        "knowledge_base_link": settings.openpanel_knowledge_base_link,
        "last_ip": user.last_login_ip or "",
        "locale": user.language,
        "maindomains": [{"domain_url": domain.name, "tld": domain.name.rsplit(".", 1)[-1]} for domain in main],
        "ns1": nameservers[0],
        "ns2": nameservers[1],
        "ns3": nameservers[2],
        "ns4": nameservers[3],
        "subdomains": [_domain_item(domain) for domain in subs],
        "title": "Dashboard",
        "twofa_enabled": True if user.twofa_enabled else None,
        "twofa_nag": "True" if policy and not user.twofa_enabled else "False",
        "user_features": found.features,
        "user_websites": [[domain.name, WEBSITE_TYPE] for domain in domains],
        "websites_limit": found.limits["websites"],
    }
