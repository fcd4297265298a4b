"""Which base model to serve: the embedded default, a local Hugging Face folder, or a hub id."""

from wechat_twin.server.basemodel.hub import Hub, HubOptions
from wechat_twin.server.basemodel.resolve import BaseModelError, ResolvedBaseModel, is_embedded, resolve_base_model

__all__ = ["BaseModelError", "Hub", "HubOptions", "ResolvedBaseModel", "is_embedded", "resolve_base_model"]
