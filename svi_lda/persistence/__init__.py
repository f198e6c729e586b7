"""Model files: safe to load from an untrusted source, written atomically.

See :mod:`svi_lda.persistence.model_io` for the folder layout and the guarantees,
:mod:`svi_lda.persistence.manifest` for ``model.json`` and its versions, and
:mod:`svi_lda.persistence.arrays` for the strict reader of the arrays file.
"""

from svi_lda._atomic import atomic_write_bytes
from svi_lda.persistence.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    READABLE_VERSIONS,
    ModelFileError,
    read_manifest,
)
from svi_lda.persistence.model_io import HISTORY_KEYS, load_model, refresh_model, save_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HISTORY_KEYS",
    "MANIFEST",
    "READABLE_VERSIONS",
    "ModelFileError",
    "atomic_write_bytes",
    "load_model",
    "read_manifest",
    "refresh_model",
    "save_model",
]
