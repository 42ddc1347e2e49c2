/**
 * The fleet's "hosts": one Linux bridge and one network namespace per process, each with an address
 * of its own on a /24, so that every jobq process is a real network peer of PostgreSQL (which sees
 * its address in pg_stat_activity.client_addr) and of PgBouncer. Nothing leaves the machine: the
 * bridge has no uplink and the namespaces no route beyond their subnet.
 *
 * Names are `jobqf<pid>-…` (a Linux interface name has at most 15 characters): the bridge `…b`, the
 * host side of host i's veth `…<i>`, the namespace `…h<i>`; inside each namespace the link is `eth0`.
 * The bridge is <subnet>.1 (PostgreSQL and PgBouncer listen there), host i is <subnet>.(10 + i).
 * `teardown` deletes everything made; it is also run synchronously at exit, so that a crash or a
 * signal leaves nothing behind.
 */
import { spawnSync } from 'node:child_process';

export interface Host {
  /** Namespace name (`ip netns exec <ns> …`). */
  ns: string;
  address: string;
}

export interface Network {
  prefix: string;
  /** The bridge's address: where PostgreSQL and PgBouncer listen. */
  gateway: string;
  subnet: string;
  hosts: Host[];
  teardown(): void;
}

/** Why the fleet cannot run here (not root, no `ip`), or undefined when it can. */
export function networkUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'making network namespaces needs root';
  if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0) return 'iproute2 (`ip`) is not installed';
  return undefined;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || String(r.error)).trim()}`);
}

/** A 10.77.x.0/24 (x from our pid) that no route of this machine covers yet. */
function freeSubnet(): string {
  const routes = spawnSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout ?? '';
  for (let i = 0; i < 250; i++) {
    const x = (process.pid + i) % 250;
    const subnet = `10.77.${x}`;
    if (!routes.includes(`${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.77.x.0/24 subnet for the fleet');
}

const made = new Set<Network>();
let exitHook = false;

export function createNetwork(hostCount: number): Network {
  const why = networkUnavailable();
  if (why) throw new Error(why);
  if (hostCount > 200) throw new Error('at most 200 hosts');
  const prefix = `jobqf${process.pid}-`;
  const subnet = freeSubnet();
  const bridge = `${prefix}b`;
  const hosts: Host[] = [];
  let torn = false;
  const net: Network = {
    prefix,
    gateway: `${subnet}.1`,
    subnet: `${subnet}.0/24`,
    hosts,
    teardown() {
      if (torn) return;
      torn = true;
      made.delete(net);
      // Each pair is deleted by its host side: deleting the namespace would take it too, but later
      // (the kernel cleans up a namespace in the background).
      for (const [i, h] of hosts.entries()) {
        spawnSync('ip', ['link', 'del', `${prefix}${i + 1}`], { stdio: 'ignore' });
        spawnSync('ip', ['netns', 'del', h.ns], { stdio: 'ignore' });
      }
      spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    },
  };
  made.add(net);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => [...made].forEach((n) => n.teardown()));
  }
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${net.gateway}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 1; i <= hostCount; i++) {
      const host = { ns: `${prefix}h${i}`, address: `${subnet}.${10 + i}` };
      const veth = `${prefix}${i}`;
      ip('netns', 'add', host.ns);
      hosts.push(host);
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns);
      ip('link', 'set', veth, 'master', bridge, 'up');
      ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
      ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', host.ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    net.teardown();
    throw err;
  }
  return net;
}

/** Names of interfaces and namespaces of this process still present (for the test: none after teardown). */
export function leftovers(prefix: string): string[] {
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const nss = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return [...links.split('\n'), ...nss.split('\n')].filter((l) => l.includes(prefix)).map((l) => l.trim());
}
