#!/usr/bin/env python3
"""Writes the seed corpus of the libFuzzer targets (native/fuzz/corpus/<target>/): a few
valid inputs in each target's input format (described at the top of each fuzz_*.cc), so
that the fuzzer starts from decodable rows, a gather spec that fits the store, and a model
that chains. Run it after changing a target's input format:
    python3 native/fuzz/make_corpus.py
The log and snapshot targets write their own seeds (formats only the C++ core writes):
    FUZZ_WAL_SEEDS=native/fuzz/corpus/wal build-fuzz/fuzz_wal
    FUZZ_SNAPSHOT_SEEDS=native/fuzz/corpus/snapshot build-fuzz/fuzz_snapshot
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
NOW = 1714564800000.0


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def str16(s):
    b = s.encode('utf-8')
    return struct.pack('<H', len(b)) + b


def f64(v):
    return struct.pack('<d', v)


# fuzz_event_rows: column bytes are bit 0 type (1 = str16), bits 1-6 uses: key user,
# key merchant, time, amount, country, user id.
KEY_USER, KEY_MERCHANT, TIME, AMOUNT, COUNTRY, USER_ID = (2 << i for i in range(6))


def rows_input(columns, events, step=0):
    head = bytes([len(columns) - 1]) + bytes(c for c, _ in columns) + bytes([len(events), step])
    body = b''
    for ev in events:
        for (col, kind), v in zip(columns, ev):
            body += str16(v) if col & 1 else f64(v)
    return head + body


cols = [(1 | KEY_USER | USER_ID, 's'), (1 | KEY_MERCHANT, 's'), (AMOUNT, 'n'), (1 | COUNTRY, 's'), (TIME, 'n')]
events = [(f'u{i % 3}', f'm{i % 2}', 10.5 * i, ['FR', 'DE', '42'][i % 3], NOW - 60000 * i) for i in range(6)]
write('event_rows', 'valid_strings', rows_input(cols, events))
write('event_rows', 'valid_late_rounds', rows_input(cols, events, step=3))
int_cols = [(KEY_USER | USER_ID, 'n'), (1 | KEY_MERCHANT, 's'), (AMOUNT, 'n'), (COUNTRY, 'n')]
write('event_rows', 'integer_ids', rows_input(int_cols, [(float(i), 'm1', 1.0, 33.0) for i in range(4)]))
write('event_rows', 'skip_column', rows_input(cols + [(1, 's')], [e + ('extra',) for e in events[:2]]))
one = bytearray(rows_input(cols, [events[0]]))
one[10:12] = b'\xff\xfe'  # the user id's bytes (after the 8-byte head and its u16 length): not UTF-8
write('event_rows', 'bad_utf8', bytes(one))

# fuzz_gather: keys, tables, fields, columns (source key offset field transform fill),
# batch, refs (u16 offset, u16 length) per row and key, fields per row, id blob.
def gather_input(tables, nfields, columns, refs, fields, blob):
    out = bytes([len(tables)]) + bytes(t + 1 for t in tables) + bytes([nfields, len(columns)])
    for src, key, off, field, tr, fill in columns:
        out += bytes([src, key + 1, off + 1, field + 1, tr]) + struct.pack('<f', fill)
    out += bytes([len(refs)])
    for row in refs:
        for o, n in row:
            out += struct.pack('<HH', o, n)
    for row in fields:
        out += b''.join(struct.pack('<f', v) for v in row)
    return out + blob


blob = b'u0u1u2m0m1nobody'
write('gather', 'two_keys', gather_input([0, 1], 1, [(0, 0, 0, 0, 1, 0.0), (0, 1, 0, 0, 0, -1.0), (1, 0, 0, 0, 1, 0.0)],
                                         [[(0, 2), (6, 2)], [(2, 2), (8, 2)], [(10, 6), (6, 2)]], [[5.0], [-1.0], [1e30]], blob))
write('gather', 'one_key_all_offsets', gather_input([0], 0, [(0, 0, i, 0, i % 2, 0.5) for i in range(12)], [[(0, 2)], [(4, 2)]], [[], []], blob))

# fuzz_model: in, max batch, layer count, per layer kind act in out fudge bias, floats.
def model_input(in_dim, max_batch, layers, floats, batch):
    out = bytes([in_dim + 1, max_batch + 1, len(layers)])
    for kind, act, i, o in layers:
        out += bytes([kind, act, i, o + 1, 1, 2])
    out += b''.join(struct.pack('<f', v) for v in floats)
    return out + bytes([batch])


weights = [((i * 37) % 11 - 5) / 5.0 for i in range(64)]
write('model', 'dense_relu_softmax', model_input(4, 2, [(0, 1, 4, 3), (1, 2, 0, 0), (0, 0, 3, 2), (2, 0, 0, 0)], weights, 5))
write('model', 'one_dense_tanh', model_input(3, 4, [(0, 3, 3, 1)], weights, 7))
