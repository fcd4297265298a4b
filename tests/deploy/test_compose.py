"""deploy/compose.yaml (+ compose.gpu.yaml): what `docker compose up` would build, publish and connect."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
import uvicorn
import yaml
from jsonschema import Validator, validators
from typer.testing import CliRunner

from tests.deploy.files import (
    DEPLOY,
    Dockerfile,
    cli_options,
    env_file_keys,
    flags,
    git_ignored,
    load_yaml,
    option_value,
)
from wechat_twin.server.cli import app as server_app

COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_GPU = DEPLOY / "compose.gpu.yaml"
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def services(path: Path = COMPOSE) -> dict:
    return load_yaml(path)["services"]


def default_interpolation(text: str) -> str:
    """Compose's ${VAR:-default} with nothing set in the environment."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", text)


def server_command() -> list[str]:
    command = services()["server"]["command"]
    return shlex.split(default_interpolation(command)) if isinstance(command, str) else command


def volume_target(volume: str) -> str:
    return default_interpolation(volume).split(":")[1]


def dockerfile_of(build: dict, compose_file: Path) -> Path:
    return (compose_file.parent / build.get("context", ".")).resolve() / build["dockerfile"]


def test_every_build_uses_an_existing_dockerfile() -> None:
    built = {}
    for compose_file in (COMPOSE, COMPOSE_GPU):
        for name, service in services(compose_file).items():
            build = {**services()[name].get("build", {}), **service.get("build", {})}
            if build:
                path = dockerfile_of(build, COMPOSE)
                assert path.is_file(), f"{compose_file.name}: {name} builds from missing {path}"
                built[(compose_file.name, name)] = path.name
    assert built[("compose.yaml", "server")] == "Dockerfile.cpu"
    assert built[("compose.gpu.yaml", "server")] == "Dockerfile.server"
    assert built[("compose.yaml", "bridge")] == "Dockerfile.bridge"


def test_published_ports_are_loopback_only() -> None:
    for compose_file in (COMPOSE, COMPOSE_GPU):
        for name, service in services(compose_file).items():
            for port in service.get("ports", []):
                text = default_interpolation(port if isinstance(port, str) else port.get("host_ip", ""))
                assert text.startswith("127.0.0.1:") or text == "127.0.0.1", (
                    f"{compose_file.name}: {name} publishes {port} beyond this machine"
                )


def test_server_command_exists_and_listens_where_the_healthcheck_and_bridge_look() -> None:
    command = server_command()
    assert command[0] == "serve"
    unknown = set(flags(command)) - cli_options(server_app, "serve")
    assert not unknown, f"twin-server serve has no {sorted(unknown)}"
    assert option_value(command, "--host") == "0.0.0.0"
    port = option_value(command, "--port")
    server = services()["server"]
    assert any(str(p).endswith(f":{port}") for p in server["ports"]), "published port is not the one served"
    assert f"http://127.0.0.1:{port}/health" in " ".join(server["healthcheck"]["test"])
    bridge = services()["bridge"]
    assert bridge["environment"]["TWIN_API_BASE"] == f"http://server:{port}/v1"
    assert bridge["depends_on"]["server"]["condition"] == "service_healthy"


def test_volumes_hold_adapters_model_cache_and_bridge_state() -> None:
    server, bridge = services()["server"], services()["bridge"]
    targets = {volume_target(volume) for volume in server["volumes"]}
    cache = Dockerfile.read(dockerfile_of(server["build"], COMPOSE)).env()["WECHAT_TWIN_CACHE"]
    assert option_value(server_command(), "--adapters") in targets
    assert any(cache.startswith(target.rstrip("/") + "/") for target in targets), f"{cache} is not on a volume"
    bridge_dockerfile = Dockerfile.read(dockerfile_of(bridge["build"], COMPOSE))
    assert bridge_dockerfile.last("WORKDIR").value in {volume_target(volume) for volume in bridge["volumes"]}


