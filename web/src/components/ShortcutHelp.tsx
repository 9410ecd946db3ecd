import { useEffect, useRef } from "react";
import { keyLabel, HELP_KEY, type Shortcut } from "../app/useShortcuts";

/** ShortcutHelp is the list `?` opens (useShortcuts' helpOpen): a modal dialog, closed by its button, Escape or `?`. */
export function ShortcutHelp({ shortcuts, onClose }: { shortcuts: readonly Shortcut[]; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  // Focus goes into the dialog and back to where it was when it closes.
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    close.current?.focus();
    return () => before?.focus();
  }, []);
  return (
    <div className="shortcut-backdrop" onClick={onClose}>
      <div className="card shortcut-help" role="dialog" aria-modal="true" aria-labelledby="shortcut-title" onClick={(e) => e.stopPropagation()}>
        <h2 id="shortcut-title">Keyboard shortcuts</h2>
        <dl className="stats">
          {shortcuts.map((s) => (
            <div className="stat" key={s.label}>
              <dt>{s.label}</dt>
              <dd>
                {s.keys.map((k) => (
                  <kbd key={k}>{keyLabel(k)}</kbd>
                ))}
              </dd>
            </div>
          ))}
          <div className="stat">
            <dt>This list</dt>
            <dd>
              <kbd>{HELP_KEY}</kbd>
            </dd>
          </div>
        </dl>
        <button ref={close} type="button" className="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  );
}
