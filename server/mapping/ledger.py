"""Provider journal lines -> workspace ledger rows (tuples in `store.LINE_COLUMNS` order).

Accounts resolve through the entity's chart; dimension members through the workspace's dimensions,
where anything no mapping covers lands on the dimension's "Unmapped" member, never dropped. The
provider's own tracking values travel with the line (`source_tracking`) so a later mapping change can
re-map lines without pulling them again.

Rows come out already in the form they travel and are written in (`store.Encoding`), so nothing walks
them again before the write. Plain tuples, not DataFrames: building tuples with the collector paused maps a million
lines in about a second, several times faster than flattening into pandas (research/perf.md).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.store.ledger import Encoding


@dataclass
class LineMapper:
    workspace_id: int
    connection_id: int
    entity_id: int
    currency: str
    run_id: int
    account_ids: dict[str, int]  # provider account id -> account.id
    encoding: Encoding
    unmapped_members: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None)
    _tracking_texts: dict[tuple, str] = field(default_factory=dict, repr=False)

    def rows(self, lines: Iterable[Any]) -> tuple[list[tuple], list[Any]]:
        """Rows for lines whose account is known, and the lines whose account the chart does not have yet."""
        out, unknown = [], []
        dim1, dim2, dim3, dim4 = self.unmapped_members
        encode_date, encode_amount, encode_time = self.encoding.day, self.encoding.amount, self.encoding.moment
        texts = self._tracking_texts
        for line in lines:
            account_id = self.account_ids.get(line.account_id)
            if account_id is None:
                unknown.append(line)
                continue
            day, period = encode_date(line.date)
            amount = encode_amount(line.net_amount)
            tracking = ""
            if line.tracking:  # the same few combinations, line after line
                tracking = texts.get(line.tracking)
                if tracking is None:
                    if len(texts) >= 10_000:
                        texts.clear()
                    tracking = texts[line.tracking] = tracking_text(line.tracking)
            out.append((
                self.workspace_id, self.connection_id, self.entity_id, line.source_line_id, line.source_journal_id,
                day, period, account_id, dim1, dim2, dim3, dim4, amount, self.currency, amount,
                line.description or "", tracking, self.run_id, encode_time(line.created_at),
            ))
        return out, unknown


def tracking_text(tracking: Iterable[Any]) -> str:
    """The provider's dimension values as `categoryId=optionId` pairs, in a stable order."""
    return ";".join(sorted(f"{t.category_id}={t.option_id}" for t in tracking if t.category_id))
