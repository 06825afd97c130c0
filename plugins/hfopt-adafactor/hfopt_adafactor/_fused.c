/* Fused Adafactor step for fp32 CPU tensors (hfopt-adafactor, fused=True).
 *
 * One call updates a list of tensors of one parameter group. A large tensor is read in two
 * passes (statistics, including what RMS(update) needs; then the update itself), a small one
 * (in cache) in three, instead of the dozen or so elementwise kernels of the per-op path;
 * reductions accumulate in double. Large tensors are split over threads by rows, a wave of
 * them per parallel region; small tensors are spread over threads one tensor each, so
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

/* ---- large tensors in waves: one parallel region, a few barriers per wave ------------------ */
/* A wave is a run of large tensors holding up to WAVE_BYTES of parameter and gradient, small
 * enough to stay in the last-level cache between its passes. Its work items are blocks of
 * about ITEM_ELEMS elements (whole rows for factored tensors), shared by all threads. */
#ifndef WAVE_BYTES
#define WAVE_BYTES (64LL << 20)
#endif
#ifndef ITEM_ELEMS
#define ITEM_ELEMS 32768
#endif

typedef struct {
    tensor_t t;
    int64_t rows_per_item, items, first_item, acc_offset;  /* acc_offset: into a thread's colacc */
    double beta2, lr, k, decay, usq;
    float *r, *c;                                           /* factored: rsqrt factors */
} wave_tensor_t;

static int64_t find_tensor(const wave_tensor_t *w, int64_t count, int64_t item) {
    int64_t lo = 0, hi = count - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (w[mid].first_item <= item) lo = mid; else hi = mid - 1;
    }
    return lo;
}

