'use strict';
// Start a throwaway ticketgate node (`ticketgate serve --ephemeral`) and talk to it.
const { spawn, execFile } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const NORMAL_ITEM = '2019000000000001';
const TIMES_CARD_ITEM = '2019000000000002';
const START_SNAPSHOT = 'ticketgate_start';

/** The ticketgate executable: $TICKETGATE_BIN, else the one this package carries. */
function binary() {
  return process.env.TICKETGATE_BIN || path.join(__dirname, 'bin', process.platform === 'win32' ? 'ticketgate.exe' : 'ticketgate');
}

// An admin command prints one JSON object (that object), or with `lines` (`log`) one object
// a line (an array of them, maybe empty).
function parseAnswer(text, lines) {
  if (lines) return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const out = text.trim();
  return out ? JSON.parse(out) : null;
}

function admin(executable, data, args) {
  return new Promise((resolve, reject) => {
    execFile(executable, ['admin', '--data', data, ...args.map(String)], { encoding: 'utf8', maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : error.code || 'error';
          reject(new Error(`ticketgate admin ${args.join(' ')} exited ${code}: ${String(stderr).trim()}`));
          return;
        }
        resolve(parseAnswer(stdout, args[0] === 'log'));
      });
  });
}

function firstLine(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000); });
    const lines = readline.createInterface({ input: child.stdout });
    const fail = (why) => { clearTimeout(timer); child.kill('SIGKILL'); reject(new Error(`ticketgate serve --ephemeral ${why}: ${stderr.trim() || 'no output'}`)); };
    const timer = setTimeout(() => fail(`did not announce itself within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (e) => fail(`could not start (${e.message})`));
    child.once('exit', (code) => fail(`exited ${code} before announcing itself`));
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      // Keep draining both pipes so that the node never blocks on a full one.
      child.stdout.resume();
      child.stderr.removeAllListeners('data');
      child.stderr.resume();
      resolve(JSON.parse(line));
    });
  });
}

/**
 * Starts an ephemeral node and resolves once it serves: its own store in a temporary folder,
 * a free loopback address, the demo tenant. `stop()` ends it and removes the folder; if this
 * process dies first the node stops too (it exits when its stdin closes).
 */
async function start(options = {}) {
  const executable = options.binary || binary();
  const child = spawn(executable, ['serve', '--ephemeral', '--exit-with-stdin', ...(options.args || [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env || process.env,
  });
  const info = await firstLine(child, options.timeoutMs || 30000);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // A test runner that never calls stop() can still exit: the node then sees its stdin close
  // and stops by itself.
  for (const handle of [child, child.stdin, child.stdout, child.stderr]) handle.unref();
  const run = (...args) => admin(executable, info.data, args);
  const items = info.items || { normal: NORMAL_ITEM, times_card: TIMES_CARD_ITEM };
  const gateway = {
    info,
    gatewayUrl: info.gateway_url,
    host: info.host,
    port: info.port,
    appId: info.app_id,
    signType: info.sign_type,
    charset: info.charset,
    privateKey: info.app_private_key_pem,
    privateKeyPkcs8: info.app_private_key_pkcs8_pem,
    appPublicKey: info.app_public_key_pem,
    alipayPublicKey: info.alipay_public_key_pem,
    merchantPid: info.merchant_pid,
    shopId: info.shop_id,
    consoleUrl: info.console_url,
    consoleToken: info.console_token,
    tickets: info.tickets,
    items,
    data: info.data,
    pid: child.pid,
    admin: run,
    async newTicket(item) {
      return (await gateway.newTickets(1, item))[0];
    },
    async newTickets(count, item) {
      const answer = await run('order', 'issue', '--item', item || items.normal, '--tickets', count);
      return answer.tickets;
    },
    save: (name) => run('snapshot', 'save', '--name', name),
    restore: (name) => run('snapshot', 'restore', '--name', name),
    reset: () => run('snapshot', 'restore', '--name', START_SNAPSHOT),
    sdkConfig() {
      return { appId: info.app_id, privateKey: info.app_private_key_pem, alipayPublicKey: info.alipay_public_key_pem, gateway: info.gateway_url, signType: info.sign_type };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.ref();
        child.stdin.end();
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  try {
    await gateway.save(START_SNAPSHOT);
  } catch (e) {
    await gateway.stop();
    throw e;
  }
  return gateway;
}

module.exports = { start, binary };
