"""The guards a request meets before any view: the allowed Host and trusted proxies, the
cross-site refusal and CORS, the rate limits, and the security headers on every answer."""