static void wave(const hparams_t *h, wave_tensor_t *w, int64_t count, int nthreads) {
    int64_t items = 0, acc_width = 0, max_cols = 1;
    for (int64_t i = 0; i < count; i++) {
        tensor_t *t = &w[i].t;
        int64_t rows = t->factored ? t->batch * t->rows : (t->cols + ITEM_ELEMS - 1) / ITEM_ELEMS;
        int64_t per = t->factored ? (ITEM_ELEMS + t->cols - 1) / t->cols : 1;
        if (per < 1) per = 1;
        w[i].rows_per_item = per;
        w[i].items = (rows + per - 1) / per;
        w[i].first_item = items;
        items += w[i].items;
        w[i].acc_offset = acc_width;
        if (t->factored) {
            acc_width += t->batch * t->cols;
            if (t->cols > max_cols) max_cols = t->cols;
            w[i].r = (float *)malloc(sizeof(float) * t->batch * t->rows);
            w[i].c = (float *)malloc(sizeof(float) * t->batch * t->cols);
        } else {
            w[i].r = w[i].c = NULL;
        }
        w[i].beta2 = 1.0 - pow((double)t->step, h->decay_rate);
    }
    /* per thread, per factored tensor's slice and column: sum_i (g_ij^2 + eps1), then
     * sum_i g_ij^2 / R_i (with the row's new second moment R_i, known once its row is read) */
    if (acc_width == 0) acc_width = 1;
    double *colacc = (double *)calloc((size_t)nthreads * 2 * acc_width, sizeof(double));
    double *psq = (double *)calloc((size_t)nthreads * count, sizeof(double));
    double *usq = (double *)calloc((size_t)nthreads * count, sizeof(double));
    float e1 = (float)h->eps1;

    #pragma omp parallel num_threads(nthreads)
    {
        int th = omp_get_thread_num();
        double *acc = colacc + (size_t)th * 2 * acc_width, *accw = acc + acc_width;
        double *my_psq = psq + (size_t)th * count, *my_usq = usq + (size_t)th * count;
        float *fac = (float *)malloc(sizeof(float) * 2 * max_cols), *facw = fac + max_cols;

        /* pass 1: row sums and new row moments (factored) / second moment (dense), column
         * partial sums of g^2 + eps1 and of g^2 / R_i, sum p^2. RMS(update) follows from these:
         * sum_ij (g_ij r_i c_j)^2 = mean(R) * sum_j (sum_i g_ij^2 / R_i) / C_j, so the
         * gradient is read once before the update instead of twice. */
        #pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            int64_t i = find_tensor(w, count, item);
            wave_tensor_t *wt = &w[i];
            tensor_t *t = &wt->t;
            int64_t local = item - wt->first_item;
            if (!t->factored) {
                int64_t lo = local * ITEM_ELEMS, hi = lo + ITEM_ELEMS < t->cols ? lo + ITEM_ELEMS : t->cols;
                float fb = (float)wt->beta2, fa = (float)(1.0 - wt->beta2);
                double ps = 0.0, us = 0.0;
                #pragma omp simd reduction(+:ps, us)
                for (int64_t j = lo; j < hi; j++) {
                    float gj = t->g[j];
                    float vj = fb * t->row[j] + fa * (gj * gj + e1);
                    t->row[j] = vj;
                    ps += (double)t->p[j] * t->p[j];
                    us += (double)gj * gj / vj;
                }
                my_psq[i] += ps;
                my_usq[i] += us;
                continue;
            }
            int64_t C = t->cols, R = t->rows, BR = t->batch * R;
            int64_t lo = local * wt->rows_per_item, hi = lo + wt->rows_per_item < BR ? lo + wt->rows_per_item : BR;
            int64_t batch = lo / R;
            for (int64_t j = 0; j < C; j++) { fac[j] = 0.0f; facw[j] = 0.0f; }
            double ps_total = 0.0;
            for (int64_t bi = lo; bi < hi; bi++) {
                if (bi / R != batch) {  /* a 3-D+ tensor's block crossed into the next slice */
                    double *ac = acc + wt->acc_offset + batch * C, *aw = accw + wt->acc_offset + batch * C;
                    for (int64_t j = 0; j < C; j++) { ac[j] += fac[j]; fac[j] = 0.0f; aw[j] += facw[j]; facw[j] = 0.0f; }
                    batch = bi / R;
                }
                if (bi + 4 <= hi && (bi + 3) / R == batch) {  /* four rows at a time: fewer partial-sum updates */
                    const float *g0 = t->g + bi * C, *g1 = g0 + C, *g2 = g1 + C, *g3 = g2 + C;
                    const float *p0 = t->p + bi * C, *p1 = p0 + C, *p2 = p1 + C, *p3 = p2 + C;
                    float r0 = 0.0f, r1 = 0.0f, r2 = 0.0f, r3 = 0.0f, ps = 0.0f;
                    #pragma omp simd reduction(+:r0, r1, r2, r3, ps)
                    for (int64_t j = 0; j < C; j++) {
                        float s0 = g0[j] * g0[j] + e1, s1 = g1[j] * g1[j] + e1;
                        float s2 = g2[j] * g2[j] + e1, s3 = g3[j] * g3[j] + e1;
                        r0 += s0; r1 += s1; r2 += s2; r3 += s3;
                        fac[j] += (s0 + s1) + (s2 + s3);
                        ps += (p0[j] * p0[j] + p1[j] * p1[j]) + (p2[j] * p2[j] + p3[j] * p3[j]);
                    }
                    ps_total += ps;
                    float inv[4], sums[4] = {r0, r1, r2, r3};
                    for (int q = 0; q < 4; q++) {
                        float row = (float)(wt->beta2 * t->row[bi + q] + (1.0 - wt->beta2) * ((double)sums[q] / (double)C));
                        t->row[bi + q] = row;
                        inv[q] = 1.0f / row;
                    }
                    float i0 = inv[0], i1 = inv[1], i2 = inv[2], i3 = inv[3];
                    #pragma omp simd
                    for (int64_t j = 0; j < C; j++)  /* the same rows, from L1 */
                        facw[j] += (g0[j] * g0[j] * i0 + g1[j] * g1[j] * i1) + (g2[j] * g2[j] * i2 + g3[j] * g3[j] * i3);
                    bi += 3;
                    continue;
                }
                const float *gi = t->g + bi * C, *pi = t->p + bi * C;
                float rs = 0.0f, ps = 0.0f;
                #pragma omp simd reduction(+:rs, ps)
                for (int64_t j = 0; j < C; j++) {
                    float s = gi[j] * gi[j] + e1;
                    rs += s;
                    fac[j] += s;
                    ps += pi[j] * pi[j];
                }
                ps_total += ps;
                float row = (float)(wt->beta2 * t->row[bi] + (1.0 - wt->beta2) * ((double)rs / (double)C));
                t->row[bi] = row;
                float inv = 1.0f / row;
                #pragma omp simd
                for (int64_t j = 0; j < C; j++) facw[j] += gi[j] * gi[j] * inv;  /* the row, from L1 */
            }
            double *ac = acc + wt->acc_offset + batch * C, *aw = accw + wt->acc_offset + batch * C;
            #pragma omp simd
            for (int64_t j = 0; j < C; j++) { ac[j] += fac[j]; aw[j] += facw[j]; }
            my_psq[i] += ps_total;
        }

        /* between passes: columns, factors (one tensor per thread) */
        #pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < count; i++) {
            wave_tensor_t *wt = &w[i];
            tensor_t *t = &wt->t;
            if (!t->factored) continue;
            int64_t B = t->batch, R = t->rows, C = t->cols;
            double us = 0.0;
            for (int64_t b = 0; b < B; b++) {
                double rowsum = 0.0;
                for (int64_t r = 0; r < R; r++) rowsum += t->row[b * R + r];
                double rowmean = rowsum / (double)R;
                for (int64_t r = 0; r < R; r++) wt->r[b * R + r] = (float)(1.0 / sqrt(t->row[b * R + r] / rowmean));
                double weighted = 0.0;
                for (int64_t j = 0; j < C; j++) {
                    double sum = 0.0, sumw = 0.0;
                    for (int x = 0; x < nthreads; x++) {
                        const double *base = colacc + (size_t)x * 2 * acc_width + wt->acc_offset + b * C + j;
                        sum += base[0];
                        sumw += base[acc_width];
                    }
                    float *cj = t->col + b * C + j;
                    *cj = (float)(wt->beta2 * *cj + (1.0 - wt->beta2) * (sum / (double)R));
                    wt->c[b * C + j] = (float)(1.0 / sqrt((double)*cj));
                    weighted += sumw / (double)*cj;
                }
                us += rowmean * weighted;
            }
            wt->usq = us;
        }

        #pragma omp single
        for (int64_t i = 0; i < count; i++) {
            double ps = 0.0, us = 0.0;
            for (int x = 0; x < nthreads; x++) { ps += psq[(size_t)x * count + i]; us += usq[(size_t)x * count + i]; }
            tensor_t *t = &w[i].t;
            if (t->factored) us = w[i].usq;
            coefficients(h, t, ps, us, (double)(t->batch * t->rows * t->cols), &w[i].lr, &w[i].k);
            w[i].decay = h->wd * w[i].lr;
        }

        /* pass 3: the update */
        #pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            int64_t i = find_tensor(w, count, item);
            wave_tensor_t *wt = &w[i];
            tensor_t *t = &wt->t;
            int64_t local = item - wt->first_item;
            if (!t->factored) {
                int64_t lo = local * ITEM_ELEMS, hi = lo + ITEM_ELEMS < t->cols ? lo + ITEM_ELEMS : t->cols;
                float fk = (float)wt->k, fdecay = (float)wt->decay;
                float b1 = (float)h->beta1, ob1 = (float)(1.0 - h->beta1);
                float *m = t->m;
                if (m) {
                    #pragma omp simd
                    for (int64_t j = lo; j < hi; j++) {
                        float mm = b1 * m[j] + ob1 * (t->g[j] / sqrtf(t->row[j]) * fk);
                        m[j] = mm;
                        t->p[j] = t->p[j] - fdecay * t->p[j] - mm;
                    }
                } else {
                    #pragma omp simd
                    for (int64_t j = lo; j < hi; j++) t->p[j] = t->p[j] - fdecay * t->p[j] - t->g[j] / sqrtf(t->row[j]) * fk;
                }
                continue;
            }
            int64_t C = t->cols, R = t->rows, BR = t->batch * R;
            int64_t lo = local * wt->rows_per_item, hi = lo + wt->rows_per_item < BR ? lo + wt->rows_per_item : BR;
            for (int64_t bi = lo; bi < hi; bi++) {
                int64_t off = bi * C;
                if (!t->m && wt->decay == 0.0 && bi + 1 < hi && (bi + 1) / R == bi / R) {
                    const float *cc = wt->c + (bi / R) * C, *g0 = t->g + off, *g1 = g0 + C;
                    float *p0 = t->p + off, *p1 = p0 + C;
                    float k0 = (float)(wt->k * wt->r[bi]), k1 = (float)(wt->k * wt->r[bi + 1]);
                    #pragma omp simd
                    for (int64_t j = 0; j < C; j++) { float cj = cc[j]; p0[j] -= g0[j] * cj * k0; p1[j] -= g1[j] * cj * k1; }
                    bi++;
                    continue;
                }
                apply_run(h, t->p + off, t->g + off, t->m ? t->m + off : NULL, wt->c + (bi / R) * C,
                          wt->k * wt->r[bi], C, wt->decay);
            }
        }
        free(fac);
    }
    for (int64_t i = 0; i < count; i++) { free(w[i].r); free(w[i].c); }
    free(colacc); free(psq); free(usq);
}

