// Fused depth-guided spatial clustering (docs/method.md §5): the CUDA twin of
// s3pt_mm.models.utils.spatial_clustering.depth_guided_spatial_clustering, with the same
// choices: CrIBo's Sinkhorn order (rows, then columns), the fill value for a seed's own
// positional entry, and the four conventions of docs/method.md §5.5 as flags.
//
// Op: torch.ops.s3pt_mm.spatial_clustering_forward(tokens, positions, depths?, depth_valid?,
//     seed_indices, num_clusters, n_iter, sinkhorn_iterations, lam, alpha_pos, alpha_depth,
//     update_c, per_image_minmax, fill_mean_over_all, zero_distance_absent, empty_cluster_zero)
//   -> (assignment (B, n) int64, centroids (B, k, D), marginal (B, k))
// with ``tokens`` already L2-normalised (the Python wrapper does it as the reference does).
//
// Shapes: b = image, i / m = tokens (n), j = clusters (k), d = channels (D).
// Per clustering iteration (launches):
//   S = einsum('bnd,bkd->bnk', t, C)       at::einsum, the reference's own call (cuBLAS)
//   linkage_kernel     (n/R, B) blocks     L[i, j] = distance to the nearest other member of j
//                                          (iteration 0: the seed; +inf for the seed itself)
//                                          (shared-memory atomicMin on the bits of non-negative
//                                          floats: order-independent); per-block partial
//                                          statistics of T_pos and T_depth
//   cost_kernel        (n/R, B) blocks     M = -S + a_pos*T_pos + a_depth*T_depth, in place of L;
//                                          per-block partial min / max
//   sinkhorn rounds:   row_step_kernel     one warp per token: [round 0: s = -lam*minmax(M), in
//                                          place, g = 0] f_i = log(1/n) - logsumexp_j(s_ij + g_j)
//                      column_step_kernel  (k/32, B) blocks: g_j = log c_j - logsumexp_i(s_ij + f_i)
//   argmax             row_step_kernel     argmax_j exp(s_ij + f_i + g_j) with the last f and g
//   update_kernel      (k/W, B) blocks     cluster sizes, column marginal, L2-normalised centroid
//                                          means, mean depths, all summed in token order
// Scratch: one (B, n, k) fp32 matrix (L, then M, then s: 6.4 MB at B=32, n=392, k=128, L2-resident)
// plus O(B·(n + k)) vectors. No (B, n, n) matrix: distances are recomputed from the positions.
// Every reduction has a fixed order (warp butterflies, per-block partials summed in tile order):
// results are bitwise deterministic. Elementwise steps use the reference's operation order with
// explicitly rounded intrinsics (no FMA contraction), so most entries match it to the bit; only
// summation orders differ from PyTorch's reductions.
//
// CPU emulation (tests only): with S3PT_SIMT_EMULATION defined, this file compiles as plain C++
// against tests/simt_emulator/simt.h, which runs every launch block by block with one CPU
// fiber per CUDA thread (real barriers for __syncthreads, warp shuffles and ballots),
// so the kernels below can be tested on machines without a GPU. The only seams are
// S3PT_LAUNCH / S3PT_DYNAMIC_SHARED and the device-specific lines under #ifdef.
#include <ATen/ATen.h>
#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>
#ifndef S3PT_SIMT_EMULATION
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>
#include <tuple>

#ifdef S3PT_SIMT_EMULATION
#define S3PT_LAUNCH(kernel, grid, block, shared, stream) simt::launch(kernel, grid, block, shared)
#define S3PT_DYNAMIC_SHARED(type, name) type* name = simt::dynamic_shared<type>()
#else
#define S3PT_LAUNCH(kernel, grid, block, shared, stream) kernel<<<grid, block, shared, stream>>>
#define S3PT_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace s3pt_mm {
namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kTileThreads = 256;         // linkage_kernel, cost_kernel
constexpr int kMaxRowsPerTile = 32;       // one lane per token row in linkage_kernel
constexpr int kColumnsPerBlock = 32;      // column_step_kernel: a warp covers 32 clusters...
constexpr int kRowGroups = 16;            // ...and its 16 warps split the tokens
constexpr int kRowsPerBlock = 8;          // row_step_kernel: one warp per token
constexpr int kClustersPerBlock = 8;      // init / update kernels: one warp per cluster (at most)
constexpr int kSharedBudget = 48 * 1024;  // dynamic shared memory without an opt-in

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fminf(a, b); }
};

// Butterfly reduction: every lane ends with the same value, reduced in a fixed order.
template <typename T, typename Op>
__device__ __forceinline__ T warp_allreduce(T value, Op op) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    value = op(value, __shfl_xor_sync(kFullMask, value, offset));
  }
  return value;
}

// Whole-block reduction, result in every thread; blockDim.x must be a multiple of 32 and every
// thread must call it. ``scratch`` holds 32 values. Each warp redoes the last step on the same
// values in the same order, so all threads hold the same bits.
template <typename T, typename Op>
__device__ T block_allreduce(T value, Op op, T identity, T* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int num_warps = blockDim.x / kWarpSize;
  value = warp_allreduce(value, op);
  __syncthreads();  // a previous call may still be reading scratch
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  value = lane < num_warps ? scratch[lane] : identity;
  return warp_allreduce(value, op);
}

