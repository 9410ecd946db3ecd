import type { Store } from './store';
import { dntEnabled } from './session';

export interface GateConfig {
  respectDnt?: boolean;
  requireConsent?: boolean;
}

// blocked says whether nothing may be recorded or counted on this page: Do-Not-Track/GPC (when
// the site respects it, the default), an earlier refusal, or consent required and not yet given.
// Consent given later (sightline('consent', true)) re-runs the check. Whether the site records at
// all (recording) is the recorder's own check: traffic and feedback do not depend on it.
export function blocked(c: GateConfig, st: Store, k: string, nav: Navigator, win: Window): boolean {
  return (
    (c.respectDnt !== false && dntEnabled(nav, win)) ||
    !!st.get(k + 'o') ||
    (!!c.requireConsent && !st.get(k + 'c'))
  );
}
