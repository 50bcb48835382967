"""pytest fixtures for the end-to-end tests (helpers live in cortex_e2e.py)."""
import pytest

from cortex_e2e import Server, write_project


@pytest.fixture
def serve(tmp_path):
    """serve(files, args=()) → a started Server for a project made of `files`; stopped afterwards."""
    servers = []

    def start(files, args=(), wait=True, name="project"):
        project = write_project(tmp_path / name, files)
        server = Server(project, args=args)
        servers.append(server)
        return server.start(wait=wait)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def operator():
    """A local operator under a fresh CORTEX_HOME (started by the first CLI call); stopped afterwards,
    with every process it started."""
    from cortex_e2e import Operator
    op = Operator()
    yield op
    op.stop()
