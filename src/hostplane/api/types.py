"""Bounded types for every number and date the native API takes (path, query and body alike).

An id or a date the database cannot hold used to reach it and come back as a 500. These types bound the value at
the edge, with the limits of hostplane.validation (the same ones the dialects' parameter reader applies), so it is
a 422 naming the field instead. A test walks the OpenAPI document to hold every integer input to a bound.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StrictInt
from pydantic_core import PydanticCustomError

from hostplane import validation
from hostplane.errors import InvalidInput

Id = Annotated[int, Field(ge=1, le=validation.MAX_ID)]
"""A row id in a path or a query: 1 to MAX_ID (a larger one names no row and the database would refuse it)."""
StrictId = Annotated[StrictInt, Field(ge=1, le=validation.MAX_ID)]
"""A row id in a JSON body: a JSON number, 1 to MAX_ID."""
Count = Annotated[int, Field(ge=0, le=validation.MAX_INT)]
"""A count, size or limit, at most what an integer column holds (a service may bound it further)."""


def _checked_moment(value: dt.datetime) -> dt.datetime:
    try:
        return validation.moment(value, "date")
    except InvalidInput as exc:
        problem = exc.fields[0]
        raise PydanticCustomError(problem.rule, "{message}", {"message": problem.message}) from None


Moment = Annotated[AwareDatetime, AfterValidator(_checked_moment)]
"""A date-time with its zone, in UTC from then on, before validation.MAX_YEAR (`9999-12-31T23:59:59-14:00`
overflows on conversion: refused here, with the field named)."""
