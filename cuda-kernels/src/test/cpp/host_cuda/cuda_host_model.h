// A small CUDA execution model for the host, so that gpups_kernels.cu itself (unmodified) compiles with g++ and its
// kernels run on a machine without a GPU. It models what the kernels rely on, nothing more:
//
//   * Thread indexing: threadIdx, blockIdx, blockDim and gridDim, read through the running CUDA thread.
//   * Blocks: a launch runs its blocks one after another, last block first (no kernel may rely on block order), on the
//     calling OS thread, so a run is deterministic. A block's threads are fibers on that OS thread, each with its own
//     stack; a fiber runs until it waits at a barrier or returns, then the next ready fiber runs. Thread t of a block
//     therefore runs ahead of thread t+1 up to the next barrier: whatever a missing barrier lets one thread see of
//     another's unfinished work, it sees here.
//   * __shared__: a static thread_local, i.e. one copy per OS thread, and the OS thread runs one block at a time, so
//     one copy per block. Like CUDA's, it is not initialized per block. Dynamic shared memory is not modelled.
//   * __syncthreads(): every thread of the block must arrive; a block whose threads cannot all arrive (some returned,
//     or wait at a warp collective) is reported as a deadlock, where a GPU's behaviour is undefined.
//   * Warp collectives (__shfl*_sync, __ballot_sync, __any_sync, __all_sync, __syncwarp): a rendezvous of the lanes
//     named in the mask. Each calling lane must be in the mask and every lane in the mask must call with the same
//     mask (CUDA's rule); a violation, or a lane of the mask that never comes, is an error naming block, warp and lane.
//     One collective per warp at a time: two disjoint masks in one warp at once (legal CUDA) are reported too.
//   * Atomics: the GCC __atomic builtins, so they stay atomic even if blocks ever run in parallel.
//   * Math: the C library's float functions (what the CPU device uses), no fused multiply-add (compile with
//     -ffp-contract=off). nvcc contracts a*b+c into FMA and its expf/logf are not correctly rounded, so a GPU may
//     differ in the last bits where this model and the CPU device agree; the model checks the kernels' indexing,
//     their float4 and scalar paths, their barriers and collectives, not a GPU's rounding, timing or memory model.
//
// The header defines functions in assembly: include it in one translation unit only.
//
// An error inside a kernel (a collective misused, a deadlock) ends the launch: cuda_host::launch throws
// std::runtime_error naming it, and the other threads of that block are abandoned where they stand.
#ifndef GPUPS_CUDA_HOST_MODEL_H
#define GPUPS_CUDA_HOST_MODEL_H

#include <sys/mman.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <math.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

// ---- declaration specifiers ---------------------------------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __align__(n) alignas(n)
#define __shared__ static thread_local
#define __constant__ static
#define __launch_bounds__(...)

// ---- vector types -------------------------------------------------------------------------------------------------

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned int x, y;
};

static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 is CUDA's 16-byte aligned vector");
static_assert(sizeof(uint2) == 8 && alignof(uint2) == 8, "uint2 is CUDA's 8-byte aligned vector");

inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline uint2 make_uint2(unsigned int x, unsigned int y) { return uint2{x, y}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return uint4{x, y, z, w}; }

