"""dashboard.reads: the Compare page's reads of the store (the drawn epochs, every gradient ratio) and the
version of the runs its cache is keyed on; the Run page's gradient ends, taken from the rows it read."""

from __future__ import annotations

import pandas as pd

from dashboard import reads, vanishing
from tests.store_support import seed_two_runs
from worker import frames


def test_fetch_compare_reads_the_drawn_epochs_and_every_ratio(database_url):
    from worker import db

    a, b = seed_two_runs(database_url)
    with db.session_scope(database_url) as s:
        epochs, grads, ends = reads.fetch_compare(s, [a, b])
        runs = frames.runs_frame(s, [a, b])
    assert len(epochs) == 5 and set(grads.columns) == set(reads.FLOW_COLUMNS) and len(grads) == 3 * 4 + 2 * 6
    assert vanishing.vanishing_gradients(ends).to_dict() == {a: False, b: False}  # 1e-3 is not below 1e-3
    assert reads.versions(runs) == (db.database_url(), (b, 2, "queued"), (a, 3, "queued"))
    db.dispose_engines()


def test_gradient_ends_of_rows_read_are_the_stores(database_url):
    """The Run page takes the flag's input from the gradient rows it holds; the store's query gives the same."""
    from worker import db

    a, b = seed_two_runs(database_url)
    with db.session_scope(database_url) as s:
        grads = frames.gradients_frame(s, [a, b])
        expected = frames.gradient_ends_frame(s, [a, b])
    assert len(expected) == 5
    pd.testing.assert_frame_equal(vanishing.gradient_ends(grads), expected)
    db.dispose_engines()
