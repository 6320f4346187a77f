"""dockyard: a container image engine compatible with Docker."""

__version__ = "0.1.0"
