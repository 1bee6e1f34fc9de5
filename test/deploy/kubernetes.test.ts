// deploy/kubernetes/ and the Dockerfile, checked without a cluster (docs/kubernetes.md,
// "Validation"):
// - every manifest against the API's schema: kubernetes-models (the Kubernetes 1.36 OpenAPI
//   schemas, compiled to ajv validators) and, for the ServiceMonitor and PrometheusRule CRDs,
//   @kubernetes-models/prometheus-operator (the operator's CRD schemas; the rules' content is
//   test/deploy/observability.test.ts's);
// - unknown fields (which those schemas let through, as the API server's strict field
//   validation would not): each manifest as an object literal of the package's TypeScript
//   type, compiled by tsc, whose excess-property check names any field the type lacks;
// - what no schema knows: selectors that match, probes on hotpath's real routes, the
//   config in the ConfigMap compiled by hotpath itself, the grace period against the drain
//   settings, every HPA metric served by a prometheus-adapter rule over a series that a
//   running hotpath exports, the rules' PromQL (promtool), and the Dockerfile (dockerfile-utils
//   plus the rules below).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

import { type Config, loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { healthRoutes } from '../../src/server/routes/health.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'deploy/kubernetes');

/** apiVersion/kind -> the model that validates it, and its TypeScript type for the strict check */
const KINDS: Record<string, { model: new (data: any) => { validate(): void }; module: string; type: string }> = {
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/StatefulSet': { model: StatefulSet, module: 'kubernetes-models/apps/v1/StatefulSet', type: 'IStatefulSet' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': { model: HorizontalPodAutoscaler, module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', type: 'IHorizontalPodAutoscaler' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', type: 'IServiceMonitor',
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    model: PrometheusRule, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', type: 'IPrometheusRule',
  },
};

interface Manifest {
  file: string;
  doc: any;
}

function manifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort())
    for (const d of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      expect(d.errors, file).toEqual([]);
      if (d.contents !== null) out.push({ file, doc: d.toJS() });
    }
  return out;
}

