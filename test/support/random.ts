// The seeded generator the randomized tests share (src/bench/random.ts, mulberry32).
export { mulberry32 } from '../../src/bench/random.js';
