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

The facts come from the core's account overview (overview/service.py); this module only maps them.
"""

from __future__ import annotations

from typing import Any

from hostplane.overview.service import AccountOverview, OverviewService, Website
from hostplane.runtime import Runtime

WEBSITE_TYPE = "Static"


def _domain_item(site: Website) -> dict[str, Any]:
    return {"docroot": site.docroot, "domain_id": site.id, "domain_url": site.name}


async def dashboard(runtime: Runtime, user_id: int) -> dict[str, Any]:
    """The account overview (overview/service.py), in OpenPanel's shape."""
    return shape(runtime, await OverviewService(runtime).of_user(user_id))


def shape(runtime: Runtime, overview: AccountOverview) -> dict[str, Any]:
    settings = runtime.settings
    found = overview.usage
    nameservers = [*settings.openpanel_nameservers, "", "", "", ""][:4]
    ip_address = settings.openpanel_ip_address or settings.nginx_bind_address
    return {
        "cpu_limit": 0,
        "custom_message": settings.openpanel_custom_message,
        "db_limit": 0,
        "db_usage": 0,
        "domains": [_domain_item(site) for site in overview.websites],
        "domains_limit": found.limits["domains"],
        "email_count": found.used["mailboxes"],
        "email_limit": found.limits["mailboxes"],
        "ftp_count": 0,
        "ftp_limit": 0,
        "how_to_guides": "no",
        "how_to_topics": [],
        "ip_address": str(ip_address),
        "knowledge_base_link": settings.openpanel_knowledge_base_link,
        "last_ip": overview.last_login_ip or "",
        "locale": overview.locale,
        "maindomains": [
            {"domain_url": site.name, "tld": site.name.rsplit(".", 1)[-1]} for site in overview.main_domains
        ],
        "ns1": nameservers[0],
        "ns2": nameservers[1],
        "ns3": nameservers[2],
        "ns4": nameservers[3],
        "subdomains": [_domain_item(site) for site in overview.subdomains],
        "title": "Dashboard",
        "twofa_enabled": True if overview.two_factor.enabled else None,
        "twofa_nag": "True" if overview.two_factor.setup_required else "False",
        "user_features": found.features,
        "user_websites": [[site.name, WEBSITE_TYPE] for site in overview.websites],
        "websites_limit": found.limits["websites"],
    }
