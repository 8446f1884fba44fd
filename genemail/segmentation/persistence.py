"""Save and load a fitted segmenter with skops, trusting an explicit, reviewed list of types.

The file is a skops zip holding a small envelope ``{"format", "format_version", "genemail_version",
"model"}``: the format version is checked on load (as skops checks its own protocol), so an old
GenEmail refuses a file written by a newer, incompatible one with a clear message.

Loading never uses a blanket trust. :data:`TRUSTED_TYPES` names every type outside skops' default
trust that a GenEmail segmenter contains; a file carrying anything else is refused with an
:class:`~genemail.errors.ArtifactError`. Note that trusting ``TreePredictor`` means trusting the
file's *source* (skops explains why): load segmenters only from your own artifacts or a Hub
revision you pinned.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError

if TYPE_CHECKING:
    from genemail.segmentation.model import HierarchicalSegmenter

FORMAT = "genemail.segmenter"
FORMAT_VERSION = 1
FILENAME = "segmenter.skops"

# Reviewed types a segmenter file may contain beyond skops' defaults (output of get_untrusted_types
# on a freshly saved segmenter). Add to this list only after reviewing a new type's state.
TRUSTED_TYPES: tuple[str, ...] = (
    "genemail.segmentation.model.HierarchicalSegmenter",
    "genemail.segmentation.rules.ValueTiers",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def _skops_io():  # noqa: ANN202 - the skops.io module
    """``skops.io``, imported without importing torch when torch is not loaded yet.

    Importing skops.io lists every scikit-learn estimator, and that walk imports scikit-learn's
    array-API shim for torch, which imports torch: about 40% of the import, and a segmenter never
    needs torch. While skops is imported, ``torch`` is made unimportable (``sys.modules`` entry None);
    the shim's ImportError is ignored by the walk, and the entry is removed again right after, so a
    later ``import torch`` works as usual. A process that already has torch is left alone.
    """
    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io as sio

        return sio
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import skops.io as sio
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return sio


def save_segmenter(model: "HierarchicalSegmenter", path: str | Path) -> Path:
    """Write ``model`` to ``path`` (a file, or a directory that gets ``segmenter.skops``); return the file."""
    from genemail import __version__

    sio = _skops_io()

    if not hasattr(model, "l2_models_"):
        raise ArtifactError("the segmenter is not fitted", where=str(path), fix="call fit(customers) before saving")
    target = Path(path)
    if target.is_dir() or target.suffix == "":
        target = target / FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    envelope = {"format": FORMAT, "format_version": FORMAT_VERSION, "genemail_version": __version__, "model": model}
    sio.dump(envelope, target)
    return target


def _resolve(path: str | Path) -> Path:
    target = Path(path)
    if target.is_dir():
        target = target / FILENAME
    if not target.is_file():
        raise ArtifactError(
            "no saved segmenter found",
            where=str(target),
            fix="train one with `python -m training.train_segmenter --out DIR` and pass that DIR",
        )
    return target


def untrusted_types(path: str | Path) -> list[str]:
    """Types in the file outside skops' defaults and :data:`TRUSTED_TYPES` (empty for a clean file)."""
    sio = _skops_io()
    target = _resolve(path)
    try:
        found = sio.get_untrusted_types(file=target)
    except Exception as exc:  # zipfile.BadZipFile, JSON errors: any unreadable file
        raise ArtifactError(f"not a readable skops file ({exc})", where=str(target), fix="re-train or re-download it")
    return [name for name in found if name not in TRUSTED_TYPES]


def load_segmenter(path: str | Path) -> "HierarchicalSegmenter":
    """Load a segmenter saved by :func:`save_segmenter` from a file or its directory."""
    sio = _skops_io()
    target = _resolve(path)
    try:
        # One pass: skops refuses any type outside the list, and only then is the file audited for the message.
        envelope = sio.load(target, trusted=list(TRUSTED_TYPES))
    except TypeError as exc:  # skops' UntrustedTypesFoundException subclasses TypeError
        unexpected = untrusted_types(target)
        if unexpected:
            raise ArtifactError(
                f"the file contains types GenEmail does not trust: {unexpected}",
                where=str(target),
                fix="only load segmenters you trained or pulled from a pinned release; never widen the trust list "
                "to make an unknown file load",
            ) from None
        raise ArtifactError(f"skops refused the file: {exc}", where=str(target), fix="re-train the segmenter") from None
    except Exception as exc:  # zipfile.BadZipFile, JSON errors: any unreadable file
        raise ArtifactError(f"not a readable skops file ({exc})", where=str(target),
                            fix="re-train or re-download it") from None
    return _unwrap(envelope, target)


def _unwrap(envelope: Any, target: Path) -> "HierarchicalSegmenter":
    """Check the envelope's format and version and return the model."""
    from genemail.segmentation.model import HierarchicalSegmenter

    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise ArtifactError(
            "not a GenEmail segmenter file (format marker missing)",
            where=str(target),
            fix="save segmenters with genemail.segmentation.save_segmenter",
        )
    version = envelope.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"segmenter format version {version!r}, this GenEmail reads version {FORMAT_VERSION}",
            where=str(target),
            fix="re-train the segmenter with this GenEmail version, or install the GenEmail that wrote it "
            f"({envelope.get('genemail_version', 'unknown')})",
        )
    model = envelope.get("model")
    if not isinstance(model, HierarchicalSegmenter):
        raise ArtifactError("the file holds no HierarchicalSegmenter", where=str(target), fix="re-train it")
    return model
