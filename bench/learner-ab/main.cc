// bench/learner-ab/run.sh: times the base and the new LearnMany interleaved (see run.sh).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <vector>
extern "C" double run_old(int, int, int, const float*, const float*, int, int, float*, double*);
extern "C" double run_new(int, int, int, const float*, const float*, int, int, float*, double*);
int main(int argc, char** argv) {
  const int rows = 65536, dim = argc > 1 ? atoi(argv[1]) : 10, reps = argc > 2 ? atoi(argv[2]) : 31;
  std::vector<float> x(size_t(rows) * dim), y(rows), p(rows);
  uint32_t s = 0x9e3779b9;
  auto rnd = [&] { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s / 4294967296.0; };
  for (int r = 0; r < rows; r++) {
    double logit = 0.2;
    for (int i = 0; i < dim; i++) {
      double u = rnd() * 2 - 1;
      x[size_t(r) * dim + i] = float(5 * i + u * (i + 1));
      logit += (i % 3 == 0 ? 2 : i % 3 == 1 ? -1 : 0.5) * u;
    }
    y[r] = rnd() < 1 / (1 + std::exp(-3 * logit)) ? 1 : 0;
  }
  printf("dim %d, %d rows, %d reps interleaved; ns/row min / median (old -> new)\n", dim, rows, reps);
  for (int ftrl = 0; ftrl < 2; ftrl++)
    for (int scale = 1; scale >= 0; scale--)
      for (int wp = 0; wp < 2; wp++) {
        std::vector<double> a, b;
        double ca = 0, cb = 0;
        for (int k = 0; k < reps; k++) {
          a.push_back(run_old(ftrl, scale, wp, x.data(), y.data(), rows, dim, p.data(), &ca));
          b.push_back(run_new(ftrl, scale, wp, x.data(), y.data(), rows, dim, p.data(), &cb));
        }
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        printf("%-5s %-8s %-6s old %6.1f / %6.1f   new %6.1f / %6.1f   min ratio %.2fx  %s\n", ftrl ? "FTRL" : "SGD",
               scale ? "scaled" : "unscaled", wp ? "+p" : "no p", a[0], a[reps / 2], b[0], b[reps / 2], a[0] / b[0],
               ca == cb ? "same loss" : "LOSS DIFFERS");
      }
}
