/* The readout's one pass over a block of attention scores (contactplug.readout.fold_kernel).

   torch runs softmax and the readout's fold as separate passes over a block of scores
   (max, subtract, exp, sum, scale, then the weighted sum over heads and each chain's column
   sums), each one a trip through memory: on a CPU whose bf16 matmuls are cheap (AMX) those
   passes, not the matmuls, bound the all-heads and esm-head readouts. Here each query row of
   each head is read once, softmaxed in a row buffer that stays in L1, written back as the
   probabilities P @ v needs, and folded while it is there.

   scores: B x K x R x T (bf16 bits or fp32), query rows start..start+R-1 of K heads, in
     base-2 units (s log2 e); replaced by softmax(scores) over the T keys, in place, where
     `write` (0: nobody reads them after the fold, there is no P @ v: the scores are left
     as they were, and a store a probability is saved).
   keys_masked: B x T (1: a padded key, probability 0) or NULL.
   bias: fp32, element (b, h, i, j) at b*bias_b + bias_heads[h]*bias_h + (start+i)*bias_i + j,
     added (times log2 e) before the softmax, or NULL (bias_heads NULL: one bias for all heads).
   coeff: B x K; sums: B x T x T, sums[b, start+i, :] += sum_h coeff[b,h] p[b,h,i,:].
   spans: B x C x 2 (first token, length; length 0: no such chain in sequence b).
   col_sums: B x C x K x T, col_sums[b,c,h,:] += the sum of p[b,h,i,:] over chain c's rows i.
   row_sums: B x C x K x T, row_sums[b,d,h,start+i] = the sum of p[b,h,i,:] over chain d's
     keys, for rows i of any chain.
   An all-masked row gives probabilities 0 (torch gives NaN; no readout reads such a row). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOG2E 1.4426950408889634f

static inline float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline uint16_t float_to_bf16(float f) { /* round to nearest even, as torch does */
  uint32_t bits;
  memcpy(&bits, &f, 4);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

/* 2^x for x <= 0 (Cephes exp2f's polynomial on [-0.5, 0.5]; about 2 ulp), written so that gcc
   vectorizes it. x below -100 (-inf included) gives exactly 0: a key 2^-100 below the row's
   largest adds nothing to an fp32 sum of rows up to 2^12 keys, and no probability
   (2^-100 / T or more) is then subnormal. Subnormals, once in the forward, made the GELU and
   matmuls after it up to 10x slower here. */
static inline float exp2_nonpositive(float x) {
  x = x < -100.0f ? -127.0f : x;
  float n = __builtin_rintf(x);
  float f = x - n;
  float p = 1.535336188319500e-4f;
  p = p * f + 1.339887440266574e-3f;
  p = p * f + 9.618437357674640e-3f;
  p = p * f + 5.550332471162809e-2f;
  p = p * f + 2.402264791363012e-1f;
  p = p * f + 6.931472028550421e-1f;
  p = p * f + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, 4);
  return p * scale;
}

/* A sequence's keys cut at its chains' edges: segment n is keys lo[n]..hi[n]-1 of chain
   chain[n] (-1: BOS, EOS, a linker or padding). Returns the count (at most 2 C + 1). */
static int segments(const int32_t *spans, int C, int T, int *lo, int *hi, int *chain) {
  int count = 0, at = 0;
  for (;;) {
    int next = -1; /* the chain that starts first at or after `at` */
    for (int c = 0; c < C; c++)
      if (spans[2 * c + 1] > 0 && spans[2 * c] >= at && (next < 0 || spans[2 * c] < spans[2 * next]))
        next = c;
    int edge = next < 0 ? T : spans[2 * next];
    if (edge > at) lo[count] = at, hi[count] = edge, chain[count++] = -1;
    if (next < 0) return count;
    lo[count] = edge, hi[count] = edge + spans[2 * next + 1], chain[count++] = next;
    at = hi[count - 1];
  }
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    !defined(SOFTMAX_FOLD_PLAIN_C)
#include <immintrin.h>

/* The same row by AVX-512 intrinsics (gcc's vectorization of the plain C below ran at 1.5
   cycles a probability on the AVX512-BF16 EPYC, 2.2 on the AMX Xeon): three passes over the
   row buffer x instead of five (load, bias, mask and max in one; exp2 and its sum; scale,
   write-back and the fold), exp2's 2^n by one vscalef, the bf16 rounding by one
   vcvtneps2bf16 where the CPU has it, and every tail by a mask instead of a scalar loop. Same
   polynomial, same -100 cut and the same roundings as the plain C: the two give the same
   probabilities to fp32 rounding (their sums add in another order). */
static inline __m512 load_scores(const void *row, int is_bf16, int j, __mmask16 m) {
  if (is_bf16) {
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + j);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  return _mm512_maskz_loadu_ps(m, (const float *)row + j);
}

static inline void store_bf16(uint16_t *out, __m512 p, __mmask16 m) {
#if defined(__AVX512BF16__)
  __m256i h = (__m256i)_mm512_cvtneps_pbh(p);
#else
  __m512i bits = _mm512_castps_si512(p);
  __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  bits = _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
  __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16));
