"""HTTP routes, one folder per API feature: thin routers, wire schemas, serving logic."""
