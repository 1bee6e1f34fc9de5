// Assignment: sticky, split as the weights say, holdout as configured, and a ramp never
// moves a unit from one variant to another. Decisions: SRM, winner, guardrail rollback,
// the snapshot state round trip. On the Experiment class with the real addon's id hash.
import { describe, expect, it } from 'vitest';

// load.js first: config/experiments.js is part of the schema load.js compiles
import { loadConfigText } from '../../src/config/load.js';
import { compileExperiments, type ExperimentDef, type RawExperiment } from '../../src/config/experiments.js';
import { BUCKETS, mix64Halves, nativeUnitHash, Splitter, UnitSet, unitHash, words } from '../../src/experiments/assignment.js';
import { mulberry32 } from '../../src/bench/random.js';
import { Experiment } from '../../src/experiments/experiment.js';
import { Experiments } from '../../src/experiments/experiments.js';
import { hashIds } from '../../src/native/binding.js';
import { buildTargets } from '../../src/server/experiment-targets.js';

const BASE = `
streams:
  conv: { keys: { user: user_id }, fields: { value: number } }
entities:
  user: { features: { n: { agg: count, window: 1h } } }
`;

function def(x: Partial<RawExperiment> = {}): ExperimentDef {
  const c = loadConfigText(BASE);
  const raw: RawExperiment = {
    variants: { control: { weight: 50, model: 'a' }, treatment: { weight: 50, model: 'b' } },
    metric: { stream: 'conv', unit: 'user', kind: 'conversion' },
    ...x,
  };
  return compileExperiments({ ab: raw }, c.streams, c.streamIndex, c.entities, { model: new Set(['a', 'b', 'c']), recommender: new Set(), bandit: new Set() })[0];
}

/** the store hashes of n unit ids, each as its (lo, hi) words */
const units = (n: number, prefix = 'u'): Uint32Array[] => {
  const w = words(hashIds(Array.from({ length: n }, (_, i) => `${prefix}${i}`)));
  return Array.from({ length: n }, (_, i) => w.subarray(2 * i, 2 * i + 2));
};
/** units as one words array, as the metric tap hands them to observe() */
const flat = (us: Uint32Array[]): Uint32Array => {
  const out = new Uint32Array(us.length * 2);
  us.forEach((u, i) => out.set(u, 2 * i));
  return out;
};
const M64 = (1n << 64n) - 1n;
/** the BigInt reference of native/core/hash.h Mix64 */
function mix64(x: bigint): bigint {
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & M64;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & M64;
  x ^= x >> 31n;
  return x;
}
const big = (w: Uint32Array) => (BigInt(w[1]) << 32n) | BigInt(w[0]);

