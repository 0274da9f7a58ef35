"""EpochLossRecorderHook: per-epoch means of the loss terms (what `make demo` compares)."""
import pytest

from s3pt_mm.engine.hooks import EpochLossRecorderHook


def _run_epoch(hook, outputs_per_iter):
    hook.before_train_epoch(None)
    for i, outputs in enumerate(outputs_per_iter):
        hook.after_train_iter(None, i, outputs=outputs)
    hook.after_train_epoch(None)


def test_means_per_epoch_and_extra_keys():
    hook = EpochLossRecorderHook(extra_keys=('teacher_entropy',))
    _run_epoch(hook, [
        dict(loss=3.0, loss_global=1.0, loss_object=2.0, teacher_entropy=6.0, num_clusters=9),
        dict(loss=5.0, loss_global=2.0, loss_object=3.0, teacher_entropy=5.0, num_clusters=7),
    ])
    # Epoch 2 gains a term (the cross-image loss starts at epoch 1).
    _run_epoch(hook, [
        dict(loss=4.0, loss_global=0.5, loss_object=1.5, loss_cross_image=2.0,
             teacher_entropy=4.0),
    ])
    first, last = hook.epoch_losses
    assert first == pytest.approx(dict(loss=4.0, loss_global=1.5, loss_object=2.5,
                                       teacher_entropy=5.5))
    assert 'num_clusters' not in first  # neither a loss nor an extra key
    assert last == pytest.approx(dict(loss=4.0, loss_global=0.5, loss_object=1.5,
                                      loss_cross_image=2.0, teacher_entropy=4.0))
    # The summed `loss` is flat (4.0 -> 4.0) only because a term was added; the terms active
    # in both epochs fell from 1.5 + 2.5 to 0.5 + 1.5.
    total_first, total_last, names = hook.common_total(first, last)
    assert names == ['loss_global', 'loss_object']
    assert (total_first, total_last) == pytest.approx((4.0, 2.0))


def test_empty_epoch_records_nothing():
    hook = EpochLossRecorderHook()
    _run_epoch(hook, [])
    assert hook.epoch_losses == []
