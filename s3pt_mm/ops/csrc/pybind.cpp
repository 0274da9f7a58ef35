// The Python module s3pt_mm._ext (built by setup.py from every source under csrc/).
//
// The operators are not bound here: each source registers its own with
// TORCH_LIBRARY_FRAGMENT(s3pt_mm, m) / TORCH_LIBRARY_IMPL(s3pt_mm, CUDA, m) when the module is
// loaded, and Python calls them as torch.ops.s3pt_mm.<name> (see s3pt_mm/ops/ext_loader.py).
// This file only makes the shared library importable and says how it was built.
#include <pybind11/pybind11.h>

#ifdef WITH_CUDA
#include <cuda_runtime_api.h>  // CUDART_VERSION
#endif

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() =
      "s3pt_mm's compiled operators; call them through torch.ops.s3pt_mm.<name> "
      "(registered when this module is imported).";
#ifdef WITH_CUDA
  m.attr("with_cuda") = true;
  m.attr("cuda_version") = CUDART_VERSION;  // e.g. 13000 for CUDA 13.0
#else
  m.attr("with_cuda") = false;
  m.attr("cuda_version") = pybind11::none();
#endif
}
