"""Turn an upstream CustomResourceDefinition into the JSON Schema check-jsonschema validates a resource with.

The CRDs' `openAPIV3Schema` is almost JSON Schema already. What the API server adds is written in: `apiVersion`
and `kind` must be the CRD's own, and an object with declared `properties` takes no other field (kubectl's
default `--validate=strict` refuses unknown fields; a pruning server would drop them silently), unless the
schema says `x-kubernetes-preserve-unknown-fields` or gives `additionalProperties`. `metadata` stays open,
as the CRDs leave it. Run it again on a new upstream release:

    python tests/deploy/crds/extract.py CRD.yaml VERSION OUT.json --source "REPO PATH TAG COMMIT"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def _closed(node: Any) -> Any:
    """The schema with every object that lists its properties closed to others (recursively)."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _closed(value) for key, value in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def json_schema(crd: dict, version: str, source: str) -> dict:
    """The JSON Schema of one served version of `crd`, with `source` (where it came from) as `$comment`."""
    spec = crd["spec"]
    served = next(v for v in spec["versions"] if v["name"] == version)
    schema = _closed(served["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"const": f"{spec['group']}/{version}"}
    schema["properties"]["kind"] = {"const": spec["names"]["kind"]}
    schema["required"] = sorted({"apiVersion", "kind", "metadata", "spec"} | set(schema.get("required", [])))
    return {"$schema": "http://json-schema.org/draft-07/schema#", "$comment": source, **schema}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path, help="the upstream CRD YAML")
    parser.add_argument("version", help="the served version, e.g. v1alpha1")
    parser.add_argument("out", type=Path, help="the JSON Schema file to write")
    parser.add_argument("--source", required=True, help="upstream repository, path, tag and commit")
    args = parser.parse_args()
    crd = next(doc for doc in yaml.safe_load_all(args.crd.read_text(encoding="utf-8")) if doc)
    schema = json_schema(crd, args.version, args.source)
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
