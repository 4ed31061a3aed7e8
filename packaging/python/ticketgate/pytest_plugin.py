"""The pytest plugin (registered through the ``pytest11`` entry point): fixtures
``ticketgate`` — one ephemeral node for the session — and ``ticketgate_clean`` — the same
node, put back to the state it started in (a snapshot restore, a few milliseconds) before
the test. ``--ticketgate-binary`` or $TICKETGATE_BIN chooses the executable."""
import pytest

from ._gateway import start


def pytest_addoption(parser):
    group = parser.getgroup("ticketgate")
    group.addoption("--ticketgate-binary", default=None,
                    help="the ticketgate executable (default: $TICKETGATE_BIN, else the installed one)")


@pytest.fixture(scope="session")
def ticketgate(request):
    gateway = start(executable=request.config.getoption("--ticketgate-binary"))
    yield gateway
    gateway.stop()


@pytest.fixture
def ticketgate_clean(ticketgate):
    ticketgate.reset()
    return ticketgate
