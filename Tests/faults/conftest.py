"""The fault suite prints one summary line per promise at the end of the run, whatever -s/-q say."""
import faults_support


def pytest_terminal_summary(terminalreporter):
    if faults_support.RESULTS:
        terminalreporter.section("fault summary")
        for line in faults_support.RESULTS:
            terminalreporter.write_line(line)
