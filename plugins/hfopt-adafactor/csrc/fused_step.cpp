// Fused Adafactor step (hfopt-adafactor, `Adafactor(fused=True)`), built when the plugin is installed.
//
// Registers the custom op `hfopt_adafactor::fused_step_` (schema below) with a CPU kernel. Like
// torch's `_fused_adamw_`, every call receives the current parameter, gradient and state tensors,
// checks them all before writing anything, and keeps nothing between calls: no address outlives
// the call that was given it. A CUDA kernel would be registered beside the CPU one with
// `TORCH_LIBRARY_IMPL(hfopt_adafactor, CUDA, m)` (none is provided yet).
//
// Per tensor i: params[i] (fp32, bf16 or fp16, contiguous), grads[i] (the parameter's dtype or
// fp32, contiguous), exp_avg_sqs[i] (fp32: the row moment `p.shape[:-1]` when factored, else the
// full moment `p.shape`), and, for the factored ones in order, exp_avg_sq_cols (fp32,
// `p.shape[:-2] + p.shape[-1:]`); exp_avgs empty (no beta1) or one fp32 tensor per parameter.
// `steps[i]` is the step count after the increment, `positions[i]` the parameter's position in the
// optimizer (it seeds stochastic rounding). `hyper`: eps1, eps2, clip_threshold, decay_rate, beta1
// (< 0: none), weight_decay, scale_parameter, relative_step, warmup_init, lr. Returns a fresh fp32
// tensor of the n values RMS(p) before the update.
//
// All math is fp32 with reductions in double. A large tensor is read in two passes (statistics,
// including what RMS(update) needs; then the update), a small one (in cache) in three. Large
// tensors are split over threads by rows, a cache-sized wave of them at a time; small tensors are
// spread over the threads one tensor each.
#include <Python.h>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

// The hot loops are compiled for AVX-512, AVX2 and baseline x86-64, picked at load time by the
// CPU (GCC function multi-versioning), so the build runs on any x86-64 machine it is copied to.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11
#define HFOPT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HFOPT_CLONES
#endif

