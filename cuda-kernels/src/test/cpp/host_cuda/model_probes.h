// Kernels that exercise the host CUDA model itself (not part of gpups): its warp collectives, barriers and atomics,
// including the misuses it must report. Launched by name like the real kernels (host_kernels.h); see
// io.gpups.cuda.HostCudaModelTest.
#ifndef GPUPS_MODEL_PROBES_H
#define GPUPS_MODEL_PROBES_H

#include "cuda_host_model.h"

/** out[t] = the value of lane t ^ lane_mask, through a full-warp butterfly shuffle. */
extern "C" __global__ void probe_shfl_xor(int* out, int lane_mask) {
    const int t = (int) (blockIdx.x * blockDim.x + threadIdx.x);
    out[t] = __shfl_xor_sync(0xffffffffu, t, lane_mask);
}

/** out[warp] = the ballot of odd lanes; out[warps + warp] = __any_sync / __all_sync of the same predicate. */
extern "C" __global__ void probe_ballot(unsigned int* out, int warps) {
    const unsigned int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const bool odd = threadIdx.x % 2 == 1;
    const unsigned int ballot = __ballot_sync(0xffffffffu, odd);
    const int any = __any_sync(0xffffffffu, odd);
    const int all = __all_sync(0xffffffffu, odd);
    if (threadIdx.x % 32 == 0) {
        out[warp] = ballot;
        out[warps + warp] = (unsigned int) (any + 2 * all);
    }
}

/** A ballot whose mask leaves out lanes 16..31, which call it too: CUDA's undefined case, an error in the model. */
extern "C" __global__ void probe_ballot_lane_outside_mask(unsigned int* out) {
    out[threadIdx.x] = __ballot_sync(0x0000ffffu, 1);
}

/** Half the block returns before a __syncthreads the other half waits at: a deadlock in the model. */
extern "C" __global__ void probe_divergent_syncthreads(int* out) {
    if (threadIdx.x < blockDim.x / 2) {
        return;
    }
    __syncthreads();
    out[threadIdx.x] = 1;
}

/** Thread t writes shared[t], the block syncs, thread t reads shared[blockDim.x - 1 - t]: needs the barrier. */
extern "C" __global__ void probe_shared_reverse(int* out) {
    __shared__ int shared[1024];
    shared[threadIdx.x] = (int) (blockIdx.x * 10000 + threadIdx.x);
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = shared[blockDim.x - 1 - threadIdx.x];
    __syncthreads();  // the next block of this OS thread reuses shared
}

/** Every thread: counters[0] += 1 (int), [1] += 2 (unsigned), fsum += 0.5, max of t, and one CAS winner. */
extern "C" __global__ void probe_atomics(int* ints, unsigned int* uints, float* fsum) {
    const int t = (int) (blockIdx.x * blockDim.x + threadIdx.x);
    atomicAdd(&ints[0], 1);
    atomicAdd(&uints[0], 2u);
    atomicAdd(fsum, 0.5f);
    atomicMax(&ints[1], t);
    atomicMax(&uints[1], (unsigned int) (3 * t));
    if (atomicCAS(&ints[2], 0, t + 1) == 0) {
        atomicAdd(&ints[3], 1);  // exactly one thread swaps 0 out
    }
    atomicCAS(&uints[2], 0u, 7u);
}

#endif  // GPUPS_MODEL_PROBES_H
