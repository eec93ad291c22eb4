"""A DICOM storage listener for the hospital's router: receive, spool, denoise each complete series with the bundle of
its modality, forward the derived series by C-STORE, and lose nothing when killed.

The spool (``--spool``) is the listener's whole state, on disk:

- ``incoming/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``: every instance received, written to ``tmp/`` first, flushed
  and renamed into place before the C-STORE is acknowledged. A series is complete once no instance of it arrived for
  ``series_timeout`` seconds (by the files' times, so a restart sees the same).
- ``work/<SeriesInstanceUID>/``: a series being denoised (``source/``, its instances, moved out of ``incoming/`` so
  that a late instance starts a new batch) and forwarded (``derived/``). A restart moves ``source/`` back to
  ``incoming/``: killed at any moment, the listener loses no received instance.
- ``forwarded/<SeriesInstanceUID>.json``: written (flushed) once every derived instance was acknowledged by the
  forward destination: the source series' instances and the derived series. Only then are the source instances
  removed. A series killed between the two is not forwarded again; one killed before is forwarded again, with the
  same UIDs (:func:`monai_denoise.derived_dicom.derived_uid`), so the destination stores it once.
- ``rejected/<SeriesInstanceUID>/``: a series no bundle serves or that cannot be denoised, with ``reason.txt``.

One log line per series received, denoised, forwarded or rejected, with times.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom import uid as dicom_uid
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt

from ..atomic import atomic_path, fsync
from ..errors import DataError, describe
from .bundle_runner import BundleRunner, runners_by_modality, series_modality

logger = logging.getLogger(__name__)

SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000
"""C-STORE statuses (PS3.4 Table B.2-1)."""
WARNINGS = frozenset({0xB000, 0xB006, 0xB007})
"""C-STORE warning statuses: stored, with coercion or elements discarded."""
POLL_SECONDS = 0.5
MAX_ASSOCIATIONS = 32


@dataclass(frozen=True)
class Destination:
    """A DICOM node: AE title, host and port (``AE@HOST:PORT``)."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Destination:
        """``AE@HOST:PORT`` -> Destination; DataError naming the text otherwise."""
        title, _, address = text.partition("@")
        host, _, port = address.rpartition(":")
        if not title or not host or not port.isdigit() or len(title) > 16:
            raise DataError(f"--forward {text!r}: expected AE@HOST:PORT (an AE title of at most 16 characters, e.g. "
                            "PACS@10.0.0.5:104)")
        return cls(title, host, int(port))

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