// torch.cdist(..., compute_mode='donot_use_mm_for_euclid_dist') on CUDA: each squared
// coordinate difference rounded, summed, correctly rounded sqrt. Symmetric in (a, b).
__device__ __forceinline__ float pair_distance(float ax, float ay, float bx, float by) {
  const float dx = __fsub_rn(ax, bx);
  const float dy = __fsub_rn(ay, by);
  return __fsqrt_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)));
}

// One entry of depth_cost before normalisation: (d_i - mean_j)^2 where both depths are defined.
// Returns whether the entry is valid; ``square`` is 0 otherwise (as the reference's torch.where).
__device__ __forceinline__ bool depth_square(const float* depth, const bool* valid,
                                             const float* mean_depth, const bool* cluster_valid,
                                             int64_t token, int64_t cluster, float* square) {
  const bool token_ok = valid[token];
  const bool ok = token_ok && cluster_valid[cluster];
  const float token_depth = token_ok ? depth[token] : 0.f;
  const float diff = __fsub_rn(token_depth, mean_depth[cluster]);
  *square = ok ? __fmul_rn(diff, diff) : 0.f;
  return ok;
}

// torch.argmax's rule (GreaterOrNan): NaN wins, equal values go to the lower index.
__device__ __forceinline__ bool argmax_better(float a, int ia, float b, int ib) {
  if (isnan(a)) return isnan(b) ? ia < ib : true;
  if (isnan(b)) return false;
  return a == b ? ia < ib : a > b;
}

// Centroids = the seeds' tokens; each cluster's mean depth is its seed's (invalid without one).
// grid (ceil(k / W), B), block 32 * W.
__global__ void init_clusters_kernel(const float* __restrict__ tokens,
                                     const int64_t* __restrict__ seeds,
                                     const float* __restrict__ depth,
                                     const bool* __restrict__ valid, float* __restrict__ centroids,
                                     float* __restrict__ mean_depth,
                                     bool* __restrict__ cluster_valid, int n, int k, int dim,
                                     bool use_depth) {
  const int b = blockIdx.y;
  const int lane = threadIdx.x % kWarpSize;
  const int j = blockIdx.x * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize;
  if (j >= k) return;
  const int64_t cluster = static_cast<int64_t>(b) * k + j;
  const int64_t seed = seeds[cluster];  // the wrapper checks 0 <= seed < n
  const int64_t token = static_cast<int64_t>(b) * n + seed;
  const float* src = tokens + token * dim;
  float* dst = centroids + cluster * dim;
  for (int d = lane; d < dim; d += kWarpSize) dst[d] = src[d];
  if (use_depth && lane == 0) {
    // The reference's scatter-mean over the seed alone: d / 1, or 0 / 1 without a valid depth.
    const bool ok = valid[token];
    mean_depth[cluster] = ok ? __fadd_rn(0.f, depth[token]) : 0.f;
    cluster_valid[cluster] = ok;
  }
}