namespace cuda_host {

constexpr unsigned int WARP_SIZE = 32;
constexpr unsigned int MAX_THREADS_PER_BLOCK = 1024;
constexpr std::size_t STACK_BYTES = 64 * 1024;

// ---- fibers -------------------------------------------------------------------------------------------------------

/** A CUDA thread's own stack and saved registers. */
struct Fiber {
#if defined(__x86_64__)
    void* sp = nullptr;  // saved stack pointer; the callee-saved registers lie on the stack below it
#else
    ucontext_t context;
#endif
    unsigned char* stack = nullptr;
};

#if defined(__x86_64__)
// switch_stack(&from->sp, to->sp): pushes the System V callee-saved registers, saves the stack pointer, loads the other
// one and pops its registers. A new fiber's stack is laid out to "return" into fiber_entry (see start_fiber).
extern "C" __attribute__((visibility("hidden"))) void gpups_cuda_host_switch(void** save_sp, void* load_sp);
extern "C" __attribute__((visibility("hidden"))) void gpups_cuda_host_fiber_entry();
asm(R"(
    .text
    .globl gpups_cuda_host_switch
    .hidden gpups_cuda_host_switch
    .type gpups_cuda_host_switch, @function
gpups_cuda_host_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gpups_cuda_host_switch, .-gpups_cuda_host_switch
)");
#endif

enum class ThreadState { READY, AT_SYNCTHREADS, AT_WARP_COLLECTIVE, DONE };

/** One CUDA thread of the running block. */
struct Thread {
    Fiber fiber;
    uint3 thread_idx{0, 0, 0};
    unsigned int linear = 0;  // x + y * blockDim.x + z * blockDim.x * blockDim.y
    ThreadState state = ThreadState::DONE;
};

/** A warp's rendezvous: lanes arrive, the last one releases them; values are exchanged through `slots`. */
struct Warp {
    unsigned int arrived = 0;          // lanes waiting at the current collective
    unsigned int mask = 0;             // the mask of the current collective
    unsigned int lanes = 0;            // lanes of this warp that exist in the block
    unsigned long long slots[WARP_SIZE] = {};
};

/** The state of the block being run, and of the OS thread running it. */
struct Block {
    std::vector<Thread> threads;
    std::vector<Warp> warps;
    uint3 block_idx{0, 0, 0};
    dim3 block_dim;
    dim3 grid_dim;
    unsigned int count = 0;       // threads in the block
    unsigned int at_barrier = 0;  // threads waiting at __syncthreads
    unsigned int done = 0;
    Thread* current = nullptr;
    Fiber scheduler;
    void (*body)(void*) = nullptr;  // runs the kernel with its arguments
    void* body_context = nullptr;
    std::string error;  // set by a thread that misused the model; ends the launch
    std::vector<unsigned char*> stacks;

    ~Block() {
        for (unsigned char* s : stacks) {
            munmap(s, STACK_BYTES);
        }
    }
};

inline Block& block() {
    static thread_local Block b;
    return b;
}

inline Thread& this_thread() {
    return *block().current;
}

inline void switch_fiber(Fiber& from, Fiber& to) {
#if defined(__x86_64__)
    gpups_cuda_host_switch(&from.sp, to.sp);
#else
    swapcontext(&from.context, &to.context);
#endif
}

/** Back to the scheduler; returns when this thread is resumed. */
inline void yield() {
    Block& b = block();
    switch_fiber(b.current->fiber, b.scheduler);
}

/** Ends this thread with an error: the launch stops and reports it. Never returns. */
[[noreturn]] inline void fail(const std::string& what) {
    Block& b = block();
    if (b.error.empty()) {
        const Thread& t = *b.current;
        b.error = "block (" + std::to_string(b.block_idx.x) + "," + std::to_string(b.block_idx.y) + ","
                + std::to_string(b.block_idx.z) + ") thread " + std::to_string(t.linear) + " (warp "
                + std::to_string(t.linear / WARP_SIZE) + " lane " + std::to_string(t.linear % WARP_SIZE) + "): " + what;
    }
    b.current->state = ThreadState::DONE;
    for (;;) {
        yield();
    }
}

inline void run_current_thread() {
    Block& b = block();
    try {
        b.body(b.body_context);
    } catch (const std::exception& e) {
        fail(std::string("exception: ") + e.what());
    } catch (...) {
        fail("unknown exception");
    }
    b.current->state = ThreadState::DONE;
    ++b.done;
    for (;;) {
        yield();  // the scheduler never resumes a finished thread
    }
}

}  // namespace cuda_host

