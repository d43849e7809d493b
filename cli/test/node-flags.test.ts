import { describe, expect, it } from 'vitest';

import { GATEWAY_NODE_FLAGS, nodeFlagsToAdd } from '../src/node-flags.js';

describe('nodeFlagsToAdd', () => {
  const [semiSpace, oldSpace] = GATEWAY_NODE_FLAGS;

  it("gives `wbx gateway` the gateway's heap sizes when Node was started without them", () => {
    expect(GATEWAY_NODE_FLAGS).toEqual(['--max-semi-space-size=4', '--max-old-space-size=1024']);
    expect(nodeFlagsToAdd(['gateway', '--config', 'g.yaml'], [], undefined)).toEqual(GATEWAY_NODE_FLAGS);
    expect(nodeFlagsToAdd(['gateway'], ['--enable-source-maps'], '--trace-gc')).toEqual(GATEWAY_NODE_FLAGS);
  });

  it('adds no flag already given, with any value, on the command line or in NODE_OPTIONS', () => {
    expect(nodeFlagsToAdd(['gateway'], ['--max-semi-space-size=16'], undefined)).toEqual([oldSpace]);
    expect(nodeFlagsToAdd(['gateway'], [], '--trace-gc --max-old-space-size=0')).toEqual([semiSpace]);
    expect(nodeFlagsToAdd(['gateway'], [], '--max_semi_space_size=8 --max-old-space-size=2048')).toEqual([]);
  });

  it('adds the old-generation cap only where it lowers the limit Node chose (not in a small container)', () => {
    expect(nodeFlagsToAdd(['gateway'], [], undefined, 4288)).toEqual(GATEWAY_NODE_FLAGS);
    expect(nodeFlagsToAdd(['gateway'], [], undefined, 1281)).toEqual(GATEWAY_NODE_FLAGS);
    expect(nodeFlagsToAdd(['gateway'], [], undefined, 1280)).toEqual([semiSpace]);
    expect(nodeFlagsToAdd(['gateway'], [], undefined, 528)).toEqual([semiSpace]);
    expect(nodeFlagsToAdd(['gateway'], [], '--max-semi-space-size=4', 528)).toEqual([]);
  });

  it('adds nothing for the other commands', () => {
    expect(nodeFlagsToAdd(['ingest', 'gateway'], [], undefined)).toEqual([]);
    expect(nodeFlagsToAdd([], [], undefined)).toEqual([]);
  });
});
