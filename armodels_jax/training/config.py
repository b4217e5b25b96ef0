"""The experiment config, under its older name: everything is `armodels_jax.config` (which imports only
``ml_collections``)."""

from armodels_jax.config import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
from armodels_jax.config import __all__  # noqa: F401
from armodels_jax.config import _tuplify  # noqa: F401  pylint: disable=unused-import