const all = manifests();
const one = (kind: string, name?: string) => {
  const found = all.filter((m) => m.doc.kind === kind && (name === undefined || m.doc.metadata.name === name));
  expect(found, kind).toHaveLength(1);
  return found[0].doc;
};
const statefulSet = one('StatefulSet');
const service = one('Service', 'hotpath');
const peers = one('Service', 'hotpath-peers');
const pdb = one('PodDisruptionBudget');
const hpa = one('HorizontalPodAutoscaler');
const monitor = one('ServiceMonitor');
const configMap = one('ConfigMap');
const container = statefulSet.spec.template.spec.containers[0];
const adapter = parseYaml(readFileSync(join(DIR, 'prometheus-adapter/rules.yaml'), 'utf8')) as {
  rules: { seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string; resources: { overrides: Record<string, { resource: string }> } }[];
};
/** the pod's environment as the StatefulSet sets it (POD_NAME from metadata.name) */
const POD_ENV = { POD_NAME: 'hotpath-0' };
/** the ConfigMap's hotpath.yaml compiled by hotpath, model repositories in the image (/app) */
const config: Config = loadConfigText(configMap.data['hotpath.yaml'], { baseDir: '/app', env: POD_ENV });

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('schemas', () => {
  it('kustomization.yaml lists every manifest of the folder, and only those', () => {
    const k = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'));
    expect(k).toMatchObject({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
    expect([...k.resources].sort()).toEqual([...new Set(all.map((m) => m.file))].sort());
  });

  it.each(all.map((m) => [`${m.file}: ${m.doc.kind} ${m.doc.metadata?.name}`, m] as const))('%s validates against its schema', (_, m) => {
    const kind = KINDS[`${m.doc.apiVersion}/${m.doc.kind}`];
    expect(kind, `no schema for ${m.doc.apiVersion} ${m.doc.kind}: add it to KINDS`).toBeDefined();
    expect(() => new kind.model(m.doc).validate()).not.toThrow();
  });

  it('the schemas refuse what the API server would (the check can fail)', () => {
    const bad = structuredClone(statefulSet);
    bad.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new StatefulSet(bad).validate()).toThrow(/containerPort/);
    const badHpa = structuredClone(hpa);
    badHpa.spec.metrics[0].pods.target.averageValue = 'twenty thousand';
    expect(() => new HorizontalPodAutoscaler(badHpa).validate()).toThrow(/averageValue/);
    const badMonitor = structuredClone(monitor);
    badMonitor.spec.endpoints[0].interval = '15 seconds';
    expect(() => new ServiceMonitor(badMonitor).validate()).toThrow(/interval/);
  });

  // tsc over every manifest as a typed literal: an unknown field anywhere is an error.
  const strict = (docs: Manifest[]): string[] => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-k8s-'));
    try {
      const file = join(dir, 'manifests.ts');
      const used = [...new Set(docs.map((m) => `${m.doc.apiVersion}/${m.doc.kind}`))];
      const lines = used.map((k, i) => `import type { ${KINDS[k].type} as T${i} } from '${KINDS[k].module}';`);
      docs.forEach((m, j) => lines.push(`// ${m.file}\nexport const m${j}: T${used.indexOf(`${m.doc.apiVersion}/${m.doc.kind}`)} = ${JSON.stringify(m.doc, null, 1)};`));
      writeFileSync(file, lines.join('\n'));
      const program = ts.createProgram([file], {
        strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler, baseUrl: ROOT,
        paths: { 'kubernetes-models/*': ['node_modules/kubernetes-models/*'], '@kubernetes-models/*': ['node_modules/@kubernetes-models/*'] },
        types: [],
      });
      return ts.getPreEmitDiagnostics(program).map((d) => {
        const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
        return `line ${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('no manifest has a field its type lacks (strict field validation)', () => {
    expect(strict(all)).toEqual([]);
    // and the check sees one: a misspelt probe
    const typo = structuredClone(statefulSet);
    typo.spec.template.spec.containers[0].livenesProbe = typo.spec.template.spec.containers[0].livenessProbe;
    const errors = strict([{ file: 'typo', doc: typo }]);
    expect(errors.join('\n')).toMatch(/livenesProbe/);
  }, 60_000);
});

describe('the manifests fit together and fit hotpath', () => {
  const podLabels = statefulSet.spec.template.metadata.labels;

  it('selectors: the StatefulSet, Services, PDB and ServiceMonitor pick the same pods; the monitor one Service', () => {
    expect(matches(statefulSet.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(matches(service.spec.selector, podLabels)).toBe(true);
    expect(matches(peers.spec.selector, podLabels)).toBe(true);
    expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    expect(matches(monitor.spec.selector.matchLabels, peers.metadata.labels)).toBe(false); // each pod scraped once
    expect(statefulSet.spec.serviceName).toBe(peers.metadata.name);
    expect(peers.spec.clusterIP).toBe('None');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: statefulSet.metadata.name });
    expect(statefulSet.spec.replicas).toBeUndefined(); // the HPA owns the count
  });

  it('the shared log: each pod is a replica named by its stable pod name, with its own volume', () => {
    const r = config.ingest.redisStreams!;
    expect(r).toBeDefined();
    expect(r.replica).toBe(POD_ENV.POD_NAME);
    const podName = container.env.find((e: any) => e.name === 'POD_NAME');
    expect(podName.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    // the key has a hash tag (Redis Cluster keeps it in one slot)
    expect(r.key).toMatch(/^\{[^}]+\}/);
    const data = statefulSet.spec.volumeClaimTemplates.find((v: any) => v.metadata.name === 'data');
    expect(data.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(statefulSet.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Retain' });
  });

  it('ports: the config, the container, the Service and the ServiceMonitor agree', () => {
    const port = container.ports.find((p: any) => p.name === 'http');
    expect(port.containerPort).toBe(config.server.port);
    expect(config.server.host).toBe('0.0.0.0');
    expect(service.spec.ports.map((p: any) => p.targetPort)).toEqual(['http']);
    expect(service.spec.ports.map((p: any) => p.name)).toContain(monitor.spec.endpoints[0].port);
    expect(monitor.spec.endpoints[0].path).toBe('/metrics');
  });

  it('probes: liveness and startup on /healthz, readiness on /readyz, both open routes of hotpath', () => {
    const open = new Set(healthRoutes.filter((r) => r.method === 'get' && r.scope === 'open').map((r) => r.path));
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['startupProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
      expect(container[probe].httpGet.path, probe).toBe(path);
      expect(open.has(path), `${path} is not an open GET route in src/server/routes/health.ts`).toBe(true);
      expect(container.ports.map((p: any) => p.name)).toContain(container[probe].httpGet.port);
    }
  });

  it('the config comes from the ConfigMap, state from the pod\'s volume, the executable cache from writable volumes', () => {
    const mounts = new Map<string, any>(container.volumeMounts.map((m: any) => [m.mountPath, m]));
    const volumes = new Map<string, any>(statefulSet.spec.template.spec.volumes.map((v: any) => [v.name, v]));
    const claims = new Set<string>(statefulSet.spec.volumeClaimTemplates.map((v: any) => v.metadata.name));
    const configArg = container.args[container.args.indexOf('--config') + 1];
    const configMount = mounts.get(configArg.slice(0, configArg.lastIndexOf('/')));
    expect(volumes.get(configMount.name).configMap.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toContain(configArg.slice(configArg.lastIndexOf('/') + 1));
    const cacheDir = container.env.find((e: any) => e.name === 'HOTPATH_CACHE_DIR').value;
    for (const dir of [config.durability.dataDir!, cacheDir, '/tmp']) {
      expect(mounts.get(dir), dir).toBeDefined();
      expect(mounts.get(dir).readOnly).not.toBe(true);
    }
    expect(claims.has(mounts.get(config.durability.dataDir!).name)).toBe(true);
    expect(volumes.has(mounts.get(config.durability.dataDir!).name)).toBe(false);
    for (const dir of [cacheDir, '/tmp']) expect(volumes.get(mounts.get(dir).name).emptyDir, dir).toBeDefined();
  });

  it('graceful stop: the grace period covers preStop, the drain, the webhooks and the last snapshot', () => {
    const spec = statefulSet.spec.template.spec;
    const preStop = container.lifecycle.preStop.exec.command;
    expect(preStop[0]).toMatch(/sleep$/);
    const sleep = Number(preStop[1]);
    // the last snapshot: 0.84 s for 556 MB measured (bench/results/2026-12-06-durability.md); 5 s allowed with the exit
    const needed = sleep + config.server.drainTimeoutMs / 1000 + config.alerts.drainTimeoutMs / 1000 + 5;
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(needed);
    expect(spec.terminationGracePeriodSeconds).toBeLessThanOrEqual(needed + 10); // and does not hide a hung stop for long
  });

  it('non-root, read-only root filesystem, no capabilities, requests and limits', () => {
    const pod = statefulSet.spec.template.spec.securityContext;
    expect(pod).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    for (const r of ['cpu', 'memory']) {
      expect(container.resources.requests[r], r).toBeDefined();
      expect(container.resources.limits[r], r).toBeDefined();
    }
    // the image's user is the pod's
    const finalUser = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').match(/^USER (\d+)(?::(\d+))?$/m);
    expect(Number(finalUser?.[1])).toBe(pod.runAsUser);
  });

  it('every HPA metric is served by one adapter rule; the forecast horizon and signal are the config\'s', () => {
    const names = hpa.spec.metrics.map((m: any) => m.pods.metric.name);
    expect(names.sort()).toEqual(adapter.rules.map((r) => r.name.as).sort());
    for (const r of adapter.rules) {
      expect(r.resources.overrides).toEqual({ namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
      expect(new RegExp(r.name.matches).test(r.seriesQuery.split('{')[0])).toBe(true);
    }
    const forecast = hpa.spec.metrics.find((m: any) => m.pods.metric.name === 'hotpath_request_rate_forecast');
    const f = config.scaling.forecast!;
    expect(f.horizonsMs.map((h) => `${h / 60_000}m`)).toContain(forecast.pods.metric.selector.matchLabels.horizon);
    // the rate the HPA compares with the forecast counts the same requests
    const COUNTER = { model_requests: 'hotpath_model_requests_total', events: 'hotpath_events_ingested_total', feature_reads: 'hotpath_feature_reads_total' } as const;
    const rateRule = adapter.rules.find((r) => r.name.as === 'hotpath_requests_per_second')!;
    expect(f.signals.map((s) => COUNTER[s])).toEqual([rateRule.seriesQuery.split('{')[0]]);
    const rate = hpa.spec.metrics.find((m: any) => m.pods.metric.name === 'hotpath_requests_per_second');
    expect(forecast.pods.target).toEqual(rate.pods.target);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it.skipIf(!promtool && process.env.HOTPATH_CI !== '1')('the adapter rules\' queries are valid PromQL (promtool)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-adapter-'));
    try {
      const rules = adapter.rules.map((r) => ({
        record: `hotpath:${r.name.as}`,
        expr: r.metricsQuery.replaceAll('<<.Series>>', r.seriesQuery.split('{')[0]).replaceAll('<<.LabelMatchers>>', 'namespace="default",pod=~"hotpath-a|hotpath-b"').replaceAll('<<.GroupBy>>', 'pod'),
      }));
      writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups: [{ name: 'adapter', rules }] }));
      const out = execFileSync('sh', ['-c', `promtool check rules ${join(dir, 'rules.yaml')} 2>&1; echo "exit=$?"`]).toString();
      expect(out, out).toMatch(/exit=0\s*$/);
      expect(out).toContain(`${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const kustomize = spawnSync('kubectl', ['kustomize', '--help']).status === 0;
  it.skipIf(!kustomize)('kubectl kustomize builds the folder (skipped where kubectl is not installed)', () => {
    const out = execFileSync('kubectl', ['kustomize', DIR]).toString();
    const built = parseAllDocuments(out).map((d) => d.toJS());
    expect(built.map((d) => d.kind).sort()).toEqual(all.map((m) => m.doc.kind).sort());
    expect(built.find((d) => d.kind === 'StatefulSet').spec.template.spec.containers[0].image).toBe('hotpath:0.1.0');
  });
});

describe('a running hotpath exports what the adapter reads', () => {
  let server: Server;
  beforeAll(async () => {
    // the ConfigMap's config, with the image's /app/models read from this checkout
    // and no data directory (the pod's volume)
    const cfg = loadConfigText(configMap.data['hotpath.yaml'].replaceAll('/app/models/', `${join(ROOT, 'models')}/`), { baseDir: ROOT, env: POD_ENV });
    cfg.durability.dataDir = undefined;
    cfg.ingest.redisStreams = null; // no Redis here: the metrics checked are the server's own
    server = await startServer({ config: cfg, port: 0, host: '127.0.0.1', log: () => {} });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  it('has a series for every adapter rule once it has served a predict', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const r = await fetch(`${base}/v1/predict/fraud`, { method: 'POST', body: JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 12 } }) });
    expect(r.status).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const rule of adapter.rules) expect(exported.has(rule.seriesQuery.split('{')[0]), rule.seriesQuery).toBe(true);
    expect(text).toMatch(/^hotpath_model_requests_total\{model="fraud",outcome="success",reason=""\} 1$/m);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const df = DockerfileParser.parse(text);
  const froms = df.getFROMs();
  const stages = df.getInstructions().reduce<string[][]>((acc, i) => {
    if (i.getKeyword() === 'FROM') acc.push([]);
    if (acc.length > 0) acc[acc.length - 1].push(i.getKeyword());
    return acc;
  }, []);

  it('has no problem dockerfile-utils (the VS Code Docker linter) reports', () => {
    expect(lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    expect(lintDockerfile(`${text}\nCOPYY a b\n`).length).toBeGreaterThan(0); // it does report
  });

  it('is multi-stage; the last stage runs as a numeric non-root user, with a healthcheck and an exec-form entrypoint', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const last = stages[stages.length - 1];
    expect(last).toContain('USER');
    expect(last).toContain('HEALTHCHECK');
    const user = df.getInstructions().filter((i) => i.getKeyword() === 'USER').at(-1)!.getArgumentsContent()!;
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(text).toMatch(/^ENTRYPOINT \[/m);
    expect(df.getHEALTHCHECKs()[0].getArgumentsContent()).toContain('/readyz');
  });

  it('names every base image with a tag and copies only from its own stages', () => {
    const args = new Map(df.getARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue()]));
    const images = froms.map((f) => f.getImage()!.replace(/^\$\{(\w+)\}$/, (_, k) => args.get(k) ?? ''));
    for (const image of images) expect(image).toMatch(/^[\w./-]+:[\w.-]+$/);
    for (const image of images) expect(image).not.toMatch(/:latest$/);
    const names = froms.map((f) => f.getBuildStage()).filter(Boolean);
    for (const c of df.getCOPYs()) {
      const from = c.getFromFlag()?.getValue();
      if (from) expect(names).toContain(from);
    }
  });

  it('.dockerignore keeps local builds, dependencies and VCS data out of the context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['.git', 'node_modules', 'build', 'dist']) expect(ignored).toContain(p);
  });
});
