// LiDAR points -> per-camera sparse depth maps with a z-buffer, in one kernel.
//
// The CUDA backend of s3pt_mm.ops.project_points_to_depth (docs/method.md §4); it returns
// exactly what the torch path (_project_torch in s3pt_mm/ops/depth_projection.py) returns:
//
//   depth = P[2] . (x, y, z, 1)             kept when depth > min_depth
//   u = P[0] . (x, y, z, 1) / depth + 0.5,  v = P[1] . (x, y, z, 1) / depth + 0.5
//   kept when 0 <= u < W and 0 <= v < H; pixel (floor(v), floor(u)) = nearest pixel centre
//   the pixel keeps the smallest float32(depth) of the points that land on it, 0 = none
//
// in float64, every product, sum and quotient rounded on its own in the torch path's order
// (__dmul_rn / __dadd_rn / __ddiv_rn cannot be fused into FMAs by the compiler), so the
// pixels and the float32 depths are bit-identical to the torch path.
//
// Operator (registered below, called from Python as torch.ops.s3pt_mm.<name>):
//   depth_projection_forward(Tensor xyz, Tensor proj, int height, int width, float min_depth)
//       -> Tensor
//   xyz (N, 3) float64, proj (Ncam, 3, 4) float64 on one device; returns (Ncam, H, W) float32.
// A CPU implementation of the same arithmetic is registered too: it runs the kernel's code on
// machines without a GPU, so that the tests can check it there against the torch path.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../common/rounded_math.cuh"

#include <cstdint>
#include <limits>

namespace {

constexpr int kThreads = 256;

using s3pt_mm::add_rn;
using s3pt_mm::div_rn;
using s3pt_mm::mul_rn;
using s3pt_mm::sub_rn;

// row . (x, y, z, 1) as the torch path computes it: ((x r0 + y r1) + z r2) + r3.
__host__ __device__ inline double affine_row(double x, double y, double z, const double* row) {
  return add_rn(add_rn(add_rn(mul_rn(x, row[0]), mul_rn(y, row[1])), mul_rn(z, row[2])),
                row[3]);
}

// Projects one point with one camera's (3, 4) matrix. Returns false when the point is not
// kept; else sets the pixel's index in the (H, W) map and the float32 depth.
__host__ __device__ inline bool project_point(double x, double y, double z, const double* proj,
                                              int height, int width, double min_depth,
                                              int64_t* pixel, float* depth) {
  const double d = affine_row(x, y, z, proj + 8);
  if (!(d > min_depth)) return false;
  // Shifted by half a pixel: pixel j spans [j - 0.5, j + 0.5) and becomes floor(u).
  const double u = add_rn(div_rn(affine_row(x, y, z, proj), d), 0.5);
  const double v = add_rn(div_rn(affine_row(x, y, z, proj + 4), d), 0.5);
  if (!(u >= 0.0 && u < static_cast<double>(width) && v >= 0.0 &&
        v < static_cast<double>(height))) {
    return false;
  }
  // Truncation == floor for the non-negative u, v kept here.
  *pixel = static_cast<int64_t>(v) * width + static_cast<int64_t>(u);
  *depth = static_cast<float>(d);  // round to nearest, as Tensor.float()
  return true;
}

// z-buffer write: keep the smaller of the stored and the new depth, 0 = empty pixel. Kept
// depths are > min_depth > 0 (the Python side guarantees that they do not round to 0 in
// float32), and for positive floats the order of their bits as unsigned integers is the
// order of the values, so a compare-and-swap loop on the bits is an atomic minimum.
__device__ inline void atomic_min_depth(float* address, float depth) {
  unsigned int* bits_address = reinterpret_cast<unsigned int*>(address);
  const unsigned int bits = __float_as_uint(depth);
  unsigned int old = *bits_address;
  while (old == 0u || bits < old) {
    const unsigned int assumed = old;
    old = atomicCAS(bits_address, assumed, bits);
    if (old == assumed) break;  // written; else retry against the value another thread wrote
  }
}

// One thread per point, looping over the cameras (a point lands in at most a few of them).
__global__ void depth_projection_kernel(const double* __restrict__ xyz,
                                        const double* __restrict__ proj, int64_t num_points,
                                        int num_cams, int height, int width, double min_depth,
                                        float* __restrict__ out) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= num_points) return;
  const double x = xyz[3 * n], y = xyz[3 * n + 1], z = xyz[3 * n + 2];
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int cam = 0; cam < num_cams; ++cam) {
    int64_t pixel;
    float depth;
    if (project_point(x, y, z, proj + 12 * cam, height, width, min_depth, &pixel, &depth)) {
      atomic_min_depth(out + cam * plane + pixel, depth);
    }
  }
}

