"""`data_prep`: volumes -> normalised 2D slices, split by volume or subject, with datalist, manifest, provenance."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data_prep import PrepareConfig, prepare_dataset, sample_volumes
from data_prep.sources import SourceVolume
from data_prep.splits import SPLITS, assign_splits, split_counts
from data_prep.sources import SAMPLE_PHOTOGRAPHS
from monai_denoise.volumes import check_input
from monai_denoise.errors import DataError

SHAPE = (24, 20, 12)  # x, y, z; axial slices are 24 x 20
SIZE = 16
MANIFEST_COLUMNS = ["image", "source_file", "volume_id", "subject_id", "axis", "index", "timepoint", "split",
                    "lower_value", "upper_value", "height", "width"]


def write_volume(path: Path, array: np.ndarray, affine: np.ndarray = np.eye(4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array, dtype=np.float32), affine), str(path))
    return path


def random_volume(seed: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """Positive intensities everywhere, so every slice counts as foreground."""
    return np.random.default_rng(seed).uniform(20.0, 100.0, shape).astype(np.float32)


def make_config(**changes) -> PrepareConfig:
    return PrepareConfig(**{"size": SIZE, "command": ["pytest"], **changes})


def read_slice(path: Path) -> np.ndarray:
    image = nib.load(str(path))
    assert image.get_data_dtype() == np.float32
    return np.asanyarray(image.dataobj)


def staging_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Four 3D volumes and one 4D series with two frames (files written once per module)."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = {f"vol_{name}": write_volume(folder / f"vol_{name}.nii.gz", random_volume(seed))
             for seed, name in enumerate("abcd")}
    paths["series"] = write_volume(folder / "series.nii.gz", random_volume(9, SHAPE + (2,)))
    return paths


@pytest.fixture(scope="module")
def prepared(inputs, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    output = tmp_path_factory.mktemp("prepared") / "dataset"
    manifest = prepare_dataset([SourceVolume(p) for p in inputs.values()], output, make_config())
    return output, manifest


@pytest.fixture
def one_volume(tmp_path) -> list[SourceVolume]:
    """A single volume pinned to training, the cheapest valid input."""
    return [SourceVolume(write_volume(tmp_path / "in" / "solo.nii.gz", random_volume(1)), "training")]


# --- prepare_dataset: files written ----------------------------------------------------------------------------


def test_datalist_lists_existing_relative_slice_paths_per_split(prepared):
    output, manifest = prepared
    datalist = json.loads((output / "datalist.json").read_text())

    assert sorted(datalist) == sorted(SPLITS)
    for split in SPLITS:
        images = [entry["image"] for entry in datalist[split]]
        assert images, f"{split} is empty"
        assert all(not Path(image).is_absolute() and (output / image).is_file() for image in images)
        assert sorted(images) == sorted(manifest.loc[manifest.split == split, "image"])
    listed = sum(len(entries) for entries in datalist.values())
    assert listed == len(list((output / "images").glob("*.nii.gz"))) == len(manifest)


def test_manifest_csv_has_one_row_per_slice_with_the_documented_columns(prepared, inputs):
    output, returned = prepared
    manifest = pd.read_csv(output / "manifest.csv")

    assert set(MANIFEST_COLUMNS) <= set(manifest.columns)
    assert manifest["image"].tolist() == returned["image"].tolist()
    assert set(manifest.source_file) == {str(p) for p in inputs.values()}
    assert set(manifest.volume_id) == set(inputs)
    assert set(manifest.axis) == {"axial"}
    assert set(manifest.height) == set(manifest.width) == {SIZE}
    assert (manifest.lower_value < manifest.upper_value).all()
    # every axial slice of every frame is kept: 12 per 3D volume, 2 x 12 for the series
    assert manifest.groupby("volume_id").size().to_dict() == {**{v: 12 for v in inputs if v != "series"},
                                                              "series": 24}
    series = manifest[manifest.volume_id == "series"]
    assert sorted(set(series.timepoint)) == [0, 1]
    assert sorted(series[series.timepoint == 1]["index"]) == list(range(SHAPE[2]))
    assert set(manifest[manifest.volume_id != "series"].timepoint) == {0}


def test_every_slice_is_a_float32_square_in_unit_range(prepared):
    output, manifest = prepared
    for image in manifest.image:
        data = read_slice(output / image)
        assert data.shape == (SIZE, SIZE), image
        assert data.dtype == np.float32
        assert 0.0 <= data.min() and data.max() <= 1.0 and data.max() > data.min(), image


@pytest.mark.parametrize("volume, timepoint, index", [("vol_b", 0, 5), ("series", 1, 0), ("series", 0, 11)])
def test_slice_is_the_normalised_centre_crop_of_its_plane(prepared, inputs, volume, timepoint, index):
    output, manifest = prepared
    row = manifest[(manifest.volume_id == volume) & (manifest.timepoint == timepoint)
                   & (manifest["index"] == index)].iloc[0]
    data = nib.load(str(inputs[volume])).get_fdata(dtype=np.float32)
    plane = (data[..., timepoint] if data.ndim == 4 else data)[:, :, index]

    expected = np.clip((plane - row.lower_value) / (row.upper_value - row.lower_value), 0.0, 1.0)
    x0, y0 = (SHAPE[0] - SIZE) // 2, (SHAPE[1] - SIZE) // 2

    np.testing.assert_allclose(read_slice(output / row.image), expected[x0:x0 + SIZE, y0:y0 + SIZE], atol=1e-5)


def test_slices_are_cut_after_reorientation_to_ras_and_keep_the_in_plane_spacing(tmp_path):
    array = random_volume(4)
    las = np.diag([-2.0, 3.0, 4.0, 1.0])  # x runs right-to-left in the file
    sources = [SourceVolume(write_volume(tmp_path / "in" / "las.nii.gz", array, las), "training")]

    manifest = prepare_dataset(sources, tmp_path / "out", make_config())

    row = manifest[manifest["index"] == 7].iloc[0]
    ras = array[::-1]
    expected = np.clip((ras[:, :, 7] - row.lower_value) / (row.upper_value - row.lower_value), 0.0, 1.0)
    x0, y0 = (SHAPE[0] - SIZE) // 2, (SHAPE[1] - SIZE) // 2
    written = nib.load(str(tmp_path / "out" / row.image))
    np.testing.assert_allclose(np.asanyarray(written.dataobj), expected[x0:x0 + SIZE, y0:y0 + SIZE], atol=1e-5)
    np.testing.assert_allclose(written.header.get_zooms()[:2], (2.0, 3.0))


def write_picture(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_a_colour_picture_is_cut_into_normalised_grey_tiles(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    path = write_picture(tmp_path / "in" / "photo.png", rgb)

    manifest = prepare_dataset([SourceVolume(path, "training")], tmp_path / "out", make_config())

    # 40 x 50 in 16 x 16 tiles: rows at 0 and 16, columns at 0, 16 and 32; the rest of the edges is dropped
    assert manifest["index"].tolist() == list(range(6))
    assert set(manifest.axis) == {"tile"} and set(manifest.volume_id) == {"photo"}
    grey = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    row = manifest.iloc[4]  # second row of tiles, second column
    expected = np.clip((grey - row.lower_value) / (row.upper_value - row.lower_value), 0.0, 1.0)[16:32, 16:32]
    written = nib.load(str(tmp_path / "out" / row.image))
    np.testing.assert_allclose(np.asanyarray(written.dataobj), expected, atol=1e-5)
    np.testing.assert_allclose(written.header.get_zooms()[:2], (1.0, 1.0))


def test_a_16_bit_picture_keeps_its_values_and_a_small_one_is_padded(tmp_path):
    array = np.zeros((12, 10), dtype=np.uint16)
    array[2:10, 2:8] = np.arange(48, dtype=np.uint16).reshape(8, 6) * 1000 + 5000
    path = write_picture(tmp_path / "in" / "xray.png", array)

    manifest = prepare_dataset([SourceVolume(path, "training")], tmp_path / "out", make_config(percentiles=(0, 100)))

    assert len(manifest) == 1 and manifest.iloc[0].upper_value == 52000.0
    data = read_slice(tmp_path / "out" / manifest.iloc[0].image)
    assert data.shape == (SIZE, SIZE)
    np.testing.assert_allclose(data[2:14, 3:13], array / 52000.0, atol=1e-6)
    assert data[:2].max() == 0.0 and data[:, :3].max() == 0.0


def test_volumes_and_pictures_mix_in_one_dataset(tmp_path, one_volume):
    picture = write_picture(tmp_path / "in" / "gravel.jpg",
                            np.random.default_rng(5).integers(0, 256, (32, 32), dtype=np.uint8))

    manifest = prepare_dataset([*one_volume, SourceVolume(picture, "training")], tmp_path / "out", make_config())

    assert manifest.groupby("volume_id").axis.first().to_dict() == {"gravel": "tile", "solo": "axial"}
    assert manifest.groupby("volume_id").size().to_dict() == {"gravel": 4, "solo": SHAPE[2]}


def test_provenance_records_parameters_sources_and_package_versions(prepared, inputs):
    output, _ = prepared
    provenance = json.loads((output / "provenance.json").read_text())
    datalist = json.loads((output / "datalist.json").read_text())

    config = make_config()
    expected = json.loads(json.dumps({k: v for k, v in dataclasses.asdict(config).items() if k != "command"}))
    assert provenance["parameters"] == expected
    assert provenance["parameters"]["size"] == SIZE
    assert provenance["command"] == ["pytest"]
    assert provenance["sources"] == [str(p) for p in inputs.values()]
    assert provenance["slices_per_split"] == {split: len(datalist[split]) for split in SPLITS}
    assert datetime.fromisoformat(provenance["created"]).tzinfo is not None
    versions = provenance["package_versions"]
    for package in ("monai", "torch", "nibabel", "numpy"):
        assert versions[package] == version(package)
    assert versions["python"].count(".") == 2


# --- splits --------------------------------------------------------------------------------------------------


def test_no_volume_is_split_across_sets_and_series_frames_stay_together(prepared):
    _, manifest = prepared

    assert (manifest.groupby("volume_id").split.nunique() == 1).all()
    assert set(manifest.split) == set(SPLITS)
    series = manifest[manifest.volume_id == "series"]
    assert series.timepoint.nunique() == 2 and series.split.nunique() == 1


def test_split_by_subject_keeps_each_subject_in_one_split(tmp_path):
    sources = [SourceVolume(write_volume(tmp_path / "in" / f"sub-0{s}_run-{r}.nii.gz", random_volume(10 * s + r,
                                                                                                  (20, 20, 3))))
               for s in range(1, 5) for r in (1, 2)]
    config = make_config(split_by="subject", subject_pattern=r"(sub-\d+)_run")

    manifest = prepare_dataset(sources, tmp_path / "out", config)

    assert set(manifest.subject_id) == {"sub-01", "sub-02", "sub-03", "sub-04"}
    assert manifest.volume_id.nunique() == 8
    assert (manifest.groupby("subject_id").split.nunique() == 1).all()
    assert manifest.groupby("split").subject_id.nunique().to_dict() == {"training": 2, "validation": 1, "test": 1}


def test_subject_pattern_that_does_not_match_names_the_file(one_volume, tmp_path):
    config = make_config(split_by="subject", subject_pattern=r"sub-(\d+)")

    with pytest.raises(DataError, match=r"solo\.nii\.gz: subject pattern .* does not match"):
        prepare_dataset(one_volume, tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_prepare_split_is_reproducible_for_the_same_seed(prepared, inputs, tmp_path):
    _, first = prepared

    again = prepare_dataset([SourceVolume(p) for p in inputs.values()], tmp_path / "again", make_config())

    assert again[["image", "split"]].equals(first[["image", "split"]])


def test_assign_splits_is_reproducible_order_independent_and_seed_dependent():
    groups = [f"subject{i:02d}" for i in range(20)]

    first = assign_splits(groups, (0.7, 0.15, 0.15), seed=3)

    assert assign_splits(list(reversed(groups)) + groups[:5], (0.7, 0.15, 0.15), seed=3) == first
    assert sorted(first) == groups
    assert sorted(first.values()).count("training") == 14
    assert any(assign_splits(groups, (0.7, 0.15, 0.15), seed=s) != first for s in (4, 5, 6))


@pytest.mark.parametrize("n, fractions, expected", [
    (10, (0.7, 0.15, 0.15), (7, 2, 1)),
    (3, (0.7, 0.15, 0.15), (1, 1, 1)),
    (5, (0.7, 0.15, 0.15), (3, 1, 1)),
    (4, (0.5, 0.5, 0.0), (2, 2, 0)),
    (7, (1.0, 0.0, 0.0), (7, 0, 0)),
])
def test_split_counts(n, fractions, expected):
    assert split_counts(n, fractions) == expected


@pytest.mark.parametrize("n", range(4, 31))  # n = 3 is forced to (1, 1, 1), tested above
def test_split_counts_fill_every_split_and_sum_to_n(n):
    counts = split_counts(n, (0.7, 0.15, 0.15))

    assert sum(counts) == n
    assert min(counts) >= 1
    assert abs(counts[0] - 0.7 * n) <= 1


@pytest.mark.parametrize("n, fractions, start", [
    (2, (0.7, 0.15, 0.15), "2 volumes cannot fill 3 splits (0.7, 0.15, 0.15): "),
    (1, (0.8, 0.2, 0.0), "1 volume cannot fill 2 splits (0.8, 0.2, 0): "),
    (0, (1.0, 0.0, 0.0), "0 volumes cannot fill 1 split (1, 0, 0): "),
    (2, np.array([0.7, 0.15, 0.15]), "2 volumes cannot fill 3 splits (0.7, 0.15, 0.15): "),
])
def test_split_counts_refuses_fewer_groups_than_splits_in_plain_numbers(n, fractions, start):
    with pytest.raises(DataError) as raised:
        split_counts(n, fractions)

    assert str(raised.value).startswith(start)
    assert "np." not in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("n, fractions, advice", [
    (1, (0.7, 0.15, 0.15), "give at least 3 volumes, or --split 1 0 0 for training slices only"),
    (1, (0.5, 0.5, 0.0), "give at least 2 volumes, or --split 1 0 0 for training slices only"),
    (2, (0.7, 0.15, 0.15), "give at least 3 volumes, or --split 0.5 0.5 0 for training and validation only"),
])
def test_too_few_volumes_for_the_split_says_which_split_works(n, fractions, advice):
    with pytest.raises(DataError, match=re.escape(advice)):
        split_counts(n, fractions)


def test_too_few_subjects_are_called_subjects():
    with pytest.raises(DataError, match=r"^2 subjects cannot fill 3 splits .* every split needs a subject of its own"):
        assign_splits(["s1", "s2", "s2"], (0.7, 0.15, 0.15), seed=0, unit="subject")


def test_bad_split_fractions_print_as_plain_numbers_and_are_checked_with_the_parameters():
    with pytest.raises(DataError, match=re.escape("got 0.5, 0.5, 0.5")) as raised:
        split_counts(10, np.array([0.5, 0.5, 0.5]))
    assert "np." not in str(raised.value)

    with pytest.raises(DataError, match="split fractions must be"):
        make_config(fractions=(0.7, 0.2, 0.2)).validate()


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (0.5, 0.5)])
def test_split_counts_refuses_bad_fractions(fractions):
    with pytest.raises(DataError, match="split fractions must be"):
        split_counts(10, fractions)


def test_prepare_refuses_too_few_volumes_for_the_splits(inputs, tmp_path):
    sources = [SourceVolume(inputs["vol_a"]), SourceVolume(inputs["vol_b"])]

    with pytest.raises(DataError, match="2 volume"):
        prepare_dataset(sources, tmp_path / "out", make_config())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["constant", "nan"])
def test_a_bad_volume_is_named_before_the_split_is_judged(inputs, tmp_path, bad):
    array = np.full(SHAPE, 42.0) if bad == "constant" else random_volume(5)
    if bad == "nan":
        array[0, 0, 0] = np.nan
    bad_path = write_volume(tmp_path / "in" / f"{bad}.nii.gz", array)
    problem = "cannot normalise" if bad == "constant" else re.escape("contains 1 NaN or Inf voxel(s)")

    for sources in ([bad_path], [inputs["vol_a"], bad_path]):  # too few for the default split either way
        with pytest.raises(DataError, match=re.escape(str(bad_path)) + ": " + problem):
            prepare_dataset([SourceVolume(p) for p in sources], tmp_path / "out", make_config())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("names, splits", [(["vol_a"], {"training"}),
                                          (["vol_a", "vol_b"], {"training", "validation"})])
def test_the_split_that_the_too_few_message_advises_works(inputs, tmp_path, names, splits):
    sources = [SourceVolume(inputs[name]) for name in names]
    with pytest.raises(DataError) as raised:
        prepare_dataset(sources, tmp_path / "refused", make_config())
    advised = re.search(r"--split ([\d.]+) ([\d.]+) ([\d.]+)", str(raised.value))
    assert advised, str(raised.value)

    manifest = prepare_dataset(sources, tmp_path / "out", make_config(fractions=tuple(map(float, advised.groups()))))

    assert set(manifest.split) == splits
    assert manifest.groupby("split").volume_id.nunique().eq(1).all()
    datalist = json.loads((tmp_path / "out" / "datalist.json").read_text())
    assert [bool(datalist[split]) for split in SPLITS] == [split in splits for split in SPLITS]


def test_constant_tiles_such_as_a_saturated_band_are_skipped(tmp_path):
    """A radiograph's saturated (or unexposed) area has no structure and a clipped clean value: not a test image."""
    array = np.random.default_rng(4).integers(1000, 30000, (48, 32), dtype=np.uint16)
    array[:16] = 65535  # the first row of 16 x 16 tiles is saturated
    array[16:32, :16] = 65535  # and the first tile of the second row
    path = write_picture(tmp_path / "in" / "xray.png", array)

    manifest = prepare_dataset([SourceVolume(path, "training")], tmp_path / "out", make_config(percentiles=(0, 100)))

    assert manifest["index"].tolist() == [3, 4, 5]