/* Update `n` tensors described by `desc` (n x DESC_WIDTH int64) with hyperparameters `hpv`.
 * Tensors with at least `large` elements are split over `nthreads` threads, a wave of them at a
 * time; the others are spread over the threads one tensor each. */
void hfopt_adafactor_fused(int64_t n, const int64_t *desc, const double *hpv, int64_t large, int nthreads) {
    hparams_t h;
    h.eps1 = hpv[0]; h.eps2 = hpv[1]; h.clip = hpv[2]; h.decay_rate = hpv[3]; h.beta1 = hpv[4];
    h.wd = hpv[5]; h.scale_parameter = hpv[6] != 0.0; h.relative_step = hpv[7] != 0.0;
    h.warmup_init = hpv[8] != 0.0; h.lr = hpv[9];
    if (nthreads < 1) nthreads = 1;
    int64_t small_count = 0, count = 0;
    int64_t bytes = 0;
    wave_tensor_t *w = (wave_tensor_t *)malloc(sizeof(wave_tensor_t) * (n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        tensor_t t = unpack(desc + i * DESC_WIDTH);
        int64_t numel = t.batch * t.rows * t.cols;
        if (numel < large) { small_count++; continue; }
        if (count > 0 && bytes + 8 * numel > WAVE_BYTES) { wave(&h, w, count, nthreads); count = 0; bytes = 0; }
        w[count++].t = t;
        bytes += 8 * numel;
    }
    if (count > 0) wave(&h, w, count, nthreads);
    free(w);
    if (small_count == 0) return;
    #pragma omp parallel for num_threads(nthreads) schedule(dynamic, 8)
    for (int64_t i = 0; i < n; i++) {
        tensor_t t = unpack(desc + i * DESC_WIDTH);
        if (t.batch * t.rows * t.cols < large) small_one(&h, &t);
    }
}
