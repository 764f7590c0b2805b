"""Every event the activity log can hold: one enumeration for every area, so that each filter (the native API's,
Pterodactyl's `filter[event]`) can find whatever any area records."""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    """`<area>.<object>.<what happened>`; the value is what the log stores and the native API shows."""

    LOGIN_OK = "auth.login.success"
    LOGIN_FAILED = "auth.login.failed"
    LOGIN_THROTTLED = "auth.login.throttled"
    TWOFA_CHALLENGE = "auth.2fa.challenge"
    TWOFA_FAILED = "auth.2fa.failed"
    TWOFA_REPLAY = "auth.2fa.replay"
    RECOVERY_CODE_USED = "auth.recovery_code.used"
    LOGOUT = "auth.logout"
    SESSION_REVOKED = "auth.session.revoked"
    PASSWORD_CHECK_FAILED = "account.password.check_failed"
    TWOFA_ENABLED = "account.2fa.enabled"
    TWOFA_DISABLED = "account.2fa.disabled"
    PASSWORD_CHANGED = "account.password.changed"
    EMAIL_CHANGED = "account.email.changed"
    API_KEY_CREATED = "account.api_key.created"
    API_KEY_DELETED = "account.api_key.deleted"
    API_KEY_UPDATED = "account.api_key.updated"
    API_KEY_DENIED_IP = "account.api_key.denied_ip"
    SSH_KEY_CREATED = "account.ssh_key.created"
    SSH_KEY_DELETED = "account.ssh_key.deleted"
    USER_CREATED = "admin.user.created"
    USER_DISABLED = "admin.user.disabled"
    USER_ENABLED = "admin.user.enabled"
    USER_PASSWORD_SET = "admin.user.password_set"
    USER_2FA_RESET = "admin.user.2fa_reset"
    PANEL_2FA_ISSUER_SET = "admin.panel.2fa_issuer_set"
    PANEL_2FA_POLICY_ENABLED = "admin.panel.2fa_policy_enabled"
    PANEL_2FA_POLICY_DISABLED = "admin.panel.2fa_policy_disabled"
    TWOFA_SETUP_REQUIRED = "auth.2fa.setup_required"
    ONE_TIME_LOGIN_CREATED = "auth.one_time_login.created"
    PLAN_CREATED = "admin.plan.created"
    PLAN_UPDATED = "admin.plan.updated"
    PLAN_DELETED = "admin.plan.deleted"
    PLAN_ASSIGNED = "admin.user.plan_assigned"
    DOMAIN_MOVED_IN = "admin.domain.moved_in"
    """An administrator gave the account a domain (with the names below it) that another account held."""
    DOMAIN_MOVED_OUT = "admin.domain.moved_out"
    """An administrator gave a domain of the account (with the names below it) to another account."""