#if defined(__x86_64__)
extern "C" __attribute__((used, visibility("hidden"))) void gpups_cuda_host_fiber_entry_body() {
    cuda_host::run_current_thread();
}
// Entered by the ret of gpups_cuda_host_switch with the stack 16-byte aligned; never returns.
asm(R"(
    .text
    .globl gpups_cuda_host_fiber_entry
    .hidden gpups_cuda_host_fiber_entry
    .type gpups_cuda_host_fiber_entry, @function
gpups_cuda_host_fiber_entry:
    call gpups_cuda_host_fiber_entry_body
    ud2
    .size gpups_cuda_host_fiber_entry, .-gpups_cuda_host_fiber_entry
)");
#endif

namespace cuda_host {

/** Prepares thread t's fiber to start the kernel body when first switched to. */
inline void start_fiber(Block& b, Thread& t, std::size_t index) {
    while (b.stacks.size() <= index) {
        void* s = mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s == MAP_FAILED) {
            throw std::runtime_error("cuda_host: cannot map a thread stack");
        }
        mprotect(s, 4096, PROT_NONE);  // a guard page: an overflow faults instead of corrupting the next stack
        b.stacks.push_back(static_cast<unsigned char*>(s));
    }
    t.fiber.stack = b.stacks[index];
#if defined(__x86_64__)
    // The switch's ret pops fiber_entry's address and leaves the stack 16-byte aligned, so fiber_entry's call enters
    // its callee as a call from C would (stack pointer + 8 aligned).
    auto* top = reinterpret_cast<std::uintptr_t*>(t.fiber.stack + STACK_BYTES);  // 16-byte aligned
    *--top = reinterpret_cast<std::uintptr_t>(&gpups_cuda_host_fiber_entry);
    for (int r = 0; r < 6; ++r) {
        *--top = 0;  // rbp, rbx, r12..r15
    }
    t.fiber.sp = top;
#else
    getcontext(&t.fiber.context);
    t.fiber.context.uc_stack.ss_sp = t.fiber.stack;
    t.fiber.context.uc_stack.ss_size = STACK_BYTES;
    t.fiber.context.uc_link = nullptr;
    makecontext(&t.fiber.context, reinterpret_cast<void (*)()>(&run_current_thread), 0);
#endif
}

inline std::string describe_deadlock(const Block& b) {
    unsigned int sync = 0, warp = 0;
    for (const Thread& t : b.threads) {
        sync += t.state == ThreadState::AT_SYNCTHREADS ? 1 : 0;
        warp += t.state == ThreadState::AT_WARP_COLLECTIVE ? 1 : 0;
    }
    std::string s = "block (" + std::to_string(b.block_idx.x) + "," + std::to_string(b.block_idx.y) + ","
            + std::to_string(b.block_idx.z) + ") deadlocked: " + std::to_string(sync) + " of " + std::to_string(b.count)
            + " threads wait at __syncthreads, " + std::to_string(warp) + " at a warp collective, "
            + std::to_string(b.done) + " returned";
    for (std::size_t w = 0; w < b.warps.size(); ++w) {
        if (b.warps[w].arrived != 0) {
            char mask[16];
            snprintf(mask, sizeof mask, "0x%08x", b.warps[w].mask);
            s += "; warp " + std::to_string(w) + ": " + std::to_string(__builtin_popcount(b.warps[w].arrived))
                    + " lanes wait at a collective with mask " + mask;
        }
    }
    return s;
}

