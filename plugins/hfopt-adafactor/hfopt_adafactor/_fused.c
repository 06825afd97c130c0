/* Fused Adafactor step for fp32 CPU tensors (hfopt-adafactor, fused=True).
 *
 * One call updates a list of tensors of one parameter group. Each tensor is read and written in
 * three passes (statistics, RMS of the update, the update itself) instead of the eight or so
 * elementwise kernels of the per-op path; reductions accumulate in double. Large tensors are
 * split over threads by rows; small tensors are spread over threads one tensor each, so
 * thousands of distinct small matrices cost one call.
 *
 * Per tensor i, the int64 rows of `desc` (DESC_WIDTH values each) are:
 *   p, g, row (or exp_avg_sq), col (or 0), exp_avg (or 0), rms_out  -- addresses of fp32 data
 *   batch, rows, cols, factored, step
 * A non-factored tensor has batch = rows = 1 and cols = numel.
 * `hp`: eps1, eps2, clip_threshold, decay_rate, beta1 (< 0: none), weight_decay,
 *       scale_parameter, relative_step, warmup_init, lr.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define DESC_WIDTH 11

typedef struct {
    float *p, *g, *row, *col, *m, *rms_out;
    int64_t batch, rows, cols, factored, step;
} tensor_t;

typedef struct {
    double eps1, eps2, clip, decay_rate, beta1, wd;
    int scale_parameter, relative_step, warmup_init;
    double lr;
} hparams_t;

static tensor_t unpack(const int64_t *d) {
    tensor_t t;
    t.p = (float *)(intptr_t)d[0]; t.g = (float *)(intptr_t)d[1];
    t.row = (float *)(intptr_t)d[2]; t.col = (float *)(intptr_t)d[3];
    t.m = (float *)(intptr_t)d[4]; t.rms_out = (float *)(intptr_t)d[5];
    t.batch = d[6]; t.rows = d[7]; t.cols = d[8]; t.factored = d[9]; t.step = d[10];
    return t;
}

static double rho_of(const hparams_t *h, int64_t step) {
    if (!h->relative_step) return h->lr;
    double min_step = h->warmup_init ? 1e-6 * (double)step : 1e-2;
    double inv = 1.0 / sqrt((double)step);
    return min_step < inv ? min_step : inv;
}

/* lr_t and the final coefficient k = lr_t / max(1, RMS(u) / clip) */
static void coefficients(const hparams_t *h, const tensor_t *t, double psq, double usq, double numel,
                         double *lr_t, double *k) {
    double rms_p = sqrt(psq / numel);
    double rho = rho_of(h, t->step);
    double lr = h->scale_parameter ? rho * (rms_p > h->eps2 ? rms_p : h->eps2) : rho;
    double clip = sqrt(usq / numel) / h->clip;
    if (!(clip > 1.0)) clip = (clip != clip) ? clip : 1.0;  /* NaN propagates as in torch */
    *lr_t = lr;
    *k = lr / clip;
    *t->rms_out = (float)rms_p;
}

/* p <- p - wd*lr*p - u over one contiguous run, u = k * g * a[j] * b (factored) */
static inline void apply_run(const hparams_t *h, float *p, const float *g, float *m, const float *c,
                             double rk, int64_t n, double decay) {
    float fk = (float)rk, fdecay = (float)decay;
    if (m) {
        float b1 = (float)h->beta1, ob1 = (float)(1.0 - h->beta1);
        if (c) {
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) {
                float u = g[j] * c[j] * fk;
                float mm = b1 * m[j] + ob1 * u;
                m[j] = mm;
                p[j] = p[j] - fdecay * p[j] - mm;
            }
        }
        else {
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) {
                float u = g[j] * fk;
                float mm = b1 * m[j] + ob1 * u;
                m[j] = mm;
                p[j] = p[j] - fdecay * p[j] - mm;
            }
        }
    } else if (c) {
        if (decay != 0.0) {
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) p[j] = p[j] - fdecay * p[j] - g[j] * c[j] * fk;
        } else {
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) p[j] -= g[j] * c[j] * fk;
        }
    } else {
        if (decay != 0.0) {
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) p[j] = p[j] - fdecay * p[j] - g[j] * fk;
        } else {
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) p[j] -= g[j] * fk;
        }
    }
}

/* ---- non-factored: exp_avg_sq in t->row ------------------------------------------------- */
static void dense_small(const hparams_t *h, const tensor_t *t) {
    int64_t n = t->cols;
    float *p = t->p, *g = t->g, *v = t->row;
    double beta2 = 1.0 - pow((double)t->step, h->decay_rate);
    float fb = (float)beta2, fa = (float)(1.0 - beta2), e1 = (float)h->eps1;
    double psq = 0.0, usq = 0.0;
    #pragma omp simd reduction(+:psq, usq)
    for (int64_t j = 0; j < n; j++) {
        float gj = g[j];
        float vj = fb * v[j] + fa * (gj * gj + e1);
        v[j] = vj;
        psq += (double)p[j] * p[j];
        usq += (double)gj * gj / vj;
    }
    double lr, k;
    coefficients(h, t, psq, usq, (double)n, &lr, &k);
    double decay = h->wd * lr;
    float fk = (float)k, fdecay = (float)decay;
    float *m = t->m;
    if (m) {
        float b1 = (float)h->beta1, ob1 = (float)(1.0 - h->beta1);
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) {
            float mm = b1 * m[j] + ob1 * (g[j] / sqrtf(v[j]) * fk);
            m[j] = mm;
            p[j] = p[j] - fdecay * p[j] - mm;
        }
    } else {
        #pragma omp simd
        for (int64_t j = 0; j < n; j++) p[j] = p[j] - fdecay * p[j] - g[j] / sqrtf(v[j]) * fk;
    }
}