def test_no_secret_is_written_into_the_compose_files() -> None:
    for compose_file in (COMPOSE, COMPOSE_GPU):
        for name, service in services(compose_file).items():
            environment = service.get("environment", {})
            inline = [key for key in environment if SECRET_NAME.search(key)]
            assert not inline, f"{compose_file.name}: {name} has {inline} inline; use its env_file"
    for service in services().values():
        env_file = DEPLOY / service["env_file"]
        assert git_ignored(env_file), f"{env_file} would be committed"
        example = env_file.with_name(env_file.name + ".example")
        assert example.is_file(), f"{example.name} tells users what {env_file.name} holds"
        assert all(value.startswith("replace-with-") for value in env_file_keys(example).values())


def test_the_bridge_key_is_one_the_server_accepts() -> None:
    server_keys = env_file_keys(DEPLOY / "server.env.example")["TWIN_API_KEYS"].split(",")
    assert env_file_keys(DEPLOY / "bridge.env.example")["TWIN_API_KEY"] in server_keys


def test_server_env_file_is_what_lets_the_server_bind_all_interfaces(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Run the compose command through the real CLI: refused without the env file, accepted with it."""
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kwargs: started.update(app=application, **kwargs))
    command = server_command()
    command[command.index("--adapters") + 1] = str(tmp_path)
    runner = CliRunner()

    refused = runner.invoke(server_app, command, env={"TWIN_API_KEYS": "", "TWIN_ADMIN_KEYS": ""})
    assert refused.exit_code != 0 and "refusing to listen on 0.0.0.0" in refused.output
    assert not started

    env = env_file_keys(DEPLOY / "server.env.example")
    accepted = runner.invoke(server_app, command, env=env)
    assert accepted.exit_code == 0, accepted.output
    settings = started["app"].state.settings
    assert started["host"] == "0.0.0.0"
    assert settings.api_keys == env["TWIN_API_KEYS"].split(",")
    assert settings.admin_keys == env["TWIN_ADMIN_KEYS"].split(",")


def test_gpu_variant_reserves_nvidia_gpus_and_shared_memory() -> None:
    server = services(COMPOSE_GPU)["server"]
    devices = server["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert server["shm_size"], "tensor parallelism needs more than Docker's 64 MB of /dev/shm"
    assert server["healthcheck"]["start_period"], "loading a 7B model outlasts the CPU start period"


def compose_schema() -> Validator:
    """The Compose Specification's own JSON schema, as check-jsonschema vendors it (offline, pinned)."""
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text("utf-8")
    schema = json.loads(text)
    return validators.validator_for(schema)(schema)


def schema_errors(validator: Validator, text: str) -> list[str]:
    document = yaml.safe_load(default_interpolation(text))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_both_compose_files_follow_the_compose_specification() -> None:
    validator = compose_schema()
    for compose_file in (COMPOSE, COMPOSE_GPU):
        errors = schema_errors(validator, compose_file.read_text(encoding="utf-8"))
        assert not errors, f"{compose_file.name}: {errors}"
    misspelled = COMPOSE.read_text(encoding="utf-8").replace("    ports:", "    port:", 1)
    assert any("'port' was unexpected" in e for e in schema_errors(validator, misspelled)), "the schema is in force"


def compose_binary() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        probe = subprocess.run(["docker-compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and "v2." in probe.stdout:
            return ["docker-compose"]
    return None


@pytest.mark.skipif(compose_binary() is None, reason="Docker Compose v2 is not installed")
def test_docker_compose_accepts_both_variants(tmp_path: Path) -> None:
    project = tmp_path / "deploy"
    shutil.copytree(DEPLOY, project, ignore=shutil.ignore_patterns("k8s", "accelerate"))
    for name in ("server", "bridge"):
        shutil.copy(project / f"{name}.env.example", project / f"{name}.env")
    for files in (["compose.yaml"], ["compose.yaml", "compose.gpu.yaml"]):
        args = [part for name in files for part in ("-f", str(project / name))]
        result = subprocess.run(
            [*compose_binary(), *args, "config", "--quiet"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
