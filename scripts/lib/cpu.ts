/**
 * Where a benchmark run's CPU went, from /proc (Linux): the CPU time of each stack process with
 * all its descendants (PostgreSQL's backends are the postmaster's children), and of the load
 * generators this process ran and reaped (its own `cutime` and `cstime`), between two samples.
 *
 * @module
 */

/** A process to account for: it and every process under it. */
export interface CpuGroup {
  name: string;
  pid: number;
}

/** CPU seconds per group at one moment, and when. */
export interface CpuSample {
  at: number;
  seconds: Record<string, number>;
}

/** The group under which the reaped children of this process (the load generators) are counted. */
export const LOAD_GENERATORS = "load generators";

interface Stat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  own: number;
  /** cutime + cstime: reaped children, in clock ticks. */
  children: number;
}

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`; 100 on Linux's usual builds). */
let ticks: number | undefined;

async function clockTicks(): Promise<number> {
  if (ticks !== undefined) return ticks;
  try {
    const output = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" })
      .output();
    ticks = Number(new TextDecoder().decode(output.stdout).trim()) || 100;
  } catch {
    ticks = 100;
  }
  return ticks;
}

/** Parses /proc/<pid>/stat: the name may hold spaces and parentheses, so fields follow the last ")". */
export function parseStat(text: string): Stat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const fields = text.slice(close + 2).trim().split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  const [ppid, utime, stime, cutime, cstime] = [1, 11, 12, 13, 14].map((i) => Number(fields[i]));
  if ([ppid, utime, stime, cutime, cstime].some((n) => !Number.isFinite(n))) return null;
  return { ppid: ppid!, own: utime! + stime!, children: cutime! + cstime! };
}

async function readStats(): Promise<Map<number, Stat>> {
  const stats = new Map<number, Stat>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = parseStat(await Deno.readTextFile(`/proc/${entry.name}/stat`));
      if (stat) stats.set(Number(entry.name), stat);
    } catch {
      // Gone since the listing.
    }
  }
  return stats;
}

/** The CPU seconds used so far by each group, and by the load generators. */
export async function sampleCpu(groups: readonly CpuGroup[]): Promise<CpuSample> {
  const hz = await clockTicks();
  const stats = await readStats();
  const children = new Map<number, number[]>();
  for (const [pid, stat] of stats) {
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  }
  const total = (root: number): number => {
    let sum = 0;
    const stack = [root];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      const stat = stats.get(pid);
      if (stat) sum += stat.own + stat.children;
      stack.push(...(children.get(pid) ?? []));
    }
    return sum;
  };
  const seconds: Record<string, number> = {};
  for (const group of groups) {
    seconds[group.name] = (seconds[group.name] ?? 0) + total(group.pid) / hz;
  }
  // Reaped children of this process, and live ones that belong to no group.
  const grouped = new Set(groups.map((group) => group.pid));
  let load = stats.get(Deno.pid)?.children ?? 0;
  for (const pid of children.get(Deno.pid) ?? []) if (!grouped.has(pid)) load += total(pid);
  seconds[LOAD_GENERATORS] = load / hz;
  return { at: performance.now(), seconds };
}

/**
 * Each group's share of the machine between two samples, in percent of all its cores (so the
 * shares and "idle" add up to 100).
 */
export function cpuShares(
  before: CpuSample,
  after: CpuSample,
  cores: number,
): Record<string, number> {
  const elapsed = (after.at - before.at) / 1000;
  const shares: Record<string, number> = {};
  let used = 0;
  for (const [name, end] of Object.entries(after.seconds)) {
    const share = (100 * Math.max(0, end - (before.seconds[name] ?? 0))) / (elapsed * cores);
    shares[name] = share;
    used += share;
  }
  shares.idle = Math.max(0, 100 - used);
  return shares;
}
