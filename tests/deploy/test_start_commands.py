"""What each image, the compose file and the Kubernetes manifests start, parsed by twin-server itself.

Docker is not available where the tests run, so each start is rebuilt from the files: the image's ENTRYPOINT,
its CMD (or the command compose or the manifest gives instead) and its environment (the image's ENV, then
what compose or the manifest adds; a Secret's values come from its committed `.example` file). That command
line is parsed by `twin-server serve`'s own parser, values, types and path checks included, inside a stand-in
for the container's file system (the folders the image creates, the volumes mounted on it, and the files a
Secret projects). Then the feedback database it would open must be writable by the image's user and kept on a
volume, or be PostgreSQL (which several replicas must share): a folder the user cannot write (the old default,
`/feedback.db` beside `--adapters /adapters`) stopped the server at its start.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
import typer

from tests.deploy.files import (
    DEPLOY,
    DOCKER,
    K8S,
    REPLICAS,
    Dockerfile,
    env_file_keys,
    load_yaml,
    load_yaml_documents,
)
from wechat_twin.feedback import FEEDBACK_FILE, is_postgres_url
from wechat_twin.server.cli import app as server_app
from wechat_twin.server.keys import read_key_file

SERVE = typer.main.get_command(server_app).commands["serve"]
# The click the command is built on (typer 0.29 vendors its own as `typer._click`): its refusals' base class.
_CLICK = next(c for c in type(SERVE).__mro__ if c.__name__ == "Command").__module__.rsplit(".", 1)[0]
ClickException = importlib.import_module(f"{_CLICK}.exceptions").ClickException
_INSTALL_DIRS = re.compile(r"install -d ((?:-[ogm] \S+ )*)([^&\n]+)")
_COMPOSE_VARIABLE = re.compile(r"\$\{\w+(?::?-([^}]*))?\}")


@dataclass
class Start:
    """One way the server container starts: its argv, its environment and its writable volumes."""

    name: str
    argv: list[str]
    env: dict[str, str]
    volumes: set[str]
    dockerfile: Dockerfile
    files: dict[str, str] = field(default_factory=dict)  # container path -> content (a Secret's projected files)
    replicas: int = 1
    owned: set[str] = field(init=False)  # folders the image creates for its user

    def __post_init__(self) -> None:
        self.owned = set()
        for options, paths in _INSTALL_DIRS.findall(self.dockerfile.run_text()):
            if "-o " in options and "TWIN_UID" in options:
                self.owned.update(shlex.split(paths))


def _image(name: str) -> Dockerfile:
    return Dockerfile.read(DOCKER / name)


def _image_volumes(dockerfile: Dockerfile) -> set[str]:
    return {v for i in dockerfile.all("VOLUME") for v in i.exec_form()}


def _compose_start(gpu: bool) -> Start:
    service = load_yaml(DEPLOY / "compose.yaml")["services"]["server"]
    dockerfile = _image("Dockerfile.server" if gpu else "Dockerfile.cpu")
    command = _COMPOSE_VARIABLE.sub(lambda m: m.group(1) or "", service["command"])
    env = dockerfile.env() | {k: str(v) for k, v in (service.get("environment") or {}).items()}
    mounts = [_COMPOSE_VARIABLE.sub(lambda m: m.group(1) or "", v).split(":") for v in service["volumes"]]
    volumes = {mount[1] for mount in mounts if mount[2:] != ["ro"]}
    entrypoint = dockerfile.last("ENTRYPOINT").exec_form()
    return Start(f"compose ({dockerfile.path.name})", entrypoint + shlex.split(command), env, volumes, dockerfile)


def _secret_values(folder: Path) -> dict[tuple[str, str], str]:
    """(Secret, key) -> value of the Secrets a kustomization generates, read from the committed `.example` files."""
    values = {}
    for generator in load_yaml(folder / "kustomization.yaml").get("secretGenerator", []):
        for env_file in generator.get("envs", []):
            for key, value in env_file_keys(folder / (env_file + ".example")).items():
                values[generator["name"], key] = value
        for entry in generator.get("files", []):
            key, _, source = entry.rpartition("=")
            values[generator["name"], key or source] = (folder / (source + ".example")).read_text(encoding="utf-8")
    return values


def _k8s_start(folder: Path) -> Start:
    deployment = next(d for d in load_yaml_documents(folder / "server-deployment.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    dockerfile = _image("Dockerfile.server")
    secrets = _secret_values(folder)
    env = dockerfile.env()
    for item in container.get("env", []):
        reference = item.get("valueFrom", {}).get("secretKeyRef")
        env[item["name"]] = secrets[reference["name"], reference["key"]] if reference else item["value"]
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    files = {}
    for volume in pod["volumes"]:
        secret, mount = volume.get("secret"), mounts.get(volume["name"])
        if secret and mount:
            for item in secret.get("items", []):
                files[f"{mount['mountPath']}/{item['path']}"] = secrets[secret["secretName"], item["key"]]
    writable = {mount["mountPath"] for mount in mounts.values() if not mount.get("readOnly")}
    argv = dockerfile.last("ENTRYPOINT").exec_form() + container["args"]
    name = f"k8s {folder.relative_to(K8S.parent)}/server-deployment"
    return Start(name, argv, env, writable, dockerfile, files, deployment["spec"].get("replicas", 1))


def starts() -> list[Start]:
    images = [
        Start(name, _image(name).command(), _image(name).env(), _image_volumes(_image(name)), _image(name))
        for name in ("Dockerfile.server", "Dockerfile.cpu")
    ]
    return [*images, _compose_start(gpu=False), _compose_start(gpu=True), _k8s_start(K8S), _k8s_start(REPLICAS)]


def _inside(root: Path, path: str) -> str:
    """An absolute container path, in the stand-in file system."""
    return str(root / path.lstrip("/")) if path.startswith("/") else path


def parse_serve(start: Start, root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """`twin-server serve`'s parameters for this start, as click parses them (raises on what it refuses)."""
    assert start.argv[:2] == ["twin-server", "serve"], f"{start.name}: starts {start.argv[:2]}"
    for folder in start.owned | start.volumes:
        Path(_inside(root, folder)).mkdir(parents=True, exist_ok=True)
    for path, content in start.files.items():
        Path(_inside(root, path)).parent.mkdir(parents=True, exist_ok=True)
        Path(_inside(root, path)).write_text(content, encoding="utf-8")
    for name in [n for n in os.environ if n.startswith(("TWIN_", "PG"))]:
        monkeypatch.delenv(name)
    for name, value in start.env.items():
        monkeypatch.setenv(name, _inside(root, value) if name in {"TWIN_FEEDBACK_DB", "TWIN_KEY_FILE"} else value)
    args = [_inside(root, arg) for arg in start.argv[2:]]
    with SERVE.make_context("serve", args) as context:
        return dict(context.params)


