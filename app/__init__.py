"""The HTTP surface of the job service: ``create_app(settings)``, and ``python -m app``."""

from app.application import create_app
from app.settings import Settings

__all__ = ["Settings", "create_app"]
