// What every VM benchmark starts with: the guest image, the accelerator decision, and a Lab that
// is closed on Ctrl-C / SIGTERM / SIGHUP or when the caller goes away, so a stopped benchmark
// leaves nothing running.
import { findImage, type GuestImage } from '../../src/image/build.js';
import { Lab } from '../../src/lab/lab.js';
import { resolveAccel, type AccelDecision } from '../../src/hosts/accel.js';
import { holdLifeline } from '../../src/lab/lifeline.js';

export async function openBenchLab(): Promise<{ img: GuestImage; accel: AccelDecision; lab: Lab }> {
  const img = await findImage();
  if (!img) {
    console.error('no guest image: run `ftharness image build`');
    process.exit(2);
  }
  const accel = await resolveAccel({ log: (l) => console.error(l) });
  const lab = await Lab.open();
  // Signals or the caller gone: close the lab (domains, scratch) and leave.
  const life = holdLifeline({ onStop: () => { void lab.close().finally(() => process.exit(life.exitCode())); } });
  return { img, accel, lab };
}
