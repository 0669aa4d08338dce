/**
 * The app's reaper (U4, Trust 9): a tiny separate process that SIGKILLs the process groups of the
 * backends still running when the app dies, however it dies (SIGKILL, a crash, OOM).
 *
 * Backends watch their parent themselves (stdin closing, ppid changing), but a stopped backend
 * (SIGSTOP, a debugger, Ctrl-Z) cannot run that watch, and an external backend may have none; the
 * next start's pid file reaps them, which may be days later. Node cannot ask the kernel to signal
 * a child on its parent's death (prctl PR_SET_PDEATHSIG), so a watcher does: `/bin/sh` (about a
 * megabyte), reading "+<pgid>" / "-<pgid>" lines on a pipe from the app. The OS closes that pipe
 * when the app dies; the shell then kills each group still listed (SIGKILL also ends stopped
 * processes) and exits. It has its own process group and ignores the terminal's signals, so Ctrl-C
 * or a closed terminal that ends the app leaves it to do its job.
 *
 * POSIX only (Linux, macOS). Windows has no process groups and no SIGSTOP; a suspended backend there
 * is ended with the app only by a Job object (kill on close), which needs native code: not done.
 * One reaper per app serves every local backend process the launcher starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Groups are kept as " 1 2 3 "; a group is removed by cutting " <g> " out of that string. */
const REAPER_SCRIPT = `trap '' INT HUP TERM QUIT PIPE TSTP TTIN TTOU
groups=' '
while IFS= read -r line; do
  case $line in
    +*) groups="$groups\${line#+} " ;;
    -*) g=\${line#-}; case $groups in *" $g "*) groups="\${groups%%" $g "*} \${groups#*" $g "}" ;; esac ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
exit 0`;

export class Reaper {
  private child: ChildProcess | null = null;
  private readonly groups = new Set<number>();

  constructor(private readonly platform: NodeJS.Platform = process.platform) {}

  /** The reaper's pid while it runs (tests kill it to stand for an app whose reaper died too). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Kill the group `pgid` leads if the app dies while it runs. */
  watch(pgid: number): void {
    if (this.platform === 'win32' || !Number.isInteger(pgid) || pgid <= 1 || this.groups.has(pgid)) return;
    this.groups.add(pgid);
    if (this.child) this.send(`+${pgid}`);
    else this.start();
  }

  /** The group has ended (its number may be reused): forget it. */
  unwatch(pgid: number): void {
    if (!this.groups.delete(pgid)) return;
    if (this.child) this.send(`-${pgid}`);
  }

  /** The app is shutting down in order: the reaper exits (killing any group still listed). */
  close(): void {
    const child = this.child;
    this.child = null;
    child?.stdin?.end();
  }

  private start(): void {
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', REAPER_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    } catch {
      return; // no reaper: backends still watch their parent, and the next start's pid file reaps
    }
    this.child = child;
    child.on('error', () => {
      if (this.child === child) this.child = null;
    });
    child.once('exit', () => {
      // Killed by someone: a later watch starts a new one with every group still running.
      if (this.child === child) this.child = null;
    });
    child.stdin!.on('error', () => {});
    // Neither the process nor its pipe keeps the app's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    this.send([...this.groups].map((g) => `+${g}`).join('\n'));
  }

  private send(lines: string): void {
    if (lines) this.child?.stdin?.write(`${lines}\n`);
  }
}
