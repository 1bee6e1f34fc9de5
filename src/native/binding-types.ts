// The raw shape of the addon, as native/binding/*.cc define it: what binding.ts (the one
// loader) gets from require(). Types only; everything else imports from binding.ts.
import type { GatherSourceName, GatherTransformName, LayerKindName, LearnerOptimizerName } from './binding.js';

/** The raw shape of the addon, as native/binding/*.cc define it (wraps.h lists the files). */
export namespace Binding {
  export interface FeatureSpec {
    name: string;
    agg: number;
    stream: number;
    field: number;
    windowMs: number;
    tileMs: number;
    param: number;
  }
  export interface TableSpec {
    name: string;
    ttlMs: number;
    memoryBytes: number;
    shards: number;
    /** transparent huge pages for the table's regions of 2 MiB and more (absent: true); config store.huge_pages */
    hugePages?: boolean;
    /** ring slots of a compact row (absent or -1: picked; 0: rows in wire form); config entities.<name>.compact_slots */
    compactSlots?: number;
    features: FeatureSpec[];
  }
  export interface StreamSpec {
    name: string;
    fields: number;
    latenessMs: number;
    tables: number[];
  }
  export interface StoreSpec {
    tables: TableSpec[];
    streams: StreamSpec[];
    maxFutureMs: number;
  }
  export interface TableStats {
    live: number;
    capacity: number;
    /** bytes of a row in its wire form (snapshots, exportRows/importRows) */
    rowBytes: number;
    /** bytes of a row in memory (the compact form; a promoted row adds an ext block of rowBytes) */
    memRowBytes: number;
    /** live rows promoted to an ext block (their state in wire form) */
    promoted: number;
    /** compact row + index share + the live rows' share of the ext blocks in use */
    bytesPerEntity: number;
    /** index + compact rows used + ext blocks used */
    allocatedBytes: number;
    evictedTtl: number;
    evictedLru: number;
    updates: number;
    watermarkMs: number;
  }
  export interface Layout {
    width: number;
    /** bytes of one entity's row (what exportRows/importRows move per key) */
    rowBytes: number;
    offsets: number[];
    widths: number[];
  }
  export type KeyColumn = string[] | BigUint64Array;
  export interface NativeStore {
    readonly id: number;
    readonly writable: boolean;
    /** with wal: the applied batch's log record is written at wal[walAt..] (native/core/wal_record.h) */
    ingest(stream: number, keys: KeyColumn[], ts: Float64Array, values: Float64Array, nowMs: number, wal?: Uint8Array, walAt?: number, seq?: number): [number, number];
    ingestRows(
      stream: number, frame: Uint8Array, offset: number, n: number, plan: Int32Array, nowMs: number, out: Float64Array,
      wal?: Uint8Array, walAt?: number, seq?: number,
    ): number;
    decodeRows(stream: number, frame: Uint8Array, offset: number, n: number, plan: Int32Array, nowMs: number, keys: BigUint64Array, ts: Float64Array, values: Float64Array, out: Float64Array): number;
    read(table: number, id: string | bigint, nowMs: number, out: Float64Array): number;
    /** read, then the answer's JSON text by program (native/binding/feature_json.h) at text[8..], the age at text[0..8]: bytes written, or minus the bytes text needs */
    readJson(table: number, id: string, nowMs: number, program: Uint8Array, text: Uint8Array): number;
    /** readJson's program checked and kept for the table: a handle for readJsonTo */
    jsonProgram(table: number, program: Uint8Array): number;
    /** the text buffer readJsonTo writes (8-byte aligned), kept until the next call; with clock, readJsonTo writes its start and end */
    jsonText(text: Uint8Array, clock: boolean): void;
    /** readJson by a kept program into the kept text: [age, start, end] float64s, the text from byte 24 */
    readJsonTo(program: number, id: string, nowMs: number): number;
    /** readJsonTo as a plain function bound to this store (no `this` to unwrap per call; it holds the store) */
    readJsonToFn(): (program: number, id: string, nowMs: number) => number;
    /** read as a plain function bound to this store (no `this` to unwrap per call; it holds the store) */
    readFn(): (table: number, id: string | bigint, nowMs: number, out: Float64Array) => number;
    /** CLOCK_MONOTONIC, ms: the clock of readJsonTo's start and end */
    clock(): number;
    contains(table: number, id: string | bigint): boolean;
    readMany(table: number, ids: KeyColumn, nowMs: number, out: Float64Array, ages: Float64Array): number;
    layout(table: number): Layout;
    exportRows(table: number, keys: BigUint64Array, out: Uint8Array, found: Uint8Array): number;
    importRows(table: number, keys: BigUint64Array, rows: Uint8Array, nowMs: number, result: Uint8Array): number;
    stats(table: number): TableStats;
    sweep(nowMs: number, maxRowsPerTable: number): number;
    /** the cut is now; the file is written and fsynced on the thread pool (native/core/snapshot.h) */
    snapshot(path: string): Promise<SnapshotStats>;
    /** into an empty store; ingest and sweeps are refused until it settles */
    restore(path: string): Promise<RestoreStats>;
  }
  export interface SnapshotStats {
    bytes: number;
    rows: number;
    live: number;
    blocks: number;
    /** rows the writer copied aside because it changed them before they were written out */
    writerCopies: number;
    /** the writer's longest time in one copy-aside (its only cost while a snapshot is written) */
    maxStallUs: number;
    writeMs: number;
  }
  export interface RestoreStats {
    bytes: number;
    rows: number;
    live: number;
    blocks: number;
    ms: number;
  }
  export interface CudaInfo {
    compiled: boolean;
    devices: number;
    name: string;
    error: string;
  }
  /** native/core/constants.h, as the addon exports it (addon.cc Constants). */
  export interface Constants {
    aggs: Record<string, number>;
    /** per aggregate: whether it reads a field, and whether it takes a window (HP_AGG_LIST) */
    aggFlags: Record<string, { field: boolean; windowed: boolean }>;
    acts: Record<string, number>;
    /** NativeModel layer kinds (LayerKind) */
    layerKinds: Record<LayerKindName, number>;
    /** Gather column sources and transforms (GatherSource, GatherTransform) */
    gatherSources: Record<GatherSourceName, number>;
    gatherTransforms: Record<GatherTransformName, number>;
    statuses: string[];
    /** what a column of a binary events frame feeds (RowRole) */
    rowRoles: { skip: number; key: number; time: number; number: number; category: number };
    /** why ingestRows refused the rows, by the number it returns (RowError; 0 is OK) */
    rowErrors: string[];
    /** value types of a binary events frame's columns */
    rowTypes: { f64: number; str16: number };
    /** FeatureStore.readJson's program ops (native/binding/feature_json.h) */
    featureJson: { lit: number; at: number; id: number; found: number; age: number; value: number; list: number };
    limits: {
      maxIdBytes: number;
      maxTilesPerWindow: number;
      maxLastN: number;
      minHllPrecision: number;
      maxHllPrecision: number;
      maxFeaturesPerTable: number;
      /** entity keys per stream */
      maxKeyColumns: number;
      /** times passed to the store (now, event times): |t| <= 2^53 ms */
      maxTimeMs: number;
      /** the largest event time an event may carry (the largest a JavaScript Date holds) */
      maxEventTimeMs: number;
    };
    /** the version of a store row's byte layout; snapshots carry it (constants.h kRowLayoutVersion) */
    rowLayoutVersion: number;
    /** the write-ahead log record (native/core/wal_record.h); reads: walRead's answers by number */
    wal: { headerBytes: number; batchHeaderBytes: number; reads: string[] };
    /** the streaming detectors' kinds and limits (native/core/constants.h) */
    detectors: DetectorConstants;
    /** the co-visitation table's limits and answer sources (native/core/constants.h kCovisit*) */
    covisit: CovisitConstants;
    /** the online learners (native/core/learner.h; constants.h HP_LEARNER_OPT_LIST and kLearner*) */
    learner: {
      optimizers: Record<LearnerOptimizerName, number>;
      maxDim: number;
      maxHashBits: number;
      /** |input| above is refused */
      maxValue: number;
      blobVersion: number;
    };
    /** embedding top-k (native/core/embedding.h; constants.h kEmbedding*) */
    embedding: {
      maxK: number;
      maxDim: number;
      /** the fast path re-ranks max(rerankFactor * k, rerankMin) candidates */
      rerankFactor: number;
      rerankMin: number;
      /** the most candidates a request may ask to re-rank (TopkOptions.candidates) */
      maxCandidates: number;
    };
  }
  export interface LayerSpec {
    kind: number; // constants.layerKinds
    inDim?: number;
    outDim?: number;
    w?: Float32Array | null;
    b?: Float32Array | null;
    act?: number;
  }
  export interface ModelSpec {
    inDim: number;
    maxBatch: number;
    device: 'cpu' | 'cuda';
    /**
     * int8: per-channel int8 weights, per-row int8 activations, int32 accumulation (CPU only);
     * fp16, bf16: 16-bit weights and layer inputs, fp32 accumulation (CUDA only); default fp32
     */
    precision?: Precision;
    /** device cuda: capture a CUDA graph per batch bucket (default true) */
    cudaGraphs?: boolean;
    /** device cuda: a forward not done by then is a lost device (default 2000) */
    syncTimeoutMs?: number;
    /** device cuda: device memory left free; a model that needs more is refused (default 256) */
    reserveMiB?: number;
    layers: LayerSpec[];
  }
  export type Precision = 'fp32' | 'int8' | 'fp16' | 'bf16';
  export interface CudaModelInfo {
    /** matrix products in cuBLASLt (else the project's kernels; cublasLtWhy says why) */
    cublaslt: boolean;
    cublasLtWhy: string;
    /** batch buckets with a captured CUDA graph, of buckets */
    graphs: number;
    buckets: number;
    deviceBytes: number;
  }
  export interface NativeModel {
    readonly inDim: number;
    readonly outDim: number;
    /** the device answering now: cuda until a device failure, then cpu */
    readonly device: 'cpu' | 'cuda';
    /** why the device was given up, or null */
    readonly deviceLost: string | null;
    readonly cuda: CudaModelInfo | null;
    forward(x: Float32Array, batch: number, y: Float32Array): void;
    /** the next device forward fails as on a lost device; false on a cpu model */
    injectDeviceFault(): boolean;
  }
  export interface GatherColumn {
    source: number; // constants.gatherSources
    key: number;
    offset: number;
    field: number;
    transform: number; // constants.gatherTransforms
    fill: number;
  }
  export interface GatherSpec {
    tables: number[];
    fields: number;
    columns: GatherColumn[];
  }
  export interface Gather {
    run(ids: Uint8Array, refs: Uint32Array, fields: Float32Array, batch: number, nowMs: number, x: Float32Array): void;
  }
  /** Streaming detectors (native/binding/detector_wrap.cc; core drift.h and anomaly.h). */
  export interface DetectorConstants {
    /** kind name -> code (HP_DETECTOR_KIND_LIST) */
    kinds: Record<string, number>;
    blobVersion: number;
    limits: { maxDims: number; maxHstTrees: number; maxHstHeight: number; maxWindow: number; maxEntities: number };
  }
  export interface AdwinParams { delta: number; clock: number; maxBuckets: number; minWindowLength: number; gracePeriod: number }
  /** mode: 0 both, 1 up, 2 down */
  export interface PageHinkleyParams { minInstances: number; delta: number; threshold: number; alpha: number; mode: number }
  export interface HstParams { nTrees: number; height: number; windowSize: number; dims: number; lo: Float64Array; hi: Float64Array; seed: number }
  export interface RobustZParams { window: number; minCount: number }
  export interface EwParams { alpha: number; warmup: number }
  export interface LikelihoodParams {
    alpha: number; zScale: number; minHistory: number; averaging: number; history: number;
    learning: number; estimation: number; reestimation: number; tolerance: number;
  }
  export interface DriftStats { drift: boolean; detections: number; refused: number; width: number; estimation: number }
  export interface NativeDriftDetector {
    update(x: number): boolean;
    /** index of the first drift in xs[0, n), or -1 */
    updateMany(xs: Float64Array, n: number): number;
    reset(): void;
    stats(): DriftStats;
    serialize(): Uint8Array;
    deserialize(bytes: Uint8Array): void;
  }
  export interface NativeAnomalyDetector {
    readonly dims: number;
    readonly seen: number;
    /** one-feature detectors only */
    scoreLearn(x: number): number;
    score(x: number): number;
    /** xs: n x dims, row-major; out: n scores */
    scoreLearnMany(xs: Float64Array, n: number, out: Float64Array): void;
    scoreMany(xs: Float64Array, n: number, out: Float64Array): void;
    serialize(): Uint8Array;
    deserialize(bytes: Uint8Array): void;
  }
  export interface AnomalyTableStats { live: number; capacity: number; refused: number; bytes: number }
  export interface NativeAnomalyTable {
    /** returns the points refused because the table was full (their score is NaN) */
    scoreLearnMany(keys: KeyColumn, x: Float64Array, n: number, out: Float64Array): number;
    scoreMany(keys: KeyColumn, x: Float64Array, n: number, out: Float64Array): void;
    stats(): AnomalyTableStats;
    clear(): void;
    serialize(): Uint8Array;
    deserialize(bytes: Uint8Array): void;
  }
  /** native/binding/learner_wrap.cc; every field but dim has a default there too */
  export interface LearnerSpec {
    dim: number;
    hashBits: number;
    optimizer: number; // constants.learner.optimizers
    scale: boolean;
    lr: number;
    l1: number;
    l2: number;
    alpha: number;
    beta: number;
    interceptLr: number;
    clip: number;
  }
  export interface Learner {
    /** P(y = 1); NaN when an input is refused */
    predict(dense: Float64Array | null, hIdx?: Uint32Array | null, hVal?: Float32Array | null, nh?: number): number;
    predictMany(x: Float32Array, rows: number, out: Float32Array): void;
    /** out <- [loss, clipped (0 | 1)] */
    learn(dense: Float64Array | null, y: number, hIdx: Uint32Array | null, hVal: Float32Array | null, nh: number, out: Float64Array): void;
    /** out <- [lossSum, clipped, refused] */
    learnMany(x: Float32Array, y: Float32Array | Float64Array, rows: number, out: Float64Array, p?: Float32Array): void;
    /** out <- [lossSum, clipped, refused, skipped labels]; returns the rows learned or refused */
    learnColumns(values: Float64Array, nFields: number, n: number, cols: Int32Array, log1p: Uint8Array, labelField: number, out: Float64Array, p: Float32Array, y: Float32Array): number;
    hashIndex(field: string, value?: string): number;
    reset(): void;
    copyFrom(other: Learner): void;
    serialize(): Uint8Array;
    deserialize(bytes: Uint8Array): void;
    exportLinear(): { w: Float32Array; b: number };
    stats(): { updates: number; clipped: number; refused: number };
  }
  /** native/binding/covisit_wrap.cc; core covisit.h */
  export interface CovisitParams {
    maxItems: number;
    maxUsers: number;
    neighbours: number;
    window: number;
    halfLifeMs: number;
    symmetric: boolean;
  }
  export interface CovisitStats { items: number; users: number; updates: number; pairs: number; refused: number; evictedUsers: number; rescales: number; bytes: number }
  export interface NativeCovisit {
    update(users: KeyColumn, items: Float64Array, categories: Float64Array | null, ts: Float64Array, n: number): void;
    /** returns the count written to the outputs */
    recommend(
      history: Float64Array, nHistory: number, exclude: Float64Array, nExclude: number, category: number, k: number,
      nowMs: number, recency: number, popularFill: boolean, outItems: Float64Array, outScores: Float64Array, outSource: Uint8Array,
    ): number;
    pairWeight(a: number, b: number, nowMs: number): number;
    popularity(a: number, nowMs: number): number;
    userItems(user: string, out: Float64Array): number;
    stats(): CovisitStats;
    clear(): void;
    serialize(): Uint8Array;
    deserialize(bytes: Uint8Array): void;
  }
  export interface CovisitConstants {
    maxNeighbours: number;
    maxWindow: number;
    maxHistory: number;
    maxK: number;
    maxItems: number;
    maxUsers: number;
    topPopular: number;
    blobVersion: number;
    sources: { covisit: number; popular: number };
  }
  /** native/binding/embedding_wrap.cc; flags: 1 exact, 2 cuda, 4 portable loop */
  export interface EmbeddingIndex {
    readonly count: number;
    readonly dim: number;
    topk(
      query: Float32Array, k: number, outRows: Int32Array, outScores: Float32Array, exclude: Int32Array | null,
      allowed: Uint8Array | null, categories: Uint16Array | null, category: number, flags: number, candidates: number,
    ): number;
    topkAsync(
      query: Float32Array, k: number, exclude: Int32Array | null, allowed: Uint8Array | null, categories: Uint16Array | null,
      category: number, flags: number, candidates: number, done: (err: Error | null, rows: Int32Array, scores: Float32Array) => void,
    ): void;
    row(i: number, out: Float32Array): void;
    enableCuda(): void;
    release(): void;
  }
  export interface Addon {
    Covisit: new (params: CovisitParams) => NativeCovisit;
    FeatureStore: new (specOrId: StoreSpec | number) => NativeStore;
    NativeModel: new (spec: ModelSpec) => NativeModel;
    Gather: new (storeId: number, spec: GatherSpec) => Gather;
    DriftDetector: new (kind: number, params: Partial<AdwinParams & PageHinkleyParams>) => NativeDriftDetector;
    AnomalyDetector: new (kind: number, params: Partial<HstParams & RobustZParams & EwParams & LikelihoodParams>) => NativeAnomalyDetector;
    AnomalyTable: new (kind: number, params: Partial<RobustZParams & EwParams>, maxEntities: number) => NativeAnomalyTable;
    Learner: new (spec: LearnerSpec) => Learner;
    EmbeddingIndex: new (...args: [path: string] | [matrix: Float32Array, count: number, dim: number]) => EmbeddingIndex;
    constants: Constants;
    hashIds(ids: string[]): BigUint64Array;
    denseForward(
      x: Float32Array, w: Float32Array, bias: Float32Array | null, batch: number, inDim: number,
      outDim: number, act: number, backend: 'cpu' | 'cuda', y: Float32Array,
    ): void;
    backends(): { cpu: true; cuda: CudaInfo };
    walRead(buf: Uint8Array, offset: number, out: Float64Array): number;
    crc32c(buf: Uint8Array, crc?: number): number;
    reserveFile(fd: number, offset: number, length: number): number;
  }
}

