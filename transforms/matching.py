"""Find each police-referred child in the YOT caseload export.

A missed match makes an engaged child look like a non-engager (and sends them
to prosecution); a false match hides a non-engager. So the engine is a
conservative record linker: exact shared identifiers first, then a
Fellegi-Sunter style score over blocked candidate pairs, one-to-one greedy
assignment, and anything ambiguous is returned as ``possible`` for a person to
review rather than guessed.

The only public entry point is :func:`match_people`; every tunable number lives
in :class:`MatchSettings` (settings separated from the engine, as in splink).
Nothing here logs names or dates of birth: log lines carry counts only.
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

__all__ = [
    "DateWeights",
    "GenderWeights",
    "MatchSettings",
    "NameWeights",
    "PostcodeWeights",
    "match_people",
]

log = logging.getLogger(__name__)

DEFAULT_NICKNAMES = Path(__file__).with_name("data") / "nicknames.csv"
DEFAULT_WEIGHTS = Path(__file__).with_name("data") / "match_weights.json"

PERSON_COLUMNS = (
    "record_id",
    "forename",
    "surname",
    "date_of_birth",
    "gender",
    "postcode",
    "pnc_id",
    "referral_ref",
)
OUTPUT_COLUMNS = ("left_id", "right_id", "score", "status", "method", "reasons")

MATCHED, POSSIBLE = "matched", "possible"


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


# Comparison levels of each field in the weights file, strongest last; "missing" always scores 0.
WEIGHT_LEVELS: dict[str, tuple[str, ...]] = {
    "forename": ("missing", "different", "similar", "close", "alias", "exact"),
    "surname": ("missing", "different", "similar", "close", "alias", "exact"),
    "date_of_birth": ("missing", "different", "one_digit", "transposed", "exact"),
    "postcode": ("missing", "different", "district", "sector", "full"),
    "gender": ("missing", "different", "agree"),
}


def _probability(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{where}: expected a probability in (0, 1], got {value!r}")
    return float(value)


def _weights_from_table(table: Mapping[str, Any], source: str = "match weights") -> dict[str, Any]:
    """log2(m/u) per level from an m/u table ({field: {level: {m, u}}, "swap": {m, u}}), validated.

    Each field's m and u must each sum to 1 over its levels (they are distributions over the
    levels among matches and non-matches). The swap penalty is max(0, -log2(m/u)) of "swap".
    """
    weights: dict[str, Any] = {}
    for name, levels in WEIGHT_LEVELS.items():
        given = table.get(name)
        if not isinstance(given, Mapping) or set(given) != set(levels):
            found = sorted(given) if isinstance(given, Mapping) else given
            raise ValueError(f"{source}: {name} needs levels {list(levels)}, got {found}")
        m = {lvl: _probability(given[lvl].get("m") if isinstance(given[lvl], Mapping) else None,
                               f"{source}: {name}.{lvl}.m") for lvl in levels}
        u = {lvl: _probability(given[lvl].get("u"), f"{source}: {name}.{lvl}.u") for lvl in levels}
        for label, dist in (("m", m), ("u", u)):
            if abs(sum(dist.values()) - 1.0) > 1e-3:
                raise ValueError(f"{source}: {name} {label} sums to {sum(dist.values()):.4f}, not 1")
        weights[name] = {lvl: round(float(np.log2(m[lvl] / u[lvl])), 2) for lvl in levels if lvl != "missing"}
    swap = table.get("swap")
    if not isinstance(swap, Mapping):
        raise ValueError(f"{source}: swap needs m and u")
    m_swap = _probability(swap.get("m"), f"{source}: swap.m")
    u_swap = _probability(swap.get("u"), f"{source}: swap.u")
    weights["swap_penalty"] = round(max(0.0, -float(np.log2(m_swap / u_swap))), 2)
    return weights


@lru_cache(maxsize=4)
def _fitted(path: str = str(DEFAULT_WEIGHTS)) -> dict[str, Any]:
    """The fitted weights and threshold from ``transforms/data/match_weights.json``, validated.

    Written by ``python -m bench.fit_matching_weights`` (labelled generator, training seed; see
    docs/matching.md). A missing or malformed file fails loudly naming the file.
    """
    import json

    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, Mapping) or not isinstance(document.get("levels"), Mapping):
        raise ValueError(f"{path}: expected an object with 'levels'")
    weights = _weights_from_table({**document["levels"], "swap": document.get("swap")}, path)
    threshold = document.get("match_threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        raise ValueError(f"{path}: match_threshold must be a number, got {threshold!r}")
    weights["match_threshold"] = float(threshold)
    return weights


@dataclass(frozen=True)
class NameWeights:
    """log2(m/u) weights for one name field; a missing value always scores 0.

    ``alias`` is the partial agreement that is not spelling: a nickname or the
    first part of a multi-part forename, or one side of a double-barrelled
    surname.
    """

    exact: float
    alias: float
    close: float
    similar: float
    different: float


@dataclass(frozen=True)
class DateWeights:
    """log2(m/u) weights for date of birth; missing scores 0.

    ``one_digit``: exactly one digit of YYYYMMDD differs, or two neighbouring
    digits are exchanged (2009-03-12 typed 2009-03-21).
    """

    exact: float
    transposed: float
    one_digit: float
    different: float


@dataclass(frozen=True)
class PostcodeWeights:
    """log2(m/u) weights for postcode; missing (or unparseable, e.g. "NFA") scores 0.

    ``full`` and ``sector`` are estimated among blocked candidate pairs, which
    hold the twins and siblings who share a home, so they are far lower than
    the chance agreement of two random children's postcodes would suggest.
    """

    full: float
    sector: float
    district: float
    different: float


@dataclass(frozen=True)
class GenderWeights:
    """log2(m/u) weights for gender; missing scores 0."""

    agree: float
    different: float


def _forename_weights() -> NameWeights:
    return NameWeights(**_fitted()["forename"])


def _surname_weights() -> NameWeights:
    return NameWeights(**_fitted()["surname"])


def _date_weights() -> DateWeights:
    return DateWeights(**_fitted()["date_of_birth"])


def _postcode_weights() -> PostcodeWeights:
    return PostcodeWeights(**_fitted()["postcode"])


def _gender_weights() -> GenderWeights:
    return GenderWeights(**_fitted()["gender"])


def _fitted_threshold() -> float:
    return float(_fitted()["match_threshold"])


def _fitted_swap_penalty() -> float:
    return float(_fitted()["swap_penalty"])


@dataclass(frozen=True)
class MatchSettings:
    """Every tunable of :func:`match_people`.

    Score = sum of the field weights (log2 m/u; a missing value scores 0).
    A pair whose names are swapped is scored on the crossed comparison less
    ``swap_penalty``. The field weights, ``swap_penalty`` and
    ``match_threshold`` default to the values fitted from labelled data in
    ``transforms/data/match_weights.json`` (written by
    ``python -m bench.fit_matching_weights``: training seed 5 of the labelled
    generator, never the benchmark seed; see docs/matching.md). The worked
    cases below use those fitted weights (no name-frequency adjustment):

    - ``match_threshold`` (fitted: 17.25): the highest-F1 threshold on the
      training population among those meeting precision >= 0.995 and recall
      >= 0.98 there. A surname typo with no postcode scores 22.7, a nickname
      with a transposed date and no postcode 18.2: matched. A one-digit-off
      date with no postcode (14.5) or swapped names with a slipped date and
      another street (10.2) are only ``possible``. Twins do not match: a
      different or merely similar forename (Olivia/Emily, Jack/Jake) with
      everything else equal scores 17.15 (a thin margin, see docs/matching.md).
    - ``possible_threshold`` 9.5 (set by hand): puts a wrong date of birth
      (11.4) or an unknown preferred forename with no postcode (11.2) in front
      of a reviewer, and a lone twin (17.15) too, never matched. Unrelated
      children sharing a date of birth and gender score about -0.8.
    - ``ambiguity_margin`` 2.0 (a likelihood ratio of 4): duplicate caseload
      rows or a forename-less record next to twins become ``possible``.
    - ``identifier_conflict_threshold`` 0.0: a referral-ref/PNC match whose
      personal details score below this (a likelihood ratio under 1: e.g.
      forename and surname both different) is downgraded to ``possible``: a mistyped reference must not
      hide a non-engager. ``None`` trusts identifiers unconditionally.
    - ``jw_close`` 0.92 / ``jw_similar`` 0.85: Jaro-Winkler levels. A single
      slip (one insertion, deletion, substitution or adjacent transposition)
      also counts as close unless it changes the first letter of a name of
      under 5 letters (Ava/Eva are more likely two children than a typo).
    - ``blocking_rules``: names from the blocking registry; a pair is scored
      if any rule gives both records the same key. "Names" below is the
      unordered pair (soundex of a forename form, soundex of a surname part),
      so swapped, nicknamed (via the table), typo'd and double-barrelled
      names still share one; "initial" is any initial of the forename forms
      or surname parts. ``date_of_birth``: date + initial;
      ``date_of_birth_transposed``: day/month-swapped date + initial;
      ``names_birth_year``: names + birth year (a slipped day or month);
      ``names_birth_day_month``: names + day and month (a slipped year);
      ``names_date_missing``: names, where either side has no date;
      ``postcode``: full postcode.
    - ``max_block_size`` 500: a blocking key shared by more records than this
      on either side (the YOT office postcode) is skipped so the work stays
      linear, and so is a date of birth shared by more than this many records
      on a side (a placeholder such as 2000-01-01) in the date rules; the
      other rules still cover those records.
    - ``nickname_path``: CSV ``name,canonical`` (the packaged table by default).
    """

    match_threshold: float = field(default_factory=_fitted_threshold)
    possible_threshold: float = 9.5
    ambiguity_margin: float = 2.0
    forename: NameWeights = field(default_factory=_forename_weights)
    surname: NameWeights = field(default_factory=_surname_weights)
    date_of_birth: DateWeights = field(default_factory=_date_weights)
    postcode: PostcodeWeights = field(default_factory=_postcode_weights)
    gender: GenderWeights = field(default_factory=_gender_weights)
    swap_penalty: float = field(default_factory=_fitted_swap_penalty)
    jw_close: float = 0.92
    jw_similar: float = 0.85
    identifier_conflict_threshold: float | None = 0.0
    max_block_size: int = 500
    blocking_rules: tuple[str, ...] = (
        "date_of_birth",
        "date_of_birth_transposed",
        "names_birth_year",
        "names_birth_day_month",
        "names_date_missing",
        "postcode",
    )
    nickname_path: Path = DEFAULT_NICKNAMES
    name_frequency_min_count: int = 20
    name_frequency_max_adjustment: float = 3.0

    def __post_init__(self) -> None:
        if self.possible_threshold > self.match_threshold:
            raise ValueError("possible_threshold must not exceed match_threshold")
        if self.ambiguity_margin < 0:
            raise ValueError("ambiguity_margin must be >= 0")
        unknown = set(self.blocking_rules) - set(_BLOCKING_RULES)
        if unknown:
            raise ValueError(f"unknown blocking rules: {sorted(unknown)}")


# --------------------------------------------------------------------------
# Normalisation (pure, per value; applied to unique values only)
# --------------------------------------------------------------------------

_NON_LETTER = re.compile(r"[^a-z\s-]")
_SEPARATOR = re.compile(r"[\s-]+")
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_PNC = re.compile(r"^(\d{2}|\d{4})/?0*(\d{1,7})([A-Z])$")
_GENDERS = {"m": "M", "male": "M", "boy": "M", "f": "F", "female": "F", "girl": "F"}


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


@lru_cache(maxsize=65536)
def _name_tokens(value: str) -> tuple[str, ...]:
    """Lowercase ASCII tokens: accents, apostrophes and digits dropped; hyphen/space split."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = _NON_LETTER.sub("", ascii_text.lower().replace("'", ""))
    return tuple(token for token in _SEPARATOR.split(cleaned) if token)


