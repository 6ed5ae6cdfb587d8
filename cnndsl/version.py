"""The version of cnndsl (one place: the package, the CLI and the wheel read it)."""

__version__ = "0.1.0"
