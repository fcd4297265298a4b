"""Which base model to serve: the embedded default or a local Hugging Face folder."""

from wechat_twin.server.basemodel.resolve import BaseModelError, ResolvedBaseModel, resolve_base_model

__all__ = ["BaseModelError", "ResolvedBaseModel", "resolve_base_model"]
