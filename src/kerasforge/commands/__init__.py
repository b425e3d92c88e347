"""Subcommands of ``kforge`` beyond the core ones, one module each.

A module here defines ``register(command)``; ``command(name, handler, help_text)`` returns the
subcommand's ``argparse`` parser (already given ``--debug`` and ``--quiet``), and ``handler(args)`` does
the work, raising :class:`kerasforge.errors.KerasforgeError` for anything the user can fix.

Example (``commands/hello.py``)::

    def register(command):
        p = command("hello", lambda args: print("hi", args.name), "say hello")
        p.add_argument("name")
"""
