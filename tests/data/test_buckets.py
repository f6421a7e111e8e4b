"""Length-bucketed batching shared by the text pipelines."""

from kerasseq.data.buckets import BucketedBatches, bucket_length


def test_bucket_length():
    assert [bucket_length(n) for n in (1, 16, 17, 128, 129)] == [16, 16, 32, 128, 192]
    assert bucket_length(20, buckets=(16, 24)) == 24


def test_evaluation_uses_every_example_once_in_a_fixed_order():
    lengths = [3, 20, 5, 18, 40, 2, 7]
    plan = BucketedBatches(lengths, batch_size=2, shuffle=False)
    first = plan.epoch()[1]
    assert first == plan.epoch()[1] and plan.num_batches == len(first) == 4
    assert sorted(i for _, index in first for i in index) == list(range(len(lengths)))
    assert all(lengths[i] <= length for length, index in first for i in index)


def test_training_batches_are_full_and_reshuffled_each_epoch():
    lengths = [5] * 9 + [30] * 7
    plan = BucketedBatches(lengths, batch_size=3, shuffle=True, seed=1)
    epochs = [plan.epoch()[1] for _ in range(3)]
    assert plan.num_batches == 3 + 2
    for batches in epochs:
        assert len(batches) == plan.num_batches and all(len(index) == 3 for _, index in batches)
        assert all({lengths[i] for i in index} == {5 if length == 16 else 30} for length, index in batches)
    assert epochs[0] != epochs[1]
    again = BucketedBatches(lengths, batch_size=3, shuffle=True, seed=1)
    assert again.epoch()[1] == epochs[0]  # the same seed gives the same epochs
