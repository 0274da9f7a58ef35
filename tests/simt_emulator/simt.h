// A small SIMT emulator: compiles CUDA kernels written for s3pt_mm as plain C++ and runs them on
// the CPU, so that their code (not a re-implementation of it) is tested without a GPU.
//
// Each launch runs its blocks one after the other; the threads of a block are fibers on the
// calling thread (entered with ucontext, switched with _setjmp / _longjmp, which save no signal
// mask and so make no system call), switched cooperatively at every synchronisation point.
// What the kernels rely on is given its CUDA meaning:
//   __syncthreads()                   a barrier of the block's live threads
//   __shfl_xor_sync / __ballot_sync   a barrier of the warp's live threads around an exchange
//   __shared__ variables              function-local statics (one block runs at a time)
//   dynamic shared memory             a per-block buffer of the launch's size, filled with junk
//   atomicMin / atomicAdd (int)       plain read-modify-write (one fiber runs at a time)
// A thread that returns leaves its barriers, like an exited CUDA thread. Between two
// synchronisation points the fibers of a block run one after the other, in thread order, or in
// reverse order when the environment variable S3PT_SIMT_ORDER is "reverse": a kernel without
// races gives the same bits both ways. A barrier that can never complete (threads waiting on
// different barriers) raises an error.
// Build flags: -std=c++20; -ffp-contract=off, since the float intrinsics (__fadd_rn, ...) are
// the plain IEEE operations here and must not be fused; -U_FORTIFY_SOURCE, whose checked
// longjmp refuses to switch stacks. expf / logf are the host
// libm's (within an ulp of CUDA's). Not emulated: what these kernels do not use (y/z thread
// indices, float atomics, memory fences, cooperative groups).
#pragma once

#include <c10/util/Exception.h>
#include <setjmp.h>
#include <ucontext.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <memory>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define C10_CUDA_KERNEL_LAUNCH_CHECK() ((void)0)

using std::isfinite;
using std::isnan;
using std::max;
using std::min;
using cudaStream_t = void*;

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace simt {

constexpr int kWarp = 32;
constexpr size_t kStackBytes = 128 * 1024;

struct Barrier {
  int alive = 0;    // participants that have not exited
  int arrived = 0;  // participants waiting now
  unsigned generation = 0;
  void release() {
    arrived = 0;
    ++generation;
  }
};

struct Fiber {
  ucontext_t context;  // first entry only
  jmp_buf resume;      // later switches: _setjmp / _longjmp save no signal mask (no syscall)
  bool started = false;
  bool done = false;
  const Barrier* waiting_on = nullptr;  // not resumed while this barrier's generation is...
  unsigned waiting_generation = 0;      // ...still this one
};

// Fiber stacks, kept from block to block.
inline unsigned char* stack_for(unsigned thread) {
  static std::vector<std::unique_ptr<unsigned char[]>> stacks;
  while (stacks.size() <= thread) stacks.emplace_back(new unsigned char[kStackBytes]);
  return stacks[thread].get();
}

struct Block {
  std::vector<Fiber> fibers;
  Barrier block_barrier;
  std::vector<Barrier> warp_barriers;
  std::vector<uint64_t> exchange;  // one slot per thread, for the warp operations
  std::vector<unsigned char> dynamic_shared;
  jmp_buf scheduler;
  unsigned current = 0;
  const std::function<void()>* body = nullptr;
};

inline dim3 thread_idx{0, 0, 0};
inline dim3 block_idx{0, 0, 0};
inline dim3 block_dim, grid_dim;
inline Block* current_block = nullptr;

template <typename T>
T* dynamic_shared() {
  return reinterpret_cast<T*>(current_block->dynamic_shared.data());
}

inline void yield() {
  Block& block = *current_block;
  if (!_setjmp(block.fibers[block.current].resume)) _longjmp(block.scheduler, 1);
}

inline void wait(Barrier& barrier) {
  if (++barrier.arrived == barrier.alive) {
    barrier.release();
    return;
  }
  Fiber& fiber = current_block->fibers[current_block->current];
  fiber.waiting_on = &barrier;
  fiber.waiting_generation = barrier.generation;
  while (barrier.generation == fiber.waiting_generation) yield();
  fiber.waiting_on = nullptr;
}

inline Barrier& warp_barrier() { return current_block->warp_barriers[thread_idx.x / kWarp]; }

inline void fiber_main() {
  Block& block = *current_block;
  (*block.body)();
  // Exit: leave the block's and the warp's barriers, releasing them if this thread was the
  // last one they waited for.
  for (Barrier* barrier : {&block.block_barrier, &block.warp_barriers[block.current / kWarp]}) {
    --barrier->alive;
    if (barrier->arrived > 0 && barrier->arrived == barrier->alive) barrier->release();
  }
  block.fibers[block.current].done = true;
  _longjmp(block.scheduler, 1);  // never returns
}

template <typename T>
T shfl_xor(T value, int offset) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>);
  const unsigned tid = thread_idx.x;
  const unsigned source = (tid - tid % kWarp) + ((tid % kWarp) ^ static_cast<unsigned>(offset));
  uint64_t slot = 0;
  std::memcpy(&slot, &value, sizeof(T));
  current_block->exchange[tid] = slot;
  wait(warp_barrier());
  T out;
  slot = current_block->exchange[source];
  std::memcpy(&out, &slot, sizeof(T));
  wait(warp_barrier());  // nobody overwrites a slot before everyone has read
  return out;
}