def _clean_name(value: object) -> str | None:
    """Tokens joined by single spaces, so "Smith-Jones" == "smith  jones"."""
    if _is_missing(value):
        return None
    tokens = _name_tokens(str(value))
    return " ".join(tokens) or None


@lru_cache(maxsize=65536)
def _split_postcode(value: str) -> tuple[str | None, str | None, str | None]:
    """(full, sector, district) of a UK postcode; an outward code alone gives district only."""
    compact = re.sub(r"[^A-Z0-9]", "", value.upper())
    parsed = _POSTCODE.match(compact)
    if parsed:
        outward, inward = parsed.groups()
        return f"{outward} {inward}", f"{outward} {inward[0]}", outward
    if _OUTWARD.match(compact):
        return None, None, compact
    return None, None, None  # "NFA", "UNKNOWN", garbage: treated as missing


def _clean_gender(value: object) -> str | None:
    """"M"/"F", else None: unknown, unstated or other recorded genders are not
    compared, because agencies record them inconsistently and a disagreement
    would wrongly penalise the child."""
    if _is_missing(value):
        return None
    return _GENDERS.get(str(value).strip().lower())


def _clean_referral_ref(value: object) -> str | None:
    if _is_missing(value):
        return None
    return str(value).strip().upper() or None


def _clean_pnc(value: object) -> str | None:
    """Strip/upper/remove spaces; recognisable PNC ids also get a canonical
    YY/NNNNNNNA form so "2009/123456X" equals "09/0123456X"."""
    if _is_missing(value):
        return None
    compact = re.sub(r"\s+", "", str(value)).upper()
    parsed = _PNC.match(compact)
    if parsed:
        year, serial, check = parsed.groups()
        return f"{year[-2:]}/{int(serial):07d}{check}"
    return compact or None


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


@lru_cache(maxsize=65536)
def _soundex(token: str) -> str:
    """American Soundex of a lowercase token (h/w do not separate equal codes)."""
    digits: list[str] = []
    previous = _SOUNDEX_CODES.get(token[0], "")
    for char in token[1:]:
        code = _SOUNDEX_CODES.get(char, "")
        if code and code != previous:
            digits.append(code)
        if char not in "hw":
            previous = code
    return (token[0].upper() + "".join(digits) + "000")[:4]


# --------------------------------------------------------------------------
# Nicknames
# --------------------------------------------------------------------------


Nicknames = Mapping[str, frozenset[str]]  # name -> {name, canonical forms}


