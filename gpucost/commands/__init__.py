"""Subcommands of `gpucost`: each module registers its parser and handler.

A handler is ``run(settings, args)``; it raises GpucostError for failures the user can act on.
"""

from gpucost.commands import build, collect, demo, placement, query, recommend, report, serve, doctor, exporter
from gpucost.commands import collector_loop, import_trace

COMMANDS = (demo, collect, import_trace, build, query, placement, recommend, serve, report, doctor, exporter,
            collector_loop)
