// The ticketgate console: one page per hash (#calls, #tickets, #notifications, #tenants,
// #sandbox), each drawn from the console's JSON API. No framework, no external asset.
'use strict';

const I18N = {
  zh: {
    'nav.calls': '调用', 'nav.tickets': '凭证与订单', 'nav.notifications': '通知', 'nav.tenants': '租户',
    'nav.sandbox': '时钟与故障', logout: '退出', 'login.wrong': '令牌不对',
    time: '时间', app: '应用', method: '方法', code: '结果', latency: '耗时', failed: '只看失败', filter: '筛选',
    params: '参数', 'sign.string': '验签字符串', diagnosis: '验签诊断', answer: '应答', fault: '注入故障',
    'no.calls': '还没有调用。', verified: '验签通过', unverified: '验签失败',
    'ticket.code': '凭证码', 'order.no': '订单号（外部码）', find: '查找', status: '状态', available: '可用份数',
    timeline: '流水', 'the.call': '对应的调用', expire: '有效期至', 'not.found': '找不到',
    attempts: '次数', url: '地址', 'last.error': '最近错误', 'next.attempt': '下次尝试', resend: '重新发送',
    probe: '探测处理程序', 'probe.url': '处理程序地址', drop: '断开连接（不应答）', methods: '可调用接口', 'notify.twice': '重复投递',
    payload: '签名后的报文', history: '每次尝试', delivered: '已送达', pending: '待发送', parked: '已搁置', all: '全部',
    merchants: '商户', apps: '应用', shops: '门店', items: '商品', 'demo.config': '演示租户：各 SDK 的配置',
    clocks: '测试时钟', faults: '注入故障', advance: '拨快', reset: '恢复真实时间', by: '拨快多少（如 30d、2h）',
    merchant: '商户', now: '商户时间', ahead: '超前', add: '添加', clear: '清除', 'clear.all': '全部清除',
    times: '次数（空：一直）', 'after.commit': '提交之后再失败', answer_spec: '应答（SUB_CODE、20000 或 CODE:SUB_CODE）',
    ticket: '凭证码（可空）', hits: '已触发', remaining: '剩余', active: '生效', 'none.active': '没有',
    'active.clocks': '测试时钟生效中', 'active.faults': '注入故障生效中', error: '出错',
    'diff.omitted': '标出的部分：网关验签的字符串里有，你签名的字符串里没有。',
    'diff.hash': '标出的部分：声明的签名类型与实际用的摘要算法不一致。',
    'diff.encoded': '标出的值：你签名时用的是 URL 编码后的值，网关用原始值。',
    'diff.charset': '标出的字符：你签名时按另一种字符集编码。',
    'diff.empty': '你签名的字符串比这里多了诊断中列出的空参数。',
    'diff.included': '你签名的字符串比这里多了 sign 参数。',
    'diff.unsorted': '你签名的字符串里参数顺序与这里（按键名 ASCII 排序）不同。',
  },
  en: {
    'nav.calls': 'Calls', 'nav.tickets': 'Tickets & orders', 'nav.notifications': 'Notifications', 'nav.tenants': 'Tenants',
    'nav.sandbox': 'Clocks & faults', logout: 'Log out', 'login.wrong': 'Wrong token',
    time: 'Time', app: 'App', method: 'Method', code: 'Result', latency: 'Latency', failed: 'Failed only', filter: 'Filter',
    params: 'Parameters', 'sign.string': 'String verified', diagnosis: 'Signature diagnosis', answer: 'Answer', fault: 'Injected fault',
    'no.calls': 'No calls yet.', verified: 'signature verified', unverified: 'signature did not verify',
    'ticket.code': 'Ticket code', 'order.no': 'Order no. (external codes)', find: 'Find', status: 'Status', available: 'Available',
    timeline: 'Transactions', 'the.call': 'the call', expire: 'Expires', 'not.found': 'Not found',
    attempts: 'Attempts', url: 'URL', 'last.error': 'Last error', 'next.attempt': 'Next attempt', resend: 'Resend',
    probe: 'Probe the handler', 'probe.url': 'Handler URL', drop: 'Drop the connection (no answer)', methods: 'Methods', 'notify.twice': 'Deliver twice',
    payload: 'Signed payload', history: 'Attempts', delivered: 'delivered', pending: 'pending', parked: 'parked', all: 'all',
    merchants: 'Merchants', apps: 'Apps', shops: 'Shops', items: 'Items', 'demo.config': 'Demo tenant: configuration per SDK',
    clocks: 'Test clocks', faults: 'Injected faults', advance: 'Advance', reset: 'Back to real time', by: 'By (30d, 2h, …)',
    merchant: 'Merchant', now: 'Merchant time', ahead: 'Ahead by', add: 'Add', clear: 'Clear', 'clear.all': 'Clear all',
    times: 'Times (empty: until cleared)', 'after.commit': 'Fail after the commit', answer_spec: 'Answer (SUB_CODE, 20000 or CODE:SUB_CODE)',
    ticket: 'Ticket code (optional)', hits: 'Hits', remaining: 'Left', active: 'Active', 'none.active': 'none',
    'active.clocks': 'Test clocks active', 'active.faults': 'Injected faults active', error: 'Error',
    'diff.omitted': 'Marked: in the string the gateway verified, missing from the string you signed.',
    'diff.hash': 'Marked: the sign type declared, which the digest used does not match.',
    'diff.encoded': 'Marked: values you signed URL-encoded; the gateway signs the raw values.',
    'diff.charset': 'Marked: characters you signed in another charset.',
    'diff.empty': 'The string you signed also had the empty parameters the diagnosis lists.',
    'diff.included': 'The string you signed also had the sign parameter.',
    'diff.unsorted': 'The string you signed had these parameters in another order (here: by key, ASCII).',
  },
};
let lang = localStorage.getItem('tg-lang') || 'zh';
const t = (k) => (I18N[lang] && I18N[lang][k]) || I18N.en[k] || k;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, options = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...options, headers: { 'content-type': 'application/json', ...(options.headers || {}) } });
  if (r.status === 401) { location.reload(); throw new Error('unauthorized'); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// replaceChildren without the nulls of optional parts.
function fill(node, ...children) { node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined)); }
function pretty(v) { return typeof v === 'string' ? v : JSON.stringify(v, null, 2); }
function errorBox(e) { return el('p', { class: 'error', text: `${t('error')}: ${e.message}` }); }
function table(headers, rows, attrs = {}) {
  return el('table', attrs, el('thead', {}, el('tr', {}, headers.map((h) => el('th', { text: h })))), el('tbody', {}, rows));
}

