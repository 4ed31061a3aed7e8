"""ticketgate for Python tests: a local Alipay-compatible gateway for Koubei ticket codes.

    import ticketgate
    gw = ticketgate.start()          # a throwaway node: its own store, a free loopback address
    code = gw.new_ticket()
    client = gw.alipay_client()      # the official alipay-sdk-python, pointed at it
    ...
    gw.stop()

With pytest the ``ticketgate`` fixture (session-scoped) is that object, and
``ticketgate_clean`` is the same node put back to its starting state before the test.
"""
from ._gateway import Gateway, TicketgateError, binary, start

__all__ = ["Gateway", "TicketgateError", "binary", "start"]
