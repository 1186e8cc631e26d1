"""The one exception type users see: its message is a single line, the CLI exits 2 on it."""


class ContactplugError(Exception):
    """Bad input or an impossible request, explained in one line."""