def test_an_mri_volume_joins_a_ct_dataset_by_mri_intensities_keeping_evenly_spaced_slices(tmp_path):
    """No Hounsfield units in an MR volume: its own percentile mapping puts it on the CT window's [0, 1] scale."""
    array = random_volume(3, (16, 16, 10)) * 10  # 200 to 1000: as HU it would sit near the window's top
    array[..., 0] = 0.0  # an empty slice, skipped before the subset is taken
    mri = write_volume(tmp_path / "in" / "t1.nii.gz", array)
    config = make_config(modality="ct", percentiles=(0, 100))

    manifest = prepare_dataset([SourceVolume(mri, "training", intensity="mri", slices=4)], tmp_path / "out", config)

    assert manifest["index"].tolist() == [1, 4, 6, 9], "4 of the 9 slices with structure, evenly spaced"
    np.testing.assert_allclose(read_slice(tmp_path / "out" / manifest.image[1]), array[..., 4] / array.max(),
                               rtol=1e-6, err_msg="MRI's 0 / 100 percentiles map it to [0, 1]")
    as_hu = prepare_dataset([SourceVolume(mri, "training")], tmp_path / "as_hu", config)
    assert len(as_hu) == 9 and set(as_hu.lower_value) == {-1000.0}, "without it the volume is read as HU"
    with pytest.raises(DataError, match="t1.nii.gz: cannot keep 0 slices"):
        SourceVolume(mri, "training", intensity="mri", slices=0)


