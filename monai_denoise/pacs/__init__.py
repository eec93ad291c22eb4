"""The hospital's loop: DICOM from a PACS, denoised by a bundle, back into the PACS as a derived series.

- :mod:`.bundle_runner`: one bundle's ``inference.json`` run on a DICOM series folder, in process.
- :mod:`.dicomweb`: pull a study's series over DICOMweb (WADO-RS), denoise, push the derived series (STOW-RS).
- :mod:`.listener`: a DICOM storage SCP that spools what it receives, denoises each complete series and forwards the
  derived series by C-STORE, losing nothing when killed.
"""
