/**
 * Folders of the embedded PostgreSQL at predictable paths (see embedded.ts), checked and handed over
 * without following symbolic links: every check and every change of owner goes through a descriptor
 * opened with O_NOFOLLOW | O_DIRECTORY, so neither a link nor a swap after the check can redirect it.
 */
import { constants, existsSync } from 'node:fs';
import { chmod, cp, lstat, mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** The user the PostgreSQL tools run as (unset: ourselves). */
export interface RunAs {
  uid?: number;
  gid?: number;
}

/**
 * Checks the directory at `dir` through a descriptor opened without following a link: it must be a
 * directory, owned by one of `owners`, with none of the `denyMode` bits; then (optionally) gives it to
 * `chownTo`. Returns false when nothing is there; throws, naming the folder and the fault, otherwise.
 */
export async function trustedDirectory(
  dir: string,
  opts: { owners: number[]; denyMode: number; what: string; hint: string; chownTo?: RunAs },
): Promise<boolean> {
  const refuse = (why: string) =>
    new Error(
      `refusing to use ${dir} as the embedded PostgreSQL's ${opts.what}: ${why}. Another local user may have ` +
        `made it to intercept the database; remove it if it is not yours${opts.hint}`,
    );
  let handle;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      throw refuse((await lstat(dir)).isSymbolicLink() ? 'it is a symbolic link' : 'it is not a directory');
    }
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!opts.owners.includes(st.uid)) throw refuse(`it is owned by uid ${st.uid}, not ${opts.owners.join(' or ')}`);
    if ((st.mode & opts.denyMode) !== 0) {
      throw refuse(`its mode is ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, which lets others in`);
    }
    const to = opts.chownTo;
    if (to?.uid !== undefined && (st.uid !== to.uid || st.gid !== to.gid)) await handle.chown(to.uid, to.gid!);
    return true;
  } finally {
    await handle.close();
  }
}

/** chown through a descriptor opened with O_NOFOLLOW: a symbolic link at `dir` is refused, never followed. */
export async function chownNoFollow(dir: string, to: RunAs): Promise<void> {
  let handle;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new Error(`refusing to change the owner of ${dir}: it is not a directory (a symbolic link?)`);
    throw err;
  }
  try {
    await handle.chown(to.uid!, to.gid!);
  } finally {
    await handle.close();
  }
}

/**
 * A copy of the PostgreSQL installation `nativeDir` at `target` (a predictable path, shared by runs):
 * an existing one is used only when it is ours and no one else may write to it (else this throws);
 * a new one is copied to a private folder with an unpredictable name, then renamed into place, so
 * no one sees it half-copied.
 */
export async function copyOfBinaries(nativeDir: string, target: string, log: (m: string) => void = () => {}): Promise<string> {
  const ours = { owners: [process.getuid?.() ?? 0], denyMode: 0o022, what: 'copy of its binaries', hint: '' };
  if (await trustedDirectory(target, ours)) {
    if (existsSync(path.join(target, 'bin', 'postgres'))) return target;
    await rm(target, { recursive: true, force: true }); // ours, but an older jobq's copy that never finished
  }
  log(`the postgres user cannot reach ${nativeDir}; copying the PostgreSQL binaries to ${target}`);
  const staging = await mkdtemp(`${target}.tmp-`);
  try {
    await cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    await rename(staging, target);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err; // else another jobq put its copy there first
  }
  if (!(await trustedDirectory(target, ours))) throw new Error(`${target} vanished while jobq was copying the binaries to it`);
  return target;
}
