"""Loading volume images with nibabel, checked to be volumes.

:func:`load_volume` is ``nibabel.load`` for a file a user named: what nibabel raises for a
missing, empty, misnamed or damaged file (``FileNotFoundError``, ``ImageFileError``,
``HeaderDataError``, ``EOFError``, ...) becomes a :class:`~roixr.errors.RoixrError` that
names the file, says what is wrong with it (as far as its first bytes tell) and how to fix it.
"""

from __future__ import annotations

import difflib
import gzip
import os
import zlib
from pathlib import Path

import nibabel as nib
from nibabel.nifti1 import Nifti1Header
from nibabel.spatialimages import SpatialImage

from roixr.errors import BoldError, RoixrError, SubjectFileNotFoundError

__all__ = ["GZIP_MAGIC", "describe_bytes", "load_volume"]

GZIP_MAGIC = b"\x1f\x8b"
_NIFTI_SIZES = {348, 540}  # sizeof_hdr of NIfTI-1 (and Analyze) and NIfTI-2 headers
_SIGNATURES = {
    b"\x89PNG": "a PNG picture",
    b"\xff\xd8\xff": "a JPEG picture",
    b"GIF8": "a GIF picture",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "a bzip2 file",
    b"\x28\xb5\x2f\xfd": "a zstandard file",
    b"\x89HDF": "an HDF5 file",
    b"DICM": "a DICOM file",
    GZIP_MAGIC: "a gzipped file",
}


def describe_bytes(head: bytes) -> str:
    """What the first bytes of a file look like, in words ("a PNG picture", "text", ...)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "a DICOM file"
    for magic, what in _SIGNATURES.items():
        if head.startswith(magic):
            return what
    if len(head) >= 4 and {int.from_bytes(head[:4], e) for e in ("little", "big")} & _NIFTI_SIZES:
        return "an uncompressed NIfTI or Analyze header"
    if head.lstrip().startswith((b"<?xml", b"<")):
        return "XML or HTML text"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unrecognised bytes ({head[:8].hex(' ')} ...)"
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        return f"text ({text[:30].strip()!r}...)"
    return f"unrecognised bytes ({head[:8].hex(' ')} ...)"


def _gunzipped_head(path: str, size: int = 600) -> bytes | None:
    """The first decompressed bytes of a gzipped file, or None if they cannot be read."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read(size)
    except (OSError, EOFError, zlib.error):
        return None


def _missing(path: str, what: str) -> RoixrError:
    """The error for a path that does not exist: the nearest names in its folder."""
    p = Path(path)
    if p.is_symlink():
        return SubjectFileNotFoundError(
            f"{what} {path} is a symbolic link to {os.readlink(p)}, which does not exist. "
            "Point the link at the file, or give the file's own path."
        )
    folder = p.parent
    if not folder.is_dir():
        tilde = " (~ is expanded by a shell, not in a Python string)" if "~" in path else ""
        return SubjectFileNotFoundError(
            f"{what} {path} does not exist: its folder {folder} does not exist either{tilde}. "
            "Check the path (a typo, or a path relative to another working directory?)."
        )
    try:
        names = [e.name for e in folder.iterdir()]
    except OSError:
        names = []
    near = difflib.get_close_matches(p.name, names, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    return SubjectFileNotFoundError(
        f"{what} {path} does not exist.{hint} Check the path (a typo, or a path relative to "
        "another working directory?)."
    )


def _precheck(path: str, what: str, error: type[RoixrError]) -> None:
    """Refuse, before nibabel reads it, what the file's name and first bytes show is not
    an image: missing, a folder, empty, or a gzip name on plain bytes (or the reverse)."""
    if not os.path.lexists(path):
        raise _missing(path, what)
    if os.path.isdir(path):
        images = sorted(p.name for p in Path(path).glob("*.nii*"))[:3]
        inside = f" (it holds {', '.join(images)}, ...)" if images else ""
        raise error(f"{what} {path} is a folder, not an image file{inside}. Give the path of "
                    "the image file itself.")  # fmt: skip
    if not os.path.exists(path):
        raise _missing(path, what)
    lower = path.lower()
    for data, header in ((".img", ".hdr"), (".img.gz", ".hdr.gz")):
        pair = path[: -len(data)] + header
        if lower.endswith(data) and not os.path.exists(pair):
            raise SubjectFileNotFoundError(
                f"{what} {path} is the data half of an Analyze or NIfTI pair, whose header "
                f"{pair} does not exist. Copy the .hdr file beside it, or give a .nii or "
                ".nii.gz image."
            )
    try:
        with open(path, "rb") as f:
            head = f.read(600)
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror or err}. Check the file's "
                    "permissions.") from None  # fmt: skip
    if not head:
        raise error(f"{what} {path} is empty (0 bytes): it was not written completely. "
                    "Write or copy it again.")  # fmt: skip
    gzipped = head.startswith(GZIP_MAGIC)
    if lower.endswith(".gz") and not gzipped:
        kind = describe_bytes(head)
        if kind.startswith("an uncompressed NIfTI"):
            raise error(
                f"{what} {path} is named .gz but is not gzipped: it holds {kind}. Rename it "
                f"to {Path(path).name[:-3]!r}, or compress it (gzip {Path(path).name[:-3]})."
            )
        raise error(f"{what} {path} is named .gz but is not gzipped: it holds {kind}, not a "
                    "NIfTI image. Give the image file (.nii or .nii.gz) instead.")  # fmt: skip
    if gzipped and lower.endswith((".nii", ".img", ".hdr", ".mgh")):
        raise error(
            f"{what} {path} is gzipped but its name does not end in .gz; nibabel reads it "
            f"only by that name. Rename it to {Path(path).name + '.gz'!r}."
        )