/** Runs one block: every thread from the start of the kernel body to its return. */
inline void run_block(Block& b) {
    const unsigned int n = b.count;
    b.threads.resize(n);
    b.warps.assign((n + WARP_SIZE - 1) / WARP_SIZE, Warp{});
    for (std::size_t w = 0; w < b.warps.size(); ++w) {
        const unsigned int lanes = n - (unsigned int) w * WARP_SIZE < WARP_SIZE ? n - (unsigned int) w * WARP_SIZE
                                                                                 : WARP_SIZE;
        b.warps[w].lanes = lanes == WARP_SIZE ? 0xffffffffu : (1u << lanes) - 1u;
    }
    for (unsigned int i = 0; i < n; ++i) {
        Thread& t = b.threads[i];
        t.linear = i;
        t.thread_idx = uint3{i % b.block_dim.x, (i / b.block_dim.x) % b.block_dim.y, i / (b.block_dim.x * b.block_dim.y)};
        t.state = ThreadState::READY;
        start_fiber(b, t, i);
    }
    b.at_barrier = 0;
    b.done = 0;
    b.error.clear();
    while (b.done < n) {
        bool ran = false;
        for (unsigned int i = 0; i < n && b.error.empty(); ++i) {
            Thread& t = b.threads[i];
            if (t.state != ThreadState::READY) {
                continue;
            }
            b.current = &t;
            switch_fiber(b.scheduler, t.fiber);
            b.current = nullptr;
            ran = true;
        }
        if (!b.error.empty()) {
            throw std::runtime_error(b.error);
        }
        if (!ran) {
            throw std::runtime_error(describe_deadlock(b));
        }
    }
}

// ---- barriers and collectives -------------------------------------------------------------------------------------

inline void syncthreads() {
    Block& b = block();
    Thread& t = *b.current;
    if (++b.at_barrier == b.count) {
        b.at_barrier = 0;
        for (Thread& other : b.threads) {
            if (other.state == ThreadState::AT_SYNCTHREADS) {
                other.state = ThreadState::READY;
            }
        }
        return;  // the last to arrive goes on at once
    }
    t.state = ThreadState::AT_SYNCTHREADS;
    yield();
}

inline std::string hex(unsigned int v) {
    char s[16];
    snprintf(s, sizeof s, "0x%08x", v);
    return s;
}

/**
 * The rendezvous of a warp collective: stores this lane's value, waits for every lane of the mask, and returns the
 * warp's slots (valid until this lane's next collective). Two phases, so no lane overwrites a slot before all have
 * read the previous collective's.
 */
inline const unsigned long long* warp_exchange(unsigned int mask, unsigned long long value, const char* what) {
    Block& b = block();
    Thread& t = *b.current;
    Warp& w = b.warps[t.linear / WARP_SIZE];
    const unsigned int lane_bit = 1u << (t.linear % WARP_SIZE);
    if ((mask & lane_bit) == 0) {
        fail(std::string(what) + " with mask " + hex(mask) + ", which leaves out the calling lane");
    }
    if ((mask & ~w.lanes) != 0) {
        fail(std::string(what) + " with mask " + hex(mask) + " names lanes the warp does not have (it has "
             + hex(w.lanes) + ")");
    }
    auto rendezvous = [&]() {
        if (w.arrived == 0) {
            w.mask = mask;
        } else if (w.mask != mask) {
            fail(std::string(what) + " with mask " + hex(mask) + " while other lanes of the warp wait with mask "
                 + hex(w.mask));
        }
        w.arrived |= lane_bit;
        if (w.arrived == mask) {
            w.arrived = 0;
            const unsigned int base = (t.linear / WARP_SIZE) * WARP_SIZE;
            for (unsigned int l = 0; l < WARP_SIZE; ++l) {
                if ((mask >> l) & 1u) {
                    Thread& other = b.threads[base + l];
                    if (other.state == ThreadState::AT_WARP_COLLECTIVE) {
                        other.state = ThreadState::READY;
                    }
                }
            }
            return;
        }
        t.state = ThreadState::AT_WARP_COLLECTIVE;
        yield();
    };
    rendezvous();  // every lane of the mask has arrived at this collective (and read the previous one's slots)
    w.slots[t.linear % WARP_SIZE] = value;
    rendezvous();  // every lane's value is in its slot
    return w.slots;
}

inline unsigned int lane() {
    return this_thread().linear % WARP_SIZE;
}

template <class T>
inline unsigned long long to_slot(T v) {
    static_assert(sizeof(T) <= sizeof(unsigned long long), "a shuffled value fits 8 bytes");
    unsigned long long s = 0;
    std::memcpy(&s, &v, sizeof v);
    return s;
}

