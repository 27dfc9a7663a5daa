"""spool: a terminal chat client for the OpenAI Assistants API, and the server it talks to."""

__version__ = "0.1.0"
