// Compiled (never run) by the kit test with `tsc -p tsconfig.check.json`: the package's types
// describe what start() gives.
import { start, type Gateway } from 'ticketgate';

async function typed(): Promise<string> {
  const gw: Gateway = await start({ timeoutMs: 5000 });
  const config: { appId: string; privateKey: string; alipayPublicKey: string; gateway: string } = gw.sdkConfig();
  const code: string = await gw.newTicket();
  const codes: string[] = await gw.newTickets(2, gw.items.times_card);
  await gw.admin('clock', 'advance', '--merchant', gw.merchantPid, '--by', '1h');
  await gw.reset();
  await gw.stop();
  return [config.gateway, gw.gatewayUrl, gw.privateKey, gw.alipayPublicKey, gw.shopId, code, ...codes].join();
}

export default typed;
