"""Run the Keap sandbox: `python -m webapp.sandbox serve [--host H] [--port P]` or `... seed`.

Any other arguments go to Django's command line with the sandbox settings, e.g.
`python -m webapp.sandbox migrate` or `python -m webapp.sandbox makemigrations sandbox`.
"""

import os
import sys

ALIASES = {"serve": "serve_sandbox", "seed": "seed_sandbox"}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Forced, not setdefault: a shell that exported Onramp's settings must not leak in here.
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.sandbox.settings"
    from django.core.management import execute_from_command_line

    if argv:
        argv[0] = ALIASES.get(argv[0], argv[0])
    execute_from_command_line(["python -m webapp.sandbox", *argv])


if __name__ == "__main__":
    main()
