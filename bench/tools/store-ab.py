#!/usr/bin/env python3
# Alternating A/B of two builds of the addon on the store micro-benchmark (bench/store-micro.ts,
# hotpath engine, main phase) at 100k entities / 5M events and 1M / 10M, pinned to CPU 1:
#   python3 bench/tools/store-ab.py <addon A> <addon B> <rounds> <out.md>
# Run from the repository root; prints each run and writes the medians as a markdown table.
import json, subprocess, sys, statistics, os
A, B, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sizes = [(100000, 5000000), (1000000, 10000000)]
keys = [('ingest', lambda r: r['ingest']['eventsPerSec']), ('ingest 2nd half', lambda r: r['ingest']['secondHalfEventsPerSec']),
        ('read string', lambda r: r['readString']['median']), ('read BigInt', lambda r: r['readBigInt']['median']),
        ('readMany hashed', lambda r: r['readManyHashed']['median']), ('readMany strings', lambda r: r['readManyStrings']['median']),
        ('absent', lambda r: r['readAbsentString']['median'])]
res = {}
for rnd in range(rounds):
    for (n, e) in sizes:
        for name, addon in (('A', A), ('B', B)) if rnd % 2 == 0 else (('B', B), ('A', A)):
            env = dict(os.environ, HOTPATH_ADDON=addon)
            p = subprocess.run(['taskset', '-c', '1', 'node', '--expose-gc', '--import', 'tsx', 'bench/store-micro.ts', '--engine', 'hotpath', '--phase', 'main', '--entities', str(n), '--events', str(e)], env=env, capture_output=True, text=True, cwd=os.getcwd())
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if not line: print(p.stdout[-2000:], p.stderr[-2000:]); sys.exit(1)
            r = json.loads(line[0][7:])
            for k, f in keys: res.setdefault((n, k, name), []).append(f(r))
            print(rnd, n, name, ' '.join(f'{k}={f(r)/1e6:.2f}M' for k, f in keys), flush=True)
with open(out, 'w') as fh:
    fh.write('| size | measure | A median | B median | B/A | A runs | B runs |\n|---|---|---|---|---|---|---|\n')
    for (n, e) in sizes:
        for k, _ in keys:
            a, b = res[(n, k, 'A')], res[(n, k, 'B')]
            ma, mb = statistics.median(a), statistics.median(b)
            fh.write(f"| {n//1000}k ent, {e//1000000}M ev | {k} | {ma/1e6:.2f}M/s | {mb/1e6:.2f}M/s | {mb/ma:.3f} | {' '.join(f'{x/1e6:.2f}' for x in a)} | {' '.join(f'{x/1e6:.2f}' for x in b)} |\n")
print(open(out).read())
