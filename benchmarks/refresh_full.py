"""Full initial load of ledger lines from the sandbox over HTTP, on SQLite and PostgreSQL, against the raw load
rate of the same rows measured in the same run; then the same full load again; and peak memory at two sizes.

    .venv/bin/python benchmarks/refresh_full.py [--lines 1000000] [--small 100000] [--backends sqlite,postgresql]

Each load runs in a fresh child process (so its peak RSS is its own) through the real pipeline: OAuth'd
connector, pages over HTTP, mapping, store, cursors, log events and the reconciliation with the trial
balance. The journals are read by the pipeline's helper process (server/refresh/reader.py); its peak RSS
is printed beside the run's. Raw rate, the better of two tries: PostgreSQL binary COPY into a table like
ledger_line with its indexes; SQLite executemany of the same upsert into such a table, one transaction.
Goals (issue 5): end to end >= 50% of raw; re-load <= 1.5x.
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from benchmarks.harness import connect, database, peak_rss_mib, sandbox, settle
from server.db.engine import make_engine
from server.refresh.helpers import helpers_peak_rss_mib
from server.store.ledger import _SQLITE_UPSERT, LINE_COLUMNS, copy_types


def raw_rate(url: str, backend: str) -> float:
    """Rows/s writing the loaded lines again into an empty table with ledger_line's indexes."""
    settle(url)
    engine = make_engine(url)
    columns = ", ".join(LINE_COLUMNS)
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        cursor = driver.cursor()
        cursor.execute(f"SELECT {columns} FROM ledger_line")
        rows = cursor.fetchall()
        if backend == "postgresql":
            cursor.execute("CREATE TABLE raw_copy (LIKE ledger_line INCLUDING ALL)")
            types = connection.execute(copy_types("raw_copy")).scalar()
            driver.commit()
            # Binary, the fastest COPY here (text COPY of the same rows measured 10-20% slower).
            started = time.perf_counter()
            with cursor.copy(f"COPY raw_copy ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            driver.commit()
        else:
            ddl = [sql for (sql,) in cursor.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'ledger_line' AND sql IS NOT NULL")]
            for statement in ddl:
                cursor.execute(statement.replace("ledger_line", "raw_copy", 1).replace(
                    "ON ledger_line", "ON raw_copy").replace("ledger_line_", "raw_copy_"))
            driver.commit()
            upsert = _SQLITE_UPSERT.replace("INTO ledger_line", "INTO raw_copy").replace("ledger_line.", "raw_copy.")
            started = time.perf_counter()
            cursor.executemany(upsert, rows)
            driver.commit()
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE raw_copy")
        driver.commit()
    engine.dispose()
    return len(rows) / seconds


def load(backend: str, sandbox_url: str, with_raw: bool, results) -> None:
    with tempfile.TemporaryDirectory() as directory, database(backend, Path(directory)) as url:
        bench = connect(url, sandbox_url, Path(directory))
        settle(url)
        first, run = bench.refresh()
        lines = run["counters"]["journals"]["inserted"]
        rss, reader_rss = peak_rss_mib(), helpers_peak_rss_mib()
        again, rerun = bench.refresh("full")
        bench.services.close()
        result = {"first": first, "again": again, "lines": lines, "rss": rss, "reader_rss": reader_rss,
                  "attention": run["needs_attention"] or rerun["needs_attention"],
                  "rewritten": rerun["counters"]["journals"]["inserted"] + rerun["counters"]["journals"]["updated"]}
        if with_raw:  # two tries: the ceiling we compare with is the better one, not a slow moment
            result["raw_tries"] = [raw_rate(url, backend) for _ in range(2)]
            result["raw"] = max(result["raw_tries"])
        results.put(result)


def in_child(*args) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=load, args=(*args, results))
    child.start()
    result = results.get(timeout=3600)
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="a second size, for peak memory")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    with sandbox(args.lines) as url:
        for backend in args.backends.split(","):
            r = in_child(backend, url, True)
            end_to_end = r["lines"] / r["first"]
            print(f"{backend}: full load of {r['lines']:,} lines in {r['first']:.1f} s = {end_to_end:,.0f} lines/s "
                  f"end to end; raw load {r['raw']:,.0f} rows/s (tries: "
                  f"{' and '.join(f'{rate:,.0f}' for rate in r['raw_tries'])}); ratio {end_to_end / r['raw']:.1%} "
                  f"(goal >= 50%)")
            print(f"{backend}: same full load again (all present) {r['again']:.1f} s = "
                  f"{r['again'] / r['first']:.2f}x the first (goal <= 1.5x); lines rewritten: {r['rewritten']}; "
                  f"reconciliation {'FLAGGED' if r['attention'] else 'clean'}")
            print(f"{backend}: peak RSS {r['rss']:.0f} MiB at {r['lines']:,} lines "
                  f"(the ledger reader's helper process: {r['reader_rss']:.0f} MiB)")
    if args.small:
        with sandbox(args.small) as url:
            r = in_child("sqlite", url, False)
            print(f"sqlite: peak RSS {r['rss']:.0f} MiB at {r['lines']:,} lines "
                  f"(the ledger reader's helper process: {r['reader_rss']:.0f} MiB; {r['lines'] / r['first']:,.0f} "
                  f"lines/s)")


if __name__ == "__main__":
    main()