namespace {

using at::Tensor;

struct Hyper {
  double eps1, eps2, clip, decay_rate, beta1, wd, lr;
  bool scale_parameter, relative_step, warmup_init, first_moment, stochastic;
  uint64_t seed;
};

// One tensor's job: raw addresses valid for this call only.
template <typename P, typename G>
struct Job {
  P* p;
  const G* g;
  float *row, *col, *m, *rms_out;  // row: exp_avg_sq when not factored; col, m: null when absent
  int64_t batch, rows, cols, step;
  bool factored;
  uint32_t noise_key;
  int64_t numel() const { return batch * rows * cols; }
};

// ---- element access: fp32 math, parameters stored back with rounding ----------------------
inline float ld(float x) { return x; }
inline float ld(c10::BFloat16 x) {  // the bf16 bits are the top half of an fp32
  uint32_t bits = static_cast<uint32_t>(x.x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
inline float ld(c10::Half x) { return static_cast<float>(x); }

inline uint32_t mix32(uint32_t x) {  // a 32-bit integer hash (lowbias32)
  x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
  return x;
}

// Storing an fp32 result into the parameter. SR (bf16 only): stochastic rounding, adding 16
// random bits (a hash of the tensor's key and the element's index) to the fp32 bit pattern and
// truncating (unbiased); otherwise round to nearest even, as torch's conversions. inf stays inf,
// NaN stays NaN; a finite value rounded past bf16's largest becomes inf.
template <bool SR>
inline void st(float* p, int64_t, float x, uint32_t) { *p = x; }
template <bool SR>
inline void st(c10::Half* p, int64_t, float x, uint32_t) { *p = c10::Half(x); }
template <bool SR>
inline void st(c10::BFloat16* p, int64_t j, float x, uint32_t key) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const uint32_t add = SR ? (mix32(key ^ (static_cast<uint32_t>(j) * 0x9E3779B9U)) & 0xFFFFU)
                          : 0x7FFFU + ((bits >> 16) & 1U);
  const bool nan = (bits & 0x7FFFFFFFU) > 0x7F800000U;
  p->x = nan ? static_cast<uint16_t>((bits >> 16) | 0x40U) : static_cast<uint16_t>((bits + add) >> 16);
}

double rho_of(const Hyper& h, int64_t step) {
  if (!h.relative_step) return h.lr;
  double min_step = h.warmup_init ? 1e-6 * static_cast<double>(step) : 1e-2;
  double inv = 1.0 / std::sqrt(static_cast<double>(step));
  return min_step < inv ? min_step : inv;
}

// lr_t = rho_t * max(eps2, RMS(p)); k = lr_t / max(1, RMS(u) / clip_threshold); RMS(p) stored.
template <typename J>
void coefficients(const Hyper& h, const J& t, double psq, double usq, double* lr_t, double* k) {
  double numel = static_cast<double>(t.numel());
  double rms_p = std::sqrt(psq / numel);
  double rho = rho_of(h, t.step);
  double lr = h.scale_parameter ? rho * (rms_p > h.eps2 ? rms_p : h.eps2) : rho;
  double clip = std::sqrt(usq / numel) / h.clip;
  if (!(clip > 1.0)) clip = std::isnan(clip) ? clip : 1.0;  // NaN propagates, as in torch
  *lr_t = lr;
  *k = lr / clip;
  *t.rms_out = static_cast<float>(rms_p);
}

// p <- p - decay * p - u over one contiguous run, u = rk * g * c[j] (factored) or rk * g
template <bool SR, typename P, typename G>
inline void apply_run(const Hyper& h, P* p, const G* g, float* m, const float* c, double rk, int64_t n,
                      double decay, int64_t offset, uint32_t key) {
  const float fk = static_cast<float>(rk), fdecay = static_cast<float>(decay);
  const float b1 = static_cast<float>(h.beta1), ob1 = static_cast<float>(1.0 - h.beta1);
  if (m) {
    for (int64_t j = 0; j < n; j++) {
      float u = ld(g[j]) * (c ? c[j] : 1.0f) * fk;
      float mm = b1 * m[j] + ob1 * u;
      m[j] = mm;
      float pj = ld(p[j]);
      st<SR>(p + j, offset + j, pj - fdecay * pj - mm, key);
    }
  } else if (c) {
    #pragma omp simd
    for (int64_t j = 0; j < n; j++) {
      float pj = ld(p[j]);
      st<SR>(p + j, offset + j, pj - fdecay * pj - ld(g[j]) * c[j] * fk, key);
    }
  } else {
    #pragma omp simd
    for (int64_t j = 0; j < n; j++) {
      float pj = ld(p[j]);
      st<SR>(p + j, offset + j, pj - fdecay * pj - ld(g[j]) * fk, key);
    }
  }
}

inline double beta2_of(const Hyper& h, int64_t step) {
  return 1.0 - std::pow(static_cast<double>(step), h.decay_rate);
}

// ---- small tensors: one thread each ---------------------------------------------------------
template <bool SR, typename P, typename G>
HFOPT_CLONES void dense_small(const Hyper& h, const Job<P, G>& t) {
  const int64_t n = t.cols;
  const double beta2 = beta2_of(h, t.step);
  const float fb = static_cast<float>(beta2), fa = static_cast<float>(1.0 - beta2), e1 = static_cast<float>(h.eps1);
  float* v = t.row;
  double psq = 0.0, usq = 0.0;
  #pragma omp simd reduction(+:psq, usq)
  for (int64_t j = 0; j < n; j++) {
    float gj = ld(t.g[j]), pj = ld(t.p[j]);
    float vj = fb * v[j] + fa * (gj * gj + e1);
    v[j] = vj;
    psq += static_cast<double>(pj * pj);  // products and quotients in fp32, sums in double
    usq += static_cast<double>(gj * gj / vj);
  }
  double lr, k;
  coefficients(h, t, psq, usq, &lr, &k);
  const float fk = static_cast<float>(k), fdecay = static_cast<float>(h.wd * lr);
  const float b1 = static_cast<float>(h.beta1), ob1 = static_cast<float>(1.0 - h.beta1);
  for (int64_t j = 0; j < n; j++) {
    float u = ld(t.g[j]) / std::sqrt(v[j]) * fk;
    if (t.m) { u = b1 * t.m[j] + ob1 * u; t.m[j] = u; }
    float pj = ld(t.p[j]);
    st<SR>(t.p + j, j, pj - fdecay * pj - u, t.noise_key);
  }
}

// scratch: C doubles, B*R floats, B*C floats
template <bool SR, typename P, typename G>
HFOPT_CLONES void factored_small(const Hyper& h, const Job<P, G>& t, double* colacc, float* r, float* c) {
  const int64_t B = t.batch, R = t.rows, C = t.cols;
  const double beta2 = beta2_of(h, t.step);
  double psq = 0.0, usq = 0.0;
  for (int64_t b = 0; b < B; b++) {
    const G* g = t.g + b * R * C;
    const P* p = t.p + b * R * C;
    float *row = t.row + b * R, *col = t.col + b * C;
    for (int64_t j = 0; j < C; j++) colacc[j] = 0.0;
    double rowsum = 0.0;
    for (int64_t i = 0; i < R; i++) {
      const G* gi = g + i * C;
      const P* pi = p + i * C;
      double rs = 0.0, ps = 0.0;
      #pragma omp simd reduction(+:rs, ps)
      for (int64_t j = 0; j < C; j++) {
        float gj = ld(gi[j]), pj = ld(pi[j]);
        double s = static_cast<double>(gj) * gj + h.eps1;
        rs += s;
        colacc[j] += s;
        ps += static_cast<double>(pj) * pj;
      }
      psq += ps;
      row[i] = static_cast<float>(beta2 * row[i] + (1.0 - beta2) * (rs / static_cast<double>(C)));
      rowsum += row[i];
    }
    const double rowmean = rowsum / static_cast<double>(R);
    float *rb = r + b * R, *cb = c + b * C;
    for (int64_t i = 0; i < R; i++) rb[i] = static_cast<float>(1.0 / std::sqrt(row[i] / rowmean));
    for (int64_t j = 0; j < C; j++) {
      col[j] = static_cast<float>(beta2 * col[j] + (1.0 - beta2) * (colacc[j] / static_cast<double>(R)));
      cb[j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(col[j])));
    }
    for (int64_t i = 0; i < R; i++) {
      const G* gi = g + i * C;
      double s = 0.0;
      #pragma omp simd reduction(+:s)
      for (int64_t j = 0; j < C; j++) {
        double w = static_cast<double>(ld(gi[j])) * cb[j];
        s += w * w;
      }
      usq += s * static_cast<double>(rb[i]) * rb[i];
    }
  }
  double lr, k;
  coefficients(h, t, psq, usq, &lr, &k);
  const double decay = h.wd * lr;
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < R; i++) {
      const int64_t off = (b * R + i) * C;
      apply_run<SR>(h, t.p + off, t.g + off, t.m ? t.m + off : nullptr, c + b * C, k * r[b * R + i], C, decay, off,
                t.noise_key);
    }
}

