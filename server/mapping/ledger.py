"""Ledger lines (records.LedgerLine) -> workspace ledger rows (tuples in `store.LINE_COLUMNS` order).

Accounts resolve through the entity's chart; dimension members through the workspace's dimensions,
where anything no mapping covers lands on the dimension's "Unmapped" member, never dropped. The
provider's own dimension values travel with the line (`source_dimensions`) so a later mapping change can
re-map lines without pulling them again.

Rows come out already in the form they travel and are written in (`store.Encoding`), so nothing walks
them again before the write. Plain tuples, not DataFrames: building tuples with the collector paused maps a million
lines in about a second, several times faster than flattening into pandas (research/perf.md).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from server.connectors.framework.records import DimensionValue
from server.mapping.fields import StreamFields
from server.mapping.routing import Routing
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
    routing: Routing = field(default_factory=Routing)
    fields: StreamFields | None = None  # the stream's other fields, kept on each line (server/mapping/fields.py)
    _combinations: dict[tuple, tuple] = field(default_factory=dict, repr=False)  # values -> (text, members)

    def rows(self, lines: Iterable[Any], again: bool = False) -> tuple[list[tuple], list[Any]]:
        """Rows for lines whose account is known, and the lines whose account the chart does not have yet.
        `again`: lines this mapper returned as unknown, now that their accounts are added (their fields' samples
        and misfits were noted the first time: each bad value is reported once)."""
        out, unknown = [], []
        untagged = self.routing.unmapped
        encode_date, encode_amount, encode_time = self.encoding.day, self.encoding.amount, self.encoding.moment
        combinations = self._combinations
        kept = self.fields.texts(lines, noted=again) if self.fields is not None and self.fields.fields else repeat("")
        for line, source_fields in zip(lines, kept, strict=False):  # `kept` may be endless
            account_id = self.account_ids.get(line.account_id)
            if account_id is None:
                unknown.append(line)
                continue
            day, period = encode_date(line.date)
            amount = encode_amount(line.amount)
            values, (dim1, dim2, dim3, dim4) = "", untagged
            if line.dimension_values:  # the same few combinations, line after line: one dict lookup each
                known = combinations.get(line.dimension_values)
                if known is None:
                    if len(combinations) >= 10_000:
                        combinations.clear()
                    known = combinations[line.dimension_values] = self._combination(line.dimension_values)
                values, (dim1, dim2, dim3, dim4) = known
            out.append((
                self.workspace_id, self.connection_id, self.entity_id, line.source_line_id, line.source_journal_id,
                day, period, account_id, dim1, dim2, dim3, dim4, amount, self.currency, amount,
                line.description or "", values, self.run_id, encode_time(line.created_at), source_fields,
            ))
        return out, unknown

    def _combination(self, values: tuple[DimensionValue, ...]) -> tuple[str, tuple]:
        text = dimension_text(values)
        return text, self.routing.members_for_text(text)  # as a re-application would place the loaded line


def dimension_text(values: Iterable[DimensionValue]) -> str:
    """The provider's dimension values as `dimensionId=memberId` pairs, in a stable order."""
    return ";".join(sorted(f"{v.dimension_id}={v.member_id}" for v in values if v.dimension_id))
