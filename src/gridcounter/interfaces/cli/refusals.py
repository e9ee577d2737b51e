"""Commands that refuse in one line: `gridcounter NAME: error: …` on stderr and exit 2, as `gridcounter quote` does.

Django's own argument errors print the usage block and its CommandError adds a class name; a command for staff and
scripts that takes no database (`workdays`, `back-bill`) subclasses `OneLineCommand` and calls `refuse`.
"""
from __future__ import annotations

import sys
from typing import NoReturn

from django.core.management.base import BaseCommand
from django.utils.translation import get_language
from django.utils.translation import gettext as _


class OneLineCommand(BaseCommand):
    requires_system_checks: list = []  # no database, no models: nothing to check

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = self.refuse  # argparse's own errors (a missing or unknown option) are one line too
        return parser

    @property
    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1].replace("_", "-")

    def refuse(self, message: str) -> NoReturn:
        sys.stdout.flush()
        sys.stderr.write(_("gridcounter {command}: error: {message}").format(
            command=self.command_name, message=" ".join(str(message).split())) + "\n")
        sys.exit(2)


def about(option: str, message: str) -> str:
    """A refusal about one option, `--option: message`, punctuated as the user's language is."""
    return _("{option}: {message}").format(option=option, message=message)


def in_chinese() -> bool:
    """Whether the active language is Chinese (to pick a domain text_zh over its text_en)."""
    return (get_language() or "").startswith("zh")
