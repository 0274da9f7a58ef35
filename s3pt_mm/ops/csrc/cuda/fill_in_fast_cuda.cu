// IP-Basic fill_in_fast (Ku et al., CRV 2018) on a (B, H, W) float32 batch.
//
// The CUDA backend of s3pt_mm.ops.fill_in_fast. It runs the steps of the torch backend
// (_fill_in_fast_torch in s3pt_mm/ops/ip_basic.py, filters in s3pt_mm/ops/torch_filters.py)
// with the same borders and the same float32 roundings, one fused kernel per step instead of
// one torch op per arithmetic operation:
//
//   d = dilate(invert(x), dilation kernel)   invert: d > 0.1 -> max_depth - d
//   d = erode(dilate(d, full closing))        closing
//   d = where(d < 0.1, dilate(d, full fill), d)
//   if extrapolate: copy each column's top valid value (> 0.1) up to row 0, then
//                   d = where(d < 0.1, dilate(d, full extrapolation), d)
//   d = median5x5(d)                          BORDER_REPLICATE
//   bilateral: d = bilateral(d)               BORDER_REFLECT_101, OpenCV's circular support
//   gaussian:  d = where(d > 0.1, gaussian5x5(d), d)   BORDER_REFLECT_101
//   return invert(d)
//
// Morphology (outside pixels ignored) and the median select input values: bit-exact. The
// Gaussian and bilateral filters round every float32 product and sum in the torch backend's
// order (__fmul_rn / __fadd_rn are never fused into FMAs; expf as torch.exp): equal to the
// torch backend up to expf's last bit.
//
// A morphology with a binary kernel is the max (min) over the kernel's rectangles
// (torch_filters.morph_kernel) of a separable max: a row pass over the rectangle's columns
// then a column pass over its rows, each pass one kernel over all pixels of the batch.
//
// Operator (registered below, called from Python as torch.ops.s3pt_mm.<name>):
//   fill_in_fast_forward(Tensor depth, float max_depth, bool extrapolate, bool gaussian,
//       int[] dilation_shape, int[] dilation_rects, int closing_size, int fill_size,
//       int extrapolation_size, int[] bilateral_offsets, float[] bilateral_weights,
//       float colour_coeff, bool bilateral_identity) -> Tensor
// depth (B, H, W) float32; dilation_shape (kh, kw); dilation_rects (y0, y1, x0, x1) per
// rectangle, inclusive kernel coordinates; bilateral_offsets (dy, dx) per tap in OpenCV's
// accumulation order, bilateral_weights their spatial weights; colour_coeff
// -0.5 / sigma_color^2; bilateral_identity: the bilateral filter copies its input (a sigma
// <= 1e-6, as OpenCV). A CPU implementation runs the same per-pixel code (the tests check it
// against the torch backend on machines without a GPU).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../common/rounded_math.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

// VALID_THRESHOLD of ip_basic.py; torch compares a float32 tensor with the Python float 0.1
// in float32.
constexpr float kValid = 0.1f;
constexpr int kMaxBilateralTaps = 64;
// cv2.GaussianBlur's fixed 5-tap kernel for ksize 5, sigma 0: [1, 4, 6, 4, 1] / 16 (exact).
constexpr float kGauss0 = 0.0625f, kGauss1 = 0.25f, kGauss2 = 0.375f;

// ---------------------------------------------------------------------------------------
// Arithmetic shared by the CUDA kernels and their CPU copies
// ---------------------------------------------------------------------------------------
using s3pt_mm::add_rn;
using s3pt_mm::div_rn;
using s3pt_mm::mul_rn;
using s3pt_mm::sub_rn;

__host__ __device__ inline int imin(int a, int b) { return a < b ? a : b; }
__host__ __device__ inline int imax(int a, int b) { return a > b ? a : b; }

// _invert_torch: where(d > 0.1, max_depth - d, d).
__host__ __device__ inline float invert(float d, float max_depth) {
  return d > kValid ? sub_rn(max_depth, d) : d;
}

// OpenCV's BORDER_REFLECT_101 (torch's 'reflect' padding where that is defined).
__host__ __device__ inline int reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}

