"""Hub model ids (`ORG/NAME`): a folder in the Hugging Face (or ModelScope) cache, downloaded when online.

`huggingface_hub.snapshot_download` does the work the way vLLM, transformers and LLaMA-Factory rely on:
it reads `HF_HOME` / `HF_HUB_CACHE` (the `models--ORG--NAME/snapshots/REV` layout), `HF_ENDPOINT` (a
mirror) and `HF_HUB_OFFLINE`, asks the hub which commit a branch is on when it can, and falls back to
the cache when it cannot. We only choose which files a served base model needs and turn its errors
into one line that names the id and the cache searched.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from wechat_twin.errors import TwinError

# LLaMA-Factory's switch: USE_MODELSCOPE_HUB=1 takes ids from ModelScope.
MODELSCOPE_ENV = "USE_MODELSCOPE_HUB"
# Config, tokenizer and chat-template files, then the weights: safetensors, or .bin for a repo without them.
# `original/` and `consolidated*` are other formats of the same weights (Meta's, Mistral's): never fetched.
MODEL_FILES = ("*.json", "*.txt", "*.model", "*.tiktoken", "*.jinja")
WEIGHT_FORMATS = (("*.safetensors",), ("*.bin",))
SKIPPED_FILES = ("original/*", "consolidated*")


class HubError(TwinError):
    """A hub id that cannot be had; the message names the id, the hub and the cache."""


class Hub(enum.Enum):
    """`--hub`: where `ORG/NAME` ids come from."""

    HUGGINGFACE = "huggingface"
    MODELSCOPE = "modelscope"


@dataclass(frozen=True)
class HubOptions:
    """`--revision` and `--hub`, as every command that takes a base model passes them on."""

    revision: str | None = None
    hub: Hub | None = None  # None: ModelScope when USE_MODELSCOPE_HUB says so, else Hugging Face

    def chosen_hub(self) -> Hub:
        if self.hub is not None:
            return self.hub
        return Hub.MODELSCOPE if os.environ.get(MODELSCOPE_ENV, "").lower() in ("1", "true", "yes") else Hub.HUGGINGFACE


def is_hub_id(model: str) -> bool:
    """`ORG/NAME` as the Hugging Face Hub spells ids, and not written as a path (`./x`, `/x`, `~/x`)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if model.count("/") != 1 or model.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return True


def hub_model_folder(repo_id: str, options: HubOptions) -> Path:
    """The local folder of `repo_id` at `options.revision`: cached, else downloaded."""
    if options.chosen_hub() is Hub.MODELSCOPE:
        return _modelscope_folder(repo_id, options.revision)
    return _huggingface_folder(repo_id, options.revision)


def _huggingface_folder(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f"{repo_id}@{revision}" if revision else repo_id
    download = f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")
    cache = constants.HF_HUB_CACHE
    where = f"{constants.ENDPOINT} (HF_ENDPOINT)"
    for weights in WEIGHT_FORMATS:
        try:
            folder = Path(
                snapshot_download(
                    repo_id,
                    revision=revision,
                    allow_patterns=[*MODEL_FILES, *weights],
                    ignore_patterns=list(SKIPPED_FILES),
                )
            )
        except LocalEntryNotFoundError as exc:
            offline = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else f"{where} could not be reached"
            raise HubError(
                f"model '{at}' is not in the Hugging Face cache {cache} and {offline}: download it where there "
                f"is network (`{download}` with the same HF_HOME), or give a local folder"
            ) from exc
        except GatedRepoError as exc:
            raise HubError(f"model '{at}' on {where} is gated: accept its terms and log in (`hf auth login`)") from exc
        except RepositoryNotFoundError as exc:
            raise HubError(f"model '{at}': {where} has no such model (or it is private: `hf auth login`)") from exc
        except RevisionNotFoundError as exc:
            raise HubError(f"model '{at}': {where} has no revision '{revision}'") from exc
        except IncompleteSnapshotError as exc:
            raise HubError(f"model '{at}' is only partly in the cache {cache}: {exc}") from exc
        except HfHubHTTPError as exc:
            raise HubError(f"model '{at}': {where} answered {exc}") from exc
        if any(folder.glob(weights[0])):
            return folder
    raise HubError(f"model '{at}' has no .safetensors or .bin weights (cache: {cache})")


def _modelscope_folder(repo_id: str, revision: str | None) -> Path:
    try:
        from modelscope import snapshot_download
    except ImportError as exc:
        raise HubError(
            f"model '{repo_id}': --hub modelscope ({MODELSCOPE_ENV}=1) needs the modelscope package: "
            "pip install modelscope"
        ) from exc
    kwargs = {"revision": revision} if revision else {}
    try:
        return Path(snapshot_download(repo_id, **kwargs))
    except Exception as exc:  # modelscope raises plain exceptions of many kinds; each becomes one line
        raise HubError(f"model '{repo_id}' from ModelScope: {exc}") from exc
