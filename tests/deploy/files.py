"""Readers for the deployment files: YAML, Dockerfiles, .dockerignore, and the CLIs they call.

Docker is not available where the tests run, so the checks read the files the way the
tools would and compare them with each other and with the code they start.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import typer
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKER = DEPLOY / "docker"
K8S = DEPLOY / "k8s"
REPLICAS = K8S / "replicas"
ECOSYSTEM = K8S / "ecosystem"
CRDS = REPO / "tests" / "deploy" / "crds"


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_yaml_documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


@dataclass
class Instruction:
    name: str
    value: str
    line: int

    def exec_form(self) -> list[str]:
        """CMD/ENTRYPOINT/VOLUME in JSON form; the shell form is refused (it hides signals from the server)."""
        try:
            parsed = json.loads(self.value)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"line {self.line}: {self.name} is not in JSON (exec) form: {self.value}") from exc
        assert isinstance(parsed, list), f"line {self.line}: {self.name} must be a JSON list"
        return parsed


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        instructions: list[Instruction] = []
        pending, start = "", 0
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            stripped = raw.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if pending and stripped.startswith("#"):
                continue
            start = start or number
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            text = pending + stripped
            name, _, value = text.partition(" ")
            instructions.append(Instruction(name.upper(), value.strip(), start))
            pending, start = "", 0
        assert not pending, f"{path}: ends inside a continued line"
        return cls(path, instructions)

    def all(self, name: str) -> list[Instruction]:
        return [i for i in self.instructions if i.name == name]

    def last(self, name: str) -> Instruction:
        found = self.all(name)
        assert found, f"{self.path.name}: no {name} instruction"
        return found[-1]

    def arg_defaults(self) -> dict[str, str]:
        defaults = {}
        for instruction in self.all("ARG"):
            key, _, value = instruction.value.partition("=")
            defaults[key] = value
        return defaults

    def expand(self, text: str) -> str:
        defaults = self.arg_defaults()
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), m.group(0)), text)

    def env(self) -> dict[str, str]:
        values = {}
        for instruction in self.all("ENV"):
            for item in shlex.split(instruction.value):
                key, _, value = item.partition("=")
                values[key] = value
        return values

    def run_text(self) -> str:
        return "\n".join(i.value for i in self.all("RUN"))

    def command(self) -> list[str]:
        """What the container runs: ENTRYPOINT followed by CMD."""
        return self.last("ENTRYPOINT").exec_form() + self.last("CMD").exec_form()


def _segment_regex(segment: str) -> str:
    """Go's filepath.Match for one path segment: `*`, `?` and `[...]` never cross a `/`."""
    out, index = "", 0
    while index < len(segment):
        ch = segment[index]
        closing = segment.find("]", index + 1)
        if ch == "[" and closing != -1:
            body = segment[index + 1 : closing]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            index = closing + 1
            continue
        out += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
        index += 1
    return out


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore rule: anchored at the context root, `**` spans any number of folders."""
    segments = pattern.strip("/").split("/")
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _segment_regex(segment) + ("" if last else "/")
    return re.compile(regex)


def dockerignored(relative: str) -> bool:
    """Whether the build context leaves `relative` out (a folder's exclusion covers what is inside it)."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern_regex(line.lstrip("!"))))
    segments = relative.strip("/").split("/")
    candidates = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    excluded = False
    for negated, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def cli_options(app: typer.Typer, subcommand: str) -> set[str]:
    """Every option spelling a typer subcommand accepts."""
    group = typer.main.get_command(app)
    command = getattr(group, "commands", {}).get(subcommand)
    assert command is not None, f"{group.name} has no subcommand {subcommand!r}"
    options: set[str] = set()
    for param in command.params:
        options.update(param.opts)
        options.update(param.secondary_opts)
    return options


def flags(argv: list[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in argv if arg.startswith("--")]


def option_value(argv: list[str], name: str) -> str:
    for index, arg in enumerate(argv):
        if arg == name:
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


def git_ignored(path: Path) -> bool:
    result = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", str(path)], cwd=REPO, capture_output=True, check=False
    )
    return result.returncode == 0


def kustomization_resources(folder: Path) -> list[dict]:
    """Every document of the files a kustomization lists under `resources`, as written (no generators run)."""
    listed = load_yaml(folder / "kustomization.yaml")["resources"]
    return [doc for name in listed for doc in load_yaml_documents(folder / name)]


def env_file_keys(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: line {raw!r} is not KEY=VALUE"
            values[key.strip()] = value.strip()
    return values
