"""deploy/k8s/ecosystem: the adapter controllers' and the inference gateway's resources, pointing at our pods.

Each sample is validated with check-jsonschema against its upstream CRD's schema (tests/deploy/crds, which names
the release and commit), and checked against deploy/k8s/replicas: the labels the controllers select pods by, the
port they call, the clone's path on the shared adapters volume, the admin key's Secret. Then the calls the two
controllers make (read from their source at those releases) are replayed against the real app over HTTP, set up
as the replicas manifest sets it up, with the keys of the committed example Secrets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import httpx
import pytest
import yaml
from openai import OpenAI

from tests.deploy.files import (
    CRDS,
    ECOSYSTEM,
    REPLICAS,
    env_file_keys,
    kustomization_resources,
    load_yaml,
    option_value,
)
from tests.support.inprocess_server import serve_fake
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.keys import read_key_file

SAMPLES = {
    "production-stack-loraadapter.yaml": "loraadapter-production-stack-v1alpha1.json",
    "aibrix-modeladapter.yaml": "modeladapter-aibrix-v1alpha1.json",
    "inferencepool.yaml": "inferencepool-gateway-api-inference-extension-v1.json",
}
# A wrong value in each sample, and what the CRD's schema says about it.
WRONG_TYPES = {
    "production-stack-loraadapter.yaml": (("spec", "baseModel"), 7, "7 is not of type 'string'"),
    "aibrix-modeladapter.yaml": (("spec", "replicas"), "1", "'1' is not of type 'integer'"),
    "inferencepool.yaml": (("spec", "targetPorts", 0, "number"), "8000", "'8000' is not of type 'integer'"),
}
# Where the controllers send their calls when the pod names no other port (AIBrix's DefaultInferenceEnginePort,
# production-stack's getPodEndpoint default unless a container port is named "container-port").
CONTROLLER_PORT = 8000


def sample(name: str) -> dict:
    return load_yaml(ECOSYSTEM / name)


def deployment() -> dict:
    return next(doc for doc in kustomization_resources(REPLICAS) if doc["kind"] == "Deployment")


def pod_labels() -> dict[str, str]:
    return deployment()["spec"]["template"]["metadata"]["labels"]


def container() -> dict:
    return deployment()["spec"]["template"]["spec"]["containers"][0]


def container_port() -> int:
    return next(port["containerPort"] for port in container()["ports"] if port["name"] == "http")


def served_base_name() -> str:
    """What the replicas serve their base model as: --served-name, or the --model folder's name."""
    args = container()["args"]
    return (
        option_value(args, "--served-name")
        if "--served-name" in args
        else PurePosixPath(option_value(args, "--model")).name
    )


def check_jsonschema(schema: Path, document: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), str(document)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_every_sample_has_its_crd_schema() -> None:
    assert {path.name for path in ECOSYSTEM.glob("*.yaml")} == set(SAMPLES)
    assert {path.name for path in CRDS.glob("*.json")} == set(SAMPLES.values())


@pytest.mark.parametrize("name", SAMPLES)
def test_the_sample_follows_its_upstream_crd(name: str) -> None:
    result = check_jsonschema(CRDS / SAMPLES[name], ECOSYSTEM / name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", SAMPLES)
def test_the_crd_schema_refuses_a_broken_sample(name: str, tmp_path: Path) -> None:
    """A wrong type, an unknown field, and the wrong kind: each is refused, naming where."""
    where, value, message = WRONG_TYPES[name]
    wrong_type = sample(name)
    node = wrong_type
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    unknown = sample(name)
    unknown["spec"]["adapterRef"] = "alice"
    wrong_kind = sample(name) | {"kind": "Deployment"}
    for broken, expected in (
        (wrong_type, message),
        (unknown, "'adapterRef' was unexpected"),
        (wrong_kind, "was expected"),
    ):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(broken), encoding="utf-8")
        result = check_jsonschema(CRDS / SAMPLES[name], path)
        assert result.returncode == 1, f"{name}: the schema let {broken} through"
        assert expected in result.stdout, result.stdout