// ---- large tensors, in waves ------------------------------------------------------------------
// A wave is a run of large tensors holding up to kWaveBytes of parameter and gradient (small
// enough to stay in the last-level cache between its passes); its work items are blocks of
// about kItemElems elements (whole rows for factored tensors), shared by the threads.
constexpr int64_t kWaveBytes = int64_t{64} << 20;
constexpr int64_t kItemElems = 32768;
constexpr int64_t kLarge = int64_t{1} << 16;  // tensors with at least this many elements are "large"

struct WaveInfo {
  int64_t rows_per_item = 1, items = 0, first_item = 0, acc_offset = 0, factor_offset = 0;
  double beta2 = 0.0, lr = 0.0, k = 0.0, decay = 0.0, usq = 0.0;
};

int64_t find_tensor(const std::vector<WaveInfo>& w, int64_t first, int64_t count, int64_t item) {
  int64_t lo = first, hi = first + count - 1;
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (w[mid].first_item <= item) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Everything a run of waves needs, sized (and allocated) before any tensor is written.
struct Scratch {
  int nthreads = 1;
  int64_t acc_width = 1, max_cols = 1, factor_width = 1;
  std::vector<double> colacc;  // per thread: 2 * acc_width (sums of g^2 + eps1, of g^2 / R_i)
  std::vector<double> psq, usq;  // per thread: one per tensor of the wave
  std::vector<float> fac;      // per thread: 2 * max_cols
  std::vector<float> factors;  // the wave's rsqrt row and column factors
};

template <bool SR, typename P, typename G>
HFOPT_CLONES void pass1_range(const Hyper& h, std::vector<Job<P, G>>& jobs, std::vector<WaveInfo>& w, int64_t first,
                              int64_t count, Scratch& s, int64_t begin, int64_t end) {
  const int64_t acc_width = s.acc_width, max_cols = s.max_cols;
  const float e1 = static_cast<float>(h.eps1);
  const int th = at::get_thread_num();
  double* acc = s.colacc.data() + static_cast<size_t>(th) * 2 * acc_width;
  double* accw = acc + acc_width;
  double* my_psq = s.psq.data() + static_cast<size_t>(th) * count;
  double* my_usq = s.usq.data() + static_cast<size_t>(th) * count;
  float* fac = s.fac.data() + static_cast<size_t>(th) * 2 * max_cols;
  float* facw = fac + max_cols;
  for (int64_t item = begin; item < end; item++) {
    const int64_t i = find_tensor(w, first, count, item);
    WaveInfo& wt = w[i];
    Job<P, G>& t = jobs[i];
    const int64_t local = item - wt.first_item;
    if (!t.factored) {
      const int64_t lo = local * kItemElems, hi = std::min(lo + kItemElems, t.cols);
      const float fb = static_cast<float>(wt.beta2), fa = static_cast<float>(1.0 - wt.beta2);
      double ps = 0.0, us = 0.0;
      #pragma omp simd reduction(+:ps, us)
      for (int64_t j = lo; j < hi; j++) {
        float gj = ld(t.g[j]), pj = ld(t.p[j]);
        float vj = fb * t.row[j] + fa * (gj * gj + e1);
        t.row[j] = vj;
        ps += static_cast<double>(pj * pj);  // products and quotients in fp32, sums in double
        us += static_cast<double>(gj * gj / vj);
      }
      my_psq[i - first] += ps;
      my_usq[i - first] += us;
      continue;
    }
    const int64_t C = t.cols, R = t.rows, BR = t.batch * R;
    const int64_t lo = local * wt.rows_per_item, hi = std::min(lo + wt.rows_per_item, BR);
    int64_t batch = lo / R;
    for (int64_t j = 0; j < C; j++) { fac[j] = 0.0f; facw[j] = 0.0f; }
    double ps_total = 0.0;
    for (int64_t bi = lo; bi < hi; bi++) {
      if (bi / R != batch) {  // a 3-D+ tensor's block crossed into the next slice
        double *ac = acc + wt.acc_offset + batch * C, *aw = accw + wt.acc_offset + batch * C;
        for (int64_t j = 0; j < C; j++) { ac[j] += fac[j]; fac[j] = 0.0f; aw[j] += facw[j]; facw[j] = 0.0f; }
        batch = bi / R;
      }
      if (bi + 4 <= hi && (bi + 3) / R == batch) {  // four rows at a time: fewer partial-sum updates
        const G *g0 = t.g + bi * C, *g1 = g0 + C, *g2 = g1 + C, *g3 = g2 + C;
        const P *p0 = t.p + bi * C, *p1 = p0 + C, *p2 = p1 + C, *p3 = p2 + C;
        float r0 = 0.0f, r1 = 0.0f, r2 = 0.0f, r3 = 0.0f, ps = 0.0f;
        #pragma omp simd reduction(+:r0, r1, r2, r3, ps)
        for (int64_t j = 0; j < C; j++) {
          float a0 = ld(g0[j]), a1 = ld(g1[j]), a2 = ld(g2[j]), a3 = ld(g3[j]);
          float q0 = ld(p0[j]), q1 = ld(p1[j]), q2 = ld(p2[j]), q3 = ld(p3[j]);
          float s0 = a0 * a0 + e1, s1 = a1 * a1 + e1, s2 = a2 * a2 + e1, s3 = a3 * a3 + e1;
          r0 += s0; r1 += s1; r2 += s2; r3 += s3;
          fac[j] += (s0 + s1) + (s2 + s3);
          ps += (q0 * q0 + q1 * q1) + (q2 * q2 + q3 * q3);
        }
        ps_total += ps;
        float inv[4];
        const float sums[4] = {r0, r1, r2, r3};
        for (int q = 0; q < 4; q++) {
          float row = static_cast<float>(wt.beta2 * t.row[bi + q] +
                                         (1.0 - wt.beta2) * (static_cast<double>(sums[q]) / static_cast<double>(C)));
          t.row[bi + q] = row;
          inv[q] = 1.0f / row;
        }
        const float i0 = inv[0], i1 = inv[1], i2 = inv[2], i3 = inv[3];
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) {  // the same rows, from L1
          float a0 = ld(g0[j]), a1 = ld(g1[j]), a2 = ld(g2[j]), a3 = ld(g3[j]);
          facw[j] += (a0 * a0 * i0 + a1 * a1 * i1) + (a2 * a2 * i2 + a3 * a3 * i3);
        }
        bi += 3;
        continue;
      }
      const G* gi = t.g + bi * C;
      const P* pi = t.p + bi * C;
      float rs = 0.0f, ps = 0.0f;
      #pragma omp simd reduction(+:rs, ps)
      for (int64_t j = 0; j < C; j++) {
        float a = ld(gi[j]), q = ld(pi[j]);
        float sq = a * a + e1;
        rs += sq;
        fac[j] += sq;
        ps += q * q;
      }
      ps_total += ps;
      float row = static_cast<float>(wt.beta2 * t.row[bi] +
                                     (1.0 - wt.beta2) * (static_cast<double>(rs) / static_cast<double>(C)));
      t.row[bi] = row;
      const float inv = 1.0f / row;
      #pragma omp simd
      for (int64_t j = 0; j < C; j++) { float a = ld(gi[j]); facw[j] += a * a * inv; }
    }
    double *ac = acc + wt.acc_offset + batch * C, *aw = accw + wt.acc_offset + batch * C;
    for (int64_t j = 0; j < C; j++) { ac[j] += fac[j]; aw[j] += facw[j]; }
    my_psq[i - first] += ps_total;
  }
}