#endif
  _mm256_mask_storeu_epi16(out, m, h);
}

static inline __m512 exp2_vector(__m512 t) { /* t = x - top <= 0; below -100 (and -inf): 0 */
  __mmask16 keep = _mm512_cmp_ps_mask(t, _mm512_set1_ps(-100.0f), _CMP_GE_OQ);
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(keep, p, n);
}

static inline __mmask16 tail(int j, int end) {
  int left = end - j;
  return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

static void softmax_fold_row(void *row, int is_bf16, int T, const uint8_t *masked,
                             const float *bias, float *x, float w, float *sum_row, float *col,
                             int count, const int *lo, const int *hi, const int *chain,
                             float *part, int write) {
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  const __m512 log2e = _mm512_set1_ps(LOG2E);
  __m512 top = minus_inf;
  for (int j = 0; j < T; j += 16) {
    __mmask16 m = tail(j, T);
    __m512 v = load_scores(row, is_bf16, j, m);
    if (bias) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, bias + j), log2e, v);
    if (masked) {
      __m512i keys = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, masked + j));
      v = _mm512_mask_blend_ps(_mm512_test_epi32_mask(keys, keys), v, minus_inf);
    }
    _mm512_mask_storeu_ps(x + j, m, v);
    top = _mm512_mask_max_ps(top, m, top, v);
  }
  float largest = _mm512_reduce_max_ps(top);
  if (largest == -__builtin_inff()) largest = 0.0f; /* all masked: every exp is 0 */
  const __m512 shift = _mm512_set1_ps(largest);
  __m512 total = _mm512_setzero_ps();
  for (int j = 0; j < T; j += 16) {
    __mmask16 m = tail(j, T);
    __m512 e = exp2_vector(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), shift));
    _mm512_mask_storeu_ps(x + j, m, e);
    total = _mm512_mask_add_ps(total, m, total, e);
  }
  float sum = _mm512_reduce_add_ps(total);
  const __m512 scale = _mm512_set1_ps(sum > 0.0f ? 1.0f / sum : 0.0f);
  const __m512 weight = _mm512_set1_ps(w);
  for (int n = 0; n < count; n++) {
    __m512 here = _mm512_setzero_ps();
    for (int j = lo[n]; j < hi[n]; j += 16) {
      __mmask16 m = tail(j, hi[n]);
      __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), scale);
      if (write && is_bf16) store_bf16((uint16_t *)row + j, p, m);
      else if (write) _mm512_mask_storeu_ps((float *)row + j, m, p);
      __m512 s = _mm512_maskz_loadu_ps(m, sum_row + j);
      _mm512_mask_storeu_ps(sum_row + j, m, _mm512_fmadd_ps(weight, p, s));
      if (col) {
        __m512 c = _mm512_maskz_loadu_ps(m, col + j);
        _mm512_mask_storeu_ps(col + j, m, _mm512_add_ps(c, p));
        here = _mm512_add_ps(here, p); /* masked lanes of p are 0 */
      }
    }
    if (chain[n] >= 0) part[chain[n]] = _mm512_reduce_add_ps(here);
  }
}
int softmax_fold_body(void) { return 512; } /* which body was built: AVX-512 intrinsics */
#else
/* One head's query row in passes over x (in L1): load (bias, mask); max; exp and sum; then
   the probabilities written back, added into the fold's sums (weight w), into the chain's
   column sums (col, or NULL for a row of no chain) and, per chain, into part[d]. Each pass is
   a loop of its own: gcc left the load and max fused as a scalar loop, 2x slower. */
