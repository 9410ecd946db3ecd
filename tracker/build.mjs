// Deterministic build of dist/: fixed esbuild options, no timestamps, no source maps, sorted
// inputs. CI rebuilds and diffs dist/ against the commit.
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const common = {
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  charset: 'utf8',
  legalComments: 'eof',
  sourcemap: false,
  write: false,
  logLevel: 'warning',
};

const PLACEHOLDER = '"__SIGHTLINE_CONFIG__"';

export async function bundle() {
  const out = {};
  // rrweb's packages are MIT-licensed and ship no license comment of their own.
  const banner = { recorder: '/*! Sightline recorder. Includes rrweb (MIT License, Copyright (c) rrweb contributors). */' };
  // The recorder calls clean copies of the globals a page can break (src/pristine.ts), and rrweb's
  // canvas sampling goes through the byte budget's gate (src/canvasgate.ts): injected names
  // replace the globals of the same name everywhere in the bundle, rrweb included. Property names
  // ending in "_" (the Recorder's private members) are shortened: that keeps the bundle within its
  // budget; nothing outside the bundle (wire format, storage, the page) may use such a name.
  const pristine = {
    recorder: {
      inject: ['src/pristine.ts', 'src/canvasgate.ts'],
      define: { 'Array.from': '__slArrayFrom', 'Object.assign': '__slObjectAssign' },
      mangleProps: /_$/,
      reserveProps: /^__.*__$/,
    },
  };
  // feedback: the widget and survey bundle (src/feedback/), loaded by the bootstrap only where the
  // site has something active for the page.
  const entry = { bootstrap: 'src/bootstrap.ts', recorder: 'src/recorder.ts', feedback: 'src/feedback/main.ts' };
  for (const name of ['bootstrap', 'recorder', 'feedback']) {
    const r = await build({ ...common, ...(pristine[name] || {}), entryPoints: [entry[name]], banner: banner[name] ? { js: banner[name] } : {} });
    out[name] = r.outputFiles[0].text;
  }
  const n = out.bootstrap.split(PLACEHOLDER).length - 1;
  if (n !== 1) throw new Error(`bootstrap must hold ${PLACEHOLDER} exactly once, holds it ${n} times`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundle();
  mkdirSync('dist', { recursive: true });
  for (const [name, text] of Object.entries(out)) {
    writeFileSync(`dist/${name}.js`, text);
    const gz = gzipSync(readFileSync(`dist/${name}.js`), { level: 9 }).length;
    console.log(`dist/${name}.js ${text.length} bytes, ${gz} gzipped`);
  }
}
