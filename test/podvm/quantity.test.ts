// Unit tests of src/podvm/quantity.ts. The tables are apimachinery's own cases, from
// kubernetes/apimachinery pkg/api/resource/quantity_test.go (TestQuantityParse, TestQuantityCmp,
// TestQuantityParseEmit, TestQuantityString's alternates, TestScaledValue, TestNewSet) and
// kubernetes/kubernetes staging/.../api/resource/quantity_subnano_test.go, with their expected
// values written the same way: decQuantity(i, e, format) = i × 10^e.
import assert from 'node:assert/strict';
import {
  compareQuantity, formatQuantity, isNegative, milliValue, parseQuantity, type Quantity, QuantityError, type QuantityFormat,
  quantityString, value, QUANTITY_FORMAT_MESSAGE,
} from '../../src/podvm/quantity.js';

const dec = (i: bigint | number, e: number, format: QuantityFormat = 'DecimalSI'): Quantity => ({ mantissa: BigInt(i), exponent: e, format });
const neg = (q: Quantity): Quantity => ({ ...q, mantissa: -q.mantissa });
const MAX_ALLOWED = (1n << 63n) - 1n; // math.go maxAllowed, the binarySI cap

// TestQuantityParse: input → decQuantity(i, exponent, format)
const VALID: Array<[string, Quantity]> = [
  ['0', dec(0, 0)], ['0n', dec(0, 0)], ['0u', dec(0, 0)], ['0m', dec(0, 0)],
  ['0Ki', dec(0, 0, 'BinarySI')], ['0k', dec(0, 0)], ['0Mi', dec(0, 0, 'BinarySI')], ['0M', dec(0, 0)],
  ['0Gi', dec(0, 0, 'BinarySI')], ['0G', dec(0, 0)], ['0Ti', dec(0, 0, 'BinarySI')], ['0T', dec(0, 0)],
  // quantity-less numbers are allowed
  ['1', dec(1, 0)],
  // binary suffixes
  ['1Ki', dec(1024, 0, 'BinarySI')], ['8Ki', dec(8 * 1024, 0, 'BinarySI')], ['7Mi', dec(7 * 1024 ** 2, 0, 'BinarySI')],
  ['6Gi', dec(6 * 1024 ** 3, 0, 'BinarySI')], ['5Ti', dec(5 * 1024 ** 4, 0, 'BinarySI')], ['4Pi', dec(4n * 1024n ** 5n, 0, 'BinarySI')],
  ['3Ei', dec(3n * 1024n ** 6n, 0, 'BinarySI')], ['10Ti', dec(10 * 1024 ** 4, 0, 'BinarySI')], ['100Ti', dec(100 * 1024 ** 4, 0, 'BinarySI')],
  // decimal suffixes
  ['5n', dec(5, -9)], ['4u', dec(4, -6)], ['3m', dec(3, -3)], ['9', dec(9, 0)], ['8k', dec(8, 3)], ['50k', dec(5, 4)],
  ['7M', dec(7, 6)], ['6G', dec(6, 9)], ['5T', dec(5, 12)], ['40T', dec(4, 13)], ['300T', dec(3, 14)], ['2P', dec(2, 15)], ['1E', dec(1, 18)],
  // decimal exponents
  ['1E-3', dec(1, -3, 'DecimalExponent')], ['1e3', dec(1, 3, 'DecimalExponent')], ['1E6', dec(1, 6, 'DecimalExponent')],
  ['1e9', dec(1, 9, 'DecimalExponent')], ['1E12', dec(1, 12, 'DecimalExponent')], ['1e15', dec(1, 15, 'DecimalExponent')],
  ['1E18', dec(1, 18, 'DecimalExponent')],
  // nonstandard but still parsable
  ['1e14', dec(1, 14, 'DecimalExponent')], ['1e13', dec(1, 13, 'DecimalExponent')], ['100.035k', dec(100035, 0)],
  // things that look like floating point
  ['0.001', dec(1, -3)], ['0.0005k', dec(5, -1)], ['0.005', dec(5, -3)], ['0.05', dec(5, -2)], ['0.5', dec(5, -1)],
  ['0.00050k', dec(5, -1)], ['0.00500', dec(5, -3)], ['0.05000', dec(5, -2)], ['0.50000', dec(5, -1)],
  ['0.5e0', dec(5, -1, 'DecimalExponent')], ['0.5e-1', dec(5, -2, 'DecimalExponent')], ['0.5e-2', dec(5, -3, 'DecimalExponent')],
  ['10.035M', dec(10035, 3)],
  ['1.2e3', dec(12, 2, 'DecimalExponent')], ['1.3E+6', dec(13, 5, 'DecimalExponent')], ['1.40e9', dec(14, 8, 'DecimalExponent')],
  ['1.53E12', dec(153, 10, 'DecimalExponent')], ['1.6e15', dec(16, 14, 'DecimalExponent')], ['1.7E18', dec(17, 17, 'DecimalExponent')],
  ['9.01', dec(901, -2)], ['8.1k', dec(81, 2)], ['7.123456M', dec(7123456, 0)], ['6.987654321G', dec(6987654321, 0)],
  ['5.444T', dec(5444, 9)], ['40.1T', dec(401, 11)], ['300.2T', dec(3002, 11)], ['2.5P', dec(25, 14)], ['1.01E', dec(101, 16)],
  // things that saturate/round
  ['3.001n', dec(4, -9)], ['1.1E-9', dec(2, -9, 'DecimalExponent')], ['0.0000000001', dec(1, -9)], ['0.0000000005', dec(1, -9)],
  ['0.00000000050', dec(1, -9)], ['0.5e-9', dec(1, -9, 'DecimalExponent')], ['0.9n', dec(1, -9)],
  ['0.00000012345', dec(124, -9)], ['0.00000012354', dec(124, -9)],
  ['9Ei', dec(MAX_ALLOWED, 0, 'BinarySI')], ['9223372036854775807Ki', dec(MAX_ALLOWED, 0, 'BinarySI')], ['12E', dec(12, 18)],
  // fractional binary
  ['100.035Ki', dec(10243584, -2, 'BinarySI')], ['0.5Mi', dec(0.5 * 1024 * 1024, 0, 'BinarySI')],
  ['0.05Gi', dec(536870912, -1, 'BinarySI')], ['0.025Ti', dec(274877906944, -1, 'BinarySI')],
  // "things written by trolls"
  ['0.000000000001Ki', dec(2, -9)], // rounds up, changes format
  ['.001', dec(1, -3)], ['.0001k', dec(100, -3)], ['1.', dec(1, 0)], ['1.G', dec(1, 9)],
];

