"""`cxr.data.dicom`: DICOM files made here with pydicom, checked against hand computations."""

import io

import gdcm
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.pixels.decoders.base import Decoder

from cxr.data import dicom
from cxr.errors import UserError
from tests.helpers.dicom_files import make_dataset, save

# float32 output of float64 arithmetic: 255 * 2**-24 is far below this.
EXACT = 1e-4


def read(ds, tmp_path, name="image.dcm"):
    return dicom.read_gray(save(ds, tmp_path / name))


RAMP = np.arange(48 * 40, dtype=np.uint16).reshape(48, 40) * 2  # 0..3838, 12 bits


def test_no_window_stretches_the_image_range(tmp_path):
    gray = read(make_dataset(RAMP + 100), tmp_path)
    assert gray.dtype == np.float32 and gray.shape == RAMP.shape
    np.testing.assert_allclose(gray, RAMP / RAMP.max() * 255, atol=EXACT)


def test_monochrome1_is_the_inverse_of_monochrome2(tmp_path):
    mono2 = read(make_dataset(RAMP), tmp_path, "2.dcm")
    mono1 = read(make_dataset(RAMP, photometric="MONOCHROME1"), tmp_path, "1.dcm")
    np.testing.assert_allclose(mono1, 255 - mono2, atol=EXACT)
    assert mono1[0, 0] == 255 and mono1[-1, -1] == 0  # the lowest value is white


def test_bits_above_bits_stored_are_ignored(tmp_path):
    junk_high_bits = RAMP | 0xF000  # 12 bits stored in 16: the top 4 are not the image
    gray = read(make_dataset(junk_high_bits), tmp_path)
    np.testing.assert_allclose(gray, RAMP / RAMP.max() * 255, atol=EXACT)


def test_16_bit_signed(tmp_path):
    pixels = np.array([[-1000, 0], [1000, 32767]], dtype=np.int16)
    gray = read(make_dataset(pixels, bits_stored=16), tmp_path)
    # Read as unsigned, -1000 would be the brightest value.
    np.testing.assert_allclose(gray, (pixels + 1000.0) / 33767 * 255, atol=EXACT)


# Window center 2000, width 1001, LINEAR (PS3.3 C.11.2.1.2.1): x <= 1499.5 -> 0,
# x > 2499.5 -> 255, else ((x - 1999.5) / 1000 + 0.5) * 255. With slope 2 and
# intercept -1000 the stored values below are the modality values x = 2 s - 1000.
STORED = np.array([[0, 1249, 1400], [1500, 1750, 4095]], dtype=np.uint16)
MODALITY = 2.0 * STORED - 1000  # [[-1000, 1498, 1800], [2000, 2500, 7190]]
WINDOWED = np.array([[0, 0, 0.3005 * 255], [0.5005 * 255, 255, 255]])


def test_slope_intercept_then_linear_window(tmp_path):
    ds = make_dataset(
        STORED, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=2000, WindowWidth=1001
    )
    np.testing.assert_allclose(read(ds, tmp_path), WINDOWED, atol=EXACT)


def test_slope_intercept_shift_the_values_the_window_sees(tmp_path):
    # The same window on the stored values (no rescale) gives another picture.
    ds = make_dataset(STORED, WindowCenter=2000, WindowWidth=1001)
    expected = np.clip((STORED - 1999.5) / 1000 + 0.5, 0, 1) * 255
    np.testing.assert_allclose(read(ds, tmp_path), expected, atol=EXACT)
    assert not np.allclose(expected, WINDOWED)


@pytest.mark.parametrize(
    "function, values, expected",
    [
        # C.11.2.1.3.2: ((x - c) / w + 0.5), clipped; center 100, width 50.
        ("LINEAR_EXACT", [75, 90, 100, 125], [0, 0.3 * 255, 127.5, 255]),
        # C.11.2.1.3.1: 1 / (1 + exp(-4 (x - c) / w)); x = c + w/4 gives 1 / (1 + e^-1).
        ("SIGMOID", [100, 112.5, 87.5], [127.5, 255 / (1 + np.exp(-1)), 255 / (1 + np.exp(1))]),
    ],
)
def test_other_voi_lut_functions(tmp_path, function, values, expected):
    # Slope 0.5 makes the modality values x = stored / 2 fall on the points above.
    stored = (np.array(values) * 2).astype(np.uint16).reshape(1, -1)
    ds = make_dataset(
        stored,
        RescaleSlope=0.5,
        RescaleIntercept=0,
        WindowCenter=100,
        WindowWidth=50,
        VOILUTFunction=function,
    )
    np.testing.assert_allclose(read(ds, tmp_path)[0], expected, atol=EXACT)


def test_voi_lut_sequence_wins_over_the_window(tmp_path):
    # An 8-bit inverting LUT of 256 entries from stored value 1000 (PS3.3 C.11.2.1.1):
    # below 1000 -> the first entry, from 1255 on -> the last.
    item = Dataset()
    item.LUTDescriptor = [256, 1000, 8]
    item.add_new("LUTData", "US", list(range(255, -1, -1)))
    pixels = np.array([[0, 1000, 1100, 1255, 3000]], dtype=np.uint16)
    ds = make_dataset(pixels, VOILUTSequence=[item], WindowCenter=0, WindowWidth=10)
    np.testing.assert_allclose(read(ds, tmp_path)[0], [255, 255, 155, 0, 0], atol=EXACT)