# --- foreground threshold ------------------------------------------------------------------------------------


@pytest.mark.parametrize("min_foreground, kept", [
    (0.05, range(2, 9)),   # slice 2 has 10 % foreground, slice 9 only 2 %
    (0.2, range(3, 9)),
    (0.0, range(2, 10)),   # only the constant (empty) slices 0, 1, 10 and 11 are skipped
])
def test_slices_below_the_foreground_threshold_are_skipped(tmp_path, min_foreground, kept):
    array = np.zeros(SHAPE, dtype=np.float32)
    array[:, :, 3:9] = random_volume(2, SHAPE[:2] + (6,))
    array[:, :2, 2] = 80.0   # 2 of 20 columns: 10 % of the plane
    array[:10, 0, 9] = 80.0  # 10 of 480 pixels: about 2 %
    sources = [SourceVolume(write_volume(tmp_path / "in" / "padded.nii.gz", array), "training")]

    manifest = prepare_dataset(sources, tmp_path / "out", make_config(min_foreground=min_foreground))

    assert manifest["index"].tolist() == list(kept)
    assert len(list((tmp_path / "out" / "images").iterdir())) == len(kept)


def test_a_split_left_without_slices_is_refused_naming_its_volume_and_nothing_is_written(tmp_path):
    """A test volume whose every slice is (nearly) empty would leave an empty test set: refused, not written."""
    faint = np.zeros(SHAPE, dtype=np.float32)
    faint[:3, :3, :] = random_volume(4, (3, 3, SHAPE[2])) + 10.0  # under 2 % of every slice
    sources = [SourceVolume(write_volume(tmp_path / "in" / "train.nii.gz", random_volume(1)), "training"),
               SourceVolume(write_volume(tmp_path / "in" / "val.nii.gz", random_volume(2)), "validation"),
               SourceVolume(write_volume(tmp_path / "in" / "faint.nii.gz", faint), "test")]

    with pytest.raises(DataError, match="the test split would be empty: no slice of faint has 5% of pixels"):
        prepare_dataset(sources, tmp_path / "out", make_config())
    assert not (tmp_path / "out").exists()


