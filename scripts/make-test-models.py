#!/usr/bin/python3
"""Write the small ONNX test models in test/fixtures/models/.

Each model has random weights from a fixed seed, one float32 input `x` [batch, D] and one
float32 output `y` [batch, K]. They exercise the ONNX reader and the native-plan compiler
(src/runtime/onnx-graph.ts): Gemm with transB 0 and 1, alpha/beta, a bias of shape [K]
and [1, K], Gemm without C, MatMul + Add, Relu/Sigmoid/Tanh/Softmax, and one model with
an op the native runtime does not support (LeakyRelu).

Weights are float32 initializers; gemm_notrans_tanh stores them as float_data, the rest
as raw_data, so the reader is tested on both.

Opset 13, IR version 8 (loads in onnxruntime-node 1.30). Needs only numpy and onnx:

    /usr/bin/python3 scripts/make-test-models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'models')
OPSET = 13
IR_VERSION = 8


def tensor(name, arr, float_data=False):
    arr = np.asarray(arr, dtype=np.float32)
    if float_data:
        return helper.make_tensor(name, TensorProto.FLOAT, list(arr.shape), arr.flatten().tolist(), raw=False)
    return numpy_helper.from_array(arr, name)


def save(name, nodes, inits, d, k):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', d])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['batch', k])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name='hotpath-make-test-models',
                              opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path = os.path.join(OUT_DIR, name + '.onnx')
    onnx.save(model, path)
    print(f'{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes')


def rnd(rng, *shape):
    return rng.normal(0.0, 0.6, size=shape).astype(np.float32)


def gemm_relu_sigmoid():
    rng = np.random.default_rng(101)
    inits = [tensor('W1', rnd(rng, 16, 7)), tensor('B1', rnd(rng, 16)),
             tensor('W2', rnd(rng, 1, 16)), tensor('B2', rnd(rng, 1))]
    nodes = [
        helper.make_node('Gemm', ['x', 'W1', 'B1'], ['h1'], name='gemm1', transB=1),
        helper.make_node('Relu', ['h1'], ['a1'], name='relu1'),
        helper.make_node('Gemm', ['a1', 'W2', 'B2'], ['h2'], name='gemm2', transB=1),
        helper.make_node('Sigmoid', ['h2'], ['y'], name='sigmoid'),
    ]
    save('gemm_relu_sigmoid', nodes, inits, 7, 1)


def gemm_notrans_tanh():
    rng = np.random.default_rng(202)
    # transB=0: B is [in, out]. C of the first Gemm is [K], of the second [1, K].
    inits = [tensor('W1', rnd(rng, 5, 8), True), tensor('C1', rnd(rng, 8), True),
             tensor('W2', rnd(rng, 3, 8), True), tensor('C2', rnd(rng, 1, 3), True)]
    nodes = [
        helper.make_node('Gemm', ['x', 'W1', 'C1'], ['h1'], name='gemm1', transB=0, alpha=0.7, beta=1.3),
        helper.make_node('Tanh', ['h1'], ['a1'], name='tanh1'),
        helper.make_node('Gemm', ['a1', 'W2', 'C2'], ['y'], name='gemm2', transB=1),
    ]
    save('gemm_notrans_tanh', nodes, inits, 5, 3)


def matmul_add_softmax():
    rng = np.random.default_rng(303)
    inits = [tensor('W1', rnd(rng, 6, 12)), tensor('B1', rnd(rng, 12)),
             tensor('W2', rnd(rng, 12, 4)), tensor('B2', rnd(rng, 4))]
    nodes = [
        helper.make_node('MatMul', ['x', 'W1'], ['m1'], name='matmul1'),
        helper.make_node('Add', ['m1', 'B1'], ['h1'], name='add1'),
        helper.make_node('Relu', ['h1'], ['a1'], name='relu1'),
        helper.make_node('MatMul', ['a1', 'W2'], ['m2'], name='matmul2'),
        helper.make_node('Add', ['m2', 'B2'], ['h2'], name='add2'),
        helper.make_node('Softmax', ['h2'], ['y'], name='softmax', axis=-1),
    ]
    save('matmul_add_softmax', nodes, inits, 6, 4)


def gemm_nobias_chain():
    rng = np.random.default_rng(404)
    w1, w2, b2, w3 = rnd(rng, 4, 4), rnd(rng, 4, 4), rnd(rng, 4), rnd(rng, 2, 4)
    # B3 centres the last pre-activation on N(0, 1.5) inputs, so the final Relu passes about
    # half the values (a Relu that outputs only zeros would make a useless test).
    probe = rng.normal(0.0, 1.5, size=(4096, 4))
    h2 = np.tanh((1.0 / (1.0 + np.exp(-(probe @ w1.T)))) @ w2.T + b2)
    b3 = -np.median(h2 @ w3.T, axis=0)
    inits = [tensor('W1', w1),
             tensor('W2', w2), tensor('B2', b2),
             tensor('W3', w3), tensor('B3', b3)]
    nodes = [
        helper.make_node('Gemm', ['x', 'W1'], ['h1'], name='gemm1', transB=1),
        helper.make_node('Sigmoid', ['h1'], ['a1'], name='sigmoid1'),
        helper.make_node('Gemm', ['a1', 'W2', 'B2'], ['h2'], name='gemm2', transB=1),
        helper.make_node('Tanh', ['h2'], ['a2'], name='tanh2'),
        helper.make_node('Gemm', ['a2', 'W3', 'B3'], ['h3'], name='gemm3', transB=1),
        helper.make_node('Relu', ['h3'], ['y'], name='relu3'),
    ]
    save('gemm_nobias_chain', nodes, inits, 4, 2)


def unsupported_leakyrelu():
    rng = np.random.default_rng(505)
    inits = [tensor('W1', rnd(rng, 4, 5)), tensor('B1', rnd(rng, 4)),
             tensor('W2', rnd(rng, 1, 4)), tensor('B2', rnd(rng, 1))]
    nodes = [
        helper.make_node('Gemm', ['x', 'W1', 'B1'], ['h1'], name='gemm1', transB=1),
        helper.make_node('LeakyRelu', ['h1'], ['a1'], name='leaky1', alpha=0.1),
        helper.make_node('Gemm', ['a1', 'W2', 'B2'], ['y'], name='gemm2', transB=1),
    ]
    save('unsupported_leakyrelu', nodes, inits, 5, 1)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gemm_relu_sigmoid()
    gemm_notrans_tanh()
    matmul_add_softmax()
    gemm_nobias_chain()
    unsupported_leakyrelu()


if __name__ == '__main__':
    main()
