// Element-wise arithmetic on float32 values: the server's gradient accumulation and scaling.
#ifndef GPUPS_ELEMENTWISE_CUH
#define GPUPS_ELEMENTWISE_CUH

#include "gpups/common.cuh"

namespace gpups {

/** acc += grad: one received gradient added into the accumulator of a chunk. */
GPUPS_HD void accumulate(float& acc, float grad) {
    acc += grad;
}

/** x *= alpha. */
GPUPS_HD void scale(float& x, float alpha) {
    x *= alpha;
}

}  // namespace gpups

#endif  // GPUPS_ELEMENTWISE_CUH
