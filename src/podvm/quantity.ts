// Exact Kubernetes resource.Quantity parsing, following k8s.io/apimachinery/pkg/api/resource
// (quantity.go: parseQuantityString, ParseQuantity, CanonicalizeBytes; suffix.go; math.go).
// No floating point: a value is mantissa × 10^exponent with BigInt mantissa, so everything
// apimachinery accepts is held exactly, after apimachinery's own two adjustments:
//   - a value finer than 1n is rounded away from zero to nano scale ("0.9n" → 1n, "3.001n" → 4n);
//   - a binarySI value beyond int64 is capped at ±(2^63-1) ("8Ei", "9223372036854775807Ki").
// Decimal values are not capped (apimachinery keeps "18446744073709551616" and "1e30" exactly).
//
// One deliberate difference: apimachinery's scanner reads a string with no digit at all as 0 when
// it takes its int64 fast path ("Ki", "m", "+", "-", "." all parse as 0). Those are certainly
// typos in a manifest, so they are rejected here (the error regex below needs a digit or dot too,
// and kubebuilder's published Quantity pattern requires a digit).

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** An exact quantity: value = mantissa × 10^exponent (normalized: mantissa has no trailing zero digits). */
export interface Quantity {
  readonly mantissa: bigint;
  readonly exponent: number;
  /** the suffix family it was written in; canonical printing (quantityString) keeps it, as k8s does */
  readonly format: QuantityFormat;
}

/** apimachinery's ErrFormatWrong text, verbatim. */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX_MESSAGE = "unable to parse quantity's suffix"; // ErrSuffix

export class QuantityError extends Error {
  /** input is the string as written; detail says why, without it (for messages that show it already) */
  constructor(readonly input: string, readonly detail: string) {
    super(`invalid quantity ${JSON.stringify(input)}: ${detail}`);
    this.name = 'QuantityError';
  }
}

const DECIMAL_SI = new Map<string, number>([['n', -9], ['u', -6], ['m', -3], ['', 0], ['k', 3], ['M', 6], ['G', 9], ['T', 12], ['P', 15], ['E', 18]]);
const BINARY_SI = new Map<string, number>([['Ki', 10], ['Mi', 20], ['Gi', 30], ['Ti', 40], ['Pi', 50], ['Ei', 60]]);
const SUFFIX_CHARS = 'eEinumkKMGTP';
const INT64_MAX = (1n << 63n) - 1n;
const NANO = -9;
/** Conversions refuse results longer than this many digits (apimachinery accepts "1e2147483647"; no integer fits it). */
const MAX_DIGITS = 4096;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const abs = (v: bigint): bigint => (v < 0n ? -v : v);
const digitCount = (v: bigint): number => (v === 0n ? 0 : abs(v).toString().length);
const pow10 = (n: number): bigint => 10n ** BigInt(n);

function normalize(mantissa: bigint, exponent: number, format: QuantityFormat): Quantity {
  if (mantissa === 0n) return { mantissa: 0n, exponent: 0, format };
  while (mantissa % 10n === 0n) { mantissa /= 10n; exponent++; }
  return { mantissa, exponent, format };
}

/** suffix.go interpret(): base 10 or 2, the exponent, and the format; undefined when unknown. */
function interpretSuffix(s: string): { base: 2 | 10; exp: number; format: QuantityFormat } | undefined {
  const dec = DECIMAL_SI.get(s);
  if (dec !== undefined) return { base: 10, exp: dec, format: 'DecimalSI' };
  const bin = BINARY_SI.get(s);
  if (bin !== undefined) return { base: 2, exp: bin, format: 'BinarySI' };
  if (s.length > 1 && (s[0] === 'e' || s[0] === 'E') && /^[+-]?[0-9]+$/.test(s.slice(1))) {
    const v = BigInt(s.slice(1)); // strconv.ParseInt(…, 10, 64) …
    if (v > INT64_MAX || v < -INT64_MAX - 1n) return undefined;
    return { base: 10, exp: Number(BigInt.asIntN(32, v)), format: 'DecimalExponent' }; // … then int32(parsed), as Go truncates
  }
  return undefined;
}

/**
 * Parse a quantity as the API server does. A JS number (YAML `cpu: 2`, `cpu: 0.5`) is read via its
 * shortest round-trip decimal string, which is exact for any number YAML could have produced from
 * at most 15 significant digits.
 */
