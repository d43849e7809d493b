import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import YAML from 'yaml';

const run = promisify(execFile);

/** A rendered Kubernetes object, as plain data. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Whether `kubectl` (with its built-in kustomize) is on PATH, and if not, why. */
export async function kubectlAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await run('kubectl', ['version', '--client'], { timeout: 20_000 });
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `kubectl version --client failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** `kubectl kustomize DIR`, parsed. */
export async function render(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 64 * 2 ** 20, timeout: 60_000 });
  return YAML.parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
}

type Validating = new (data: never) => { validate(): void };
/** The kinds an overlay may hold, each with its kubernetes-models class (OpenAPI schema). */
const MODELS: Record<string, Validating> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/CronJob': CronJob,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/**
 * The fields of the custom resources WBX uses. The prometheus-operator models accept any extra field and
 * `@kubernetes/client-node` keeps custom resources as they are, so a typo there is caught by this list.
 */
const CUSTOM_FIELDS: Record<string, Record<string, readonly string[]>> = {
  ServiceMonitor: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['selector', 'endpoints', 'namespaceSelector', 'jobLabel'],
    'spec.endpoints[]': ['port', 'path', 'interval', 'scheme', 'scrapeTimeout', 'relabelings'],
  },
  PrometheusRule: {
    '': ['apiVersion', 'kind', 'metadata', 'spec'],
    spec: ['groups'],
    'spec.groups[]': ['name', 'interval', 'rules'],
    'spec.groups[].rules[]': ['alert', 'record', 'expr', 'for', 'labels', 'annotations'],
  },
};

/** Paths present in `a` but not in `b` (fields a round trip dropped), as `.spec.template…`. */
function dropped(a: unknown, b: unknown, path = ''): string[] {
  if (Array.isArray(a)) {
    return a.flatMap((v, i) => dropped(v, Array.isArray(b) ? b[i] : undefined, `${path}[${i}]`));
  }
  if (a !== null && typeof a === 'object') {
    if (b === null || typeof b !== 'object') return [path || '(root)'];
    const bo = b as Record<string, unknown>;
    return Object.entries(a).flatMap(([k, v]) =>
      k in bo ? dropped(v, bo[k], `${path}.${k}`) : [`${path}.${k}`],
    );
  }
  return b === undefined ? [path] : [];
}

function customFieldProblems(o: K8sObject): string[] {
  const allowed = CUSTOM_FIELDS[o.kind];
  if (allowed === undefined) return [];
  const problems: string[] = [];
  const visit = (value: unknown, pattern: string, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${pattern}[]`, `${path}[${i}]`));
      return;
    }
    const keys = allowed[pattern];
    if (keys === undefined || value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if (!keys.includes(k)) problems.push(`${path}.${k}: unknown field`);
      else visit(v, pattern === '' ? k : `${pattern}.${k}`, `${path}.${k}`);
    }
  };
  visit(o, '', '');
  return problems;
}

/**
 * What is wrong with one object's shape: the OpenAPI schema (kubernetes-models), fields that
 * `@kubernetes/client-node`'s typed load/dump round trip drops (unknown to the API: a typo), and unknown
 * fields of the custom resources. Each problem names `Kind/name` and the path.
 */
export function schemaProblems(o: K8sObject): string[] {
  const id = `${o.kind}/${o.metadata.name}`;
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (Model === undefined) return [`${id}: ${o.apiVersion} ${o.kind} is not a kind WBX deploys`];
  const problems: string[] = [];
  try {
    const copy = structuredClone(o);
    // kustomize wraps a Secret's base64 at 70 columns; the API server's decoder skips the line breaks.
    if (o.kind === 'Secret' && copy.data !== null && typeof copy.data === 'object') {
      for (const [k, v] of Object.entries(copy.data)) {
        if (typeof v === 'string') (copy.data as Record<string, string>)[k] = v.replace(/\s/g, '');
      }
    }
    new Model(copy as never).validate();
  } catch (e) {
    problems.push(`${id}: ${(e as Error).message}`);
  }
  const [loaded] = loadAllYaml(YAML.stringify(o)) as unknown[];
  const back: unknown = YAML.parse(dumpYaml(loaded));
  for (const path of dropped(o, back)) problems.push(`${id}: ${path}: not a field of ${o.kind}`);
  for (const p of customFieldProblems(o)) problems.push(`${id}: ${p}`);
  return problems;
}

interface Container {
  name: string;
  image?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  startupProbe?: unknown;
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
    seccompProfile?: { type?: string };
  };
}

interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean };
}

/** The pod template of a workload, and whether it serves (probes required) or runs to completion. */
function podOf(o: K8sObject): { pod: PodSpec; serves: boolean } | undefined {
  if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
    return { pod: (o.spec as { template: { spec: PodSpec } }).template.spec, serves: true };
  }
  if (o.kind === 'CronJob') {
    const job = (o.spec as { jobTemplate: { spec: { template: { spec: PodSpec } } } }).jobTemplate.spec;
    return { pod: job.template.spec, serves: false };
  }
  return undefined;
}

/**
 * The policy every container follows: requests and limits for cpu and memory, probes (serving
 * workloads), a non-root, read-only, no-capability, seccomp RuntimeDefault securityContext, and an image
 * pinned by version (never `latest`, never without a tag).
 */
export function policyProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const found = podOf(o);
    if (found === undefined) continue;
    const { pod, serves } = found;
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const id = `${o.kind}/${o.metadata.name} container ${c.name}`;
      for (const r of ['cpu', 'memory']) {
        if (c.resources?.requests?.[r] === undefined) problems.push(`${id}: no ${r} request`);
        if (c.resources?.limits?.[r] === undefined) problems.push(`${id}: no ${r} limit`);
      }
      if (serves) {
        for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
          if (c[p] === undefined) problems.push(`${id}: no ${p}`);
        }
      }
      const sc = c.securityContext;
      if (sc?.runAsNonRoot !== true && pod.securityContext?.runAsNonRoot !== true) {
        problems.push(`${id}: runAsNonRoot is not true`);
      }
      if (sc?.readOnlyRootFilesystem !== true) problems.push(`${id}: readOnlyRootFilesystem is not true`);
      if (sc?.allowPrivilegeEscalation !== false)
        problems.push(`${id}: allowPrivilegeEscalation is not false`);
      if (!(sc?.capabilities?.drop ?? []).includes('ALL'))
        problems.push(`${id}: capabilities do not drop ALL`);
      if (sc?.seccompProfile?.type !== 'RuntimeDefault')
        problems.push(`${id}: seccomp is not RuntimeDefault`);
      const tag = /^(?:.*\/)?[^/:@]+(?::([^/@]+))?(?:@sha256:[0-9a-f]{64})?$/.exec(c.image ?? '');
      if (tag === null || (tag[1] === undefined && !(c.image ?? '').includes('@sha256:'))) {
        problems.push(`${id}: image ${c.image ?? '(none)'} is not pinned to a version`);
      } else if (tag[1] === 'latest') {
        problems.push(`${id}: image ${c.image ?? ''} uses the latest tag`);
      }
    }
  }
  return problems;
}