template <class T>
inline T from_slot(unsigned long long s) {
    T v;
    std::memcpy(&v, &s, sizeof v);
    return v;
}

/** The value of lane `src` of this lane's width-wide segment; a lane outside the mask yields this lane's own value. */
template <class T>
inline T shuffle(unsigned int mask, T v, int src, int width, const char* what) {
    if (width <= 0 || width > (int) WARP_SIZE || (width & (width - 1)) != 0) {
        fail(std::string(what) + " with width " + std::to_string(width) + ", not a power of two up to 32");
    }
    const unsigned long long* slots = warp_exchange(mask, to_slot(v), what);
    const unsigned int from = (lane() & ~(unsigned int) (width - 1)) | ((unsigned int) src & (unsigned int) (width - 1));
    if (((mask >> from) & 1u) == 0) {
        fail(std::string(what) + " reads lane " + std::to_string(from) + ", which is not in the mask " + hex(mask));
    }
    return from_slot<T>(slots[from]);
}

}  // namespace cuda_host

// ---- CUDA's built-in variables and functions ----------------------------------------------------------------------

#define threadIdx (cuda_host::this_thread().thread_idx)
#define blockIdx (cuda_host::block().block_idx)
#define blockDim (cuda_host::block().block_dim)
#define gridDim (cuda_host::block().grid_dim)
#define warpSize 32

inline void __syncthreads() {
    cuda_host::syncthreads();
}

inline void __syncwarp(unsigned int mask = 0xffffffffu) {
    cuda_host::warp_exchange(mask, 0, "__syncwarp");
}

/** The lanes of the warp that have not returned (the model's warps never diverge between barriers). */
inline unsigned int __activemask() {
    cuda_host::Block& b = cuda_host::block();
    const unsigned int base = (cuda_host::this_thread().linear / cuda_host::WARP_SIZE) * cuda_host::WARP_SIZE;
    unsigned int mask = 0;
    for (unsigned int l = 0; l < cuda_host::WARP_SIZE && base + l < b.count; ++l) {
        mask |= b.threads[base + l].state != cuda_host::ThreadState::DONE ? 1u << l : 0u;
    }
    return mask;
}

inline unsigned int __ballot_sync(unsigned int mask, int predicate) {
    const unsigned long long* slots = cuda_host::warp_exchange(mask, predicate != 0 ? 1 : 0, "__ballot_sync");
    unsigned int ballot = 0;
    for (unsigned int l = 0; l < cuda_host::WARP_SIZE; ++l) {
        ballot |= ((mask >> l) & 1u) && slots[l] != 0 ? 1u << l : 0u;
    }
    return ballot;
}

inline int __any_sync(unsigned int mask, int predicate) {
    const unsigned long long* slots = cuda_host::warp_exchange(mask, predicate != 0 ? 1 : 0, "__any_sync");
    for (unsigned int l = 0; l < cuda_host::WARP_SIZE; ++l) {
        if (((mask >> l) & 1u) && slots[l] != 0) {
            return 1;
        }
    }
    return 0;
}

inline int __all_sync(unsigned int mask, int predicate) {
    const unsigned long long* slots = cuda_host::warp_exchange(mask, predicate != 0 ? 1 : 0, "__all_sync");
    for (unsigned int l = 0; l < cuda_host::WARP_SIZE; ++l) {
        if (((mask >> l) & 1u) && slots[l] == 0) {
            return 0;
        }
    }
    return 1;
}

template <class T>
inline T __shfl_sync(unsigned int mask, T var, int src_lane, int width = warpSize) {
    return cuda_host::shuffle(mask, var, src_lane, width, "__shfl_sync");
}

template <class T>
inline T __shfl_xor_sync(unsigned int mask, T var, int lane_mask, int width = warpSize) {
    return cuda_host::shuffle(mask, var, (int) (cuda_host::lane() ^ (unsigned int) lane_mask), width, "__shfl_xor_sync");
}

