"""The server-rendered review console (Jinja2, plain HTML forms)."""
