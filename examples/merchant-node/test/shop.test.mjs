// A merchant's own tests for its redemption code (shop.mjs), run against ticketgate: one
// ephemeral node for the file, put back to its starting state before each test.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { start } from 'ticketgate';
import { notificationInbox, Redemption } from '../shop.mjs';

const USE = 'koubei.trade.ticket.ticketcode.use';
let gw;
let shop;

before(async () => { gw = await start(); });
after(async () => { await gw.stop(); });
beforeEach(async () => {
  await gw.reset();
  shop = new Redemption({ ...gw.sdkConfig(), shopId: gw.shopId });
});

test('a fresh ticket is used once', async () => {
  const code = await gw.newTicket();
  assert.equal((await shop.query(code)).ticket_status, 'EFFECTIVE');
  const used = await shop.use(code, 'use1');
  assert.equal(used.code, '10000', JSON.stringify(used));
  assert.equal(used.use_shop_id, gw.shopId);
  const again = await shop.use(code, 'use2');
  assert.equal(again.sub_code, 'TICKET_STATUS_ILLEGAL');
});

test('a use is cancelled', async () => {
  const code = await gw.newTicket();
  assert.equal((await shop.use(code, 'use1')).code, '10000');
  assert.equal((await shop.cancel(code, 'cancel1', 'use1')).code, '10000');
  assert.equal((await shop.query(code)).ticket_status, 'EFFECTIVE');
});

test('a replay answers the first result', async () => {
  const code = await gw.newTicket();
  await shop.use(code, 'use1');
  const replay = await shop.use(code, 'use1');
  assert.equal(replay.biz_code, 'BIZ_ALREADY_SUCCESS');
  assert.equal((await gw.admin('ticket', 'show', code)).ticket_status, 'USED');
});

test("the notification reaches the shop's handler", async () => {
  const inbox = await notificationInbox(gw.sdkConfig());
  try {
    const notifying = new Redemption({ ...gw.sdkConfig(), shopId: gw.shopId, notifyUrl: inbox.url });
    const code = await gw.newTicket();
    assert.equal((await notifying.use(code, 'usen')).code, '10000');
    const received = await inbox.waitFor(1);
    assert.equal(received.length, 1);
    assert.equal(received[0].ticket_code, code);
    assert.equal(inbox.rejected, 0);
  } finally {
    await inbox.close();
  }
});

test("a ticket expires when the merchant's clock moves on", async () => {
  const code = await gw.newTicket();
  await gw.admin('clock', 'advance', '--merchant', gw.merchantPid, '--by', '400d');
  assert.equal((await shop.query(code)).ticket_status, 'UN_EFFECTIVE');
  assert.equal((await shop.use(code, 'uselate')).code, '40004');
});

test('the clock does not leak into the next test', async () => {
  assert.equal((await gw.admin('clock', 'show', '--merchant', gw.merchantPid)).test_clock, false);
});

test('a lost answer is retried with the same request_id', async () => {
  const code = await gw.newTicket();
  await gw.admin('fault', 'add', '--method', USE, '--after-commit', '--times', '1');
  const answer = await shop.use(code, 'useretried');
  assert.equal(answer.biz_code, 'BIZ_ALREADY_SUCCESS');
  const ticket = await gw.admin('ticket', 'show', code);
  assert.deepEqual(ticket.ticket_trans_info_list.map((t) => t.ticket_trans_type), ['USE']);
});

test('a dropped connection is retried too', async () => {
  const code = await gw.newTicket();
  await gw.admin('fault', 'add', '--method', USE, '--drop', '--after-commit', '--times', '1');
  assert.equal((await shop.use(code, 'usedropped')).biz_code, 'BIZ_ALREADY_SUCCESS');
});
