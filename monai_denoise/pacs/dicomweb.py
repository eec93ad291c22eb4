"""Pull a study's series from a DICOMweb server (QIDO-RS, WADO-RS), denoise them with a bundle, push the derived
series back (STOW-RS), with ``dicomweb-client``."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from ..errors import DataError, describe
from .bundle_runner import BundleRunner

logger = logging.getLogger(__name__)

MODALITY, SERIES_UID, INSTANCE_UID = "00080060", "0020000E", "00080018"
"""DICOM JSON keys (tags) of a QIDO-RS series record."""
DERIVED_MARK = "(monai-denoise"
"""In the ``DerivationDescription`` of the series this project wrote (:class:`monai_denoise.derived_dicom.Derivation`):
such a series is not denoised again."""


@dataclass(frozen=True)
class DenoisedSeries:
    """One series denoised: the source's and the derived series' UIDs, the instances, and whether it was stored."""

    source_uid: str
    derived_uid: str
    instances: int
    stored: bool


def _value(record: dict, tag: str) -> str:
    values = record.get(tag, {}).get("Value") or [""]
    return str(values[0])


class StudyClient:
    """A DICOMweb server, with one line for each way talking to it fails.

    Args:
        url: the DICOMweb root (``http://pacs:8042/dicom-web``).
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.client = DICOMwebClient(self.url)

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except requests.ConnectionError as err:
            raise DataError(f"{self.url}: cannot reach the DICOMweb server ({describe(err)}); check the URL and that "
                            "the server runs") from err
        except requests.HTTPError as err:
            status = err.response.status_code if err.response is not None else "?"
            raise DataError(f"{self.url}: {what} refused with HTTP {status} ({describe(err)}); check the server's "
                            "log and its DICOMweb settings") from err

    def series(self, study: str) -> list[dict]:
        """The QIDO-RS records of the study's series.

        Raises:
            DataError: unreachable, refused, or no such study.
        """
        found = self._call(f"searching the series of study {study}", self.client.search_for_series,
                           study_instance_uid=study)
        if not found:
            raise DataError(f"{self.url}: no study {study} (or it holds no series); check the StudyInstanceUID")
        return found

    def retrieve(self, study: str, series: str, folder: Path) -> list[Path]:
        """The series' instances (WADO-RS), written to ``folder`` as ``<SOPInstanceUID>.dcm``."""
        folder.mkdir(parents=True, exist_ok=True)
        datasets = self._call(f"retrieving series {series}", self.client.retrieve_series,
                              study_instance_uid=study, series_instance_uid=series)
        paths = []
        for ds in datasets:
            path = folder / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        return paths

    def store(self, paths: list[Path]) -> None:
        """Store the instances of one series (STOW-RS), then check that the server holds every one of them (QIDO-RS):
        a server may acknowledge an instance that a filter of its own then drops.

        Raises:
            DataError: unreachable, or the server refused the store or some of the instances, or does not hold them.
        """
        datasets = [pydicom.dcmread(p) for p in paths]
        response = self._call("storing", self.client.store_instances, datasets=datasets)
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
            raise DataError(f"{self.url}: refused {len(failed)} of {len(paths)} instance(s) (failure reason "
                            f"{', '.join(reasons)}); check the server's log")
        study, series = str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID)
        held = self._call(f"searching the instances of series {series}", self.client.search_for_instances,
                          study_instance_uid=study, series_instance_uid=series)
        sent = {str(ds.SOPInstanceUID) for ds in datasets}
        missing = sent - {_value(record, INSTANCE_UID) for record in held or []}
        if missing:
            raise DataError(f"{self.url}: acknowledged the store of series {series} but holds {len(sent) - len(missing)}"
                            f" of its {len(sent)} instance(s); check the server's log and its filters")


def denoise_study(url: str, study: str, runner: BundleRunner, series: str | None = None,
                  dry_run: bool = False) -> list[DenoisedSeries]:
    """Denoise every series of ``study`` on the DICOMweb server ``url`` whose modality ``runner`` serves (or only
    ``series``), and store each derived series back unless ``dry_run``; series this project derived are skipped.

    Returns:
        One :class:`DenoisedSeries` per series denoised, in the server's order.

    Raises:
        DataError: see :class:`StudyClient`; the study has no series the bundle serves (the line names the
            modalities it has); a series cannot be denoised.
    """
    client = StudyClient(url)
    records = client.series(study)
    if series is not None:
        records = [r for r in records if _value(r, SERIES_UID) == series]
        if not records:
            raise DataError(f"{url}: study {study} has no series {series}")
    chosen = [r for r in records if _value(r, MODALITY) in runner.modalities]
    if not chosen:
        found = sorted({_value(r, MODALITY) or "none" for r in records})
        raise DataError(f"{url}: study {study} has no series the bundle {runner} serves ({'/'.join(runner.modalities)}"
                        f"); its series are {', '.join(found)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="monai-denoise-pacs.") as work:
        for record in chosen:
            uid = _value(record, SERIES_UID)
            start = time.monotonic()
            paths = client.retrieve(study, uid, Path(work) / uid / "source")
            if DERIVED_MARK in str(pydicom.dcmread(paths[0], stop_before_pixels=True).get("DerivationDescription", "")):
                logger.info("series %s: skipped, monai-denoise derived it", uid)
                continue
            derived = runner.denoise(Path(work) / uid / "source", Path(work) / uid / "derived")
            derived_uid = str(pydicom.dcmread(derived[0], stop_before_pixels=True).SeriesInstanceUID)
            if not dry_run:
                client.store(derived)
            logger.info("series %s: %d instance(s) denoised by %s%s as %s in %.1f s", uid, len(derived), runner,
                        "" if dry_run else " and stored", derived_uid, time.monotonic() - start)
            results.append(DenoisedSeries(uid, derived_uid, len(derived), not dry_run))
    return results
