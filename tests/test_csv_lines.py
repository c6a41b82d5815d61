"""tracker.csv_format.csv_lines: the report's fast CSV writing is byte for byte what the csv module writes."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from tracker.csv_format import csv_lines, csv_writer

CELLS = st.one_of(
    st.text(),
    st.text(alphabet=',"\r\n a=é✨'),  # the characters that decide quoting, often
    st.sampled_from(["", '"', ",", "\r\n", "'=1+1", "plain"]),
)


def written_by_csv_module(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv_writer(out).writerows(rows)
    return out.getvalue()


@given(st.integers(min_value=1, max_value=6).flatmap(
    lambda width: st.tuples(st.just(width), st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=8))
))  # fmt: skip
def test_csv_lines_write_what_the_csv_module_writes(case: tuple[int, list[list[str]]]) -> None:
    width, rows = case
    assert csv_lines(rows, width) == written_by_csv_module(rows)


def test_a_cell_with_a_comma_quote_or_line_break_is_quoted_and_others_are_not() -> None:
    rows = [["a,b", 'say "hi"', "two\nlines", "plain", ""]]
    assert csv_lines(rows, 5) == '"a,b","say ""hi""","two\nlines",plain,\r\n'


@given(
    st.lists(
        st.tuples(
            CELLS, st.lists(st.integers(-5, 10**12).map(str) | st.just(""), min_size=3, max_size=3), CELLS
        )
    )
)
def test_a_cell_of_joined_numbers_writes_as_its_columns_would(rows: list[tuple[str, list[str], str]]) -> None:
    joined = [[before, ",".join(numbers), after] for before, numbers, after in rows]
    split = [[before, *numbers, after] for before, numbers, after in rows]
    assert csv_lines(joined, 5, joined=1) == written_by_csv_module(split)
