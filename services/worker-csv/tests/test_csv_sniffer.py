"""Guessing a CSV's delimiter: the common shapes, and linear time on a bounded prefix."""

import time

import pytest
from taskbus_worker_csv.csv_file import FileStatistics, sniff_delimiter
from taskbus_worker_csv.parameters import CsvParameters


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        (b"a,b,c\n1,2,3\n", ","),
        (b"name;score\nada;1,5\nbob;2,5\n", ";"),
        (b"a\tb\n1\t2\n", "\t"),
        (b"a|b|c\n1|2|3\n", "|"),
        (b'id,note\n1,"x;y;z"\n2,"p;q;r"\n', ","),
        (b'"a;b";c\n"d,e";f\n', ";"),
        (b"id,amount\n1,2\n3,4\n5,6\n7", ","),
        (b"single\n1\n2\n", None),
        (b"", None),
    ],
)
def test_the_delimiter_most_records_agree_on_is_chosen(
    sample: bytes, delimiter: str | None
) -> None:
    assert sniff_delimiter(sample) == delimiter


@pytest.mark.parametrize(
    "sample",
    [
        b',"' * 32 * 1024,  # 22 s of CPU in csv.Sniffer
        b',"' * 4 * 2**20,  # past the prefix
        b'"\n' * 32 * 1024,
        b'";\t|' * 16 * 1024,
        b"a,b\n" * 16 * 1024,
    ],
    ids=[
        "64k-comma-quote-line",
        "8m-comma-quote-line",
        "quoted-newlines",
        "every-candidate",
        "rows",
    ],
)
def test_sniffing_a_hostile_sample_is_fast(sample: bytes) -> None:
    started = time.process_time()

    sniff_delimiter(sample)

    assert time.process_time() - started < 0.25


def test_a_task_submitted_without_a_delimiter_has_it_sniffed() -> None:
    # As the worker gets it: the parameters stored with the task, defaults filled in.
    params = CsvParameters.model_validate({"file_id": "0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4"})
    reading = FileStatistics(params)

    reading.feed([b"name;score\nada;1,5\nbob;2,5\n"])

    assert params.delimiter is None
    assert set(reading.finish().columns) == {"name", "score"}
