"""The embedded store: one SQLite file, shared by every worker process on the host.

Concurrency: a transaction runs on the event loop's own thread when it can finish at once:
that connection never waits for a lock (busy timeout 0), never checkpoints and, in WAL mode
with ``synchronous = NORMAL``, never syncs the disk, so it costs tens of microseconds
instead of two thread switches. When another connection holds the write lock, and for
purges and large results, the transaction runs instead on a second connection in the
store's own thread, which waits up to the busy timeout; so the event loop never blocks.
That thread also checkpoints the WAL every :data:`CHECKPOINT_EVERY` loop transactions,
and the loop's transactions wait for it (on the loop, not the thread) before going on.
Across processes, WAL mode and ``BEGIN IMMEDIATE`` transactions do it. Time is
``time.time()``, read after the write lock is taken, so a host's processes share one clock.

Every SQLite or file-system error becomes :class:`StoreUnavailable` in :meth:`_call`, and
only there; a failed transaction is rolled back, so the file is never left half-changed.

At rest: a directory the store creates is ``0700`` and the file ``0600`` (SQLite gives its
``-wal`` and ``-shm`` files the database's mode). A file someone else could have planted is
refused at first use (:func:`_make_private_file`): the file's directory must be this user's,
not a symbolic link and not writable by group or others; the file, its ``-wal`` and ``-shm``
must be this user's regular files, not symbolic links; a file of this user's that others may
read is made ``0600``. The file's identity is taken when it is checked and compared once SQLite
has opened and read it, so a file swapped in between is noticed. Before each transaction a
connection compares the path's device and inode with those of the file it opened: a file deleted or
replaced while in use is reported (logged at ERROR, that attempt fails with
:class:`StoreUnavailable`) and the path is opened again, so that every worker on the host
writes to the one file there, never to a deleted inode of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from temporal_lambda._closing import AsyncClosing
from temporal_lambda._errors import StoreUnavailable
from temporal_lambda.idempotency._base import (
    COMPLETED,
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_PURGE_INTERVAL_SECONDS,
    DEFAULT_TTL_SECONDS,
    IN_PROGRESS,
    BeginOutcome,
    refuse_oversized,
    validate_lease,
    validate_settings,
)

_T = TypeVar("_T")
_FileId = tuple[int, int]
_log = logging.getLogger(__name__)

TABLE = "idempotency_records"
"""The table every SQLite store uses."""
SCHEMA_VERSION = 1
"""Kept in ``PRAGMA user_version``."""

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        key          TEXT PRIMARY KEY,
        status       TEXT NOT NULL CHECK (status IN ('{IN_PROGRESS}', '{COMPLETED}')),
        fingerprint  TEXT NOT NULL,
        owner        TEXT,
        lease_until  REAL,
        expires_at   REAL NOT NULL,
        result       BLOB,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_expires_at ON {TABLE} (expires_at)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
INLINE_MAX_RESULT_BYTES = 64 * 1024
"""Larger results are written on the store's thread, not the event loop's."""
CHECKPOINT_EVERY = 256
"""Checkpoint the WAL (on the store's thread) after this many transactions on the loop's."""

FILE_MODE = 0o600
"""The mode of the database file (and so of its ``-wal`` and ``-shm`` files)."""
DIRECTORY_MODE = 0o700
"""The mode of each directory the store creates for its file."""

_PRAGMA_NAME = re.compile(r"^[a-z_]+$")
_PRAGMA_VALUE = re.compile(r"^-?[0-9]+$|^[A-Za-z_]+$")


class SQLiteIdempotencyStore(AsyncClosing):
    """Idempotency records in a local SQLite file (the default store).

    Safe for many concurrent activities in one worker and for several worker processes
    sharing the file on one host (not over a network file system).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        busy_timeout_seconds: float = 5.0,
        purge_interval_seconds: float | None = DEFAULT_PURGE_INTERVAL_SECONDS,
        pragmas: Mapping[str, int | str] | None = None,
    ) -> None:
        """Create the store; the file, its directory and the table are made on first use.

        Args:
            path: The database file, e.g. :func:`default_store_path`.
            ttl_seconds: How long a record is kept after it was claimed or completed.
            max_result_bytes: The largest result :meth:`complete` stores.
            busy_timeout_seconds: How long to wait for another process's write lock
                before giving up with :class:`StoreUnavailable`.
            purge_interval_seconds: ``begin`` also deletes expired records at most this
                often; ``None``: only :meth:`purge_expired` does.
            pragmas: Extra ``PRAGMA name = value`` settings for the connection, applied
                after the store's own (e.g. ``{"cache_size": -8000}``).

        Raises:
            ValueError: A setting is out of range, or a pragma is not a plain name/value.
        """
        validate_settings(ttl_seconds, max_result_bytes)
        if busy_timeout_seconds < 0:
            raise ValueError(f"busy_timeout_seconds must not be negative: {busy_timeout_seconds}")
        extra = dict(pragmas or {})
        for name, value in extra.items():
            if not _PRAGMA_NAME.match(name) or not _PRAGMA_VALUE.match(str(value)):
                raise ValueError(f"unsupported pragma {name!r} = {value!r}")
        self._path = Path(path)
        self._ttl = float(ttl_seconds)
        self._max_result_bytes = max_result_bytes
        self._busy_timeout = float(busy_timeout_seconds)
        self._purge_interval = purge_interval_seconds
        self._pragmas = extra
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tl-idempotency")
        self._closed = False
        self._next_purge = 0.0
        # Touched only on the executor's thread:
        self._conn: sqlite3.Connection | None = None
        # Set there once the file, its WAL mode and the table are in place:
        self._ready = False
        # Touched only on the thread that opened it (the event loop's):
        self._loop_conn: sqlite3.Connection | None = None
        self._loop_thread: int | None = None
        # The (st_dev, st_ino) of the file each connection opened, and of the last file
        # reported as deleted or replaced (the other connection then reopens quietly):
        self._loop_file: _FileId | None = None
        self._thread_file: _FileId | None = None
        self._reported_file: _FileId | None = None
        self._since_checkpoint = 0
        self._checkpoint_done: asyncio.Future[None] | None = None

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def begin(
        self, key: str, fingerprint: str, *, lease_seconds: float, owner: str
    ) -> BeginOutcome:
        """Claim ``key`` for one attempt, or report why not (see :class:`IdempotencyStore`).

        Args:
            key: The idempotency key.
            fingerprint: The request's fingerprint.
            lease_seconds: How long the claim holds.
            owner: Who claims it.

        Returns:
            The outcome.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        validate_lease(lease_seconds)
        if self._purge_interval is not None and time.monotonic() >= self._next_purge:
            # Before the claim, not after: a cancelled wait here leaves nothing claimed.
            self._next_purge = time.monotonic() + self._purge_interval
            await self._run(self._purge_quietly, inline=False)
        return await self._run(
            lambda conn: self._transaction(
                conn, lambda now: self._begin(conn, now, key, fingerprint, lease_seconds, owner)
            )
        )

    async def complete(self, key: str, owner: str, result: bytes) -> None:
        """Store the result of the call holding ``key`` (see :class:`IdempotencyStore`).

        Args:
            key: The idempotency key.
            owner: Who ran the call.
            result: The result document.

        Raises:
            ResultTooLarge: ``result`` is over ``max_result_bytes``; ``owner``'s record was
                released and nothing stored.
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        await refuse_oversized(self, key, owner, result, self._max_result_bytes)

        def update(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                f"UPDATE {TABLE} SET status = ?, result = ?, owner = ?, lease_until = NULL,"
                " expires_at = ?, updated_at = ?"
                " WHERE key = ? AND status = ? AND expires_at > ?",
                (COMPLETED, result, owner, now + self._ttl, now, key, IN_PROGRESS, now),
            )

        await self._run(
            lambda conn: self._transaction(conn, lambda now: update(conn, now)),
            inline=len(result) <= INLINE_MAX_RESULT_BYTES,
        )

    async def release(self, key: str, owner: str) -> None:
        """Delete ``owner``'s in-progress record for ``key``, if there is one.

        Args:
            key: The idempotency key.
            owner: Who claimed it.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """

        def delete(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                f"DELETE FROM {TABLE} WHERE key = ? AND owner = ? AND status = ?",
                (key, owner, IN_PROGRESS),
            )

        await self._run(lambda conn: self._transaction(conn, lambda now: delete(conn, now)))

    async def purge_expired(self) -> int:
        """Delete every record past its expiry.

        Returns:
            How many records were deleted.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        return await self._run(
            lambda conn: self._transaction(conn, lambda now: _purge(conn, now)), inline=False
        )

    async def aclose(self) -> None:
        """Close the connections and stop the store's thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        # Closed first, so that the last connection to close (whose close checkpoints the
        # WAL, syncing the disk) is the thread's.
        if self._loop_conn is not None and self._loop_thread == threading.get_ident():
            self._loop_conn.close()
        self._loop_conn = None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)

    async def _run(self, body: Callable[[sqlite3.Connection], _T], *, inline: bool = True) -> _T:
        """Run ``body`` in one go on the loop's connection if it can, else on the thread's.

        Args:
            body: What to do; it runs its own transaction(s).
            inline: ``False`` for work that may take long (purges, large results).
        """
        self._refuse_if_closed()
        if inline and self._ready and self._loop_thread in (None, threading.get_ident()):
            while self._checkpoint_done is not None:
                # The checkpoint holds the write lock. Wait for it here, then go on inline:
                # sent to the thread instead, transactions queue behind it there, and then
                # hold the lock while the loop's next ones arrive, which find it busy and
                # follow them (most of them, under load: see benchmarks/README.md).
                await asyncio.wait((self._checkpoint_done,))
                self._refuse_if_closed()  # closed meanwhile: never reopen the connection
            try:
                result = self._call(body, self._loop_connection, True)
            except _LockBusy:
                pass  # another connection is writing: wait for it on the store's thread
            else:
                self._checkpoint_now_and_then()
                return result
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, body, self._connect, False)

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise RuntimeError("the idempotency store is closed")

    def _call(
        self,
        body: Callable[[sqlite3.Connection], _T],
        connect: Callable[[], sqlite3.Connection],
        on_loop: bool,
    ) -> _T:
        """Run ``body`` on a connection; the one place store errors are translated.

        On the loop's connection (which never waits), a busy lock raises :class:`_LockBusy`
        instead, with the transaction rolled back, so that the caller tries again on the
        thread's.
        """
        try:
            conn = self._checked(connect(), connect, on_loop)
            return body(conn)
        except (sqlite3.Error, OSError) as exc:
            if on_loop and _is_busy(exc):
                raise _LockBusy from exc
            name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
            raise StoreUnavailable(
                f"the SQLite idempotency store at {self._path} is unavailable: {exc} ({name})"
            ) from exc

    def _checked(
        self,
        conn: sqlite3.Connection,
        connect: Callable[[], sqlite3.Connection],
        on_loop: bool,
    ) -> sqlite3.Connection:
        """Return ``conn`` if the path still names the file it opened, else reopen or report.

        One ``stat`` per transaction (a microsecond or two). The first connection to find
        the file gone or replaced closes itself, logs at ERROR and raises; the other, on
        finding the same, reopens quietly.

        Raises:
            StoreUnavailable: This connection's file was deleted or replaced.
        """
        opened = self._loop_file if on_loop else self._thread_file
        current = _file_id(self._path)
        if current == opened:
            return conn
        if on_loop:
            self._loop_conn, self._loop_file = None, None
            conn.close()
        else:
            self._disconnect()
        if opened == self._reported_file:
            if on_loop and not self._ready:
                raise _LockBusy  # the thread recreates the file; wait for it there
            return self._checked(connect(), connect, on_loop)
        self._reported_file = opened
        self._ready = False  # the thread's connection recreates the file and its table
        what = "deleted" if current is None else "replaced by another file"
        message = (
            f"the SQLite idempotency store at {self._path} was {what} while in use; "
            "records written since are not in the file other workers use. Opening the "
            "path again for the next attempt"
        )
        _log.error("%s", message)
        raise StoreUnavailable(message)

    def _apply_settings(self, conn: sqlite3.Connection) -> None:
        """Apply what both connections share: ``synchronous = NORMAL``, then ``pragmas``."""
        conn.execute("PRAGMA synchronous = NORMAL")
        for name, value in self._pragmas.items():
            conn.execute(f"PRAGMA {name} = {value}")

    # -- on the event loop's thread -----------------------------------------------------

    def _loop_connection(self) -> sqlite3.Connection:
        """Return the loop's connection, opening it the first time."""
        conn = self._loop_conn
        if conn is None:
            before = _file_id(self._path)
            conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout = 0")
                self._opened(conn, before)
                conn.execute("PRAGMA wal_autocheckpoint = 0")  # the thread checkpoints
                self._apply_settings(conn)
            except BaseException:
                conn.close()
                raise
            self._loop_conn, self._loop_thread = conn, threading.get_ident()
            self._loop_file = before
        return conn

    def _checkpoint_now_and_then(self) -> None:
        """Count a finished loop transaction; after :data:`CHECKPOINT_EVERY`, checkpoint.

        Started between transactions, the checkpoint never finds the loop's holding the lock.
        """
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY and self._checkpoint_done is None:
            self._since_checkpoint = 0
            done = asyncio.wrap_future(self._executor.submit(self._checkpoint))
            done.add_done_callback(self._checkpointed)
            self._checkpoint_done = done

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        """Let the loop's transactions run again (:meth:`_checkpoint` logs its own errors)."""
        self._checkpoint_done = None
        if not done.cancelled() and done.exception() is not None:
            _log.warning("the idempotency store's WAL checkpoint failed: %r", done.exception())

    # -- on the executor thread ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        checked = _make_private_file(self._path)
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=True
        )
        try:
            self._opened(conn, checked)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            self._use_wal(conn)
            self._apply_settings(conn)
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:

                def create(now: float) -> None:
                    for statement in _SCHEMA:
                        conn.execute(statement)

                self._transaction(conn, create)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._thread_file = checked
        self._ready = True
        return conn

    def _opened(self, conn: sqlite3.Connection, before: _FileId | None) -> None:
        """Make sure ``conn`` opened the file that was at the path at ``before``.

        The file's identity is taken before ``sqlite3.connect`` and compared after SQLite
        has read the file (``PRAGMA user_version`` reads its header): equal, the connection
        holds that file; else the path was replaced in between (the fork the per-transaction
        check guards against, at the one moment it cannot see), and the open is refused.

        Raises:
            StoreUnavailable: the path names another file than before the open.
        """
        conn.execute("PRAGMA user_version").fetchone()
        if before is not None and _file_id(self._path) == before:
            return
        raise StoreUnavailable(
            f"the SQLite idempotency store at {self._path} was deleted or replaced while it "
            "was being opened; opening the path again for the next attempt"
        )

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode, waiting out other processes doing the same.

        Changing the journal mode needs the file to itself, and SQLite answers ``SQLITE_BUSY``
        at once rather than calling the busy handler when another connection is in the middle
        of it, so wait here, up to the busy timeout.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)  # on the store's own thread, never the event loop's
            delay = min(delay * 2, 0.1)

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._thread_file = None
            conn.close()

    def _transaction(self, conn: sqlite3.Connection, body: Callable[[float], _T]) -> _T:
        """Run ``body(now)`` in a ``BEGIN IMMEDIATE`` transaction; roll back on any error."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(time.time())  # after the write lock is ours
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    def _begin(
        self,
        conn: sqlite3.Connection,
        now: float,
        key: str,
        fingerprint: str,
        lease_seconds: float,
        owner: str,
    ) -> BeginOutcome:
        row = conn.execute(
            # CAST: a damaged row's TEXT (invalid UTF-8 included) is read as its bytes.
            "SELECT status, fingerprint, lease_until, expires_at, CAST(result AS BLOB)"
            f" FROM {TABLE} WHERE key = ?",
            (key,),
        ).fetchone()
        lease_until = now + lease_seconds
        expires_at = now + max(self._ttl, lease_seconds)
        if row is None or row[3] <= now:
            conn.execute(
                f"INSERT OR REPLACE INTO {TABLE} (key, status, fingerprint, owner, lease_until,"
                " expires_at, result, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (key, IN_PROGRESS, fingerprint, owner, lease_until, expires_at, now, now),
            )
            return BeginOutcome("acquired")
        status, stored_fingerprint, stored_lease_until, _, result = row
        if stored_fingerprint != fingerprint:
            return BeginOutcome("mismatch")
        if status == COMPLETED:
            # A damaged row may hold NULL: the activity reports what it cannot read.
            return BeginOutcome("completed", result=None if result is None else bytes(result))
        if stored_lease_until > now:
            return BeginOutcome("in_progress", retry_after=stored_lease_until - now)
        conn.execute(
            f"UPDATE {TABLE} SET owner = ?, lease_until = ?, expires_at = ?, updated_at = ?"
            " WHERE key = ?",
            (owner, lease_until, expires_at, now, key),
        )
        return BeginOutcome("acquired", taken_over=True)

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file, so that the next writer starts it afresh.

        Meanwhile the loop's transactions wait for it (on the loop), and ``RESTART``
        holds off other processes' writers until it is done: so the WAL is reused from its
        start even under a steady stream of writes, instead of growing.
        """
        try:
            self._connect().execute("PRAGMA wal_checkpoint(RESTART)")
        except (sqlite3.Error, OSError) as exc:
            _log.warning("could not checkpoint the idempotency store's WAL: %s", exc)

    def _purge_quietly(self, conn: sqlite3.Connection) -> None:
        """Delete expired records; a failure here waits for the next time."""
        try:
            purged = self._transaction(conn, lambda now: _purge(conn, now))
        except sqlite3.Error as exc:
            _log.warning("could not purge expired idempotency records: %s", exc)
        else:
            if purged:
                _log.debug("purged %d expired idempotency records", purged)


