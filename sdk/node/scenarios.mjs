// Drives a ticketgate server with the unmodified official Node SDK (v4) and prints one JSON line
// per scenario. Every call passes { validateSign: true }: the SDK checks each response signature.
//
//   node scenarios.mjs matrix CONFIG.json          the call matrix
//   node scenarios.mjs verify-notify FORMS.json    checkNotifySign on notifications
//   node scenarios.mjs receive-notify CONFIG.json  a notification handler (prints its port)
//   node scenarios.mjs modes CONFIG.json           AES content encryption (encryptKey) and
//                                                  certificate mode (appCertPath, …)
import { readFileSync } from 'node:fs';
import { AlipaySdk } from 'alipay-sdk';

const USE = 'koubei.trade.ticket.ticketcode.use';
const CANCEL = 'koubei.trade.ticket.ticketcode.cancel';
const QUERY = 'koubei.trade.ticket.ticketcode.query';
const DELAY = 'koubei.trade.ticket.ticketcode.delay';
const REFUND = 'koubei.trade.ticket.used.refund';
const ORDER_QUERY = 'koubei.trade.order.query';
const SEND = 'koubei.trade.ticket.ticketcode.send';
const CHECK = 'koubei.trade.ticket.ticketcode.checkavailable';
const SYNC = 'koubei.trade.ticket.ticketcode.sync';
const SEND_CLOSE = 'koubei.trade.ticket.send.close';

const [mode, path] = process.argv.slice(2);
const data = JSON.parse(readFileSync(path, 'utf8'));

function client(cfg, combo, privateKey) {
  const sdk = new AlipaySdk({
    appId: combo.app_id,
    privateKey,
    alipayPublicKey: cfg.alipay_public_key_pem,
    gateway: cfg.gateway,
    signType: combo.sign_type,
    camelcase: false,
  });
  return (method, bizContent) => {
    const params = { bizContent };
    if (combo.token) params.appAuthToken = combo.token;
    return sdk.exec(method, params, { validateSign: true });
  };
}

function expect(node, code, subCode, fields = {}) {
  if (node.code !== code) throw new Error(`code ${node.code}: ${JSON.stringify(node)}`);
  if (subCode && node.sub_code !== subCode) throw new Error(`sub_code ${node.sub_code}: ${JSON.stringify(node)}`);
  for (const [k, v] of Object.entries(fields)) {
    if (JSON.stringify(node[k]) !== JSON.stringify(v)) throw new Error(`${k}=${node[k]}, want ${v}: ${JSON.stringify(node)}`);
  }
  return `${node.code} ${node.sub_code || node.biz_code || ''}`;
}

