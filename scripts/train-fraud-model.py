#!/usr/bin/python3
"""Train the demo card-fraud models and export them to ONNX by hand.

    /usr/bin/python3 scripts/train-fraud-model.py

Needs numpy, scikit-learn and onnx (no torch, no skl2onnx, no onnxruntime). Writes

    models/fraud/1/model.onnx        MLPClassifier, hidden (16, 8) relu, seed 1
    models/fraud/2/model.onnx        MLPClassifier, hidden (32, 16) relu, seed 2
    models/fraud_rules/1/model.onnx  LogisticRegression (the cheap fallback)

Every model takes `features` float32 [batch, 10] and returns `score` float32 [batch, 1],
the probability of fraud. The StandardScaler is folded into the first Gemm, so the
models take the unscaled columns below. The MLPs are Gemm(transB=1)/Relu/.../Gemm/Sigmoid,
the logistic regression Gemm/Sigmoid: all run on hotpath's native dense runtime.

Input columns, in order (log1p(x) = ln(1 + x); a missing value, e.g. a new user with no
history, is 0 before the transform):

    0 log1p(amount)                 the transaction amount (request field)
    1 log1p(user.txn_count_10m)     the user's transactions in the last 10 min (before this one)
    2 log1p(user.txn_count_1h)
    3 log1p(user.amount_mean_1h)
    4 log1p(user.amount_max_1h)
    5 log1p(user.amount_std_1h)
    6 user.countries_24h            distinct countries of the user's transactions in 24 h (raw)
    7 log1p(merchant.txn_count_1m)  the merchant's transactions in the last minute
    8 log1p(merchant.amount_mean_1h)
    9 log1p(merchant.users_1h)      distinct users at the merchant in the last hour

The data generator (synthetic; raw feature vectors, no event streams are simulated):

  Legitimate rows. Each row's user has a usual amount (lognormal, median ~40); the
  amount is that times lognormal(0, 0.6). txn_count_10m is 0-2, txn_count_1h is
  txn_count_10m plus ~Poisson(1.5), at most 8. The 1 h mean/max/std come from the user's
  usual amount (0 when the user had no transaction in the hour). countries_24h is 1
  (most) or 2. 5% of rows are new users: every user feature is 0. Merchants see ~1-20
  transactions a minute, ~10-300 distinct users an hour, mean amount ~20-200.

  Planted fraud (~3% of rows), a mix of three patterns:
    (a) card testing: a burst of small amounts: txn_count_10m 8-30, amount 1-5, a small
        1 h mean and max;
    (b) account takeover: amount 5-20x the user's 1 h mean, 3-6 countries in 24 h;
    (c) compromised merchant: merchant txn_count_1m 60-300, users_1h 500-3000, and an
        amount 1.2-4x the merchant's mean.
  Some fraud rows carry a weaker version of their pattern (a card test of 5-8
  transactions, a takeover from 2 countries at 3-6x the mean) and 8% carry no pattern at
  all (they look legitimate).

  Legitimate noise that overlaps the patterns: big one-off purchases (5-15x the user's
  mean), travellers (3-4 countries), busy legitimate merchants (40-150 a minute, 400-2000
  users an hour) and small-amount bursts (transit, parking: 4-10 in 10 min, amount 1-5).

So the models can learn the patterns, but the AUC is high, not 1.0. The script checks
that each exported ONNX graph, computed in numpy, matches sklearn's predict_proba within
1e-5, and prints the AUC on a held-out set (models/README.md records them).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
OPSET = 13
IR_VERSION = 8
N_ROWS = 80_000
FRAUD_RATE = 0.03
DATA_SEED = 7

COLUMNS = [
    'log1p(amount)',
    'log1p(user.txn_count_10m)',
    'log1p(user.txn_count_1h)',
    'log1p(user.amount_mean_1h)',
    'log1p(user.amount_max_1h)',
    'log1p(user.amount_std_1h)',
    'user.countries_24h',
    'log1p(merchant.txn_count_1m)',
    'log1p(merchant.amount_mean_1h)',
    'log1p(merchant.users_1h)',
]


def generate(n, seed):
    """Raw (untransformed) rows and labels; see the module docstring."""
    rng = np.random.default_rng(seed)
    # --- legitimate baseline for every row ---
    usual = np.exp(rng.normal(np.log(40.0), 0.7, n))               # the user's usual amount
    amount = usual * np.exp(rng.normal(0.0, 0.6, n))
    c10 = rng.choice([0, 1, 2], size=n, p=[0.70, 0.22, 0.08]).astype(float)
    c1h = np.minimum(c10 + rng.poisson(1.5, n), 8).astype(float)
    has_hour = c1h > 0
    mean1h = np.where(has_hour, usual * np.exp(rng.normal(0.0, 0.3, n)), 0.0)
    spread = rng.uniform(0.1, 0.6, n)
    max1h = np.where(c1h > 1, mean1h * (1.0 + spread * rng.uniform(0.5, 2.0, n)), mean1h)
    std1h = np.where(c1h > 1, mean1h * spread, 0.0)
    countries = np.where(rng.random(n) < 0.85, 1.0, 2.0)
    m_c1m = np.clip(np.round(np.exp(rng.uniform(np.log(1), np.log(20), n))), 1, 20)
    m_users = np.round(np.exp(rng.uniform(np.log(10), np.log(300), n)))
    m_mean = np.exp(rng.uniform(np.log(20), np.log(200), n))

    # new users: no history at all
    new = rng.random(n) < 0.05
    for col in (c10, c1h, mean1h, max1h, std1h, countries):
        col[new] = 0.0

    # --- legitimate noise that overlaps the fraud patterns ---
    legit_noise = rng.random(n)
    big = (legit_noise < 0.015) & ~new                      # a big one-off purchase
    amount[big] = np.maximum(mean1h[big], usual[big]) * rng.uniform(5, 15, big.sum())
    travel = (legit_noise >= 0.015) & (legit_noise < 0.022) & ~new   # a traveller
    countries[travel] = rng.integers(3, 5, travel.sum())
    busy = (legit_noise >= 0.022) & (legit_noise < 0.042)   # a busy, legitimate merchant
    m_c1m[busy] = rng.integers(40, 151, busy.sum())
    m_users[busy] = rng.integers(400, 2001, busy.sum())
    burst = (legit_noise >= 0.042) & (legit_noise < 0.047) & ~new   # transit / parking taps
    nb = burst.sum()
    c10[burst] = rng.integers(4, 11, nb)
    c1h[burst] = c10[burst] + rng.integers(0, 4, nb)
    amount[burst] = rng.uniform(1, 5, nb)
    mean1h[burst] = rng.uniform(1, 5, nb)
    max1h[burst] = mean1h[burst] * rng.uniform(1.0, 1.5, nb)
    std1h[burst] = mean1h[burst] * rng.uniform(0.0, 0.3, nb)

    # --- planted fraud ---
    y = (rng.random(n) < FRAUD_RATE).astype(int)
    fraud = np.flatnonzero(y)
    kind = rng.choice(['card_test', 'takeover', 'merchant', 'none'], size=fraud.size, p=[0.34, 0.33, 0.25, 0.08])
    weak = rng.random(fraud.size) < 0.2
    for i, k, w in zip(fraud, kind, weak):
        if k == 'card_test':
            c10[i] = rng.integers(5, 9) if w else rng.integers(8, 31)
            c1h[i] = c10[i] + rng.integers(0, 6)
            amount[i] = rng.uniform(1, 5)
            mean1h[i] = rng.uniform(1, 6)
            max1h[i] = mean1h[i] * rng.uniform(1.0, 2.0)
            std1h[i] = mean1h[i] * rng.uniform(0.05, 0.5)
            countries[i] = rng.integers(1, 3)
        elif k == 'takeover':
            base = mean1h[i] if mean1h[i] > 0 else usual[i]
            if mean1h[i] == 0:  # the thief made a first small purchase in the hour
                c1h[i] = max(c1h[i], 1.0)
                mean1h[i] = max1h[i] = base
            amount[i] = base * (rng.uniform(3, 6) if w else rng.uniform(5, 20))
            countries[i] = 2 if w else rng.integers(3, 7)
        elif k == 'merchant':
            m_c1m[i] = rng.integers(60, 301)
            m_users[i] = rng.integers(500, 3001)
            amount[i] = m_mean[i] * rng.uniform(1.2, 4.0)
        # 'none': a fraud row that carries no pattern (looks legitimate)

    raw = np.stack([amount, c10, c1h, mean1h, max1h, std1h, countries, m_c1m, m_mean, m_users], axis=1)
    return raw, y


def transform(raw):
    x = np.log1p(raw)
    x[:, 6] = raw[:, 6]     # countries_24h stays raw
    return x.astype(np.float32)


# ---------- ONNX export ----------

def fold_scaler(w_in_out, b, scaler):
    """W [in, out], b [out] that act on scaled inputs -> the same on unscaled inputs."""
    mu, sd = scaler.mean_, scaler.scale_
    w = w_in_out / sd[:, None]
    return w, b - (mu / sd) @ w_in_out


def layers_of_mlp(clf, scaler):
    """[(W [out, in], b [out], act)] in float64, the scaler folded into the first."""
    ws, bs = list(clf.coefs_), list(clf.intercepts_)
    ws[0], bs[0] = fold_scaler(ws[0], bs[0], scaler)
    layers = []
    for i, (w, b) in enumerate(zip(ws, bs)):
        act = 'Sigmoid' if i == len(ws) - 1 else 'Relu'
        layers.append((w.T, b, act))
    assert clf.activation == 'relu' and clf.out_activation_ == 'logistic'
    return layers


def layers_of_logreg(lr, scaler):
    w, b = fold_scaler(lr.coef_.T, lr.intercept_, scaler)
    return [(w.T, b, 'Sigmoid')]


def build_model(layers, name, doc):
    nodes, inits = [], []
    cur = 'features'
    for i, (w, b, act) in enumerate(layers, start=1):
        inits.append(numpy_helper.from_array(w.astype(np.float32), f'W{i}'))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f'B{i}'))
        h = f'h{i}'
        nodes.append(helper.make_node('Gemm', [cur, f'W{i}', f'B{i}'], [h], name=f'gemm{i}', transB=1))
        out = 'score' if i == len(layers) else f'a{i}'
        nodes.append(helper.make_node(act, [h], [out], name=f'{act.lower()}{i}'))
        cur = out
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info('features', TensorProto.FLOAT, ['batch', len(COLUMNS)])],
        [helper.make_tensor_value_info('score', TensorProto.FLOAT, ['batch', 1])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name='hotpath-train-fraud-model', doc_string=doc,
                              opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = IR_VERSION
    model.metadata_props.add(key='columns', value=','.join(COLUMNS))
    onnx.checker.check_model(model)
    return model


def run_onnx_numpy(model, x):
    """Evaluate the exported graph (Gemm/Relu/Sigmoid chain) in float32 numpy."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env = {'features': x.astype(np.float32)}
    for node in model.graph.node:
        if node.op_type == 'Gemm':
            a, w, b = (env.get(n, inits.get(n)) for n in node.input)
            assert {at.name: at.i for at in node.attribute}.get('transB') == 1
            env[node.output[0]] = (a @ w.T + b).astype(np.float32)
        elif node.op_type == 'Relu':
            env[node.output[0]] = np.maximum(env[node.input[0]], 0).astype(np.float32)
        elif node.op_type == 'Sigmoid':
            v = env[node.input[0]].astype(np.float64)
            env[node.output[0]] = (1.0 / (1.0 + np.exp(-v))).astype(np.float32)
        else:
            raise ValueError(node.op_type)
    return env['score']


