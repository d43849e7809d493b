import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { spawnNode } from '../src/index.js';

/** Whether the process runs (a zombie nobody reaped yet does not). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** A Node script that prints `lines`, then runs until it is stopped. */
const script = (...lines: string[]): string[] => [
  '-e',
  `${lines.map((l) => `console.log(${JSON.stringify(l)});`).join('')} setInterval(() => {}, 1000);`,
];

describe('spawnNode', () => {
  it('finds a line on stdout, keeps the output, and stops the process', async () => {
    await using child = spawnNode(script('starting', '{"ready":true}'));
    expect(await child.line((l) => l.startsWith('{'))).toBe('{"ready":true}');
    expect(await child.line((_, i) => i === 0)).toBe('starting');
    expect(child.stdout()).toBe('starting\n{"ready":true}\n');
    expect(child.running).toBe(true);
    await expect(child.exit(200)).rejects.toThrow(/still runs after 200 ms/);
    await child.stop();
    expect(child.running).toBe(false);
    expect(await child.exited).toBe('SIGTERM');
  });

  it('rejects a wait for a line when the process exits first, with its stderr', async () => {
    await using child = spawnNode(['-e', 'console.error("no config"); process.exit(2)']);
    await expect(child.line()).rejects.toThrow(/exited \(2\).*no config/s);
    expect(await child.exit(5_000)).toBe(2);
  });

  it('rejects a wait for a line that does not come in time', async () => {
    await using child = spawnNode(script('something else'));
    await expect(child.line((l) => l === 'ready', 300)).rejects.toThrow(/no such line within 300 ms/);
  });

  it('kills what a process of its own group left behind when stopped', async () => {
    const spawnOrphan = [
      "const { spawn } = require('node:child_process');",
      "const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
      'console.log(c.pid);',
      'setInterval(() => {}, 1000);',
    ].join(' ');
    const child = spawnNode(['-e', spawnOrphan], { group: true });
    const orphan = Number(await child.line());
    expect(alive(orphan)).toBe(true);
    await child.kill('SIGKILL');
    expect(alive(orphan)).toBe(true);
    await child.stop();
    for (let i = 0; i < 50 && alive(orphan); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive(orphan)).toBe(false);
  });
});
