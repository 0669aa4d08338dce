/** Test support: the real filesystem with a disk that fills up (no tmpfs is available to tests). */
import * as nodeFs from 'node:fs';
import type { AtomicFs } from './writeFileAtomic';

/** The real fs, except that writes fail with `code` after `okBytes` bytes reached the disk (a disk filling up). */
export function fullDiskFs(okBytes = 3, code = 'ENOSPC'): typeof nodeFs & AtomicFs & { calls: string[] } {
  const calls: string[] = [];
  let left = okBytes;
  return {
    ...nodeFs,
    calls,
    writeSync: ((fd: number, buf: Uint8Array, offset: number = 0, length: number = buf.length - offset) => {
      calls.push('write');
      if (left <= 0) throw Object.assign(new Error(`${code}: no space left on device, write`), { code });
      const n = Math.min(left, length);
      left -= n;
      return nodeFs.writeSync(fd, buf, offset, n);
    }) as typeof nodeFs.writeSync,
    fsyncSync: (fd: number) => {
      calls.push('fsync');
      nodeFs.fsyncSync(fd);
    },
    appendFileSync: ((file: nodeFs.PathOrFileDescriptor, data: string | Uint8Array) => {
      calls.push('append');
      const bytes = Buffer.from(data);
      const n = Math.min(Math.max(left, 0), bytes.length);
      left -= n;
      nodeFs.appendFileSync(file, bytes.subarray(0, n));
      if (n < bytes.length) throw Object.assign(new Error(`${code}: no space left on device, write`), { code });
    }) as typeof nodeFs.appendFileSync,
    renameSync: (a: nodeFs.PathLike, b: nodeFs.PathLike) => {
      calls.push('rename');
      nodeFs.renameSync(a, b);
    },
  };
}
