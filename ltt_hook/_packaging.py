"""``packaging``, the one copy this process already has.

Inside pip the hook uses pip's own copy (``pip._vendor.packaging``): pip has already imported
it, so the hook's versions, specifiers and names cost no import (about 12 ms of every pip run
otherwise) and are the very classes of pip's candidates. Everywhere else (``python -m ltt_hook``,
the tests) it is the ``packaging`` distribution that ltt-hook depends on. The choice is made
once, when this module is first imported, so one process never mixes the two.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version
elif "pip._vendor.packaging.version" in sys.modules:
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.specifiers import InvalidSpecifier, SpecifierSet
    from pip._vendor.packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
    from pip._vendor.packaging.version import InvalidVersion, Version
else:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version

#: Which copy this process uses: ``"pip._vendor.packaging"`` or ``"packaging"``.
SOURCE = Version.__module__.rpartition(".")[0]

__all__ = ["SOURCE", "InvalidRequirement", "InvalidSpecifier", "InvalidVersion", "NormalizedName", "Requirement",
           "SpecifierSet", "Version", "canonicalize_name", "parse_wheel_filename"]
