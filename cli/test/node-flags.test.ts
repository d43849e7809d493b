import { describe, expect, it } from 'vitest';

import { GATEWAY_SEMI_SPACE_MB, nodeFlagsToAdd } from '../src/node-flags.js';

describe('nodeFlagsToAdd', () => {
  const flag = `--max-semi-space-size=${String(GATEWAY_SEMI_SPACE_MB)}`;

  it('gives `wbx gateway` a small young generation when Node was started without one', () => {
    expect(nodeFlagsToAdd(['gateway', '--config', 'g.yaml'], [], undefined)).toEqual([flag]);
    expect(nodeFlagsToAdd(['gateway'], ['--enable-source-maps'], '--max-old-space-size=512')).toEqual([flag]);
  });

  it('adds nothing when a semi-space size is already given, on the command line or in NODE_OPTIONS', () => {
    expect(nodeFlagsToAdd(['gateway'], ['--max-semi-space-size=16'], undefined)).toEqual([]);
    expect(nodeFlagsToAdd(['gateway'], [], '--trace-gc --max-semi-space-size=0')).toEqual([]);
    expect(nodeFlagsToAdd(['gateway'], [], '--max_semi_space_size 8')).toEqual([]);
  });

  it('adds nothing for the other commands', () => {
    expect(nodeFlagsToAdd(['ingest', 'gateway'], [], undefined)).toEqual([]);
    expect(nodeFlagsToAdd([], [], undefined)).toEqual([]);
  });
});