export function parseQuantity(input: string | number): Quantity {
  let str: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new QuantityError(String(input), 'not a finite number');
    str = Object.is(input, -0) ? '0' : String(input);
  } else if (typeof input === 'string') {
    str = input;
  } else {
    throw new QuantityError(String(input), 'must be a string or a number');
  }
  if (str.length === 0) throw new QuantityError(str, QUANTITY_FORMAT_MESSAGE);

  // parseQuantityString: <sign><digits>[.<digits>]<suffix chars>[<sign>]<digits>, nothing else
  let i = 0;
  let negative = false;
  if (str[0] === '-' || str[0] === '+') { negative = str[0] === '-'; i++; }
  const intStart = i;
  while (isDigit(str[i])) i++;
  const intDigits = str.slice(intStart, i);
  let fracDigits = '';
  if (str[i] === '.') {
    const fracStart = ++i;
    while (isDigit(str[i])) i++;
    fracDigits = str.slice(fracStart, i);
  }
  const suffixStart = i;
  while (i < str.length && SUFFIX_CHARS.includes(str[i])) i++;
  if (str[i] === '+' || str[i] === '-') i++;
  while (isDigit(str[i])) i++;
  if (i < str.length) throw new QuantityError(str, QUANTITY_FORMAT_MESSAGE);
  if (intDigits === '' && fracDigits === '') throw new QuantityError(str, `${QUANTITY_FORMAT_MESSAGE} (and it has no digits)`);

  const suffix = interpretSuffix(str.slice(suffixStart));
  if (!suffix) throw new QuantityError(str, SUFFIX_MESSAGE);

  let mantissa = BigInt(intDigits + fracDigits);
  let exponent = 0 - fracDigits.length; // not -length: that is -0 for an integer
  if (suffix.base === 10) exponent += suffix.exp;
  else mantissa <<= BigInt(suffix.exp);
  if (negative) mantissa = -mantissa;
  let format = suffix.format;

  // Round a value finer than 1n away from zero to nano scale (ParseQuantity: inf.RoundUp at Nano).
  if (mantissa !== 0n && exponent < NANO) {
    const drop = NANO - exponent;
    let q: bigint;
    if (drop > digitCount(mantissa)) q = 1n;
    else { const d = pow10(drop); q = abs(mantissa) / d + (abs(mantissa) % d === 0n ? 0n : 1n); }
    mantissa = mantissa < 0n ? -q : q;
    exponent = NANO;
  }
  let q = normalize(mantissa, exponent, format);
  if (format === 'BinarySI') {
    const magnitude = { ...q, mantissa: abs(q.mantissa) };
    if (compareQuantity(magnitude, ONE_INT64_MAX) > 0) q = normalize(q.mantissa < 0n ? -INT64_MAX : INT64_MAX, 0, format);
    else if (q.mantissa !== 0n && compareQuantity(magnitude, ONE) < 0) format = 'DecimalSI'; // "0.0005Ki" (0.512) prints as "512m"
    q = { ...q, format };
  }
  return q;
}

const ONE: Quantity = { mantissa: 1n, exponent: 0, format: 'DecimalSI' };
const ONE_INT64_MAX: Quantity = { mantissa: INT64_MAX, exponent: 0, format: 'DecimalSI' };

export function isNegative(q: Quantity): boolean { return q.mantissa < 0n; }
export function isZero(q: Quantity): boolean { return q.mantissa === 0n; }

/** -1, 0 or 1, exactly (no conversion, so any exponent is fine). */
export function compareQuantity(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const sa = a.mantissa < 0n ? -1 : a.mantissa > 0n ? 1 : 0;
  const sb = b.mantissa < 0n ? -1 : b.mantissa > 0n ? 1 : 0;
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (sa === 0) return 0;
  // Same sign: compare magnitudes, first by the position of the leading digit (normalized
  // mantissas), then digit by digit once aligned (the shift is then at most a mantissa's length).
  const ta = digitCount(a.mantissa) + a.exponent;
  const tb = digitCount(b.mantissa) + b.exponent;
  let c: -1 | 0 | 1;
  if (ta !== tb) c = ta < tb ? -1 : 1;
  else {
    const e = Math.min(a.exponent, b.exponent);
    const x = abs(a.mantissa) * pow10(a.exponent - e);
    const y = abs(b.mantissa) * pow10(b.exponent - e);
    c = x < y ? -1 : x > y ? 1 : 0;
  }
  return sa > 0 || c === 0 ? c : c === 1 ? -1 : 1;
}

