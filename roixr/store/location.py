"""Where a store is: a local folder, or an fsspec URL (``s3://``, ``gs://``, ``memory://``)
with its storage options.

Everything roixr asks of a store's place goes through :class:`Location`: whether a key
exists, is a "folder" (a prefix holding objects) or a file, what is under it, removing it,
and the zarr store to read and write it with (:class:`zarr.storage.LocalStore` for a local
folder, :class:`zarr.storage.FsspecStore` for a URL). A local folder is served with
:mod:`pathlib` and :mod:`os` exactly as before URLs were taken; a URL with the fsspec
filesystem of its protocol. A ``Location`` is plain data (the URL and the options), so it
pickles to dask workers, which rebuild their own filesystem from it.

Problems reaching a URL (an unknown protocol, its package not installed, credentials refused,
an endpoint that does not answer) become :class:`~roixr.errors.StoreError` naming the URL and
the fix, when the :class:`Location` is made from a URL (:func:`as_location` probes it once).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roixr.errors import MissingDependencyError, OutputPathError, StoreError

__all__ = ["Location", "StoreLike", "as_location", "check_shared", "is_url", "join"]

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

_CREDENTIALS = {
    "s3": "Pass them in storage_options (key=..., secret=..., and client_kwargs="
    "{'endpoint_url': ...} for a server other than AWS), or set them in the environment as "
    "s3fs reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "AWS_ENDPOINT_URL).",
    "gs": "Pass storage_options={'token': ...} (a service-account JSON file, 'google_default' "
    "or 'anon'), or set GOOGLE_APPLICATION_CREDENTIALS.",
}
_CREDENTIALS.update(s3a=_CREDENTIALS["s3"], gcs=_CREDENTIALS["gs"])


def is_url(store: Any) -> bool:
    """Whether ``store`` is a URL (``protocol://...``) rather than a local path."""
    return isinstance(store, str) and _URL.match(store) is not None


def join(*parts: str | None) -> str:
    """Keys joined with ``/``, empty and None parts left out (``join(None, "a")`` is ``"a"``)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


@dataclass(frozen=True)
class Location:
    """A store's place: a local folder (``path``) or a URL with its storage options.

    ``str(location)`` is how messages name it: the path as given, or the URL.
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    # -- what it is ----------------------------------------------------------------------

    @property
    def local(self) -> bool:
        """A folder on this machine's disk (the rename-based replacement applies)."""
        return self.path is not None

    @property
    def protocol(self) -> str:
        if self.path is not None:
            return "file"
        match = _URL.match(self.url)
        return match.group(1).lower() if match else "file"

    @property
    def name(self) -> str:
        """The store's own name (its last path component)."""
        if self.path is not None:
            return self.path.name
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.url

    # -- the filesystem ------------------------------------------------------------------

    def filesystem(self) -> tuple[Any, str]:
        """The (synchronous) fsspec filesystem and this location's path in it."""
        import fsspec  # type: ignore[import-untyped]

        if self.path is not None:
            return fsspec.filesystem("file"), str(self.path)
        try:
            fs, root = fsspec.url_to_fs(self.url, **dict(self.options))
        except ImportError as err:
            raise MissingDependencyError(
                f"the store {self.url} needs a package that is not installed ({err}).",
                fix=f"Install fsspec's filesystem for {self.protocol}:// (s3fs for s3://, "
                "gcsfs for gs://, adlfs for az://).",
            ) from None
        except (ValueError, TypeError) as err:
            raise StoreError(
                f"the store {self.url} cannot be opened with storage_options "
                f"{_shown(self.options)}: {err}.",
                fix="Give a URL of a protocol fsspec knows (s3://, gs://, az://, memory://) "
                "or a local path, and the options of that protocol's filesystem.",
                option="store",
            ) from None
        return fs, root.rstrip("/")

    def _key(self, key: str = "") -> str:
        _, root = self.filesystem()
        return f"{root}/{join(key)}" if join(key) else root

    def _fs(self) -> Any:
        fs, _ = self.filesystem()
        fs.invalidate_cache()  # zarr writes through its own (async) filesystem: list anew
        return fs

    def _holds(self, fs: Any, full: str) -> bool:
        """Whether objects are stored under the prefix ``full``. Existence on object storage
        is that of objects: an empty "folder" some servers list (SeaweedFS keeps them after
        their objects are deleted; consoles make ``name/`` placeholders) holds nothing."""
        if fs.isfile(f"{full}/zarr.json"):  # a zarr group or array: one request
            return True
        return bool(_files(fs, full))

    def exists(self, key: str = "") -> bool:
        """Whether the key exists (a file, or a folder: a prefix holding objects)."""
        if self.path is not None:
            return (self.path / key).exists() if key else self.path.exists()
        fs, full = self._fs(), self._key(key)
        return bool(fs.isfile(full)) or self._holds(fs, full)

    def isdir(self, key: str = "") -> bool:
        """Whether the key is a folder (a prefix holding objects)."""
        if self.path is not None:
            return (self.path / key).is_dir() if key else self.path.is_dir()
        fs, full = self._fs(), self._key(key)
        return not fs.isfile(full) and self._holds(fs, full)

    def isfile(self, key: str = "") -> bool:
        """Whether the key is a file (one object)."""
        if self.path is not None:
            return (self.path / key).is_file() if key else self.path.is_file()
        return bool(self._fs().isfile(self._key(key)))

    def is_empty(self, key: str = "") -> bool:
        """Whether nothing is stored under the key."""
        if self.path is not None:
            target = self.path / key if key else self.path
            return not target.exists() or (target.is_dir() and not any(target.iterdir()))
        return not self.exists(key)

    def listdir(self, key: str = "") -> list[str]:
        """The names directly under the key (files and folders)."""
        if self.path is not None:
            target = self.path / key if key else self.path
            return sorted(p.name for p in target.iterdir()) if target.is_dir() else []
        fs = self._fs()
        full = self._key(key)
        try:
            names = fs.ls(full, detail=False) if fs.isdir(full) else []
        except FileNotFoundError:  # no such bucket
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in names)

    def count_files(self, key: str = "") -> int:
        """How many files (objects) are under the key, at any depth."""
        if self.path is not None:
            target = self.path / key if key else self.path
            return sum(1 for p in target.rglob("*") if p.is_file())
        fs = self._fs()
        return len(_files(fs, self._key(key)))

    def remove(self, key: str = "") -> None:
        """Remove the key and everything under it (nothing if it does not exist)."""
        if self.path is not None:
            target = self.path / key if key else self.path
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists():
                target.unlink()
            return
        fs = self._fs()
        full = self._key(key)
        files = _files(fs, full)
        if files:
            fs.rm(files)

    def read_bytes(self, key: str) -> bytes | None:
        """The content of the file (object) at ``key``, or None if there is none."""
        if self.path is not None:
            try:
                return (self.path / key).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None
        fs = self._fs()
        try:
            return bytes(fs.cat_file(self._key(key)))
        except (FileNotFoundError, IsADirectoryError):
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write the file (object) at ``key`` whole: readers see the old content or the
        new, never a part (a local file is written beside and renamed over; an object is
        one PUT)."""
        if self.path is not None:
            target = self.path / key
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return
        self._fs().pipe_file(self._key(key), data)

    # -- zarr ----------------------------------------------------------------------------

    def zarr_store(self, *, read_only: bool = False) -> Any:
        """What zarr and xarray open: the folder's path (zarr's ``LocalStore``), or a
        :class:`zarr.storage.FsspecStore` of the URL."""
        if self.path is not None:
            return str(self.path)
        from zarr.storage import FsspecStore

        store = FsspecStore.from_url(self.url, storage_options=dict(self.options),
                                     read_only=read_only)  # fmt: skip
        # fsspec shares a filesystem between equal arguments, listings cached in it: a
        # store's groups are listed anew by each call (cohort_status polled while written)
        store.fs.invalidate_cache()
        return store

    # -- access --------------------------------------------------------------------------

    def probe(self) -> None:
        """Reach the store once, turning a refused or unreachable URL into a StoreError."""
        if self.path is not None:
            return
        fs, root = self.filesystem()
        try:
            fs.invalidate_cache()
            fs.exists(root)
        except TypeError as err:  # an option the filesystem's client does not take
            raise StoreError(
                f"the store {self.url} cannot be opened with storage_options "
                f"{_shown(self.options)}: {err}.",
                fix=f"Pass only options of fsspec's {self.protocol}:// filesystem (for s3fs: "
                "key, secret, token, profile, client_kwargs, config_kwargs).",
                option="storage_options",
            ) from None
        except Exception as err:  # botocore, aiohttp, google-auth: no common base class
            raise access_error(self, err) from None

    def check_writable(self, what: str) -> None:
        """For a URL: the bucket (container) it is in exists. Local folders are checked by
        their callers (their parent folder exists), with their own messages."""
        if self.path is not None:
            return
        fs, root = self.filesystem()
        split = getattr(fs, "split_path", None)
        if split is None:
            return
        bucket = split(root)[0]
        try:
            found = fs.exists(bucket)
        except Exception as err:
            raise access_error(self, err) from None
        if not found:
            raise OutputPathError(
                f"the bucket {bucket!r} of {what} {self.url} does not exist (or these "
                "credentials cannot see it); create it first (roixr does not create buckets)."
            )


StoreLike = str | os.PathLike | Location
"""What the public functions take as ``store``: a local path, a URL, or a Location."""


def _files(fs: Any, full: str) -> list[str]:
    """The objects under a prefix (or the object itself), none where its bucket is missing."""
    try:
        return [p for p in fs.find(full) if not p.endswith("/")]
    except FileNotFoundError:
        return []


def _shown(options: Mapping[str, Any]) -> str:
    """Storage options as messages show them: secrets hidden."""
    hidden = ("secret", "token", "password", "key", "credential", "sas")
    return repr({k: "***" if any(h in k.lower() for h in hidden) else v
                 for k, v in options.items()})  # fmt: skip


def access_error(loc: Location, err: BaseException) -> StoreError:
    """The StoreError for a URL that could not be reached or was refused."""
    text = f"{type(err).__name__}: {err}"
    name = type(err).__name__
    refused = isinstance(err, PermissionError) or "Credential" in name or "AccessDenied" in text
    if refused:
        fix = _CREDENTIALS.get(loc.protocol, "Check the credentials in storage_options.")
        return StoreError(
            f"access to the store {loc.url} was refused ({text}; storage_options "
            f"{_shown(loc.options)}).",
            fix=f"Check the credentials. {fix}",
            option="storage_options",
        )
    return StoreError(
        f"the store {loc.url} could not be reached ({text}; storage_options "
        f"{_shown(loc.options)}).",
        fix="Check the URL and the endpoint (for s3:// on a server other than AWS: "
        "storage_options={'client_kwargs': {'endpoint_url': ...}} or AWS_ENDPOINT_URL), and "
        "that the server answers.",
        option="storage_options",
    )


def as_location(store: Any, storage_options: Mapping[str, Any] | None = None) -> Location:
    """A store's :class:`Location` from what a public function was given.

    Parameters
    ----------
    store : str, path-like or Location
        A local folder, a ``file://`` URL (the same local folder), or an fsspec URL.
    storage_options : dict, optional
        The URL's filesystem options (credentials, endpoint); None for a local folder.

    A URL is probed once here, so refused credentials or an unreachable endpoint are told
    before anything is computed.
    """
    if isinstance(store, Location):
        if storage_options and dict(storage_options) != dict(store.options):
            return Location(store.url, dict(storage_options), store.path)
        return store
    if storage_options is not None and not isinstance(storage_options, Mapping):
        raise StoreError(
            f"storage_options must be a dict of the filesystem's options, got "
            f"{type(storage_options).__name__}.",
            fix="Pass a dict such as {'key': ..., 'secret': ...}, or leave it out.",
            option="storage_options",
        )
    if is_url(store):
        match = _URL.match(store)
        assert match is not None
        if match.group(1).lower() in ("file", "local"):
            if storage_options:
                raise StoreError(
                    f"storage_options {_shown(storage_options)} were given for the local "
                    f"store {store}; a local folder takes none.",
                    fix="Leave storage_options out for a local path.",
                    option="storage_options",
                )
            return Location(str(Path(store[match.end() :])), path=Path(store[match.end() :]))
        loc = Location(store.rstrip("/"), dict(storage_options or {}))
        loc.filesystem()  # an unknown protocol or a missing package, told now
        loc.probe()
        return loc
    if isinstance(store, str | os.PathLike):
        if storage_options:
            raise StoreError(
                f"storage_options {_shown(storage_options)} were given for the local store "
                f"{store}; they are for URLs (s3://, gs://, memory://).",
                fix="Leave storage_options out for a local path, or give the store's URL.",
                option="storage_options",
            )
        path = Path(store)
        return Location(str(path), path=path)
    raise StoreError(
        f"a store is a local path or a URL (s3://bucket/store.zarr), got "
        f"{type(store).__name__} {store!r}.",
        fix="Pass the store's path or URL.",
        option="store",
    )


def check_shared(loc: Location, client: Any, caller: str) -> None:
    """Refuse a ``memory://`` store when the cluster's workers run in other processes (or
    will: ``client`` None starts worker processes): each process has its own memory
    filesystem, so what they wrote would be lost to the caller."""
    if loc.protocol != "memory":
        return
    if client is not None and all(str(a).startswith("inproc://") for a in client.nthreads()):
        return
    raise StoreError(
        f"{caller} was given the store {loc.url}, but its workers run in other processes, "
        "and a memory:// filesystem lives in one process: what they wrote would be lost.",
        fix="Write to a local folder or an object store (s3://, gs://), or pass a client "
        "whose workers run in this process (LocalCluster(processes=False)).",
        option="store",
    )
