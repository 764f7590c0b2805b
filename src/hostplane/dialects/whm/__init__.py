"""WHM API 1 (`/json-api/<function>` on the admin port, with `api.version=1` or, as the reference calls it, without
any `api.version`): translation onto the core services.

Shapes checked against cPanel's WHM API 1 OpenAPI description (api.docs.cpanel.net, "Two-Factor Authentication"
and "API Token Management"); the unauthenticated answer (HTTP 403 with a `cpanelresult` "Access denied" body)
and the unknown-function reason as WHM sends them. Deliberate differences, all documented in acls.py and
functions.py: tokens are Hostplane API keys (`hp_...`), ACLs map onto key scopes, TOTP secrets are never read
back, and changing two-factor or keys with an API token needs the account password (`password` parameter).
"""
