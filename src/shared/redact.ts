// Process-wide secret registry. Whoever learns a secret (openStore for S3 keys) registers it;
// whoever writes text that leaves the process (logs, results, reports) passes it through
// redact(). One registry instead of per-writer lists, so a writer cannot forget a secret that
// another part of the harness created.

const MASK = '***';
/** Shorter strings would mask ordinary words and digits all over a log; S3 secrets are 8+. */
const MIN_SECRET_LENGTH = 4;

const forms = new Set<string>();
let pattern: RegExp | undefined;

/** The ways a secret shows up in text we write: as is, URL-encoded (query strings, form bodies)
 *  and base64 (Basic auth headers, JSON blobs), with and without padding. */
function encodedForms(secret: string): string[] {
  const b64 = Buffer.from(secret, 'utf8').toString('base64');
  const b64url = Buffer.from(secret, 'utf8').toString('base64url');
  return [secret, encodeURIComponent(secret), b64, b64.replace(/=+$/, ''), b64url];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function registerSecret(secret: string | undefined | null): void {
  if (!secret || secret.length < MIN_SECRET_LENGTH) return;
  for (const f of encodedForms(secret)) forms.add(f);
  // Longest first, so a secret is masked whole before any shorter form inside it matches.
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
}

/** Text with every registered secret (and its encoded forms) replaced by ***. */
export function redact(text: string): string {
  if (!pattern || !text) return text;
  return text.replace(pattern, MASK);
}