inline unsigned ballot(bool predicate) {
  const unsigned tid = thread_idx.x;
  const unsigned base = tid - tid % kWarp;
  current_block->exchange[tid] = predicate ? 1 : 0;
  wait(warp_barrier());
  unsigned mask = 0;
  for (unsigned lane = 0; lane < kWarp && base + lane < block_dim.x; ++lane) {
    if (current_block->exchange[base + lane]) mask |= 1u << lane;
  }
  wait(warp_barrier());
  return mask;
}

// Runs one block of ``body`` to completion.
inline void run_block(const std::function<void()>& body, unsigned threads, size_t shared_bytes) {
  Block block;
  block.body = &body;
  block.fibers.resize(threads);
  block.exchange.resize(threads);
  block.block_barrier.alive = static_cast<int>(threads);
  for (unsigned w = 0; w < (threads + kWarp - 1) / kWarp; ++w) {
    block.warp_barriers.emplace_back();
    const unsigned lanes = std::min<unsigned>(kWarp, threads - w * kWarp);
    block.warp_barriers.back().alive = static_cast<int>(lanes);
  }
  // Shared memory starts undefined on a GPU: junk (0x7f7f7f7f = 3.39e38f) instead of zeros, so
  // that a kernel reading before writing fails the tests.
  block.dynamic_shared.assign(shared_bytes + 16, 0x7f);
  current_block = &block;
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& fiber = block.fibers[t];
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = stack_for(t);
    fiber.context.uc_stack.ss_size = kStackBytes;
    fiber.context.uc_link = nullptr;
    makecontext(&fiber.context, &fiber_main, 0);
  }
  const char* order = std::getenv("S3PT_SIMT_ORDER");
  const bool reverse = order != nullptr && std::strcmp(order, "reverse") == 0;
  unsigned remaining = threads;
  while (remaining > 0) {
    bool resumed = false;
    for (unsigned i = 0; i < threads; ++i) {
      const unsigned t = reverse ? threads - 1 - i : i;
      Fiber& fiber = block.fibers[t];
      if (fiber.done ||
          (fiber.waiting_on && fiber.waiting_on->generation == fiber.waiting_generation)) {
        continue;
      }
      block.current = t;
      thread_idx = dim3(t, 0, 0);
      resumed = true;
      if (!_setjmp(block.scheduler)) {
        if (fiber.started) _longjmp(fiber.resume, 1);
        fiber.started = true;
        setcontext(&fiber.context);
      }
      if (fiber.done) --remaining;
    }
    TORCH_CHECK(remaining == 0 || resumed,
                "SIMT emulator: deadlock, ", remaining, " threads of block (", block_idx.x, ", ",
                block_idx.y, ") wait on barriers that cannot complete");
  }
  current_block = nullptr;
}

template <typename... Params>
struct Launcher {
  void (*kernel)(Params...);
  dim3 grid, block;
  size_t shared_bytes;

  template <typename... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "kernel argument count");
    grid_dim = grid;
    block_dim = block;
    const std::function<void()> body = [&] { kernel(static_cast<Params>(args)...); };
    for (unsigned bz = 0; bz < grid.z; ++bz) {
      for (unsigned by = 0; by < grid.y; ++by) {
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          block_idx = dim3(bx, by, bz);
          run_block(body, block.x, shared_bytes);
        }
      }
    }
  }
};

template <typename... Params>
Launcher<Params...> launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared) {
  return Launcher<Params...>{kernel, grid, block, shared};
}

}  // namespace simt

#define threadIdx (simt::thread_idx)
#define blockIdx (simt::block_idx)
#define blockDim (simt::block_dim)
#define gridDim (simt::grid_dim)

inline void __syncthreads() { simt::wait(simt::current_block->block_barrier); }

template <typename T>
inline T __shfl_xor_sync(unsigned /*mask: full warps only*/, T value, int offset) {
  return simt::shfl_xor(value, offset);
}

inline unsigned __ballot_sync(unsigned /*mask: full warps only*/, bool predicate) {
  return simt::ballot(predicate);
}

inline int __ffs(unsigned x) { return __builtin_ffs(static_cast<int>(x)); }

// One fiber runs at a time: a read-modify-write is atomic.
inline int atomicMin(int* address, int value) {
  const int old = *address;
  *address = std::min(old, value);
  return old;
}

inline int atomicAdd(int* address, int value) {
  const int old = *address;
  *address = old + value;
  return old;
}

inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
