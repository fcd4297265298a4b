"""Every Kubernetes manifest of the core kinds against Kubernetes' own schemas, offline.

`kubernetes-validate` bundles the OpenAPI schemas of each Kubernetes release as JSON Schema; its strict
variant refuses unknown fields, as `kubectl apply` does by default. The custom resources (the controllers'
and the gateway's) are checked against their CRDs in test_k8s_ecosystem.py.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.files import ECOSYSTEM, K8S, REPLICAS, kustomization_resources, load_yaml_documents

KUSTOMIZATIONS = [K8S, REPLICAS]
KUBERNETES = kubernetes_validate.latest_version()


def schema_errors(document: dict) -> list[str]:
    """What Kubernetes' schema (strict: no unknown fields) says against `document`; empty when it is valid."""
    try:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    return []


def test_every_manifest_is_in_a_kustomization_or_a_checked_sample() -> None:
    """Nothing under deploy/k8s escapes validation: each YAML file is listed by its folder's kustomization
    (checked here) or is a custom-resource sample (checked against its CRD)."""
    listed = {K8S / "kustomization.yaml", REPLICAS / "kustomization.yaml"}
    for folder in KUSTOMIZATIONS:
        listed |= {folder / name for name in yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]}
    listed |= set(ECOSYSTEM.glob("*.yaml"))
    assert set(K8S.rglob("*.yaml")) == listed, f"not checked: {sorted(set(K8S.rglob('*.yaml')) - listed)}"


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda f: str(f.relative_to(K8S.parent)))
def test_the_manifests_follow_the_kubernetes_schema(folder: Path) -> None:
    documents = kustomization_resources(folder)
    assert documents
    for document in documents:
        errors = schema_errors(document)
        assert not errors, f"{document['kind']}/{document['metadata']['name']}: {errors}"


def test_the_schema_refuses_a_broken_manifest() -> None:
    """The check is in force: a wrong type, an unknown field and a missing required field are each refused."""
    deployment = next(d for d in load_yaml_documents(REPLICAS / "server-deployment.yaml") if d["kind"] == "Deployment")
    assert not schema_errors(deployment)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "three"
    assert any("'three' is not of type 'integer'" in e for e in schema_errors(wrong_type))
    misspelled = copy.deepcopy(deployment)
    misspelled["spec"]["replica"] = misspelled["spec"].pop("replicas")
    assert any("'replica' was unexpected" in e for e in schema_errors(misspelled))
    no_image = copy.deepcopy(deployment)
    del no_image["spec"]["template"]["spec"]["containers"][0]["name"]
    assert any("'name' is a required property" in e for e in schema_errors(no_image))
    label = copy.deepcopy(deployment)
    label["spec"]["template"]["metadata"]["labels"]["model.aibrix.ai/port"] = 8000
    assert any("8000 is not of type 'string'" in e for e in schema_errors(label))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda f: str(f.relative_to(K8S.parent)))
def test_what_kustomize_renders_follows_the_kubernetes_schema(folder: Path, tmp_path: Path) -> None:
    """The generated Secrets included, from the committed `.example` files."""
    copy_dir = tmp_path / folder.name
    shutil.copytree(folder, copy_dir, ignore=shutil.ignore_patterns("replicas", "ecosystem"))
    for example in copy_dir.glob("*.example"):
        shutil.copy(example, example.with_suffix(""))
    rendered = subprocess.run(["kubectl", "kustomize", str(copy_dir)], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    documents = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert any(doc["kind"] == "Secret" for doc in documents)
    for document in documents:
        errors = schema_errors(document)
        assert not errors, f"{document['kind']}/{document['metadata']['name']}: {errors}"