// ---- every page: what is active -------------------------------------------------------------
async function refreshActive() {
  try {
    const s = await api('/api/sandbox');
    const clocks = (s.clocks || []).filter((c) => c.test_clock);
    const faults = (s.faults || []).filter((f) => f.active);
    const box = document.getElementById('active');
    box.replaceChildren();
    if (clocks.length) box.append(el('span', { id: 'active-clocks' }, `${t('active.clocks')}: `, clocks.map((c) => `${c.merchant_pid} (+${c.ahead_by})`).join(', ')));
    if (faults.length) box.append(el('span', { id: 'active-faults' }, `${t('active.faults')}: `, faults.map((f) => `${f.fault_id} ${f.method}`).join(', ')));
    box.hidden = !(clocks.length || faults.length);
  } catch (e) { /* shown on the next page load */ }
}

// ---- calls ------------------------------------------------------------------------------------
// The current page's refresh, stopped when another page is shown.
let pageTimer = null;
const callFilter = { app: '', method: '', code: '', failed: false, q: '' };

function callsPage(root, params) {
  if (params.get('q')) callFilter.q = params.get('q');
  const input = (key, placeholder) => el('input', { id: `f-${key}`, placeholder, value: callFilter[key], oninput: (e) => { callFilter[key] = e.target.value; load(); } });
  const failed = el('input', { type: 'checkbox', id: 'f-failed', onchange: (e) => { callFilter.failed = e.target.checked; load(); } });
  failed.checked = callFilter.failed;
  const list = el('div', { id: 'calls' });
  const detail = el('section', { id: 'call-detail', class: 'detail', hidden: true });
  root.append(el('h2', { text: t('nav.calls') }),
    el('div', { class: 'filters' }, input('app', t('app')), input('method', t('method')), input('code', t('code')), input('q', 'request_id / …'),
      el('label', {}, failed, ' ', t('failed'))),
    el('div', { class: 'split' }, list, detail));
  let rows = [];
  async function load() {
    const q = new URLSearchParams({ limit: '200' });
    for (const k of ['app', 'method', 'code', 'q']) if (callFilter[k]) q.set(k, callFilter[k]);
    if (callFilter.failed) q.set('failed', '1');
    try {
      rows = (await api(`/api/calls?${q}`)).calls;
    } catch (e) { list.replaceChildren(errorBox(e)); return; }
    if (!rows.length) { list.replaceChildren(el('p', { class: 'empty', text: t('no.calls') })); return; }
    list.replaceChildren(table([t('time'), t('app'), t('method'), t('code'), t('latency')], rows.map((c) =>
      el('tr', { class: `call ${c.code === '10000' ? 'ok' : 'bad'}`, 'data-id': c.id, onclick: () => show(c) },
        el('td', { text: c.time }), el('td', { text: c.app_id }), el('td', { text: c.method }),
        el('td', { class: 'code', text: `${c.code}${c.sub_code ? ' ' + c.sub_code : ''}` }),
        el('td', { text: `${c.latency_ms.toFixed(1)} ms` }))), { id: 'calls-table' }));
  }
  function show(c) {
    detail.hidden = false;
    const diag = c.diagnosis ? el('p', { id: 'diagnosis', class: 'diagnosis' }, ...highlight(c.diagnosis)) : null;
    fill(detail,
      el('h3', {}, `${c.method || '-'} · ${c.code}${c.sub_code ? ' ' + c.sub_code : ''}`),
      el('p', { class: c.verified === false ? 'bad' : 'ok', text: c.verified === undefined ? '' : (c.verified ? t('verified') : t('unverified')) }),
      diag ? el('h4', { text: t('diagnosis') }) : null, diag,
      c.fault ? el('p', { class: 'fault' }, `${t('fault')}: ${c.fault}`) : null,
      el('h4', { text: t('sign.string') }), el('pre', { id: 'sign-string' }, ...markDiff(c)),
      c.diagnosis && DIFF_NOTE[finding(c)] ? el('p', { class: 'hint', text: t(DIFF_NOTE[finding(c)]) }) : null,
      el('h4', { text: t('params') }), el('pre', { text: pretty(c.params) }),
      c.decrypted_biz_content ? el('pre', { text: c.decrypted_biz_content }) : null,
      el('h4', { text: t('answer') }), el('pre', { id: 'call-answer', text: pretty(c.answer) }),
      el('p', {}, `${t('latency')}: ${c.latency_ms.toFixed(2)} ms · ${c.time}`));
  }
  load();
  pageTimer = setInterval(load, 2000);
}

