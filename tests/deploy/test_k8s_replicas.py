"""deploy/k8s/replicas: N servers sharing one adapters volume and one PostgreSQL feedback store.

What makes N replicas work that one does not need: the adapters volume is ReadWriteMany and read-only in the
pods, nothing a pod writes is on a volume another pod also writes, the feedback store is PostgreSQL, keys come
from Secrets (the key file and the environment, docs/security.md), and updates and drains keep N-1 serving.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.files import (
    DOCKER,
    REPLICAS,
    Dockerfile,
    cli_options,
    env_file_keys,
    flags,
    git_ignored,
    kustomization_resources,
    load_yaml,
    option_value,
)
from wechat_twin.server.cli import app as server_app

KUSTOMIZATION = REPLICAS / "kustomization.yaml"


def find(kind: str) -> dict:
    found = [doc for doc in kustomization_resources(REPLICAS) if doc["kind"] == kind]
    assert len(found) >= 1, f"no {kind} in deploy/k8s/replicas"
    return found[0]


def pod_spec() -> dict:
    return find("Deployment")["spec"]["template"]["spec"]


def server() -> dict:
    containers = pod_spec()["containers"]
    assert len(containers) == 1
    return containers[0]


def claims() -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: doc
        for doc in kustomization_resources(REPLICAS)
        if doc["kind"] == "PersistentVolumeClaim"
    }


def test_several_replicas_behind_one_service() -> None:
    deployment = find("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    rolling = deployment["spec"]["strategy"]
    assert rolling["type"] == "RollingUpdate"
    assert rolling["rollingUpdate"]["maxUnavailable"] < deployment["spec"]["replicas"], "an update keeps some serving"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        find("Service")["spec"]["selector"],
        find("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        find("NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert find("PodDisruptionBudget")["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    args = server()["args"]
    unknown = set(flags(args)) - cli_options(server_app, "serve")
    assert not unknown, f"twin-server serve has no {sorted(unknown)}"
    assert int(server()["resources"]["limits"]["nvidia.com/gpu"]) >= 1


def test_the_adapters_volume_is_shared_and_read_only() -> None:
    mounts = {mount["name"]: mount for mount in server()["volumeMounts"]}
    adapters = option_value(server()["args"], "--adapters")
    (mount,) = [m for m in mounts.values() if m["mountPath"] == adapters]
    assert mount.get("readOnly") is True, "the servers only read adapters"
    volume = next(v for v in pod_spec()["volumes"] if v["name"] == mount["name"])
    claim = claims()[volume["persistentVolumeClaim"]["claimName"]]
    assert "ReadWriteMany" in claim["spec"]["accessModes"] or "ReadOnlyMany" in claim["spec"]["accessModes"]


def test_no_volume_is_written_by_two_replicas() -> None:
    """A ReadWriteOnce claim cannot be mounted by pods on two nodes, and a shared writable one would be written by
    all; what a pod writes (caches, /dev/shm) is its own emptyDir. The base model is a shared read-only claim."""
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    for mount in server()["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "persistentVolumeClaim" in volume:
            assert mount.get("readOnly") is True and volume["persistentVolumeClaim"].get("readOnly") is True, mount
            assert set(claims()[volume["persistentVolumeClaim"]["claimName"]]["spec"]["accessModes"]) & {
                "ReadWriteMany",
                "ReadOnlyMany",
            }
        elif "secret" not in volume:
            assert "emptyDir" in volume, f"{mount['name']} is neither a shared read-only claim nor the pod's own"
    model = option_value(server()["args"], "--model")
    assert any(model.startswith(m["mountPath"] + "/") for m in server()["volumeMounts"] if m.get("readOnly"))


def test_keys_and_the_database_come_from_secrets_whose_files_are_never_committed() -> None:
    kustomization = load_yaml(KUSTOMIZATION)
    generators = {g["name"]: g for g in kustomization["secretGenerator"]}
    sources = [REPLICAS / f for g in generators.values() for f in g.get("envs", []) + g.get("files", [])]
    for source in sources:
        assert git_ignored(source), f"{source.name} would be committed"
        assert (REPLICAS / (source.name + ".example")).is_file()
    for doc in kustomization_resources(REPLICAS):
        assert doc["kind"] != "Secret", "a Secret written into a manifest"
    env = {item["name"]: item for item in server()["env"]}
    for name in ("TWIN_ADMIN_KEYS", "TWIN_FEEDBACK_DB", "PGPASSWORD"):
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference["key"] in env_file_keys(REPLICAS / (generators[reference["name"]]["envs"][0] + ".example"))
    key_file = option_value(server()["args"], "--key-file")
    (volume,) = [v for v in pod_spec()["volumes"] if "secret" in v]
    mount = next(m for m in server()["volumeMounts"] if m["name"] == volume["name"])
    assert mount.get("readOnly") is True
    assert volume["secret"]["secretName"] in generators
    assert key_file in {f"{mount['mountPath']}/{item['path']}" for item in volume["secret"]["items"]}
    assert volume["secret"]["defaultMode"] & 0o007 == 0, "the key file is not readable by others"


def test_pods_run_unprivileged_as_the_image_user() -> None:
    image = Dockerfile.read(DOCKER / "Dockerfile.server")
    uid = image.expand(image.last("USER").value).split(":")[0]
    pod = pod_spec()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == uid
    assert pod["automountServiceAccountToken"] is False
    security = server()["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    namespace = find("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_wires_the_generated_secrets(tmp_path: Path) -> None:
    """The key file's Secret gets a content hash (a new key restarts the pods) and the volume follows it; the
    admin key's Secret keeps the fixed name the LoraAdapter sample refers to."""
    copy = tmp_path / "replicas"
    shutil.copytree(REPLICAS, copy)
    for example in copy.glob("*.example"):
        shutil.copy(example, example.with_suffix(""))
    rendered = subprocess.run(["kubectl", "kustomize", str(copy)], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    docs = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    secrets = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Secret"}
    assert "twin-server-secrets" in secrets
    (keys,) = [name for name in secrets if name.startswith("twin-server-keys-")]
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert keys in {v["secret"]["secretName"] for v in volumes if "secret" in v}
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {"wechat-twin"}
