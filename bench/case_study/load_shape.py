"""A business day's arrivals, compressed in time.

Hourly weights of a back-office reporting workload (low at night, a morning ramp, the peak at
10-11h, a smaller after-lunch bump, an evening tail), scaled so that the peak hour is 3x the day's
mean hour. Arrivals within an hour are uniform (seeded), so the whole run is reproducible, and both
paths get exactly the same arrival times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Relative weight of each hour 0..23 (before scaling); the peak is hour 10.
HOURLY: tuple[float, ...] = (
    0.10, 0.08, 0.07, 0.07, 0.08, 0.12, 0.25, 0.70,   # 00-07: night, first arrivals
    1.60, 2.50, 3.00, 2.80, 1.90, 2.10, 2.40, 2.20,   # 08-15: morning ramp, peak, lunch dip
    1.80, 1.20, 0.70, 0.45, 0.35, 0.25, 0.18, 0.12,   # 16-23: afternoon and evening tail
)
PEAK_FACTOR = 3.0


@dataclass(frozen=True)
class DayShape:
    arrivals: list[float]          # seconds from the start of the compressed run, sorted
    hours: list[int]               # the (uncompressed) hour of each arrival
    day_seconds: float             # the compressed length of the day
    per_hour: list[int]            # arrivals in each uncompressed hour
    peak_hour: int

    @property
    def compression(self) -> float:
        return 86400 / self.day_seconds

    @property
    def hour_seconds(self) -> float:
        return self.day_seconds / 24

    def peak_window(self) -> tuple[float, float]:
        """The peak hour, in compressed seconds from the run's start."""
        return self.peak_hour * self.hour_seconds, (self.peak_hour + 1) * self.hour_seconds


def weights() -> list[float]:
    """The hourly weights scaled so that max / mean == PEAK_FACTOR: the night and the tail keep
    their share, the day curve is stretched around the mean."""
    mean = sum(HOURLY) / 24
    peak = max(HOURLY)
    # w' = mean + k (w - mean), with k chosen so that the peak becomes PEAK_FACTOR * mean
    k = (PEAK_FACTOR - 1) * mean / (peak - mean)
    scaled = [max(0.02 * mean, mean + k * (w - mean)) for w in HOURLY]
    norm = sum(scaled) / 24
    return [w / norm for w in scaled]


def day(n: int, day_seconds: float, seed: int = 7) -> DayShape:
    """n arrivals over one day compressed into day_seconds."""
    w = weights()
    total = sum(w)
    exact = [n * x / total for x in w]
    counts = [int(c) for c in exact]
    # largest remainders get the reports lost to rounding
    for i in sorted(range(24), key=lambda i: exact[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    rng = random.Random(seed)
    hour_s = day_seconds / 24
    pairs: list[tuple[float, int]] = []
    for hour, count in enumerate(counts):
        pairs.extend(((hour + rng.random()) * hour_s, hour) for _ in range(count))
    pairs.sort()
    return DayShape(arrivals=[a for a, _ in pairs], hours=[h for _, h in pairs], day_seconds=day_seconds,
                    per_hour=counts, peak_hour=max(range(24), key=lambda h: counts[h]))
