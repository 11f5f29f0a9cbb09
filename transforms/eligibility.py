"""Who is offered diversion: the scheme's eligibility rules, applied to validated stops.

Every stop gets a decision and a reason code, stamped with the rule version, so that a later
question ("why was this child not referred?") has an answer in the state database.
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from schemas.config import SchemeConfig
from schemas.identifiers import postcode_district
from transforms.stop_days import age_on, local_stop_day

ELIGIBLE = "eligible"
NON_ENGAGEMENT_STATES = ("declined", "did_not_engage", "no_yot_record", "no_first_contact",
                         "no_session")
REASONS = {
    ELIGIBLE: "Eligible for diversion",
    "no_drug_found": "No drug found",
    "adult": "18 or over on the day of the stop",
    "under_age_of_responsibility": "Under the age of criminal responsibility",
    "intent_to_supply": "Possession with intent to supply",
    "supply": "Supply",
    "larger_quantity": "More than the small-quantity threshold",
    "quantity_unit_mismatch": "Quantity unit differs from the threshold's unit",
    "quantity_missing": "No quantity recorded",
    "previous_non_engagement": "A previous diversion ended in non-engagement",
}


def decide_eligibility(stops: pd.DataFrame, history: pd.DataFrame,
                       config: SchemeConfig) -> pd.DataFrame:
    """One decision per stop: stop_ref, eligible, reason, rule_version, previous_referral_ref.

    `history` holds earlier referrals (referral_ref, person_id, stop_time, state) so that a
    previous non-engagement and a repeat stop are recognised.
    """
    rules = config.eligibility
    day = local_stop_day(stops["stop_time"], config.scheme.timezone)
    age = age_on(stops["date_of_birth"], day)
    drugs = rules.drugs
    limits = {n: d.max_quantity for n, d in drugs.items()}  # Decimals: exact, as the quantities are
    threshold = pd.Series(pa.array([limits.get(n) for n in stops["drug_name"].fillna("")],
                                   type=pa.decimal128(38, 10)),
                          index=stops.index, dtype=pd.ArrowDtype(pa.decimal128(38, 10)))
    unit = stops["drug_name"].map({n: d.unit for n, d in drugs.items()})

    barred = _previous_non_engagement(stops, history, day)
    reason = pd.Series(ELIGIBLE, index=stops.index, dtype="str")
    conditions = [  # first matching rule wins; order is the order of the scheme's rules
        ("no_drug_found", stops["drug_name"].isna()),
        ("adult", age > rules.max_age),
        ("under_age_of_responsibility", age < rules.min_age),
        ("intent_to_supply", stops["offence"] == "possession_with_intent"),
        ("supply", stops["offence"] == "supply"),
        ("quantity_missing", stops["quantity"].isna()),
        ("quantity_unit_mismatch", stops["quantity_unit"] != unit),
        ("larger_quantity", stops["quantity"] > threshold),
        ("previous_non_engagement",
         barred & rules.exclude_after_non_engagement),
    ]
    for code, hit in reversed(conditions):
        hit = hit.fillna(False).astype(bool)
        reason = reason.where(~hit, code)
    # a repeat stop links to the child's latest earlier referral, one from this same batch included,
    # so that a first night extracting weeks of stops links them as a later re-run would
    eligible = stops[reason == ELIGIBLE]
    batch = pd.DataFrame({"referral_ref": referral_ref_for(eligible["stop_ref"]),
                          "referral_stop_ref": eligible["stop_ref"], "person_id": eligible["person_id"],
                          "stop_time": eligible["stop_time"]})
    if not history.empty:
        batch = batch[~batch["referral_ref"].isin(history["referral_ref"])]
    frames = [f for f in (history, batch) if not f.empty]
    known = pd.concat(frames, ignore_index=True) if frames else history
    previous = _previous_referrals(stops, known)
    return pd.DataFrame({
        "stop_ref": stops["stop_ref"],
        "eligible": reason == ELIGIBLE,
        "reason": reason,
        "rule_version": config.scheme.rule_version,
        "previous_referral_ref": previous["previous_referral_ref"],
    }, index=stops.index)


def _earlier_pairs(stops: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """(stop, earlier referral of the same person) pairs; `index` is the stop's row label."""
    left = stops[["stop_ref", "person_id", "stop_time"]].reset_index()
    right = history.rename(columns={"stop_time": "previous_time"})
    pairs = left.merge(right, on="person_id", how="inner")
    return pairs[(pairs["previous_time"] < pairs["stop_time"]) & (pairs["stop_ref"] != pairs["referral_stop_ref"])]


def _previous_non_engagement(stops: pd.DataFrame, history: pd.DataFrame, day: pd.Series) -> pd.Series:
    """Whether any earlier diversion of the child had ended in non-engagement by the stop's day.

    With `non_engagement_night` in the history (the night an escalation was opened) and
    `non_engagement_resolved` (the night it was resolved, when the child engaged after all), both
    fixed once set, the answer for an old stop is the same however late the night is re-run;
    without them, the referrals' current engagement state is used.
    """
    barred = pd.Series(False, index=stops.index)
    if history.empty:
        return barred
    pairs = _earlier_pairs(stops, history)
    if "non_engagement_night" in pairs:
        on_day = day.loc[pairs["index"]].to_numpy()
        ended = pd.to_datetime(pairs["non_engagement_night"])
        resolved = pd.to_datetime(pairs.get("non_engagement_resolved", pd.Series(pd.NaT, index=pairs.index)))
        hit = ended.notna() & (ended < on_day) & (resolved.isna() | (resolved >= on_day))
    else:
        hit = pairs["state"].isin(NON_ENGAGEMENT_STATES)
    barred.loc[pairs.loc[hit, "index"].unique()] = True
    return barred


def _previous_referrals(stops: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """For each stop, the same person's most recent earlier referral and its engagement state."""
    out = pd.DataFrame({"previous_referral_ref": pd.Series(None, index=stops.index, dtype="str"),
                        "previous_state": pd.Series(None, index=stops.index, dtype="str")})
    if history.empty:
        return out
    pairs = _earlier_pairs(stops, history)
    if pairs.empty:
        return out
    latest = pairs.sort_values("previous_time").groupby("index").tail(1).set_index("index")
    out.loc[latest.index, "previous_referral_ref"] = latest["referral_ref"]
    out.loc[latest.index, "previous_state"] = latest.get("state")
    return out


def referral_ref_for(stop_ref: pd.Series) -> pd.Series:
    """Referral references derive from the stop, so a re-run never creates a second referral."""
    return "DR-" + stop_ref.astype("str")


def route_to_yot(postcodes: pd.Series, areas: pd.Series, config: SchemeConfig) -> pd.Series:
    """The YOT of the child's home authority (postcode district), else the stop area's default."""
    by_district = postcodes.map(postcode_district, na_action="ignore").map(config.district_to_yot())
    by_area = areas.map({name: a.default_yot for name, a in config.areas.items()})
    return by_district.where(by_district.notna(), by_area).astype("str")