def feedback_location(params: dict, root: Path) -> str | None:
    """Where `ServerSettings.feedback_path()` puts the database, as a container path (or a URL)."""
    given, adapters = params["feedback_db"], params["adapters"]
    if given is not None:
        location = given
    elif adapters is not None:
        location = str(Path(adapters).resolve().parent / FEEDBACK_FILE)
    else:
        return None
    if is_postgres_url(location):
        return location
    return "/" + str(Path(location).relative_to(root)) if Path(location).is_relative_to(root) else location


@pytest.mark.parametrize("start", starts(), ids=lambda s: s.name)
def test_the_start_command_parses_and_its_feedback_database_is_writable_and_kept(
    start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        params = parse_serve(start, tmp_path, monkeypatch)
    except ClickException as exc:
        pytest.fail(f"{start.name}: twin-server refuses {start.argv}: {exc.format_message()}")
    location = feedback_location(params, tmp_path)
    assert location is not None, f"{start.name}: the chat page would have no feedback database"
    if is_postgres_url(location):
        return
    assert start.replicas == 1, f"{start.name}: {start.replicas} replicas would each write their own {location}"
    folder = str(PurePosixPath(location).parent)
    assert folder in start.owned, (
        f"{start.name}: the feedback database {location} is in {folder}, which the image's user cannot write "
        f"(it creates {sorted(start.owned)} for that user)"
    )
    assert folder in start.volumes, f"{start.name}: {location} is not on a volume; a restart would lose the feedback"


def test_the_parser_check_catches_a_start_twin_server_refuses(tmp_path: Path, monkeypatch) -> None:
    """The check above is the server's own parser: an option it lacks, or a bad value, is refused."""
    start = starts()[0]
    for wrong in (["--no-such-option"], ["--port", "eighty"], ["--adapters", "/not-created"]):
        bad = Start(start.name, start.argv + wrong, start.env, start.volumes, start.dockerfile)
        with pytest.raises(ClickException):
            parse_serve(bad, tmp_path, monkeypatch)


def test_a_start_without_a_feedback_location_falls_beside_the_adapters_where_root_owns_the_folder(
    tmp_path: Path, monkeypatch
) -> None:
    """The images' start before this check: `--adapters /adapters` and no TWIN_FEEDBACK_DB."""
    start = starts()[0]
    env = {k: v for k, v in start.env.items() if k != "TWIN_FEEDBACK_DB"}
    params = parse_serve(Start(start.name, start.argv, env, start.volumes, start.dockerfile), tmp_path, monkeypatch)
    location = feedback_location(params, tmp_path)
    assert location == "/feedback.db"
    assert str(PurePosixPath(location).parent) not in start.owned


def test_the_replicas_read_their_keys_from_the_secrets_file_and_share_postgresql(tmp_path: Path, monkeypatch) -> None:
    """deploy/k8s/replicas: --key-file is the Secret's projected keys.toml, which the server's reader accepts,
    and the feedback store is PostgreSQL; without the Secret's file the server refuses to start."""
    start = next(s for s in starts() if s.replicas > 1)
    params = parse_serve(start, tmp_path, monkeypatch)
    keys = read_key_file(params["key_file"])
    assert keys.api and keys.chat, "the example key file gives client and chat keys"
    assert os.environ["TWIN_ADMIN_KEYS"], "the admin key comes from the Secret the controllers read"
    assert is_postgres_url(feedback_location(params, tmp_path) or "")
    without_file = Start(start.name, start.argv, start.env, start.volumes, start.dockerfile, {}, start.replicas)
    with pytest.raises(ClickException, match=r"keys\.toml' does not exist"):
        parse_serve(without_file, tmp_path / "bare", monkeypatch)
