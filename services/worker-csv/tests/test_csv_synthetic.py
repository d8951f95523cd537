"""The synthetic table is a pure function of (seed, row)."""

from taskbus_worker_csv.synthetic import synthetic_csv


def test_same_seed_same_rows_different_seed_different_rows() -> None:
    assert synthetic_csv(42, 0, 500) == synthetic_csv(42, 0, 500)
    assert synthetic_csv(42, 0, 500) != synthetic_csv(43, 0, 500)


def test_a_row_does_not_depend_on_the_chunk_it_is_generated_in() -> None:
    whole = synthetic_csv(7, 0, 300).splitlines()
    chunks = [synthetic_csv(7, start, start + 100, header=False) for start in (0, 100, 200)]

    assert b"".join(chunks).splitlines() == whole[1:]
    assert whole[0] == b"amount,quantity,temperature,category"


def test_seed_can_be_any_integer() -> None:
    assert synthetic_csv(-1, 0, 5) != synthetic_csv(2**40, 0, 5)


def test_small_tables_drawn_in_plain_integers_match_the_vectorised_draw() -> None:
    # Up to 256 rows are drawn in plain integers, larger tables with polars.
    for seed in (0, 1, -5, 2**40):
        whole = synthetic_csv(seed, 0, 20_000, header=False)
        pieces = [synthetic_csv(seed, at, at + 200, header=False) for at in range(0, 20_000, 200)]

        assert b"".join(pieces) == whole