def test_long_8_bit_lut_in_ow_words(tmp_path):
    # 4096 entries of 8 bits (v -> v // 16), as 16-bit OW words read back from a file:
    # indices past 255 must not wrap (pydicom 3.0.2's apply_voi wraps them).
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 8]
    item.add_new("LUTData", "OW", (np.arange(4096, dtype="<u2") // 16).tobytes())
    pixels = np.array([[0, 16, 2048, 4000, 4095]], dtype=np.uint16)
    gray = read(make_dataset(pixels, VOILUTSequence=[item]), tmp_path)
    np.testing.assert_allclose(gray[0], [0, 1, 128, 250, 255], atol=EXACT)


def test_lut_declared_16_bit_but_ending_at_4095_is_not_dark(tmp_path):
    # Some CRs declare n = 16 for a 12-bit table; its largest entry is the top.
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new("LUTData", "US", list(range(4096)))
    pixels = np.array([[0, 2048, 4095]], dtype=np.uint16)
    gray = read(make_dataset(pixels, VOILUTSequence=[item]), tmp_path)
    np.testing.assert_allclose(gray[0], [0, 2048 / 4095 * 255, 255], atol=EXACT)


def only_plugins(monkeypatch, syntax, *names):
    """Leaves pydicom's decoder for `syntax` only the plugins `names`, for this test.

    pydicom tries its plugins in turn (gdcm, pylibjpeg, pillow): restricted to one, a
    pass shows that this plugin decodes the data, not some other one after it failed.
    """
    decoder = get_decoder(syntax)
    kept = {name: f for name, f in decoder._available.items() if name in names}
    monkeypatch.setattr(decoder, "_available", kept)


def gdcm_compress(plain, path, syntax):
    """Writes `plain` (a file) to `path` compressed as `syntax` by GDCM's own encoders."""
    reader = gdcm.ImageReader()
    reader.SetFileName(str(plain))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(str(syntax))))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    return path


def test_declared_decoders_cover_the_compressed_syntaxes():
    # python-gdcm: JPEG, JPEG-LS and JPEG 2000; pylibjpeg-openjpeg: HTJ2K, which GDCM lacks.
    for syntax in uid.JPEGTransferSyntaxes + uid.JPEGLSTransferSyntaxes + [uid.JPEG2000]:
        assert "gdcm" in get_decoder(syntax).available_plugins, syntax.name
    for syntax in (uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL, uid.HTJ2K):
        assert get_decoder(syntax).available_plugins == ("pylibjpeg",), syntax.name


@pytest.mark.parametrize(
    "syntax", [uid.JPEGLSLossless, uid.JPEGLosslessSV1, uid.JPEGLossless], ids=lambda s: s.name
)
def test_lossless_jpeg_decodes_with_gdcm_to_the_uncompressed_image(tmp_path, monkeypatch, syntax):
    plain = save(make_dataset(RAMP, WindowCenter=1800, WindowWidth=2000), tmp_path / "plain.dcm")
    compressed = gdcm_compress(plain, tmp_path / "jpeg.dcm", syntax)
    only_plugins(monkeypatch, syntax, "gdcm")
    np.testing.assert_array_equal(dicom.read_gray(compressed), dicom.read_gray(plain))


def test_jpeg_2000_lossless_decodes_to_the_uncompressed_image(tmp_path, monkeypatch):
    plain = make_dataset(RAMP, photometric="MONOCHROME1", WindowCenter=1800, WindowWidth=2000)
    compressed = make_dataset(RAMP, photometric="MONOCHROME1", WindowCenter=1800, WindowWidth=2000)
    compressed.compress(uid.JPEG2000Lossless)  # encoded by pylibjpeg-openjpeg (OpenJPEG)
    assert compressed.file_meta.TransferSyntaxUID == uid.JPEG2000Lossless
    only_plugins(monkeypatch, uid.JPEG2000Lossless, "gdcm")  # decoded by GDCM
    np.testing.assert_array_equal(read(compressed, tmp_path, "j2k.dcm"), read(plain, tmp_path))


def jpeg_baseline_dataset(gray, syntax=uid.JPEGBaseline8Bit):
    """A JPEG Baseline DICOM of `gray` (uint8), the JPEG encoded by Pillow."""
    out = io.BytesIO()
    Image.fromarray(gray).save(out, "JPEG", quality=95)
    ds = make_dataset(gray, bits_stored=8)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([out.getvalue()])
    ds["PixelData"].VR = "OB"
    return ds, np.asarray(Image.open(out), dtype=np.float64)


