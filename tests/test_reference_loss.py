"""The "answer distribution only" reference loss (issue 21): computed here by hand on a toy split."""

from __future__ import annotations

import math

import pytest

from odin_core.engine.reference import answer_distribution_loss


def test_the_reference_is_the_answer_entropy_per_supervised_token(tmp_path):
    # task a: answers 1, 1, 2 (p 2/3, 2/3, 1/3); task b: always "Yes" (no uncertainty)
    split = {"task": ["a", "a", "a", "b"], "answer": ["1", "1", "2", "Yes"]}
    tokens = {"labels": [[-100, 5, 6], [-100, -100, 5, 6], [7, 8, 9, 10], [-100, 11]]}  # 2 + 2 + 4 + 1 = 9
    nats = (2 * -math.log(2 / 3) - math.log(1 / 3)) / 4
    expected = nats / (9 / 4)
    got = answer_distribution_loss(split, _Dataset(tokens), completion_only=True, traces=False)
    assert got == pytest.approx(expected, abs=1e-6)
    assert answer_distribution_loss(split, _Dataset(tokens), completion_only=False, traces=False) is None
    assert answer_distribution_loss(split, _Dataset(tokens), completion_only=True, traces=True) is None


def test_the_loss_plot_draws_the_reference(tmp_path):
    from odin_core.report.plots import plot_loss

    records = [{"step": s, "loss": 2.0 / s} for s in range(1, 6)]
    assert plot_loss(records, tmp_path / "loss.png", reference=0.4) and (tmp_path / "loss.png").stat().st_size > 0


class _Dataset(dict):
    def __len__(self):
        return len(next(iter(self.values())))
