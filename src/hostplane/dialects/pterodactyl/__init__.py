"""Pterodactyl / Pelican client account API (user port, /api/client/account): translation only.

`routes.router` is the API; `errors.PterodactylErrors` gives every failure under /api/client Pterodactyl's error
envelope and must wrap the edge middleware.
"""
