"""The hospital's loop against a real PACS (Orthanc with its DICOMweb plugin, started on free loopback ports): pull,
denoise and push over DICOMweb; the storage listener receiving from concurrent senders, killed and restarted, with a
bad series beside good ones."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from conftest import REPO, phantom
from pydicom import uid
from pynetdicom import AE, StoragePresentationContexts
from test_dicom_modalities import dataset, write

from benchmarks.pacs_throughput import sample_series
from monai_denoise.cli import main
from monai_denoise.errors import DataError
from monai_denoise.pacs.bundle_runner import BundleRunner, runners_by_modality
from monai_denoise.pacs.listener import Destination, Listener, Spool
from monai_denoise.pacs.local_orthanc import LocalOrthanc, dicomweb_plugin, free_port

CT_BUNDLE, XRAY_BUNDLE = REPO / "bundles" / "ct_denoising_drunet", REPO / "bundles" / "xray_denoising_drunet"
PLAIN = '{"self_ensemble": 1}'
REFUSE_DERIVED = """
function ReceivedInstanceFilter(dicom, origin, info)
  return dicom.DerivationDescription == nil
end
"""
"""An Orthanc Lua filter that refuses to store any derived instance (with a DerivationDescription)."""


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    with LocalOrthanc(tmp_path_factory.mktemp("orthanc")) as orthanc:
        yield orthanc


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory) -> list[Path]:
    """Five noisy CT series of 3 to 5 slices, 64x64, from the sample's chest CT (each its own study, each used by
    one test)."""
    return sample_series(tmp_path_factory.mktemp("ct"), 5, (3, 5), 64)


def radiograph(folder: Path, seed: int) -> Path:
    """A small DX radiograph (12 bits, noisy) in a study of its own."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.poisson(phantom((72, 64, 1), seed=seed)[..., 0] * 4 + 400), 0, 4095).astype(np.uint16)
    folder.mkdir(parents=True, exist_ok=True)
    return write(dataset("DX", pixels, rescale=None, BitsStored=12, HighBit=11, StudyInstanceUID=uid.generate_uid(),
                         PresentationIntentType="FOR PRESENTATION", SeriesNumber=3), folder / "dx.dcm")


def study_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def series_in(pacs: LocalOrthanc, study: str) -> dict[str, dict]:
    """SeriesInstanceUID -> Orthanc's series record, for the series of ``study``."""
    found = {}
    for record in pacs.series():
        uid_of_study = pacs.get(f"/studies/{record['ParentStudy']}")["MainDicomTags"]["StudyInstanceUID"]
        if uid_of_study == study:
            found[record["MainDicomTags"]["SeriesInstanceUID"]] = record
    return found


def test_pull_denoise_push_stores_a_derived_ct_series_and_radiograph(pacs, ct_series, tmp_path, capsys):
    ct = sorted(ct_series[0].iterdir())
    dx = radiograph(tmp_path / "dx", seed=1)
    pacs.upload(ct + [dx])
    for bundle, source in ((CT_BUNDLE, ct), (XRAY_BUNDLE, [dx])):
        study = study_of(source[0])
        assert main(["pacs", "denoise", "--url", pacs.dicomweb_url, "--study", study, "--bundle", str(bundle),
                     "--overrides", PLAIN]) == 0
        out = capsys.readouterr().out
        printed = out.strip().splitlines()[-1]
        assert out.split() == [printed], out
        stored = series_in(pacs, study)
        assert len(stored) == 2 and printed in stored, "the source series and the derived one"
        derived = stored[printed]
        assert len(derived["Instances"]) == len(source)
        instance = pacs.get(f"/instances/{derived['Instances'][0]}/simplified-tags")
        assert instance["ImageType"].startswith("DERIVED\\SECONDARY") and bundle.name in instance[
            "DerivationDescription"]
        assert main(["pacs", "denoise", "--url", pacs.dicomweb_url, "--study", study, "--bundle", str(bundle),
                     "--overrides", PLAIN]) == 0, "run again: the derived series is skipped, the source stored again"
        assert capsys.readouterr().out.split() == [printed], "the same derived series"
        assert len(series_in(pacs, study)) == 2 and len(series_in(pacs, study)[printed]["Instances"]) == len(source)


