import math

import pytest

from vla_common.timing import RateMeter, RollingStats


def test_rate_meter_reports_rate_from_given_times():
    m = RateMeter()
    for i in range(101):
        m.tick(i * 0.005)
    assert m.rate_hz() == pytest.approx(200.0)
    assert m.periods_s.percentile(99) == pytest.approx(0.005)


def test_empty_stats_are_nan_not_errors():
    s = RollingStats()
    assert math.isnan(s.percentile(50)) and math.isnan(s.mean())
    assert RateMeter().rate_hz() == 0.0


def test_non_increasing_time_is_not_a_period():
    m = RateMeter()
    m.tick(1.0)
    m.tick(1.0)
    m.tick(0.5)
    assert len(m.periods_s) == 0


def test_window_must_be_positive():
    with pytest.raises(ValueError):
        RollingStats(0)