// Single-linkage distances of R token rows to every cluster, written to ``linkage`` (B, n, k),
// and this tile's partial statistics:
//   fstats[b, tile] = (sum of finite L, max of finite L, sum of valid depth squares, their max)
//   istats[b, tile] = (count of finite L, count of valid depth entries)
// grid (num_tiles, B), block kTileThreads, dynamic shared memory R * stride ints.
__global__ void __launch_bounds__(kTileThreads)
    linkage_kernel(const float* __restrict__ positions, const int64_t* __restrict__ seeds,
                   const int64_t* __restrict__ membership, const float* __restrict__ depth,
                   const bool* __restrict__ valid, const float* __restrict__ mean_depth,
                   const bool* __restrict__ cluster_valid, float* __restrict__ linkage,
                   float* __restrict__ fstats, int* __restrict__ istats, int n, int k,
                   int rows_per_tile, int stride, bool first_iteration, bool use_depth,
                   bool zero_distance_absent) {
  S3PT_DYNAMIC_SHARED(int, tile_bits);  // [row][cluster] float bits; odd row stride: no conflicts
  __shared__ float fscratch[kWarpSize];
  __shared__ int iscratch[kWarpSize];
  const int b = blockIdx.y;
  const int tile = blockIdx.x;
  const int row0 = tile * rows_per_tile;
  const int rows = min(rows_per_tile, n - row0);
  const int tile_entries = rows * k;
  const float* pos = positions + static_cast<int64_t>(b) * n * 2;

  if (first_iteration) {
    // Before the first assignment each cluster's only member is its seed: L = distance to it;
    // the seed itself has no other member (+inf, later the fill value), and with
    // zero_distance_absent neither has a token at the seed's position.
    for (int e = threadIdx.x; e < tile_entries; e += blockDim.x) {
      const int row = e / k;
      const int j = e % k;
      const int i = row0 + row;
      const int64_t seed = seeds[static_cast<int64_t>(b) * k + j];
      float dist = pair_distance(pos[2 * i], pos[2 * i + 1], pos[2 * seed], pos[2 * seed + 1]);
      if (i == seed || (zero_distance_absent && dist == 0.f)) dist = INFINITY;
      tile_bits[row * stride + j] = __float_as_int(dist);
    }
  } else {
    for (int e = threadIdx.x; e < rows * stride; e += blockDim.x) {
      tile_bits[e] = __float_as_int(INFINITY);
    }
    __syncthreads();
    // Lane = token row i, warps stride over the other tokens m: min into L[i, a[m]]. Distances
    // are >= +0, whose float bits order like ints, so an int atomicMin is an exact,
    // order-independent float min.
    const int lane = threadIdx.x % kWarpSize;
    const int warp = threadIdx.x / kWarpSize;
    const int num_warps = blockDim.x / kWarpSize;
    const int i = row0 + lane;
    const bool active = lane < rows;
    const float xi = active ? pos[2 * i] : 0.f;
    const float yi = active ? pos[2 * i + 1] : 0.f;
    const int64_t* member_of = membership + static_cast<int64_t>(b) * n;
    for (int m = warp; m < n; m += num_warps) {
      if (!active || m == i) continue;
      const int j = static_cast<int>(member_of[m]);
      const float dist = pair_distance(xi, yi, pos[2 * m], pos[2 * m + 1]);
      if (zero_distance_absent && dist == 0.f) continue;  // CrIBo: a distance-0 member is absent
      atomicMin(&tile_bits[lane * stride + j], __float_as_int(dist));
    }
  }
  __syncthreads();

  float sum_l = 0.f, max_l = -INFINITY, sum_d = 0.f, max_d = 0.f;
  int count_l = 0, count_d = 0;
  for (int e = threadIdx.x; e < tile_entries; e += blockDim.x) {
    const int row = e / k;
    const int j = e % k;
    const int64_t token = static_cast<int64_t>(b) * n + row0 + row;
    const float l = __int_as_float(tile_bits[row * stride + j]);
    linkage[token * k + j] = l;
    if (isfinite(l)) {
      sum_l += l;
      max_l = fmaxf(max_l, l);
      ++count_l;
    }
    if (use_depth) {
      float square;
      if (depth_square(depth, valid, mean_depth, cluster_valid, token,
                       static_cast<int64_t>(b) * k + j, &square)) {
        sum_d += square;
        ++count_d;
      }
      max_d = fmaxf(max_d, square);  // the reference's max includes the zeroed entries
    }
  }
  sum_l = block_allreduce(sum_l, SumOp(), 0.f, fscratch);
  max_l = block_allreduce(max_l, MaxOp(), -INFINITY, fscratch);
  count_l = block_allreduce(count_l, SumOp(), 0, iscratch);
  if (use_depth) {
    sum_d = block_allreduce(sum_d, SumOp(), 0.f, fscratch);
    max_d = block_allreduce(max_d, MaxOp(), 0.f, fscratch);
    count_d = block_allreduce(count_d, SumOp(), 0, iscratch);
  }
  if (threadIdx.x == 0) {
    const int64_t slot = static_cast<int64_t>(b) * gridDim.x + tile;
    fstats[4 * slot + 0] = sum_l;
    fstats[4 * slot + 1] = max_l;
    fstats[4 * slot + 2] = sum_d;
    fstats[4 * slot + 3] = max_d;
    istats[2 * slot + 0] = count_l;
    istats[2 * slot + 1] = count_d;
  }
}

