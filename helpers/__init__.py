"""The helpers the course's notebooks share. Each module's docstring names the lesson that introduces it."""