template <bool SR, typename P, typename G>
HFOPT_CLONES void pass2_range(const Hyper& h, const std::vector<Job<P, G>>& jobs, const std::vector<WaveInfo>& w,
                              int64_t first, int64_t count, const Scratch& s, int64_t begin, int64_t end) {
  for (int64_t item = begin; item < end; item++) {
    const int64_t i = find_tensor(w, first, count, item);
    const WaveInfo& wt = w[i];
    const Job<P, G>& t = jobs[i];
    const int64_t local = item - wt.first_item;
    if (!t.factored) {
      const int64_t lo = local * kItemElems, hi = std::min(lo + kItemElems, t.cols);
      const float fk = static_cast<float>(wt.k), fdecay = static_cast<float>(wt.decay);
      const float b1 = static_cast<float>(h.beta1), ob1 = static_cast<float>(1.0 - h.beta1);
      if (t.m) {
        for (int64_t j = lo; j < hi; j++) {
          float mm = b1 * t.m[j] + ob1 * (ld(t.g[j]) / std::sqrt(t.row[j]) * fk);
          t.m[j] = mm;
          float pj = ld(t.p[j]);
          st<SR>(t.p + j, j, pj - fdecay * pj - mm, t.noise_key);
        }
      } else {
        #pragma omp simd
        for (int64_t j = lo; j < hi; j++) {
          float pj = ld(t.p[j]);
          st<SR>(t.p + j, j, pj - fdecay * pj - ld(t.g[j]) / std::sqrt(t.row[j]) * fk, t.noise_key);
        }
      }
      continue;
    }
    const int64_t C = t.cols, R = t.rows, BR = t.batch * R;
    const int64_t lo = local * wt.rows_per_item, hi = std::min(lo + wt.rows_per_item, BR);
    const float* rf = s.factors.data() + wt.factor_offset;
    const float* cf = rf + t.batch * R;
    for (int64_t bi = lo; bi < hi; bi++) {
      const int64_t off = bi * C;
      if (!t.m && wt.decay == 0.0 && bi + 1 < hi && (bi + 1) / R == bi / R) {  // two rows, factors loaded once
        const float* cc = cf + (bi / R) * C;
        const G *g0 = t.g + off, *g1 = g0 + C;
        P *p0 = t.p + off, *p1 = p0 + C;
        const float k0 = static_cast<float>(wt.k * rf[bi]), k1 = static_cast<float>(wt.k * rf[bi + 1]);
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) {
          const float cj = cc[j];
          st<SR>(p0 + j, off + j, ld(p0[j]) - ld(g0[j]) * cj * k0, t.noise_key);
          st<SR>(p1 + j, off + C + j, ld(p1[j]) - ld(g1[j]) * cj * k1, t.noise_key);
        }
        bi++;
        continue;
      }
      apply_run<SR>(h, t.p + off, t.g + off, t.m ? t.m + off : nullptr, cf + (bi / R) * C, wt.k * rf[bi], C, wt.decay,
                off, t.noise_key);
    }
  }
}