__host__ __device__ inline int clamp_index(int i, int n) { return imin(imax(i, 0), n - 1); }

template <bool kMax>
__host__ __device__ inline float morph_identity() {
  return kMax ? -INFINITY : INFINITY;
}

template <bool kMax>
__host__ __device__ inline float morph_op(float a, float b) {
  return kMax ? fmaxf(a, b) : fminf(a, b);
}

__host__ __device__ inline int64_t flat_index(int64_t b, int y, int x, int height, int width) {
  return (b * height + y) * static_cast<int64_t>(width) + x;
}

// ---------------------------------------------------------------------------------------
// Per-pixel steps (functors: op(b, y, x) writes output pixel (b, y, x))
// ---------------------------------------------------------------------------------------
// dst = src, inverted if asked (a 1x1 or empty structuring element is the identity).
struct CopyStep {
  const float* src;
  float* dst;
  int height, width;
  bool invert_input;
  float max_depth;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const int64_t i = flat_index(b, y, x, height, width);
    dst[i] = invert_input ? invert(src[i], max_depth) : src[i];
  }
};

// Row pass of one rectangle: dst = max (min) of src over columns x + lo .. x + hi inside the
// image (outside pixels ignored: -inf / +inf padding). Optionally inverts src as it reads.
template <bool kMax>
struct MorphRowStep {
  const float* src;
  float* dst;
  int height, width, lo, hi;
  bool invert_input;
  float max_depth;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const float* row = src + flat_index(b, y, 0, height, width);
    float acc = morph_identity<kMax>();
    const int x1 = imin(x + hi, width - 1);
    for (int xx = imax(x + lo, 0); xx <= x1; ++xx) {
      const float v = invert_input ? invert(row[xx], max_depth) : row[xx];
      acc = morph_op<kMax>(acc, v);
    }
    dst[flat_index(b, y, x, height, width)] = acc;
  }
};

// Column pass of one rectangle: max (min) of the row pass over rows y + lo .. y + hi inside
// the image; combined with what dst holds for the kernel's earlier rectangles if
// `accumulate`; if `fill_base`, the result only replaces fill_base's pixels < 0.1
// (ip_basic's _fill_where(d, dilate(d), d < 0.1), d = fill_base).
template <bool kMax>
struct MorphColStep {
  const float* src;
  float* dst;
  const float* fill_base;
  int height, width, lo, hi;
  bool accumulate;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const float* column = src + flat_index(b, 0, x, height, width);
    float acc = morph_identity<kMax>();
    const int y1 = imin(y + hi, height - 1);
    for (int yy = imax(y + lo, 0); yy <= y1; ++yy) {
      acc = morph_op<kMax>(acc, column[static_cast<int64_t>(yy) * width]);
    }
    const int64_t i = flat_index(b, y, x, height, width);
    if (accumulate) acc = morph_op<kMax>(dst[i], acc);
    if (fill_base != nullptr) {
      const float d = fill_base[i];
      acc = d < kValid ? acc : d;
    }
    dst[i] = acc;
  }
};

// _top_rows_torch: row of each column's first pixel > 0.1, 0 for a column with none.
// Called with y = 0 only (one thread per column).
struct TopRowStep {
  const float* src;
  int* top;
  int height, width;

  __host__ __device__ void operator()(int64_t b, int, int x) const {
    const float* column = src + flat_index(b, 0, x, height, width);
    int first = 0;
    for (int y = 0; y < height; ++y) {
      if (column[static_cast<int64_t>(y) * width] > kValid) {
        first = y;
        break;
      }
    }
    top[b * width + x] = first;
  }
};

// _extend_to_top_torch: dst[y, x] = src[top[x], x] above the top row, src[y, x] elsewhere.
struct ExtendToTopStep {
  const float* src;
  const int* top;
  float* dst;
  int height, width;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const int t = top[b * width + x];
    dst[flat_index(b, y, x, height, width)] = src[flat_index(b, y < t ? t : y, x, height, width)];
  }
};

