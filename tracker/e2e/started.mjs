// Where `sightline serve` listens: the browser suites (tracker/e2e, web/e2e) start it with every
// listener on port 0 — a port picked free beforehand can be taken (by another test file's
// process, or an outgoing connection's ephemeral port) before the binary binds it — and read the
// bound addresses from its "sightline started" log line, as the Go tests do (internal/testproc).

/**
 * startedLine answers the addresses ({ http, grpc, admin }, host:port) in the "sightline started"
 * line of the binary's JSON log so far, or undefined while it has none.
 */
export function startedLine(text) {
  for (const line of text.split('\n')) {
    if (!line.includes('"sightline started"')) continue;
    try {
      const rec = JSON.parse(line);
      if (rec.msg === 'sightline started') return { http: rec.http, grpc: rec.grpc, admin: rec.admin };
    } catch {
      /* a partial line: read again */
    }
  }
  return undefined;
}
