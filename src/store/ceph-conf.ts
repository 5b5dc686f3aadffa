// The ceph.conf of the embedded one-node cluster. Every setting here was needed on a real
// machine (see shared/HOST-NOTES.md); the comments say what breaks without it.

export interface CephConfInput {
  fsid: string;
  dir: string;
  monPort: number;
  objectstore: 'memstore' | 'bluestore';
  memstoreBytes: number;
}

export function cephConf(c: CephConfInput): string {
  const store =
    c.objectstore === 'memstore'
      ? [`osd objectstore = memstore`, `memstore device bytes = ${c.memstoreBytes}`]
      : [
          `osd objectstore = bluestore`,
          // A sparse file in the data dir instead of a block device.
          `bluestore block create = true`,
          `bluestore block size = ${16 * 1024 ** 3}`,
          `bluestore fsck on mkfs = false`,
        ];
  return [
    '[global]',
    `fsid = ${c.fsid}`,
    // msgr2 only: one mon port to pick and check instead of two.
    `mon host = [v2:127.0.0.1:${c.monPort}]`,
    `ms bind msgr1 = false`,
    // Both, or the osd binds 0.0.0.0.
    `public addr = 127.0.0.1`,
    `cluster addr = 127.0.0.1`,
    // Daemons trust each other on loopback; S3 clients still need SigV4 against RGW users.
    `auth cluster required = none`,
    `auth service required = none`,
    `auth client required = none`,
    // With auth none radosgw loops on error -13 without this.
    `ms mon client mode = crc`,
    `mon allow pool size one = true`,
    `mon warn on pool no redundancy = false`,
    `osd pool default size = 1`,
    `osd pool default min size = 1`,
    `osd pool default pg autoscale mode = off`,
    // RGW creates ~7 pools; few PGs each keeps peering fast on 2 shared cores.
    `osd pool default pg num = 8`,
    `osd pool default pgp num = 8`,
    `osd crush chooseleaf type = 0`,
    // Cut mon start-up from ~17 s to a few seconds.
    `paxos propose interval = 0.05`,
    `paxos min wait = 0.01`,
    // A nearly full /tmp must not stop the mon from starting a throwaway cluster.
    `mon data avail crit = 1`,
    `mon data avail warn = 2`,
    // Everything under our dir; no admin sockets (their 108-byte path limit breaks long dirs).
    `run dir = ${c.dir}/run`,
    `admin socket = `,
    `log file = ${c.dir}/log/$name.log`,
    `keyring = ${c.dir}/keyring`,
    `mon data = ${c.dir}/mon/$name`,
    `osd data = ${c.dir}/osd/$name`,
    `rgw data = ${c.dir}/rgw/$name`,
    ...store,
    '',
    '[client]',
    // Clients re-check ops that found no osd (e.g. after an osd restart) every tick; 5 s by
    // default would turn a short hiccup into a 5 s stall.
    `objecter tick interval = 1`,
    '',
    '[mon]',
    // Fail at once when the port was taken since we picked it (the default retries for 15 s),
    // so we can pick another.
    `ms bind retry count = 1`,
    '',
  ].join('\n');
}
