// The CUDA spatial clustering kernels built as CPU code by the SIMT emulator (simt.h); registers
// torch.ops.s3pt_mm_simt.spatial_clustering_forward for CPU tensors. Test-only.
#define S3PT_SIMT_EMULATION
#include "simt.h"

#include "../../s3pt_mm/ops/csrc/cuda/spatial_clustering_cuda.cu"
