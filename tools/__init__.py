"""Tools of the repository: not part of the app, never in its image (.dockerignore)."""