// Batcher's odd-even merge sort of v[kLo .. kHi] (inclusive; kHi - kLo + 1 a power of two),
// in its recursive form (Knuth, TAOCP vol. 3, 5.3.4). Indices are compile-time constants, so
// v stays in registers, and the compiler drops every min / max that the one output the caller
// reads does not depend on.
__host__ __device__ inline void compare_swap(float& a, float& b) {
  const float low = fminf(a, b);
  b = fmaxf(a, b);
  a = low;
}

// Merges v[kLo .. kHi] taking every kR-th element, the two halves being sorted.
template <int kLo, int kHi, int kR>
__host__ __device__ inline void odd_even_merge(float* v) {
  constexpr int kStep = 2 * kR;
  if constexpr (kStep < kHi - kLo) {
    odd_even_merge<kLo, kHi, kStep>(v);       // the even-indexed elements
    odd_even_merge<kLo + kR, kHi, kStep>(v);  // the odd-indexed elements
#pragma unroll
    for (int i = kLo + kR; i < kHi - kR; i += kStep) compare_swap(v[i], v[i + kR]);
  } else {
    compare_swap(v[kLo], v[kLo + kR]);
  }
}

template <int kLo, int kHi>
__host__ __device__ inline void odd_even_merge_sort(float* v) {
  if constexpr (kHi - kLo >= 1) {
    constexpr int kMid = kLo + (kHi - kLo) / 2;
    odd_even_merge_sort<kLo, kMid>(v);
    odd_even_merge_sort<kMid + 1, kHi>(v);
    odd_even_merge<kLo, kHi, 1>(v);
  }
}

// cv2.medianBlur(x, 5) on float32 (torch_filters.median_blur): the 13th smallest of the 5x5
// window, BORDER_REPLICATE. 25 values padded with +inf to 32 and sorted.
struct Median5Step {
  const float* src;
  float* dst;
  int height, width;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const float* image = src + flat_index(b, 0, 0, height, width);
    float v[32];
#pragma unroll
    for (int dy = 0; dy < 5; ++dy) {
      const float* row = image + static_cast<int64_t>(clamp_index(y + dy - 2, height)) * width;
#pragma unroll
      for (int dx = 0; dx < 5; ++dx) v[5 * dy + dx] = row[clamp_index(x + dx - 2, width)];
    }
#pragma unroll
    for (int k = 25; k < 32; ++k) v[k] = INFINITY;
    odd_even_merge_sort<0, 31>(v);
    dst[flat_index(b, y, x, height, width)] = v[12];
  }
};

// torch_filters.bilateral_filter (colour_lut=False, i.e. OpenCV's IPP path), then invert:
// out = (x0 + sum_k w_k x_k) / (1 + sum_k w_k), w_k = space_k * exp((x_k - x0)^2 * coeff),
// taps in OpenCV's order, BORDER_REFLECT_101.
struct BilateralStep {
  const float* src;
  float* dst;
  int height, width;
  int num_taps;
  int dy[kMaxBilateralTaps], dx[kMaxBilateralTaps];
  float space_weight[kMaxBilateralTaps];
  float colour_coeff;
  bool identity;
  float max_depth;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const float* image = src + flat_index(b, 0, 0, height, width);
    const float centre = image[static_cast<int64_t>(y) * width + x];
    float result = centre;
    if (!identity) {
      float total = 0.0f, weight_sum = 0.0f;
      for (int k = 0; k < num_taps; ++k) {
        const float value = image[static_cast<int64_t>(reflect101(y + dy[k], height)) * width +
                                  reflect101(x + dx[k], width)];
        const float diff = sub_rn(value, centre);
        const float w = mul_rn(space_weight[k], expf(mul_rn(mul_rn(diff, diff), colour_coeff)));
        weight_sum = add_rn(weight_sum, w);
        total = add_rn(total, mul_rn(value, w));
      }
      result = div_rn(add_rn(total, centre), add_rn(weight_sum, 1.0f));
    }
    dst[flat_index(b, y, x, height, width)] = invert(result, max_depth);
  }
};