/* ---- factored, one thread ----------------------------------------------------------------- */
static void factored_small(const hparams_t *h, const tensor_t *t, double *colacc, float *r, float *c) {
    int64_t B = t->batch, R = t->rows, C = t->cols;
    double beta2 = 1.0 - pow((double)t->step, h->decay_rate);
    double psq = 0.0, usq = 0.0;
    for (int64_t b = 0; b < B; b++) {
        const float *g = t->g + b * R * C, *p = t->p + b * R * C;
        float *row = t->row + b * R, *col = t->col + b * C;
        for (int64_t j = 0; j < C; j++) colacc[j] = 0.0;
        double rowsum = 0.0;
        for (int64_t i = 0; i < R; i++) {
            const float *gi = g + i * C, *pi = p + i * C;
            double rs = 0.0, ps = 0.0;
            #pragma omp simd reduction(+:rs, ps)
            for (int64_t j = 0; j < C; j++) {
                double s = (double)gi[j] * gi[j] + h->eps1;
                rs += s;
                colacc[j] += s;
                ps += (double)pi[j] * pi[j];
            }
            psq += ps;
            row[i] = (float)(beta2 * row[i] + (1.0 - beta2) * (rs / (double)C));
            rowsum += row[i];
        }
        double rowmean = rowsum / (double)R;
        float *rb = r + b * R, *cb = c + b * C;
        for (int64_t i = 0; i < R; i++) rb[i] = (float)(1.0 / sqrt(row[i] / rowmean));
        for (int64_t j = 0; j < C; j++) {
            col[j] = (float)(beta2 * col[j] + (1.0 - beta2) * (colacc[j] / (double)R));
            cb[j] = (float)(1.0 / sqrt((double)col[j]));
        }
        for (int64_t i = 0; i < R; i++) {
            const float *gi = g + i * C;
            double s = 0.0;
            #pragma omp simd reduction(+:s)
            for (int64_t j = 0; j < C; j++) { double w = (double)gi[j] * cb[j]; s += w * w; }
            usq += s * (double)rb[i] * rb[i];
        }
    }
    double lr, k;
    coefficients(h, t, psq, usq, (double)(B * R * C), &lr, &k);
    double decay = h->wd * lr;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < R; i++) {
            int64_t off = (b * R + i) * C;
            apply_run(h, t->p + off, t->g + off, t->m ? t->m + off : NULL, c + b * C, k * r[b * R + i], C, decay);
        }
}

static void small_one(const hparams_t *h, const tensor_t *t) {
    if (!t->factored) { dense_small(h, t); return; }
    int64_t B = t->batch, R = t->rows, C = t->cols;
    double *colacc = (double *)malloc(sizeof(double) * C);
    float *r = (float *)malloc(sizeof(float) * B * R), *c = (float *)malloc(sizeof(float) * B * C);
    factored_small(h, t, colacc, r, c);
    free(colacc); free(r); free(c);
}

#define FLUSH_ROWS 64
/* add the float partial column sums of a run of rows into the double ones, and clear them */
static void flush(double *acc, float *fac, int64_t batch, int64_t C) {
    if (batch < 0) return;
    double *ac = acc + batch * C;
    #pragma omp simd
    for (int64_t j = 0; j < C; j++) { ac[j] += fac[j]; fac[j] = 0.0f; }
}

