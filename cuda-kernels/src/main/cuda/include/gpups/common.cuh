// Shared by the CUDA kernels (nvcc) and the CPU device (g++ through JavaCPP).
//
// Every element operation of gpups is written once, as a GPUPS_HD function in these headers:
// the .cu kernels are grid-stride loops around them and native/ runs them in host loops.
// Keep these headers free of anything only one compiler understands (no CUDA intrinsics,
// no <cmath> overloads: use the C float functions sqrtf/expf/logf, which both compilers provide).
#ifndef GPUPS_COMMON_CUH
#define GPUPS_COMMON_CUH

#include <math.h>

#if defined(__CUDACC__)
#define GPUPS_HD __host__ __device__ __forceinline__
#else
#define GPUPS_HD inline
#endif

#endif  // GPUPS_COMMON_CUH