def export(model, clf, scaler, x_test, y_test, rel_path):
    got = run_onnx_numpy(model, x_test)[:, 0].astype(np.float64)
    want = clf.predict_proba(scaler.transform(x_test))[:, 1]
    diff = float(np.max(np.abs(got - want)))
    if diff > 1e-5:
        sys.exit(f'{rel_path}: the ONNX graph differs from sklearn by {diff:.3g} (> 1e-5)')
    auc = roc_auc_score(y_test, want)
    path = os.path.join(ROOT, rel_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
    print(f'{rel_path}: AUC {auc:.4f} on {len(y_test)} held-out rows '
          f'({int(y_test.sum())} fraud), max |onnx - sklearn| {diff:.2e}, {os.path.getsize(path)} bytes')
    return auc


def main():
    raw, y = generate(N_ROWS, DATA_SEED)
    x = transform(raw)
    print(f'{len(y)} rows, {y.mean() * 100:.2f}% fraud')
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    xs_train = scaler.transform(x_train)

    for version, seed, hidden in ((1, 1, (16, 8)), (2, 2, (32, 16))):
        clf = MLPClassifier(hidden_layer_sizes=hidden, activation='relu', alpha=1e-4, max_iter=300,
                            early_stopping=True, n_iter_no_change=15, random_state=seed)
        clf.fit(xs_train, y_train)
        doc = f'hotpath demo card-fraud MLP {hidden} relu, seed {seed} (scripts/train-fraud-model.py)'
        model = build_model(layers_of_mlp(clf, scaler), f'fraud_v{version}', doc)
        export(model, clf, scaler, x_test, y_test, f'models/fraud/{version}/model.onnx')

    lr = LogisticRegression(max_iter=1000, C=1.0)
    lr.fit(xs_train, y_train)
    doc = 'hotpath demo card-fraud logistic regression, the fallback (scripts/train-fraud-model.py)'
    model = build_model(layers_of_logreg(lr, scaler), 'fraud_rules_v1', doc)
    export(model, lr, scaler, x_test, y_test, 'models/fraud_rules/1/model.onnx')


if __name__ == '__main__':
    main()
