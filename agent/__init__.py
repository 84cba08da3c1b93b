"""backend-engineer-agent: a task on a git repository becomes a tested branch."""

__version__ = "0.1.0"
