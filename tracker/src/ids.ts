// hex returns n random bytes as 2n lowercase hex digits.
export function hex(n: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b + 256).toString(16).slice(1)).join('');
}

// randomId returns prefix + 32 hex digits (128 random bits): url-safe, as the wire format asks.
export function randomId(prefix: string): string {
  return prefix + hex(16);
}

// traceparent returns a fresh W3C trace context (version 00, sampled). All-zero ids are invalid
// per the spec; 128 random bits make them practically impossible, but guard anyway.
export function traceparent(): string {
  let t = hex(16);
  let p = hex(8);
  if (/^0+$/.test(t)) t = '0'.repeat(31) + '1';
  if (/^0+$/.test(p)) p = '0'.repeat(15) + '1';
  return '00-' + t + '-' + p + '-01';
}