class Spool:
    """The listener's folders on disk (see the module's docstring); every change is a rename, flushed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()  # absolute: ITK's lazy loading may change the working folder mid-run
        self.incoming, self.work = self.root / "incoming", self.root / "work"
        self.forwarded, self.rejected, self.tmp = self.root / "forwarded", self.root / "rejected", self.root / "tmp"
        for folder in (self.incoming, self.work, self.forwarded, self.rejected, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def recover(self) -> int:
        """After a crash: partial receptions dropped (never acknowledged), series caught in ``work/`` moved back to
        ``incoming/``. Returns how many series were moved back."""
        for partial in self.tmp.iterdir():
            partial.unlink()
        moved = 0
        for folder in sorted(self.work.iterdir()):
            source = folder / "source"
            if source.is_dir():
                target = self.incoming / folder.name
                target.mkdir(exist_ok=True)
                for path in source.iterdir():
                    os.replace(path, target / path.name)
                fsync(target)
                moved += 1
            shutil.rmtree(folder)
        return moved

    def store(self, encoded: bytes, series: str, instance: str) -> None:
        """Write one received instance (its Part 10 bytes) to ``incoming/``, flushed to disk."""
        fd, name = tempfile.mkstemp(prefix=f"{instance}.", suffix=".partial", dir=self.tmp)
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(encoded)
                stream.flush()
                os.fsync(stream.fileno())
            with self.lock:
                folder = self.incoming / series
                folder.mkdir(exist_ok=True)
                os.replace(partial, folder / f"{instance}.dcm")
                fsync(folder)
        finally:
            partial.unlink(missing_ok=True)

    def complete(self, timeout: float) -> list[Path]:
        """The ``incoming/`` series whose newest instance is older than ``timeout`` seconds, oldest first."""
        now, found = time.time(), []
        for folder in self.incoming.iterdir():
            times = [p.stat().st_mtime for p in folder.iterdir()]
            if times and now - max(times) >= timeout:
                found.append((max(times), folder))
        return [folder for _, folder in sorted(found)]

    def take(self, folder: Path) -> tuple[Path, list[str]]:
        """Move the instances of ``incoming`` series ``folder`` to ``work/<series>/source``; that folder and the
        instance UIDs (an empty incoming folder is removed)."""
        source = self.work / folder.name / "source"
        source.mkdir(parents=True, exist_ok=True)
        with self.lock:
            paths = sorted(folder.iterdir())
            for path in paths:
                os.replace(path, source / path.name)
            fsync(source)
            folder.rmdir()
        return source, [p.stem for p in paths]

    def give_back(self, series: str) -> None:
        """Move a series in ``work/`` back to ``incoming/`` (to try again later)."""
        with self.lock:
            target = self.incoming / series
            target.mkdir(exist_ok=True)
            for path in (self.work / series / "source").iterdir():
                os.replace(path, target / path.name)
            fsync(target)
        shutil.rmtree(self.work / series)

    def record(self, series: str) -> dict | None:
        """What ``forwarded/`` holds of ``series``, or None."""
        path = self.forwarded / f"{series}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def mark_forwarded(self, series: str, instances: list[str], derived: str) -> None:
        """Record ``series`` as forwarded (with the instances before), flushed, then drop its ``work/`` folder."""
        before = self.record(series) or {"instances": []}
        record = {"series": series, "instances": sorted(set(before["instances"]) | set(instances)),
                  "derived_series": derived, "forwarded_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with atomic_path(self.forwarded / f"{series}.json", durable=True) as partial:
            partial.write_text(json.dumps(record, indent=1))
        shutil.rmtree(self.work / series)

    def reject(self, series: str, reason: str) -> Path:
        """Move a series in ``work/`` to ``rejected/<series>`` (beside an earlier rejection of it) with
        ``reason.txt`` (paths in ``reason`` named where the files now are)."""
        target, source = self.rejected / series, self.work / series / "source"
        target.mkdir(exist_ok=True)
        for path in source.iterdir():
            os.replace(path, target / path.name)
        (target / "reason.txt").write_text(reason.replace(str(source), str(target)) + "\n")
        fsync(target)
        shutil.rmtree(self.work / series)
        return target


def forward(paths: list[Path], destination: Destination, calling: str) -> None:
    """Send ``paths`` by C-STORE to ``destination`` in one association.

    Raises:
        DataError: no association, or an instance not stored (its status named).
    """
    ae = AE(ae_title=calling)
    for sop_class in sorted({str(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID) for p in paths}):
        ae.add_requested_context(sop_class, dicom_uid.ExplicitVRLittleEndian)
    association = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not association.is_established:
        raise DataError(f"{destination}: no association (refused, or nothing listens there)")
    try:
        for path in paths:
            status = association.send_c_store(path)
            code = int(status.get("Status", -1)) if status else -1
            if code != SUCCESS and code not in WARNINGS:
                raise DataError(f"{destination}: did not store {path.name} (status 0x{code & 0xFFFF:04X})")
    finally:
        if association.is_established:
            association.release()


class Listener:
    """The storage SCP and its worker; :meth:`serve` runs both until :meth:`stop`.

    Args:
        spool: the spool folder (created).
        runners: one bundle per modality (:func:`~.bundle_runner.runners_by_modality`).
        destination: where the derived series go.
        ae_title: the listener's AE title (the one the router sends to; also the calling title when forwarding).
        port, host: where it listens.
        series_timeout: seconds without a new instance after which a series is complete.
        retry_seconds: how long a series whose forward failed waits before it is forwarded again.
    """

    def __init__(self, spool: str | Path, runners: list[BundleRunner], destination: Destination, ae_title: str,
                 port: int, host: str = "0.0.0.0", series_timeout: float = 10.0, retry_seconds: float = 30.0) -> None:
        self.spool = Spool(spool)
        self.served = runners_by_modality(runners)
        self.destination, self.ae_title, self.address = destination, ae_title, (host, port)
        self.series_timeout, self.retry_seconds = series_timeout, retry_seconds
        self.retry_at: dict[str, float] = {}
        self.stopping = threading.Event()
        self.server = None

    def _on_store(self, event: evt.Event) -> int:
        """Spool one received instance; acknowledge it only once it is on disk."""
        try:
            ds = event.dataset
            series, instance = str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
        except Exception as err:  # noqa: BLE001 (a dataset pydicom cannot parse: refuse it, keep serving)
            logger.warning("refused an instance from %s: no readable SeriesInstanceUID / SOPInstanceUID (%s)",
                           event.assoc.requestor.ae_title, describe(err))
            return CANNOT_UNDERSTAND
        try:
            self.spool.store(event.encoded_dataset(), series, instance)
        except OSError as err:
            logger.error("could not spool instance %s of series %s (%s)", instance, series, describe(err))
            return OUT_OF_RESOURCES
        return SUCCESS

    def start(self) -> None:
        """Recover the spool and start listening (returns once the port is open)."""
        moved = self.spool.recover()
        if moved:
            logger.info("recovered %d series from an interrupted run", moved)
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = MAX_ASSOCIATIONS
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.server = ae.start_server(self.address, block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        served = ", ".join(f"{m}: {r}" for m, r in sorted(self.served.items()))
        logger.info("listening as %s on %s:%d (spool %s; %s), forwarding to %s", self.ae_title, *self.address,
                    self.spool.root, served, self.destination)

    def stop(self) -> None:
        """Stop serving after the series in hand."""
        self.stopping.set()

    def serve(self) -> None:
        """Start, then process complete series until :meth:`stop`; close the port on the way out."""
        self.start()
        try:
            while not self.stopping.is_set():
                for folder in self.spool.complete(self.series_timeout):
                    if self.retry_at.get(folder.name, 0.0) <= time.monotonic():
                        self.process(folder)
                self.stopping.wait(POLL_SECONDS)
        finally:
            if self.server is not None:
                self.server.shutdown()

    def process(self, folder: Path) -> None:
        """Denoise and forward one complete series of ``incoming/`` (see the module's docstring)."""
        series = folder.name
        newest = max(p.stat().st_mtime for p in folder.iterdir())
        source, instances = self.spool.take(folder)
        record = self.spool.record(series)
        if record is not None and set(instances) <= set(record["instances"]):
            shutil.rmtree(self.spool.work / series)
            logger.info("series %s: already forwarded as %s, cleared from the spool", series, record["derived_series"])
            return
        started = time.monotonic()
        try:
            modality = series_modality(source)
            runner = self.served.get(modality)
            logger.info("series %s received: %d instance(s), Modality %s, last %.1f s ago", series, len(instances),
                        modality, time.time() - newest)
            if runner is None:
                raise DataError(f"Modality {modality}: no bundle serves it (served: {', '.join(sorted(self.served))})")
            derived = runner.denoise(source, self.spool.work / series / "derived")
        except Exception as err:  # noqa: BLE001 (any series it cannot denoise is set aside; the listener keeps serving)
            reason = str(err) if isinstance(err, DataError) else describe(err)
            target = self.spool.reject(series, reason)
            logger.error("series %s rejected to %s: %s", series, target, (target / "reason.txt").read_text().strip())
            return
        derived_uid = str(pydicom.dcmread(derived[0], stop_before_pixels=True).SeriesInstanceUID)
        denoised = time.monotonic()
        logger.info("series %s denoised by %s: %d instance(s) in %.1f s", series, runner, len(derived),
                    denoised - started)
        try:
            forward(derived, self.destination, self.ae_title)
        except Exception as err:  # noqa: BLE001 (the destination is down or refuses: try again later)
            self.spool.give_back(series)
            self.retry_at[series] = time.monotonic() + self.retry_seconds
            logger.error("series %s: forward to %s failed (%s); trying again in %.0f s", series, self.destination,
                         str(err) if isinstance(err, DataError) else describe(err), self.retry_seconds)
            return
        self.spool.mark_forwarded(series, instances, derived_uid)
        self.retry_at.pop(series, None)
        logger.info("series %s forwarded as %s to %s: %d instance(s) in %.1f s, %.1f s after its last instance",
                    series, derived_uid, self.destination, len(derived), time.monotonic() - denoised,
                    time.time() - newest)
