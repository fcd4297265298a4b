"""A command's settings declared once: a dataclass whose fields carry default and help, the CLI built from it.

TRL's `scripts/sft.py` declares each option once (a dataclass `HfArgumentParser` reads) and takes the same
options from a YAML file; LLaMA-Factory users write such files too. We keep typer (the `error:` line, the
help screens, the choices and ranges every other command has) rather than `HfArgumentParser`, which is
argparse: a second parser would print its own usage errors and help, and `--lr-scheduler` would lose its
choice list. What we take from TRL is the shape:

- a settings dataclass is the one declaration: each field's default, help and flag names (`option(...)`);
- `settings_command` turns a command function that takes the settings object into a typer command whose
  options are generated from the fields, so defaults and help are never typed twice;
- `--config FILE.yaml` (`ConfigOpt`): the file's keys give values for any of the command's options,
  and an option given on the command line wins. It fills click's `default_map`, the place click
  looks for a value the command line does not give, so the file's values are checked and converted
  exactly as typed ones are. A key that is no option of the command is an `error:` naming it and the file.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from wechat_twin.errors import UsageError

_CLI = "wechat_twin.cli"


@dataclasses.dataclass(frozen=True)
class _Cli:
    flags: tuple[str, ...]
    argument: bool
    settings: dict[str, Any]  # typer.Option / typer.Argument keywords: help, min, max, show_default...


def option(
    default: Any = dataclasses.MISSING, *flags: str, factory: Callable[[], Any] | None = None, **settings: Any
) -> Any:
    """A settings field that is also a command-line option: `flags` default to `--field-name`, `settings`
    are typer.Option's (help, min, max...). A list or tuple field is a repeatable option; not given, it keeps
    the field's default, which `--help` shows in the help text's wording."""
    metadata = {_CLI: _Cli(flags, False, settings)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def argument(**settings: Any) -> Any:
    """A required settings field given as a positional argument."""
    return dataclasses.field(metadata={_CLI: _Cli((), True, settings)})


def _repeatable(hint: Any) -> type | None:
    """`list` or `tuple` for a field of several values (a repeatable option), else None."""
    origin = typing.get_origin(hint)
    return origin if origin in (list, tuple) else None


def _parameters(settings_type: type) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(settings_type)
    params = []
    for item in dataclasses.fields(settings_type):
        cli = item.metadata.get(_CLI)
        if cli is None:
            continue  # set by code (tests, the demo, the command itself), not from the command line
        info = typer.Argument(**cli.settings) if cli.argument else typer.Option(*cli.flags, **cli.settings)
        hint = hints[item.name]
        default: Any = item.default
        if _repeatable(hint) and not cli.argument:
            # given as a repeated option; not given is None, which stands for the field's own default
            hint, default = list[typing.get_args(hint)[0]] | None, None  # type: ignore[valid-type]
        if default is dataclasses.MISSING:
            default = inspect.Parameter.empty
        params.append(
            inspect.Parameter(
                item.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[hint, info]
            )
        )
    return params


def settings_from(settings_type: type, values: dict[str, Any]) -> Any:
    """The settings object from parsed option values: a repeatable option not given keeps the field's default."""
    hints = typing.get_type_hints(settings_type)
    given = {}
    for item in dataclasses.fields(settings_type):
        if item.name not in values:
            continue
        value, kind = values[item.name], _repeatable(hints[item.name])
        if kind is not None:
            if not value:
                continue
            value = kind(value)
        given[item.name] = value
    return settings_type(**given)


def settings_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function(..., settings: SomeSettings)` as a typer command: the settings' fields become options in its
    place, and `--config` is added. The function's other parameters stay as it declares them."""
    signature = inspect.signature(function, eval_str=True)
    settings_name, settings_type = next(
        (p.name, p.annotation) for p in signature.parameters.values() if dataclasses.is_dataclass(p.annotation)
    )
    fields = {f.name for f in dataclasses.fields(settings_type)}
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name == settings_name:
            params += _parameters(settings_type)
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    params.append(inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOpt))

    @functools.wraps(function)
    def command(**values: Any) -> Any:
        values.pop("config")
        own = {k: v for k, v in values.items() if k not in fields}
        return function(**own, **{settings_name: settings_from(settings_type, values)})

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    del command.__wrapped__  # typer must read the generated signature, not the function's
    return command


def _keys_of(command: Any) -> dict[str, Any]:
    """What a config file may name: each parameter's name, and its long option without the dashes."""
    keys: dict[str, Any] = {}
    for param in command.params:
        if param.name in ("config", "help") or param.name is None:
            continue
        keys[param.name] = param
        for flag in param.opts:
            if flag.startswith("--"):
                keys.setdefault(flag[2:].replace("-", "_"), param)
    return keys


def read_config(path: Path, command: Any) -> dict[str, Any]:
    """The file's values by parameter name, for click's `default_map`."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"--config {path}: not a readable YAML file ({exc})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UsageError(f"--config {path}: write the options as a mapping, one `name: value` a line")
    keys = _keys_of(command)
    values: dict[str, Any] = {}
    for key, value in loaded.items():
        param = keys.get(str(key).replace("-", "_"))
        if param is None:
            raise UsageError(
                f"--config {path}: unknown key {key!r}; this command's keys are "
                f"{', '.join(sorted({str(p.name) for p in keys.values()}))}"
            )
        if param.multiple and not isinstance(value, list):
            value = [value]
        values[str(param.name)] = value
    return values


def _load_config(ctx: typer.Context, value: Path | None) -> Path | None:
    if value is not None:
        ctx.default_map = {**(ctx.default_map or {}), **read_config(value, ctx.command)}
    return value


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML file of this command's options (`learning_rate: 1e-4`, as TRL's and LLaMA-Factory's files); "
        "options given on the command line win",
        is_eager=True,  # read before the other options, so that their values can come from it
        callback=_load_config,
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]
