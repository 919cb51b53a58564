import io

from tqdm import tqdm

from alphaction.utils.progress import bar_disable


def test_bars_are_off_for_other_ranks_and_quiet_without_a_terminal():
    assert bar_disable(False) is True and bar_disable(True) is None
    log = io.StringIO()  # not a TTY: a log file or CI
    for _ in tqdm(range(3), file=log, disable=bar_disable(True)):
        pass
    assert log.getvalue() == ""
