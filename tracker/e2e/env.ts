// binaryEnv is the setup the binary e2e files share: the real binary with a signed-up user and a
// site (sightline.ts), the fixture site server pointing its snippet at the binary's proxy, and
// Chromium; started before the file's tests, stopped after them.
import { afterAll, beforeAll } from 'vitest';
import type { Browser } from 'playwright-core';
// @ts-expect-error plain ES module
import { startServers } from './server.mjs';
// @ts-expect-error plain ES module
import { launch } from './browser.mjs';
import { startSightline, type Sightline } from './sightline';

export interface BinaryEnv {
  sl: Sightline;
  srv: { siteOrigin: string; close(): Promise<void> };
  browser: Browser;
}

export function binaryEnv(email: string, organizationName: string): BinaryEnv {
  const env = {} as BinaryEnv;
  beforeAll(async () => {
    env.sl = await startSightline(email, organizationName);
    env.srv = await startServers({ configs: {}, snippetOrigin: env.sl.proxyOrigin });
    env.browser = await launch();
  }, 600_000);
  afterAll(async () => {
    await env.browser?.close();
    await env.srv?.close();
    await env.sl?.stop();
  });
  return env;
}
