"""The `gridcounter` command: Django's management commands, plus ours (quote runs without Django)."""
import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "quote":
        # Rating needs no database and no server: skip Django's start-up entirely.
        from gridcounter.interfaces.cli.quote import main as quote_main

        sys.exit(quote_main(argv[2:]))
    if len(argv) > 1 and "-" in argv[1] and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")  # `gridcounter import-registry` runs the import_registry command
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcounter.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["gridcounter", *argv[1:]])


if __name__ == "__main__":
    main()