function scenarios(combo, call, bad) {
  const p = combo.prefix;
  const { shop_id: shop, normal, card } = combo;
  const use = { request_id: `${p}u1`, ticket_code: normal, shop_id: shop, ext: combo.ext };
  const cancel = { request_id: `${p}c1`, request_biz_no: `${p}u1`, ticket_code: normal };
  const delay = { request_id: `${p}d1`, order_no: combo.expired_order, ticket_code: combo.expired, end_date: '2099-01-01 00:00:00' };
  const send = { order_no: combo.send_order, send_order_no: combo.send_order_no, send_token: combo.send_token };
  return [
    ['query', async () => expect(await call(QUERY, { ticket_code: normal, shop_id: shop }), '10000', null, { ticket_status: 'EFFECTIVE' })],
    ['use', async () => expect(await call(USE, use), '10000', null, { use_shop_id: shop })],
    ['use times card x3', async () => {
      expect(await call(USE, { request_id: `${p}u2`, ticket_code: card, shop_id: shop, quantity: '3' }), '10000');
      return expect(await call(QUERY, { ticket_code: card, shop_id: shop }), '10000', null, { available_quantity: '7' });
    }],
    ['cancel', async () => expect(await call(CANCEL, cancel), '10000')],
    ['replayed cancel', async () => expect(await call(CANCEL, cancel), '10000', null, { biz_code: 'BIZ_ALREADY_SUCCESS' })],
    ['conflicting cancel', async () => expect(await call(CANCEL, { ...cancel, request_biz_no: `${p}u2` }), '40004', 'REQUEST_ID_REPEAT')],
    ['repeat cancel', async () => expect(await call(CANCEL, { ...cancel, request_id: `${p}c2` }), '40004', 'REPEAT_CANCEL')],
    ['business refusal', async () => expect(await call(USE, { ...use, request_id: `${p}u3`, ticket_code: '000000000000' }), '40004', 'TICKET_NOT_EXIST')],
    ['bad signature, diagnosed', async () => {
      // The signature doctor's finding follows production's text in sub_msg; the SDK parsed and
      // verified the answer that carries it.
      const node = await bad(QUERY, { ticket_code: normal, shop_id: shop });
      expect(node, '40002', 'isv.invalid-signature');
      if (!node.sub_msg.includes(' [WRONG_KEY] ')) throw new Error(`no diagnosis: ${node.sub_msg}`);
      return '40002 [WRONG_KEY]';
    }],
    ['delay an expired ticket, then use it', async () => {
      expect(await call(DELAY, delay), '10000', null, { request_id: delay.request_id });
      return expect(await call(USE, { request_id: `${p}u4`, ticket_code: combo.expired, shop_id: shop }), '10000');
    }],
    ['replayed delay', async () => expect(await call(DELAY, delay), '10000', null, { biz_code: 'BIZ_ALREADY_SUCCESS' })],
    ['refund after use', async () => {
      const used = await call(USE, { request_id: `${p}u5`, ticket_code: combo.refund, shop_id: shop });
      expect(used, '10000');
      expect(await call(REFUND, { request_id: `${p}r1`, ticket_code: combo.refund, trans_id: used.ticket_trans_id }), '10000', null, { request_id: `${p}r1` });
      return expect(await call(QUERY, { ticket_code: combo.refund, shop_id: shop }), '10000', null, { ticket_status: 'REFUNDED' });
    }],
    ['order query', async () => expect(await call(ORDER_QUERY, { order_no: combo.refund_order }), '10000', null, { status: 'FINISH' })],
    ['send codes', async () => expect(await call(SEND, { ...send, request_id: `${p}s1`, isv_ma_list: [{ code: `${p}E1`, num: 1 }, { code: `${p}E2`, num: 3 }] }), '10000', null, { request_id: `${p}s1` })],
    ['checkavailable', async () => expect(await call(CHECK, { ...send, request_id: `${p}k1`, ticket_code: `${p}E2`, shop_id: shop, quantity: '2' }), '10000')],
    ['sync', async () => expect(await call(SYNC, { request_id: `${p}y1`, ticket_code: `${p}E2`, code_type: 'EXTERNAL_CODE', order_no: combo.send_order, quantity: '1', sync_shop_id: shop }), '10000', null, { request_id: [`${p}y1`], order_no: combo.send_order })],
    ['send close', async () => {
      expect(await call(SEND_CLOSE, { ...send, request_id: `${p}x1`, reason: '停止发码' }), '10000');
      return expect(await call(SEND, { ...send, request_id: `${p}s2`, isv_ma_list: [{ code: `${p}E3`, num: 1 }] }), '40004', 'SEND_ORDER_CLOSED');
    }],
  ];
}

// Runs one scenario and prints its row: what it returned, or why it failed. Never stops the run.
async function report(row, check) {
  try {
    row.detail = await check();
    row.ok = true;
  } catch (e) {
    row.ok = false;
    row.detail = `${e.name}: ${e.message}`;
  }
  console.log(JSON.stringify(row));
}

async function matrix(cfg) {
  for (const combo of cfg.combos) {
    const call = client(cfg, combo, combo.private_pkcs1_pem);
    const bad = client(cfg, combo, cfg.wrong_private_pkcs1_pem);
    for (const [scenario, check] of scenarios(combo, call, bad)) {
      await report({ client: 'node', sign_type: combo.sign_type, charset: combo.charset, auth: combo.token ? 'app_auth_token' : 'own', scenario }, check);
    }
  }
}

function verifyNotifications(forms) {
  for (const form of forms) {
    const sdk = new AlipaySdk({
      appId: form.fields.app_id,
      privateKey: form.any_private_pem,
      alipayPublicKey: form.alipay_public_key_pem,
      signType: form.fields.sign_type,
    });
    const ok = sdk.checkNotifySign({ ...form.fields });
    console.log(JSON.stringify({ client: 'node', scenario: `notification ${form.name}`, ok: ok === form.expect, detail: `checkNotifySign -> ${ok}` }));
  }
}

