"""Unusable input is refused with one clear line naming the file, exit code 2, and no (changed) output."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from monai_denoise.cli import main
from monai_denoise.data import list_volumes, load_datalist
from monai_denoise.errors import DataError

SHAPE = (24, 20, 12)
ERROR_PREFIX = re.compile(r"monai-denoise \w+: error: ")


def write_volume(path: Path, array: np.ndarray, affine: np.ndarray = np.eye(4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array, dtype=np.float32), affine), str(path))
    return path


def random_volume(seed: int = 0, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20.0, 100.0, shape).astype(np.float32)


def with_bad_voxels(value: float) -> np.ndarray:
    array = random_volume()
    array[1, 2, 3] = array[4, 5, 6] = array[7, 8, 9] = value
    return array


# Each case writes one bad input under `folder` and returns it; the bad file's name sorts after the two good
# volumes, so slices of the good ones are already staged when the bad one is reached.

def missing_file(folder: Path) -> Path:
    return folder / "z_missing.nii.gz"


def zero_byte_file(folder: Path) -> Path:
    path = folder / "z_empty.nii.gz"
    path.touch()
    return path


def truncated_file(folder: Path) -> Path:
    path = write_volume(folder / "z_truncated.nii.gz", random_volume(5))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def random_bytes_file(folder: Path) -> Path:
    path = folder / "z_noise.nii.gz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def text_file(folder: Path) -> Path:
    path = folder / "z_notes.txt"
    path.write_text("not an image\n")
    return path


def picture_case(name: str, frames: list[np.ndarray], cut: bool = False):
    def make(folder: Path) -> Path:
        path = folder / name
        first, *more = (Image.fromarray(frame) for frame in frames)
        first.save(path, save_all=bool(more), append_images=more)
        if cut:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path
    return make


PICTURE = np.random.default_rng(1).integers(0, 256, (24, 20), dtype=np.uint8)


def float_picture_with_nan() -> np.ndarray:
    array = PICTURE.astype(np.float32)
    array[3, 4] = array[5, 6] = np.nan
    return array


def random_bytes_picture(folder: Path) -> Path:
    path = folder / "z_noise.png"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def empty_folder(folder: Path) -> Path:
    path = folder / "z_empty_folder"
    path.mkdir()
    return path


def huge_header(folder: Path) -> Path:
    path = write_volume(folder / "z_huge.nii", random_volume())
    header = bytearray(path.read_bytes())
    header[40:56] = np.array([3, 30000, 30000, 30000, 1, 1, 1, 1], dtype=np.int16).tobytes()  # NIfTI-1 dim[]
    path.write_bytes(bytes(header))
    return path


HUGE = r"the header claims 27000000000000 voxels .* more than the .* GiB of memory available"


def volume_case(name: str, array: np.ndarray):
    def make(folder: Path) -> Path:
        return write_volume(folder / name, array)
    return make


BAD_INPUTS = [
    pytest.param(missing_file, "no such file or folder", id="missing"),
    pytest.param(zero_byte_file, re.escape("file is empty (0 bytes)"), id="zero-byte"),
    pytest.param(truncated_file, "cannot read the image data, the file may be truncated", id="truncated"),
    pytest.param(random_bytes_file, "not a readable NIfTI file", id="random-bytes"),
    pytest.param(text_file, re.escape("not a supported file (expected .nii or .nii.gz or .png"), id="txt"),
    pytest.param(volume_case("z_nan.nii.gz", with_bad_voxels(np.nan)), re.escape("contains 3 NaN or Inf voxel(s)"),
                 id="nan"),
    pytest.param(volume_case("z_inf.nii.gz", with_bad_voxels(np.inf)), re.escape("contains 3 NaN or Inf voxel(s)"),
                 id="inf"),
    pytest.param(volume_case("z_constant.nii.gz", np.full(SHAPE, 42.0)),
                 "cannot normalise, the 0.5 and 99.5 percentiles are equal", id="constant"),
    pytest.param(volume_case("z_flat.nii.gz", np.ones((24, 20))), r"expected a 3D volume or a 4D series, got 2D data",
                 id="2d"),
    pytest.param(volume_case("z_5d.nii.gz", random_volume(shape=(8, 8, 4, 2, 2))),
                 re.escape("expected a 3D volume or a 4D series, got 5D data of shape (8, 8, 4, 2, 2)"), id="5d"),
    pytest.param(huge_header, HUGE, id="huge-header"),
    pytest.param(empty_folder, "folder holds no .nii or .nii.gz or .png or .jpg or .jpeg or .tif or .tiff file",
                 id="empty-folder"),
    pytest.param(picture_case("z_cut.png", [PICTURE], cut=True), re.escape("not a readable picture (OSError"),
                 id="truncated-png"),
    pytest.param(picture_case("z_pages.tif", [PICTURE, PICTURE]), "expected a single 2D picture, got 2 frames",
                 id="multi-page-tiff"),
    pytest.param(random_bytes_picture, re.escape("not a readable picture (UnidentifiedImageError"),
                 id="random-bytes-png"),
    pytest.param(picture_case("z_nan.tif", [float_picture_with_nan()]), re.escape("contains 2 NaN or Inf voxel(s)"),
                 id="nan-float-tiff"),
    pytest.param(picture_case("z_flat.png", [np.full((24, 20), 7, dtype=np.uint8)]),
                 "cannot normalise, the 0.5 and 99.5 percentiles are equal", id="constant-png"),
]


@pytest.fixture
def good_inputs(tmp_path) -> list[Path]:
    return [write_volume(tmp_path / "in" / f"{name}_good.nii.gz", random_volume(seed))
            for seed, name in enumerate("ab")]


def run_prepare(inputs: list[Path], output: Path, *extra: str) -> int:
    return main(["prepare", *map(str, inputs), "--output", str(output), "--size", "16", *extra])


def error_line(stderr: str) -> str:
    """The single error line (a progress bar may precede it on stderr)."""
    lines = [line for line in stderr.splitlines() if ERROR_PREFIX.search(line)]
    assert len(lines) == 1, stderr
    return ERROR_PREFIX.split(lines[0], 1)[1]


@pytest.mark.parametrize("make_bad, problem", BAD_INPUTS)
def test_prepare_refuses_bad_input_and_writes_nothing(tmp_path, good_inputs, capsys, make_bad, problem):
    bad = make_bad(tmp_path / "in")
    output = tmp_path / "out"

    code = run_prepare([*good_inputs, bad], output)

    captured = capsys.readouterr()
    assert code == 2
    assert re.match(re.escape(str(bad)) + ": " + problem, error_line(captured.err))
    assert captured.out == ""
    assert not output.exists()
    assert sorted(os.listdir(tmp_path)) == ["in"], "no staging folder may be left behind"


@pytest.mark.parametrize("make_bad, problem", BAD_INPUTS)
def test_prepare_leaves_an_existing_output_untouched_even_with_overwrite(tmp_path, good_inputs, capsys, make_bad,
                                                                         problem):
    bad = make_bad(tmp_path / "in")
    output = tmp_path / "out"
    output.mkdir()
    (output / "datalist.json").write_text('{"old": true}')

    code = run_prepare([*good_inputs, bad], output, "--overwrite")

    assert code == 2
    assert re.match(re.escape(str(bad)) + ": " + problem, error_line(capsys.readouterr().err))
    assert os.listdir(output) == ["datalist.json"]
    assert (output / "datalist.json").read_text() == '{"old": true}'
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]


def test_prepare_refuses_a_non_empty_output_without_overwrite(tmp_path, good_inputs, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    third = write_volume(tmp_path / "in" / "c_good.nii.gz", random_volume(2))

    code = run_prepare([*good_inputs, third], output)

    assert code == 2
    assert re.match(re.escape(str(output)) + ": folder exists and is not empty", error_line(capsys.readouterr().err))
    assert os.listdir(output) == ["keep.txt"] and (output / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("options, problem", [
    (["--size", "20"], "size must be a positive multiple of 16, got 20"),
    (["--min-foreground", "1.5"], re.escape("min_foreground must be in [0, 1), got 1.5")),
    (["--split", "0.7", "0.2", "0.2"], "split fractions must be three non-negative numbers summing to 1"),
    (["--split-by", "subject"], "split_by 'subject' needs a subject_pattern"),
    (["--percentiles", "99.5", "0.5"], "percentiles must satisfy 0 <= low < high <= 100, got 99.5 0.5"),
    (["--split-by", "subject", "--subject-pattern", "(sub"], "subject pattern '\\(sub' is not a valid regular"),
])
def test_prepare_refuses_bad_parameters(tmp_path, good_inputs, capsys, options, problem):
    third = write_volume(tmp_path / "in" / "c_good.nii.gz", random_volume(2))

    code = run_prepare([*good_inputs, third], tmp_path / "out", *options)

    assert code == 2
    assert re.search(problem, error_line(capsys.readouterr().err))
    assert not (tmp_path / "out").exists()


def test_prepare_with_good_input_succeeds(tmp_path, good_inputs, capsys):
    third = write_volume(tmp_path / "in" / "c_good.nii.gz", random_volume(2))

    code = run_prepare([*good_inputs, third], tmp_path / "out")

    assert code == 0
    assert "wrote 36 slices" in capsys.readouterr().out
    assert (tmp_path / "out" / "datalist.json").is_file()


# --- datalists and volume lists ----------------------------------------------------------------------------


def write_datalist(folder: Path, content) -> Path:
    path = folder / "datalist.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.fixture
def slice_file(tmp_path) -> Path:
    return write_volume(tmp_path / "images" / "s000.nii.gz", random_volume(shape=(16, 16)))


@pytest.mark.parametrize("content, problem", [
    (None, "datalist file not found"),
    ('{"test": [', "not valid JSON"),
    ({"training": [{"image": "images/s000.nii.gz"}]}, re.escape("missing key 'test' (found ['training'])")),
    ({"test": []}, "'test' must be a non-empty list"),
    ({"test": [{"image": "images/s000.nii.gz"}, {"label": "images/s000.nii.gz"}]},
     "entry 1 of 'test' has no 'image' key"),
    ({"test": [{"image": "images/gone.nii.gz"}]}, "entry 0 of 'test' points to a missing file .*gone.nii.gz"),
], ids=["missing-file", "invalid-json", "missing-key", "empty-list", "no-image", "missing-image"])
def test_load_datalist_errors_name_the_datalist(tmp_path, slice_file, content, problem):
    path = write_datalist(tmp_path, content) if content is not None else tmp_path / "datalist.json"

    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + problem):
        load_datalist(path, "test")


def test_load_datalist_resolves_relative_paths(tmp_path, slice_file):
    path = write_datalist(tmp_path, {"test": [{"image": "images/s000.nii.gz", "id": 7}]})

    assert load_datalist(path, "test") == [{"image": str(slice_file), "id": 7}]


def test_list_volumes_refuses_an_empty_folder(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path)) + ": folder holds no .nii or .nii.gz file"):
        list_volumes(tmp_path)


def test_list_volumes_checks_every_header(tmp_path, good_inputs):
    assert list_volumes(tmp_path / "in") == [{"image": str(p), "name": p.name} for p in good_inputs]

    empty = zero_byte_file(tmp_path / "in")
    with pytest.raises(DataError, match=re.escape(f"{empty}: file is empty (0 bytes)")):
        list_volumes([tmp_path / "in"])


# --- the training commands check their inputs before anything runs -------------------------------------------

COMMANDS = {
    "compare": ["compare", "--bundles", "mri_denoising_dncnn"],
    "study": ["study", "length", "--bundle", "mri_denoising_dncnn"],
    "sweep": ["sweep", "configs/sweeps/unet.json"],
    "visualise": ["visualise", "--bundle", "mri_denoising_dncnn", "--weights", "{weights}"],
}
CASES = [(command, "no datalist") for command in COMMANDS] + [
    ("compare", "missing noise profile"), ("study", "missing noise profile"), ("visualise", "missing weights"),
    ("compare", "profile not JSON"), ("compare", "profile noise without type"), ("study", "profile noise without level"),
    ("compare", "unknown bundle"), ("study", "unknown bundle"), ("visualise", "unknown bundle"),
    ("compare", "another network's weights"), ("visualise", "another network's weights"),
    *[(command, "data of another modality") for command in COMMANDS]]


@pytest.mark.parametrize("command, case", CASES)
def test_training_commands_name_missing_inputs(command, case, tiny_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"")
    args = [a.replace("{weights}", str(weights)) for a in COMMANDS[command]]
    data, output = tiny_dataset, tmp_path / "out"
    if case == "no datalist":
        data, named, problem = tmp_path / "empty", tmp_path / "empty" / "datalist.json", "datalist file not found"
    elif case == "missing noise profile":
        args += ["--noise-profile", str(tmp_path / "rician.json")]
        named, problem = tmp_path / "rician.json", "noise profile not found"
    elif case.startswith("profile"):
        named = tmp_path / "profile.json"
        named.write_text({"profile not JSON": "{'noise': 1}",
                          "profile noise without type": '{"noise": {"sigma": 0.1, "seed": 1}}',
                          "profile noise without level": '{"noise": {"type": "low_dose_ct", "seed": 1}}'}[case])
        args += ["--noise-profile", str(named)]
        problem = {"profile not JSON": "not a readable noise profile",
                   "profile noise without type": "noise: noise section {'sigma': 0.1, 'seed': 1}: 'type' must be one of",
                   "profile noise without level": "low_dose_ct noise needs 'i0'"}[case]
    elif case == "missing weights":
        weights.unlink()
        named, problem = weights, "weights not found"
    elif case == "data of another modality":
        data = tmp_path / "ct"
        shutil.copytree(tiny_dataset, data)
        (data / "provenance.json").write_text('{"modality": "ct"}')
        named, problem = data, "bundle but"
    elif case == "another network's weights":
        torch.save(torch.nn.Conv2d(1, 1, 3).state_dict(), weights)
        if command == "compare":
            args += ["--weights", f"mri_denoising_dncnn={weights}"]
        named, problem = weights, "cannot load these weights"
    else:
        args = [a.replace("mri_denoising_dncnn", "mri_denoising_nonet") for a in args]
        named, problem = "mri_denoising_nonet", "unknown bundle"

    code = main([*args, "--data", str(data), "--output", str(output)])

    assert code == 2
    line = error_line(capsys.readouterr().err)
    assert str(named) in line and problem in line
    assert not output.exists()


# --- per-file problems come before whole-dataset ones; small datasets; a light command line -------------------


@pytest.mark.parametrize("make_bad, problem", BAD_INPUTS)
def test_prepare_names_a_bad_input_given_alone_not_the_split(tmp_path, capsys, make_bad, problem):
    (tmp_path / "in").mkdir()
    bad = make_bad(tmp_path / "in")  # alone: too few volumes for the default split as well

    code = run_prepare([bad], tmp_path / "out")

    assert code == 2
    assert re.match(re.escape(str(bad)) + ": " + problem, error_line(capsys.readouterr().err))
    assert not (tmp_path / "out").exists()


def test_prepare_one_scan_with_the_default_split_says_what_to_pass(tmp_path, good_inputs, capsys):
    code = run_prepare(good_inputs[:1], tmp_path / "out")

    line = error_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("1 volume cannot fill 3 splits (0.7, 0.15, 0.15): ")
    assert "--split 1 0 0" in line and "np.float64" not in line
    assert not (tmp_path / "out").exists()

    assert run_prepare(good_inputs[:1], tmp_path / "out", "--split", "1", "0", "0") == 0
    assert "wrote 12 slices to" in capsys.readouterr().out


def test_version_prints_the_package_version(capsys):
    from monai_denoise import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"monai-denoise {__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["prepare", "--help"], ["compare", "--help"], ["--version"]])
def test_help_and_version_import_neither_torch_nor_monai(argv):
    import subprocess
    import sys

    code = ("import sys\nfrom monai_denoise.cli import main\ntry:\n    main(%r)\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\nheavy = sorted(m for m in ('torch', 'monai', 'pandas', 'nibabel') "
            "if m in sys.modules)\nprint('HEAVY', heavy)\n" % (argv,))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY []"


def test_compare_without_bundles_compares_every_bundle_of_the_datas_modality(tiny_dataset, tmp_path, monkeypatch):
    import monai_denoise.compare
    from monai_denoise.bundle import BUNDLES
    from monai_denoise.compare import compared_bundles, dataset_modality

    seen = []
    monkeypatch.setattr(monai_denoise.compare, "run_compare", lambda data, output, config: seen.append(config))

    assert main(["compare", "--data", str(tiny_dataset), "--output", str(tmp_path / "out")]) == 0
    assert [(c.bundles, c.noise_levels) for c in seen] == [((), ())], "run_compare picks the modality's defaults"
    modality = dataset_modality(tiny_dataset)
    assert compared_bundles((), modality, tiny_dataset) == tuple(b for b in BUNDLES if b.startswith("mri_"))


@pytest.mark.parametrize("kind, options, problem", [
    ("length", ["--epochs", "0", "2"], "snapshot epochs must be at least 1, got 0"),
    ("size", ["--sizes", "0", "4"], "training-set sizes must be at least 1, got 0"),
    ("size", ["--epochs", "0"], "epochs must be at least 1, got 0")])
def test_a_study_that_would_train_nothing_is_refused_before_anything_is_written(kind, options, problem, tiny_dataset,
                                                                                tmp_path, capsys):
    output = tmp_path / "out"
    assert main(["study", kind, "--data", str(tiny_dataset), "--output", str(output), *options]) == 2
    assert error_line(capsys.readouterr().err).startswith(problem)
    assert not output.exists()
