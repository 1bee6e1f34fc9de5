// Compiled twice by run.sh: against the base learner (namespace renamed) and the working tree's.
#include <chrono>
#include <memory>
#include "learner.h"
using namespace hotpath;
// ns per row of one pass over rows (batches of 4096, fresh learner state)
extern "C" double FN(int ftrl, int scale, int withp, const float* x, const float* y, int rows, int dim, float* p, double* check) {
  LearnerSpec s;
  s.dim = dim;
  s.optimizer = ftrl ? LearnerOpt::FTRL : LearnerOpt::SGD;
  s.scale = scale;
  static std::unique_ptr<Learner> l[2][2];
  auto& L = l[ftrl][scale];
  if (!L || L->spec().dim != dim) Learner::Create(s, &L);
  L->Reset();
  auto t0 = std::chrono::steady_clock::now();
  double sum = 0;
  for (int lo = 0; lo < rows; lo += 4096) {
    int n = std::min(4096, rows - lo);
    LearnManyOutcome o;
    L->LearnMany(x + size_t(lo) * dim, y + lo, nullptr, n, &o, withp ? p + lo : nullptr);
    sum += o.loss_sum;
  }
  auto t1 = std::chrono::steady_clock::now();
  *check = sum;
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / rows;
}
