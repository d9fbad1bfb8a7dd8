"""The IMDB sentiment pipeline's library: what the DVC stages (stages/) and the commands (cli/) are made of.

Floors, each using only those below it: runtime -> data, tracking -> models -> serving -> cli.
Every __init__.py holds only its docstring, so importing a package runs no code of its own
(a test checks; dvc.yaml lists the modules a stage imports, not these files)."""
