// The best candidate on NAB (standard 62.05, low FP 55.08, low FN 66.94; RCF: 51.7), written
// down so that it can be ported to native exactly. Three stages per row, each computed
// from the past only; every constant below is the shipped default, one set for the corpus.
//
// 1. Raw score, exponentially weighted z (ew-z.ts), alpha = 0.001, zScale = 3, minHistory = 10.
//    State: n (rows seen), m (mean), v (variance), all 0 at start.
//      sd = sqrt(v);  z = sd > 0 ? |x - m| / sd : 0
//      r  = n >= 10 ? 1 - 2·Q(z / 3) : 0           Q(u) = ½·erfc(u / √2)
//      then learn x:  a = n == 0 ? 1 : max(alpha, 1 / (n + 1));  d = x - m
//                     m += a·d;  v = (1 - a)·(v + a·d²);  n += 1
//    (a = 1/(n+1) first makes m, v the plain mean and population variance until n = 1000.)
//
// 2. Anomaly likelihood (likelihood.ts), nupic's defaults: averaging = 10, history = 8640,
//    learning = 288, estimation = 100, reestimation = 100. Row index i from 0.
//      A_i = mean of the last min(10, i + 1) raw scores r (including r_i); keep A in a ring of 8640
//      if i < 388: L = 0.5
//      else: if no fit yet or i % 100 == 0: fit over A_k, k in [max(288, i + 1 - 8640), i]:
//              μ = max(mean, 0.03);  σ = sqrt(max(population variance, 0.0003))
//            t = Q(|A_i - μ| / σ);  t_raw = t
//            if t <= 1e-5 and t_raw of row i-1 <= 1e-5: t = 1e-3     (the red-zone filter:
//              a second alarm in a row is demoted; t_raw of rows before 388 counts as 1)
//            L = 1 - t
//      s = ln(1.0000000001 - L) / ln(1e-10)          (0.0301 while L = 0.5; 1 at L = 1 - 1e-10)
//
// 3. Spatial rule (spatial.ts), tolerance 0.05: with lo, hi the min and max of all earlier
//    values (none before row 0), if lo != hi and (x > hi + 0.05·(hi - lo) or x < lo - 0.05·(hi - lo))
//    the output is 1, else s; then lo = min(lo, x), hi = max(hi, x).
//
// The NAB threshold (chosen by the sweep over the whole corpus, per profile) was 0.5156
// for standard; a deployment would fix a threshold near it (≈ L ≥ 1 - 10^-5.2).
import type { StreamDetector } from '../run.js';
import { EwZ } from './ew-z.js';
import { Likelihood } from './likelihood.js';
import { Spatial } from './spatial.js';

export const ewLikelihood = (alpha = 0.001, zScale = 3): StreamDetector => new Spatial(new Likelihood(new EwZ(alpha, zScale)), 0.05);