# --- embedded sample -----------------------------------------------------------------------------------------


def test_sample_volumes_are_the_files_shipped_with_installed_packages():
    sample = sample_volumes()
    photographs = len(SAMPLE_PHOTOGRAPHS)

    assert [s.split for s in sample] == ["training"] * (3 + photographs) + ["validation"] * 2 + ["test"]
    expected = [("nilearn", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", (197, 233, 189)),
                ("dipy", "test_piesno.nii.gz", (96, 96, 14)),
                ("pyradiomics-3.0.1", "brain1_image.nii.gz", (256, 256, 25)),
                *(("skimage", name, None) for name in SAMPLE_PHOTOGRAPHS),
                ("dipy", "S0_10slices.nii.gz", (128, 128, 10, 1)),
                ("pyradiomics-3.0.1", "brain2_image.nii.gz", (256, 256, 23)),
                ("nibabel", "example4d.nii.gz", (128, 96, 24, 2))]
    for source, (package, name, shape) in zip(sample, expected, strict=True):
        assert source.path.is_file()
        assert source.path.name == name
        assert package in source.path.parts
        found = check_input(source.path)
        assert found == shape if shape else min(found) >= 192, name


def test_ct_sample_keeps_one_real_scan_per_split_and_records_its_terms(tmp_path):
    from data_prep.sources import ct_sample_volumes

    sample = ct_sample_volumes()
    assert {s.path.name: s.split for s in sample} == {
        "eCT_Supplemental.dcm": "training", "J2K_pixelrep_mismatch.dcm": "training", "cxr.nii.gz": "training",
        "lung1_image.nii.gz": "training", "explicit_VR-UN.dcm": "validation", "lung2_image.nii.gz": "validation",
        "bad_sequence.dcm": "test"}
    assert not any(s.path.name.startswith("693_") for s in sample), "CQ500 (non-commercial) stays out"
    assert "CC BY 3.0" in next(s.terms for s in sample if s.path.name == "cxr.nii.gz"), "LIDC's attribution"
    manifest = prepare_dataset(sample, tmp_path / "ct", PrepareConfig(modality="ct", size=512))
    assert manifest.groupby("split").volume_id.unique().map(sorted).to_dict() == {
        "test": ["bad_sequence"], "training": ["J2K_pixelrep_mismatch", "cxr", "eCT_Supplemental", "lung1_image"],
        "validation": ["explicit_VR-UN", "lung2_image"]}
    assert manifest.volume_id.value_counts()[["cxr", "lung1_image", "lung2_image"]].tolist() == [24, 12, 4]
    assert (manifest.height == 512).all() and set(manifest.lower_value) == {-1000.0}
    chest = nib.load(str(tmp_path / "ct" / manifest.image[manifest.volume_id == "cxr"].iloc[0])).get_fdata()
    assert chest.min() * 2000 - 1000 == pytest.approx(-1024), "LIDC's -2048 padding is air, as from DICOM"
    test_slice = nib.load(str(tmp_path / "ct" / manifest.image[manifest.split == "test"].iloc[0]))
    hu = test_slice.get_fdata() * 2000 - 1000
    assert hu.min() >= -1024 and np.median(hu[hu > -200]) == pytest.approx(40, abs=40), "soft tissue in HU"
    np.testing.assert_allclose(test_slice.header.get_zooms(), (0.2871, 0.2871), atol=1e-3)
    provenance = json.loads((tmp_path / "ct" / "provenance.json").read_text())
    assert provenance["modality"] == "ct"
    assert set(provenance["source_terms"]) == {str(s.path) for s in sample}


def test_xray_sample_tests_on_a_radiograph_no_split_shares(tmp_path):
    from data_prep.sources import xray_sample_volumes

    sample = xray_sample_volumes()
    splits = {}
    for source in sample:
        splits.setdefault(source.split, []).append(source.path.name)
    assert splits["test"] == ["RG3_UNCR.dcm"] and {"RG1_UNCR.dcm", "leeds.png"} <= set(splits["training"])
    assert "pipspro.png" in splits["validation"]
    assert not set(splits["training"]) & set(splits["validation"])
    assert all(s.path.is_file() and s.terms for s in sample)
    projected = sorted((s.path.name, s.projection) for s in sample if s.projection)
    assert projected == sorted((name, view) for name in ("cxr.nii.gz", "lung1_image.nii.gz", "lung2_image.nii.gz")
                               for view in ("ap", "lateral"))
    assert {s.split for s in sample if s.projection} == {"training"}


# --- output folder -------------------------------------------------------------------------------------------


def test_existing_output_is_refused_without_overwrite_and_left_untouched(one_volume, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("old result")

    with pytest.raises(FileExistsError, match="not empty"):
        prepare_dataset(one_volume, output, make_config())

    assert [p.name for p in output.iterdir()] == ["keep.txt"]
    assert (output / "keep.txt").read_text() == "old result"
    assert staging_leftovers(tmp_path) == []


def test_existing_output_is_replaced_with_overwrite(one_volume, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("old result")

    manifest = prepare_dataset(one_volume, output, make_config(), overwrite=True)

    assert sorted(p.name for p in output.iterdir()) == ["datalist.json", "images", "manifest.csv", "provenance.json"]
    assert len(list((output / "images").iterdir())) == len(manifest) == SHAPE[2]
    assert staging_leftovers(tmp_path) == []


def test_existing_empty_output_folder_is_used(one_volume, tmp_path):
    output = tmp_path / "out"
    output.mkdir()

    prepare_dataset(one_volume, output, make_config())

    assert (output / "datalist.json").is_file()