// M = -S + a_pos * T_pos + a_depth * T_depth for R token rows, in place of L; per-tile min / max
// of M into minmax[b, tile].
// positional_cost: +inf entries -> the image's mean finite L; / max(filled).clamp_min(tiny).
// depth_cost: invalid entries -> mean of the valid squares; / max(squares).clamp_min(tiny).
// grid (num_tiles, B), block kTileThreads.
__global__ void __launch_bounds__(kTileThreads)
    cost_kernel(const float* __restrict__ similarity, float* __restrict__ work,
                const float* __restrict__ fstats, const int* __restrict__ istats,
                const float* __restrict__ depth, const bool* __restrict__ valid,
                const float* __restrict__ mean_depth, const bool* __restrict__ cluster_valid,
                float* __restrict__ minmax, int n, int k, int rows_per_tile, float alpha_pos,
                float alpha_depth, bool use_depth, bool fill_mean_over_all) {
  __shared__ float norm[4];  // mean L, max filled L, mean valid square, max square
  __shared__ float scratch[kWarpSize];
  const int b = blockIdx.y;
  const int tile = blockIdx.x;
  const int num_tiles = gridDim.x;
  if (threadIdx.x == 0) {
    // The image's statistics from its tiles, summed in tile order (same bits in every block).
    float sum_l = 0.f, max_l = -INFINITY, sum_d = 0.f, max_d = 0.f;
    int64_t count_l = 0, count_d = 0;
    for (int q = 0; q < num_tiles; ++q) {
      const int64_t slot = static_cast<int64_t>(b) * num_tiles + q;
      sum_l += fstats[4 * slot + 0];
      max_l = fmaxf(max_l, fstats[4 * slot + 1]);
      sum_d += fstats[4 * slot + 2];
      max_d = fmaxf(max_d, fstats[4 * slot + 3]);
      count_l += istats[2 * slot + 0];
      count_d += istats[2 * slot + 1];
    }
    // The fill value: the mean of the finite entries, or (CrIBo) of all n * k entries with the
    // missing ones counted as 0.
    const int64_t divisor = fill_mean_over_all ? static_cast<int64_t>(n) * k : count_l;
    const float mean_l = __fdiv_rn(sum_l, static_cast<float>(divisor > 0 ? divisor : 1));
    // max(filled) = max(finite L, mean if any entry was +inf); mean = 0 when nothing is finite.
    float top_l = max_l;
    if (count_l < static_cast<int64_t>(n) * k) top_l = fmaxf(top_l, mean_l);
    norm[0] = mean_l;
    norm[1] = fmaxf(top_l, FLT_MIN);
    norm[2] = __fdiv_rn(sum_d, static_cast<float>(count_d > 0 ? count_d : 1));
    norm[3] = fmaxf(max_d, FLT_MIN);
  }
  __syncthreads();
  const float mean_l = norm[0], top_l = norm[1], mean_d = norm[2], top_d = norm[3];

  const int row0 = tile * rows_per_tile;
  const int rows = min(rows_per_tile, n - row0);
  const int tile_entries = rows * k;
  float low = INFINITY, high = -INFINITY;
  for (int e = threadIdx.x; e < tile_entries; e += blockDim.x) {
    const int row = e / k;
    const int j = e % k;
    const int64_t token = static_cast<int64_t>(b) * n + row0 + row;
    const int64_t index = token * k + j;
    const float l = work[index];
    const float filled = isfinite(l) ? l : mean_l;
    // cost = -S; cost = cost + alpha_pos * T_pos; cost = cost + alpha_depth * T_depth
    float cost = __fadd_rn(-similarity[index], __fmul_rn(alpha_pos, __fdiv_rn(filled, top_l)));
    if (use_depth) {
      float square;
      const bool ok = depth_square(depth, valid, mean_depth, cluster_valid, token,
                                   static_cast<int64_t>(b) * k + j, &square);
      const float t_depth = __fdiv_rn(ok ? square : mean_d, top_d);
      cost = __fadd_rn(cost, __fmul_rn(alpha_depth, t_depth));
    }
    work[index] = cost;
    low = fminf(low, cost);
    high = fmaxf(high, cost);
  }
  low = block_allreduce(low, MinOp(), INFINITY, scratch);
  high = block_allreduce(high, MaxOp(), -INFINITY, scratch);
  if (threadIdx.x == 0) {
    const int64_t slot = static_cast<int64_t>(b) * num_tiles + tile;
    minmax[2 * slot + 0] = low;
    minmax[2 * slot + 1] = high;
  }
}

// Sinkhorn column step (sinkhorn_knopp's ``g = log_c - _column_logsumexp(s + f)``) for 32
// clusters of one image, after the row step of the same round.
// grid (ceil(k / 32), B), block 32 * kRowGroups.
__global__ void __launch_bounds__(kColumnsPerBlock* kRowGroups)
    column_step_kernel(const float* __restrict__ work, const float* __restrict__ row_scale,
                       const float* __restrict__ marginal, float* __restrict__ col_scale, int n,
                       int k) {
  __shared__ float partial[kRowGroups][kColumnsPerBlock];
  __shared__ float column_peak[kColumnsPerBlock];
  const int b = blockIdx.y;
  const int c = threadIdx.x % kColumnsPerBlock;
  const int group = threadIdx.x / kColumnsPerBlock;
  const int j = blockIdx.x * kColumnsPerBlock + c;
  const bool active = j < k;

  const float* column = work + static_cast<int64_t>(b) * n * k + j;
  const float* f = row_scale + static_cast<int64_t>(b) * n;
  float peak = -INFINITY;
  if (active) {
    for (int i = group; i < n; i += kRowGroups) {
      peak = fmaxf(peak, __fadd_rn(column[static_cast<int64_t>(i) * k], f[i]));
    }
  }
  partial[group][c] = peak;
  __syncthreads();
  if (group == 0) {
    float p = partial[0][c];
    for (int q = 1; q < kRowGroups; ++q) p = fmaxf(p, partial[q][c]);
    column_peak[c] = isfinite(p) ? p : 0.f;  // torch.where(isfinite(peak), peak, 0)
  }
  __syncthreads();
  peak = column_peak[c];
  float total = 0.f;
  if (active) {
    for (int i = group; i < n; i += kRowGroups) {
      const float x = __fadd_rn(column[static_cast<int64_t>(i) * k], f[i]);
      total += expf(__fsub_rn(x, peak));
    }
  }
  partial[group][c] = total;  // every read of the peaks' partials happened before the sync above
  __syncthreads();
  if (group == 0 && active) {
    float sum = partial[0][c];
    for (int q = 1; q < kRowGroups; ++q) sum += partial[q][c];
    const int64_t cluster = static_cast<int64_t>(b) * k + j;
    col_scale[cluster] = __fsub_rn(logf(marginal[cluster]), __fadd_rn(peak, logf(sum)));
  }
}

