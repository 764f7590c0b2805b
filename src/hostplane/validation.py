"""Strict grammars for the names and values users hand us, shared by every edge and service."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from hostplane.errors import InvalidInput

USERNAME = re.compile(r"^[a-z][a-z0-9_-]{2,31}$")
"""Also a valid Linux user name, since hosting users map to system users."""
EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def reject_control_chars(field: str, value: str) -> str:
    """CR, LF, NUL and every other control character are refused in every text field."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise InvalidInput.on(field, "Control characters (such as CR or LF) are not allowed.", "regex")
    return value


def username(value: str, field: str = "username") -> str:
    reject_control_chars(field, value)
    value = value.strip().lower()
    if not USERNAME.match(value):
        raise InvalidInput.on(
            field,
            "A username is 3 to 32 characters: lowercase letters, digits, '_' or '-', starting with a letter.",
            "regex",
        )
    return value


def hostname(value: str, field: str = "domain") -> str:
    """A fully qualified DNS name (IDNA-normalised to its ASCII form, lowercase, no trailing dot)."""
    reject_control_chars(field, value)
    candidate = value.strip().rstrip(".").lower()
    try:
        candidate = candidate.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidInput.on(field, "This is not a valid domain name.", "regex") from exc
    labels = candidate.split(".")
    if len(candidate) > 253 or len(labels) < 2 or not all(DOMAIN_LABEL.match(label) for label in labels):
        raise InvalidInput.on(field, "This is not a valid domain name.", "regex")
    if labels[-1].isdigit():
        raise InvalidInput.on(field, "This is not a valid domain name.", "regex")
    return candidate


def email(value: str, field: str = "email") -> str:
    reject_control_chars(field, value)
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or len(value) > 254 or len(local) > 64 or not EMAIL_LOCAL.match(local):
        raise InvalidInput.on(field, "The email must be a valid email address.", "email")
    try:
        domain = hostname(domain, field)
    except InvalidInput as exc:
        raise InvalidInput.on(field, "The email must be a valid email address.", "email") from exc
    return f"{local.lower()}@{domain}"


def text(value: str, field: str, *, max_length: int, min_length: int = 0) -> str:
    reject_control_chars(field, value)
    value = value.strip()
    if len(value) < min_length:
        raise InvalidInput.on(field, f"The {field} must be at least {min_length} characters.", "min")
    if len(value) > max_length:
        raise InvalidInput.on(field, f"The {field} may not be greater than {max_length} characters.", "max")
    return value


def language(value: str, field: str = "language") -> str:
    if not LANGUAGE.match(value):
        raise InvalidInput.on(field, "The language must be a code such as 'en', 'de' or 'pt-BR'.", "regex")
    return value


def ip_or_cidr(value: str, field: str) -> str:
    """One IPv4/IPv6 address or CIDR range, in canonical form; an IPv4-mapped IPv6 one is folded to IPv4, as client
    addresses are (else it could never match)."""
    reject_control_chars(field, value)
    value = value.strip()
    try:
        if "/" in value:
            network = ipaddress.ip_network(value, strict=False)
            mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
            if mapped is not None and network.prefixlen >= 96:
                return str(ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}"))
            return str(network)
        address = ipaddress.ip_address(value)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(address)
    except ValueError as exc:
        raise InvalidInput.on(field, f'"{value[:64]}" is not a valid IP address or CIDR range.', "ip") from exc
