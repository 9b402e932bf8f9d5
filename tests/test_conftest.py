"""The test session's own guard: a process a test starts and leaves running fails the run (and is killed)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Pytester whose sessions can import `tests.*`: the conftest's pytest_plugins name the support modules."""
    monkeypatch.setenv("PYTHONPATH", str(CONFTEST.parents[1]))
    return pytester


def test_a_process_left_running_fails_the_session_and_is_killed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pid_file = pytester.path / "pid"
    pytester.makepyfile(
        f"""
        import subprocess
        def test_leaks():
            proc = subprocess.Popen(["sleep", "300"], start_new_session=True)  # an orphan once pytest exits
            open({str(pid_file)!r}, "w").write(str(proc.pid))
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*tests left 1 process(es) running (now killed)*sleep 300*"])
    stat = Path(f"/proc/{pid_file.read_text()}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # gone, or dead unreaped


def test_a_clean_session_passes(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile("import subprocess\ndef test_waits():\n    subprocess.run(['true'], check=True)\n")
    assert pytester.runpytest_subprocess().ret == pytest.ExitCode.OK
