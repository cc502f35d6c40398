"""Walk the ``sealgate`` click command tree, the way ``--help`` sees it.

The top-level group is lazy (``_LazyGroup.list_commands``/``get_command`` import each
subcommand module on demand); nested groups are plain ``click.Group``s. Both are walked
through the same two methods, so what is listed here is exactly what a user can run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import click

from sealgate.cli import cli


@dataclass(frozen=True)
class CommandInfo:
    path: tuple[str, ...]  # ("sealgate", "registry", "approve")
    command: click.Command
    context: click.Context

    @property
    def title(self) -> str:
        return " ".join(self.path)

    @property
    def synopsis(self) -> str:
        """The usage line ``--help`` prints, without ``Usage:``."""
        return " ".join([self.title, *self.command.collect_usage_pieces(self.context)])

    def options(self) -> list[click.Option]:
        """Every option but the help option, which every command has and docs/cli.md describes once."""
        helps = set(self.context.help_option_names)
        return [
            p
            for p in self.command.get_params(self.context)
            if isinstance(p, click.Option) and not helps.intersection(p.opts)
        ]


def walk(
    command: click.Command = cli, path: tuple[str, ...] = ("sealgate",), parent: click.Context | None = None
) -> Iterator[CommandInfo]:
    context = click.Context(command, info_name=path[-1], parent=parent)
    yield CommandInfo(path, command, context)
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
            yield from walk(sub, (*path, name), context)


def long_names(option: click.Option) -> list[str]:
    return [o for o in (*option.opts, *option.secondary_opts) if o.startswith("--")]