class _LockBusy(Exception):
    """The loop's connection found the database locked; nothing was changed."""


def _is_busy(exc: BaseException) -> bool:
    """Tell whether ``exc`` is SQLite's ``SQLITE_BUSY`` (any extended code)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _purge(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute(f"DELETE FROM {TABLE} WHERE expires_at <= ?", (now,)).rowcount


def _file_id(path: Path) -> _FileId | None:
    """Return the ``(st_dev, st_ino)`` at ``path`` itself, or ``None`` if nothing is there.

    ``lstat``: a symbolic link put in the file's place is another file, not its target.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _make_private_file(path: Path) -> _FileId:
    """Create ``path`` (``0600``) and its missing directories (``0700``), refusing a planted one.

    Refused (:class:`StoreUnavailable`, naming the path, the owner and the mode): a
    directory of the file that is a symbolic link, is not this user's, or that group or
    others may write to (another user could put their own file there); and a file, or its
    ``-wal`` or ``-shm``, that is a symbolic link, not a regular file or not this user's.
    Tightened: a file of this user's that others may read or write (made by an earlier
    version, or under a loose umask) is made ``0600``, its ``-wal`` and ``-shm`` too.
    Existing directories are never changed.

    Returns:
        The ``(st_dev, st_ino)`` of the file checked (opened without following a link).
    """
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIRECTORY_MODE)
    path.parent.mkdir(exist_ok=True)  # FileExistsError if a file stands in the way
    _check_directory(path, path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(path, "it is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        _check_file(path, path, st)
        if st.st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            companion_st = os.lstat(companion)
        except FileNotFoundError:
            continue
        _check_file(path, companion, companion_st)
        if companion_st.st_mode & 0o077:
            os.chmod(companion, FILE_MODE)
    return st.st_dev, st.st_ino


def _check_directory(path: Path, directory: Path) -> None:
    """Refuse a directory of the store that is a link, another user's, or writable by others."""
    st = os.lstat(directory)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        raise _refused(path, f"its directory {directory} is a symbolic link (give the real one)")
    if st.st_uid != os.getuid():
        raise _refused(
            path,
            f"its directory {directory} is owned by uid {st.st_uid}, not by this process's "
            f"user (uid {os.getuid()})",
        )
    if mode & 0o022:
        raise _refused(
            path,
            f"its directory {directory} is writable by group or others (mode {mode:04o}), so "
            "another user could put their own file there; chmod 700 it",
        )


def _check_file(path: Path, name: Path, st: os.stat_result) -> None:
    """Refuse a store file (or its ``-wal``/``-shm``) that is a link or not this user's."""
    what = "it" if name == path else f"its {name.name}"
    if stat.S_ISLNK(st.st_mode):
        raise _refused(path, f"{what} is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _refused(path, f"{what} is not a regular file")
    if st.st_uid != os.getuid():
        raise _refused(
            path,
            f"{what} is owned by uid {st.st_uid} (mode {stat.S_IMODE(st.st_mode):04o}), "
            f"not by this process's user (uid {os.getuid()})",
        )


def _refused(path: Path, why: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"the SQLite idempotency store at {path} is refused: {why}. Results kept there could "
        "be read or replaced by another user; use a file in a directory of your own "
        "(TEMPORAL_LAMBDA_STATE_DIR, or the store's path)"
    )