describe('assignment', () => {
  it('mix64 on 32-bit halves is splitmix64\'s finaliser (native/core/hash.h Mix64, BigInt reference)', () => {
    const r = new Uint32Array(2);
    for (const u of [...units(5000), Uint32Array.of(0, 0), Uint32Array.of(0xffffffff, 0xffffffff), Uint32Array.of(1, 0)]) {
      r.set(u);
      mix64Halves(r);
      expect(big(r)).toBe(mix64(big(u)));
    }
  });

  it('unitHash is the store\'s id hash (the addon\'s hashIds) for ids of every length, ASCII, multi-byte and lone surrogates', () => {
    const rand = mulberry32(13);
    const alphabet = ['a', 'Z', '0', '-', 'é', 'ß', '中', '😀', '\ud800', '\udfff', ' '];
    const ids: string[] = ['x', 'user-1', 'abcdefgh', 'abcdefghi', '😀😀', 'é'.repeat(128)];
    for (let len = 1; len <= 256; len++) {
      let id = '';
      while (Buffer.byteLength(id) < len) id += rand() < 0.7 ? String.fromCharCode(33 + Math.floor(rand() * 90)) : alphabet[Math.floor(rand() * alphabet.length)];
      if (Buffer.byteLength(id) <= 256) ids.push(id);
    }
    for (const id of ids) expect([...unitHash(id)], JSON.stringify(id)).toEqual([...nativeUnitHash(id)]);
  });

  it('its buckets are the documented formula: Mix64(unit ^ salt) mod 10000, Mix64(key + golden) mod 10000', () => {
    const s = new Splitter('salt', 0, [0.5, 0.5]);
    const salt = big(unitHash('salt'));
    for (const u of units(2000)) {
      s.buckets(u[0], u[1]);
      const key = mix64(big(u) ^ salt);
      expect(s.entry).toBe(Number(key % 10000n));
      expect(s.variant).toBe(Number(mix64((key + 0x9e3779b97f4a7c15n) & M64) % 10000n));
    }
  });

  it('is sticky: the same unit gets the same variant, across Experiment instances (processes)', () => {
    const a = new Experiment(def(), 0);
    const b = new Experiment(def(), 0);
    const hs = units(2000);
    for (const h of hs) {
      const p = a.assignHash(h, 0);
      expect(a.assignHash(h, 1).variant).toBe(p.variant);
      expect(b.assignHash(h, 2).variant).toBe(p.variant);
    }
    expect([...unitHash('u7')]).toEqual([...hs[7]]);
  });

  it('splits as the weights say (within 1 % over 100,000 units) and counts each unit once', () => {
    const x = new Experiment(def({ variants: { control: { weight: 20, model: 'a' }, b: { weight: 30, model: 'b' }, c: { weight: 50, model: 'c' } } }), 0);
    const hs = units(100_000);
    for (const h of hs) x.assignHash(h, 0);
    for (const h of hs.slice(0, 1000)) x.assignHash(h, 0);
    const e = x.variants.map((v) => v.exposures / 100_000);
    expect(x.exposures).toBeGreaterThan(99_000); // a few unit-set collisions at most
    expect(Math.abs(e[0] - 0.2)).toBeLessThan(0.01);
    expect(Math.abs(e[1] - 0.3)).toBeLessThan(0.01);
    expect(Math.abs(e[2] - 0.5)).toBeLessThan(0.01);
    expect(x.srm().p).toBeGreaterThan(0.001);
  });

  it('holds out the holdout share and serves it control, uncounted', () => {
    const x = new Experiment(def({ holdout: 0.1 }), 0);
    let held = 0;
    for (const h of units(50_000)) {
      const p = x.assignHash(h, 0);
      if (p.reason === 'holdout') {
        held++;
        expect(p.variant).toBe(0);
        expect(p.counted).toBe(false);
      }
    }
    expect(Math.abs(held / 50_000 - 0.1)).toBeLessThan(0.01);
  });

  it('ramping up adds units and never moves one from a variant to another; ramping down and up gives units back their variant', () => {
    const shares = [0, 0.01, 0.05, 0.2, 0.5, 0.9, 1];
    const x = new Experiment(def({ holdout: 0.05 }), 0);
    const hs = units(20_000);
    const first = new Map<number, number>();
    let before = 0;
    for (const s of shares) {
      x.ramp(0, s);
      let inNow = 0;
      hs.forEach((h, i) => {
        const p = x.assignHash(h, 0);
        if (!p.counted) {
          expect(first.has(i), 'a unit in the experiment left it as the share went up').toBe(false);
          return;
        }
        inNow++;
        const was = first.get(i);
        if (was === undefined) first.set(i, p.variant);
        else expect(p.variant).toBe(was);
      });
      expect(inNow).toBeGreaterThanOrEqual(before);
      expect(Math.abs(inNow / 20_000 - s * 0.95)).toBeLessThan(0.015);
      before = inNow;
    }
    x.ramp(0, 0.1);
    hs.forEach((h, i) => {
      const p = x.assignHash(h, 0);
      if (p.counted) expect(p.variant).toBe(first.get(i));
    });
    x.ramp(0, 1);
    hs.forEach((h, i) => expect(x.assignHash(h, 0).variant).toBe(first.get(i) ?? 0));
  });

  it('the schedule steps by time and by exposures, each step a logged decision', () => {
    const x = new Experiment(def({ ramp: [{ share: 0.1 }, { share: 0.5, after: '1h' }, { share: 1, min_exposures: 3000 }] }), 0);
    const hs = units(10_000);
    for (const h of hs) x.assignHash(h, 1000);
    expect(x.share).toBe(0.1);
    x.assignHash(hs[0], 3_600_000);
    expect(x.share).toBe(0.5);
    for (const h of hs) x.assignHash(h, 3_600_001);
    expect(x.exposures).toBeGreaterThan(3000);
    x.assignHash(hs[0], 3_600_002);
    expect(x.share).toBe(1);
    expect(x.decisions.map((d) => [d.kind, d.share])).toEqual([['ramp', 0.5], ['ramp', 1]]);
  });

  it('a unit set keeps its false-positive rate near 1.3 % at capacity', () => {
    const s = new UnitSet(10_000);
    const sp = new Splitter('x', 0, [1]);
    const key = (h: Uint32Array): [number, number] => (sp.buckets(h[0], h[1]), [sp.keyLo, sp.keyHi]);
    const hs = units(10_000);
    for (const h of hs) s.add(...key(h));
    for (const h of hs) expect(s.has(...key(h))).toBe(true);
    let fp = 0;
    for (const h of units(20_000, 'other')) if (s.has(...key(h))) fp++;
    expect(fp / 20_000).toBeLessThan(0.02);
  });

  it('Splitter bounds cover the buckets by the weights', () => {
    const s = new Splitter('x', 0, [0.25, 0, 0.75]);
    expect([...s.bounds]).toEqual([2500, 2500, BUCKETS]);
    expect(s.variantOf(2499)).toBe(0);
    expect(s.variantOf(2500)).toBe(2);
  });
});

