"""The one exception type the CLI turns into a one-line message and exit code 1."""


class GpucostError(Exception):
    """A failure the user can act on; its message is one line naming the file, series or row."""