template <bool SR, typename P, typename G>
void wave(const Hyper& h, std::vector<Job<P, G>>& jobs, std::vector<WaveInfo>& w, int64_t first, int64_t count,
          Scratch& s) {
  const int nthreads = s.nthreads;
  const int64_t acc_width = s.acc_width;
  int64_t items = 0;
  for (int64_t i = first; i < first + count; i++) {
    w[i].first_item = items;
    items += w[i].items;
  }
  std::fill(s.colacc.begin(), s.colacc.end(), 0.0);
  std::fill(s.psq.begin(), s.psq.end(), 0.0);
  std::fill(s.usq.begin(), s.usq.end(), 0.0);

  // pass 1: new row moments (factored) / second moment (dense); per-column partial sums of
  // g^2 + eps1 and of g^2 / R_i; sum p^2 and, for dense tensors, sum g^2 / V. RMS(update)
  // follows: sum_ij (g_ij r_i c_j)^2 = mean(R) * sum_j (sum_i g_ij^2 / R_i) / C_j.
  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    pass1_range<SR>(h, jobs, w, first, count, s, begin, end);
  });

  // between the passes: column moments and the rsqrt factors (a tensor per thread)
  at::parallel_for(first, first + count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      WaveInfo& wt = w[i];
      Job<P, G>& t = jobs[i];
      if (!t.factored) continue;
      const int64_t B = t.batch, R = t.rows, C = t.cols;
      float* rf = s.factors.data() + wt.factor_offset;
      float* cf = rf + B * R;
      double us = 0.0;
      for (int64_t b = 0; b < B; b++) {
        double rowsum = 0.0;
        for (int64_t r = 0; r < R; r++) rowsum += t.row[b * R + r];
        const double rowmean = rowsum / static_cast<double>(R);
        for (int64_t r = 0; r < R; r++) rf[b * R + r] = static_cast<float>(1.0 / std::sqrt(t.row[b * R + r] / rowmean));
        double weighted = 0.0;
        for (int64_t j = 0; j < C; j++) {
          double sum = 0.0, sumw = 0.0;
          for (int x = 0; x < nthreads; x++) {
            const double* base = s.colacc.data() + static_cast<size_t>(x) * 2 * acc_width + wt.acc_offset + b * C + j;
            sum += base[0];
            sumw += base[acc_width];
          }
          float* cj = t.col + b * C + j;
          *cj = static_cast<float>(wt.beta2 * *cj + (1.0 - wt.beta2) * (sum / static_cast<double>(R)));
          cf[b * C + j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(*cj)));
          weighted += sumw / static_cast<double>(*cj);
        }
        us += rowmean * weighted;
      }
      wt.usq = us;
    }
  });

  for (int64_t i = first; i < first + count; i++) {
    double ps = 0.0, us = 0.0;
    for (int x = 0; x < nthreads; x++) {
      ps += s.psq[static_cast<size_t>(x) * count + (i - first)];
      us += s.usq[static_cast<size_t>(x) * count + (i - first)];
    }
    if (jobs[i].factored) us = w[i].usq;
    coefficients(h, jobs[i], ps, us, &w[i].lr, &w[i].k);
    w[i].decay = h.wd * w[i].lr;
  }

  // pass 2: the update
  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    pass2_range<SR>(h, jobs, w, first, count, s, begin, end);
  });
}

