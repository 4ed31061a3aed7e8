/** What `ticketgate serve --ephemeral` announced on its first line. */
export interface EphemeralInfo {
  gateway_url: string;
  host: string;
  port: number;
  console_url: string | null;
  console_token: string | null;
  app_id: string;
  merchant_pid: string;
  shop_id: string;
  sign_type: 'RSA2' | 'RSA';
  charset: string;
  app_private_key_pem: string;
  app_private_key_base64: string;
  app_private_key_pkcs8_pem: string;
  app_private_key_pkcs8_base64: string;
  app_public_key_pem: string;
  alipay_public_key_pem: string;
  alipay_public_key_base64: string;
  tickets: { normal: string[]; times_card: string[] };
  items: { normal: string; times_card: string };
  data: string;
  pid: number;
}

export interface StartOptions {
  /** The ticketgate executable (default: $TICKETGATE_BIN, else the one this package carries). */
  binary?: string;
  /** More arguments for `serve`, e.g. `['--notify-schedule', '1,1,1']`. */
  args?: string[];
  env?: Record<string, string | undefined>;
  /** How long to wait for the node to announce itself (default 30000). */
  timeoutMs?: number;
}

/** The options `new AlipaySdk(...)` of the official `alipay-sdk` takes, pointing at the node. */
export interface SdkConfig {
  appId: string;
  privateKey: string;
  alipayPublicKey: string;
  gateway: string;
  signType: 'RSA2' | 'RSA';
}

export interface Gateway {
  info: EphemeralInfo;
  gatewayUrl: string;
  host: string;
  port: number;
  appId: string;
  signType: 'RSA2' | 'RSA';
  charset: string;
  /** The app's private key, PKCS#1 PEM: what `alipay-sdk` takes by default. */
  privateKey: string;
  privateKeyPkcs8: string;
  appPublicKey: string;
  /** The platform ("Alipay") public key the answers are signed with, PEM. */
  alipayPublicKey: string;
  merchantPid: string;
  shopId: string;
  consoleUrl: string | null;
  consoleToken: string | null;
  tickets: { normal: string[]; times_card: string[] };
  items: { normal: string; times_card: string };
  /** The node's temporary data folder (removed by stop()). */
  data: string;
  pid: number;
  /** Runs `ticketgate admin ARGS` on this node's store; resolves to its JSON answer (for
   * `log`, the array of its lines' objects). */
  admin(...args: Array<string | number>): Promise<any>;
  /** Issues one fresh, usable ticket (default: the demo's normal item); its code. */
  newTicket(item?: string): Promise<string>;
  newTickets(count: number, item?: string): Promise<string[]>;
  save(name: string): Promise<any>;
  restore(name: string): Promise<any>;
  /** Back to the state the node started in (a snapshot restore: milliseconds). */
  reset(): Promise<any>;
  sdkConfig(): SdkConfig;
  /** Stops the node; its folder is removed. */
  stop(): Promise<void>;
}

export function start(options?: StartOptions): Promise<Gateway>;
export function binary(): string;
