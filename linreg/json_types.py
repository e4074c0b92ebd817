"""The two loosely typed mappings linreg keeps on purpose, each named for what it is.

- ``JsonObject``: a JSON object at a file's boundary, what a record's ``to_dict`` gives and its
  ``from_dict`` takes (and an ``upgrade`` reshapes). Records are built from it where a file is
  read and never cross a layer as one.
- ``Fingerprint``: a machine's environment as ``linreg.env.capture_environment`` records it. Its
  keys are open-ended on purpose (a GPU box and a laptop record different things, and two
  fingerprints are diffed key by key); readers use ``.get`` with a default.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
Fingerprint = dict[str, Any]
