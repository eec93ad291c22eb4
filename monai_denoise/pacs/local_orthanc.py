"""A local Orthanc PACS on free loopback ports, for trying the loop and for the tests and benchmarks: Debian's
``orthanc`` with its DICOMweb plugin (``orthanc-dicomweb``), storage in a folder of its own, stopped on exit."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

import requests

from ..errors import DataError

PLUGIN_FOLDERS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc/plugins", "/usr/local/share/orthanc/plugins")
"""Where Debian and source builds put Orthanc's plugins (``libOrthancDicomWeb.so``)."""
START_SECONDS = 60.0


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dicomweb_plugin() -> Path:
    """The DICOMweb plugin's library.

    Raises:
        DataError: Orthanc or the plugin is not installed.
    """
    if shutil.which("Orthanc") is None:
        raise DataError("Orthanc is not installed; make install installs it (Debian: apt-get install orthanc "
                        "orthanc-dicomweb)")
    for folder in PLUGIN_FOLDERS:
        found = sorted(Path(folder).glob("libOrthancDicomWeb.so*"))
        if found:
            return found[0]
    raise DataError(f"Orthanc's DICOMweb plugin is not in {', '.join(PLUGIN_FOLDERS)}; make install installs it "
                    "(Debian: apt-get install orthanc-dicomweb)")


class LocalOrthanc:
    """Orthanc serving DICOM (C-STORE, C-FIND, C-MOVE) and DICOMweb on free loopback ports, its storage in
    ``folder``; a context manager that starts it and stops it.

    Args:
        folder: storage, index, configuration and log (created).
        aet: its DICOM AE title.
        modalities: AE title -> ``(host, port)`` of the DICOM nodes it may send to.
        http_port, dicom_port: its ports (default: free ones).
        options: further Orthanc settings (``{"ReadOnly": True}``: a PACS that refuses to store).
    """

    def __init__(self, folder: str | Path, aet: str = "ORTHANC", modalities: dict[str, tuple[str, int]] | None = None,
                 options: dict | None = None, http_port: int | None = None, dicom_port: int | None = None) -> None:
        self.folder = Path(folder)
        self.aet = aet
        self.modalities = dict(modalities or {})
        self.options = dict(options or {})
        self.http_port = http_port or free_port()
        self.dicom_port = dicom_port or free_port()
        self.name = f"monai-denoise local PACS {uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The REST API's root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root (QIDO-RS, WADO-RS, STOW-RS)."""
        return f"{self.url}/dicom-web"

    def start(self) -> LocalOrthanc:
        """Start Orthanc and wait until it answers.

        Raises:
            DataError: not installed, or it did not answer within a minute (its log is named).
        """
        plugin = dicomweb_plugin()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": self.name, "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": self.aet, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomCheckCalledAet": False, "DicomAlwaysAllowStore": True,
            "DicomModalities": {aet: [aet, host, port] for aet, (host, port) in self.modalities.items()},
            "Plugins": [str(plugin)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StableAge": 1, "HttpServerEnabled": True, **self.options,
        }
        (self.folder / "orthanc.json").write_text(json.dumps(config, indent=2))
        log = (self.folder / "orthanc.log").open("wb")
        self.process = subprocess.Popen(["Orthanc", str(self.folder / "orthanc.json")], stdout=log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                answer = requests.get(f"{self.url}/system", timeout=1)
                if answer.ok and answer.json().get("Name") == self.name:  # this Orthanc, not one already there
                    return self
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        code = self.process.poll()
        self.stop()
        if code is not None:
            raise DataError(f"Orthanc stopped as it started (exit code {code}; ports {self.http_port} and "
                            f"{self.dicom_port} in use?); see {self.folder / 'orthanc.log'}")
        raise DataError(f"Orthanc did not start within {START_SECONDS:.0f} s; see {self.folder / 'orthanc.log'}")

    def stop(self) -> None:
        """Stop Orthanc (its storage stays in ``folder``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalOrthanc:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def get(self, path: str) -> object:
        """The REST API's JSON answer for ``path`` (``/series?expand``, ...)."""
        response = requests.get(f"{self.url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def upload(self, paths: list[Path]) -> int:
        """Store DICOM files through the REST API; how many it took.

        Raises:
            DataError: a file it refused (not DICOM, damaged), named.
        """
        for path in paths:
            response = requests.post(f"{self.url}/instances", data=Path(path).read_bytes(), timeout=60)
            if not response.ok:
                raise DataError(f"{path}: Orthanc refused it (HTTP {response.status_code}); give DICOM files")
        return len(paths)

    def series(self) -> list[dict]:
        """Every stored series: Orthanc's expanded series records (``MainDicomTags``, ``Instances``, ...)."""
        return list(self.get("/series?expand"))  # type: ignore[arg-type]