uint32_t noise_key(const Hyper& h, int64_t step, int64_t position) {
  if (!h.stochastic) return 0;
  uint64_t x = h.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ULL +
               static_cast<uint64_t>(position) * 0x94D049BB133111EBULL;
  x ^= x >> 31; x *= 0xD6E8FEB86659FD93ULL; x ^= x >> 32;
  uint32_t key = static_cast<uint32_t>(x);
  return key == 0 ? 1U : key;  // 0 means "round to nearest"
}

template <typename P, typename G, bool SR>
void run_typed(const Hyper& h, at::TensorList params, at::TensorList grads, at::TensorList sqs, at::TensorList cols,
               at::TensorList exp_avgs, at::IntArrayRef steps, at::IntArrayRef positions, float* rms) {
  const int64_t n = static_cast<int64_t>(params.size());
  std::vector<Job<P, G>> jobs(n);
  std::vector<int64_t> large, small;
  int64_t next_col = 0;
  for (int64_t i = 0; i < n; i++) {
    const Tensor& p = params[i];
    Job<P, G>& t = jobs[i];
    t.p = p.data_ptr<P>();
    t.g = grads[i].data_ptr<G>();
    t.row = sqs[i].data_ptr<float>();
    t.factored = sqs[i].dim() == p.dim() - 1;
    t.col = t.factored ? cols[next_col++].data_ptr<float>() : nullptr;
    t.m = h.first_moment ? exp_avgs[i].data_ptr<float>() : nullptr;
    t.rms_out = rms + i;
    t.step = steps[i];
    t.noise_key = SR ? noise_key(h, steps[i], positions[i]) : 0;
    if (t.factored) {
      int64_t batch = 1;
      for (int64_t d = 0; d < p.dim() - 2; d++) batch *= p.size(d);
      t.batch = batch; t.rows = p.size(-2); t.cols = p.size(-1);
    } else {
      t.batch = 1; t.rows = 1; t.cols = p.numel();
    }
    if (t.numel() == 0) {  // nothing to update: RMS(p) of an empty tensor is NaN, as in torch
      rms[i] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    (t.numel() >= kLarge ? large : small).push_back(i);
  }

  // Plan the waves and size every buffer first: nothing is written until all is allocated.
  Scratch s;
  s.nthreads = std::max(1, at::get_num_threads());
  std::vector<std::pair<int64_t, int64_t>> waves;  // (first, count) into `order`
  std::vector<Job<P, G>> ordered;
  std::vector<WaveInfo> ordered_w;
  int64_t max_count = 1, bytes = 0, acc = 0, factors = 0, wave_first = 0;
  for (int64_t idx = 0; idx < static_cast<int64_t>(large.size()); idx++) {
    Job<P, G>& t = jobs[large[idx]];
    const int64_t numel = t.numel();
    const int64_t count = idx - wave_first;
    if (count > 0 && bytes + static_cast<int64_t>(sizeof(P) + sizeof(G)) * numel > kWaveBytes) {
      waves.emplace_back(wave_first, count);
      max_count = std::max(max_count, count);
      s.acc_width = std::max(s.acc_width, acc);
      s.factor_width = std::max(s.factor_width, factors);
      wave_first = idx; bytes = 0; acc = 0; factors = 0;
    }
    WaveInfo info;
    const int64_t rows = t.factored ? t.batch * t.rows : (t.cols + kItemElems - 1) / kItemElems;
    info.rows_per_item = t.factored ? std::max<int64_t>(1, (kItemElems + t.cols - 1) / t.cols) : 1;
    info.items = (rows + info.rows_per_item - 1) / info.rows_per_item;
    info.beta2 = beta2_of(h, t.step);
    if (t.factored) {
      info.acc_offset = acc;
      info.factor_offset = factors;
      acc += t.batch * t.cols;
      factors += t.batch * (t.rows + t.cols);
      s.max_cols = std::max(s.max_cols, t.cols);
    }
    ordered.push_back(t);
    ordered_w.push_back(info);
    bytes += static_cast<int64_t>(sizeof(P) + sizeof(G)) * numel;
  }
  if (!large.empty()) {
    const int64_t count = static_cast<int64_t>(large.size()) - wave_first;
    waves.emplace_back(wave_first, count);
    max_count = std::max(max_count, count);
    s.acc_width = std::max(s.acc_width, acc);
    s.factor_width = std::max(s.factor_width, factors);
  }
  int64_t small_scratch = 1;  // per thread: C doubles, then B*R + B*C floats
  for (int64_t i : small) {
    const Job<P, G>& t = jobs[i];
    if (t.factored) small_scratch = std::max(small_scratch, t.cols + (t.batch * (t.rows + t.cols) + 1) / 2 + 1);
  }
  std::vector<double> small_buffer;
  if (!large.empty()) {
    s.colacc.assign(static_cast<size_t>(s.nthreads) * 2 * s.acc_width, 0.0);
    s.psq.assign(static_cast<size_t>(s.nthreads) * max_count, 0.0);
    s.usq.assign(static_cast<size_t>(s.nthreads) * max_count, 0.0);
    s.fac.assign(static_cast<size_t>(s.nthreads) * 2 * s.max_cols, 0.0f);
    s.factors.assign(static_cast<size_t>(s.factor_width), 0.0f);
  }
  if (!small.empty()) small_buffer.assign(static_cast<size_t>(s.nthreads) * small_scratch, 0.0);

  for (const auto& [first, count] : waves) wave<SR>(h, ordered, ordered_w, first, count, s);

  at::parallel_for(0, static_cast<int64_t>(small.size()), 8, [&](int64_t begin, int64_t end) {
    double* colacc = small_buffer.data() + static_cast<size_t>(at::get_thread_num()) * small_scratch;
    for (int64_t k = begin; k < end; k++) {
      const Job<P, G>& t = jobs[small[k]];
      if (!t.factored) { dense_small<SR>(h, t); continue; }
      float* r = reinterpret_cast<float*>(colacc + t.cols);
      factored_small<SR>(h, t, colacc, r, r + t.batch * t.rows);
    }
  });
}

// ---- the op: every argument checked before anything is written --------------------------------
void check_tensor(const Tensor& t, const char* what, int64_t i, at::ScalarType dtype, at::IntArrayRef shape) {
  TORCH_CHECK(t.defined(), "hfopt_adafactor::fused_step_: ", what, "[", i, "] is undefined");
  TORCH_CHECK(t.device().is_cpu(), "hfopt_adafactor::fused_step_: ", what, "[", i, "] is on ", t.device(),
              "; this kernel runs on the CPU only");
  TORCH_CHECK(t.scalar_type() == dtype, "hfopt_adafactor::fused_step_: ", what, "[", i, "] has dtype ",
              t.scalar_type(), ", expected ", dtype);
  TORCH_CHECK(t.sizes() == shape, "hfopt_adafactor::fused_step_: ", what, "[", i, "] has shape ", t.sizes(),
              ", expected ", shape);
  TORCH_CHECK(t.is_contiguous(), "hfopt_adafactor::fused_step_: ", what, "[", i, "] is not contiguous");
}

Tensor fused_step_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avg_sqs,
                      at::TensorList exp_avg_sq_cols, at::TensorList exp_avgs, at::IntArrayRef steps,
                      at::IntArrayRef positions, at::ArrayRef<double> hyper, bool stochastic_rounding, int64_t seed) {
  const int64_t n = static_cast<int64_t>(params.size());
  TORCH_CHECK(static_cast<int64_t>(grads.size()) == n && static_cast<int64_t>(exp_avg_sqs.size()) == n &&
                  static_cast<int64_t>(steps.size()) == n && static_cast<int64_t>(positions.size()) == n,
              "hfopt_adafactor::fused_step_: params, grads, exp_avg_sqs, steps and positions must have the same "
              "length, got ", n, ", ", grads.size(), ", ", exp_avg_sqs.size(), ", ", steps.size(), ", ",
              positions.size());
  TORCH_CHECK(exp_avgs.empty() || static_cast<int64_t>(exp_avgs.size()) == n,
              "hfopt_adafactor::fused_step_: exp_avgs must be empty (no beta1) or one per parameter, got ",
              exp_avgs.size(), " for ", n, " parameters");
  TORCH_CHECK(hyper.size() == 10, "hfopt_adafactor::fused_step_: hyper must hold 10 values, got ", hyper.size());
  Hyper h;
  h.eps1 = hyper[0]; h.eps2 = hyper[1]; h.clip = hyper[2]; h.decay_rate = hyper[3]; h.beta1 = hyper[4];
  h.wd = hyper[5]; h.scale_parameter = hyper[6] != 0.0; h.relative_step = hyper[7] != 0.0;
  h.warmup_init = hyper[8] != 0.0; h.lr = hyper[9];
  h.first_moment = !exp_avgs.empty();
  h.stochastic = stochastic_rounding;
  h.seed = static_cast<uint64_t>(seed);
  TORCH_CHECK(std::isfinite(h.eps1) && h.eps1 >= 0 && std::isfinite(h.eps2) && h.eps2 >= 0 && std::isfinite(h.clip) &&
                  h.clip > 0 && std::isfinite(h.decay_rate) && h.decay_rate < 0 && std::isfinite(h.wd) && h.wd >= 0 &&
                  std::isfinite(h.lr) && h.lr >= 0 && (!h.first_moment || (h.beta1 >= 0 && h.beta1 < 1)),
              "hfopt_adafactor::fused_step_: invalid hyperparameters (eps1, eps2, clip_threshold, decay_rate, beta1, "
              "weight_decay, ..., lr) = ", hyper);

  at::ScalarType dtype = n > 0 ? params[0].scalar_type() : at::kFloat;
  at::ScalarType grad_dtype = n > 0 ? grads[0].scalar_type() : at::kFloat;
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kHalf,
              "hfopt_adafactor::fused_step_: parameters must be float32, bfloat16 or float16, got ", dtype);
  TORCH_CHECK(grad_dtype == dtype || grad_dtype == at::kFloat,
              "hfopt_adafactor::fused_step_: gradients must have the parameters' dtype or float32, got ", grad_dtype,
              " for ", dtype, " parameters");
  int64_t factored = 0;
  for (int64_t i = 0; i < n; i++) {
    const Tensor& p = params[i];
    TORCH_CHECK(p.defined(), "hfopt_adafactor::fused_step_: params[", i, "] is undefined");
    check_tensor(p, "params", i, dtype, p.sizes());
    check_tensor(grads[i], "grads", i, grad_dtype, p.sizes());
    TORCH_CHECK(steps[i] >= 1, "hfopt_adafactor::fused_step_: steps[", i, "] = ", steps[i], " must be >= 1");
    const Tensor& sq = exp_avg_sqs[i];
    TORCH_CHECK(sq.defined(), "hfopt_adafactor::fused_step_: exp_avg_sqs[", i, "] is undefined");
    if (p.dim() >= 2 && sq.dim() == p.dim() - 1) {
      check_tensor(sq, "exp_avg_sqs (row)", i, at::kFloat, p.sizes().slice(0, p.dim() - 1));
      TORCH_CHECK(factored < static_cast<int64_t>(exp_avg_sq_cols.size()),
                  "hfopt_adafactor::fused_step_: exp_avg_sq_cols has ", exp_avg_sq_cols.size(),
                  " tensors, fewer than the factored parameters");
      std::vector<int64_t> col_shape(p.sizes().begin(), p.sizes().end() - 2);
      col_shape.push_back(p.size(-1));
      check_tensor(exp_avg_sq_cols[factored], "exp_avg_sq_cols", factored, at::kFloat, col_shape);
      factored++;
    } else {
      check_tensor(sq, "exp_avg_sqs", i, at::kFloat, p.sizes());
    }
    if (h.first_moment) check_tensor(exp_avgs[i], "exp_avgs", i, at::kFloat, p.sizes());
  }
  TORCH_CHECK(factored == static_cast<int64_t>(exp_avg_sq_cols.size()), "hfopt_adafactor::fused_step_: ",
              exp_avg_sq_cols.size(), " exp_avg_sq_cols for ", factored, " factored parameters");

  Tensor rms = at::empty({n}, at::TensorOptions().dtype(at::kFloat));
  float* out = rms.data_ptr<float>();
  if (dtype == at::kFloat) {
    run_typed<float, float, false>(h, params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, out);
  } else if (dtype == at::kBFloat16) {
    const bool sr = h.stochastic;
    if (grad_dtype == at::kFloat)
      (sr ? run_typed<c10::BFloat16, float, true> : run_typed<c10::BFloat16, float, false>)(
          h, params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, out);
    else
      (sr ? run_typed<c10::BFloat16, c10::BFloat16, true> : run_typed<c10::BFloat16, c10::BFloat16, false>)(
          h, params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, out);
  } else {
    if (grad_dtype == at::kFloat)
      run_typed<c10::Half, float, false>(h, params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, out);
    else
      run_typed<c10::Half, c10::Half, false>(h, params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, out);
  }
  return rms;
}

}  // namespace

TORCH_LIBRARY(hfopt_adafactor, m) {
  m.def(
      "fused_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avg_sqs, Tensor(c!)[] exp_avg_sq_cols, "
      "Tensor(d!)[] exp_avgs, int[] steps, int[] positions, float[] hyper, bool stochastic_rounding, int seed) "
      "-> Tensor");
}

TORCH_LIBRARY_IMPL(hfopt_adafactor, CPU, m) {
  m.impl("fused_step_", &fused_step_cpu);
}

// A Python module to import (`hfopt_adafactor._C`): importing it registers the op above.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "hfopt_adafactor::fused_step_ (CPU)", -1,
                                      nullptr};
  return PyModule_Create(&module);
}