@lru_cache(maxsize=8)
def _load_nicknames(path: str) -> Nicknames:
    """name -> {name, its canonical forms}; two names are equivalent when their sets meet.

    Sharing a canonical form links nicknames too (bill ~ will via william);
    two canonical names are never linked to each other (alexander vs alexandra).
    """
    groups: dict[str, set[str]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name, canonical = row["name"].strip().lower(), row["canonical"].strip().lower()
            if name and canonical and name != canonical:
                groups.setdefault(name, {name}).add(canonical)
    return {name: frozenset(forms) for name, forms in groups.items()}


def _nickname_link(a: str, b: str, nicknames: Nicknames) -> bool:
    if a == b or (a not in nicknames and b not in nicknames):
        return False
    return not nicknames.get(a, frozenset((a,))).isdisjoint(nicknames.get(b, frozenset((b,))))


# --------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------


def _map_unique(series: pd.Series, func: Callable[[object], object]) -> np.ndarray:
    """Apply a per-value cleaner once per distinct value (names repeat a lot)."""
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)  # the last slot (code -1) is missing
    for i, value in enumerate(uniques):
        mapped[i] = func(value)
    return mapped[codes]


def _text(series: pd.Series) -> pd.Series:
    """As a (vectorised) string column; missing stays missing."""
    return series.astype(object).astype("string")


def _nullable_objects(series: pd.Series) -> np.ndarray:
    """Object array with None for missing and for empty strings."""
    values = series.to_numpy(dtype=object, na_value=None)
    values[values == ""] = None
    return values