// The doctor's finding code, if the call has a diagnosis.
function finding(c) {
  const m = (c.diagnosis || '').match(/^\[([A-Z_]+)\]/);
  return m ? m[1] : null;
}

// What to say under the string the gateway verified, per finding.
const DIFF_NOTE = {
  SIGN_TYPE_OMITTED: 'diff.omitted', WRONG_HASH: 'diff.hash', URL_ENCODED: 'diff.encoded', CHARSET: 'diff.charset',
  EMPTY_VALUES: 'diff.empty', SIGN_INCLUDED: 'diff.included', UNSORTED: 'diff.unsorted',
};

// The string the gateway verified, with the part the client's string differs in marked: the
// parameter it left out, the values it encoded, the characters it encoded in another charset.
function markDiff(c) {
  const text = c.sign_string || '-';
  const code = finding(c);
  let pattern = null;
  if (code === 'SIGN_TYPE_OMITTED' || code === 'WRONG_HASH') pattern = /(?:^|&)(sign_type=[^&]*)/g;
  else if (code === 'URL_ENCODED') pattern = /=([^&]*[^A-Za-z0-9\-_.~&][^&]*)/g;
  else if (code === 'CHARSET') pattern = /([^\x00-\x7f]+)/g;
  if (!pattern) return [text];
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    const start = m.index + m[0].indexOf(m[1]);
    parts.push(text.slice(last, start), el('mark', { class: 'diff', text: m[1] }));
    last = start + m[1].length;
  }
  parts.push(text.slice(last));
  return parts;
}

// The doctor's code in brackets and what it names, marked.
function highlight(text) {
  const m = text.match(/^\[([A-Z_]+)\](.*)$/s);
  if (!m) return [text];
  return [el('mark', { class: 'finding', text: `[${m[1]}]` }), m[2]];
}