// TestQuantityParse's invalid list, then ones this harness adds
const INVALID = [
  '1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', ' 1', '1 ', '',
  '1.5.5Gi', '1Gb', '1 Gi', '1K', '1ki', '1e', '1e+', '1KiB', 'Ki', 'm', '+', '-', '.', '-.', 'Non-Numeric',
];

describe('podvm quantity', () => {
  it("parses apimachinery's TestQuantityParse table exactly, with its format", () => {
    for (const [input, want] of VALID) {
      const got = parseQuantity(input);
      assert.equal(compareQuantity(got, want), 0, `${input}: got ${got.mantissa}e${got.exponent}`);
      assert.equal(got.format, want.format, input);
    }
  });

  it('parses every valid case with an explicit - (negated, same format) and + (same value)', () => {
    for (const [input, want] of VALID) {
      const minus = parseQuantity(`-${input}`);
      assert.equal(compareQuantity(minus, neg(want)), 0, `-${input}`);
      assert.equal(minus.format, want.format, `-${input}`);
      assert.equal(compareQuantity(parseQuantity(`+${input}`), want), 0, `+${input}`);
    }
    assert.equal(isNegative(parseQuantity('-1m')), true);
    assert.equal(isNegative(parseQuantity('-0')), false);
  });

  it("rejects apimachinery's invalid list and more, saying why", () => {
    for (const input of INVALID) assert.throws(() => parseQuantity(input), QuantityError, JSON.stringify(input));
    assert.throws(() => parseQuantity('1Gb'), { name: 'QuantityError', message: `invalid quantity "1Gb": ${QUANTITY_FORMAT_MESSAGE}` });
    assert.throws(() => parseQuantity('1.5.5Gi'), { message: `invalid quantity "1.5.5Gi": ${QUANTITY_FORMAT_MESSAGE}` });
    assert.throws(() => parseQuantity(' 1'), { message: `invalid quantity " 1": ${QUANTITY_FORMAT_MESSAGE}` });
    assert.throws(() => parseQuantity(''), { message: `invalid quantity "": ${QUANTITY_FORMAT_MESSAGE}` });
    assert.throws(() => parseQuantity('0.1mi'), { message: 'invalid quantity "0.1mi": unable to parse quantity\'s suffix' });
    assert.throws(() => parseQuantity('Ki'), { message: `invalid quantity "Ki": ${QUANTITY_FORMAT_MESSAGE} (and it has no digits)` });
    assert.equal(QUANTITY_FORMAT_MESSAGE, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  });

  it('rounds sub-nano values away from zero to 1n (quantity_subnano_test.go)', () => {
    const cases: Array<[string, string]> = [
      ['1e-2147483647', '1n'], ['-1e-2147483647', '-1n'], ['1e-100', '1n'], ['-1e-100', '-1n'], ['1e-10', '1n'], ['9e-10', '1n'],
      ['-9e-10', '-1n'], ['1e-9', '1n'], ['-1e-9', '-1n'], ['2e-9', '2n'], ['15e-10', '2n'],
      ['1000000000000000000000e-30', '1n'], ['1000000000000000000001e-30', '2n'], ['999999999999999999999e-30', '1n'],
      ['0e-2147483647', '0'], ['0.0e-100', '0'], ['0.00000000000000000000001Ki', '1n'],
    ];
    for (const [input, want] of cases) assert.equal(compareQuantity(parseQuantity(input), parseQuantity(want)), 0, input);
    assert.equal(quantityString(parseQuantity('1e-100')), '1e-9');
    assert.equal(quantityString(parseQuantity('-0.0000000000001')), '-1n');
    assert.equal(parseQuantity('0.00000000000000000000001Ki').format, 'DecimalSI');
  });

  it('keeps huge decimal values exactly and caps binary ones at 2^63-1', () => {
    assert.equal(compareQuantity(parseQuantity('18446744073709551616'), dec(18446744073709551616n, 0)), 0);
    assert.equal(compareQuantity(parseQuantity('1e2147483647'), parseQuantity('1e2147483646')), 1);
    assert.equal(compareQuantity(parseQuantity('8Ei'), dec(MAX_ALLOWED, 0)), 0);
    assert.equal(compareQuantity(parseQuantity('-8Ei'), dec(-MAX_ALLOWED, 0)), 0);
    assert.throws(() => value(parseQuantity('1e99999')), /too large to convert/);
  });

  it('compares exactly (TestQuantityCmp)', () => {
    const cases: Array<[string, string, number]> = [['0', '0', 0], ['100m', '50m', 1], ['50m', '100m', -1], ['10000T', '100Gi', 1],
      ['1Gi', '1073741824', 0], ['-1', '1m', -1], ['-2', '-1', -1], ['1e-3', '1m', 0], ['0.1', '100m', 0]];
    for (const [a, b, want] of cases) assert.equal(compareQuantity(parseQuantity(a), parseQuantity(b)), want, `${a} vs ${b}`);
  });

  it("prints the canonical form as Quantity.String() does (TestQuantityParseEmit, TestQuantityString's alternates)", () => {
    const cases: Array<[string, string]> = [
      ['1Ki', '1Ki'], ['1Mi', '1Mi'], ['1Gi', '1Gi'], ['1024Mi', '1Gi'], ['1000M', '1G'], ['.001Ki', '1024m'], ['.000001Ki', '1024u'],
      ['.000000001Ki', '1024n'], ['.000000000001Ki', '2n'],
      ['307200Ki', '300Mi'], ['1025024Mi', '1001Gi'], ['1024Gi', '1Ti'], ['5000m', '5'], ['0.5', '500m'], ['0.001T', '1G'],
      ['1000u', '1m'], ['1.08', '1080m'], ['1080000000n', '1080m'], ['1000E', '1e21'], ['5000E', '5e21'], ['1000000E', '1e24'],
      ['.001e12', '1e9'], ['0.001e0', '1e-3'], ['1000e-12', '1e-9'], ['00', '0'], ['1.5Gi', '1536Mi'],
    ];
    for (const [input, want] of cases) {
      assert.equal(quantityString(parseQuantity(input)), want, input);
      if (want !== '0') assert.equal(quantityString(parseQuantity(`-${input}`)), `-${want}`, `-${input}`);
    }
  });

  it('converts with MilliValue/Value rounding up (TestScaledValue, TestNewSet, TestMilliNewSet)', () => {
    const cases: Array<[string, bigint, bigint]> = [ // input, milliValue, value
      ['1n', 1n, 1n], ['1u', 1n, 1n], ['1m', 1n, 1n], ['1', 1000n, 1n], ['1k', 1000000n, 1000n], ['1Ki', 1024000n, 1024n],
      ['1e6', 1000000000n, 1000000n], ['1Mi', 1048576000n, 1048576n], ['1234', 1234000n, 1234n], ['1e3', 1000000n, 1000n],
      // this harness's own
      ['1.5Gi', 1610612736000n, 1610612736n], ['0.1', 100n, 1n], ['0.0001', 1n, 1n], ['100Mi', 104857600000n, 104857600n],
      ['1E-3', 1n, 1n], ['250m', 250n, 1n], ['1.5', 1500n, 2n], ['0', 0n, 0n],
    ];
    for (const [input, milli, units] of cases) {
      const q = parseQuantity(input);
      assert.equal(milliValue(q), milli, `${input} milli`);
      assert.equal(value(q), units, `${input} value`);
    }
    assert.equal(value(parseQuantity('1.5Gi')), 1610612736n, '1.5Gi, which @kubernetes/client-node gets wrong');
  });

  it('reads YAML numbers through their shortest decimal string', () => {
    assert.equal(milliValue(parseQuantity(2)), 2000n);
    assert.equal(milliValue(parseQuantity(0.5)), 500n);
    assert.equal(milliValue(parseQuantity(0.1)), 100n);
    assert.equal(milliValue(parseQuantity(0.0001)), 1n);
    assert.equal(value(parseQuantity(1e21)), 10n ** 21n);
    assert.equal(milliValue(parseQuantity(-0)), 0n);
    assert.throws(() => parseQuantity(Number.NaN), QuantityError);
    assert.throws(() => parseQuantity(Infinity), QuantityError);
  });

  it('formats converted millicores and bytes', () => {
    assert.equal(formatQuantity(250n, 'cpu'), '250m');
    assert.equal(formatQuantity(2000n, 'cpu'), '2');
    assert.equal(formatQuantity(1500n, 'cpu'), '1500m');
    assert.equal(formatQuantity(0n, 'cpu'), '0');
    assert.equal(formatQuantity(256n * 1024n * 1024n, 'memory'), '256Mi');
    assert.equal(formatQuantity(1610612736n, 'memory'), '1536Mi');
    assert.equal(formatQuantity(1073741824n, 'memory'), '1Gi');
    assert.equal(formatQuantity(1000n, 'memory'), '1000');
    assert.equal(formatQuantity(0n, 'memory'), '0');
  });
});