def test_dry_run_stores_nothing_and_bad_requests_are_one_line_each(pacs, ct_series, capsys):
    ct = sorted(ct_series[1].iterdir())
    pacs.upload(ct)
    study = study_of(ct[0])
    assert main(["pacs", "denoise", "--url", pacs.dicomweb_url, "--study", study, "--bundle", str(CT_BUNDLE),
                 "--overrides", PLAIN, "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out and len(series_in(pacs, study)) == 1
    cases = [
        ([pacs.dicomweb_url, study, XRAY_BUNDLE], "has no series the bundle xray_denoising_drunet"),
        ([pacs.dicomweb_url, "1.2.3.999", CT_BUNDLE], "no study 1.2.3.999"),
        ([f"http://127.0.0.1:{free_port()}/dicom-web", study, CT_BUNDLE], "cannot reach the DICOMweb server"),
    ]
    for (url, asked, bundle), expected in cases:
        assert main(["pacs", "denoise", "--url", url, "--study", asked, "--bundle", str(bundle)]) == 2
        error = capsys.readouterr().err.strip()
        assert expected in error and "\n" not in error, error


def test_a_store_the_pacs_drops_is_one_line(ct_series, tmp_path, capsys):
    script = tmp_path / "refuse.lua"
    script.write_text(REFUSE_DERIVED)
    with LocalOrthanc(tmp_path / "orthanc", options={"LuaScripts": [str(script)]}) as refusing:
        ct = sorted(ct_series[2].iterdir())
        refusing.upload(ct)
        assert main(["pacs", "denoise", "--url", refusing.dicomweb_url, "--study", study_of(ct[0]), "--bundle",
                     str(CT_BUNDLE), "--overrides", PLAIN]) == 2
    error = capsys.readouterr().err.strip()
    assert "holds 0 of its 3 instance(s)" in error and "\n" not in error, error


# The listener -----------------------------------------------------------------------------------------------------


class RunningListener:
    """``monai-denoise pacs listen`` as a separate process forwarding into ``pacs``, its log in ``spool.log``."""

    def __init__(self, spool: Path, pacs: LocalOrthanc, port: int) -> None:
        self.spool, self.port = spool, port
        self.log_path = spool.with_suffix(".log")
        command = [sys.executable, "-m", "monai_denoise.cli", "pacs", "listen", "--ae-title", "DENOISE", "--port",
                   str(port), "--host", "127.0.0.1", "--spool", str(spool), "--forward",
                   f"{pacs.aet}@127.0.0.1:{pacs.dicom_port}", "--bundle", str(CT_BUNDLE), "--bundle",
                   str(XRAY_BUNDLE), "--series-timeout", "1.5", "--overrides", PLAIN]
        started = self.log().count("listening as") if self.log_path.exists() else 0
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        self.wait_for("listening as", 120, count=started + 1)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, text: str, seconds: float, count: int = 1) -> None:
        deadline = time.monotonic() + seconds
        while self.log().count(text) < count:
            assert self.process.poll() is None, f"the listener stopped:\n{self.log()}"
            assert time.monotonic() < deadline, f"no {count} x {text!r} in {seconds} s:\n{self.log()}"
            time.sleep(0.2)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        assert self.process.returncode in (0, -signal.SIGKILL), self.log()


def send(paths: list[Path], port: int) -> list[int]:
    """C-STORE ``paths`` to the listener in one association; the statuses."""
    ae = AE(ae_title="MODALITY")
    ae.requested_contexts = StoragePresentationContexts[:100]
    association = ae.associate("127.0.0.1", port, ae_title="DENOISE")
    assert association.is_established
    statuses = [int(association.send_c_store(path).Status) for path in paths]
    association.release()
    return statuses


def derived_counts(pacs: LocalOrthanc, studies: list[str]) -> dict[str, list[int]]:
    """Study -> the instance counts of its derived series (DerivationDescription set)."""
    counts = {}
    for study in studies:
        derived = []
        for record in series_in(pacs, study).values():
            tags = pacs.get(f"/instances/{record['Instances'][0]}/simplified-tags")
            if "DerivationDescription" in tags:
                derived.append(len(record["Instances"]))
        counts[study] = derived
    return counts


def wait_for_derived(pacs: LocalOrthanc, expected: dict[str, list[int]], seconds: float) -> dict[str, list[int]]:
    """:func:`derived_counts` once it equals ``expected`` or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        counts = derived_counts(pacs, list(expected))
        if counts == expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def test_the_listener_takes_concurrent_senders_and_sets_a_bad_series_aside(pacs, ct_series, tmp_path):
    """Five senders at once (two CT series, a radiograph, an MR image that no bundle serves and a CT series with a
    slice cut short):
    the good series arrive in Orthanc as derived series of as many instances, the bad ones wait in rejected/ with
    their reason, and the listener keeps serving."""
    listener = RunningListener(tmp_path / "spool", pacs, free_port())
    try:
        dx = radiograph(tmp_path / "dx", seed=2)
        mr = write(dataset("MR", np.full((8, 8), 100, np.uint16), rescale=None,
                           SeriesInstanceUID=uid.generate_uid()), tmp_path / "mr.dcm")
        damaged = sample_series(tmp_path / "damaged", 1, (3, 3), 64, seed=5)[0]
        broken = pydicom.dcmread(next(damaged.iterdir()))
        broken.PixelData = broken.PixelData[:100]  # a slice cut short in transit
        broken.save_as(next(damaged.iterdir()))
        good = [sorted(ct_series[3].iterdir()), sorted(ct_series[4].iterdir()), [dx]]
        batches = good + [[mr], sorted(damaged.iterdir())]
        results: list[list[int]] = []
        threads = [threading.Thread(target=lambda b=b: results.append(send(b, listener.port))) for b in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(status == 0 for statuses in results for status in statuses), results
        expected = {study_of(batch[0]): [len(batch)] for batch in good}
        assert wait_for_derived(pacs, expected, 240) == expected, listener.log()
        listener.wait_for("forwarded as", 30, count=len(good))
        listener.wait_for(" rejected to ", 60, count=2)
        reasons = sorted((folder / "reason.txt").read_text() for folder in (tmp_path / "spool" / "rejected").iterdir())
        assert len(reasons) == 2 and "Modality MR: no bundle serves it" in "".join(reasons), reasons
        assert any("damaged or truncated" in reason for reason in reasons), reasons
        log = listener.log()
        for word in ("received", "denoised", "forwarded"):
            assert log.count(f" {word}") >= len(good), (word, log)
        assert listener.process.poll() is None, "still serving"
        assert send([dx], listener.port) == [0]
    finally:
        listener.stop()


def test_a_killed_listener_loses_nothing_and_forwards_every_series_once(pacs, tmp_path):
    """SIGKILL while series arrive and are denoised, then a restart on the same spool: every series in Orthanc once,
    with all its instances, and the spool empty."""
    series = sample_series(tmp_path / "ct", 3, (4, 6), 64, seed=7)
    spool, port = tmp_path / "spool", free_port()
    listener = RunningListener(spool, pacs, port)
    send(sorted(series[0].iterdir()), port)
    send(sorted(series[1].iterdir())[:2], port)
    listener.wait_for("denoised", 120)
    listener.kill()
    assert any((spool / "incoming").iterdir()) or any((spool / "work").iterdir()) or any(
        (spool / "forwarded").iterdir())
    listener = RunningListener(spool, pacs, port)
    try:
        send(sorted(series[1].iterdir())[2:], port)
        send(sorted(series[2].iterdir()), port)
        expected = {study_of(next(s.iterdir())): [len(list(s.iterdir()))] for s in series}
        assert wait_for_derived(pacs, expected, 240) == expected, listener.log()
        time.sleep(3)  # nothing forwarded twice after that
        assert derived_counts(pacs, list(expected)) == expected, listener.log()
        assert not any((spool / "incoming").iterdir()) and not any((spool / "work").iterdir())
        assert len(list((spool / "forwarded").iterdir())) == 3
    finally:
        listener.stop()


def test_forward_destinations_are_parsed_or_refused_in_one_line():
    assert Destination.parse("PACS@10.0.0.5:104") == Destination("PACS", "10.0.0.5", 104)
    for text in ("PACS", "PACS@host", "@host:104", "A_TITLE_LONGER_THAN_16@h:1"):
        with pytest.raises(Exception, match="expected AE@HOST:PORT"):
            Destination.parse(text)


def test_orthanc_and_dciodvfy_are_installed():
    """The PACS tests run, never skip: make install installs Debian's orthanc, orthanc-dicomweb and dicom3tools."""
    assert shutil.which("Orthanc") and shutil.which("dciodvfy"), "make install installs them"
    assert dicomweb_plugin().is_file()


def test_the_throughput_benchmark_measures_what_it_prints(tmp_path, capsys):
    """benchmarks.pacs_throughput on two tiny series from two senders: every slice through, its rows printed."""
    from benchmarks.pacs_throughput import main as throughput

    throughput(["--output", str(tmp_path), "--series", "2", "--senders", "2", "--slices", "2", "3", "--size", "32",
                "--ensembles", "1", "--bundle", str(CT_BUNDLE)])
    table = pd.read_csv(tmp_path / "throughput.csv")
    assert list(table.self_ensemble) == [1] and table.series[0] == 2 and 4 <= table.slices[0] <= 6
    assert table.slices_per_second[0] > 0 and table.latency_max_s[0] >= table.latency_median_s[0] > 0
    assert table.peak_memory_mib[0] > 100, "the listener's resident memory, torch included"
    assert "slices_per_second" in capsys.readouterr().out


def test_the_spool_moves_interrupted_series_back_and_drops_unacknowledged_partials(tmp_path):
    spool = Spool(tmp_path / "spool")
    (spool.work / "1.2.3" / "source").mkdir(parents=True)
    (spool.work / "1.2.3" / "source" / "1.2.3.4.dcm").write_bytes(b"received")
    (spool.work / "1.2.3" / "derived").mkdir()
    (spool.tmp / "1.2.3.5.partial").write_bytes(b"half")
    assert Spool(tmp_path / "spool").recover() == 1
    assert (spool.incoming / "1.2.3" / "1.2.3.4.dcm").read_bytes() == b"received"
    assert not any(spool.work.iterdir()) and not any(spool.tmp.iterdir())


def test_bundles_that_cannot_serve_are_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="both serve Modality CT; give one bundle per modality"):
        runners_by_modality([BundleRunner(CT_BUNDLE), BundleRunner(CT_BUNDLE)])
    with pytest.raises(DataError, match=r"no configs/inference.json; give the folder of a monai-denoise bundle"):
        BundleRunner(tmp_path)
    bundle = tmp_path / "ct"
    shutil.copytree(CT_BUNDLE / "configs", bundle / "configs")
    with pytest.raises(DataError, match=r"model.pt: no weights for bundle ct_denoising_drunet"):
        BundleRunner(bundle)
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    del metadata["dicom_modalities"]
    (bundle / "configs" / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(DataError, match="names no dicom_modalities"):
        BundleRunner(bundle)


def test_a_failed_forward_keeps_the_series_and_a_forwarded_one_is_not_sent_again(ct_series, tmp_path, caplog):
    """Nothing listens at the destination: the series goes back to incoming/ to be tried again later. Recorded as
    forwarded, the same instances arriving again are cleared without being denoised or sent."""
    nowhere = Destination("PACS", "127.0.0.1", free_port())
    listener = Listener(tmp_path / "spool", [BundleRunner(CT_BUNDLE, {"self_ensemble": 1})], nowhere, "DENOISE", 0)
    series = ct_series[2]
    uid_of_series = str(pydicom.dcmread(next(series.iterdir()), stop_before_pixels=True).SeriesInstanceUID)
    incoming = listener.spool.incoming / uid_of_series
    shutil.copytree(series, incoming)
    with caplog.at_level("INFO", logger="monai_denoise.pacs.listener"):
        listener.process(incoming)
        assert "forward to PACS@127.0.0.1" in caplog.text and "trying again" in caplog.text
        assert sorted(p.name for p in incoming.iterdir()) == sorted(p.name for p in series.iterdir())
        assert listener.retry_at[uid_of_series] > time.monotonic() and not any(listener.spool.work.iterdir())
        listener.spool.take(incoming)
        listener.spool.mark_forwarded(uid_of_series, [p.stem for p in series.iterdir()], "2.25.1")
        shutil.copytree(series, incoming)
        caplog.clear()
        listener.process(incoming)
    assert "already forwarded as 2.25.1, cleared" in caplog.text and "denoised" not in caplog.text
    assert not incoming.exists() and not any(listener.spool.work.iterdir())


def test_a_local_orthanc_on_ports_in_use_is_one_line(pacs, tmp_path):
    with pytest.raises(DataError, match=r"Orthanc stopped as it started .* in use\?\); see .*orthanc.log"):
        LocalOrthanc(tmp_path / "second", http_port=pacs.http_port).start()
