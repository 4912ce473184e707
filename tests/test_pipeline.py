import numpy as np
import pytest

from speech_lstm.config import FeatureConfig
from speech_lstm.data.augment import spec_augment
from speech_lstm.data.manifest import read_manifest
from speech_lstm.data.pipeline import bucket_frame_edges, make_dataset
from speech_lstm.errors import ParameterError
from speech_lstm.features import FeatureCache, featurize_file
from speech_lstm.text import Vocabulary

FC = FeatureConfig()
V = Vocabulary()


def test_bucket_edges_in_frames():
    assert bucket_frame_edges((1.0, 2.0), FC) == [102, 202]


def test_batches_carry_true_lengths_and_pad_to_bucket_edges(digits_corpus):
    entries = read_manifest(digits_corpus["train"])
    ds = make_dataset(entries, FC, V, batch_size=4, bucket_seconds=(2.0, 4.0), training=False)
    seen = 0
    allowed_t = {e - 1 for e in bucket_frame_edges((2.0, 4.0), FC)}
    for inputs, targets in ds:
        feats, flen = inputs["features"].numpy(), inputs["feature_lengths"].numpy()
        labels, llen, index = targets["labels"].numpy(), targets["label_lengths"].numpy(), targets["index"].numpy()
        assert feats.shape[1] in allowed_t and feats.shape[2] == 39
        assert labels.shape[1] % 16 == 0
        for b in range(len(flen)):
            entry = entries[index[b]]
            direct = featurize_file(entry["audio_filepath"], FC)
            assert flen[b] == direct.shape[0]
            np.testing.assert_allclose(feats[b, : flen[b]], direct, atol=1e-5)
            assert np.all(feats[b, flen[b]:] == 0)
            assert V.decode(labels[b, : llen[b]]) == entry["text"]
            assert np.all(labels[b, llen[b]:] == 0)
        seen += len(flen)
    assert seen == len(entries)


def test_training_mode_fixed_batch_shapes_shuffles_and_augments(digits_corpus, tmp_path):
    entries = read_manifest(digits_corpus["train"])
    cache = FeatureCache(tmp_path, FC)
    ds = make_dataset(entries, FC, V, batch_size=4, bucket_seconds=(2.0, 4.0), training=True, cache=cache,
                      spec_augment_on=True, seed=1)
    orders = []
    for _ in range(2):
        batches = list(ds)
        assert all(x["features"].shape[0] == 4 for x, _ in batches)  # drop_remainder
        orders.append([int(i) for _, y in batches for i in y["index"].numpy()])
    assert orders[0] != orders[1]  # reshuffled each epoch
    assert len(list(cache.dir.glob("*.npy"))) == len(entries)


def test_overlong_entries_are_refused(digits_corpus):
    entries = read_manifest(digits_corpus["train"])
    ds = make_dataset(entries, FC, V, batch_size=2, bucket_seconds=(0.3,), training=False)
    with pytest.raises(Exception, match="exceed the last bucket edge"):
        list(ds)


def test_make_dataset_argument_errors(digits_corpus):
    entries = read_manifest(digits_corpus["train"])
    with pytest.raises(ParameterError, match="batch_size must be >= 1"):
        make_dataset(entries, FC, V, batch_size=0)
    with pytest.raises(ParameterError, match="at least one manifest entry"):
        make_dataset([], FC, V, batch_size=2)


def test_spec_augment_is_deterministic_and_masks():
    x = np.ones((200, 39), np.float32)
    a = spec_augment(x, np.random.default_rng(5))
    b = spec_augment(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert (a == 0).any() and np.all(x == 1)
    c = spec_augment(x, np.random.default_rng(6))
    assert not np.array_equal(a, c)
