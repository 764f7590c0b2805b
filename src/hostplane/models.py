"""Imports every area's models so the metadata (Alembic, create_all in tests) sees all tables."""

from hostplane.activity import models as activity_models
from hostplane.auth import models as auth_models
from hostplane.db import Base
from hostplane.domains import models as domains_models
from hostplane.jobs import models as jobs_models
from hostplane.mail import models as mail_models
from hostplane.panel import models as panel_models
from hostplane.plans import models as plan_models
from hostplane.profile import models as profile_models
from hostplane.tls import acme_models
from hostplane.tls import models as tls_models
from hostplane.websessions import models as websession_models

__all__ = [
    "Base",
    "acme_models",
    "activity_models",
    "auth_models",
    "domains_models",
    "jobs_models",
    "mail_models",
    "panel_models",
    "plan_models",
    "profile_models",
    "tls_models",
    "websession_models",
]
