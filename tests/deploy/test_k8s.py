"""deploy/k8s: the manifests kustomize ties together, checked against each other and the images."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.files import (
    DOCKER,
    K8S,
    Dockerfile,
    cli_options,
    env_file_keys,
    flags,
    git_ignored,
    load_yaml,
    load_yaml_documents,
    option_value,
)
from wechat_twin.server.cli import app as server_app

KUSTOMIZATION = K8S / "kustomization.yaml"


def resources() -> list[dict]:
    return [doc for name in load_yaml(KUSTOMIZATION)["resources"] for doc in load_yaml_documents(K8S / name)]


def find(kind: str, name: str) -> dict:
    for doc in resources():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind}/{name} among the kustomization's resources")


def container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def named_port(spec: dict, name: str) -> int:
    return next(port["containerPort"] for port in spec["ports"] if port["name"] == name)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load_yaml(KUSTOMIZATION)["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {KUSTOMIZATION.name}
    assert listed == on_disk, f"not listed: {on_disk - listed}; missing: {listed - on_disk}"
    for doc in resources():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys()


def test_server_runs_twin_server_on_a_gpu_with_health_probes() -> None:
    server = container(find("Deployment", "twin-server"))
    args = server["args"]
    assert args[0] == "serve"
    unknown = set(flags(args)) - cli_options(server_app, "serve")
    assert not unknown, f"twin-server serve has no {sorted(unknown)}"
    assert option_value(args, "--host") == "0.0.0.0"
    port = int(option_value(args, "--port"))
    assert named_port(server, "http") == port
    assert int(server["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    paths = {"startupProbe": "/health", "readinessProbe": "/health", "livenessProbe": "/health/live"}
    for probe, path in paths.items():
        check = server[probe]["httpGet"]
        assert check["path"] == path, f"{probe} probes {check['path']}"
        assert check["port"] in {"http", port}
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, "a 7B model needs minutes to load"


def test_service_is_cluster_internal_and_reaches_the_server_pods() -> None:
    service = find("Service", "twin-server")
    deployment = find("Deployment", "twin-server")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = service["spec"]["ports"][0]["targetPort"]
    assert target in {"http", named_port(container(deployment), "http")}


def test_volumes_are_claims_that_exist_and_hold_what_the_image_keeps() -> None:
    cache = Dockerfile.read(DOCKER / "Dockerfile.server").env()["WECHAT_TWIN_CACHE"]
    for name in ("twin-server", "twin-bridge"):
        pod = find("Deployment", name)["spec"]["template"]["spec"]
        for volume in pod["volumes"]:
            if "persistentVolumeClaim" in volume:
                find("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    server = container(find("Deployment", "twin-server"))
    mounts = {mount["mountPath"]: mount for mount in server["volumeMounts"]}
    assert option_value(server["args"], "--adapters") in mounts
    assert any(cache.startswith(path + "/") for path in mounts), f"{cache} is not on a persistent volume"
    bridge = container(find("Deployment", "twin-bridge"))
    workdir = Dockerfile.read(DOCKER / "Dockerfile.bridge").last("WORKDIR").value
    assert workdir in {mount["mountPath"] for mount in bridge["volumeMounts"]}


def test_bridge_is_a_single_replica_pointing_at_the_service() -> None:
    deployment = find("Deployment", "twin-bridge")
    assert deployment["spec"]["replicas"] == 1, "itchat allows one login per account"
    assert deployment["spec"]["strategy"]["type"] == "Recreate", "a rolling update runs two bridges at once"
    env = {item["name"]: item for item in container(deployment)["env"]}
    port = find("Service", "twin-server")["spec"]["ports"][0]["port"]
    assert env["TWIN_API_BASE"]["value"] == f"http://twin-server:{port}/v1"


def test_api_keys_come_from_a_generated_secret_never_from_the_manifests() -> None:
    for doc in resources():
        assert doc["kind"] != "Secret", f"Secret {doc['metadata']['name']} is written into a manifest"
    generators = {g["name"]: g for g in load_yaml(KUSTOMIZATION)["secretGenerator"]}
    for name in ("twin-server", "twin-bridge"):
        for item in container(find("Deployment", name))["env"]:
            assert "value" not in item or not any(word in item["name"] for word in ("KEY", "TOKEN", "SECRET"))
            reference = item.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                generator = generators[reference["name"]]
                for env_file in generator["envs"]:
                    assert git_ignored(K8S / env_file), f"{env_file} would be committed"
                    keys = env_file_keys(K8S / (env_file + ".example"))
                    assert reference["key"] in keys, f"{reference['key']} is not in {env_file}.example"


def test_pods_run_unprivileged_as_the_image_user() -> None:
    for name, dockerfile in (("twin-server", "Dockerfile.server"), ("twin-bridge", "Dockerfile.bridge")):
        pod = find("Deployment", name)["spec"]["template"]["spec"]
        image = Dockerfile.read(DOCKER / dockerfile)
        uid = image.expand(image.last("USER").value).split(":")[0]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == uid
        assert pod["automountServiceAccountToken"] is False
        security = container(find("Deployment", name))["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_and_wires_the_hashed_secret(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    shutil.copy(copy / "secrets.env.example", copy / "secrets.env")
    rendered = subprocess.run(["kubectl", "kustomize", str(copy)], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    docs = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    secret = next(doc for doc in docs if doc["kind"] == "Secret")
    assert secret["metadata"]["name"].startswith("twin-api-keys-")
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {"wechat-twin"}
    for doc in docs:
        if doc["kind"] == "Deployment":
            for item in container(doc)["env"]:
                reference = item.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    assert reference["name"] == secret["metadata"]["name"]