// Sinkhorn row step (``f = log_r - logsumexp(s + g, dim=2)``), one warp per token. Round 0
// first turns the row of M into s = -lam * (M - low) / span in place (low / span per image or
// over the batch) and uses g = 0. With ``argmax`` set it computes instead the hard assignment
// argmax_j exp(s + f + g) from the stored f and the last g (the plan after the last column step).
// grid ceil(B * n / kRowsPerBlock), block 32 * kRowsPerBlock.
__global__ void __launch_bounds__(kWarpSize* kRowsPerBlock)
    row_step_kernel(float* __restrict__ work, const float* __restrict__ minmax,
                    const float* __restrict__ col_scale, float* __restrict__ row_scale,
                    int64_t* __restrict__ assignment, int64_t num_rows, int batch, int n, int k,
                    int num_tiles, float neg_lam, bool per_image_minmax, bool first_round,
                    bool argmax) {
  // log r = -log(n) on the device, as torch.log of the float tensor n in sinkhorn_knopp.
  const float log_r = -logf(static_cast<float>(n));
  const int lane = threadIdx.x % kWarpSize;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  if (row >= num_rows) return;  // whole warps only
  const int64_t b = row / n;
  float* s = work + row * k;
  const float* g = col_scale + b * k;

  if (first_round) {
    // cost = (cost - low) / span; scores = -lam * cost
    const int64_t first = per_image_minmax ? b * num_tiles : 0;
    const int64_t count = per_image_minmax ? num_tiles : static_cast<int64_t>(batch) * num_tiles;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t q = lane; q < count; q += kWarpSize) {
      lo = fminf(lo, minmax[2 * (first + q) + 0]);
      hi = fmaxf(hi, minmax[2 * (first + q) + 1]);
    }
    const float low = warp_allreduce(lo, MinOp());
    const float high = warp_allreduce(hi, MaxOp());
    const float span = fmaxf(__fsub_rn(high, low), 1e-12f);  // .clamp_min(1e-12)
    for (int j = lane; j < k; j += kWarpSize) {
      s[j] = __fmul_rn(neg_lam, __fdiv_rn(__fsub_rn(s[j], low), span));
    }
    // Each lane reads back only the entries it wrote: no exchange between lanes.
  }

  if (argmax) {
    // plan = exp(s + f + g); the argmax compares the plan's values as torch.argmax does.
    const float f = row_scale[row];
    float best = -INFINITY;
    int best_j = INT_MAX;  // "no candidate": loses to any plan value
    for (int j = lane; j < k; j += kWarpSize) {
      const float p = expf(__fadd_rn(__fadd_rn(s[j], f), g[j]));
      if (argmax_better(p, j, best, best_j)) {
        best = p;
        best_j = j;
      }
    }
    for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
      const float other = __shfl_xor_sync(kFullMask, best, offset);
      const int other_j = __shfl_xor_sync(kFullMask, best_j, offset);
      if (argmax_better(other, other_j, best, best_j)) {
        best = other;
        best_j = other_j;
      }
    }
    if (lane == 0) assignment[row] = best_j;
    return;
  }

  float peak = -INFINITY;
  for (int j = lane; j < k; j += kWarpSize) {
    peak = fmaxf(peak, __fadd_rn(s[j], first_round ? 0.f : g[j]));
  }
  peak = warp_allreduce(peak, MaxOp());
  if (fabsf(peak) == INFINITY) peak = 0.f;  // torch.logsumexp masks infinite maxima
  float total = 0.f;
  for (int j = lane; j < k; j += kWarpSize) {
    total += expf(__fsub_rn(__fadd_rn(s[j], first_round ? 0.f : g[j]), peak));
  }
  total = warp_allreduce(total, SumOp());
  const float f = __fsub_rn(log_r, __fadd_rn(logf(total), peak));
  if (lane == 0) row_scale[row] = f;
}