/** A source lane below the segment's start leaves the value unchanged, as on the GPU. */
template <class T>
inline T __shfl_up_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
    const unsigned int in_segment = cuda_host::lane() & (unsigned int) (width - 1);
    const int src = in_segment >= delta ? (int) (cuda_host::lane() - delta) : (int) cuda_host::lane();
    return cuda_host::shuffle(mask, var, src, width, "__shfl_up_sync");
}

template <class T>
inline T __shfl_down_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
    const unsigned int in_segment = cuda_host::lane() & (unsigned int) (width - 1);
    const int src = in_segment + delta < (unsigned int) width ? (int) (cuda_host::lane() + delta)
                                                              : (int) cuda_host::lane();
    return cuda_host::shuffle(mask, var, src, width, "__shfl_down_sync");
}

inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int) x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned int __brev(unsigned int x) {
    unsigned int r = 0;
    for (int i = 0; i < 32; ++i) {
        r |= ((x >> i) & 1u) << (31 - i);
    }
    return r;
}

// Fast-math intrinsics: the C library's correctly rounded (or glibc's) functions, as the CPU device computes them. On a
// GPU these are approximations (__fdividef, __expf, __logf: a few ulp; rsqrtf: 2 ulp), so where a kernel uses them the
// model agrees with the CPU device, not with the GPU's last bits.
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __saturatef(float x) { return x > 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, sizeof i); return i; }
inline unsigned int __float_as_uint(float f) { unsigned int i; std::memcpy(&i, &f, sizeof i); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, sizeof f); return f; }
inline float __uint_as_float(unsigned int i) { float f; std::memcpy(&f, &i, sizeof f); return f; }

// ---- atomics: the old value, as CUDA's --------------------------------------------------------------------------------

template <class T>
inline T cuda_host_atomic_add(T* address, T value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}

inline int atomicAdd(int* address, int value) { return cuda_host_atomic_add(address, value); }
inline unsigned int atomicAdd(unsigned int* address, unsigned int value) { return cuda_host_atomic_add(address, value); }
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
    return cuda_host_atomic_add(address, value);
}
inline int atomicSub(int* address, int value) { return __atomic_fetch_sub(address, value, __ATOMIC_RELAXED); }
inline unsigned int atomicSub(unsigned int* address, unsigned int value) {
    return __atomic_fetch_sub(address, value, __ATOMIC_RELAXED);
}

/** A float add as a compare-and-swap loop on its bits (one rounding per add, as the GPU's). */
inline float atomicAdd(float* address, float value) {
    unsigned int* bits = reinterpret_cast<unsigned int*>(address);
    unsigned int old = __atomic_load_n(bits, __ATOMIC_RELAXED);
    for (;;) {
        const float sum = __uint_as_float(old) + value;
        if (__atomic_compare_exchange_n(bits, &old, __float_as_uint(sum), false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            return __uint_as_float(old);
        }
    }
}

template <class T>
inline T cuda_host_atomic_cas(T* address, T compare, T value) {
    __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;  // the old value whether or not it swapped
}

inline int atomicCAS(int* address, int compare, int value) { return cuda_host_atomic_cas(address, compare, value); }
inline unsigned int atomicCAS(unsigned int* address, unsigned int compare, unsigned int value) {
    return cuda_host_atomic_cas(address, compare, value);
}
inline unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare, unsigned long long value) {
    return cuda_host_atomic_cas(address, compare, value);
}

