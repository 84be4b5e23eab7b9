"""A survey-like table for tests: counts, log costs with zeros, binary indicators, no families.

Real survey and claims tables do not look like the family table of
:mod:`ratecraft.data.synthetic_table`: their columns are counts, logs of money amounts that
are often exactly zero, and 0/1 indicators, coded on a few discrete plans, and nobody hands
over feature families. This simulator draws such a table from three independent blocks of
correlated columns, as a health insurance experiment would record them (the column meanings
follow the public description of such a study; no real data went into it):

- **plan** (per household, repeated over its members): ``lncoins`` = ln(coinsurance + 1) on a
  few plans (0, 25, 50, 95 %), ``idp`` (individual deductible, 0/1), ``lpi`` = ln(max(1,
  participation incentive)) — zero on most free plans — and ``fmde`` = ln(max(1, MDE/(0.01
  coinsurance))), 0 when ``idp`` = 1 or the plan is free;
- **health** (per person): a latent frailty drives ``physlm`` (physical limitation, 0/1),
  ``disea`` (number of chronic diseases, a rounded gamma-Poisson) and the self-rated health
  indicators ``hlthg`` / ``hlthf`` / ``hlthp`` (good / fair / poor, at most one set; excellent
  is the omitted category);
- **use**: ``mdvis``, the number of doctor visits, negative binomial with a mean that rises with
  frailty and falls with the coinsurance (so it ties the two blocks loosely together), and
  ``lnmeddol``, ln(1 + medical spending), zero when there was no visit.

Every value is a float64 on its own grid (integers, or logs of integers); no NaN. Deterministic
for a seed.
"""

from __future__ import annotations

import numpy as np

from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

__all__ = ["SURVEY_BLOCKS", "simulate_survey"]

SURVEY_BLOCKS: dict[str, list[str]] = {
    "plan": ["lncoins", "idp", "lpi", "fmde"],
    "health": ["physlm", "disea", "hlthg", "hlthf", "hlthp"],
    "use": ["mdvis", "lnmeddol"],
}
_COLUMNS = ("mdvis", "lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp")
_MAX_ROWS = 5_000_000
_COINSURANCE = np.array([0.0, 25.0, 50.0, 95.0])
_PLAN_SHARE = np.array([0.32, 0.22, 0.12, 0.34])


def simulate_survey(n_rows: int = 2000, seed: int = 0, *, spending: bool = False) -> FeatureTable:
    """A ``n_rows`` × 10 survey table (``spending=True``: 11, with ``lnmeddol``), no families.

    Columns in the order of a public health-insurance extract: ``mdvis, lncoins, idp, lpi,
    fmde, physlm, disea, hlthg, hlthf, hlthp`` (then ``lnmeddol``). See the module docstring
    for the blocks; :data:`SURVEY_BLOCKS` names them.
    """
    if not (isinstance(n_rows, int) and 1 <= n_rows <= _MAX_ROWS):
        raise BadInputError(f"n_rows must be an integer in 1..{_MAX_ROWS}, got {n_rows!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise BadInputError(f"seed must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    n = n_rows

    # plan block: households of 1–6 people share a plan
    sizes = rng.integers(1, 7, size=n)
    household = np.repeat(np.arange(n), sizes)[:n]
    n_house = int(household.max()) + 1
    plan = rng.choice(len(_COINSURANCE), size=n_house, p=_PLAN_SHARE)[household]
    coins = _COINSURANCE[plan]
    lncoins = np.log(coins + 1.0)
    idp = ((plan == 3) & (rng.random(n_house)[household] < 0.55)).astype(np.float64)
    income = rng.lognormal(9.3, 0.6, size=n_house)[household]
    mde = np.clip(np.round(0.1 * income, -1), 50.0, 1000.0)  # maximum dollar expenditure
    incentive = np.where(coins > 0, np.round(rng.gamma(2.0, 0.12, size=n) * mde, -1), 0.0)
    incentive = np.where(rng.random(n) < 0.15, 0.0, incentive)
    lpi = np.log(np.maximum(1.0, incentive))
    fmde = np.where(
        (idp == 1) | (coins == 0), 0.0, np.log(np.maximum(1.0, mde / (0.01 * np.maximum(coins, 1))))
    )

    # health block: one latent frailty per person
    frailty = rng.standard_normal(n)
    physlm = (frailty + 0.6 * rng.standard_normal(n) > 1.3).astype(np.float64)
    disea = np.round(rng.poisson(rng.gamma(1.5, 1.0, size=n) * np.exp(1.6 + 0.45 * frailty)))
    rated = frailty + 0.8 * rng.standard_normal(n)
    hlthg = ((rated > -0.2) & (rated <= 0.9)).astype(np.float64)
    hlthf = ((rated > 0.9) & (rated <= 1.8)).astype(np.float64)
    hlthp = (rated > 1.8).astype(np.float64)

    # use: negative-binomial visits, rising with frailty, falling with the coinsurance
    mean = np.exp(0.9 + 0.5 * frailty - 0.15 * lncoins + 0.3 * physlm)
    shape = 0.7
    mdvis = rng.poisson(rng.gamma(shape, mean / shape)).astype(np.float64)
    columns = [
        mdvis,
        lncoins,
        idp,
        lpi,
        fmde,
        physlm,
        disea.astype(np.float64),
        hlthg,
        hlthf,
        hlthp,
    ]
    names = list(_COLUMNS)
    if spending:
        dollars = np.where(mdvis > 0, mdvis * rng.lognormal(3.8, 0.7, size=n), 0.0)
        columns.append(np.log1p(np.round(dollars)))
        names.append("lnmeddol")
    values = np.column_stack(columns).astype(np.float64)
    return FeatureTable(values=values, feature_names=names, meta={"source": "simulate_survey"})
