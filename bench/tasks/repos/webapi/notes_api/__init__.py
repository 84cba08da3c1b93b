"""notes-api: a small JSON notes service."""

from notes_api.app import App
from notes_api.http import Request, Response

__all__ = ["App", "Request", "Response"]
