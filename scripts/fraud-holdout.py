#!/usr/bin/env python3
"""Write the fraud models' labelled held-out set (the same 20,000 rows that
scripts/train-fraud-model.py scores: the same generator, seed and stratified split) as
raw little-endian files, for bench/int8.ts:

    python3 scripts/fraud-holdout.py OUT_DIR

writes OUT_DIR/x.f32 (rows x 10 float32, the model's input columns) and OUT_DIR/y.u8
(rows labels, 1 = fraud). Needs numpy and scikit-learn.
"""
import importlib.util
import os
import sys

from sklearn.model_selection import train_test_split

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('train', os.path.join(here, 'train-fraud-model.py'))
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)

out = sys.argv[1] if len(sys.argv) > 1 else 'fraud-holdout'
os.makedirs(out, exist_ok=True)
raw, y = train.generate(train.N_ROWS, train.DATA_SEED)
x = train.transform(raw)
_, x_test, _, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
x_test.astype('<f4').tofile(os.path.join(out, 'x.f32'))
y_test.astype('u1').tofile(os.path.join(out, 'y.u8'))
print(f'{out}: {len(y_test)} rows, {int(y_test.sum())} fraud')
