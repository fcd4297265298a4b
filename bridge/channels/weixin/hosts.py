"""Which hosts the iLink server may send the bridge to: the login's redirect and the account's API base.

Both come from the server (`scaned_but_redirect` + `redirect_host`, `confirmed` + `baseurl`) and are then
sent the bot token and every friend's message. The bridge follows them only to `https://` hosts under the
configured API domain (`weixin.qq.com`); a local fake iLink on 127.0.0.1 (the tests) is let through only by
an explicit `allow_loopback`. Anything else stops the login with the host named, rather than following
it silently (issue 27: `http://` and any host were followed).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from wechat_twin.bridge.config import WeixinConfig
from wechat_twin.errors import TwinError
from wechat_twin.network import is_loopback

# host[:port] only: a user part (`a@b`), a backslash or a percent sign could be read as another host by another parser
_NETLOC = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class HostRefused(TwinError):
    """The iLink server named a host the bridge will not talk to."""


def _loopback_allowed(host: str, settings: WeixinConfig) -> bool:
    return settings.allow_loopback and is_loopback(host)


def checked_base(url: str, settings: WeixinConfig, what: str) -> str:
    """`url` without a trailing slash when the bridge may use it as an API base; `HostRefused` otherwise."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = urlsplit("")
    host = (parts.hostname or "").rstrip(".").lower()
    domain = settings.api_domain.strip(".").lower()
    under_domain = host == domain or host.endswith(f".{domain}")
    problem = None
    if not host or not _NETLOC.fullmatch(parts.netloc) or parts.query or parts.fragment:
        problem = "is not a plain https://host[:port] address"
    elif _loopback_allowed(host, settings):
        problem = None if parts.scheme in ("http", "https") else "is not http(s)"
    elif parts.scheme != "https":
        problem = "is not https://"
    elif not under_domain:
        problem = f"is not under {domain} (`api_domain`)"
    if problem is not None:
        raise HostRefused(f"iLink sent {what} {url!r}, which {problem}: refused")
    return url.strip().rstrip("/")


def redirect_base(redirect_host: str, login_base: str, settings: WeixinConfig) -> str:
    """The base to poll after `scaned_but_redirect`: `https://<redirect_host>` (iLink's rule), checked.
    A loopback host that `allow_loopback` lets through keeps the login base's scheme (the fake is http)."""
    if not _NETLOC.fullmatch(redirect_host):
        raise HostRefused(f"iLink redirected the login to {redirect_host!r}, not a host name: refused")
    host = urlsplit(f"//{redirect_host}").hostname or ""
    scheme = urlsplit(login_base).scheme if _loopback_allowed(host, settings) else "https"
    return checked_base(f"{scheme}://{redirect_host}", settings, "a login redirect to")
