import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';

import { GatewayMetrics } from '@wbx/gateway';
import { kubectlAvailable, policyProblems, render, schemaProblems, type K8sObject } from './k8s-checks.js';
import { partnerProblems } from './partner-checks.js';

const K8S = fileURLToPath(new URL('../../../../deploy/k8s/', import.meta.url));
const OVERLAYS = ['al', 'ba', 'me', 'mk', 'rs', 'xk', 'frontex'] as const;

const kubectl = await kubectlAvailable();
if (!kubectl.ok) console.warn(`skipping the Kubernetes manifest tests: ${kubectl.reason}`);

function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find(
    (x) => x.kind === kind && (x.metadata.name === name || x.metadata.name.startsWith(`${name}-`)),
  );
  if (o === undefined) throw new Error(`no ${kind} ${name}`);
  return o;
}

interface PodTemplate {
  spec: {
    containers: { name: string; env?: { name: string }[]; resources: { limits: Record<string, string> } }[];
  };
}
const podOf = (o: K8sObject): PodTemplate => (o.spec as { template: PodTemplate }).template;

describe.skipIf(!kubectl.ok)(
  'deploy/k8s (kubectl kustomize, kubernetes-models, @kubernetes/client-node)',
  () => {
    const rendered = new Map<string, K8sObject[]>();

    beforeAll(async () => {
      const all = await Promise.all(
        OVERLAYS.map(async (o) => [o, await render(`${K8S}overlays/${o}`)] as const),
      );
      for (const [o, objects] of all) rendered.set(o, objects);
    }, 120_000);

    const objectsOf = (overlay: string): K8sObject[] => rendered.get(overlay) ?? [];

    it('renders every overlay into the partner’s NATS cluster, gateway, policies and monitoring', () => {
      for (const overlay of OVERLAYS) {
        const objects = objectsOf(overlay);
        expect(objects.length, overlay).toBeGreaterThan(20);
        expect(new Set(objects.map((o) => o.metadata.namespace ?? o.metadata.name))).toEqual(
          new Set([`wbx-${overlay}`]),
        );
        expect((find(objects, 'StatefulSet', 'nats').spec as { replicas: number }).replicas).toBe(3);
        expect((find(objects, 'Deployment', 'wbx-gateway').spec as { replicas: number }).replicas).toBe(2);
        expect((find(objects, 'Service', 'nats-headless').spec as { clusterIP: string }).clusterIP).toBe(
          'None',
        );
        expect((find(objects, 'Service', 'wbx-ingest').spec as { type: string }).type).toBe('ClusterIP');
        // mTLS end to end: the Exchange is a TCP pass-through, and nothing terminates TLS in front of it.
        expect((find(objects, 'Service', 'wbx-exchange').spec as { type: string }).type).toBe('LoadBalancer');
        expect(objects.some((o) => o.kind === 'Ingress')).toBe(false);
        for (const name of ['nats', 'wbx-gateway']) find(objects, 'PodDisruptionBudget', name);
        const deny = find(objects, 'NetworkPolicy', 'default-deny').spec as Record<string, unknown>;
        expect(deny).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
        find(objects, 'ServiceMonitor', 'wbx-gateway');
        find(objects, 'PrometheusRule', 'wbx');
        find(objects, 'CronJob', 'wbx-audit-verify');
      }
    });

    it('validates every object against the Kubernetes schemas, with no field the API would drop', () => {
      for (const overlay of OVERLAYS) {
        expect(objectsOf(overlay).flatMap(schemaProblems), overlay).toEqual([]);
      }
    });

    it('gives every container requests, limits, probes, a non-root read-only securityContext and a pinned image', () => {
      for (const overlay of OVERLAYS) expect(policyProblems(objectsOf(overlay)), overlay).toEqual([]);
    });

    it('keeps each overlay’s partner code, key, agreements and NATS users in step with the manifest', async () => {
      for (const overlay of OVERLAYS) {
        expect(await partnerProblems(objectsOf(overlay), overlay.toUpperCase()), overlay).toEqual([]);
      }
    });

    it('alerts on metrics the gateway exports, and on every condition the runbook explains', async () => {
      const rules = find(objectsOf('mk'), 'PrometheusRule', 'wbx').spec as {
        groups: { rules: { alert: string; expr: string; annotations: { runbook: string } }[] }[];
      };
      const exported = new Set((await new GatewayMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
      const runbook = await readFile(new URL('../../../../deploy/README.md', import.meta.url), 'utf8');
      const alerts = rules.groups.flatMap((g) => g.rules);
      expect(alerts.map((r) => r.alert)).toEqual(
        expect.arrayContaining([
          'WbxGatewayNotReady',
          'WbxSharePendingGrowing',
          'WbxQuarantineGrowing',
          'WbxAuditChainVerificationFailed',
          'WbxCertificateExpiresSoon',
          'WbxSigningKeyExpiresSoon',
          'WbxJetStreamStorageNearlyFull',
        ]),
      );
      for (const rule of alerts) {
        for (const [name] of rule.expr.matchAll(/\bwbx_[a-z_]+/g)) {
          expect(exported, `${rule.alert}: ${name}`).toContain(name);
        }
        const anchor = rule.annotations.runbook.split('#')[1] ?? '';
        expect(runbook.toLowerCase(), `${rule.alert}: deploy/README.md#${anchor}`).toContain(`### ${anchor}`);
      }
    });

    it('mounts in the StatefulSet the very nats.conf the NATS cluster test boots, with every variable set', async () => {
      const file = await readFile(`${K8S}base/nats/nats.conf`, 'utf8');
      for (const overlay of OVERLAYS) {
        const objects = objectsOf(overlay);
        expect((find(objects, 'ConfigMap', 'nats-config').data as Record<string, string>)['nats.conf']).toBe(
          file,
        );
        const env = new Set(
          podOf(find(objects, 'StatefulSet', 'nats')).spec.containers[0]?.env?.map((e) => e.name),
        );
        for (const [, name] of file.replace(/#.*$/gm, '').matchAll(/\$([A-Z_0-9]+)/g))
          expect(env, overlay).toContain(name);
      }
    });

    describe('planted errors fail the checks', () => {
      const mk = (): K8sObject[] => structuredClone(objectsOf('mk'));

      it('a typo’d field in a Deployment, a Service and a PrometheusRule', () => {
        const objects = mk();
        const container = podOf(find(objects, 'Deployment', 'wbx-gateway')).spec.containers[0] as Record<
          string,
          unknown
        >;
        container.imagePullPolcy = 'Always';
        (find(objects, 'Service', 'wbx-exchange').spec as Record<string, unknown>).externalTraficPolicy =
          'Local';
        const rules = find(objects, 'PrometheusRule', 'wbx').spec as { groups: Record<string, unknown>[] };
        (rules.groups[0] as { rules: Record<string, unknown>[] }).rules[0] = {
          alert: 'X',
          expresion: 'up == 0',
        };
        const problems = objects.flatMap(schemaProblems);
        expect(problems).toEqual(
          expect.arrayContaining([
            'Deployment/wbx-gateway: .spec.template.spec.containers[0].imagePullPolcy: not a field of Deployment',
            'Service/wbx-exchange: .spec.externalTraficPolicy: not a field of Service',
            'PrometheusRule/wbx: .spec.groups[0].rules[0].expresion: unknown field',
          ]),
        );
        const bad = mk();
        (find(bad, 'StatefulSet', 'nats').spec as Record<string, unknown>).replicas = 'three';
        expect(bad.flatMap(schemaProblems).join('\n')).toMatch(
          /StatefulSet\/nats: .*replicas must be integer/,
        );
      });

      it('a missing limit, a missing probe, a root container and a latest tag', () => {
        const objects = mk();
        const gateway = podOf(find(objects, 'Deployment', 'wbx-gateway')).spec.containers[0];
        delete gateway?.resources.limits.memory;
        const nats = podOf(find(objects, 'StatefulSet', 'nats')).spec.containers[0] as Record<
          string,
          unknown
        >;
        delete nats.readinessProbe;
        (nats.securityContext as Record<string, unknown>).readOnlyRootFilesystem = false;
        nats.image = 'docker.io/library/nats:latest';
        expect(policyProblems(objects)).toEqual([
          'Deployment/wbx-gateway container gateway: no memory limit',
          'StatefulSet/nats container nats: no readinessProbe',
          'StatefulSet/nats container nats: readOnlyRootFilesystem is not true',
          'StatefulSet/nats container nats: image docker.io/library/nats:latest uses the latest tag',
        ]);
      });

      it('a wrong partner code, a key of another partner and a NATS user without an agreement', async () => {
        const objects = mk();
        const config = find(objects, 'ConfigMap', 'wbx-gateway-config').data as Record<string, string>;
        config['gateway.yaml'] = (config['gateway.yaml'] ?? '').replace('partner: MK', 'partner: ME');
        const rs = find(objectsOf('rs'), 'ConfigMap', 'wbx-partner').data as Record<string, string>;
        (find(objects, 'ConfigMap', 'wbx-partner').data as Record<string, string>)['partner.public.jwk'] =
          rs['partner.public.jwk'] ?? '';
        const agreements = find(objects, 'ConfigMap', 'wbx-agreements').data as Record<string, string>;
        delete agreements['MK-RS-2026-001.json'];
        const problems = await partnerProblems(objects, 'MK');
        expect(problems).toEqual([
          'gateway.yaml: partner ME, not MK',
          expect.stringMatching(
            /^partner\.public\.jwk \(RS#.*\) is not a signing key of MK in the manifest$/,
          ),
          'nats-access.conf: RECIPIENT_RS has 1 users, agreements do not name RS',
        ]);
        const unknown = mk();
        const cm = find(unknown, 'ConfigMap', 'wbx-gateway-config').data as Record<string, string>;
        cm['gateway.yaml'] = YAML.stringify({ ...YAML.parse(cm['gateway.yaml'] ?? ''), natsUrl: 'x' });
        expect(await partnerProblems(unknown, 'MK')).toEqual([
          expect.stringContaining(
            'gateway.yaml: invalid gateway configuration: natsUrl: unknown setting natsUrl',
          ),
        ]);
      });
    });
  },
);
