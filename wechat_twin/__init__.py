"""wechat-twin: a WeChat chat history made into a LoRA clone, served over an OpenAI-compatible API.

The repository keeps its design's folders at the top (`server/`, `bridge/`, `training/`, `feedback/`);
`pyproject.toml` installs each under this one package, so nothing here collides with other
projects' top-level packages (chatgpt-on-wechat ships its own `bridge`).
"""
