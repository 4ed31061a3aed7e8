"""Start a throwaway ticketgate node (``ticketgate serve --ephemeral``) and talk to it."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading

__all__ = ["Gateway", "TicketgateError", "binary", "start"]

NORMAL_ITEM = "2019000000000001"
TIMES_CARD_ITEM = "2019000000000002"
START_SNAPSHOT = "ticketgate_start"


class TicketgateError(RuntimeError):
    """The node did not start, or an admin command failed (its message says why)."""


def binary():
    """The ticketgate executable: $TICKETGATE_BIN, else the one this package installed, else PATH."""
    explicit = os.environ.get("TICKETGATE_BIN")
    if explicit:
        return explicit
    name = "ticketgate.exe" if sys.platform == "win32" else "ticketgate"
    for scheme_dir in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(scheme_dir, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("ticketgate")
    if found:
        return found
    raise TicketgateError("no ticketgate executable: install the ticketgate wheel or set TICKETGATE_BIN")


def parse_answer(text, lines=False):
    """An admin command prints one JSON object (that object), or with ``lines`` (``log``) one
    object a line (a list of them, maybe empty)."""
    if lines:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    text = text.strip()
    return json.loads(text) if text else None


class Gateway:
    """A running ephemeral node. Everything its first line announced is an attribute:
    ``gateway_url``, ``app_id``, ``app_private_key`` (PKCS#1 PEM), ``alipay_public_key`` (PEM),
    ``merchant_pid``, ``shop_id``, ``console_url``, ``console_token``, ``tickets``, ``data``;
    ``info`` is the whole object."""

    def __init__(self, process, info, executable, log):
        self._process = process
        self._executable = executable
        self._log = log
        self.info = info
        self.gateway_url = info["gateway_url"]
        self.host = info["host"]
        self.port = info["port"]
        self.app_id = info["app_id"]
        self.sign_type = info["sign_type"]
        self.charset = info["charset"]
        self.merchant_pid = info["merchant_pid"]
        self.shop_id = info["shop_id"]
        self.app_private_key = info["app_private_key_pem"]
        self.app_private_key_base64 = info["app_private_key_base64"]
        self.app_private_key_pkcs8 = info["app_private_key_pkcs8_pem"]
        self.app_public_key = info["app_public_key_pem"]
        self.alipay_public_key = info["alipay_public_key_pem"]
        self.alipay_public_key_base64 = info["alipay_public_key_base64"]
        self.console_url = info.get("console_url")
        self.console_token = info.get("console_token")
        self.tickets = info["tickets"]
        self.items = info.get("items") or {"normal": NORMAL_ITEM, "times_card": TIMES_CARD_ITEM}
        self.data = info["data"]

    # -- the ledger -------------------------------------------------------------------------

    def admin(self, *args):
        """Runs ``ticketgate admin ARGS`` against this node's store; returns its JSON answer
        (for ``log``, the list of its lines' objects)."""
        command = [self._executable, "admin", "--data", self.data, *[str(a) for a in args]]
        done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8")
        if done.returncode != 0:
            raise TicketgateError("ticketgate admin %s exited %d: %s"
                                  % (" ".join(map(str, args)), done.returncode, done.stderr.strip()))
        return parse_answer(done.stdout, lines=bool(args) and args[0] == "log")

    def new_ticket(self, item=None):
        """Issues one fresh, usable ticket of ``item`` (default: the demo's normal item); its code."""
        return self.new_tickets(1, item)[0]

    def new_tickets(self, count, item=None):
        """Issues an order of ``count`` fresh tickets; their codes."""
        answer = self.admin("order", "issue", "--item", item or self.items["normal"], "--tickets", count)
        return answer["tickets"]

    def save(self, name):
        """Saves the whole sandbox state under ``name`` (``admin snapshot save``)."""
        return self.admin("snapshot", "save", "--name", name)

    def restore(self, name):
        """Puts back the state saved as ``name``; the node serves it when this returns."""
        return self.admin("snapshot", "restore", "--name", name)

    def reset(self):
        """Back to the state the node started with: the demo tenant and its tickets, no calls,
        no clocks, no faults. Fast (a snapshot restore), so a test can start with it."""
        return self.restore(START_SNAPSHOT)

    # -- clients ------------------------------------------------------------------------------

    def alipay_client_config(self):
        """An ``AlipayClientConfig`` for the official ``alipay-sdk-python``, pointing here."""
        from alipay.aop.api.AlipayClientConfig import AlipayClientConfig

        config = AlipayClientConfig()
        config.server_url = self.gateway_url
        config.app_id = self.app_id
        config.app_private_key = self.app_private_key_base64
        config.alipay_public_key = self.alipay_public_key_base64
        config.sign_type = self.sign_type
        config.charset = self.charset
        return config

    def alipay_client(self):
        """The official SDK's ``DefaultAlipayClient`` over :meth:`alipay_client_config`."""
        from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient

        return DefaultAlipayClient(alipay_client_config=self.alipay_client_config())

    def alipay_kwargs(self):
        """Keyword arguments for python-alipay-sdk's ``AliPay(**kwargs)``. That SDK has no
        gateway parameter: set ``alipay._gateway = gateway.gateway_url`` (or use :meth:`alipay`)."""
        return dict(appid=self.app_id, app_notify_url=None, app_private_key_string=self.app_private_key,
                    alipay_public_key_string=self.alipay_public_key, sign_type=self.sign_type)

    def alipay(self):
        """A python-alipay-sdk ``AliPay`` pointed at this node."""
        from alipay import AliPay

        client = AliPay(**self.alipay_kwargs())
        client._gateway = self.gateway_url
        return client

    # -- life ---------------------------------------------------------------------------------

    @property
    def pid(self):
        return self._process.pid

    def running(self):
        return self._process.poll() is None

    def log(self):
        """What the node wrote on stderr so far."""
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, timeout=10):
        """Stops the node; its temporary store is removed."""
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "<ticketgate %s app %s>" % (self.gateway_url, self.app_id)


def start(executable=None, args=(), env=None, timeout=30):
    """Starts ``ticketgate serve --ephemeral ARGS`` and waits for its first line; a
    :class:`Gateway`. Stop it with ``.stop()`` (or use it as a context manager)."""
    executable = executable or binary()
    log = tempfile.NamedTemporaryFile(prefix="ticketgate-", suffix=".log", delete=False)
    # A pipe on stdin that only this process holds: if it dies, even by SIGKILL, the node sees
    # the end of its input and stops, removing its folder.
    try:
        process = subprocess.Popen([executable, "serve", "--ephemeral", "--exit-with-stdin", *args],
                                   stdout=subprocess.PIPE, stderr=log, stdin=subprocess.PIPE, env=env)
    except OSError as e:
        log.close()
        os.unlink(log.name)
        raise TicketgateError("could not start %s: %s" % (executable, e)) from e
    line = []
    announced = threading.Event()

    def read():
        line.append(process.stdout.readline())
        announced.set()
        for _ in process.stdout:  # nothing more is expected; never let a full pipe block the node
            pass

    threading.Thread(target=read, daemon=True).start()
    announced.wait(timeout)
    if not line or not line[0].strip():
        process.kill()
        process.wait()
        with open(log.name, encoding="utf-8", errors="replace") as f:
            why = f.read().strip()[-2000:]
        log.close()
        os.unlink(log.name)
        raise TicketgateError("ticketgate serve --ephemeral did not announce itself within %ss: %s"
                              % (timeout, why or "no output"))
    gateway = Gateway(process, json.loads(line[0]), executable, log)
    try:
        gateway.save(START_SNAPSHOT)
    except BaseException:
        gateway.stop()
        raise
    return gateway
