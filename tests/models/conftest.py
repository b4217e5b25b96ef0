"""Makes the shared checks of this folder importable as ``import model_checks`` (the suite runs with
``--import-mode=importlib``, which does not put test folders on ``sys.path``)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
