"""Imports every area's models so the metadata (Alembic, create_all in tests) sees all tables."""

from hostplane.accounts import models as accounts_models
from hostplane.auth import models as auth_models
from hostplane.db import Base

__all__ = ["Base", "accounts_models", "auth_models"]
