"""Turn the user's `--model` value into a local folder and the name clients call it by."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wechat_twin.errors import TwinError
from wechat_twin.server.basemodel.embedded import EMBEDDED_NAME, EmbeddedModelError, ensure_embedded_model


class BaseModelError(TwinError):
    """The base model cannot be used; the message names the path and the problem."""


@dataclass(frozen=True)
class ResolvedBaseModel:
    served_name: str
    path: Path


def resolve_base_model(model: str | None, served_name: str | None = None) -> ResolvedBaseModel:
    """None or the embedded name selects the embedded default; anything else must be an HF folder."""
    if model in (None, "", EMBEDDED_NAME, "embedded"):
        try:
            path = ensure_embedded_model()
        except EmbeddedModelError as exc:
            raise BaseModelError(str(exc)) from exc
        return ResolvedBaseModel(served_name or EMBEDDED_NAME, path)
    path = Path(model).expanduser()
    if not path.is_dir():
        raise BaseModelError(
            f"base model '{model}' is not a local folder (nothing is downloaded: give the path of a "
            f"Hugging Face model folder, or leave --model out for the embedded {EMBEDDED_NAME})"
        )
    if not (path / "config.json").is_file():
        raise BaseModelError(f"base model folder {path} has no config.json: it is not a Hugging Face model folder")
    return ResolvedBaseModel(served_name or path.resolve().name, path.resolve())