def _unreadable(path: str, what: str, err: Exception, error: type[RoixrError]) -> RoixrError:
    """The error for a file nibabel could not read, from what its first bytes look like."""
    with open(path, "rb") as f:
        head = f.read(600)
    kind = describe_bytes(head)
    if head.startswith(GZIP_MAGIC):
        inner = _gunzipped_head(path)
        if inner is None:
            return error(f"{what} {path} is a damaged or truncated gzipped file ({err}). "
                         "Write or copy it again (`gzip -t` tests it).")  # fmt: skip
        if not inner:
            return error(f"{what} {path} is a gzipped empty file: it was not written "
                         "completely. Write or copy it again.")  # fmt: skip
        kind = describe_bytes(inner).replace("an uncompressed NIfTI", "a NIfTI") + ", gzipped"
    detail = str(err) or type(err).__name__
    if "Cannot work out file type" in detail or "is not a gzip file" in detail:
        return error(
            f"{what} {path} is not an image nibabel reads (NIfTI-1 or 2, Analyze, MGH/MGZ, "
            f"...): it holds {kind}. Give a NIfTI image (.nii or .nii.gz)."
        )
    return error(
        f"{what} {path} has a damaged or malformed header ({type(err).__name__}: {detail}); "
        f"it holds {kind}. Write the image again, or check it with nibabel.load."
    )


def load_volume(
    path: str | os.PathLike,
    *,
    what: str = "the image",
    error: type[RoixrError] = BoldError,
) -> SpatialImage:
    """``nibabel.load`` for volume images (NIfTI, MGH, ...): the header is read, the data
    stays on disk.

    Parameters
    ----------
    path : path-like
        The image file.
    what : str, default "the image"
        The image's role, to start messages with ("the bold image", "the label image").
    error : RoixrError subclass, default BoldError
        The class raised for a file that cannot be read as a volume.

    Raises
    ------
    SubjectFileNotFoundError
        If the file (or the other half of an Analyze ``.hdr``/``.img`` pair) does not exist;
        the message names the nearest names in its folder.
    RoixrError
        ``error``: a folder, an empty file, a gzip name on plain bytes (or the reverse), a
        file nibabel cannot read (with what the file holds: text, a PNG, ...), a damaged
        header, an image that is not a volume (GIfTI, CIFTI).
    """
    name = os.fspath(path)
    _precheck(name, what, error)
    try:
        img = nib.load(name)
    except FileNotFoundError as err:
        missing = err.filename or "a file it needs"
        raise SubjectFileNotFoundError(
            f"{what} {name} needs {missing}, which does not exist: an Analyze or NIfTI pair "
            "keeps its header (.hdr) and its data (.img) in two files. Copy both, or convert "
            "the pair to one .nii.gz."
        ) from None
    except Exception as err:  # a malformed file: ImageFileError, HeaderDataError, EOFError...
        raise _unreadable(name, what, err, error) from None
    if not isinstance(img, SpatialImage):
        raise error(f"{what} {name} is a {type(img).__name__}, not a volume image (a "
                    "surface or grayordinate file). Give a NIfTI volume.")  # fmt: skip
    header = img.header
    offset = getattr(img.dataobj, "offset", None)
    if isinstance(header, Nifti1Header) and header.is_single and offset is not None:
        if int(offset) < header.single_vox_offset:  # nibabel would read the header as data
            raise error(
                f"{what} {name} has vox_offset {int(offset)}, inside its own header: the data "
                f"of a single-file NIfTI start at byte {header.single_vox_offset} or later. "
                "The header is damaged; write the image again (if its data do start at "
                f"byte {header.single_vox_offset}, set header['vox_offset'] = "
                f"{header.single_vox_offset} with nibabel)."
            )
    for role in ("header", "image"):  # not SPM's optional .mat of an Analyze pair
        other = getattr(getattr(img, "file_map", {}).get(role), "filename", None)
        if other is not None and not os.path.exists(other):
            raise SubjectFileNotFoundError(
                f"{what} {name} needs {other}, which does not exist: an Analyze or NIfTI pair "
                "keeps its header (.hdr) and its data (.img) in two files. Copy both, or "
                "convert the pair to one .nii.gz."
            )
    return img
