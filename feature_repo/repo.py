"""The repo's objects for the Feast CLI (`feast -c feature_repo plan`), from the current settings."""

from autovalue.settings import get_settings
from feature_repo.definitions import build_definitions

_objects = build_definitions(get_settings())
globals().update({obj.name: obj for group in _objects.values() for obj in group})
