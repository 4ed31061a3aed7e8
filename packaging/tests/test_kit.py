"""The Python kit's own tests, run by scripts/test-kits against the installed wheel: the
command, start() without pytest, what stop() and a killed test process leave behind, errors."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

import ticketgate


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pid, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_the_wheel_installs_the_command():
    exe = ticketgate.binary()
    assert os.path.dirname(exe) == os.path.dirname(sys.executable), exe
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ticketgate "), out


def test_start_and_stop_without_pytest_fixtures():
    gw = ticketgate.start()
    try:
        assert gw.running()
        assert gw.gateway_url.startswith("http://127.") and gw.gateway_url.endswith("/gateway.do")
        assert gw.app_private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
        assert gw.alipay_public_key.startswith("-----BEGIN PUBLIC KEY-----")
        assert len(gw.merchant_pid) == 16 and gw.merchant_pid.startswith("2088")
        code = gw.new_ticket()
        assert len(code) == 12 and code.isdigit()
        assert gw.admin("ticket", "show", code)["ticket_status"] == "EFFECTIVE"
        # The official SDK, configured by the kit, verifies the answer's signature itself.
        from alipay.aop.api.request.KoubeiTradeTicketTicketcodeQueryRequest import \
            KoubeiTradeTicketTicketcodeQueryRequest
        request = KoubeiTradeTicketTicketcodeQueryRequest()
        request.biz_content = {"ticket_code": code, "shop_id": gw.shop_id}
        assert json.loads(gw.alipay_client().execute(request))["ticket_status"] == "EFFECTIVE"
        with urllib.request.urlopen(gw.gateway_url.replace("/gateway.do", "/ready")) as ready:
            assert ready.status == 200
        folder, pid = gw.data, gw.pid
    finally:
        gw.stop()
    assert not os.path.exists(folder), "stop() leaves the node's folder behind"
    assert gone_within(pid)


def test_reset_forgets_what_a_test_did():
    with ticketgate.start() as gw:
        code = gw.new_ticket()
        gw.admin("fault", "add", "--method", "koubei.trade.ticket.ticketcode.use", "--answer", "SYSTEM_ERROR")
        gw.reset()
        with pytest.raises(ticketgate.TicketgateError, match="not found"):
            gw.admin("ticket", "show", code)
        assert gw.admin("fault", "list")["faults"] == []
        assert gw.admin("ticket", "show", gw.tickets["normal"][0])["ticket_status"] == "EFFECTIVE"


def test_an_admin_error_says_why():
    with ticketgate.start() as gw:
        with pytest.raises(ticketgate.TicketgateError, match="exited 2"):
            gw.admin("ticket", "show", "000000000000")
        assert isinstance(gw.admin("log", "--limit", "3"), list)


def test_a_killed_test_process_takes_its_node_with_it(tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent("""
        import json, time, ticketgate
        gw = ticketgate.start()
        print(json.dumps({"pid": gw.pid, "data": gw.data}), flush=True)
        time.sleep(600)
    """))
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    node = json.loads(holder.stdout.readline())
    assert alive(node["pid"])
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert gone_within(node["pid"]), "the node outlived the process that started it"
    deadline = time.time() + 5
    while os.path.exists(node["data"]) and time.time() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(node["data"]), "the node's folder outlived it"


def test_a_missing_binary_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TICKETGATE_BIN", "/nonexistent/ticketgate")
    with pytest.raises(ticketgate.TicketgateError, match="could not start /nonexistent/ticketgate"):
        ticketgate.start()
