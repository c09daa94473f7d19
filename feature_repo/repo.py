"""The repo's objects for the Feast CLI (`autovalue feast-config` prints the command).

Feast changes into this folder before importing this file: without AUTOVALUE_HOME the
settings' home would be this package folder and every FileSource would point inside it.
"""

import os

from autovalue.settings import get_settings
from feature_repo.definitions import build_definitions

if not os.environ.get("AUTOVALUE_HOME"):
    raise RuntimeError("set AUTOVALUE_HOME to the project's home folder for the Feast CLI "
                       "(`autovalue feast-config` prints the whole command)")

_objects = build_definitions(get_settings())
globals().update({obj.name: obj for group in _objects.values() for obj in group})
