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

/** A flag's name in one spelling (V8 takes `_` for `-`), without its value. */
function flagName(flag: string): string {
  return (flag.split('=')[0] ?? '').replaceAll('_', '-');
}

/**
 * The Node flags `wbx <args>` should run with that Node was not started with: for `wbx gateway`, each of
 * GATEWAY_NODE_FLAGS whose flag is not already given, with any value, on Node's command line
 * (`execArgv`) or in NODE_OPTIONS (`--max-semi-space-size=0`, `--max-old-space-size=0`: V8's defaults).
 */
export function nodeFlagsToAdd(
  args: readonly string[],
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  if (args[0] !== 'gateway') return [];
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(flagName));
  return GATEWAY_NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}
