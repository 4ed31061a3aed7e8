// The npm kit's own tests, run by scripts/test-kits in a folder where only the tarball is
// installed: CommonJS and ESM entries, the bin, stop(), a killed parent, errors.
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const alive = (pid) => {
  try { process.kill(pid, 0); } catch { return false; }
  try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(' ')[0] !== 'Z'; } catch { return false; }
};
const goneWithin = async (pid, ms = 10000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

test('the bin runs', () => {
  const out = execFileSync(path.join('node_modules', '.bin', 'ticketgate'), ['--version'], { encoding: 'utf8' });
  assert.match(out, /^ticketgate /);
});

test('require() and import give the same start()', async () => {
  const cjs = require('ticketgate');
  const esm = await import('ticketgate');
  assert.equal(typeof cjs.start, 'function');
  assert.equal(esm.start, cjs.start);
});

test('start() serves, newTicket() issues, stop() cleans up', async () => {
  const { start } = require('ticketgate');
  const gw = await start();
  let data; let pid;
  try {
    assert.match(gw.gatewayUrl, /^http:\/\/127\.[0-9.]+(:\d+)?\/gateway\.do$/);
    assert.match(gw.privateKey, /^-----BEGIN RSA PRIVATE KEY-----/);
    const code = await gw.newTicket();
    assert.match(code, /^\d{12}$/);
    assert.equal((await gw.admin('ticket', 'show', code)).ticket_status, 'EFFECTIVE');
    const ready = await fetch(gw.gatewayUrl.replace('/gateway.do', '/ready'));
    assert.equal(ready.status, 200);
    await assert.rejects(gw.admin('ticket', 'show', '000000000000'), /exited 2/);
    assert.deepEqual(await gw.admin('log', '--limit', '3'), []);
    await gw.reset();
    await assert.rejects(gw.admin('ticket', 'show', code), /not found/);
    ({ data, pid } = gw);
  } finally {
    await gw.stop();
  }
  assert.equal(fs.existsSync(data), false);
  assert.ok(await goneWithin(pid));
});

test('a killed parent takes its node with it', async () => {
  const holder = spawn(process.execPath, ['-e', `
    require('ticketgate').start().then((gw) => {
      console.log(JSON.stringify({ pid: gw.pid, data: gw.data }));
      setInterval(() => {}, 1000);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => holder.stdout.once('data', (d) => resolve(String(d))));
  const node = JSON.parse(line);
  assert.ok(alive(node.pid));
  holder.kill('SIGKILL');
  assert.ok(await goneWithin(node.pid), 'the node outlived the process that started it');
  const deadline = Date.now() + 5000;
  while (fs.existsSync(node.data) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(fs.existsSync(node.data), false);
});

test('a script that never calls stop() still exits', () => {
  const started = Date.now();
  const out = execFileSync(process.execPath, ['-e', `
    require('ticketgate').start().then((gw) => console.log(gw.appId));`], { encoding: 'utf8', timeout: 20000 });
  assert.match(out, /^\d{16}/);
  assert.ok(Date.now() - started < 20000);
});

test('a missing binary is a clear error', async () => {
  const { start } = require('ticketgate');
  await assert.rejects(start({ binary: '/nonexistent/ticketgate' }), /could not start/);
});