template <class T>
inline T cuda_host_atomic_extreme(T* address, T value, bool take_max) {
    T old = __atomic_load_n(address, __ATOMIC_RELAXED);
    while ((take_max ? value > old : value < old)
           && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}

inline int atomicMax(int* address, int value) { return cuda_host_atomic_extreme(address, value, true); }
inline unsigned int atomicMax(unsigned int* address, unsigned int value) {
    return cuda_host_atomic_extreme(address, value, true);
}
inline long long atomicMax(long long* address, long long value) { return cuda_host_atomic_extreme(address, value, true); }
inline unsigned long long atomicMax(unsigned long long* address, unsigned long long value) {
    return cuda_host_atomic_extreme(address, value, true);
}
inline int atomicMin(int* address, int value) { return cuda_host_atomic_extreme(address, value, false); }
inline unsigned int atomicMin(unsigned int* address, unsigned int value) {
    return cuda_host_atomic_extreme(address, value, false);
}
inline int atomicExch(int* address, int value) { return __atomic_exchange_n(address, value, __ATOMIC_RELAXED); }
inline unsigned int atomicExch(unsigned int* address, unsigned int value) {
    return __atomic_exchange_n(address, value, __ATOMIC_RELAXED);
}
inline float atomicExch(float* address, float value) {
    return __uint_as_float(
            __atomic_exchange_n(reinterpret_cast<unsigned int*>(address), __float_as_uint(value), __ATOMIC_RELAXED));
}
inline int atomicOr(int* address, int value) { return __atomic_fetch_or(address, value, __ATOMIC_RELAXED); }
inline unsigned int atomicOr(unsigned int* address, unsigned int value) {
    return __atomic_fetch_or(address, value, __ATOMIC_RELAXED);
}
inline int atomicAnd(int* address, int value) { return __atomic_fetch_and(address, value, __ATOMIC_RELAXED); }
inline unsigned int atomicAnd(unsigned int* address, unsigned int value) {
    return __atomic_fetch_and(address, value, __ATOMIC_RELAXED);
}

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- launching ----------------------------------------------------------------------------------------------------

namespace cuda_host {

/**
 * kernel<<<grid, block, shared_bytes>>>(args...): checks the shape against CUDA's limits, then runs every block, each
 * with all its threads; returns when the grid is done (as a launch followed by a synchronize). Throws
 * std::invalid_argument for a shape CUDA would refuse, std::runtime_error for an error inside the kernel.
 */
template <class... Param, class... Arg>
void launch(void (*kernel)(Param...), dim3 grid, dim3 block_dim, std::size_t shared_bytes, Arg&&... args) {
    static_assert(sizeof...(Param) == sizeof...(Arg), "a launch passes every kernel parameter");
    const unsigned long long threads = (unsigned long long) block_dim.x * block_dim.y * block_dim.z;
    if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        throw std::invalid_argument("grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + ","
                                    + std::to_string(grid.z) + ") is outside CUDA's limits");
    }
    if (threads < 1 || threads > MAX_THREADS_PER_BLOCK || block_dim.x > 1024 || block_dim.y > 1024 || block_dim.z > 64) {
        throw std::invalid_argument("block (" + std::to_string(block_dim.x) + "," + std::to_string(block_dim.y) + ","
                                    + std::to_string(block_dim.z) + ") is outside CUDA's limits");
    }
    if (shared_bytes != 0) {
        throw std::invalid_argument("dynamic shared memory is not modelled, got " + std::to_string(shared_bytes)
                                    + " bytes");
    }
    std::tuple<std::decay_t<Param>...> values(std::forward<Arg>(args)...);
    auto body = [&]() { std::apply(kernel, values); };
    Block& b = block();
    b.body = [](void* context) { (*static_cast<decltype(body)*>(context))(); };
    b.body_context = &body;
    b.block_dim = block_dim;
    b.grid_dim = grid;
    b.count = (unsigned int) threads;
    // Last block first: a kernel whose result depends on block order shows it here.
    for (long long z = grid.z - 1; z >= 0; --z) {
        for (long long y = grid.y - 1; y >= 0; --y) {
            for (long long x = grid.x - 1; x >= 0; --x) {
                b.block_idx = uint3{(unsigned int) x, (unsigned int) y, (unsigned int) z};
                run_block(b);
            }
        }
    }
}

}  // namespace cuda_host

#endif  // GPUPS_CUDA_HOST_MODEL_H
