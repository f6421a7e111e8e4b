"""MaskedConv2D and GatedPixelCNNBlock: NumPy references of the masked convolutions and the
gated block, the receptive field by input gradients (causal, no blind spot; the plain masked
stack's blind spot), colour ordering, and the .keras round trip (TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

from kerasseq.diagnostics.pixelcnn import expected_receptive_field, input_gradient
from kerasseq.layers.pixelcnn import GatedPixelCNNBlock, MaskedConv2D, pixelcnn_mask
from testing import NumpyNormal, run_layer_test


def np_conv_same(x, kernel):
    """Cross-correlation with zero 'same' padding, ``(n, h, w, cin) * (kh, kw, cin, cout)``."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, [(0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)])
    out = np.zeros(x.shape[:3] + kernel.shape[-1:])
    for a in range(kh):
        for b in range(kw):
            out += padded[:, a:a + x.shape[1], b:b + x.shape[2]] @ kernel[a, b]
    return out


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_mask_a_and_b_follow_the_raster_and_colour_order():
    a = pixelcnn_mask(3, 3, 6, "A", color_channels=3)
    b = pixelcnn_mask(3, 3, 6, "B", color_channels=3)
    np.testing.assert_array_equal(a[:, :, 0, 0], [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    # Centre pixel: output colour groups (R R G G B B) see input colours < (A) or <= (B) theirs.
    np.testing.assert_array_equal(a[1, 1], [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0] * 6])
    np.testing.assert_array_equal(b[1, 1], [[1] * 6, [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]])
    assert (a[0] == 1).all() and (a[2] == 0).all() and (b[1, 2] == 0).all()
    np.testing.assert_array_equal(pixelcnn_mask(5, 1, 1, "B")[2, :, 0, 0], [1, 1, 1, 0, 0])


def test_masked_conv2d_layer(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    run_layer_test(MaskedConv2D, dict(filters=6, kernel_size=3, mask_type="A", color_channels=3), x,
                   expected_output_shape=(2, 6, 6, 6), expected_num_trainable_weights=2,
                   tmp_path=tmp_path)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv2d_matches_numpy(mask_type):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, 6, 3)).astype("float32")
    conv = MaskedConv2D(6, (5, 3), mask_type=mask_type, color_channels=3, kernel_initializer=NumpyNormal(),
                        bias_initializer=NumpyNormal())
    out = numpy(conv(x))
    kernel, bias = (numpy(w) for w in conv.weights)
    expected = np_conv_same(x, kernel * pixelcnn_mask((5, 3), 3, 6, mask_type, 3)) + bias
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_masked_conv2d_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2D(4, 3, mask_type="C")
    with pytest.raises(ValueError, match="padding='same'"):
        MaskedConv2D(4, 3, padding="valid")
    with pytest.raises(ValueError, match="odd kernel_size"):
        MaskedConv2D(4, 4)
    with pytest.raises(ValueError, match="divisible by color_channels"):
        MaskedConv2D(4, 3, color_channels=3)


def test_gated_block_layer(tmp_path):
    rng = np.random.default_rng(2)
    x = [rng.normal(size=(2, 6, 5, 4)).astype("float32") for _ in range(2)]
    x.append(rng.normal(size=(2, 3)).astype("float32"))  # the condition
    run_layer_test(GatedPixelCNNBlock, dict(filters=4, kernel_size=3, conditional=True,
                                            kernel_initializer=NumpyNormal()), x,
                   expected_output_shape=[(2, 6, 5, 4)] * 2, expected_num_trainable_weights=10,
                   tmp_path=tmp_path)
    unconditional = GatedPixelCNNBlock(4)
    unconditional([x[0], x[1]])
    assert len(unconditional.trainable_weights) == 8


def np_gated_block(block, v, h, cond=None):
    """The gated block (paper Figure 2) from full n × n masked kernels with 'same' padding."""
    w = {weight.name: numpy(weight) for weight in block.weights}
    n, r, p = block.kernel_size, block.kernel_size // 2, block.filters
    vk = np.zeros((n, n) + w["vertical_kernel"].shape[2:])
    vk[:r + 1] = w["vertical_kernel"]
    if block.mask_type == "A":
        vk[r] = 0  # the current row
    hk = np.zeros((n, n) + w["horizontal_kernel"].shape[2:])
    hk[r, :r + 1] = w["horizontal_kernel"][0]
    hk *= np.concatenate([pixelcnn_mask(n, h.shape[-1], p, block.mask_type,
                                        block.color_channels)] * 2, axis=-1)
    v_pre = np_conv_same(v, vk) + w["vertical_bias"]
    if cond is not None:
        v_pre = v_pre + (cond @ w["vertical_condition"])[:, None, None]
    h_pre = np_conv_same(h, hk) + w["horizontal_bias"] + v_pre @ w["link_kernel"] + w["link_bias"]
    if cond is not None:
        h_pre = h_pre + (cond @ w["horizontal_condition"])[:, None, None]
    gate = lambda z: np.tanh(z[..., :p]) * sigmoid(z[..., p:])  # noqa: E731
    out_kernel = w["output_kernel"] * pixelcnn_mask(1, p, p, "B", block.color_channels)[0, 0]
    h_out = gate(h_pre) @ out_kernel + w["output_bias"]
    return gate(v_pre), h_out + (h if block.mask_type == "B" else 0)