def _postcode_columns(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`_split_postcode` (postcodes are nearly all distinct, so per-value Python is slow)."""
    compact = _text(series).str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    parts = compact.str.extract(_POSTCODE.pattern)
    outward, inward = parts[0], parts[1]
    outward_only = compact.str.fullmatch(_OUTWARD.pattern[1:-1]).fillna(False).astype(bool)
    district = outward.where(outward.notna(), compact.where(outward_only))
    return (
        _nullable_objects(outward + " " + inward),
        _nullable_objects(outward + " " + inward.str[0]),
        _nullable_objects(district),
    )


def _pnc_column(series: pd.Series) -> np.ndarray:
    """Vectorised :func:`_clean_pnc`."""
    compact = _text(series).str.replace(r"\s+", "", regex=True).str.upper()
    parts = compact.str.extract(_PNC.pattern)
    canonical = parts[0].str[-2:] + "/" + parts[1].str.zfill(7) + parts[2]
    return _nullable_objects(canonical.where(canonical.notna(), compact))


def _referral_ref_column(series: pd.Series) -> np.ndarray:
    """Vectorised :func:`_clean_referral_ref`."""
    return _nullable_objects(_text(series).str.strip().str.upper())


def _date_keys(series: pd.Series) -> np.ndarray:
    """Dates as YYYYMMDD integers, 0 when missing or unparseable."""
    dates = pd.to_datetime(series, errors="coerce")
    present = dates.notna().to_numpy()
    ymd = np.zeros(len(dates), dtype=np.int64)
    if present.any():
        valid = dates[present]
        ymd[present] = (
            valid.dt.year.to_numpy(dtype=np.int64) * 10000
            + valid.dt.month.to_numpy(dtype=np.int64) * 100
            + valid.dt.day.to_numpy(dtype=np.int64)
        )
    return ymd


def _transpose_day_month(ymd: np.ndarray) -> np.ndarray:
    """The date with day and month swapped, or 0 where that is not a different valid date."""
    day, month = ymd % 100, (ymd // 100) % 100
    swapped = (ymd // 10000) * 10000 + day * 100 + month
    return np.where((ymd > 0) & (day <= 12) & (day != month), swapped, 0)


def _objects(values: object) -> pd.Series:
    return pd.Series(values, dtype=object)


def _prepare(frame: pd.DataFrame, side: str) -> pd.DataFrame:
    """Normalised comparison columns, one row per input row, in input order."""
    missing_columns = [c for c in PERSON_COLUMNS if c not in frame.columns]
    if missing_columns:
        raise ValueError(f"{side} frame lacks columns {missing_columns}")
    ids = frame["record_id"]
    if ids.isna().any():
        raise ValueError(f"{side} frame has {int(ids.isna().sum())} null record_id values")
    ids = ids.astype(str)
    if ids.duplicated().any():
        examples = ids[ids.duplicated()].head(5).tolist()
        raise ValueError(f"{side} frame has duplicate record_id values, e.g. {examples}")

    full, sector, district = _postcode_columns(frame["postcode"])
    ymd = _date_keys(frame["date_of_birth"])
    # Object columns with None for missing: pandas would otherwise infer the
    # string dtype and turn None into NaN.
    return pd.DataFrame(
        {
            "record_id": _objects(ids.to_numpy(dtype=object)),
            "forename": _objects(_map_unique(frame["forename"], _clean_name)),
            "surname": _objects(_map_unique(frame["surname"], _clean_name)),
            "dob": ymd,
            "dob_transposed": _transpose_day_month(ymd),
            "gender": _objects(_map_unique(frame["gender"], _clean_gender)),
            "pc_full": _objects(full),
            "pc_sector": _objects(sector),
            "pc_district": _objects(district),
            "pnc": _objects(_pnc_column(frame["pnc_id"])),
            "ref": _objects(_referral_ref_column(frame["referral_ref"])),
        },
    )


# --------------------------------------------------------------------------
# Deterministic rules
# --------------------------------------------------------------------------


def _identifier_pairs(left: pd.DataFrame, right: pd.DataFrame, column: str) -> pd.DataFrame:
    """Positions (li, ri) sharing an identifier that is unique on both sides.

    A value repeated on either side (duplicate caseload rows, a copied ref) is
    not trusted deterministically; those records fall through to scoring,
    where the ambiguity margin sends them to review.
    """
    keys = []
    for frame, name in ((left, "li"), (right, "ri")):
        values = frame[column].dropna()
        values = values[~values.duplicated(keep=False)]
        keys.append(pd.DataFrame({name: values.index.to_numpy(), "key": values.to_numpy()}))
    return keys[0].merge(keys[1], on="key")[["li", "ri"]]


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

# Name levels, ordered by strength.
MISSING, DIFFERENT, SIMILAR, CLOSE, ALIAS, EXACT = range(6)
# Date levels.
D_MISSING, D_DIFFERENT, D_ONE_DIGIT, D_TRANSPOSED, D_EXACT = range(5)
# Postcode levels.
P_MISSING, P_DIFFERENT, P_DISTRICT, P_SECTOR, P_FULL = range(5)
# Gender levels.
G_MISSING, G_DIFFERENT, G_AGREE = range(3)


def _name_weight_table(weights: NameWeights) -> np.ndarray:
    return np.array([0.0, weights.different, weights.similar, weights.close, weights.alias, weights.exact])


class _Names(NamedTuple):
    """Per-record name features, computed once per frame and indexed per pair."""

    spaced: np.ndarray  # "mary jane"; "" when missing (alias rules need the parts)
    compact: np.ndarray  # "maryjane" (spelling comparisons ignore spaces/hyphens)
    length: np.ndarray
    initial: np.ndarray
    multi: np.ndarray  # more than one part
    in_table: np.ndarray  # first part appears in the nickname table

    def take(self, idx: np.ndarray) -> _Names:
        return _Names(*(column[idx] for column in self))


def _name_features(values: pd.Series, vocabulary: frozenset[str]) -> _Names:
    spaced = values.to_numpy(dtype=object, na_value="")
    compact = np.array([v.replace(" ", "") for v in spaced], dtype=object)
    return _Names(
        spaced=spaced,
        compact=compact,
        length=np.array([len(v) for v in compact], dtype=np.int64),
        initial=np.array([v[:1] for v in compact], dtype=object),
        multi=np.array([" " in v for v in spaced], dtype=bool),
        in_table=np.array([v.split(" ", 1)[0] in vocabulary for v in spaced], dtype=bool),
    )


def _spelling_levels(a: _Names, b: _Names, settings: MatchSettings) -> np.ndarray:
    """exact / close / similar / different / missing from spelling alone (vectorised)."""
    present = (a.length > 0) & (b.length > 0)
    levels = np.where(present, DIFFERENT, MISSING)
    idx = np.flatnonzero(present)
    if not len(idx):
        return levels
    a_c, b_c = a.compact[idx], b.compact[idx]
    jw = process.cpdist(a_c, b_c, scorer=JaroWinkler.normalized_similarity)
    osa = process.cpdist(a_c, b_c, scorer=OSA.distance)
    lev = process.cpdist(a_c, b_c, scorer=Levenshtein.distance)
    shortest = np.minimum(a.length[idx], b.length[idx])
    close = _close_spelling(jw, osa, lev, shortest, a.initial[idx] == b.initial[idx], settings)
    levels[idx] = np.select([a_c == b_c, close, jw >= settings.jw_similar], [EXACT, CLOSE, SIMILAR], DIFFERENT)
    return levels


def _close_spelling(jw: Any, osa: Any, lev: Any, shortest: Any, same_initial: Any, settings: MatchSettings) -> Any:
    """Works on scalars or arrays. One slip (OSA distance 1) is a typo unless it
    changes the first letter of a short name: Ava/Eva are usually two children,
    Ivy/Iay one. An adjacent transposition (OSA 1, Levenshtein 2) always is."""
    single_slip = (osa == 1) & (same_initial | (shortest >= 5) | (lev == 2))
    return (jw >= settings.jw_close) | single_slip


def _is_close(x: str, y: str, settings: MatchSettings) -> bool:
    return bool(
        _close_spelling(
            JaroWinkler.normalized_similarity(x, y),
            OSA.distance(x, y),
            Levenshtein.distance(x, y),
            min(len(x), len(y)),
            x[:1] == y[:1],
            settings,
        )
    )


Alias = Callable[[str, str], "tuple[int, str] | None"]


def _forename_alias(a: str, b: str, nicknames: Nicknames) -> tuple[int, str] | None:
    """(ALIAS, 'part') for Mary vs Mary Jane, (ALIAS, 'nickname') for Alex vs Alexander."""
    ta, tb = a.split(), b.split()
    if ta != tb and (ta[: len(tb)] == tb or tb[: len(ta)] == ta):
        return ALIAS, "part"
    if _nickname_link(ta[0], tb[0], nicknames):
        return ALIAS, "nickname"
    return None


def _surname_alias(a: str, b: str, settings: MatchSettings) -> tuple[int, str] | None:
    """A double-barrelled surname sharing a part with the other side: (ALIAS,
    'part') when a part is equal, (CLOSE, 'part') when only a typo away."""
    ta, tb = a.split(), b.split()
    if len(ta) == 1 and len(tb) == 1:
        return None
    if not set(ta).isdisjoint(tb):
        return ALIAS, "part"
    if any(_is_close(x, y, settings) for x in ta for y in tb):
        return CLOSE, "part"
    return None


def _name_levels(
    a: _Names, b: _Names, alias: Alias, candidates: np.ndarray, settings: MatchSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Levels plus the alias kind; the (Python) alias rules run only on ``candidates``."""
    levels = _spelling_levels(a, b, settings)
    kinds = np.full(len(levels), None, dtype=object)
    for i in np.flatnonzero(candidates & (levels >= DIFFERENT) & (levels < ALIAS)):
        found = alias(a.spaced[i], b.spaced[i])
        if found and found[0] > levels[i]:
            levels[i], kinds[i] = found
    return levels, kinds


def _forename_candidates(a: _Names, b: _Names) -> np.ndarray:
    return a.multi | b.multi | (a.in_table & b.in_table)


def _surname_candidates(a: _Names, b: _Names) -> np.ndarray:
    return a.multi | b.multi


# --------------------------------------------------------------------------
# Coded features (computed once per run; the hot path works on integer codes)
# --------------------------------------------------------------------------


class _Side(NamedTuple):
    """Per-record integer features of one side used by blocking."""

    forename: np.ndarray  # code into the shared name vocabulary (the last code is "missing")
    surname: np.ndarray
    dob: np.ndarray  # YYYYMMDD, 0 missing
    dob_transposed: np.ndarray
    postcode: np.ndarray  # full postcode code, -1 missing

    def take(self, idx: np.ndarray) -> _Side:
        return _Side(*(column[idx] for column in self))


class _Csr(NamedTuple):
    """A list of ints per vocabulary entry: entry v owns values[offsets[v]:offsets[v + 1]]."""

    offsets: np.ndarray
    values: np.ndarray

    @staticmethod
    def build(lists: list[list[int]]) -> _Csr:
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(values) for values in lists])
        values = np.fromiter((v for values in lists for v in values), dtype=np.int64, count=int(offsets[-1]))
        return _Csr(offsets, values)

    def explode(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(record position, value) for every value of every record's entry."""
        counts = self.offsets[codes + 1] - self.offsets[codes]
        pos = np.repeat(np.arange(len(codes), dtype=np.int64), counts)
        first = np.repeat(self.offsets[codes] - (np.cumsum(counts) - counts), counts)
        return pos, self.values[first + np.arange(len(pos), dtype=np.int64)]


class _Context(NamedTuple):
    """Both frames as integer codes: names index one shared vocabulary, so each
    distinct (name, name) pair is compared once however many record pairs share it."""

    names: _Names  # vocabulary features; the last entry is "" (missing)
    forename_initials: np.ndarray  # per vocabulary entry, bitmask of initials of its forename forms
    surname_initials: np.ndarray  # bitmask of initials of its parts
    forename_soundex: _Csr  # soundex (as int) of each forename form
    surname_soundex: _Csr  # soundex of each part and of the parts joined
    left: _Side
    right: _Side
    left_postcode: tuple[np.ndarray, np.ndarray, np.ndarray]  # full, sector, district codes (-1 missing)
    right_postcode: tuple[np.ndarray, np.ndarray, np.ndarray]
    left_gender: np.ndarray  # G_* codes: 0 missing, 1 "M", 2 "F"
    right_gender: np.ndarray
    forename_frequency: np.ndarray  # per vocabulary entry, log2(u_avg / u_value) for an exact forename (0 = no data)
    surname_frequency: np.ndarray


def _soundex_int(token: str) -> int:
    """Soundex as an int below _SOUNDEX_SPACE ("H634" -> letter * 343 + digits in base 7)."""
    code = _soundex(token)
    return (ord(code[0]) - ord("A")) * 343 + int(code[1]) * 49 + int(code[2]) * 7 + int(code[3])


_SOUNDEX_SPACE = 26 * 343


def _initials_mask(words: Iterable[str]) -> int:
    mask = 0
    for word in words:
        letter = ord(word[0]) - ord("a")
        if 0 <= letter < 26:
            mask |= 1 << letter
    return mask


def _forename_forms(forename: str, nicknames: Nicknames) -> frozenset[str]:
    """First part of the forename and its canonical forms (Bill -> bill, william)."""
    first = forename.split()[0]
    return nicknames.get(first, frozenset((first,)))


def _codes(values: list[np.ndarray]) -> list[np.ndarray]:
    """Factorise several object arrays together (None -> -1), one code array each back."""
    joined = np.concatenate(values) if values else np.empty(0, dtype=object)
    codes, _ = pd.factorize(pd.Series(joined, dtype=object), use_na_sentinel=True)
    return np.split(codes.astype(np.int64), np.cumsum([len(v) for v in values])[:-1])


def _frequency_adjustment(codes: np.ndarray, size: int, min_count: int, cap: float) -> np.ndarray:
    """Term-frequency adjustment per vocabulary entry (splink's "tf" in Fellegi-Sunter terms).

    Two records agreeing on a name carry log2(m / u) of evidence, where u is the
    chance that two different children share it. The level weight assumes the
    average u (sum of squared name shares); for one name u is its own share, so the
    weight moves by log2(average u / share): Olivia Smith agreeing counts less than
    Zebedee Quartermaine. Only common names are adjusted (down, by at most
    ``cap``); rare names keep the level weight, because raising them made more
    namesake false matches at 100k records. Names seen fewer than ``min_count``
    times get no adjustment (a share from a handful of rows means nothing).
    """
    present = codes[codes < size]
    adjustment = np.zeros(size + 1)
    if not len(present):
        return adjustment
    counts = np.bincount(present, minlength=size).astype(float)
    share = counts / counts.sum()
    average = float((share**2).sum())
    known = counts >= min_count
    adjustment[:size][known] = np.clip(np.log2(average / share[known]), -cap, 0.0)
    return adjustment


def _context(
    left: pd.DataFrame, right: pd.DataFrame, nicknames: Nicknames, settings: MatchSettings | None = None
) -> _Context:
    settings = settings or MatchSettings()
    n_left, n_right = len(left), len(right)
    columns = [left["forename"], right["forename"], left["surname"], right["surname"]]
    joined = pd.Series(np.concatenate([c.to_numpy(dtype=object) for c in columns]), dtype=object)
    codes, vocabulary = pd.factorize(joined, use_na_sentinel=True)
    words = [str(word) for word in vocabulary]
    missing = len(words)
    codes = np.where(codes < 0, missing, codes).astype(np.int64)
    lf, rf, ls, rs = np.split(codes, np.cumsum([n_left, n_right, n_left]))

    table = frozenset(nicknames) | frozenset().union(*nicknames.values())
    forms = [_forename_forms(word, nicknames) for word in words]
    parts = [word.split() for word in words]
    surname_codes = [{_soundex_int(p) for p in ps} | {_soundex_int("".join(ps))} for ps in parts]

    def sides(frame: pd.DataFrame, forename: np.ndarray, surname: np.ndarray, postcode: np.ndarray) -> _Side:
        dob = frame["dob"].to_numpy(np.int64)
        return _Side(forename, surname, dob, frame["dob_transposed"].to_numpy(np.int64), postcode)

    postcodes = [
        _codes([left[c].to_numpy(dtype=object), right[c].to_numpy(dtype=object)])
        for c in ("pc_full", "pc_sector", "pc_district")
    ]
    gender_codes = {"M": 1, "F": 2}

    def gender(frame: pd.DataFrame) -> np.ndarray:
        return np.array([gender_codes.get(g, G_MISSING) for g in frame["gender"]], dtype=np.int64)

    return _Context(
        names=_name_features(pd.Series(words + [""], dtype=object), table),
        forename_initials=np.array([_initials_mask(f) for f in forms] + [0], dtype=np.int64),
        surname_initials=np.array([_initials_mask(p) for p in parts] + [0], dtype=np.int64),
        forename_soundex=_Csr.build([sorted({_soundex_int(f) for f in fs}) for fs in forms] + [[]]),
        surname_soundex=_Csr.build([sorted(c) for c in surname_codes] + [[]]),
        left=sides(left, lf, ls, postcodes[0][0]),
        right=sides(right, rf, rs, postcodes[0][1]),
        left_postcode=(postcodes[0][0], postcodes[1][0], postcodes[2][0]),
        right_postcode=(postcodes[0][1], postcodes[1][1], postcodes[2][1]),
        left_gender=gender(left),
        forename_frequency=_frequency_adjustment(
            np.concatenate([lf, rf]), missing, settings.name_frequency_min_count, settings.name_frequency_max_adjustment
        ),
        surname_frequency=_frequency_adjustment(
            np.concatenate([ls, rs]), missing, settings.name_frequency_min_count, settings.name_frequency_max_adjustment
        ),
        right_gender=gender(right),
    )


# --------------------------------------------------------------------------
# Blocking
# --------------------------------------------------------------------------

# A rule gives (record position, int64 key) rows for one side.
KeyFunction = Callable[[_Context, _Side], "tuple[np.ndarray, np.ndarray]"]
_INITIAL_SPACE = 32  # date keys are YYYYMMDD * 32 + initial


def _initials(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    """(pos, initial) for each initial of the forename forms (Bill: b, w) and of each surname part:
    a swapped, nicknamed, forename-less or double-barrelled record still shares one."""
    mask = ctx.forename_initials[side.forename] | ctx.surname_initials[side.surname]
    positions, letters = [], []
    for letter in range(26):
        hit = np.flatnonzero((mask >> letter) & 1)
        positions.append(hit)
        letters.append(np.full(len(hit), letter, dtype=np.int64))
    return np.concatenate(positions), np.concatenate(letters)


def _date_initial(dates: np.ndarray, ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    pos, letter = _initials(ctx, side)
    date = dates[pos]
    keep = date > 0
    return pos[keep], date[keep] * _INITIAL_SPACE + letter[keep]


def _dob_initial_key(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    return _date_initial(side.dob, ctx, side)


def _dob_transposed_initial_key(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    return _date_initial(side.dob_transposed, ctx, side)


def _name_pairs(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    """(pos, key) for every (forename-form soundex, surname-part soundex) of a record, as an
    unordered pair: the same key whichever name is in which field, so swapped names meet."""
    f_pos, f_code = ctx.forename_soundex.explode(side.forename)
    s_pos, s_code = ctx.surname_soundex.explode(side.surname)
    crossed = pd.DataFrame({"pos": f_pos, "f": f_code}).merge(pd.DataFrame({"pos": s_pos, "s": s_code}), on="pos")
    f, s = crossed["f"].to_numpy(np.int64), crossed["s"].to_numpy(np.int64)
    return crossed["pos"].to_numpy(np.int64), np.minimum(f, s) * _SOUNDEX_SPACE + np.maximum(f, s)


def _names_year_key(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    """Names + birth year: a slipped day or month (or both names typed differently but alike)."""
    pos, key = _name_pairs(ctx, side)
    date = side.dob[pos]
    keep = date > 0
    return pos[keep], key[keep] * 10000 + date[keep] // 10000


def _names_day_month_key(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    """Names + day and month of birth: a slipped year."""
    pos, key = _name_pairs(ctx, side)
    date = side.dob[pos]
    keep = date > 0
    return pos[keep], key[keep] * 10000 + date[keep] % 10000


def _names_date_missing_key(mine: int) -> KeyFunction:
    """Names alone, for pairs where either side has no date of birth.

    Key ``names*2 + 0`` joins any left record with a right record missing its date, and
    ``names*2 + 1`` a left record missing its date with any right record: each side emits
    "any" under its own flag and "missing" under the other's.
    """

    def key(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
        pos, names = _name_pairs(ctx, side)
        missing = side.dob[pos] == 0
        return (
            np.concatenate([pos, pos[missing]]),
            np.concatenate([names * 2 + mine, names[missing] * 2 + (1 - mine)]),
        )

    return key


def _postcode_key(ctx: _Context, side: _Side) -> tuple[np.ndarray, np.ndarray]:
    pos = np.flatnonzero(side.postcode >= 0)
    return pos, side.postcode[pos]


class _Rule(NamedTuple):
    left: KeyFunction
    right: KeyFunction
    placeholder: int  # key // placeholder is a coarser value (a date) that is skipped when oversized; 0 none


# name -> rule; a pair is a candidate when any rule gives both records the same key.
_BLOCKING_RULES: dict[str, _Rule] = {
    "date_of_birth": _Rule(_dob_initial_key, _dob_initial_key, _INITIAL_SPACE),
    # Transposition is symmetric, so one direction finds every such pair.
    "date_of_birth_transposed": _Rule(_dob_transposed_initial_key, _dob_initial_key, _INITIAL_SPACE),
    "names_birth_year": _Rule(_names_year_key, _names_year_key, 0),
    "names_birth_day_month": _Rule(_names_day_month_key, _names_day_month_key, 0),
    "names_date_missing": _Rule(_names_date_missing_key(0), _names_date_missing_key(1), 0),
    "postcode": _Rule(_postcode_key, _postcode_key, 0),
}


def _oversized(keys: list[np.ndarray], limit: int) -> np.ndarray:
    """Key values held by more than ``limit`` records on either side."""
    found = [values[counts > limit] for values, counts in (np.unique(k, return_counts=True) for k in keys)]
    return np.unique(np.concatenate(found))


def _join(lk: tuple[np.ndarray, np.ndarray], rk: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Equi-join on key by sorting and searching (no hash table of pairs)."""
    (l_pos, l_key), (r_pos, r_key) = lk, rk
    order = np.argsort(r_key, kind="stable")
    r_key, r_pos = r_key[order], r_pos[order]
    lo = np.searchsorted(r_key, l_key, side="left")
    counts = np.searchsorted(r_key, l_key, side="right") - lo
    li = np.repeat(l_pos, counts)
    first = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    return li, r_pos[first + np.arange(len(li), dtype=np.int64)]


def _unique_rows(pos: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = pd.DataFrame({"pos": pos, "key": key}).drop_duplicates()
    return rows["pos"].to_numpy(np.int64), rows["key"].to_numpy(np.int64)


def _candidate_pairs(
    ctx: _Context, free_left: np.ndarray, free_right: np.ndarray, settings: MatchSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated union of pairs sharing any blocking key among the free records,
    as positions in the full frames. Equi-joins on int64 keys, so the work grows
    with the block sizes, not with len(left) * len(right)."""
    left, right = ctx.left.take(free_left), ctx.right.take(free_right)
    n_right = len(free_right)
    codes: list[np.ndarray] = []
    for name in settings.blocking_rules:
        rule = _BLOCKING_RULES[name]
        lk, rk = _unique_rows(*rule.left(ctx, left)), _unique_rows(*rule.right(ctx, right))
        skipped = 0
        if rule.placeholder:  # e.g. a "date unknown" default typed for hundreds of children
            coarse = _oversized([lk[1] // rule.placeholder, rk[1] // rule.placeholder], settings.max_block_size)
            skipped += len(coarse)
            lk = tuple(a[~np.isin(lk[1] // rule.placeholder, coarse)] for a in lk)  # type: ignore[assignment]
            rk = tuple(a[~np.isin(rk[1] // rule.placeholder, coarse)] for a in rk)  # type: ignore[assignment]
        big = _oversized([lk[1], rk[1]], settings.max_block_size)
        if len(big):
            skipped += len(big)
            lk = tuple(a[~np.isin(lk[1], big)] for a in lk)  # type: ignore[assignment]
            rk = tuple(a[~np.isin(rk[1], big)] for a in rk)  # type: ignore[assignment]
        if skipped:
            log.warning("blocking rule %s: skipped %d oversized key(s)", name, skipped)
        li, ri = _join(lk, rk)
        codes.append(li * n_right + ri)
        log.debug("blocking rule %s: %d pair(s)", name, len(li))
    unique = np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    return free_left[unique // max(n_right, 1)], free_right[unique % max(n_right, 1)]


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------


def _date_levels(a: np.ndarray, b: np.ndarray, a_transposed: np.ndarray) -> np.ndarray:
    """YYYYMMDD ints (0 = missing). One digit off = exactly one differing
    character in YYYYMMDD (a slipped key) or two neighbouring characters
    exchanged (2009-03-12 typed 2009-03-21)."""
    present = (a > 0) & (b > 0)
    da = [(a // 10**k) % 10 for k in range(8)]
    db = [(b // 10**k) % 10 for k in range(8)]
    differing_digits = sum((x != y).astype(np.int8) for x, y in zip(da, db))
    exchanged = np.zeros(len(a), dtype=bool)
    for k in range(7):
        exchanged |= (da[k] == db[k + 1]) & (da[k + 1] == db[k]) & (da[k] != da[k + 1])
    one_digit = (differing_digits == 1) | ((differing_digits == 2) & exchanged)
    return np.select(
        [~present, a == b, a_transposed == b, one_digit],
        [D_MISSING, D_EXACT, D_TRANSPOSED, D_ONE_DIGIT],
        D_DIFFERENT,
    )


def _postcode_levels(ctx: _Context, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """Full > sector ("RG14 5") > district ("RG14"); missing when either side has no district."""
    (full_a, sector_a, district_a), (full_b, sector_b, district_b) = (
        tuple(c[li] for c in ctx.left_postcode),
        tuple(c[ri] for c in ctx.right_postcode),
    )
    return np.select(
        [
            (district_a < 0) | (district_b < 0),
            (full_a >= 0) & (full_a == full_b),
            (sector_a >= 0) & (sector_a == sector_b),
            district_a == district_b,
        ],
        [P_MISSING, P_FULL, P_SECTOR, P_DISTRICT],
        P_DIFFERENT,
    )


def _coded_levels(
    ctx: _Context,
    a: np.ndarray,
    b: np.ndarray,
    alias: Alias,
    candidates: Callable[[_Names, _Names], np.ndarray],
    settings: MatchSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_name_levels` for vocabulary codes, computed once per distinct (a, b) and gathered back."""
    if not len(a):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    width = len(ctx.names.spaced)
    inverse, unique = pd.factorize(a * width + b)
    first, second = ctx.names.take(unique // width), ctx.names.take(unique % width)
    levels, kinds = _name_levels(first, second, alias, candidates(first, second), settings)
    return levels[inverse], kinds[inverse]


def _score_pairs(
    ctx: _Context,
    li: np.ndarray,
    ri: np.ndarray,
    settings: MatchSettings,
    nicknames: Nicknames,
) -> pd.DataFrame:
    """One row per candidate pair (positions in the full frames): comparison levels and the summed weight."""
    lf, rf = ctx.left.forename[li], ctx.right.forename[ri]
    ls, rs = ctx.left.surname[li], ctx.right.surname[ri]
    lg, rg = ctx.left_gender[li], ctx.right_gender[ri]
    gender = np.select([(lg == G_MISSING) | (rg == G_MISSING), lg == rg], [G_MISSING, G_AGREE], G_DIFFERENT)

    forename_alias = partial(_forename_alias, nicknames=nicknames)
    surname_alias = partial(_surname_alias, settings=settings)
    f_level, f_kind = _coded_levels(ctx, lf, rf, forename_alias, _forename_candidates, settings)
    s_level, s_kind = _coded_levels(ctx, ls, rs, surname_alias, _surname_candidates, settings)

    # Boy/girl twins (Alexander/Alexandra, Alex/Alexander): when gender differs
    # only an exact forename keeps its weight.
    gender_differs = gender == G_DIFFERENT
    f_level = np.where(gender_differs & (f_level > DIFFERENT) & (f_level < EXACT), DIFFERENT, f_level)

    fw, sw = _name_weight_table(settings.forename), _name_weight_table(settings.surname)
    names = fw[f_level] + sw[s_level]

    # Forename and surname swapped: score the crossed comparison where the straight one is weak.
    swapped = np.zeros(len(li), dtype=bool)
    length = ctx.names.length
    weak = (f_level < ALIAS) & (length[lf] > 0) & (length[rf] > 0) & (length[ls] > 0) & (length[rs] > 0)
    idx = np.flatnonzero(weak)
    if len(idx):
        cf, cf_kind = _coded_levels(ctx, lf[idx], rs[idx], forename_alias, _forename_candidates, settings)
        cs, cs_kind = _coded_levels(ctx, ls[idx], rf[idx], surname_alias, _surname_candidates, settings)
        cf = np.where(gender_differs[idx] & (cf < EXACT), DIFFERENT, cf)
        crossed = fw[cf] + sw[cs] - settings.swap_penalty
        better = (cf >= CLOSE) & (cs >= CLOSE) & (crossed > names[idx])
        hit = idx[better]
        swapped[hit] = True
        f_level[hit], s_level[hit] = cf[better], cs[better]
        f_kind[hit], s_kind[hit] = cf_kind[better], cs_kind[better]
        names[hit] = crossed[better]

    # Exact names are worth less for common names, more for rare ones (the right
    # record's fields are the ones in the right place when names were swapped).
    names += np.where(f_level == EXACT, ctx.forename_frequency[rf], 0.0)
    names += np.where(s_level == EXACT, ctx.surname_frequency[rs], 0.0)

    d_level = _date_levels(ctx.left.dob[li], ctx.right.dob[ri], ctx.left.dob_transposed[li])
    p_level = _postcode_levels(ctx, li, ri)
    dw, pw, gw = settings.date_of_birth, settings.postcode, settings.gender
    score = (
        names
        + np.array([0.0, dw.different, dw.one_digit, dw.transposed, dw.exact])[d_level]
        + np.array([0.0, pw.different, pw.district, pw.sector, pw.full])[p_level]
        + np.array([0.0, gw.different, gw.agree])[gender]
    )
    return pd.DataFrame(
        {
            "li": li,
            "ri": ri,
            "score": score.astype(float),
            "f_level": f_level,
            "f_kind": f_kind,
            "s_level": s_level,
            "s_kind": s_kind,
            "swapped": swapped,
            "d_level": d_level,
            "p_level": p_level,
            "g_level": gender,
        }
    )


# --------------------------------------------------------------------------
# Reasons (built only for returned rows)
# --------------------------------------------------------------------------

_NAME_TEXT = {
    EXACT: "exact",
    CLOSE: "close spelling",
    SIMILAR: "partly similar",
    DIFFERENT: "different",
    MISSING: "missing",
}
_DATE_TEXT = {
    D_EXACT: "exact",
    D_TRANSPOSED: "day/month transposed",
    D_ONE_DIGIT: "one digit off",
    D_DIFFERENT: "different",
    D_MISSING: "missing",
}
_POSTCODE_TEXT = {
    P_FULL: "full",
    P_SECTOR: "sector",
    P_DISTRICT: "district",
    P_DIFFERENT: "different",
    P_MISSING: "missing",
}


def _reasons(scored: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    """Human-readable explanation per scored row (only for rows we return)."""
    li, ri = scored["li"].to_numpy(np.int64), scored["ri"].to_numpy(np.int64)
    names = zip(
        left["forename"].to_numpy(dtype=object)[li],
        right["forename"].to_numpy(dtype=object)[ri],
        right["surname"].to_numpy(dtype=object)[ri],
    )
    return [_reason(row, lf, rf, rs) for row, (lf, rf, rs) in zip(scored.itertuples(), names)]


def _reason(row: Any, lf: str | None, rf: str | None, rs: str | None) -> str:
    """e.g. "forename nickname (alex~alexander); surname exact; date of birth exact; postcode district"."""
    parts: list[str] = []
    if row.swapped:
        parts.append("forename/surname swapped")
        rf = rs
    f_level, f_kind, s_level, s_kind = row.f_level, row.f_kind, row.s_level, row.s_kind
    if f_level == ALIAS and f_kind == "nickname" and lf and rf:
        parts.append(f"forename nickname ({lf.split()[0]}~{rf.split()[0]})")
    elif f_level == ALIAS:
        parts.append("forename first part")
    else:
        parts.append(f"forename {_NAME_TEXT[f_level]}")
    if s_level == ALIAS:
        parts.append("surname one part of double-barrelled")
    elif s_kind == "part":
        parts.append("surname close to one part of double-barrelled")
    else:
        parts.append(f"surname {_NAME_TEXT[s_level]}")
    parts.append(f"date of birth {_DATE_TEXT[row.d_level]}")
    parts.append(f"postcode {_POSTCODE_TEXT[row.p_level]}")
    if row.g_level == G_DIFFERENT:
        parts.append("gender different")
    return "; ".join(parts)


# --------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------


def _assign(scored: pd.DataFrame, settings: MatchSettings) -> pd.DataFrame:
    """Greedy one-to-one by descending score, with near ties sent to review.

    For the best remaining pair (l, r): if l has another still-free candidate,
    or r does, within ``ambiguity_margin``, the pair and those competitors are
    ``possible`` and l and r are used up (neither may be matched elsewhere).
    Competitors stay free, so a clear match of theirs later still counts.
    Otherwise the pair is ``matched`` (or ``possible`` below the match
    threshold) and both records are used up.
    """
    pairs = scored[scored["score"] >= settings.possible_threshold]
    pairs = pairs.sort_values(["score", "li", "ri"], ascending=[False, True, True], kind="stable")
    by_left: dict[int, list[tuple[float, int, int]]] = {}  # l -> [(score, r, row index)]
    by_right: dict[int, list[tuple[float, int, int]]] = {}
    rows = list(zip(pairs.index, pairs["li"], pairs["ri"], pairs["score"]))
    for index, l, r, s in rows:
        by_left.setdefault(l, []).append((s, r, index))
        by_right.setdefault(r, []).append((s, l, index))

    used_left: set[int] = set()
    used_right: set[int] = set()
    status: dict[int, str] = {}
    floor = settings.ambiguity_margin
    for index, l, r, s in rows:
        if l in used_left or r in used_right:
            continue
        rivals = [i for s2, r2, i in by_left[l] if r2 != r and r2 not in used_right and s - s2 <= floor]
        rivals += [i for s2, l2, i in by_right[r] if l2 != l and l2 not in used_left and s - s2 <= floor]
        if rivals:
            status[index] = POSSIBLE
            for i in rivals:
                status.setdefault(i, POSSIBLE)
        else:
            status[index] = MATCHED if s >= settings.match_threshold else POSSIBLE
        used_left.add(l)
        used_right.add(r)
    chosen = pairs.loc[list(status)]
    return chosen.assign(status=[status[i] for i in chosen.index])


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


_ROW_COLUMNS = ["li", "ri", "score", "status", "method", "reasons"]
_SCORE_CHUNK = 1_000_000  # candidate pairs scored at once


def _output(rows: pd.DataFrame, left_ids: np.ndarray, right_ids: np.ndarray) -> pd.DataFrame:
    """Positions -> record ids, in the documented column order and dtypes."""
    li, ri = rows["li"].to_numpy(np.int64), rows["ri"].to_numpy(np.int64)
    out = pd.DataFrame(
        {
            "left_id": pd.Series(left_ids[li], dtype="str"),
            "right_id": pd.Series(right_ids[ri], dtype="str"),
            "score": pd.Series(rows["score"].to_numpy(), dtype=float),
            "status": pd.Series(rows["status"].to_numpy(), dtype="str"),
            "method": pd.Series(rows["method"].to_numpy(), dtype="str"),
            "reasons": pd.Series(rows["reasons"].to_numpy(), dtype="str"),
        }
    )
    return out.sort_values(["left_id", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)


def _identifier_matches(
    left: pd.DataFrame, right: pd.DataFrame, ctx: _Context, settings: MatchSettings, nicknames: Nicknames
) -> pd.DataFrame:
    """Referral reference, then PNC id, on records not already taken."""
    results: list[pd.DataFrame] = []
    taken_left: set[int] = set()
    taken_right: set[int] = set()
    for column, method, reason in (("ref", "referral_ref", "referral reference"), ("pnc", "pnc_id", "PNC id")):
        pairs = _identifier_pairs(left.drop(index=list(taken_left)), right.drop(index=list(taken_right)), column)
        log.info("deterministic %s: %d pair(s)", method, len(pairs))
        if pairs.empty:
            continue
        li, ri = pairs["li"].to_numpy(np.int64), pairs["ri"].to_numpy(np.int64)
        taken_left.update(li.tolist())
        taken_right.update(ri.tolist())
        scored = _score_pairs(ctx, li, ri, settings, nicknames)
        threshold = settings.identifier_conflict_threshold
        conflict = scored["score"].to_numpy() < (threshold if threshold is not None else -np.inf)
        reasons = np.full(len(scored), reason, dtype=object)
        if conflict.any():
            log.warning(
                "deterministic %s: %d pair(s) downgraded, personal details conflict", method, int(conflict.sum())
            )
            details = _reasons(scored[conflict], left, right)
            reasons[conflict] = [f"{reason} but personal details conflict: {d}" for d in details]
        results.append(
            scored[["li", "ri", "score"]].assign(
                status=np.where(conflict, POSSIBLE, MATCHED), method=method, reasons=reasons
            )
        )
    return pd.concat(results, ignore_index=True) if results else pd.DataFrame(columns=_ROW_COLUMNS)


def _probabilistic_matches(
    left: pd.DataFrame,
    right: pd.DataFrame,
    ctx: _Context,
    free_left: np.ndarray,
    free_right: np.ndarray,
    settings: MatchSettings,
    nicknames: Nicknames,
) -> pd.DataFrame:
    """Block the free records, score and assign; positions are those of the full ``left``/``right``.

    Scoring runs in chunks and keeps only pairs at or above ``possible_threshold``
    (the rest can never be returned), so memory stays bounded by the chunk.
    """
    li, ri = _candidate_pairs(ctx, free_left, free_right, settings)
    log.info("blocking produced %d candidate pairs", len(li))
    kept = []
    for start in range(0, len(li), _SCORE_CHUNK):
        scored = _score_pairs(ctx, li[start : start + _SCORE_CHUNK], ri[start : start + _SCORE_CHUNK], settings, nicknames)
        kept.append(scored[scored["score"].to_numpy() >= settings.possible_threshold])
    scored = pd.concat(kept, ignore_index=True) if kept else _score_pairs(ctx, li, ri, settings, nicknames)
    chosen = _assign(scored, settings)
    reasons = _reasons(chosen, left, right)
    return chosen[["li", "ri", "score", "status"]].assign(method="probabilistic", reasons=reasons)


def match_people(left: pd.DataFrame, right: pd.DataFrame, settings: MatchSettings | None = None) -> pd.DataFrame:
    """Link police referrals (``left``) to YOT caseload rows (``right``).

    Both frames are canonical person records: ``record_id`` (unique, non-null)
    plus ``forename``, ``surname``, ``date_of_birth``, ``gender``,
    ``postcode``, ``pnc_id``, ``referral_ref``, any of which may be null.

    1. Referral reference (strip/upper), then PNC id (strip/upper, no spaces,
       canonical YY/NNNNNNNA), when the value is unique on both sides: method
       ``referral_ref`` / ``pnc_id``, status ``matched`` (``possible`` if the
       personal details conflict, see ``MatchSettings``). Both records then
       leave probabilistic matching.
    2. The rest are blocked (date of birth, transposed date of birth, surname
       soundex + birth year, forename initial + surname soundex, the same with
       names swapped, forename + partial date of birth, postcode) and scored
       field by field (see ``MatchSettings``).
    3. Greedy one-to-one assignment by score; near ties become ``possible``.

    Returns one row per returned pair, sorted by ``left_id``: ``left_id``,
    ``right_id``, ``score`` (sum of weights; for identifier matches the
    personal-detail score, for information), ``status``
    (``matched``/``possible``), ``method``
    (``referral_ref``/``pnc_id``/``probabilistic``) and ``reasons`` (a short
    human-readable explanation; it quotes nicknames, so it is personal data and
    must not be logged). A left record without a row was not found. A record
    is ``matched`` at most once; it may appear in several ``possible`` rows.
    """
    settings = settings or MatchSettings()
    nicknames = _load_nicknames(str(settings.nickname_path))
    lp, rp = _prepare(left, "left"), _prepare(right, "right")
    log.info("matching %d referral records against %d caseload records", len(lp), len(rp))
    if lp.empty or rp.empty:
        return _output(pd.DataFrame(columns=_ROW_COLUMNS), np.empty(0, dtype=object), np.empty(0, dtype=object))

    ctx = _context(lp, rp, nicknames, settings)
    identified = _identifier_matches(lp, rp, ctx, settings, nicknames)
    free_left = np.setdiff1d(np.arange(len(lp)), identified["li"].to_numpy(np.int64))
    free_right = np.setdiff1d(np.arange(len(rp)), identified["ri"].to_numpy(np.int64))
    results = [identified]
    if len(free_left) and len(free_right):
        results.append(_probabilistic_matches(lp, rp, ctx, free_left, free_right, settings, nicknames))

    frames = [r for r in results if not r.empty]
    rows = pd.concat(frames, ignore_index=True) if frames else identified
    out = _output(rows, lp["record_id"].to_numpy(dtype=object), rp["record_id"].to_numpy(dtype=object))
    counts = out.groupby(["method", "status"]).size()
    summary = ", ".join(f"{method}/{status}={n}" for (method, status), n in counts.items())
    log.info("returned pairs by method/status: %s", summary or "none")
    return out