@pytest.mark.parametrize("name", SAMPLES)
def test_each_schema_names_its_upstream_release_and_commit(name: str) -> None:
    schema = json.loads((CRDS / SAMPLES[name]).read_text(encoding="utf-8"))
    repository, path, _, tag, _, commit = schema["$comment"].split()
    assert repository.startswith("github.com/") and path.endswith(".yaml") and len(commit) == 40
    readme = (CRDS / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{SAMPLES[name]}`"))
    assert all(part in row for part in (repository, path, tag, commit)), row
    assert schema["properties"]["apiVersion"]["const"] == sample(name)["apiVersion"]
    assert schema["properties"]["kind"]["const"] == sample(name)["kind"]


def test_the_lora_adapter_reaches_our_pods_with_the_admin_key() -> None:
    """production-stack's controller lists pods labelled model=<baseModel>, calls them on port 8000, loads
    adapterPath under adapterName, and sends the key its vllmApiKey Secret holds."""
    spec = sample("production-stack-loraadapter.yaml")["spec"]
    args = container()["args"]
    assert pod_labels()["model"] == spec["baseModel"] == served_base_name()
    assert container_port() == CONTROLLER_PORT
    source = spec["adapterSource"]
    path = PurePosixPath(source["adapterPath"])
    assert source["type"] == "local" and path.parent == PurePosixPath(option_value(args, "--adapters"))
    assert path.name == source["adapterName"]
    reference = spec["vllmApiKey"]
    generator = next(
        g for g in load_yaml(REPLICAS / "kustomization.yaml")["secretGenerator"] if g["name"] == reference["secretName"]
    )
    assert generator["options"]["disableNameSuffixHash"] is True, "the CR names the Secret without kustomize's hash"
    secret = env_file_keys(REPLICAS / (generator["envs"][0] + ".example"))
    assert "," not in secret[reference["secretKey"]], "the controller sends the whole value as one bearer token"
    env = {item["name"]: item for item in container()["env"]}
    assert env["TWIN_ADMIN_KEYS"]["valueFrom"]["secretKeyRef"] == {
        "name": reference["secretName"],
        "key": reference["secretKey"],
    }


def test_the_model_adapter_selects_our_pods() -> None:
    """AIBrix's controller loads the adapter under the resource's name, from artifactURL, on a pod its
    podSelector matches, on port 8000."""
    adapter = sample("aibrix-modeladapter.yaml")
    spec = adapter["spec"]
    labels = pod_labels()
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert labels["adapter.model.aibrix.ai/enabled"] == "true"
    assert int(labels["model.aibrix.ai/port"]) == container_port() == CONTROLLER_PORT
    assert labels["model.aibrix.ai/name"] == spec["baseModel"] == served_base_name()
    path = PurePosixPath(spec["artifactURL"])
    assert path.parent == PurePosixPath(option_value(container()["args"], "--adapters"))
    assert path.name == adapter["metadata"]["name"]


def test_the_inference_pool_selects_our_pods_on_their_port() -> None:
    spec = sample("inferencepool.yaml")["spec"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels().items()
    assert [port["number"] for port in spec["targetPorts"]] == [container_port()]
    policy = next(doc for doc in kustomization_resources(REPLICAS) if doc["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels().items()


@pytest.fixture
def replica(embedded_model, adapters_dir, tmp_path):
    """One replica as deploy/k8s/replicas starts it (keys from the example Secrets), with an empty adapters volume."""
    keys = read_key_file(REPLICAS / "keys.toml.example")
    admin = env_file_keys(REPLICAS / "secrets.env.example")["TWIN_ADMIN_KEYS"]
    volume = tmp_path / "adapters"
    volume.mkdir()
    settings = ServerSettings(
        adapters_dir=volume,
        api_keys=keys.api,
        admin_keys=[admin],
        chat_keys=keys.chat,
    )
    with serve_fake(settings) as running:
        yield running, volume, admin, keys.api[0]


def _on_volume(volume: Path, container_path: str) -> str:
    """The container path of a clone (under --adapters) where the test's adapters volume is."""
    mount = option_value(container()["args"], "--adapters")
    return str(volume / PurePosixPath(container_path).relative_to(mount))


def _adapter_cards(session: httpx.Client) -> dict[str, dict]:
    reply = session.get("/v1/models")
    assert reply.status_code == 200, reply.text
    return {card["id"]: card for card in reply.json()["data"]}


def test_production_stack_loads_a_new_clone_through_load_lora_adapter(replica, adapters_dir) -> None:
    """The LoraAdapter controller's reconcile (vllm-stack 0.1.12): a clone copied onto the volume, /v1/models
    read for adapters (a `parent`) named adapterName, then POST /v1/load_lora_adapter where it is missing; the
    clone answers; deleting the resource POSTs /v1/unload_lora_adapter."""
    server, volume, admin, api_key = replica
    source = sample("production-stack-loraadapter.yaml")["spec"]["adapterSource"]
    path = _on_volume(volume, source["adapterPath"])
    shutil.copytree(adapters_dir / "alice", path)
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.root_url, headers=headers, timeout=60) as session:
        card = _adapter_cards(session).get(source["adapterName"])
        if card is None or card.get("parent") is None:
            loaded = session.post("/v1/load_lora_adapter", json={"lora_name": source["adapterName"], "lora_path": path})
            assert loaded.status_code == 200, loaded.text
        card = _adapter_cards(session)[source["adapterName"]]
        assert card["parent"] == _adapter_cards(session)[card["parent"]]["id"], "a clone's parent is the base"
        assert card["root"] == path, "the controller records the adapter's path from `root`"
        client = OpenAI(base_url=server.base_url, api_key=api_key)
        reply = client.chat.completions.create(
            model=source["adapterName"], messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content
        unloaded = session.post("/v1/unload_lora_adapter", json={"lora_name": source["adapterName"]})
        assert unloaded.status_code == 200, unloaded.text
        refused = httpx.post(
            f"{server.root_url}/v1/load_lora_adapter",
            json={"lora_name": "x", "lora_path": path},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        assert refused.status_code == 401, "a client key cannot load adapters: only the controllers' admin key"


def test_aibrix_loads_a_new_clone_under_the_resources_name(replica, adapters_dir) -> None:
    """The ModelAdapter controller (AIBrix v0.7.0, direct engine API): GET /v1/models, and unless metadata.name
    is listed, POST /v1/load_lora_adapter {"lora_name": metadata.name, "lora_path": artifactURL}, 200 or 201."""
    server, volume, admin, api_key = replica
    adapter = sample("aibrix-modeladapter.yaml")
    name, path = adapter["metadata"]["name"], _on_volume(volume, adapter["spec"]["artifactURL"])
    shutil.copytree(adapters_dir / "alice", path)
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.root_url, headers=headers, timeout=60) as session:
        if name not in _adapter_cards(session):
            loaded = session.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path})
            assert loaded.status_code in (200, 201), loaded.text
        assert name in _adapter_cards(session)
    client = OpenAI(base_url=server.base_url, api_key=api_key)
    reply = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
