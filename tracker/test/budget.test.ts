import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
// @ts-expect-error plain ES module without types
import { bundle } from '../build.mjs';

// Size budgets from the issue, measured on a fresh build with zlib at level 9, and a drift check:
// the committed dist/ must be what the sources build to.
describe('size budget', async () => {
  const out: { bootstrap: string; recorder: string } = await bundle();
  const gz = (s: string) => gzipSync(Buffer.from(s), { level: 9 }).length;

  it('bootstrap ≤ 1 KB gzipped', () => {
    expect(gz(out.bootstrap)).toBeLessThanOrEqual(1024);
  });
  it('recorder ≤ 30 KB gzipped', () => {
    expect(gz(out.recorder)).toBeLessThanOrEqual(30 * 1024);
  });
  it('dist/ is up to date (run npm run build)', () => {
    expect(readFileSync(new URL('../dist/bootstrap.js', import.meta.url), 'utf8')).toBe(out.bootstrap);
    expect(readFileSync(new URL('../dist/recorder.js', import.meta.url), 'utf8')).toBe(out.recorder);
  });
  it('builds byte-identically twice', async () => {
    const again = await bundle();
    expect(again.recorder).toBe(out.recorder);
    expect(again.bootstrap).toBe(out.bootstrap);
  });
});