// Weighted 5-tap sum in torch_filters._shifted_sum's order: ((((s0 t0 + s1 t1) + s2 t2) ...
__host__ __device__ inline float gauss5(float s0, float s1, float s2, float s3, float s4) {
  float out = mul_rn(s0, kGauss0);
  out = add_rn(out, mul_rn(s1, kGauss1));
  out = add_rn(out, mul_rn(s2, kGauss2));
  out = add_rn(out, mul_rn(s3, kGauss1));
  return add_rn(out, mul_rn(s4, kGauss0));
}

// torch_filters.gaussian_blur5, row pass (along x), BORDER_REFLECT_101.
struct GaussRowStep {
  const float* src;
  float* dst;
  int height, width;

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const float* row = src + flat_index(b, y, 0, height, width);
    dst[flat_index(b, y, x, height, width)] =
        gauss5(row[reflect101(x - 2, width)], row[reflect101(x - 1, width)],
               row[reflect101(x, width)], row[reflect101(x + 1, width)],
               row[reflect101(x + 2, width)]);
  }
};

// Column pass of the row pass's output, then fill_in_fast's "blur valid pixels only" and the
// final inversion: dst = invert(base > 0.1 ? blurred : base).
struct GaussColStep {
  const float* src;
  const float* base;
  float* dst;
  int height, width;
  float max_depth;

  // The row pass at (reflected) row y.
  __host__ __device__ float row_of(int64_t b, int y, int x) const {
    return src[flat_index(b, reflect101(y, height), x, height, width)];
  }

  __host__ __device__ void operator()(int64_t b, int y, int x) const {
    const float blurred = gauss5(row_of(b, y - 2, x), row_of(b, y - 1, x), row_of(b, y, x),
                                 row_of(b, y + 1, x), row_of(b, y + 2, x));
    const int64_t i = flat_index(b, y, x, height, width);
    const float d = base[i];
    dst[i] = invert(d > kValid ? blurred : d, max_depth);
  }
};

// ---------------------------------------------------------------------------------------
// Running a step over every pixel of a (B, H, W) batch, on the GPU or the CPU
// ---------------------------------------------------------------------------------------
template <typename Step>
__global__ void pixel_kernel(const Step step, int height, int width, int64_t batch_offset) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < width && y < height) step(batch_offset + blockIdx.z, y, x);
}

// Calls step(b, y, x) for b < batch, y < height, x < width: one CUDA thread per pixel (blocks
// of 32 x 8, so that a block's window reads share lines in L1), or CPU loops.
template <typename Step>
void for_each_pixel(const Step& step, bool on_cuda, int64_t batch, int height, int width) {
  if (batch == 0) return;
  if (on_cuda) {
    constexpr int64_t kMaxGridZ = 65535;
    const dim3 block = height == 1 ? dim3(256, 1) : dim3(32, 8);
    const int64_t grid_y = (height + block.y - 1) / block.y;
    TORCH_CHECK(grid_y <= 65535, "fill_in_fast_forward: image too tall (", height, " rows)");
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridZ) {
      const dim3 grid((width + block.x - 1) / block.x, static_cast<unsigned int>(grid_y),
                      static_cast<unsigned int>(std::min(kMaxGridZ, batch - b0)));
      pixel_kernel<Step><<<grid, block, 0, stream>>>(step, height, width, b0);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  } else {
    at::parallel_for(0, batch * height, 16, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / height;
        const int y = static_cast<int>(row % height);
        for (int x = 0; x < width; ++x) step(b, y, x);
      }
    });
  }
}

struct Rect {
  int y0, y1, x0, x1;  // inclusive, kernel coordinates
};

// The batch a step runs on: (B, H, W) and where.
struct Batch {
  int64_t size;
  int height, width;
  bool on_cuda;
};