describe('decisions', () => {
  it('stops for a winner once the always-valid p-value is below α with enough samples', () => {
    const x = new Experiment(def({ auto_stop: true, test: { min_samples: 200 } }), 0);
    const hs = units(4000);
    const conv: Uint32Array[] = [];
    hs.forEach((h, i) => {
      const p = x.assignHash(h, 0);
      // control converts 1 in 10, treatment 1 in 4 (deterministic by index)
      if ((p.variant === 0 && i % 10 === 0) || (p.variant === 1 && i % 4 === 0)) conv.push(h);
    });
    x.observe(flat(conv), new Float64Array(conv.length).fill(NaN), conv.length);
    const r = x.evaluate(1);
    expect(r[1].vs_control!.significant).toBe(true);
    expect(x.status).toBe('stopped');
    expect(x.winner).toBe(1);
    expect(x.decisions.at(-1)!.kind).toBe('winner');
    // stopped: every unit is served the winner, uncounted
    expect(x.assignHash(hs[0], 2)).toMatchObject({ variant: 1, counted: false, reason: 'stopped' });
  });

  it('after a resume by hand, the experiment is not stopped for a winner again by itself', () => {
    const x = new Experiment(def({ auto_stop: true, test: { min_samples: 200 } }), 0);
    const hs = units(4000);
    const conv = hs.filter((h, i) => {
      const p = x.assignHash(h, 0);
      return (p.variant === 0 && i % 10 === 0) || (p.variant === 1 && i % 4 === 0);
    });
    x.observe(flat(conv), new Float64Array(conv.length).fill(NaN), conv.length);
    x.evaluate(1);
    expect(x.status).toBe('stopped');
    x.resume(2, 'keep measuring');
    const r = x.evaluate(3);
    expect(r[1].vs_control!.significant).toBe(true);
    expect(x.status).toBe('running');
    expect(x.decisions.map((d) => d.kind)).toEqual(['winner', 'resume']);
    // the hold is part of the state
    const y = new Experiment(def({ auto_stop: true, test: { min_samples: 200 } }), 0);
    y.restore(JSON.parse(JSON.stringify(x.state())), x.exposed.bits.slice(), x.converted!.bits.slice());
    y.evaluate(4);
    expect(y.status).toBe('running');
  });

  it('does not crown a variant whose test became significant while it was worse', () => {
    const x = new Experiment(def({ auto_stop: true, test: { min_samples: 200 } }), 0);
    const hs = units(4000);
    const placed = hs.map((h) => x.assignHash(h, 0).variant);
    // first: treatment converts far less than control: significant, and worse
    const worse = hs.filter((_, i) => (placed[i] === 0 ? i % 3 === 0 : i % 20 === 0));
    x.observe(flat(worse), new Float64Array(worse.length).fill(NaN), worse.length);
    x.evaluate(1);
    expect(x.variants[1].pMsprt).toBeLessThan(0.01);
    expect(x.status).toBe('running');
    // then treatment's units convert until it is a little ahead: the running minimum was
    // set by a worse treatment, so no winner
    const more = hs.filter((_, i) => placed[i] === 1 && i % 10 >= 1 && i % 10 <= 3);
    x.observe(flat(more), new Float64Array(more.length).fill(NaN), more.length);
    const r = x.evaluate(2);
    expect(r[1].vs_control!.diff).toBeGreaterThan(0);
    expect(x.status).toBe('running');
    expect(x.decisions.filter((d) => d.kind === 'winner')).toHaveLength(0);
  });

  it('flags a sample-ratio mismatch once', () => {
    const x = new Experiment(def({ test: { min_samples: 100 } }), 0);
    // expose only units that land in control: a biased exposure log
    for (const h of units(3000)) {
      x.split.buckets(h[0], h[1]);
      if (x.split.variantOf(x.split.variant) === 0) x.assignHash(h, 0);
    }
    for (const h of units(100, 'v')) x.assignHash(h, 0);
    x.evaluate(1);
    x.evaluate(2);
    expect(x.srm().flagged).toBe(true);
    expect(x.decisions.filter((d) => d.kind === 'srm')).toHaveLength(1);
  });

  it('rolls a variant back when its error rate breaks the guardrail; its units then get control', () => {
    const x = new Experiment(def({ guardrails: { max_error_rate: 0.1, min_requests: 32 } }), 0);
    for (let i = 0; i < 64; i++) x.served(1, 1, i % 3 === 0, 0);
    expect(x.variants[1].rolledBack).toBe(true);
    expect(x.decisions[0].kind).toBe('rollback');
    for (let i = 0; i < 64; i++) x.served(0, 1, true, 0); // control is never rolled back
    expect(x.variants[0].rolledBack).toBe(false);
    const h = units(200).find((u) => (x.split.buckets(u[0], u[1]), x.split.variantOf(x.split.variant) === 1))!;
    expect(x.assignHash(h, 1)).toMatchObject({ variant: 0, counted: false, reason: 'rolled_back' });
  });

  it('after a restore the guardrail window holds only the serves since (the counters carry over)', () => {
    const x = new Experiment(def({ guardrails: { max_error_rate: 0.5, min_requests: 32 } }), 0);
    for (let i = 0; i < 600; i++) x.served(1, 1, false, 0);
    const y = new Experiment(def({ guardrails: { max_error_rate: 0.5, min_requests: 32 } }), 0);
    y.restore(JSON.parse(JSON.stringify(x.state())), x.exposed.bits.slice(), x.converted!.bits.slice());
    expect(y.variants[1].requests).toBe(600);
    // every serve after the restart fails: the window sees them alone, not 512 empty slots
    for (let i = 0; i < 40; i++) y.served(1, 1, true, 0); // checked every 16 serves: at 608, 624 (too few yet), 640
    expect(y.variants[1].rolledBack).toBe(true);
    expect(y.evaluate(1, false)[1].guardrails.window_error_rate).toBe(1);
  });

  it('rolls back on p95 latency', () => {
    const x = new Experiment(def({ guardrails: { max_latency: '20ms', min_requests: 16 } }), 0);
    for (let i = 0; i < 32; i++) x.served(1, i < 24 ? 5 : 50, false, 0);
    expect(x.variants[1].rolledBack).toBe(true);
    expect(x.decisions[0].reason).toMatch(/p95 latency/);
  });

  it('its state round-trips, and a state of another split is refused', () => {
    const x = new Experiment(def(), 0);
    const hs = units(500);
    for (const h of hs) x.assignHash(h, 0);
    x.observe(flat(hs.slice(0, 100)), new Float64Array(100).fill(NaN), 100);
    const st = JSON.parse(JSON.stringify(x.state()));
    const y = new Experiment(def(), 0);
    y.restore(st, x.exposed.bits.slice(), x.converted!.bits.slice());
    expect(y.variants.map((v) => v.exposures)).toEqual(x.variants.map((v) => v.exposures));
    expect(y.variants.map((v) => v.moments.sum)).toEqual(x.variants.map((v) => v.moments.sum));
    for (const h of hs) expect(y.assignHash(h, 0).variant).toBe(x.assignHash(h, 0).variant);
    expect(y.exposures).toBe(x.exposures);
    const z = new Experiment(def({ salt: 'other' }), 0);
    expect(() => z.restore(st, x.exposed.bits, null)).toThrow(/another split/);
    // another test: the exposures stand, the statistics start afresh
    const w = new Experiment(def({ test: { alpha: 0.01 } }), 0);
    expect(w.restore(st, x.exposed.bits.slice(), x.converted!.bits.slice())).toBe(false);
    expect(w.variants.map((v) => v.exposures)).toEqual(x.variants.map((v) => v.exposures));
    expect(w.variants.map((v) => v.moments.sum)).toEqual([0, 0]);
    expect(y.restore(st, x.exposed.bits.slice(), x.converted!.bits.slice())).toBe(true);
  });
});

