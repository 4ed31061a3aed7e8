"""A merchant's own test suite for its redemption code (shop.py), run against ticketgate. The
fixtures come from the ticketgate wheel's pytest plugin: `ticketgate` is one node for the
session, `ticketgate_clean` the same node put back to its starting state before each test."""
import pytest

from shop import NotificationInbox, Redemption

USE = "koubei.trade.ticket.ticketcode.use"


@pytest.fixture
def gw(ticketgate_clean):
    return ticketgate_clean


@pytest.fixture
def shop(gw):
    return Redemption(gw.alipay_client_config(), gw.shop_id)


def test_a_fresh_ticket_is_used_once(gw, shop):
    code = gw.new_ticket()
    assert shop.query(code)["ticket_status"] == "EFFECTIVE"
    used = shop.use(code, "use1")
    assert used["code"] == "10000", used
    assert used["use_shop_id"] == gw.shop_id
    assert shop.query(code)["ticket_status"] == "USED"
    again = shop.use(code, "use2")  # another request: the ticket is spent
    assert again["code"] == "40004" and again["sub_code"] == "TICKET_STATUS_ILLEGAL", again


def test_a_use_is_cancelled(gw, shop):
    code = gw.new_ticket()
    assert shop.use(code, "use1")["code"] == "10000"
    cancelled = shop.cancel(code, "cancel1", "use1")
    assert cancelled["code"] == "10000", cancelled
    assert shop.query(code)["ticket_status"] == "EFFECTIVE"


def test_a_replay_answers_the_first_result(gw, shop):
    code = gw.new_ticket()
    first = shop.use(code, "use1")
    replay = shop.use(code, "use1")
    assert replay["code"] == "10000" and replay["biz_code"] == "BIZ_ALREADY_SUCCESS", replay
    assert gw.admin("ticket", "show", code)["ticket_status"] == "USED"
    assert first["code"] == "10000"


def test_the_notification_reaches_the_shops_handler(gw):
    inbox = NotificationInbox(gw.alipay_public_key_base64, gw.app_id)
    try:
        shop = Redemption(gw.alipay_client_config(), gw.shop_id, notify_url=inbox.url)
        code = gw.new_ticket()
        assert shop.use(code, "usen")["code"] == "10000"
        received = inbox.wait_for(1)
        assert len(received) == 1, (received, gw.admin("notify", "list"))
        assert received[0]["ticket_code"] == code
        assert inbox.rejected == 0
    finally:
        inbox.close()


def test_a_ticket_expires_when_the_merchants_clock_moves_on(gw, shop):
    code = gw.new_ticket()
    gw.admin("clock", "advance", "--merchant", gw.merchant_pid, "--by", "400d")
    assert shop.query(code)["ticket_status"] == "UN_EFFECTIVE"
    refused = shop.use(code, "uselate")
    assert refused["code"] == "40004", refused


def test_the_clock_does_not_leak_into_the_next_test(gw, shop):
    assert gw.admin("clock", "show", "--merchant", gw.merchant_pid)["test_clock"] is False
    assert shop.query(gw.new_ticket())["ticket_status"] == "EFFECTIVE"


def test_a_lost_answer_is_retried_with_the_same_request_id(gw, shop):
    code = gw.new_ticket()
    # The use commits, then its answer is lost (20000): the shop's retry must not use it twice.
    gw.admin("fault", "add", "--method", USE, "--after-commit", "--times", "1")
    answer = shop.use(code, "useretried")
    assert answer["code"] == "10000" and answer["biz_code"] == "BIZ_ALREADY_SUCCESS", answer
    ticket = gw.admin("ticket", "show", code)
    assert [t["ticket_trans_type"] for t in ticket["ticket_trans_info_list"]] == ["USE"], ticket


def test_a_dropped_connection_is_retried_too(gw, shop):
    code = gw.new_ticket()
    gw.admin("fault", "add", "--method", USE, "--drop", "--after-commit", "--times", "1")
    answer = shop.use(code, "usedropped")
    assert answer["biz_code"] == "BIZ_ALREADY_SUCCESS", answer


def test_python_alipay_sdk_works_too(gw):
    alipay = gw.alipay()
    code = gw.new_ticket()
    answer = alipay.server_api("koubei.trade.ticket.ticketcode.query",
                               biz_content={"ticket_code": code, "shop_id": gw.shop_id})
    assert answer["ticket_status"] == "EFFECTIVE", answer