// torch_filters.dilate (kMax) / erode (!kMax) of src with a binary kernel of (kh, kw) given as
// rectangles, anchor (kh / 2, kw / 2), into dst; tmp holds a row pass. Optionally inverts src
// as it reads it, or writes the result only into fill_base's pixels < 0.1 (fill_base is
// src). src must not alias dst or tmp.
template <bool kMax>
void morphology(const Batch& n, const float* src, float* dst, float* tmp, int kh, int kw,
                const std::vector<Rect>& rects, bool invert_input, float max_depth,
                const float* fill_base) {
  if (rects.empty() || (kh == 1 && kw == 1)) {
    // The identity, as torch_filters.dilate (and its fill is then the identity too).
    for_each_pixel(CopyStep{src, dst, n.height, n.width, invert_input, max_depth}, n.on_cuda,
                   n.size, n.height, n.width);
    return;
  }
  const int ay = kh / 2, ax = kw / 2;
  for (size_t r = 0; r < rects.size(); ++r) {
    const Rect& rect = rects[r];
    for_each_pixel(MorphRowStep<kMax>{src, tmp, n.height, n.width, rect.x0 - ax, rect.x1 - ax,
                                      invert_input, max_depth},
                   n.on_cuda, n.size, n.height, n.width);
    const bool last = r + 1 == rects.size();
    for_each_pixel(MorphColStep<kMax>{tmp, dst, last ? fill_base : nullptr, n.height, n.width,
                                      rect.y0 - ay, rect.y1 - ay, r > 0},
                   n.on_cuda, n.size, n.height, n.width);
  }
}

std::vector<Rect> full_kernel(int size) { return {Rect{0, size - 1, 0, size - 1}}; }

