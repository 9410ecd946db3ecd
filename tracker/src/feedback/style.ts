// The widget's CSS, inside its shadow root. A constructed stylesheet (adoptedStyleSheets) is not
// subject to the page's style-src, so a strict Content-Security-Policy needs no 'unsafe-inline';
// only where constructed sheets are missing (Safari < 16.4) a <style> element is used, which such
// a policy refuses (the widget then shows unstyled but works). The host's own styles are set
// through the CSSOM (element.style), which CSP allows.
const CSS = `
*{box-sizing:border-box;margin:0;font:inherit;color:inherit;letter-spacing:normal;text-transform:none}
.r{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d1d1f;direction:ltr;text-align:left}
button{cursor:pointer;border:0;background:none;padding:0}
:focus-visible{outline:3px solid var(--c);outline-offset:2px}
.tab{position:fixed;z-index:2147483000;background:var(--c);color:var(--f);font-weight:600;padding:9px 14px;box-shadow:0 2px 10px rgba(0,0,0,.25)}
.tab.right{right:0;top:50%;writing-mode:vertical-rl;transform:translateY(-50%) rotate(180deg);border-radius:0 7px 7px 0}
.tab.left{left:0;top:50%;writing-mode:vertical-rl;transform:translateY(-50%);border-radius:0 7px 7px 0}
.bottom-right{right:16px;bottom:16px;border-radius:20px}
.bottom-left{left:16px;bottom:16px;border-radius:20px}
.d{position:fixed;z-index:2147483001;width:min(340px,calc(100vw - 24px));max-height:calc(100vh - 24px);overflow:auto;background:#fff;color:#1d1d1f;border-radius:12px;box-shadow:0 10px 36px rgba(0,0,0,.32),0 0 0 1px rgba(0,0,0,.08);padding:16px}
.d.right,.d.left{top:50%;transform:translateY(-50%)}
.d.right{right:52px;left:auto}.d.left{left:52px}
.d.bottom-right{right:16px;bottom:68px}.d.bottom-left{left:16px;bottom:68px}
.d.s{right:16px;bottom:16px}
.pv .tab,.pv .d,.pv .o,.pv .hint{position:absolute}
@media (prefers-reduced-motion:no-preference){.d{animation:sl-in .2s ease-out}}
@keyframes sl-in{from{opacity:0}}
.h{display:flex;justify-content:space-between;align-items:flex-start;gap:8px;margin-bottom:12px}
h2{font-size:16px;font-weight:650;line-height:1.3}
.x{width:28px;height:28px;flex:none;border-radius:6px;font-size:20px;line-height:28px;text-align:center;color:#555}
.x:hover{background:#f0f0f3}
.g{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:12px}
.g [role=radio]{min-width:36px;height:36px;border-radius:8px;border:1px solid #c9c9d1;background:#fff;font-weight:600;padding:0 8px}
.n{flex-wrap:nowrap;gap:4px}.n [role=radio]{flex:1;min-width:0;padding:0}
.g [aria-checked=true]{background:var(--c);color:var(--f);border-color:var(--c)}
.faces{justify-content:space-between}
.faces [role=radio]{width:48px;height:48px;padding:6px;border-radius:50%}
.faces svg{width:100%;height:100%;display:block}
.faces [aria-checked=true] svg{color:var(--f)}
.ends{display:flex;justify-content:space-between;font-size:12px;color:#666;margin:-6px 0 12px}
label{display:block;margin-bottom:6px;font-weight:500}
textarea,input[type=text]{display:block;width:100%;border:1px solid #c9c9d1;border-radius:8px;padding:8px;background:#fff;color:#1d1d1f;font-size:14px;margin-bottom:12px}
textarea{min-height:80px;resize:vertical}
.c{display:flex;align-items:center;gap:8px;margin-bottom:6px;font-weight:400}
.c input{width:18px;height:18px;accent-color:var(--c);margin:0}
.f{display:flex;justify-content:space-between;align-items:center;gap:8px;margin-top:4px}
.b{background:var(--c);color:var(--f);padding:8px 18px;border-radius:8px;font-weight:600}
.l{color:var(--c);text-decoration:underline;padding:4px 0;font-size:13px}
.err{color:#b00020;font-size:13px;margin-bottom:8px}
.err:empty{display:none}
.t{font-size:15px;padding:8px 0}
.o{position:fixed;z-index:2147482999;pointer-events:none;border:2px solid var(--c);background:rgba(59,91,219,.08);border-radius:3px}
.hint{position:fixed;z-index:2147483001;left:50%;top:12px;transform:translateX(-50%);background:#1d1d1f;color:#fff;padding:8px 14px;border-radius:8px;max-width:calc(100vw - 24px)}
[hidden]{display:none!important}
`;

// adopt gives a shadow root the stylesheet once.
export function adopt(root: ShadowRoot): void {
  if (root.querySelector('.r') || (root as ShadowRoot & { __sl?: 1 }).__sl) return;
  (root as ShadowRoot & { __sl?: 1 }).__sl = 1;
  try {
    const s = new CSSStyleSheet();
    s.replaceSync(CSS);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, s];
    return;
  } catch {
    /* no constructed stylesheets: a <style> element */
  }
  const el = root.ownerDocument.createElement('style');
  el.textContent = CSS;
  root.appendChild(el);
}

// ink is the text colour readable on an accent colour (#rrggbb): black on light, white on dark.
export function ink(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  const lum = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return lum > 160 ? '#111' : '#fff';
}
