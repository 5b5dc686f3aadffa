import assert from 'node:assert/strict';
import { moduleLoadOrder, stripModuleSignature } from '../../src/image/build.js';

describe('guest image recipe', () => {
  const dep = [
    'kernel/drivers/virtio/virtio.ko:',
    'kernel/drivers/virtio/virtio_ring.ko:',
    'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
    'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko',
    'kernel/net/9p/9pnet.ko:',
    'kernel/fs/netfs/netfs.ko:',
  ].join('\n');
  it('orders modules dependencies first, each once', () => {
    const order = moduleLoadOrder(dep, ['virtio_pci', '9p', 'virtio'], new Set());
    assert.equal(new Set(order).size, order.length);
    assert.ok(order.indexOf('kernel/drivers/virtio/virtio.ko') < order.indexOf('kernel/drivers/virtio/virtio_pci.ko'));
    assert.ok(order.indexOf('kernel/net/9p/9pnet.ko') < order.indexOf('kernel/fs/9p/9p.ko'));
    assert.equal(order.at(-1), 'kernel/fs/9p/9p.ko');
  });
  it('skips built-in modules and rejects unknown ones', () => {
    assert.deepEqual(moduleLoadOrder(dep, ['nfit'], new Set(['kernel/drivers/acpi/nfit/nfit.ko'])), []);
    assert.throws(() => moduleLoadOrder(dep, ['nosuch'], new Set()), /nosuch/);
  });
  it('strips an appended module signature and leaves unsigned modules alone', () => {
    const body = Buffer.from('\x7fELF module body');
    const sig = Buffer.alloc(40, 7);
    const info = Buffer.alloc(12);
    info.writeUInt32BE(sig.length, 8);
    const signed = Buffer.concat([body, sig, info, Buffer.from('~Module signature appended~\n')]);
    assert.deepEqual(stripModuleSignature(signed), body);
    assert.deepEqual(stripModuleSignature(body), body);
  });
});