// After an assignment: sizes, c = (sizes + 0.01) / sum (if update_c), C_j = normalize(sum of
// members) (an empty cluster: zeros with empty_cluster_zero, else its previous centroid), mean
// depth of the members with one.
// Members are visited in token order (ballot per 32 tokens): fixed summation order.
// grid (ceil(k / W), B), block 32 * W; dynamic shared memory (n + k) ints + W * D floats.
__global__ void update_kernel(const float* __restrict__ tokens,
                              const int64_t* __restrict__ assignment,
                              const float* __restrict__ depth, const bool* __restrict__ valid,
                              float* __restrict__ centroids, float* __restrict__ marginal,
                              float* __restrict__ mean_depth, bool* __restrict__ cluster_valid,
                              int n, int k, int dim, bool update_c, bool use_depth,
                              bool empty_cluster_zero) {
  S3PT_DYNAMIC_SHARED(int, update_shared);
  int* member_of = update_shared;                             // n
  int* sizes = member_of + n;                                 // k
  float* accumulators = reinterpret_cast<float*>(sizes + k);  // W * D
  __shared__ float total_mass;
  const int b = blockIdx.y;
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;

  for (int j = threadIdx.x; j < k; j += blockDim.x) sizes[j] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int a = static_cast<int>(assignment[static_cast<int64_t>(b) * n + i]);
    member_of[i] = a;
    atomicAdd(&sizes[a], 1);  // integer counts: exact in any order
  }
  __syncthreads();
  if (update_c && warp == 0) {
    float part = 0.f;
    for (int j = lane; j < k; j += kWarpSize) {
      part += __fadd_rn(static_cast<float>(sizes[j]), 0.01f);
    }
    part = warp_allreduce(part, SumOp());
    if (lane == 0) total_mass = part;
  }
  __syncthreads();

  const int j = blockIdx.x * warps + warp;
  if (j >= k) return;  // no block-wide synchronisation below
  const int64_t cluster = static_cast<int64_t>(b) * k + j;
  const int size = sizes[j];
  if (update_c && lane == 0) {
    marginal[cluster] = __fdiv_rn(__fadd_rn(static_cast<float>(size), 0.01f), total_mass);
  }
  float* acc = accumulators + warp * dim;  // lane owns acc[lane::32]
  for (int d = lane; d < dim; d += kWarpSize) acc[d] = 0.f;
  float depth_sum = 0.f;  // identical in every lane: members are visited warp-uniformly
  int depth_count = 0;
  for (int base = 0; base < n; base += kWarpSize) {
    const int i = base + lane;
    unsigned members = __ballot_sync(kFullMask, i < n && member_of[i] == j);
    while (members) {
      const int m = base + __ffs(members) - 1;
      members &= members - 1;
      const int64_t token = static_cast<int64_t>(b) * n + m;
      const float* row = tokens + token * dim;
      for (int d = lane; d < dim; d += kWarpSize) acc[d] = __fadd_rn(acc[d], row[d]);
      if (use_depth && valid[token]) {
        depth_sum = __fadd_rn(depth_sum, depth[token]);
        ++depth_count;
      }
    }
  }
  if (size > 0) {
    // F.normalize(sums): sums / max(||sums||, 1e-12)
    float squares = 0.f;
    for (int d = lane; d < dim; d += kWarpSize) {
      squares = __fadd_rn(squares, __fmul_rn(acc[d], acc[d]));
    }
    squares = warp_allreduce(squares, SumOp());
    const float denom = fmaxf(__fsqrt_rn(squares), 1e-12f);
    float* dst = centroids + cluster * dim;
    for (int d = lane; d < dim; d += kWarpSize) dst[d] = __fdiv_rn(acc[d], denom);
  } else if (empty_cluster_zero) {
    // F.normalize of a zero sum: 0 / 1e-12 = 0 (CrIBo's convention).
    float* dst = centroids + cluster * dim;
    for (int d = lane; d < dim; d += kWarpSize) dst[d] = 0.f;
  }
  if (use_depth && lane == 0) {
    const float count = static_cast<float>(depth_count > 0 ? depth_count : 1);
    mean_depth[cluster] = __fdiv_rn(depth_sum, count);
    cluster_valid[cluster] = depth_count > 0;
  }
}

