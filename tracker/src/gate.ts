import type { Store } from './store';
import { dntEnabled } from './session';

export interface GateConfig {
  recording?: boolean;
  respectDnt?: boolean;
  requireConsent?: boolean;
}

// blocked says whether nothing may be recorded on this page: recording switched off for the site,
// Do-Not-Track/GPC (when the site respects it, the default), an earlier refusal, or consent
// required and not yet given. Consent given later (sightline('consent', true)) re-runs the check.
export function blocked(c: GateConfig, st: Store, k: string, nav: Navigator, win: Window): boolean {
  return (
    c.recording === false ||
    (c.respectDnt !== false && dntEnabled(nav, win)) ||
    !!st.get(k + 'o') ||
    (!!c.requireConsent && !st.get(k + 'c'))
  );
}
