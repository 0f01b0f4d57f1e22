"""The learning-rate plateau schedule and early stopping, as one small object fed a loss per epoch."""

from __future__ import annotations

import math

__all__ = ["PlateauSchedule", "LOSS_REL_TOL"]

#: A monitored loss must fall by this fraction of its best value to count as improving.
LOSS_REL_TOL = 1e-3


class PlateauSchedule:
    """The paper's schedule on a monitored loss: divide the rate by 10 on a plateau, stop after the last cut.

    Each rate is judged against the loss it started from: the loss improves when it falls
    below ``(1 - rel_tol)`` times the lowest value since the last cut (or the start).
    After ``patience`` epochs without improvement the rate is cut, and the count starts
    again from the loss of that epoch; so a noisy low before a cut cannot make the next
    rate look stalled. Once ``max_cuts`` cuts are spent, the next plateau says stop.
    Separately, ``best`` is the lowest loss of all, whose weights early stopping keeps,
    and ``best_epoch`` the epoch that reached it.

    Parameters
    ----------
    patience : int
        Epochs without improvement before the rate is cut (or, cuts spent, training stops).
    max_cuts : int
        Cuts allowed before a plateau means stop.
    rel_tol : float, default=LOSS_REL_TOL
        Relative fall below the reference loss that counts as an improvement.
    best : float, default=inf
        Lowest loss so far (a warm start continues from it).
    cuts : int, default=0
        Cuts already made.
    epoch : int, default=0
        Epochs already seen; the next :meth:`update` is epoch ``epoch + 1``.

    Attributes
    ----------
    reference : float
        The loss the current rate is judged against.
    stalled : int
        Epochs since the loss last improved on ``reference``.
    best_epoch : int or None
        The epoch whose loss is ``best``; None until an update lowers it.
    """

    def __init__(
        self, patience: int, max_cuts: int, rel_tol: float = LOSS_REL_TOL, best: float = math.inf, cuts: int = 0, epoch: int = 0
    ):
        self.patience, self.max_cuts, self.rel_tol = patience, max_cuts, rel_tol
        self.best, self.cuts, self.epoch = best, cuts, epoch
        self.reference, self.stalled = best, 0
        self.best_epoch = None

    @classmethod
    def resumed(cls, history: list, best_loss: float | None, monitor: str, patience: int, max_cuts: int) -> PlateauSchedule:
        """The schedule after the epochs of ``history`` (a warm start): its cuts and epochs count, and
        its best loss carries over when the last fit watched the same kind of loss (``monitor``)."""
        previous = [h for h in history if "monitor" in h]
        same = previous and previous[-1]["monitor"] == monitor and best_loss is not None
        return cls(
            patience, max_cuts, best=best_loss if same else math.inf,
            cuts=sum(1 for h in history if h.get("lr_cut")), epoch=len(history),
        )  # fmt: skip

    def update(self, loss: float) -> tuple[bool, str]:
        """Record one epoch's loss; return ``(lowest_so_far, action)``, action ``"keep"``, ``"cut"`` or ``"stop"``."""
        self.epoch += 1
        lowest = loss < self.best
        if lowest:
            self.best, self.best_epoch = loss, self.epoch
        if loss < self.reference * (1 - self.rel_tol):
            self.reference, self.stalled = loss, 0
            return lowest, "keep"
        self.stalled += 1
        if self.stalled < self.patience:
            return lowest, "keep"
        self.stalled = 0
        if self.cuts >= self.max_cuts:
            return lowest, "stop"
        self.cuts += 1
        self.reference = loss
        return lowest, "cut"
