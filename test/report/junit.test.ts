import assert from 'node:assert/strict';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { renderJunit } from '../../src/report/junit.js';
import { NIGHT0, UNKNOWN_MESSAGE, XSS_NAME, makeRun, suiteRuns } from './fixtures.js';

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (v === undefined ? [] : Array.isArray(v) ? (v as Node[]) : [v as Node]);

describe('JUnit XML', () => {
  const runs = suiteRuns(NIGHT0);
  // A guest console with control bytes that XML 1.0 does not allow at all.
  runs.push(makeRun({ scenario: 'console noise', runIndex: 1, runs: 1, verdict: 'error', startedAt: NIGHT0, reason: 'panic: \u0000\u0007\u001b[31mKernel panic & <oops> "quoted"' }));
  const xml = renderJunit(runs);
  // An independent, strict parser: the output must not merely be what our builder thinks is XML.
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', textNodeName: '#', parseAttributeValue: false, parseTagValue: false });
  const doc = parser.parse(xml) as Node;

  it('is well-formed XML (and the validator does reject broken XML)', () => {
    assert.equal(XMLValidator.validate(xml), true);
    assert.notEqual(XMLValidator.validate('<a><b></a>'), true);
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
    assert.ok(doc.testsuites);
  });

  it('has one testsuite per scenario and one testcase per run with the right counts', () => {
    const root = doc.testsuites as Node;
    const suites = list(root.testsuite);
    const scenarios = new Set(runs.map((r) => r.scenario.name));
    assert.equal(suites.length, scenarios.size);
    assert.equal(root['@tests'], String(runs.length));
    assert.equal(root['@failures'], String(runs.filter((r) => r.verdict === 'fail').length));
    assert.equal(root['@errors'], String(runs.filter((r) => r.verdict === 'error').length));
    assert.equal(root['@skipped'], String(runs.filter((r) => r.verdict === 'unknown').length));
    for (const s of suites) {
      const mine = runs.filter((r) => r.scenario.name === s['@name']);
      const cases = list(s.testcase);
      assert.equal(cases.length, mine.length, String(s['@name']));
      assert.equal(Number(s['@tests']), mine.length);
      assert.equal(cases.filter((c) => c.failure).length, mine.filter((r) => r.verdict === 'fail').length);
      assert.equal(cases.filter((c) => c.error).length, mine.filter((r) => r.verdict === 'error').length);
      assert.equal(Number(s['@failures']), mine.filter((r) => r.verdict === 'fail').length);
      assert.equal(Number(s['@errors']), mine.filter((r) => r.verdict === 'error').length);
      assert.equal(cases.filter((c) => c.skipped !== undefined).length, mine.filter((r) => r.verdict === 'unknown').length);
      assert.equal(Number(s['@skipped']), mine.filter((r) => r.verdict === 'unknown').length);
    }
  });

  it('keeps fail and error apart, with the reason', () => {
    const suites = list((doc.testsuites as Node).testsuite);
    const pmem = suites.find((s) => s['@name'] === 'pmem-ha/power-cut')!;
    const err = list(pmem.testcase).find((c) => c.error)!;
    assert.equal((err.error as Node)['@type'], 'harness-error');
    assert.match(String((err.error as Node)['@message']), /guest agent not responding/);
    const xss = suites.find((s) => s['@name'] === XSS_NAME)!;
    const fail = list(xss.testcase)[0].failure as Node;
    assert.equal(fail['@type'], 'invariant-violated');
    assert.equal(fail['@message'], '<img src=x onerror=alert(2)> check failed');
    assert.match(String(fail['#']), /<svg onload=alert\(4\)>: guest said <\/script>/);
  });

  it('makes an unknown run a skipped testcase ("not judged"), never a bare pass', () => {
    const suites = list((doc.testsuites as Node).testsuite);
    const save = suites.find((s) => s['@name'] === 'pmem-ha/cut-mid-save')!;
    const [passed, unknown] = list(save.testcase);
    assert.deepEqual(Object.keys(passed).filter((k) => !k.startsWith('@')), ['properties', 'system-out'], 'the pass has no outcome child');
    assert.equal(unknown.failure, undefined);
    assert.equal(unknown.error, undefined);
    const skipped = unknown.skipped as Node;
    assert.equal(skipped['@message'], `not judged: 1 check(s) could not decide: torn-save-recovered: ${UNKNOWN_MESSAGE}`);
    assert.match(String(skipped['#']), /\[unknown\] torn-save-recovered: the power cut landed after the save/);
    assert.match(String(skipped['#']), /"saveFinishedAt": 3870/, 'the evidence of the undecided check');
    // tests − failures − errors − skipped = passes: a reader deriving passes does not count it.
    const root = doc.testsuites as Node;
    const passes = Number(root['@tests']) - Number(root['@failures']) - Number(root['@errors']) - Number(root['@skipped']);
    assert.equal(passes, runs.filter((r) => r.verdict === 'pass').length);
  });

  it('escapes markup and replaces characters XML cannot carry', () => {
    assert.ok(xml.includes('name="&lt;script&gt;alert(1)&lt;/script&gt;"'));
    assert.ok(!xml.includes('<script>'));
    assert.ok(!/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(xml), 'no raw control characters');
    const suites = list((doc.testsuites as Node).testsuite);
    const noise = list(suites.find((s) => s['@name'] === 'console noise')!.testcase)[0].error as Node;
    assert.match(String(noise['@message']), /Kernel panic & <oops> "quoted"/);
  });

  it('names testcases the same every night: the seed and run id are properties, not part of the name', () => {
    const night = (seed: number, startedAt: Date) => makeRun({ scenario: 'pmem-ha-basic', runIndex: 1, runs: 2, verdict: 'pass', startedAt, seed });
    const parse = (x: string) => list((parser.parse(x) as Node).testsuites && list(((parser.parse(x) as Node).testsuites as Node).testsuite)[0].testcase)[0];
    const a = parse(renderJunit([night(11, NIGHT0)]));
    const b = parse(renderJunit([night(99, new Date(NIGHT0.getTime() + 86_400_000))]));
    assert.equal(a['@name'], b['@name']);
    assert.doesNotMatch(String(a['@name']), /seed/);
    const props = (c: Node) => Object.fromEntries(list((c.properties as Node).property).map((p) => [p['@name'], p['@value']]));
    assert.equal(props(a).seed, String(night(11, NIGHT0).seed));
    assert.notEqual(props(a).seed, props(b).seed);
    assert.ok(props(a).runId);
  });
});
