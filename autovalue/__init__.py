"""AutoValue core: the contracts every part shares (settings, listing schema, tables, keys).

The core imports no part of the system; every part imports the core.
"""

__version__ = "0.1.0"