/* ---- one large tensor, rows split over threads ------------------------------------------- */
static void large_one(const hparams_t *h, const tensor_t *t, int nthreads) {
    int64_t B = t->batch, R = t->rows, C = t->cols, BR = B * R;
    double beta2 = 1.0 - pow((double)t->step, h->decay_rate);
    if (!t->factored) {
        int64_t n = C;
        float *p = t->p, *g = t->g, *v = t->row;
        float fb = (float)beta2, fa = (float)(1.0 - beta2), e1 = (float)h->eps1;
        double psq = 0.0, usq = 0.0;
        #pragma omp parallel for simd num_threads(nthreads) reduction(+:psq, usq) schedule(static)
        for (int64_t j = 0; j < n; j++) {
            float gj = g[j];
            float vj = fb * v[j] + fa * (gj * gj + e1);
            v[j] = vj;
            psq += (double)p[j] * p[j];
            usq += (double)gj * gj / vj;
        }
        double lr, k;
        coefficients(h, t, psq, usq, (double)n, &lr, &k);
        float fk = (float)k, fdecay = (float)(h->wd * lr);
        float *m = t->m;
        float b1 = (float)h->beta1, ob1 = (float)(1.0 - h->beta1);
        #pragma omp parallel for simd num_threads(nthreads) schedule(static)
        for (int64_t j = 0; j < n; j++) {
            float u = g[j] / sqrtf(v[j]) * fk;
            if (m) { u = b1 * m[j] + ob1 * u; m[j] = u; }
            p[j] = p[j] - fdecay * p[j] - u;
        }
        return;
    }
    double *colacc = (double *)calloc((size_t)nthreads * B * C, sizeof(double));
    float *r = (float *)malloc(sizeof(float) * BR), *c = (float *)malloc(sizeof(float) * B * C);
    double psq = 0.0, usq = 0.0;
    #pragma omp parallel num_threads(nthreads) reduction(+:psq)
    {
        double *acc = colacc + (size_t)omp_get_thread_num() * B * C;
        float *fac = (float *)calloc((size_t)C, sizeof(float));  /* float partial column sums */
        int64_t pending = 0, pending_batch = -1;
        float e1 = (float)h->eps1;
        #pragma omp for schedule(static)
        for (int64_t bi = 0; bi < BR; bi++) {
            const float *gi = t->g + bi * C, *pi = t->p + bi * C;
            int64_t batch = bi / R;
            if (batch != pending_batch || pending == FLUSH_ROWS) {
                flush(acc, fac, pending_batch, C);
                pending = 0; pending_batch = batch;
            }
            float rs = 0.0f, ps = 0.0f;
            #pragma omp simd reduction(+:rs, ps)
            for (int64_t j = 0; j < C; j++) {
                float s = gi[j] * gi[j] + e1;
                rs += s;
                fac[j] += s;
                ps += pi[j] * pi[j];
            }
            pending++;
            psq += ps;
            t->row[bi] = (float)(beta2 * t->row[bi] + (1.0 - beta2) * ((double)rs / (double)C));
        }
        flush(acc, fac, pending_batch, C);
        free(fac);
    }
    for (int64_t b = 0; b < B; b++) {
        double rowsum = 0.0;
        for (int64_t i = 0; i < R; i++) rowsum += t->row[b * R + i];
        double rowmean = rowsum / (double)R;
        for (int64_t i = 0; i < R; i++) r[b * R + i] = (float)(1.0 / sqrt(t->row[b * R + i] / rowmean));
        for (int64_t j = 0; j < C; j++) {
            double s = 0.0;
            for (int th = 0; th < nthreads; th++) s += colacc[(size_t)th * B * C + b * C + j];
            float *cj = t->col + b * C + j;
            *cj = (float)(beta2 * *cj + (1.0 - beta2) * (s / (double)R));
            c[b * C + j] = (float)(1.0 / sqrt((double)*cj));
        }
    }
    #pragma omp parallel for num_threads(nthreads) reduction(+:usq) schedule(static)
    for (int64_t bi = 0; bi < BR; bi++) {
        const float *gi = t->g + bi * C, *cb = c + (bi / R) * C;
        float s = 0.0f;
        #pragma omp simd reduction(+:s)
        for (int64_t j = 0; j < C; j++) { float w = gi[j] * cb[j]; s += w * w; }
        usq += (double)s * r[bi] * r[bi];
    }
    double lr, k;
    coefficients(h, t, psq, usq, (double)(BR * C), &lr, &k);
    double decay = h->wd * lr;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t bi = 0; bi < BR; bi++) {
        int64_t off = bi * C;
        apply_run(h, t->p + off, t->g + off, t->m ? t->m + off : NULL, c + (bi / R) * C, k * r[bi], C, decay);
    }
    free(colacc); free(r); free(c);
}

/* Update `n` tensors described by `desc` (n x DESC_WIDTH int64) with hyperparameters `hpv`.
 * Tensors with at least `large` elements are split over `nthreads` threads one at a time; the
 * others are spread over the threads one tensor each. */
void hfopt_adafactor_fused(int64_t n, const int64_t *desc, const double *hpv, int64_t large, int nthreads) {
    hparams_t h;
    h.eps1 = hpv[0]; h.eps2 = hpv[1]; h.clip = hpv[2]; h.decay_rate = hpv[3]; h.beta1 = hpv[4];
    h.wd = hpv[5]; h.scale_parameter = hpv[6] != 0.0; h.relative_step = hpv[7] != 0.0;
    h.warmup_init = hpv[8] != 0.0; h.lr = hpv[9];
    if (nthreads < 1) nthreads = 1;
    int64_t small_count = 0;
    for (int64_t i = 0; i < n; i++) {
        tensor_t t = unpack(desc + i * DESC_WIDTH);
        if (t.batch * t.rows * t.cols >= large) large_one(&h, &t, nthreads);
        else small_count++;
    }
    if (small_count == 0) return;
    #pragma omp parallel for num_threads(nthreads) schedule(dynamic, 8)
    for (int64_t i = 0; i < n; i++) {
        tensor_t t = unpack(desc + i * DESC_WIDTH);
        if (t.batch * t.rows * t.cols < large) small_one(&h, &t);
    }
}