@pytest.mark.parametrize("mask_type,colours,conditional", [("A", 3, True), ("B", 3, False)])
def test_gated_block_matches_numpy(mask_type, colours, conditional):
    rng = np.random.default_rng(3)
    channels = colours if mask_type == "A" else 6
    v, h = (rng.normal(size=(2, 6, 7, channels)).astype("float32") for _ in range(2))
    cond = [rng.normal(size=(2, 4)).astype("float32")] if conditional else []
    block = GatedPixelCNNBlock(6, kernel_size=5, mask_type=mask_type, color_channels=colours,
                               conditional=conditional, kernel_initializer=NumpyNormal())
    v_out, h_out = block([v, h, *cond])
    v_ref, h_ref = np_gated_block(block, v, h, *cond)
    np.testing.assert_allclose(numpy(v_out), v_ref, atol=1e-4)
    np.testing.assert_allclose(numpy(h_out), h_ref, atol=1e-4)


def gated_stack(shape, num_layers, kernel_size, first_kernel_size, filters=4):
    x = keras.Input(shape)
    v, h = GatedPixelCNNBlock(filters, first_kernel_size, "A", color_channels=shape[-1],
                              kernel_initializer=NumpyNormal())([x, x])
    for _ in range(num_layers - 1):
        v, h = GatedPixelCNNBlock(filters, kernel_size, "B", color_channels=shape[-1],
                                  kernel_initializer=NumpyNormal())([v, h])
    out = MaskedConv2D(shape[-1], 1, "B", color_channels=shape[-1], kernel_initializer=NumpyNormal())(h)
    return keras.Model(x, out)


def test_gated_stack_sees_every_earlier_pixel_and_nothing_later():
    keras.utils.set_random_seed(4)
    model = gated_stack((11, 10, 1), num_layers=3, kernel_size=3, first_kernel_size=5)
    images = np.random.default_rng(5).random((2, 11, 10, 1)).astype("float32")
    pixels = [(5, 4), (9, 1), (1, 8), (0, 0)]
    for pixel, grad in zip(pixels, input_gradient(model, images, pixels)):
        seen = grad[..., 0] > 0
        expected = expected_receptive_field(11, 10, pixel, 3, 3, 5)  # reach 2 + 2·1 = 4
        raster = np.arange(110).reshape(11, 10) >= pixel[0] * 10 + pixel[1]
        assert not seen[raster].any(), f"{pixel} depends on itself or a later pixel"
        np.testing.assert_array_equal(seen, expected)  # ... and on every earlier one in reach


def test_plain_masked_stack_has_the_blind_spot_the_gated_stack_lacks():
    keras.utils.set_random_seed(6)
    x = keras.Input((9, 9, 1))
    y = MaskedConv2D(4, 3, "A", kernel_initializer=NumpyNormal())(x)
    y = MaskedConv2D(4, 3, "B", kernel_initializer=NumpyNormal(), activation="tanh")(y)
    plain = keras.Model(x, MaskedConv2D(1, 3, "B", kernel_initializer=NumpyNormal())(y))
    images = np.random.default_rng(7).random((1, 9, 9, 1)).astype("float32")
    plain_seen = input_gradient(plain, images, (5, 4))[..., 0] > 0
    gated_seen = input_gradient(gated_stack((9, 9, 1), 3, 3, 3), images, (5, 4))[..., 0] > 0
    assert plain_seen[2, 7] and not plain_seen[4, 7]  # above-right of the pixel: a blind spot
    assert gated_seen[4, 7] and gated_seen[2, 7]


def test_colour_ordering_within_a_pixel():
    keras.utils.set_random_seed(8)
    model = gated_stack((5, 5, 3), num_layers=2, kernel_size=3, first_kernel_size=3, filters=6)
    images = np.random.default_rng(9).random((2, 5, 5, 3)).astype("float32")
    for colour, grad in enumerate(input_gradient(model, images, [(2, 2, c) for c in range(3)])):
        seen = grad[2, 2] > 0
        np.testing.assert_array_equal(seen, np.arange(3) < colour)  # R sees none, B sees R, G
        assert (grad[1, 1] > 0).all() and not (grad[2, 3] > 0).any()


def test_gated_block_rejects_bad_inputs():
    block = GatedPixelCNNBlock(4, conditional=True)
    with pytest.raises(ValueError, match="Expected 3 inputs"):
        block.build([(None, 5, 5, 4), (None, 5, 5, 4)])
    with pytest.raises(ValueError, match="residual"):
        GatedPixelCNNBlock(4).build([(None, 5, 5, 4), (None, 5, 5, 2)])
    with pytest.raises(ValueError, match="odd int kernel_size"):
        GatedPixelCNNBlock(4, kernel_size=4)
