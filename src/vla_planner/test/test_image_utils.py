import numpy as np
import pytest

from vla_planner.image_utils import ImageError, decode_image, images_to_tensor, validate_rgb


def _rgb(h=16, w=12):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb8_roundtrip_gives_same_pixels():
    im = _rgb()
    out = decode_image(im.tobytes(), 16, 12, "rgb8", 36)
    assert out.dtype == np.uint8 and np.array_equal(out, im)


def test_bgr8_and_bgra8_are_swapped_to_rgb():
    im = _rgb()
    assert np.array_equal(decode_image(im[:, :, ::-1].tobytes(), 16, 12, "bgr8"), im)
    bgra = np.concatenate([im[:, :, ::-1], np.full((16, 12, 1), 255, np.uint8)], 2)
    assert np.array_equal(decode_image(bgra.tobytes(), 16, 12, "bgra8"), im)


def test_row_padding_in_step_is_ignored():
    im = _rgb()
    padded = np.concatenate([im.reshape(16, 36), np.zeros((16, 4), np.uint8)], 1)
    assert np.array_equal(decode_image(padded.tobytes(), 16, 12, "rgb8", 40), im)


def test_mono8_becomes_three_equal_channels():
    g = np.arange(16 * 12, dtype=np.uint8).reshape(16, 12)
    out = decode_image(g.tobytes(), 16, 12, "mono8")
    assert out.shape == (16, 12, 3) and np.array_equal(out[:, :, 2], g)


@pytest.mark.parametrize("kwargs, match", [
    (dict(encoding="bayer_rggb8"), "unsupported image encoding"),
    (dict(encoding="16UC1"), "unsupported"),
    (dict(height=15), "expected height"),
    (dict(height=0), "outside"),
    (dict(width=100000), "outside"),
    (dict(step=10), "step"),
])
def test_bad_image_fields_raise_clear_error(kwargs, match):
    args = dict(data=_rgb().tobytes(), height=16, width=12, encoding="rgb8", step=36)
    args.update(kwargs)
    with pytest.raises(ImageError, match=match):
        decode_image(**args)


def test_empty_buffer_is_rejected():
    with pytest.raises(ImageError):
        decode_image(b"", 16, 12, "rgb8")


@pytest.mark.parametrize("bad", [np.zeros((16, 16, 3), np.float32), np.zeros((16, 16), np.uint8),
                                 np.zeros((16, 16, 4), np.uint8), np.zeros((2, 2, 3), np.uint8),
                                 [[1, 2, 3]]])
def test_validate_rgb_rejects_wrong_dtype_shape_or_size(bad):
    with pytest.raises(ImageError):
        validate_rgb(bad)


def test_images_to_tensor_resizes_and_scales_to_unit_range():
    t = images_to_tensor([_rgb(128, 128), _rgb(64, 80)], 32)
    assert tuple(t.shape) == (2, 3, 32, 32)
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


def test_images_to_tensor_empty_list_raises():
    with pytest.raises(ImageError):
        images_to_tensor([], 32)