at::Tensor fill_in_fast_forward(const at::Tensor& depth, double max_depth, bool extrapolate,
                                bool gaussian, at::IntArrayRef dilation_shape,
                                at::IntArrayRef dilation_rects, int64_t closing_size,
                                int64_t fill_size, int64_t extrapolation_size,
                                at::IntArrayRef bilateral_offsets,
                                at::ArrayRef<double> bilateral_weights, double colour_coeff,
                                bool bilateral_identity) {
  TORCH_CHECK(depth.dim() == 3 && depth.scalar_type() == at::kFloat,
              "fill_in_fast_forward: depth must be a (B, H, W) float32 tensor, got ",
              depth.sizes(), " ", depth.scalar_type());
  TORCH_CHECK(depth.device().is_cuda() || depth.device().is_cpu(),
              "fill_in_fast_forward: unsupported device ", depth.device());
  TORCH_CHECK(depth.size(1) >= 1 && depth.size(2) >= 1 &&
                  depth.size(1) <= std::numeric_limits<int>::max() &&
                  depth.size(2) <= std::numeric_limits<int>::max(),
              "fill_in_fast_forward: bad map size ", depth.sizes());
  TORCH_CHECK(dilation_shape.size() == 2 && dilation_shape[0] >= 1 && dilation_shape[1] >= 1,
              "fill_in_fast_forward: dilation_shape must be (kh, kw), got ", dilation_shape);
  TORCH_CHECK(dilation_rects.size() % 4 == 0,
              "fill_in_fast_forward: dilation_rects must hold (y0, y1, x0, x1) per rectangle");
  TORCH_CHECK(closing_size >= 1 && fill_size >= 1 && extrapolation_size >= 1,
              "fill_in_fast_forward: kernel sizes must be >= 1");
  const int64_t num_taps = static_cast<int64_t>(bilateral_weights.size());
  TORCH_CHECK(bilateral_offsets.size() == 2 * bilateral_weights.size() &&
                  num_taps <= kMaxBilateralTaps,
              "fill_in_fast_forward: expected (dy, dx) per bilateral weight and at most ",
              kMaxBilateralTaps, " taps, got ", bilateral_offsets.size(), " offsets and ",
              num_taps, " weights");

  const int kh = static_cast<int>(dilation_shape[0]), kw = static_cast<int>(dilation_shape[1]);
  std::vector<Rect> dilation;
  for (size_t i = 0; i < dilation_rects.size(); i += 4) {
    const Rect r{static_cast<int>(dilation_rects[i]), static_cast<int>(dilation_rects[i + 1]),
                 static_cast<int>(dilation_rects[i + 2]), static_cast<int>(dilation_rects[i + 3])};
    TORCH_CHECK(0 <= r.y0 && r.y0 <= r.y1 && r.y1 < kh && 0 <= r.x0 && r.x0 <= r.x1 && r.x1 < kw,
                "fill_in_fast_forward: rectangle (", r.y0, ", ", r.y1, ", ", r.x0, ", ", r.x1,
                ") is outside the ", kh, "x", kw, " dilation kernel");
    dilation.push_back(r);
  }

  at::cuda::OptionalCUDAGuard guard;
  if (depth.is_cuda()) guard.set_device(depth.device());
  const at::Tensor x = depth.contiguous();
  const Batch n{x.size(0), static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                x.is_cuda()};
  at::Tensor out = at::empty_like(x);
  if (n.size == 0) return out;
  at::Tensor a = at::empty_like(x), b = at::empty_like(x), tmp = at::empty_like(x);
  float* pa = a.data_ptr<float>();
  float* pb = b.data_ptr<float>();
  float* pt = tmp.data_ptr<float>();
  const float md = static_cast<float>(max_depth);  // torch casts the Python float to float32

  // 1. invert, dilate: a.  2. closing: b, then a.  3. fill empty pixels: b.
  morphology<true>(n, x.data_ptr<float>(), pa, pt, kh, kw, dilation, true, md, nullptr);
  const int closing = static_cast<int>(closing_size), fill = static_cast<int>(fill_size);
  morphology<true>(n, pa, pb, pt, closing, closing, full_kernel(closing), false, md, nullptr);
  morphology<false>(n, pb, pa, pt, closing, closing, full_kernel(closing), false, md, nullptr);
  morphology<true>(n, pa, pb, pt, fill, fill, full_kernel(fill), false, md, pa);
  float* current = pb;
  float* spare = pa;
  // 4. extrapolate to the top rows, then fill empty pixels from a large dilation.
  if (extrapolate) {
    at::Tensor top = at::empty({n.size, n.width}, x.options().dtype(at::kInt));
    for_each_pixel(TopRowStep{current, top.data_ptr<int>(), n.height, n.width}, n.on_cuda,
                   n.size, 1, n.width);
    for_each_pixel(ExtendToTopStep{current, top.data_ptr<int>(), spare, n.height, n.width},
                   n.on_cuda, n.size, n.height, n.width);
    const int size = static_cast<int>(extrapolation_size);
    morphology<true>(n, spare, current, pt, size, size, full_kernel(size), false, md, spare);
  }
  // 5. median.  6. blur, invert back.
  for_each_pixel(Median5Step{current, spare, n.height, n.width}, n.on_cuda, n.size, n.height,
                 n.width);
  float* po = out.data_ptr<float>();
  if (gaussian) {
    for_each_pixel(GaussRowStep{spare, pt, n.height, n.width}, n.on_cuda, n.size, n.height,
                   n.width);
    for_each_pixel(GaussColStep{pt, spare, po, n.height, n.width, md}, n.on_cuda, n.size,
                   n.height, n.width);
  } else {
    BilateralStep step{};
    step.src = spare;
    step.dst = po;
    step.height = n.height;
    step.width = n.width;
    step.num_taps = static_cast<int>(num_taps);
    for (int64_t k = 0; k < num_taps; ++k) {
      step.dy[k] = static_cast<int>(bilateral_offsets[2 * k]);
      step.dx[k] = static_cast<int>(bilateral_offsets[2 * k + 1]);
      step.space_weight[k] = static_cast<float>(bilateral_weights[k]);
    }
    step.colour_coeff = static_cast<float>(colour_coeff);  // as torch's Python-float scalar
    step.identity = bilateral_identity;
    step.max_depth = md;
    for_each_pixel(step, n.on_cuda, n.size, n.height, n.width);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(s3pt_mm, m) {
  m.def(
      "fill_in_fast_forward(Tensor depth, float max_depth, bool extrapolate, bool gaussian, "
      "int[] dilation_shape, int[] dilation_rects, int closing_size, int fill_size, "
      "int extrapolation_size, int[] bilateral_offsets, float[] bilateral_weights, "
      "float colour_coeff, bool bilateral_identity) -> Tensor");
}

TORCH_LIBRARY_IMPL(s3pt_mm, CUDA, m) { m.impl("fill_in_fast_forward", &fill_in_fast_forward); }

TORCH_LIBRARY_IMPL(s3pt_mm, CPU, m) { m.impl("fill_in_fast_forward", &fill_in_fast_forward); }
