"""DICOM files made with pydicom, for the reader's and the predict command's tests."""

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset


def make_dataset(pixels, *, photometric="MONOCHROME2", bits_stored=12, **elements):
    """An uncompressed single-frame DX dataset holding `pixels` (2-D ints)."""
    pixels = np.asarray(pixels)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = uid.DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    signed = pixels.dtype.kind == "i"
    ds.BitsAllocated = 8 if pixels.dtype.itemsize == 1 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits_stored, bits_stored - 1, int(signed)
    ds.PixelData = pixels.tobytes()
    for key, value in elements.items():
        setattr(ds, key, value)
    return ds


def save(ds, path):
    """Writes `ds` to `path` as a DICOM file (with its preamble) and returns `path`."""
    ds.save_as(path, enforce_file_format=True)
    return path
