"""Turn the user's `--model` value into a local folder and the name clients call it by.

Three kinds of value, tried in this order: the embedded default (nothing, or its name), a local
folder, and a hub id `ORG/NAME` (`hub.py`: the Hugging Face cache, or a download when online).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wechat_twin.errors import TwinError
from wechat_twin.server.basemodel.embedded import EMBEDDED_NAME, EmbeddedModelError, ensure_embedded_model
from wechat_twin.server.basemodel.hub import HubError, HubOptions, hub_model_folder, is_hub_id


class BaseModelError(TwinError):
    """The base model cannot be used; the message names the path or id and the problem."""


@dataclass(frozen=True)
class ResolvedBaseModel:
    served_name: str
    path: Path
    # What twin.json records as the adapter's base: a name another machine resolves again (the embedded
    # name, the hub id) or, for a local folder, its absolute path.
    source: str
    # With a hub id: the `--revision` it was taken at, which twin.json records beside `source` (None: the hub's main).
    revision: str | None = None


def is_embedded(model: str | None) -> bool:
    return model in (None, "", EMBEDDED_NAME, "embedded")


def resolve_base_model(
    model: str | None, served_name: str | None = None, hub: HubOptions = HubOptions()
) -> ResolvedBaseModel:
    """None or the embedded name selects the embedded default; then a local HF folder; then a hub id."""
    path = Path(model or "").expanduser()
    hub_id = bool(model) and not path.is_dir() and is_hub_id(str(model))
    if hub.revision and not hub_id:
        raise BaseModelError(
            f"--revision {hub.revision} is for a hub id ORG/NAME, and '{model or EMBEDDED_NAME}' is not one"
        )
    if is_embedded(model):
        try:
            path = ensure_embedded_model()
        except EmbeddedModelError as exc:
            raise BaseModelError(str(exc)) from exc
        return ResolvedBaseModel(served_name or EMBEDDED_NAME, path, EMBEDDED_NAME)
    assert model is not None
    if hub_id:
        try:
            folder = hub_model_folder(model, hub)
        except HubError as exc:
            raise BaseModelError(str(exc)) from exc
        _check_folder(folder)
        return ResolvedBaseModel(served_name or model, folder, model, hub.revision)
    if not path.is_dir():
        raise BaseModelError(
            f"base model '{model}' is not a local folder, nor a hub id ORG/NAME (give the path of a "
            f"Hugging Face model folder, an id such as Qwen/Qwen2.5-7B-Instruct, or leave --model out for "
            f"the embedded {EMBEDDED_NAME})"
        )
    _check_folder(path)
    return ResolvedBaseModel(served_name or path.resolve().name, path.resolve(), str(path.resolve()))


def _check_folder(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise BaseModelError(f"base model folder {path} has no config.json: it is not a Hugging Face model folder")
