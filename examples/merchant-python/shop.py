"""A sample merchant's redemption code: what a shop's backend does with the official
alipay-sdk-python. ticketgate's tests (test_shop.py) exercise it as its own CI would."""
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.exception.Exception import RequestException, ResponseException
from alipay.aop.api.request.KoubeiTradeTicketTicketcodeCancelRequest import KoubeiTradeTicketTicketcodeCancelRequest
from alipay.aop.api.request.KoubeiTradeTicketTicketcodeQueryRequest import KoubeiTradeTicketTicketcodeQueryRequest
from alipay.aop.api.request.KoubeiTradeTicketTicketcodeUseRequest import KoubeiTradeTicketTicketcodeUseRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa


class Redemption:
    """Uses and cancels ticket codes at one shop, retrying a call whose answer was lost with the
    same request_id (the platform answers a repeat with the first result: BIZ_ALREADY_SUCCESS)."""

    def __init__(self, config, shop_id, notify_url=None, attempts=3):
        self.client = DefaultAlipayClient(alipay_client_config=config)
        self.shop_id = shop_id
        self.notify_url = notify_url
        self.attempts = attempts

    def _call(self, request, biz):
        request.biz_content = biz
        if self.notify_url:
            request.notify_url = self.notify_url
        last = None
        for _ in range(self.attempts):
            try:
                answer = json.loads(self.client.execute(request))
            except (RequestException, ResponseException, OSError) as e:  # no answer: try again
                last = e
                continue
            if answer.get("code") in ("20000", "20001") or answer.get("sub_code") == "SYSTEM_ERROR":
                last = answer  # the platform's "unknown": the same request_id again is safe
                continue
            return answer
        raise RuntimeError("no definite answer after %d attempts: %s" % (self.attempts, last))

    def use(self, code, request_id, quantity=None):
        biz = {"request_id": request_id, "ticket_code": code, "shop_id": self.shop_id}
        if quantity is not None:
            biz["quantity"] = str(quantity)
        return self._call(KoubeiTradeTicketTicketcodeUseRequest(), biz)

    def cancel(self, code, request_id, use_request_id):
        biz = {"request_id": request_id, "request_biz_no": use_request_id, "ticket_code": code}
        return self._call(KoubeiTradeTicketTicketcodeCancelRequest(), biz)

    def query(self, code):
        return self._call(KoubeiTradeTicketTicketcodeQueryRequest(), {"ticket_code": code, "shop_id": self.shop_id})


def verify_notification(form, alipay_public_key_base64, app_id):
    """The platform's asynchronous notification, checked as Alipay's docs say: the signature over
    every field but sign and sign_type, then the app id."""
    fields = {k: v for k, v in form.items() if k not in ("sign", "sign_type")}
    try:
        good = verify_with_rsa(alipay_public_key_base64, get_sign_content(fields).encode("utf-8"), form.get("sign", ""))
    except Exception:
        good = False
    return good and form.get("app_id") == app_id


class NotificationInbox:
    """The shop's notification endpoint: answers `success` to what verifies (and records it, once
    per notify_id), `fail` to anything else."""

    def __init__(self, alipay_public_key_base64, app_id):
        self.received = []
        self.rejected = 0
        self._seen = set()
        self._arrived = threading.Condition()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode("utf-8")
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                ok = verify_notification(form, alipay_public_key_base64, app_id)
                with inbox._arrived:
                    if not ok:
                        inbox.rejected += 1
                    elif form.get("notify_id") not in inbox._seen:
                        inbox._seen.add(form.get("notify_id"))
                        inbox.received.append(form)
                    inbox._arrived.notify_all()
                answer = b"success" if ok else b"fail"
                self.send_response(200)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/alipay/notify" % self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count, timeout=10):
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self):
        self._server.shutdown()
        self._server.server_close()
