// What every VM benchmark starts with: the guest image, the accel, and a Lab that is closed on
// Ctrl-C / SIGTERM so a stopped benchmark leaves nothing running.
import { findImage, type GuestImage } from '../../src/image/build.js';
import { Lab } from '../../src/lab/lab.js';
import { detectAccel } from '../../src/vm/libvirt.js';
import type { Accel } from '../../src/vm/spec.js';

export async function openBenchLab(): Promise<{ img: GuestImage; accel: Accel; lab: Lab }> {
  const img = await findImage();
  if (!img) {
    console.error('no guest image: run `ftharness image build`');
    process.exit(2);
  }
  const lab = await Lab.open();
  const stop = () => { void lab.close().finally(() => process.exit(130)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return { img, accel: detectAccel(), lab };
}