// ---- tickets ----------------------------------------------------------------------------------
function ticketsPage(root, params) {
  const code = el('input', { id: 'ticket-code', placeholder: t('ticket.code'), value: params.get('code') || '' });
  const order = el('input', { id: 'ticket-order', placeholder: t('order.no'), value: params.get('order_no') || '' });
  const out = el('div', { id: 'ticket' });
  const find = async () => {
    out.replaceChildren();
    if (!code.value.trim() && order.value.trim()) {
      // An order: its tickets, each a link to its own page.
      try {
        const o = await api(`/api/orders/${encodeURIComponent(order.value.trim())}`);
        fill(out, el('h3', { text: `order_no ${o.order_no}` }),
          table([t('ticket.code'), 'code_type', t('available'), t('expire'), 'refunded'], o.tickets.map((x) => el('tr', { class: 'order-ticket' },
            el('td', {}, el('a', { href: `#tickets?code=${encodeURIComponent(x.code)}${x.code_type === 'EXTERNAL_CODE' ? `&order_no=${encodeURIComponent(o.order_no)}` : ''}`, text: x.code })),
            el('td', { text: x.code_type }), el('td', { text: `${x.available_quantity}/${x.total_quantity}` }), el('td', { text: x.expire_at }),
            el('td', { text: x.refunded ? '✓' : '' })))));
      } catch (e) { out.replaceChildren(errorBox(e)); }
      return;
    }
    if (!code.value.trim()) return;
    const q = order.value.trim() ? `?order_no=${encodeURIComponent(order.value.trim())}` : '';
    try {
      const v = await api(`/api/tickets/${encodeURIComponent(code.value.trim())}${q}`);
      const trans = v.ticket_trans_info_list || [];
      fill(out,
        el('div', { class: 'card' },
          el('h3', {}, `${v.ticket_code} · `, el('span', { id: 'ticket-status', text: v.ticket_status })),
          el('p', {}, `${v.item_name} · ${t('available')} ${v.available_quantity}/${v.total_quantity} · ${t('expire')} ${v.expire_date}`),
          el('p', {}, `order_no ${v.order_no} · voucher_id ${v.voucher_id} · ${v.code_type}`)),
        el('h3', { text: t('timeline') }),
        el('ol', { id: 'timeline' }, trans.map((tr) => el('li', { class: `trans ${tr.ticket_trans_type}` },
          el('b', { text: tr.ticket_trans_type }), ` ${tr.gmt_create || tr.create_time || ''} · ${tr.quantity} · ${tr.ticket_trans_id} `,
          tr.reverses_trans_id ? `↩ ${tr.reverses_trans_id} ` : '',
          el('a', { href: `#calls?q=${encodeURIComponent(tr.ticket_trans_id)}`, class: 'call-link', text: t('the.call') })))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  root.append(el('h2', { text: t('nav.tickets') }),
    el('div', { class: 'filters' }, code, order, el('button', { id: 'ticket-find', onclick: find, text: t('find') })), out);
  code.addEventListener('keydown', (e) => { if (e.key === 'Enter') find(); });
  order.addEventListener('keydown', (e) => { if (e.key === 'Enter') find(); });
  if (code.value || order.value) find();
}

// ---- notifications ----------------------------------------------------------------------------
function notificationsPage(root) {
  const status = el('select', { id: 'n-status', onchange: () => load() },
    ['', 'pending', 'delivered', 'parked'].map((s) => el('option', { value: s, text: s ? t(s) : t('all') })));
  const list = el('div', { id: 'notifications' });
  const detail = el('section', { id: 'notification-detail', class: 'detail', hidden: true });
  root.append(el('h2', { text: t('nav.notifications') }), el('div', { class: 'filters' }, status), el('div', { class: 'split' }, list, detail));
  async function load() {
    const q = status.value ? `?status=${status.value}` : '';
    try {
      const rows = (await api(`/api/notifications${q}`)).notifications;
      list.replaceChildren(table(['notify_id', t('status'), t('attempts'), 'biz_type', 'request_id', t('last.error')],
        rows.map((n) => el('tr', { class: `notification ${n.status}`, 'data-id': n.notify_id, onclick: () => show(n.notify_id) },
          el('td', { text: n.notify_id.slice(0, 12) }), el('td', { class: 'status', text: t(n.status) }), el('td', { text: n.attempts }),
          el('td', { text: n.biz_type }), el('td', { text: n.request_id }), el('td', { text: n.last_error || '' }))), { id: 'notifications-table' }));
    } catch (e) { list.replaceChildren(errorBox(e)); }
  }
  let shown = null;
  // The last probe of a handler, kept across the page's refreshes.
  const probe = { url: null, report: el('pre', { id: 'probe-report' }) };
  async function show(id) {
    if (shown !== id) { probe.url = null; probe.report.textContent = ''; }
    shown = id;
    detail.hidden = false;
    try {
      const n = await api(`/api/notifications/${encodeURIComponent(id)}`);
      const url = el('input', { id: 'probe-url', placeholder: t('probe.url'), value: probe.url ?? n.url });
      url.addEventListener('input', () => { probe.url = url.value; });
      const run = async () => {
        probe.report.textContent = '…';
        try {
          const r = await api('/api/notify-probe', { method: 'POST', body: JSON.stringify({ app_id: n.app_id, url: url.value }) });
          probe.report.textContent = r.table;
          probe.report.className = r.passed ? 'ok' : 'bad';
        } catch (e) { probe.report.textContent = `${t('error')}: ${e.message}`; }
      };
      fill(detail,
        el('h3', {}, `${n.notify_id} · `, el('span', { id: 'notification-status', text: t(n.status) })),
        el('p', {}, `${t('url')}: ${n.url}`), n.next_attempt_at ? el('p', {}, `${t('next.attempt')}: ${n.next_attempt_at}`) : null,
        n.status !== 'pending' ? el('button', { id: 'resend', onclick: async () => { await api(`/api/notifications/${encodeURIComponent(id)}/resend`, { method: 'POST' }); await load(); await show(id); }, text: t('resend') }) : null,
        el('h4', { text: t('history') }),
        el('ol', { id: 'attempts' }, n.history.map((a) => el('li', { class: a.delivered ? 'ok' : 'bad' }, `#${a.attempt} ${a.at} · ${a.delivered ? t('delivered') : a.error}`))),
        el('h4', { text: t('payload') }), el('pre', { text: pretty(n.payload) }),
        el('h4', { text: t('probe') }), el('div', { class: 'filters' }, url, el('button', { id: 'probe', onclick: run, text: t('probe') })), probe.report);
    } catch (e) { fill(detail, errorBox(e)); }
  }
  load();
  // Live: the list and the open notification follow the outbox.
  pageTimer = setInterval(() => { load(); if (shown) show(shown); }, 2000);
}

// ---- tenants ----------------------------------------------------------------------------------
async function tenantsPage(root) {
  root.append(el('h2', { text: t('nav.tenants') }));
  let v;
  try { v = await api('/api/tenants'); } catch (e) { root.append(errorBox(e)); return; }
  const section = (title, headers, rows) => [el('h3', { text: title }), table(headers, rows)];
  root.append(
    ...section(t('merchants'), ['PID', 'name'], v.merchants.map((m) => el('tr', {}, el('td', { text: m.merchant_pid }), el('td', { text: m.name })))),
    ...section(t('apps'), ['app_id', t('merchant'), 'sign types', 'charset', 'notify_url', 'AES', 'cert', t('methods'), t('notify.twice')], v.apps.map((a) => el('tr', { class: 'app' },
      el('td', { text: a.app_id }), el('td', { text: a.merchant_pid }), el('td', { text: (a.sign_types || [a.sign_type]).join(' ') }), el('td', { text: a.charset }),
      el('td', { text: a.notify_url || '' }), el('td', { text: a.aes ? '✓' : '' }), el('td', { text: a.cert_mode ? '✓' : '' }),
      el('td', { class: 'methods', text: a.methods === 'all' ? t('all') : String(a.methods || '').split(',').join(' ') }),
      el('td', {}, el('button', { class: 'notify-twice', 'data-on': String(Boolean(a.notify_twice)), text: a.notify_twice ? '✓' : '—',
        onclick: async () => { await api(`/api/apps/${encodeURIComponent(a.app_id)}/notify-twice`, { method: 'POST', body: JSON.stringify({ on: !a.notify_twice }) }); root.replaceChildren(); tenantsPage(root); } }))))),
    ...section(t('shops'), [t('merchant'), 'shop_id', 'name'], v.shops.map((s) => el('tr', {}, el('td', { text: s.merchant_pid }), el('td', { text: s.shop_id }), el('td', { text: s.name })))),
    ...section(t('items'), ['item_id', t('merchant'), 'name', 'price', 'times'], v.items.map((i) => el('tr', {},
      el('td', { text: i.item_id }), el('td', { text: i.merchant_pid }), el('td', { text: i.name }), el('td', { text: (i.price_cents / 100).toFixed(2) }), el('td', { text: i.times || '' })))));
  if (v.demo) {
    const d = v.demo;
    const snippets = [
      ['Python (alipay-sdk-python)', `${/:\d+\//.test(d.gateway) ? '# This SDK cannot take a port in server_url (it raises TypeError):\n# run ticketgate serve --listen 127.0.0.2:80, and then\n' : ''}config = AlipayClientConfig()\nconfig.server_url = "${/:\d+\//.test(d.gateway) ? 'http://127.0.0.2/gateway.do' : d.gateway}"\nconfig.app_id = "${d.app_id}"\nconfig.app_private_key = open("${d.app_private_key_file}").read()  # bare base64 PKCS#1\nconfig.alipay_public_key = open("${d.alipay_public_key_file}").read()\nconfig.sign_type = "${d.sign_type}"\nclient = DefaultAlipayClient(alipay_client_config=config)`],
      ['Python (python-alipay-sdk)', `alipay = AliPay(appid="${d.app_id}", app_private_key_string=open("${d.app_private_key_file}").read(),\n                alipay_public_key_string=open("${d.alipay_public_key_file}").read(), sign_type="${d.sign_type}")\nalipay._gateway = "${d.gateway}"`],
      ['Node (alipay-sdk)', `const sdk = new AlipaySdk({ appId: '${d.app_id}', gateway: '${d.gateway}',\n  privateKey: fs.readFileSync('${d.app_private_key_file}', 'ascii'),\n  alipayPublicKey: fs.readFileSync('${d.alipay_public_key_file}', 'ascii'), signType: '${d.sign_type}' });\nawait sdk.exec('koubei.trade.ticket.ticketcode.query', { bizContent: { ticket_code: '${((d.tickets || {}).normal || [''])[0]}', shop_id: '${d.shop_id}' } }, { validateSign: true });`],
      ['Java (alipay-sdk-java-all)', `AlipayClient client = new DefaultAlipayClient("${d.gateway}", "${d.app_id}",\n    APP_PRIVATE_KEY_PKCS8_BASE64, "json", "${d.charset}", ALIPAY_PUBLIC_KEY_BASE64, "${d.sign_type}");`],
      ['ticketgate call', `ticketgate call koubei.trade.ticket.ticketcode.query '{"ticket_code":"${((d.tickets || {}).normal || [''])[0]}","shop_id":"${d.shop_id}"}' \\\n  --gateway ${d.gateway} --app-id ${d.app_id} --private-key ${d.app_private_key_file} --alipay-public-key ${d.alipay_public_key_file}`],
    ];
    root.append(el('h3', { text: t('demo.config') }), ...snippets.flatMap(([name, code]) => [el('h4', { text: name }), el('pre', { class: 'snippet', text: code })]));
  }
}

// ---- clocks and faults ------------------------------------------------------------------------
async function sandboxPage(root) {
  root.append(el('h2', { text: t('nav.sandbox') }));
  const box = el('div');
  root.append(box);
  async function draw() {
    let s, tenants;
    try { [s, tenants] = await Promise.all([api('/api/sandbox'), api('/api/tenants')]); } catch (e) { box.replaceChildren(errorBox(e)); return; }
    const merchant = el('select', { id: 'clock-merchant' }, tenants.merchants.map((m) => el('option', { value: m.merchant_pid, text: `${m.merchant_pid} ${m.name}` })));
    const by = el('input', { id: 'clock-by', placeholder: t('by'), value: '1d' });
    const methods = ['koubei.trade.ticket.ticketcode.use', 'koubei.trade.ticket.ticketcode.cancel', 'koubei.trade.ticket.ticketcode.query',
      'koubei.trade.ticket.ticketcode.delay', 'koubei.trade.ticket.used.refund', 'koubei.trade.order.query', 'koubei.trade.ticket.ticketcode.send',
      'koubei.trade.ticket.ticketcode.checkavailable', 'koubei.trade.ticket.ticketcode.sync', 'koubei.trade.ticket.send.close',
      'alipay.open.auth.token.app', 'alipay.open.auth.token.app.query', 'alipay.open.app.alipaycert.download'];
    const f = {
      method: el('select', { id: 'fault-method' }, methods.map((m) => el('option', { value: m, text: m }))),
      answer: el('input', { id: 'fault-answer', placeholder: t('answer_spec'), value: 'SYSTEM_ERROR' }),
      app: el('input', { id: 'fault-app', placeholder: t('app') }),
      ticket: el('input', { id: 'fault-ticket', placeholder: t('ticket') }),
      times: el('input', { id: 'fault-times', placeholder: t('times') }),
      latency: el('input', { id: 'fault-latency', placeholder: '2s' }),
      after: el('input', { type: 'checkbox', id: 'fault-after-commit' }),
      drop: el('input', { type: 'checkbox', id: 'fault-drop' }),
    };
    const message = el('p', { id: 'sandbox-message', class: 'error' });
    const act = async (fn) => { message.textContent = ''; try { await fn(); await draw(); refreshActive(); } catch (e) { message.textContent = `${t('error')}: ${e.message}`; } };
    fill(box,
      el('h3', { text: t('clocks') }),
      table([t('merchant'), t('now'), t('ahead'), ''], (s.clocks || []).map((c) => el('tr', { class: 'clock' },
        el('td', { text: c.merchant_pid }), el('td', { text: c.now }), el('td', { text: c.ahead_by }),
        el('td', {}, el('button', { class: 'reset', onclick: () => act(() => api(`/api/clocks/${c.merchant_pid}/reset`, { method: 'POST' })), text: t('reset') }))))),
      el('div', { class: 'filters' }, merchant, by, el('button', { id: 'clock-advance', text: t('advance'),
        onclick: () => act(() => api(`/api/clocks/${merchant.value}/advance`, { method: 'POST', body: JSON.stringify({ by: by.value }) })) })),
      el('h3', { text: t('faults') }),
      table(['id', t('method'), t('app'), t('ticket.code'), t('answer'), t('after.commit'), t('latency'), t('hits'), t('remaining'), t('active'), ''],
        (s.faults || []).map((x) => el('tr', { class: `fault ${x.active ? 'on' : 'off'}`, 'data-id': x.fault_id },
          el('td', { text: x.fault_id }), el('td', { text: x.method }), el('td', { text: x.app_id || '' }), el('td', { text: x.ticket_code || '' }),
          el('td', { text: x.drop ? 'DROP' : x.answer ? `${x.answer.code} ${x.answer.sub_code}` : '' }), el('td', { text: x.after_commit ? '✓' : '' }),
          el('td', { text: x.latency_ms ? `${x.latency_ms} ms` : '' }), el('td', { text: x.hits }), el('td', { text: x.remaining ?? '∞' }),
          el('td', { text: x.active ? '✓' : '' }),
          el('td', {}, el('button', { class: 'clear', onclick: () => act(() => api(`/api/faults/${x.fault_id}`, { method: 'DELETE' })), text: t('clear') }))))),
      el('div', { class: 'filters' }, f.method, f.answer, f.app, f.ticket, f.times, f.latency, el('label', {}, f.after, ' ', t('after.commit')),
        el('label', {}, f.drop, ' ', t('drop')),
        el('button', { id: 'fault-add', text: t('add'), onclick: () => act(() => api('/api/faults', { method: 'POST', body: JSON.stringify({
          method: f.method.value, answer: f.answer.value, app_id: f.app.value, ticket_code: f.ticket.value,
          times: f.times.value ? Number(f.times.value) : null, latency: f.latency.value, after_commit: f.after.checked, drop: f.drop.checked }) })) }),
        el('button', { id: 'faults-clear', text: t('clear.all'), onclick: () => act(() => api('/api/faults', { method: 'DELETE' })) })),
      message);
  }
  draw();
}

// ---- routing ----------------------------------------------------------------------------------
const PAGES = { calls: callsPage, tickets: ticketsPage, notifications: notificationsPage, tenants: tenantsPage, sandbox: sandboxPage };

function route() {
  clearInterval(pageTimer);
  const [name, query] = (location.hash.slice(1) || 'calls').split('?');
  const page = PAGES[name] ? name : 'calls';
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('current', a.dataset.page === page));
  const root = document.getElementById('page');
  root.replaceChildren();
  root.dataset.page = page;
  PAGES[page](root, new URLSearchParams(query || ''));
  refreshActive();
}

function translate() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
  document.getElementById('lang').textContent = lang === 'zh' ? 'EN' : '中文';
}

document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('tg-lang', lang);
  translate();
  route();
});
window.addEventListener('hashchange', route);
setInterval(refreshActive, 5000);
translate();
route();
