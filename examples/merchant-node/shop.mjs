// A sample merchant's redemption code, written with the official `alipay-sdk`: use, cancel and
// query a ticket code, retry a call whose answer was lost with the same request_id, and a
// notification endpoint that verifies what the platform sends. test/shop.test.mjs tests it.
import http from 'node:http';
import { AlipaySdk } from 'alipay-sdk';

const USE = 'koubei.trade.ticket.ticketcode.use';
const CANCEL = 'koubei.trade.ticket.ticketcode.cancel';
const QUERY = 'koubei.trade.ticket.ticketcode.query';

export class Redemption {
  constructor({ appId, privateKey, alipayPublicKey, gateway, shopId, notifyUrl, attempts = 3 }) {
    this.sdk = new AlipaySdk({ appId, privateKey, alipayPublicKey, gateway, camelcase: false });
    this.shopId = shopId;
    this.notifyUrl = notifyUrl;
    this.attempts = attempts;
  }

  async call(method, bizContent) {
    let last;
    for (let i = 0; i < this.attempts; i += 1) {
      try {
        const params = { bizContent };
        if (this.notifyUrl) params.notify_url = this.notifyUrl;
        const answer = await this.sdk.exec(method, params, { validateSign: true });
        if (answer.code === '20000' || answer.sub_code === 'SYSTEM_ERROR') {
          last = answer; // the platform's "unknown": the same request_id again is safe
          continue;
        }
        return answer;
      } catch (e) { // no answer at all (a dropped connection): try again
        last = e;
      }
    }
    throw new Error(`no definite answer after ${this.attempts} attempts: ${last && (last.message || JSON.stringify(last))}`);
  }

  use(code, requestId) {
    return this.call(USE, { request_id: requestId, ticket_code: code, shop_id: this.shopId });
  }

  cancel(code, requestId, useRequestId) {
    return this.call(CANCEL, { request_id: requestId, request_biz_no: useRequestId, ticket_code: code });
  }

  query(code) {
    return this.call(QUERY, { ticket_code: code, shop_id: this.shopId });
  }
}

// The shop's notification endpoint: `success` to what verifies (recorded once per notify_id),
// `fail` to anything else.
export async function notificationInbox({ appId, privateKey, alipayPublicKey }) {
  const sdk = new AlipaySdk({ appId, privateKey, alipayPublicKey });
  const received = [];
  const seen = new Set();
  const waiting = [];
  let rejected = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      let ok = false;
      try { ok = sdk.checkNotifySign(form) && form.app_id === appId; } catch { ok = false; }
      if (!ok) rejected += 1;
      else if (!seen.has(form.notify_id)) { seen.add(form.notify_id); received.push(form); }
      for (const w of waiting.splice(0)) w();
      res.end(ok ? 'success' : 'fail');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/alipay/notify`,
    received,
    get rejected() { return rejected; },
    async waitFor(count, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count && Date.now() < deadline) {
        await new Promise((resolve) => { waiting.push(resolve); setTimeout(resolve, 100); });
      }
      return received.slice();
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