// The same per-point arithmetic on the CPU, points in order (no atomics needed).
void depth_projection_cpu(const double* xyz, const double* proj, int64_t num_points,
                          int num_cams, int height, int width, double min_depth, float* out) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int64_t n = 0; n < num_points; ++n) {
    const double x = xyz[3 * n], y = xyz[3 * n + 1], z = xyz[3 * n + 2];
    for (int cam = 0; cam < num_cams; ++cam) {
      int64_t pixel;
      float depth;
      if (project_point(x, y, z, proj + 12 * cam, height, width, min_depth, &pixel, &depth)) {
        float& stored = out[cam * plane + pixel];
        if (stored == 0.0f || depth < stored) stored = depth;
      }
    }
  }
}

at::Tensor depth_projection_forward(const at::Tensor& xyz, const at::Tensor& proj,
                                    int64_t height, int64_t width, double min_depth) {
  TORCH_CHECK(xyz.dim() == 2 && xyz.size(1) == 3 && xyz.scalar_type() == at::kDouble,
              "depth_projection_forward: xyz must be a (N, 3) float64 tensor, got ",
              xyz.sizes(), " ", xyz.scalar_type());
  TORCH_CHECK(proj.dim() == 3 && proj.size(1) == 3 && proj.size(2) == 4 &&
                  proj.scalar_type() == at::kDouble,
              "depth_projection_forward: proj must be a (Ncam, 3, 4) float64 tensor, got ",
              proj.sizes(), " ", proj.scalar_type());
  TORCH_CHECK(xyz.device() == proj.device(), "depth_projection_forward: xyz is on ",
              xyz.device(), " but proj is on ", proj.device());
  TORCH_CHECK(height > 0 && width > 0 && height <= std::numeric_limits<int>::max() &&
                  width <= std::numeric_limits<int>::max(),
              "depth_projection_forward: bad image size ", height, " x ", width);
  TORCH_CHECK(min_depth > 0.0, "depth_projection_forward: min_depth must be > 0, got ",
              min_depth);
  TORCH_CHECK(proj.size(0) <= std::numeric_limits<int>::max(),
              "depth_projection_forward: too many cameras");

  at::cuda::OptionalCUDAGuard guard;
  if (xyz.is_cuda()) guard.set_device(xyz.device());
  const at::Tensor points = xyz.contiguous();
  const at::Tensor matrices = proj.contiguous();
  const int64_t num_points = points.size(0);
  const int num_cams = static_cast<int>(matrices.size(0));
  at::Tensor out = at::zeros({matrices.size(0), height, width},
                             points.options().dtype(at::kFloat));
  if (num_points == 0 || num_cams == 0) return out;

  if (points.is_cuda()) {
    const int64_t blocks = (num_points + kThreads - 1) / kThreads;
    TORCH_CHECK(blocks <= std::numeric_limits<int>::max(),
                "depth_projection_forward: too many points (", num_points, ")");
    depth_projection_kernel<<<static_cast<unsigned int>(blocks), kThreads, 0,
                              at::cuda::getCurrentCUDAStream()>>>(
        points.data_ptr<double>(), matrices.data_ptr<double>(), num_points, num_cams,
        static_cast<int>(height), static_cast<int>(width), min_depth, out.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  } else {
    TORCH_CHECK(points.device().is_cpu(), "depth_projection_forward: unsupported device ",
                points.device());
    depth_projection_cpu(points.data_ptr<double>(), matrices.data_ptr<double>(), num_points,
                         num_cams, static_cast<int>(height), static_cast<int>(width),
                         min_depth, out.data_ptr<float>());
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(s3pt_mm, m) {
  m.def(
      "depth_projection_forward(Tensor xyz, Tensor proj, int height, int width, "
      "float min_depth) -> Tensor");
}

TORCH_LIBRARY_IMPL(s3pt_mm, CUDA, m) {
  m.impl("depth_projection_forward", &depth_projection_forward);
}

TORCH_LIBRARY_IMPL(s3pt_mm, CPU, m) {
  m.impl("depth_projection_forward", &depth_projection_forward);
}
