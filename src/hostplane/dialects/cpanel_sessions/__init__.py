"""cPanel secure remote logins: `POST /login/?login_only=1` on cpaneld, whostmgrd and webmaild ports, the
`/cpsess##########` session paths, one-time login URLs, and the client library behind `hostplane login-url`."""
