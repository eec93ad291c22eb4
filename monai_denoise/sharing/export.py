"""Export a bundle's network to TorchScript with MONAI's ``ckpt_export`` and check it against the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from monai.bundle import ckpt_export

from ..atomic import atomic_path
from ..errors import DataError
from .package import INFERENCE, METADATA, WEIGHTS, network_with_weights

CHECK_SIZE = (64, 64)
"""Size of the seeded test slice: 64x64 fits every project bundle (H and W multiples of 8; the VAE's roi_size)."""
TOLERANCE = 1e-5


def export_bundle(bundle_dir: Path, output: Path | None = None) -> Path:
    """Export ``network_def`` of ``configs/inference.json`` with ``models/model.pt`` loaded to TorchScript.

    MONAI's ``ckpt_export`` scripts the network in eval mode (``convert_to_torchscript``) and embeds
    ``metadata.json`` and ``inference.json`` as extra files of the TorchScript archive. The exported file is
    loaded back with ``torch.jit.load`` and must give the checkpoint-loaded network's output (eval mode) on a
    seeded random ``(1, C, *CHECK_SIZE)`` slice in [0, 1) within ``TOLERANCE``, C the input channels in
    ``metadata.json`` (2 for a noise-level-conditioned network); only then is ``output`` written.

    Args:
        bundle_dir: the bundle folder (``configs/inference.json``, ``configs/metadata.json``, ``models/model.pt``).
        output: the TorchScript file. Default None: ``bundle_dir/models/model.ts``.

    Returns:
        the path of the TorchScript file.

    Raises:
        DataError: a missing file, weights that are not a state dict or do not fit the network, a network that
            cannot be scripted, or an exported module whose output differs (or is not a tensor).
    """
    bundle_dir = Path(bundle_dir)
    config_file, meta_file, weights = bundle_dir / INFERENCE, bundle_dir / METADATA, bundle_dir / WEIGHTS
    for path in (config_file, meta_file):
        if not path.is_file():
            raise DataError(f"{path}: not found")
    if not weights.is_file():
        raise DataError(f"{weights}: weights not found; train the bundle first, or copy the weights there")
    output = Path(output) if output is not None else bundle_dir / "models" / "model.ts"
    network = network_with_weights(bundle_dir, weights)
    channels = json.loads(meta_file.read_text())["network_data_format"]["inputs"]["image"]["num_channels"]
    test_slice = torch.rand((1, channels, *CHECK_SIZE), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = network.eval()(test_slice)
    with atomic_path(output, suffix=".ts") as partial:
        try:
            ckpt_export(net_id="network_def", filepath=str(partial), ckpt_file=str(weights), meta_file=str(meta_file),
                        config_file=str(config_file), bundle_root=str(bundle_dir))
        except RuntimeError as err:
            raise DataError(f"{config_file}: network_def cannot be exported to TorchScript: {err}") from err
        with torch.no_grad():
            actual = torch.jit.load(str(partial), map_location="cpu")(test_slice)
        if not isinstance(actual, torch.Tensor):
            raise DataError(f"{output}: the exported network returns {type(actual).__name__}, not a tensor "
                            "(not exported in eval mode)")
        difference = (actual - expected).abs().max().item()
        if difference > TOLERANCE:
            raise DataError(f"{output}: TorchScript output differs from the checkpoint's by {difference:.2e} "
                            f"(more than {TOLERANCE:g})")
    return output
