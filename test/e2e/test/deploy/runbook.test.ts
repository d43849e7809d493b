import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import YAML from 'yaml';
import { describe, expect, it } from 'vitest';

import { kubectlAvailable, policyProblems, schemaProblems, type K8sObject } from './k8s-checks.js';
import { partnerProblems } from './partner-checks.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

const kubectl = await kubectlAvailable();
if (!kubectl.ok) console.warn(`skipping the runbook check: ${kubectl.reason}`);

describe.skipIf(!kubectl.ok)('deploy/README.md (deploy/runbook-check.sh)', () => {
  it('runs every sh block as written and leaves a valid overlay in step with the manifest it made', async () => {
    const out = await mkdtemp(join(tmpdir(), 'wbx-runbook-'));
    try {
      const { stdout } = await run('bash', [join(ROOT, 'deploy/runbook-check.sh')], {
        env: { ...process.env, WBX_RUNBOOK_OUT: out },
        maxBuffer: 16 * 2 ** 20,
        timeout: 240_000,
      });
      expect(stdout).toMatch(/^runbook-check: ran the \d+ sh blocks of deploy\/README\.md/m);
      const objects = YAML.parseAllDocuments(await readFile(join(out, 'overlay-mk.yaml'), 'utf8')).map(
        (d) => d.toJS() as K8sObject,
      );
      expect(objects.flatMap(schemaProblems)).toEqual([]);
      expect(policyProblems(objects)).toEqual([]);
      // After onboarding BA, rotating MK's key, adding MK→AL and revoking MK→RS.
      expect(await partnerProblems(objects, 'MK')).toEqual([]);
      const manifest = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'wbx-manifest');
      const signed = JSON.parse((manifest?.data as Record<string, string>)['manifest.json'] ?? '{}') as {
        payload: string;
      };
      const body = JSON.parse(Buffer.from(signed.payload, 'base64url').toString('utf8')) as {
        version: number;
        members: { id: string }[];
      };
      // 2 pins MK's Exchange certificate, 3 adds BA, 4 rotates MK's key, 5 pins its new certificate.
      expect(body.version).toBe(5);
      expect(body.members.map((m) => m.id).sort()).toEqual(['AL', 'BA', 'MK', 'RS']);
      const access = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'nats-access');
      const conf = Buffer.from((access?.data as Record<string, string>)['nats-access.conf'] ?? '', 'base64');
      expect(conf.toString('utf8')).toMatch(/RECIPIENT_RS: \{\n.*\n {4}users: \[\] /);
      const images = objects.flatMap((o) => JSON.stringify(o).match(/"image":"[^"]+"/g) ?? []);
      expect(new Set(images)).toEqual(
        new Set([
          '"image":"registry.example.invalid/wbx/gateway:0.1.1"',
          '"image":"docker.io/library/nats:2.14.4-alpine"',
        ]),
      );
      const created = await readFile(join(out, 'created.yaml'), 'utf8');
      for (const name of [
        'wbx-partner-key',
        'wbx-nats-gateway',
        'nats-tls',
        'wbx-exchange-tls',
        'wbx-ingest-tls',
      ]) {
        expect(created).toContain(`name: ${name}\n`);
      }
      const recorded = await readFile(join(out, 'cluster-commands.txt'), 'utf8');
      expect(recorded).toContain(
        'kubectl -n wbx-mk exec nats-2 -- nats-server --signal reload=/var/run/nats/nats.pid',
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 300_000);
});
