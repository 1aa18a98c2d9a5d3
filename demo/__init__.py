"""The demo (README's first command): `python3 -m nox -s demo` runs demo/run.py."""
