"""Casting a column of provider values to a field type: plain Python (server/mapping/fields.py, what the load
uses) against pandas, at the sizes a load casts (a page of lines, a batch) and a larger one.

    .venv/bin/python -m benchmarks.field_casts [--sizes 1000 20000 200000] [--repeat 5]

Values as a load has them: JSON numbers read exactly (Decimal, int) and strings, with one value in a
hundred that does not fit. pandas gets the same column and must give the same answer (cast values, and
which did not fit); the time includes building its Series and reading the result back, as the load would
need. Prints the best of `--repeat` runs of each, and pandas / Python (above 1: Python is faster).
"""
from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from datetime import UTC
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from server.mapping.fields import cast_column

TRUE, FALSE = ("true", "yes", "y", "1"), ("false", "no", "n", "0")


def columns(size: int) -> dict[str, list[Any]]:
    """One column per type, as sent: mostly values that fit, one in a hundred that does not."""
    def misfit(n: int, good: Any, bad: Any) -> Any:
        return bad if n % 100 == 99 else good
    return {
        "integer": [misfit(n, str(n * 7), "INV-7") for n in range(size)],
        "decimal": [misfit(n, Decimal(n * 37 % 100_000) / 100, "n/a") for n in range(size)],
        "date": [misfit(n, f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}", "31/02/2025") for n in range(size)],
        "datetime": [misfit(n, f"2025-03-{n % 28 + 1:02d}T10:{n % 60:02d}:00", "soon") for n in range(size)],
        "boolean": [misfit(n, ("true", "false", "Y")[n % 3], "maybe") for n in range(size)],
        "string": [misfit(n, n, True) for n in range(size)],
    }


# --- pandas, giving what cast_column gives

def _pandas_integer(values: list[Any]) -> tuple[list[Any], list[int]]:
    text = pd.Series(values, dtype="string").str.strip()
    number = pd.to_numeric(text, errors="coerce")
    fits = number.notna() & (number == number.round())
    out = number.where(fits).astype("Int64")
    return out.astype(object).where(fits, None).tolist(), (~fits).to_numpy().nonzero()[0].tolist()


def _pandas_decimal(values: list[Any]) -> tuple[list[Any], list[int]]:
    # Floats would round money: pandas holds exact decimals only as Python objects, cast one by one.
    step = Decimal("0.01")

    def cast(value: Any) -> Any:
        try:
            return Decimal(str(value).strip()).quantize(step, ROUND_HALF_EVEN)
        except ArithmeticError:
            return None
    out = pd.Series(values, dtype=object).map(cast)
    return out.tolist(), out.isna().to_numpy().nonzero()[0].tolist()


def _pandas_date(values: list[Any]) -> tuple[list[Any], list[int]]:
    parsed = pd.to_datetime(pd.Series(values), format="ISO8601", errors="coerce")
    fits = parsed.notna()
    days = parsed.dt.date.astype(object).where(fits, None)
    return days.tolist(), (~fits).to_numpy().nonzero()[0].tolist()


def _pandas_datetime(values: list[Any]) -> tuple[list[Any], list[int]]:
    parsed = pd.to_datetime(pd.Series(values), format="ISO8601", errors="coerce", utc=True)
    fits = parsed.notna()
    moments = [moment.to_pydatetime().astimezone(UTC) if ok else None for moment, ok in zip(parsed, fits,
                                                                                             strict=True)]
    return moments, (~fits).to_numpy().nonzero()[0].tolist()


def _pandas_boolean(values: list[Any]) -> tuple[list[Any], list[int]]:
    text = pd.Series(values, dtype="string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="boolean")
    out[text.isin(TRUE)] = True
    out[text.isin(FALSE)] = False
    fits = out.notna()
    return out.astype(object).where(fits, None).tolist(), (~fits).to_numpy().nonzero()[0].tolist()


def _pandas_string(values: list[Any]) -> tuple[list[Any], list[int]]:
    series = pd.Series(values, dtype=object)
    booleans = series.map(lambda value: isinstance(value, bool))
    text = series.astype(str).where(~booleans, series.map({True: "true", False: "false"}))
    return text.tolist(), []


PANDAS: dict[str, Callable[[list[Any]], tuple[list[Any], list[int]]]] = {
    "integer": _pandas_integer, "decimal": _pandas_decimal, "date": _pandas_date, "datetime": _pandas_datetime,
    "boolean": _pandas_boolean, "string": _pandas_string}


def best(cast: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        cast()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000, 200_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'type':9} {'values':>8} {'python ms':>10} {'pandas ms':>10} {'pandas/python':>14}")
    for size in args.sizes:
        for type_, values in columns(size).items():
            scale = 2 if type_ == "decimal" else None
            python = cast_column(values, type_, scale)
            assert PANDAS[type_](values) == python, f"pandas casts {type_} differently"
            plain = best(lambda values=values, type_=type_, scale=scale: cast_column(values, type_, scale),
                         args.repeat)
            frame = best(lambda values=values, type_=type_: PANDAS[type_](values), args.repeat)
            print(f"{type_:9} {size:>8,} {plain * 1000:>10.2f} {frame * 1000:>10.2f} {frame / plain:>13.2f}x")


if __name__ == "__main__":
    main()
