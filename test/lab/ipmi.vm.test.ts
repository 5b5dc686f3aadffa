// A power cut through a BMC: Debian's ipmi_sim (a real IPMI LAN BMC simulator) on loopback, its
// chassis-control hook mapping power off/on to virsh destroy/start of the primary's domain;
// pmem-ha-ipmi-cut cuts through `ipmitool -I lanplus`, and the HA checker judges it as for a
// virsh destroy. The BMC's answers are in the history; its password never is.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { cli, tmpDir } from '../helpers.js';

const PORT = 19623; // the fixture's
describe('power cut through an IPMI BMC (ipmi_sim) @vm', function () {
  this.timeout(600_000);
  const dir = tmpDir('fth-bmc-');
  const password = randomBytes(9).toString('hex');
  let sim: ResultPromise | undefined;
  before(async () => {
    const hook = join(dir, 'chassis.sh');
    // ipmi_sim runs "<hook> 0x20 get power" (expects "power:N") and "<hook> 0x20 set power N"
    writeFileSync(hook, `#!/bin/sh
echo "$(date +%s.%N) $*" >> ${dir}/hook.log
dom=$(virsh -c qemu:///system list --all --name | grep -- '-ipmiprim$' | head -1)
case "$2 $3" in
  "get power") if virsh -c qemu:///system list --name | grep -q -- '-ipmiprim$'; then echo power:1; else echo power:0; fi ;;
  "set power") if [ "$4" = 0 ]; then [ -n "$dom" ] && virsh -c qemu:///system destroy "$dom" >/dev/null; else [ -n "$dom" ] && virsh -c qemu:///system start "$dom" >/dev/null; fi ;;
esac
exit 0
`);
    chmodSync(hook, 0o755);
    writeFileSync(join(dir, 'lan.conf'), `name "fthbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${PORT}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "${hook} 0x20"
  user 2 true  "admin" "${password}" admin 10 none md2 md5 straight
`);
    writeFileSync(join(dir, 'bmc.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n');
    mkdirSync(join(dir, 'state'));
    sim = execa('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'], { reject: false, all: true });
    for (let i = 0; i < 50; i++) {
      const r = await execa('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(PORT), '-U', 'admin', '-E', 'mc', 'info'], { reject: false, env: { IPMI_PASSWORD: password } });
      if (r.exitCode === 0) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`ipmi_sim did not answer: ${(sim.kill(), (await sim).all)}`);
  });
  after(async () => { sim?.kill(); await sim; });

  it('pmem-ha-ipmi-cut passes: the BMC cut the primary, the standby restored it', async () => {
    const out = tmpDir('fth-bmc-out-');
    const r = await cli(['run', 'test/fixtures/pmem-ha-ipmi.yaml', '--json', '--no-report', '--out', out], { env: { FTH_TEST_BMC_PASSWORD: password } });
    const s = JSON.parse(r.stdout);
    const resFile = join(s.runs[0].dir, 'results.json');
    const res = JSON.parse(readFileSync(resFile, 'utf8'));
    assert.equal(res.verdict, 'pass', `${res.reason}\n${r.all.slice(-1500)}`);
    const ops = res.history.filter((e: { f: string; type: string }) => e.f.startsWith('ipmi-power-') && e.type === 'ok').map((e: { f: string; value: { answer: string } }) => `${e.f}: ${e.value.answer}`);
    assert.deepEqual(ops, ['ipmi-power-status: Chassis Power is on', 'ipmi-power-off: Chassis Power Control: Down/Off', 'ipmi-power-status: Chassis Power is off']);
    assert.match(readFileSync(join(dir, 'hook.log'), 'utf8'), /0x20 set power 0/);
    assert.ok(!res.history.some((e: { f: string }) => e.f === 'virsh-destroy' && JSON.stringify(e).includes('ipmiprim')), 'the cut went through the BMC, not virsh destroy');
    for (const f of ['results.json', 'history.jsonl']) assert.ok(!readFileSync(join(s.runs[0].dir, f), 'utf8').includes(password), `${f} holds the BMC password`);
  });

  it('a BMC password variable that is not set stops the run before anything starts', async () => {
    const r = await cli(['run', 'test/fixtures/pmem-ha-ipmi.yaml', '--no-report', '--out', tmpDir()], { env: { FTH_TEST_BMC_PASSWORD: '' } });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /vms\[0\]\.power\.ipmi\.passwordEnv: environment variable FTH_TEST_BMC_PASSWORD is not set/);
  });
});