static void softmax_fold_row(void *row, int is_bf16, int T, const uint8_t *masked,
                             const float *bias, float *x, float w, float *sum_row, float *col,
                             int count, const int *lo, const int *hi, const int *chain,
                             float *part, int write) {
  const float minus_inf = -__builtin_inff();
  if (is_bf16) {
    const uint16_t *src = (const uint16_t *)row;
#pragma omp simd
    for (int j = 0; j < T; j++) x[j] = bf16_to_float(src[j]);
  } else {
    memcpy(x, row, sizeof(float) * (size_t)T);
  }
  if (bias) {
#pragma omp simd
    for (int j = 0; j < T; j++) x[j] += bias[j] * LOG2E;
  }
  if (masked) {
#pragma omp simd
    for (int j = 0; j < T; j++) x[j] = masked[j] ? minus_inf : x[j];
  }
  float top = minus_inf;
#pragma omp simd reduction(max : top)
  for (int j = 0; j < T; j++) top = x[j] > top ? x[j] : top;
  if (top == minus_inf) top = 0.0f; /* all masked: every exp is 0 */
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int j = 0; j < T; j++) {
    x[j] = exp2_nonpositive(x[j] - top);
    total += x[j];
  }
  const float scale = total > 0.0f ? 1.0f / total : 0.0f;
  /* probabilities nobody reads (no P @ v) go to the row buffer x itself, in place */
  uint16_t *low = is_bf16 && write ? (uint16_t *)row : NULL;
  float *high = low ? NULL : write ? (float *)row : x;
  for (int n = 0; n < count; n++) {
    float here = 0.0f;
    if (col && low) {
#pragma omp simd reduction(+ : here)
      for (int j = lo[n]; j < hi[n]; j++) {
        float p = x[j] * scale;
        low[j] = float_to_bf16(p);
        sum_row[j] += w * p;
        col[j] += p;
        here += p;
      }
    } else if (col) {
#pragma omp simd reduction(+ : here)
      for (int j = lo[n]; j < hi[n]; j++) {
        float p = x[j] * scale;
        high[j] = p;
        sum_row[j] += w * p;
        col[j] += p;
        here += p;
      }
    } else if (low) {
#pragma omp simd
      for (int j = lo[n]; j < hi[n]; j++) {
        float p = x[j] * scale;
        low[j] = float_to_bf16(p);
        sum_row[j] += w * p;
      }
    } else {
#pragma omp simd
      for (int j = lo[n]; j < hi[n]; j++) {
        float p = x[j] * scale;
        high[j] = p;
        sum_row[j] += w * p;
      }
    }
    if (chain[n] >= 0) part[chain[n]] = here;
  }
}

int softmax_fold_body(void) { return 0; } /* which body was built: the plain C */
#endif

static int chain_of(const int32_t *spans, int C, int token) {
  for (int c = 0; c < C; c++) {
    int first = spans[2 * c], length = spans[2 * c + 1];
    if (length > 0 && token >= first && token < first + length) return c;
  }
  return -1;
}

int softmax_fold(void *scores, int is_bf16, int B, int K, int R, int T, int start,
                 const uint8_t *keys_masked, const float *bias, int64_t bias_b, int64_t bias_h,
                 int64_t bias_i, const int32_t *bias_heads, const float *coeff, float *sums,
                 float *col_sums, float *row_sums, const int32_t *spans, int C, int threads,
                 int write) {
  const size_t cols = (size_t)B * C * K * T;
  const size_t width = is_bf16 ? 2 : 4;
  int failed = 0;
#pragma omp parallel num_threads(threads)
  {
    float *x = malloc(sizeof(float) * (size_t)T);
    int *cuts = malloc(sizeof(int) * (size_t)3 * (2 * C + 1)); /* a sequence's segments */
    float *part = malloc(sizeof(float) * (size_t)C);
    /* with several threads, each sums its rows' columns apart and adds them at the end */
    int shared = threads <= 1;
    float *cols_here = shared ? col_sums : calloc(cols, sizeof(float));
    if (!x || !cuts || !part || !cols_here) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier /* every thread meets the loop, or none does */
    int skip;
#pragma omp atomic read
    skip = failed;
    if (!skip) {
      int *lo = cuts, *hi = cuts + 2 * C + 1, *chain = cuts + 2 * (2 * C + 1);
      int seen = -1, count = 0;
#pragma omp for schedule(static)
      for (int64_t n = 0; n < (int64_t)B * R; n++) {
        int b = (int)(n / R), i = (int)(n % R), token = start + i;
        const int32_t *own = spans + (size_t)2 * C * b;
        if (b != seen) count = segments(own, C, T, lo, hi, chain), seen = b;
        int c = chain_of(own, C, token);
        float *sum_row = sums + ((size_t)b * T + token) * T;
        const uint8_t *masked = keys_masked ? keys_masked + (size_t)b * T : NULL;
        for (int h = 0; h < K; h++) {
          char *row = (char *)scores + (((size_t)b * K + h) * R + i) * T * width;
          const float *bias_row = NULL;
          if (bias)
            bias_row = bias + b * bias_b + (bias_heads ? bias_heads[h] : 0) * bias_h +
                       (int64_t)token * bias_i;
          float *col = c < 0 ? NULL : cols_here + (((size_t)b * C + c) * K + h) * T;
          softmax_fold_row(row, is_bf16, T, masked, bias_row, x, coeff[(size_t)b * K + h],
                           sum_row, col, count, lo, hi, chain, part, write);
          if (c < 0) continue;
          for (int d = 0; d < C; d++)
            if (own[2 * d + 1] > 0) row_sums[(((size_t)b * C + d) * K + h) * T + token] = part[d];
        }
      }
    }
    if (!shared && cols_here) {
#pragma omp critical
      for (size_t m = 0; m < cols; m++) col_sums[m] += cols_here[m];
      free(cols_here);
    }
    free(x);
    free(cuts);
    free(part);
  }
  return failed;
}
