"""The `weixin` channel: WeChat's official bot API (iLink), the ban-safe way into WeChat."""
