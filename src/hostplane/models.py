"""Imports every area's models so the metadata (Alembic, create_all in tests) sees all tables."""

from hostplane.accounts import models as accounts_models
from hostplane.auth import models as auth_models
from hostplane.db import Base
from hostplane.domains import models as domains_models
from hostplane.mail import models as mail_models
from hostplane.panel import models as panel_models

__all__ = ["Base", "accounts_models", "auth_models", "domains_models", "mail_models", "panel_models"]