void check_input(const at::Tensor& x, const char* name, at::ScalarType dtype,
                 c10::IntArrayRef shape, const at::Device& device) {
  TORCH_CHECK(x.device() == device, "spatial_clustering_forward: ", name, " must be on ", device,
              ", got ", x.device());
  TORCH_CHECK(x.scalar_type() == dtype, "spatial_clustering_forward: ", name, " must be ", dtype,
              ", got ", x.scalar_type());
  TORCH_CHECK(x.sizes() == shape, "spatial_clustering_forward: ", name, " must have shape ",
              shape, ", got ", x.sizes());
  TORCH_CHECK(x.is_contiguous(), "spatial_clustering_forward: ", name, " must be contiguous");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> spatial_clustering_forward_cuda(
    const at::Tensor& tokens, const at::Tensor& positions,
    const std::optional<at::Tensor>& depths_opt, const std::optional<at::Tensor>& valid_opt,
    const at::Tensor& seed_indices, int64_t num_clusters, int64_t n_iter,
    int64_t sinkhorn_iterations, double lam, double alpha_pos, double alpha_depth, bool update_c,
    bool per_image_minmax, bool fill_mean_over_all, bool zero_distance_absent,
    bool empty_cluster_zero) {
#ifdef S3PT_SIMT_EMULATION
  TORCH_CHECK(tokens.is_cpu(), "spatial_clustering_forward (SIMT emulation): CPU tensors only");
#else
  TORCH_CHECK(tokens.is_cuda(), "spatial_clustering_forward: tokens must be a CUDA tensor");
#endif
  TORCH_CHECK(tokens.dim() == 3, "spatial_clustering_forward: tokens must be (B, n, D), got ",
              tokens.sizes());
  const int64_t batch = tokens.size(0), n = tokens.size(1), dim = tokens.size(2);
  const int64_t k = num_clusters;
  const at::Device device = tokens.device();
  check_input(tokens, "tokens", at::kFloat, {batch, n, dim}, device);
  check_input(positions, "positions", at::kFloat, {batch, n, 2}, device);
  check_input(seed_indices, "seed_indices", at::kLong, {batch, k}, device);
  TORCH_CHECK(1 <= k && k <= n, "spatial_clustering_forward: num_clusters must be in [1, n=", n,
              "], got ", k);
  TORCH_CHECK(n_iter >= 1 && sinkhorn_iterations >= 1,
              "spatial_clustering_forward: n_iter and sinkhorn_iterations must be >= 1");
  TORCH_CHECK(n <= (int64_t{1} << 24) && dim <= (int64_t{1} << 24),
              "spatial_clustering_forward: n and D must be <= 2^24, got ", n, " and ", dim);
  const bool use_depth = alpha_depth != 0.0;
  at::Tensor depths, depth_valid;
  if (use_depth) {
    TORCH_CHECK(depths_opt.has_value() && depths_opt->defined() && depths_opt->numel() > 0,
                "spatial_clustering_forward: alpha_depth=", alpha_depth, " needs depths");
    depths = *depths_opt;
    check_input(depths, "depths", at::kFloat, {batch, n}, device);
    if (valid_opt.has_value() && valid_opt->defined() && valid_opt->numel() > 0) {
      depth_valid = *valid_opt;
      check_input(depth_valid, "depth_valid", at::kBool, {batch, n}, device);
    } else {
      depth_valid = at::ones({batch, n}, tokens.options().dtype(at::kBool));
    }
  }

#ifndef S3PT_SIMT_EMULATION
  const c10::cuda::CUDAGuard device_guard(device);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
#else
  const cudaStream_t stream = nullptr;
#endif
  // Plain fp32 everywhere, like the reference's no_grad + autocast(enabled=False) block: the
  // at::einsum below would otherwise be autocast to half precision.
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const at::NoGradGuard no_grad;
  const auto float_options = tokens.options();
  auto centroids = at::empty({batch, k, dim}, float_options);
  auto marginal = at::full({batch, k}, 1.0 / static_cast<double>(k), float_options);
  auto assignment = at::empty({batch, n}, float_options.dtype(at::kLong));
  if (batch == 0) return {assignment, centroids, marginal};

  // Token rows per tile: one lane each, the tile's (rows x k) linkage in shared memory.
  const int stride = static_cast<int>(k | 1);  // odd row stride: lanes hit distinct banks
  const int rows_per_tile = static_cast<int>(std::min<int64_t>(
      {kMaxRowsPerTile, n, kSharedBudget / (stride * static_cast<int64_t>(sizeof(int)))}));
  TORCH_CHECK(rows_per_tile >= 1, "spatial_clustering_forward: num_clusters=", k,
              " is too large for the linkage tile in shared memory");
  const int num_tiles = static_cast<int>((n + rows_per_tile - 1) / rows_per_tile);
  const size_t linkage_shared = static_cast<size_t>(rows_per_tile) * stride * sizeof(int);
  // Clusters (warps) per update block: one D-float accumulator each.
  const int64_t update_fixed = (n + k) * static_cast<int64_t>(sizeof(int));
  const int update_warps = static_cast<int>(std::min<int64_t>(
      kClustersPerBlock,
      (kSharedBudget - update_fixed) / (dim * static_cast<int64_t>(sizeof(float)))));
  TORCH_CHECK(update_warps >= 1, "spatial_clustering_forward: n=", n, ", k=", k, ", D=", dim,
              " do not fit the centroid update's shared memory");
  const size_t update_shared = static_cast<size_t>(update_fixed) +
                               static_cast<size_t>(update_warps) * dim * sizeof(float);

  auto work = at::empty({batch, n, k}, float_options);  // L, then M, then s
  auto fstats = at::empty({batch, num_tiles, 4}, float_options);
  auto istats = at::empty({batch, num_tiles, 2}, float_options.dtype(at::kInt));
  auto minmax = at::empty({batch, num_tiles, 2}, float_options);
  auto col_scale = at::empty({batch, k}, float_options);
  auto row_scale = at::empty({batch, n}, float_options);
  at::Tensor mean_depth, cluster_valid;
  if (use_depth) {
    mean_depth = at::empty({batch, k}, float_options);
    cluster_valid = at::empty({batch, k}, float_options.dtype(at::kBool));
  }
  const float* depth_ptr = use_depth ? depths.data_ptr<float>() : nullptr;
  const bool* valid_ptr = use_depth ? depth_valid.data_ptr<bool>() : nullptr;
  float* mean_depth_ptr = use_depth ? mean_depth.data_ptr<float>() : nullptr;
  bool* cluster_valid_ptr = use_depth ? cluster_valid.data_ptr<bool>() : nullptr;

  const int n32 = static_cast<int>(n), k32 = static_cast<int>(k), dim32 = static_cast<int>(dim);
  const int batch32 = static_cast<int>(batch);
  TORCH_CHECK(batch <= 65535, "spatial_clustering_forward: at most 65535 images per call");
  // Scalars as PyTorch casts a Python float operand of a float32 tensor op.
  const float alpha_pos_f = static_cast<float>(alpha_pos);
  const float alpha_depth_f = static_cast<float>(alpha_depth);
  const float neg_lam = static_cast<float>(-lam);

  const dim3 cluster_grid((k32 + kClustersPerBlock - 1) / kClustersPerBlock, batch32);
  S3PT_LAUNCH(init_clusters_kernel, cluster_grid, kClustersPerBlock * kWarpSize, 0, stream)(
      tokens.data_ptr<float>(), seed_indices.data_ptr<int64_t>(), depth_ptr, valid_ptr,
      centroids.data_ptr<float>(), mean_depth_ptr, cluster_valid_ptr, n32, k32, dim32, use_depth);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const dim3 tile_grid(num_tiles, batch32);
  const dim3 column_grid((k32 + kColumnsPerBlock - 1) / kColumnsPerBlock, batch32);
  const int64_t num_rows = batch * n;
  const unsigned row_blocks = static_cast<unsigned>((num_rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const dim3 update_grid((k32 + update_warps - 1) / update_warps, batch32);
  for (int64_t iteration = 0; iteration < n_iter; ++iteration) {
    // S = t·Cᵀ exactly as the reference spells it (same at::einsum, same cuBLAS call).
    const at::Tensor similarity = at::einsum("bnd,bkd->bnk", {tokens, centroids}).contiguous();
    S3PT_LAUNCH(linkage_kernel, tile_grid, kTileThreads, linkage_shared, stream)(
        positions.data_ptr<float>(), seed_indices.data_ptr<int64_t>(),
        assignment.data_ptr<int64_t>(), depth_ptr, valid_ptr, mean_depth_ptr, cluster_valid_ptr,
        work.data_ptr<float>(), fstats.data_ptr<float>(), istats.data_ptr<int>(), n32, k32,
        rows_per_tile, stride, iteration == 0, use_depth, zero_distance_absent);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    S3PT_LAUNCH(cost_kernel, tile_grid, kTileThreads, 0, stream)(
        similarity.data_ptr<float>(), work.data_ptr<float>(), fstats.data_ptr<float>(),
        istats.data_ptr<int>(), depth_ptr, valid_ptr, mean_depth_ptr, cluster_valid_ptr,
        minmax.data_ptr<float>(), n32, k32, rows_per_tile, alpha_pos_f, alpha_depth_f,
        use_depth, fill_mean_over_all);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    // CrIBo's order: each round scales the rows, then the columns.
    for (int64_t round = 0; round < sinkhorn_iterations; ++round) {
      S3PT_LAUNCH(row_step_kernel, row_blocks, kRowsPerBlock * kWarpSize, 0, stream)(
          work.data_ptr<float>(), minmax.data_ptr<float>(), col_scale.data_ptr<float>(),
          row_scale.data_ptr<float>(), assignment.data_ptr<int64_t>(), num_rows, batch32, n32,
          k32, num_tiles, neg_lam, per_image_minmax, round == 0, false);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      S3PT_LAUNCH(column_step_kernel, column_grid, kColumnsPerBlock * kRowGroups, 0, stream)(
          work.data_ptr<float>(), row_scale.data_ptr<float>(), marginal.data_ptr<float>(),
          col_scale.data_ptr<float>(), n32, k32);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    S3PT_LAUNCH(row_step_kernel, row_blocks, kRowsPerBlock * kWarpSize, 0, stream)(
        work.data_ptr<float>(), minmax.data_ptr<float>(), col_scale.data_ptr<float>(),
        row_scale.data_ptr<float>(), assignment.data_ptr<int64_t>(), num_rows, batch32, n32, k32,
        num_tiles, neg_lam, per_image_minmax, false, true);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    S3PT_LAUNCH(update_kernel, update_grid, update_warps * kWarpSize, update_shared, stream)(
        tokens.data_ptr<float>(), assignment.data_ptr<int64_t>(), depth_ptr, valid_ptr,
        centroids.data_ptr<float>(), marginal.data_ptr<float>(), mean_depth_ptr,
        cluster_valid_ptr, n32, k32, dim32, update_c, use_depth, empty_cluster_zero);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {assignment, centroids, marginal};
}

}  // namespace
}  // namespace s3pt_mm

#define S3PT_SPATIAL_CLUSTERING_SCHEMA                                                          \
  "spatial_clustering_forward(Tensor tokens, Tensor positions, Tensor? depths, "              \
  "Tensor? depth_valid, Tensor seed_indices, int num_clusters, int n_iter, "                  \
  "int sinkhorn_iterations, float lam, float alpha_pos, float alpha_depth, bool update_c, "   \
  "bool per_image_minmax, bool fill_mean_over_all, bool zero_distance_absent, "              \
  "bool empty_cluster_zero) -> (Tensor, Tensor, Tensor)"

#ifdef S3PT_SIMT_EMULATION
// Its own namespace, so that it can be loaded beside the real extension.
TORCH_LIBRARY_FRAGMENT(s3pt_mm_simt, m) { m.def(S3PT_SPATIAL_CLUSTERING_SCHEMA); }

TORCH_LIBRARY_IMPL(s3pt_mm_simt, CPU, m) {
  m.impl("spatial_clustering_forward", &s3pt_mm::spatial_clustering_forward_cuda);
}
#else
TORCH_LIBRARY_FRAGMENT(s3pt_mm, m) { m.def(S3PT_SPATIAL_CLUSTERING_SCHEMA); }

TORCH_LIBRARY_IMPL(s3pt_mm, CUDA, m) {
  m.impl("spatial_clustering_forward", &s3pt_mm::spatial_clustering_forward_cuda);
}
#endif
