// V8 sizes its heap when Node starts; a flag given later (v8.setFlagsFromString) does not resize it. So the
// `wbx` binary starts over, as the same process (execve), with the Node flags its command needs.

/**
 * The Node flags `wbx gateway` runs with (BENCHMARKS.md, "Memory"; README, "Node's heap"):
 * - a young generation of 4 MiB semi-spaces: Node 24 sizes it for throughput (tens of MiB);
 * - an old generation of at most 1 GiB: V8 lets the old generation grow to up to 4 × what survived the
 *   last full collection when its limit is 2 GiB or more (Node's default here is 4 GiB), and only
 *   ≈ 1.6 × under a 1 GiB limit, so that a bulk ingest's promoted garbage is collected before it holds
 *   another 70 MiB. The limit is 4 × the gateway's memory goal (256 MiB): a heap that reaches it is a leak.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=1024'];

const OLD_SPACE = '--max-old-space-size';
const OLD_SPACE_CAP_MB = 1024;

/** A flag's name in one spelling (V8 takes `_` for `-`), without its value. */
function flagName(flag: string): string {
  return (flag.split('=')[0] ?? '').replaceAll('_', '-');
}

/**
 * The Node flags `wbx <args>` should run with that Node was not started with: for `wbx gateway`, each of
 * GATEWAY_NODE_FLAGS whose flag is not already given, with any value, on Node's command line
 * (`execArgv`) or in NODE_OPTIONS (`--max-semi-space-size=0`, `--max-old-space-size=0`: V8's defaults).
 * The old-generation cap is added only where it lowers Node's own heap limit (`heapLimitMb`: V8's
 * `heap_size_limit` in the process deciding, 1,216 MiB under a 1 GiB cap): in a container with a memory
 * limit, Node sizes its heap from that limit (a 1 GiB container gets well under 1 GiB), and a 1 GiB cap
 * there would raise it, for the main thread and every worker thread, to where the OOM killer ends the pod.
 */
export function nodeFlagsToAdd(
  args: readonly string[],
  execArgv: readonly string[],
  nodeOptions: string | undefined,
  heapLimitMb = Number.POSITIVE_INFINITY,
): string[] {
  if (args[0] !== 'gateway') return [];
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(flagName));
  const lowersLimit = heapLimitMb > OLD_SPACE_CAP_MB * 1.25;
  return GATEWAY_NODE_FLAGS.filter(
    (f) => !given.has(flagName(f)) && (flagName(f) !== OLD_SPACE || lowersLimit),
  );
}
