"""Strict grammars for the names and values users hand us, shared by every edge and service."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import unicodedata

from hostplane.errors import InvalidInput

USERNAME = re.compile(r"^[a-z][a-z0-9_-]{2,31}$")
"""Also a valid Linux user name, since hosting users map to system users."""
EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_DOMAIN_INPUT = 300
"""Longer input is refused before any IDNA work (a stored name is at most 253 characters)."""
MAX_INT = 2**31 - 1
"""The largest value an integer column holds on every supported database: ids and counters are INTEGER, 32 bits
on PostgreSQL (SQLite would take 64). A larger value never names a row, and the database refuses to store it."""
MAX_ID = MAX_INT
MAX_YEAR = 9000
"""Dates from this year on are refused: no expiry needs them, and near year 9999 a time-zone shift overflows."""
MAX_UNIX_TIME = int(dt.datetime(MAX_YEAR, 1, 1, tzinfo=dt.UTC).timestamp())


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


def domain_name(value: str, field: str = "name") -> str:
    """The one check of a domain name, wherever one is given (websites, subdomains, mail domains, certificates,
    every dialect, the CLI): control characters refused, IDNA-normalised to its lowercase ASCII form without the
    trailing dot, DNS label grammar, at most 253 characters, at least two labels, not all-numeric at the top, and
    every `xn--` label valid punycode (so the name has a Unicode form for display). Whatever could escape a folder
    or a config line (`/`, `..`, spaces, quotes, `;`, `{`, `$`, `*`, NUL) fails the label grammar."""
    reject_control_chars(field, value)
    if len(value) > MAX_DOMAIN_INPUT:
        raise InvalidInput.on(field, "This is not a valid domain name.", "max")
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
    unicode_form(candidate, field)
    return candidate


def domain_to_look_up(value: str) -> str | None:
    """The stored form of a domain name someone looks up (domain_name's normalisation), or None when the grammar
    refuses it: no domain has such a name, so a lookup answers "not found" rather than "invalid"."""
    try:
        return domain_name(value)
    except InvalidInput:
        return None


def hostname(value: str, field: str = "domain") -> str:
    """domain_name (the same check), under the name and field older call sites use."""
    return domain_name(value, field)


def unicode_form(name: str, field: str = "name") -> str:
    """The display form of a stored (ASCII) name; an `xn--` label that is not valid punycode is refused."""
    try:
        return name.encode("ascii").decode("idna")
    except UnicodeError as exc:
        raise InvalidInput.on(field, "This is not a valid domain name.", "regex") from exc


def email(value: str, field: str = "email") -> str:
    reject_control_chars(field, value)
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or len(value) > 254 or len(local) > 64 or not EMAIL_LOCAL.match(local):
        raise InvalidInput.on(field, "The email must be a valid email address.", "email")
    try:
        domain = domain_name(domain, field)
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


# --- numbers -------------------------------------------------------------------------------------------------


def integer(value: str | int, field: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """A whole number within [minimum, maximum], given as decimal digits (an optional leading '-') or as an int;
    a bool is not a number. Longer digit strings than the bound can have are refused before conversion."""
    if isinstance(value, bool):
        raise InvalidInput.on(field, f"The {field} must be a whole number.", "integer")
    if isinstance(value, str):
        text = value.strip()
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidInput.on(field, f"The {field} must be a whole number.", "integer")
        if len(digits) > 20:  # beyond any bound: refused without converting a huge string
            raise InvalidInput.on(field, f"The {field} must be from {minimum} to {maximum}.", "between")
        value = int(text)
    if value < minimum:
        raise InvalidInput.on(field, f"The {field} must be at least {minimum}.", "min")
    if value > maximum:
        raise InvalidInput.on(field, f"The {field} may not be greater than {maximum}.", "max")
    return value


def identifier(value: str | int, field: str) -> int:
    """A row id: 1 to MAX_ID."""
    return integer(value, field, minimum=1, maximum=MAX_ID)


# --- dates ---------------------------------------------------------------------------------------------------


def moment(value: dt.datetime, field: str) -> dt.datetime:
    """A date-time with its time zone, in UTC: refused when it has no zone, when the conversion to UTC overflows
    (`9999-12-31T23:59:59-14:00`), or when it is in or after MAX_YEAR."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput.on(field, f"The {field} needs a time zone.", "date")
    try:
        utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput.on(field, f"The {field} is out of range.", "date") from exc
    if utc.year >= MAX_YEAR:
        raise InvalidInput.on(field, f"The {field} must be before the year {MAX_YEAR}.", "before")
    return utc


def unix_time(value: str | int, field: str) -> dt.datetime:
    """Seconds since 1970 (UTC), before MAX_YEAR (99999999999999 would overflow the conversion)."""
    try:
        seconds = integer(value, field, minimum=0, maximum=MAX_UNIX_TIME - 1)
    except InvalidInput as exc:
        message = f"The {field} must be a Unix time (seconds since 1970) before the year {MAX_YEAR}."
        raise InvalidInput.on(field, message, "date") from exc
    return moment(dt.datetime.fromtimestamp(seconds, dt.UTC), field)
