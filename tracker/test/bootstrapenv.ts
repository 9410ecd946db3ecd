// What the tests of the committed dist/bootstrap.js share: running it rendered with a site's
// settings the way ingest renders it, the scripts it made the page load, and a clean page.
import { readFileSync } from 'node:fs';

/** The committed bootstrap, unrendered ("__SIGHTLINE_CONFIG__" still in it). */
export const template = readFileSync(import.meta.dirname + '/../dist/bootstrap.js', 'utf8');

/** runBootstrap runs dist/bootstrap.js with cfg as the site's settings. */
export function runBootstrap(cfg: object) {
  (0, eval)(template.replace('"__SIGHTLINE_CONFIG__"', JSON.stringify(cfg)));
}

/** loads answers the src of every script in the page, in order. */
export const loads = () => [...document.querySelectorAll('script')].map((s) => s.getAttribute('src'));

/** clearPage forgets what an earlier test's bootstrap left: storage, the sightline global, added scripts. */
export function clearPage() {
  localStorage.clear();
  delete (window as { sightline?: unknown }).sightline;
  document.head.innerHTML = '';
}