/** Exact sum; throws QuantityError if the exponents are too far apart to add in memory. */
export function addQuantity(a: Quantity, b: Quantity): Quantity {
  if (a.mantissa === 0n) return b;
  if (b.mantissa === 0n) return a;
  const e = Math.min(a.exponent, b.exponent);
  if (Math.max(a.exponent, b.exponent) - e > 2 * MAX_DIGITS) throw new QuantityError(quantityString(a), 'too large to add');
  return normalize(a.mantissa * pow10(a.exponent - e) + b.mantissa * pow10(b.exponent - e), e, a.format);
}

/** ceil(q × 10^-scale) toward +∞ (apimachinery's ScaledValue rounds up; negatives never reach it here). */
function ceilScaled(q: Quantity, scale: number): bigint {
  const shift = q.exponent - scale;
  if (q.mantissa === 0n) return 0n;
  if (shift >= 0) {
    if (digitCount(q.mantissa) + shift > MAX_DIGITS) throw new QuantityError(quantityString(q), 'too large to convert to an integer');
    return q.mantissa * pow10(shift);
  }
  if (-shift > digitCount(q.mantissa)) return q.mantissa > 0n ? 1n : 0n; // |q| < 10^scale
  const d = pow10(-shift);
  const t = q.mantissa / d; // truncates toward zero, i.e. already the ceiling for a negative value
  return q.mantissa % d > 0n ? t + 1n : t;
}

/** Like Quantity.MilliValue(): ceil(q × 1000) — CPU in millicores ("0.0001" → 1). */
export function milliValue(q: Quantity): bigint { return ceilScaled(q, -3); }
/** Like Quantity.Value(): ceil(q) — memory in bytes ("1.5" → 2). */
export function value(q: Quantity): bigint { return ceilScaled(q, 0); }

/**
 * The canonical string Quantity.String() prints (CanonicalizeBytes), as used in API server
 * messages: "0.5" → "500m", "1.5Gi" → "1536Mi", "1000M" → "1G", "1000E" → "1e21".
 */
export function quantityString(q: Quantity): string {
  if (q.mantissa === 0n) return '0';
  let format = q.format;
  if (format === 'BinarySI') {
    const small = compareQuantity({ ...q, mantissa: abs(q.mantissa) }, { mantissa: 1024n, exponent: 0, format }) < 0;
    if (small || q.exponent < 0) format = 'DecimalSI'; // |q| < 1024, or not an integer: don't round, print decimal
  }
  if (format === 'BinarySI') {
    let m = q.mantissa * pow10(q.exponent); // an integer ≤ 2^63-1 in magnitude (capped at parse)
    let k = 0;
    while (m % 1024n === 0n) { m /= 1024n; k++; }
    return `${m}${k === 0 ? '' : ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][k - 1]}`;
  }
  let m = q.mantissa;
  let e = q.exponent;
  while (e % 3 !== 0) { m *= 10n; e--; } // exponent a multiple of 3
  const si = format === 'DecimalSI' ? [...DECIMAL_SI].find(([, x]) => x === e)?.[0] : undefined;
  return `${m}${si ?? (e === 0 ? '' : `e${e}`)}`; // DecimalSI beyond "E" falls back to an exponent, as k8s does
}

/**
 * Print a converted value: CPU millicores as "250m" / "2", memory bytes with the largest binary
 * suffix that divides exactly ("256Mi", "1536Mi", "1Gi"), else plain bytes ("1000").
 */
export function formatQuantity(amount: bigint, resource: 'cpu' | 'memory'): string {
  if (resource === 'cpu') return amount % 1000n === 0n ? `${amount / 1000n}` : `${amount}m`;
  if (amount === 0n) return '0';
  let m = amount;
  let k = 0;
  while (k < 6 && m % 1024n === 0n) { m /= 1024n; k++; }
  return `${m}${k === 0 ? '' : ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][k - 1]}`;
}
