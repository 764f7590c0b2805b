"""EasySuperSecureEmail dialect (admin port, under the setting `easymail_prefix`, default /easymail): the fourteen
form-encoded operations of ../shared/reference/easysupersecureemail-api.md, translated to the core services.
The reference's API_URL is https://<host>:<admin_port><prefix>.

- Parameters come as form fields (multipart/form-data as `curl -F` sends them, or x-www-form-urlencoded), on every
  method including GET and DELETE, or as query parameters; the body limit is the edge's (`max_body_bytes`).
- `POST /auth` {username (or email address), password[, otp]} runs the core login (throttling, logging, one answer
  for every wrong name or password) and answers `{result: true, token}` or `{result: false, msg}`. An account with
  two-factor on adds its current TOTP code (or a recovery code) as `otp` in the same call; without it the answer is
  401 asking for it. An API key (`hp_...`) works as the Auth-token too, within its scopes (mail, tls, exports) and
  allowed addresses, as on the native API.
- Every other call needs the `Auth-token` header and acts as that user, on that user's objects only (another
  tenant's object is "not found", administrators included).
- Success shapes: as the reference where it gives them (`{domains: [{id, name, users_count}]}`,
  `{users: [{id, domain_id, email}]}`, `{result: true, token}`); otherwise `{result: true, ...}`:
  POST /domains -> `domain: {id, name, users_count}, user: {id, domain_id, email}`; POST /user/:domain_id ->
  `user`; change password, DELETE /domain, DELETE /users -> nothing more; POST /dkim/add-new-domain ->
  `domain, selector, created, dkim/spf/dmarc: {name, type: "TXT", value}`; POST /ssl/letsencrypt/install ->
  `hostname, job_id, status` (the order runs as a job: GET /api/v1/jobs/{job_id}); POST /ssl/get-left-days ->
  `hostname, left_days`; POST /ssl/upload -> `hostname, issuer, not_before, not_after, left_days`;
  GET /export/domain -> the tar.gz itself (application/gzip, attachment).
- Additions the reference lacks: `/ssl/upload` takes an optional `hostname` (without it, the one website of the
  user the certificate covers) and `ssl_certificate_chain`; `username` of POST /domains and `email` of POST
  /user/:domain_id may be a full address at that domain or a bare local part; `domain_id` of the password change is
  optional and, when given, must be the user's domain.
- Failures are `{result: false, msg}` with the HTTP status of the failure (400 bad input, 401, 403, 404, 405, 409,
  413, 415, 429, 500/502 without details), see errors.py.
"""

DEFAULT_PREFIX = "/easymail"