// AES: the SDK encrypts biz_content (needEncrypt) and decrypts the answer itself. It cannot check
// the signature of an encrypted answer (its getSignStr cuts the signed text at braces, and an
// encrypted node is a string), against production either: the gateway's signature over the
// quoted string is what the official Python and Java SDKs check, and tests/it/modes.rs checks.
async function modes(cfg) {
  const sdk = (encryptKey) => new AlipaySdk({
    appId: cfg.app_id,
    privateKey: cfg.private_pkcs1_pem,
    alipayPublicKey: cfg.alipay_public_key_pem,
    gateway: cfg.gateway,
    encryptKey,
    camelcase: false,
  });
  const good = sdk(cfg.aes_key);
  const call = (client, method, bizContent) => client.exec(method, { bizContent, needEncrypt: true }, { needEncrypt: true });
  const t = cfg.ticket;
  const shop = cfg.shop_id;
  const checks = [
    ['AES: use', async () => expect(await call(good, USE, { request_id: 'ndaes1', ticket_code: t, shop_id: shop }), '10000', null, { use_shop_id: shop })],
    ['AES: cancel', async () => expect(await call(good, CANCEL, { request_id: 'ndaes2', request_biz_no: 'ndaes1', ticket_code: t }), '10000')],
    ['AES: query', async () => expect(await call(good, QUERY, { ticket_code: t, shop_id: shop }), '10000', null, { ticket_status: 'EFFECTIVE' })],
    ['AES: a business refusal, encrypted', async () => expect(await call(good, USE, { request_id: 'ndaes3', ticket_code: '000000000000', shop_id: shop }), '40004', 'TICKET_NOT_EXIST')],
    ['AES: another key', async () => expect(await call(sdk(cfg.wrong_aes_key), QUERY, { ticket_code: t, shop_id: shop }), '40002', 'isv.invalid-encrypt')],
  ];
  // Certificate mode: the SDK reads the three files, sends app_cert_sn and alipay_root_cert_sn,
  // and verifies every answer with the key in the platform certificate.
  const cert = new AlipaySdk({
    appId: cfg.cert.app_id,
    privateKey: cfg.private_pkcs1_pem,
    gateway: cfg.gateway,
    appCertPath: cfg.cert.app_cert_path,
    alipayPublicCertPath: cfg.cert.alipay_public_cert_path,
    alipayRootCertPath: cfg.cert.alipay_root_cert_path,
    camelcase: false,
  });
  const certCall = (method, bizContent) => cert.exec(method, { bizContent }, { validateSign: true });
  const c = cfg.cert.ticket;
  checks.push(
    ['cert: use', async () => expect(await certCall(USE, { request_id: 'ndcert1', ticket_code: c, shop_id: shop }), '10000')],
    ['cert: cancel', async () => expect(await certCall(CANCEL, { request_id: 'ndcert2', request_biz_no: 'ndcert1', ticket_code: c }), '10000')],
    ['cert: query', async () => expect(await certCall(QUERY, { ticket_code: c, shop_id: shop }), '10000', null, { ticket_status: 'EFFECTIVE' })],
    ['cert: the SDK computed the gateway\'s SNs', async () => {
      if (cert.config.appCertSn !== cfg.cert.app_cert_sn) throw new Error(`app SN ${cert.config.appCertSn}`);
      if (cert.config.alipayRootCertSn !== cfg.cert.alipay_root_cert_sn) throw new Error(`root SN ${cert.config.alipayRootCertSn}`);
      if (cert.config.alipayCertSn !== cfg.cert.alipay_cert_sn) throw new Error(`platform SN ${cert.config.alipayCertSn}`);
      return 'same SNs';
    }],
    ['cert: download the platform certificate', async () => {
      const node = await certCall('alipay.open.app.alipaycert.download', { alipay_cert_sn: cfg.cert.alipay_cert_sn });
      expect(node, '10000');
      const pem = Buffer.from(node.alipay_cert_content, 'base64').toString('utf8');
      if (!pem.startsWith('-----BEGIN CERTIFICATE-----')) throw new Error(pem);
      return '10000 PEM';
    }],
  );
  for (const [scenario, check] of checks) {
    await report({ client: 'node', sign_type: 'RSA2', charset: 'utf-8', auth: 'mode', scenario }, check);
  }
}

// Two calls for the console's browser test: one that passes, one signed with the wrong key.
async function twoCalls(cfg) {
  const sdk = (privateKey) => new AlipaySdk({ appId: cfg.app_id, privateKey, alipayPublicKey: cfg.alipay_public_key_pem, gateway: cfg.gateway, camelcase: false });
  const query = { ticket_code: cfg.ticket, shop_id: cfg.shop_id };
  for (const [scenario, key, code] of [['passing query', cfg.good_key, '10000'], ['failing query', cfg.bad_key, '40002']]) {
    const node = await sdk(key).exec(QUERY, { bizContent: query }, { validateSign: true });
    console.log(JSON.stringify({ client: 'node', scenario, ok: node.code === code, detail: `${node.code} ${node.sub_code || ''}` }));
  }
}

// A merchant's notification handler as the SDK's docs write it: checkNotifySign over the posted
// form, then the app_id; answers success or fail. Prints its port, then serves until killed.
async function receiveNotify(cfg) {
  const { createServer } = await import('node:http');
  const sdk = new AlipaySdk({ appId: cfg.app_id, privateKey: cfg.any_private_pem, alipayPublicKey: cfg.alipay_public_key_pem });
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const fields = Object.fromEntries(new URLSearchParams(body));
      let ok = false;
      try {
        ok = Boolean(fields.sign) && sdk.checkNotifySign(fields) && fields.app_id === cfg.app_id;
      } catch (e) {
        ok = false;
      }
      res.end(ok ? 'success' : 'fail');
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
}

if (mode === 'verify-notify') verifyNotifications(data);
else if (mode === 'receive-notify') await receiveNotify(data);
else if (mode === 'calls') await twoCalls(data);
else if (mode === 'modes') await modes(data);
else await matrix(data);
