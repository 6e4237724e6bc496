"""Errors the CLI turns into one clear line and a non-zero exit."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached."""


class SchemaMissing(Exception):
    """The database has no Vividly schema: run `vividly db upgrade` first."""
