"""How EasySuperSecureEmail sends its parameters, for the shared reader (hostplane.dialects.params).

`curl -F` sends multipart/form-data (also on GET and DELETE, as the reference does), with `-F name=@file` for PEM
files; x-www-form-urlencoded and query parameters work too; any other body is refused (415). Each parameter once,
at most 32, 4096 characters each except the PEM fields (which hold line breaks, bounded by the edge's body limit).
Ids no row can have are "not found", as the reference answers an unknown id.
"""

from __future__ import annotations

from fastapi import Request

from hostplane.dialects import params
from hostplane.dialects.params import Params

PEM_FIELDS = frozenset({"ssl_certificate", "ssl_certificate_key", "ssl_certificate_chain"})
READING = params.Reading(bodies=params.FORMS, max_fields=32, max_value_chars=4096, multiline=PEM_FIELDS, files=True)
NO_SUCH_DOMAIN = "No such mail domain."
NO_SUCH_USER = "No such user."


async def read_params(request: Request) -> Params:
    return await params.read_params(request, READING)


def domain_id_of(value: str) -> int:
    return params.identifier(value, "domain_id", not_found=NO_SUCH_DOMAIN)
