"""PlateauSchedule on its own: sequences of losses in, cuts, stops and the best epoch out (no network)."""

import math

import pytest

from skvgg._schedule import PlateauSchedule


def actions(schedule, losses):
    return [schedule.update(loss)[1] for loss in losses]


def test_steadily_falling_loss_never_cuts_and_tracks_the_latest_epoch_as_best():
    schedule = PlateauSchedule(patience=2, max_cuts=3)
    assert actions(schedule, [1.0, 0.9, 0.8, 0.7, 0.6]) == ["keep"] * 5
    assert schedule.best == 0.6 and schedule.best_epoch == 5 and schedule.cuts == 0


def test_flat_loss_cuts_every_patience_epochs_then_stops():
    schedule = PlateauSchedule(patience=2, max_cuts=2)
    got = actions(schedule, [1.0] * 7)
    # Epoch 1 improves on inf; then each 2 flat epochs cut, and after 2 cuts they stop.
    assert got == ["keep", "keep", "cut", "keep", "cut", "keep", "stop"]
    assert schedule.cuts == 2 and schedule.best_epoch == 1


def test_patience_one_reacts_on_the_first_stalled_epoch():
    schedule = PlateauSchedule(patience=1, max_cuts=1)
    assert actions(schedule, [2.0, 2.0, 2.0]) == ["keep", "cut", "stop"]


def test_zero_cuts_means_the_first_plateau_stops():
    schedule = PlateauSchedule(patience=2, max_cuts=0)
    assert actions(schedule, [1.0, 1.5, 1.2]) == ["keep", "keep", "stop"]
    assert schedule.cuts == 0


def test_best_epoch_is_the_lowest_loss_not_the_last_improvement():
    schedule = PlateauSchedule(patience=3, max_cuts=3)
    results = [schedule.update(loss) for loss in [1.0, 0.4, 0.6, 0.5, 0.45]]
    assert [lowest for lowest, _ in results] == [True, True, False, False, False]
    assert schedule.best == 0.4 and schedule.best_epoch == 2


def test_a_cut_rebases_the_reference_on_the_epoch_that_caused_it():
    schedule = PlateauSchedule(patience=2, max_cuts=3)
    assert actions(schedule, [1.0, 0.5, 0.9, 0.9]) == ["keep", "keep", "keep", "cut"]
    assert schedule.reference == 0.9 and schedule.stalled == 0
    # 0.85 is worse than the best (0.5) but improves on the new rate's start: no stall.
    assert schedule.update(0.85) == (False, "keep") and schedule.stalled == 0 and schedule.reference == 0.85


@pytest.mark.parametrize("rel_tol, improves", [(1e-3, False), (1e-5, True)])
def test_relative_tolerance_decides_what_counts_as_an_improvement(rel_tol, improves):
    schedule = PlateauSchedule(patience=5, max_cuts=1, rel_tol=rel_tol)
    schedule.update(1.0)
    schedule.update(0.9999)  # a 1e-4 relative fall
    assert (schedule.stalled == 0) is improves
    assert schedule.best == 0.9999  # the best follows every lower value, whatever the tolerance


def test_warm_start_continues_from_the_previous_best_cuts_and_epochs():
    schedule = PlateauSchedule(patience=1, max_cuts=2, best=0.5, cuts=2, epoch=7)
    # 0.6 is no improvement on the carried best and both cuts are spent: stop at once.
    assert schedule.update(0.6) == (False, "stop")
    assert schedule.epoch == 8 and schedule.best_epoch is None
    assert schedule.update(0.3) == (True, "keep") and schedule.best_epoch == 9


def test_fresh_schedule_starts_from_infinity():
    schedule = PlateauSchedule(patience=2, max_cuts=3)
    assert schedule.best == math.inf and schedule.best_epoch is None and schedule.epoch == 0