# 8-bit JPEG Extended (Process 2) is a baseline stream under another transfer syntax.
@pytest.mark.parametrize("syntax", [uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit], ids=str)
def test_8_bit_jpeg_decodes_with_gdcm(tmp_path, monkeypatch, syntax):
    gray = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    ds, by_pillow = jpeg_baseline_dataset(gray, syntax)
    only_plugins(monkeypatch, syntax, "gdcm")
    got = read(ds, tmp_path)
    stretched = (by_pillow - by_pillow.min()) / (by_pillow.max() - by_pillow.min()) * 255
    # Two JPEG decoders (GDCM's IJG libjpeg here, Pillow's libjpeg-turbo): a gray level
    # of slack for builds that round the inverse DCT differently (ISO 10918-2 allows it).
    np.testing.assert_allclose(got, stretched, atol=1)


def test_12_bit_jpeg_extended_says_it_needs_gplv3_libjpeg(tmp_path, monkeypatch):
    # pydicom's GDCM and Pillow plugins refuse 12-bit JPEG Extended before decoding, so
    # the data need not be a real 12-bit JPEG: only the syntax and Bits Stored matter.
    ds = make_dataset(RAMP)  # 12 bits stored
    ds.file_meta.TransferSyntaxUID = uid.JPEGExtended12Bit
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xc1 not decoded"])
    ds["PixelData"].VR = "OB"
    only_plugins(monkeypatch, uid.JPEGExtended12Bit, "gdcm", "pillow")  # as cxr installs
    with pytest.raises(UserError) as e:
        read(ds, tmp_path, "ext12.dcm")
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'ext12.dcm'}: ")
    assert "12-bit JPEG Extended" in message and "GPLv3" in message
    assert "pip install pylibjpeg pylibjpeg-libjpeg" in message


def test_missing_decoder_names_the_file_and_what_to_install(tmp_path, monkeypatch):
    ds = make_dataset(RAMP)
    ds.compress(uid.JPEG2000Lossless)
    path = save(ds, tmp_path / "j2k.dcm")
    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(UserError) as e:
        dicom.read_gray(path)
    message = str(e.value)
    assert "\n" not in message and "j2k.dcm" in message and "JPEG 2000" in message
    assert message.endswith("pip install python-gdcm")


def test_install_hint_names_the_declared_packages():
    for syntax in (uid.JPEGBaseline8Bit, uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEG2000):
        assert dicom.INSTALL[syntax] == "python-gdcm"
    assert dicom.INSTALL[uid.HTJ2KLossless] == "pylibjpeg pylibjpeg-openjpeg"


def test_undecodable_compressed_data_is_one_line(tmp_path):
    ds = make_dataset(RAMP)
    ds.file_meta.TransferSyntaxUID = uid.JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51 not a codestream"])
    ds["PixelData"].VR = "OB"
    with pytest.raises(UserError, match=r"bad\.dcm: cannot decode its JPEG 2000") as e:
        read(ds, tmp_path, "bad.dcm")
    assert "\n" not in str(e.value)
    assert "gdcm: " in str(e.value)  # each plugin's reason, not only pydicom's first line


def test_truncated_file_is_one_line(tmp_path):
    path = save(make_dataset(RAMP), tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[: -RAMP.nbytes // 2])
    with pytest.raises(UserError, match=r"cut\.dcm: ") as e:
        dicom.read_gray(path)
    assert "\n" not in str(e.value)


def test_malformed_lut_is_one_line(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [256, 0]  # the bits per entry are missing
    item.add_new("LUTData", "US", list(range(256)))
    with pytest.raises(UserError, match=r"LUT attributes are malformed"):
        read(make_dataset(RAMP, VOILUTSequence=[item]), tmp_path)


def test_no_pixel_data(tmp_path):
    ds = make_dataset(RAMP)
    del ds.PixelData
    with pytest.raises(UserError, match=r"report\.dcm: a DICOM file without pixel data"):
        read(ds, tmp_path, "report.dcm")


@pytest.mark.parametrize("content", [b"not a DICOM file at all", b"", b"\x89PNG\r\n\x1a\n"])
def test_not_dicom(tmp_path, content):
    path = tmp_path / "fake.dcm"
    path.write_bytes(content)
    assert not dicom.is_dicom(path)
    with pytest.raises(UserError, match=r"fake\.dcm: not a DICOM file"):
        dicom.read_gray(path)


def test_multi_frame_is_an_error_not_its_first_frame(tmp_path):
    ds = make_dataset(np.concatenate([RAMP, RAMP]), NumberOfFrames=2)
    ds.Rows = RAMP.shape[0]
    with pytest.raises(UserError, match=r"has 2 frames"):
        read(ds, tmp_path)


def test_rgb_becomes_luminance_as_for_png(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    ds = make_dataset(rgb[..., 0], photometric="RGB", bits_stored=8)
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PixelData = rgb.tobytes()
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(read(ds, tmp_path), expected)


def test_a_saved_file_is_recognised_whatever_its_name(tmp_path):
    path = save(make_dataset(RAMP), tmp_path / "IM0001")
    assert dicom.is_dicom(path) and pydicom.dcmread(path).Rows == RAMP.shape[0]
