# Pools the Thompson sampling rows of the K = 100 settings of two bandits-sim.ts runs: the
# first run's aggregates (--json: mean and standard error over its runs) and the second
# run's per-run log (--run-log, runs --first-run 20 on): the exact pooled mean and
# standard error, and the same without runs whose R(T) passes --outlier (reported apart).
#   python3 bench/tools/bandits-pool.py FIRST.json SECOND.jsonl [--outlier 20000]
import json, math, sys

full = json.load(open(sys.argv[1]))
runs = [json.loads(line) for line in open(sys.argv[2])]
outlier = float(sys.argv[sys.argv.index('--outlier') + 1]) if '--outlier' in sys.argv else math.inf
T = 1e6

def pool(n1, m1, se1, xs):
    n2 = len(xs)
    if n2 == 0:
        return n1, m1, se1
    m2 = sum(xs) / n2
    ss1 = se1 ** 2 * n1 * (n1 - 1)
    ss2 = sum((x - m2) ** 2 for x in xs)
    n = n1 + n2
    m = (n1 * m1 + n2 * m2) / n
    ss = ss1 + ss2 + n1 * (m1 - m) ** 2 + n2 * (m2 - m) ** 2
    return n, m, math.sqrt(ss / (n - 1) / n)

for pass_, keep in enumerate((lambda r: True, lambda r: r['regret'][-1] <= outlier)):
    if pass_ == 1:
        if outlier == math.inf:
            break
        print(f'(without runs whose R(T) > {outlier:.0f})')
    for eps in (0.1, 0.02):
        key = f'lai thompson 100 {eps}'
        a = full[key]
        rs = [r['regret'] for r in runs if r['key'] == key and keep(r)]
        cells = []
        for i in range(len(a['at'])):
            n, m, se = pool(a['runs'], a['at'][i][0], a['at'][i][1], [r[i] for r in rs])
            cells.append(f'{m:.0f} ± {se:.0f}')
        n, sm, sse = pool(a['runs'], a['slope'][0], a['slope'][1], [r[-1] / math.log(T) for r in rs])
        n, tm, tse = pool(a['runs'], a['tail'][0], a['tail'][1], [(r[-1] - r[-2]) / math.log(10) for r in rs])
        print(f"| 100 | {eps} | {a['bound']:.1f} | thompson | {n} | {' | '.join(cells)} | {sm:.1f} ± {sse:.1f} | {tm:.1f} ± {tse:.1f} |")
