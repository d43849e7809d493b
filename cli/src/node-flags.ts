// V8 sizes its heap when Node starts; a flag given later (v8.setFlagsFromString) does not resize it. So the
// `wbx` binary starts over, as the same process (execve), with the Node flags its command needs.

/**
 * The semi-space of V8's young generation, in MiB, that `wbx gateway` runs with. Node 24 sizes it for
 * throughput (tens of MiB, and each worker thread has its own), which under a bulk ingest holds the
 * gateway's resident memory at ≈ 100 MiB more than it needs; 4 MiB costs some CPU per event
 * (BENCHMARKS.md, "Memory").
 */
export const GATEWAY_SEMI_SPACE_MB = 4;

const SEMI_SPACE_FLAG = /^--max[-_]semi[-_]space[-_]size(=|$)/;

/**
 * The Node flags `wbx <args>` should run with that Node was not started with: for `wbx gateway`,
 * `--max-semi-space-size=GATEWAY_SEMI_SPACE_MB`, unless a `--max-semi-space-size` is already given on
 * Node's command line (`execArgv`) or in NODE_OPTIONS (`--max-semi-space-size=0` keeps V8's default).
 */
export function nodeFlagsToAdd(
  args: readonly string[],
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  if (args[0] !== 'gateway') return [];
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((f) => SEMI_SPACE_FLAG.test(f));
  return given ? [] : [`--max-semi-space-size=${String(GATEWAY_SEMI_SPACE_MB)}`];
}