describe('the experiments snapshot part', () => {
  it('round-trips, and refuses a part cut short instead of reading zeros', () => {
    const config = loadConfigText(`${BASE}\nmodels:\n  a: { learner: { algorithm: sgd }, inputs: [{ feature: user.n }] }\nexperiments:\n  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a } }, metric: { stream: conv, unit: user, kind: conversion } }`);
    const xs = new Experiments(config, () => {});
    const x = xs.get('ab');
    for (const h of units(300)) x.assignHash(h, 0);
    const bytes = xs.snapshotParticipant().capture();
    const ys = new Experiments(config, () => {});
    ys.snapshotParticipant().restore({ bytes });
    expect(ys.get('ab').exposures).toBe(300);
    for (const cut of [bytes.length - 1, bytes.length - 1000, 12]) expect(() => new Experiments(config, () => {}).snapshotParticipant().restore({ bytes: bytes.subarray(0, cut) })).toThrow(/cut short/);
  });
});

describe('config', () => {
  const bad = (extra: string) => () => loadConfigText(`${BASE}\nmodels:\n  a: { learner: { algorithm: sgd }, inputs: [{ feature: user.n }] }\nexperiments:\n${extra}`);
  it('refuses weights that do not sum to 100, targets that name nothing, and bad shapes, naming the field', () => {
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 40, model: a } } }')).toThrow(/\/experiments\/ab\/variants: .*sum to 100; they sum to 90/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: nope } } }')).toThrow(/\/experiments\/ab\/variants\/t\/model: no model 'nope'/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, recommender: r } } }')).toThrow(/\/experiments\/ab\/variants\/t\/recommender: no recommender 'r' is declared under \/recommenders/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50 } } }')).toThrow(/\/experiments\/ab\/variants\/t: a variant points at exactly one target/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a, bandit: b } } }')).toThrow(/exactly one target/);
    expect(bad('  ab: { variants: { c: { weight: 100, model: a } } }')).toThrow(/\/experiments\/ab\/variants: must NOT have fewer than 2 properties/);
    expect(bad('  ab: { control: x, variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a } } }')).toThrow(/\/experiments\/ab\/control: no variant 'x'/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a } }, ramp: [{ share: 0.5 }, { share: 0.2, after: 1h }] }')).toThrow(/\/experiments\/ab\/ramp\/1\/share: a ramp only goes up/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a } }, metric: { stream: conv, unit: nobody, kind: conversion } }')).toThrow(/\/experiments\/ab\/metric\/unit: no entity 'nobody'/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a } }, metric: { stream: conv, unit: user, kind: mean } }')).toThrow(/\/experiments\/ab\/metric\/field: required/);
    expect(bad('  ab: { variants: { c: { weight: 50, model: a }, t: { weight: 50, model: a } }, auto_stop: true }')).toThrow(/\/experiments\/ab\/auto_stop/);
    expect(bad('  ab: { variants: { c: { weight: 0, model: a }, t: { weight: 100, model: a } } }')).toThrow(/\/experiments\/ab\/variants\/c\/weight: the control variant/);
    expect(bad('  ab: { variants: { c: { weight: 50.0000001, model: a }, t: { weight: 49.9999999, model: a } } }')).not.toThrow();
  });

  it('accepts recommender and bandit targets the config declares; a server without their adapter refuses them at start, naming the field', () => {
    const c = loadConfigText(BASE);
    const defs = compileExperiments(
      { ab: { variants: { c: { weight: 50, model: 'a' }, r: { weight: 25, recommender: 'similar' }, b: { weight: 25, bandit: 'arms' } } } },
      c.streams, c.streamIndex, c.entities, { model: new Set(['a']), recommender: new Set(['similar']), bandit: new Set(['arms']) },
    );
    expect(defs[0].variants.map((v) => v.target)).toEqual([{ kind: 'model', name: 'a' }, { kind: 'recommender', name: 'similar' }, { kind: 'bandit', name: 'arms' }]);
    const served: string[] = [];
    const factory = (kind: string, name: string) => (kind === 'model' ? { kind: 'model' as const, name, serve: () => void served.push(name) } : undefined);
    expect(() => buildTargets(defs, factory)).toThrow(/\/experiments\/ab\/variants\/r\/recommender: this server has no recommender adapter/);
    const withAll = buildTargets(defs, (kind, name) => ({ kind, name, serve: () => void served.push(`${kind}:${name}`) }));
    withAll.get('ab')!.forEach((t) => t.serve({}, 'u1', () => {}));
    expect(served).toEqual(['model:a', 'recommender:similar', 'bandit:arms']);
  });
});
