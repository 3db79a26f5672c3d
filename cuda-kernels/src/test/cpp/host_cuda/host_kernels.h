// gpups_kernels.cu compiled for the host, unmodified, on the CUDA execution model of cuda_host_model.h, and launched by
// name with packed arguments, the way cuLaunchKernel takes them: io.gpups.cuda.HostCudaModel's JNI entry points.
//
// An argument is passed as its bytes, with its size; the launch checks the count and every size against the kernel's
// parameter list (which cuLaunchKernel cannot), so a host that passes an int where the kernel takes a long long fails
// here with the parameter's index instead of reading garbage.
#ifndef GPUPS_HOST_KERNELS_H
#define GPUPS_HOST_KERNELS_H

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_host_model.h"

#include "gpups_kernels.cu"
#include "model_probes.h"

namespace gpups_host {

template <class T>
T read_argument(const char* bytes) {
    T value;
    std::memcpy(&value, bytes, sizeof value);
    return value;
}

template <class... Param, std::size_t... I>
void launch_packed(const char* name, void (*kernel)(Param...), dim3 grid, dim3 block, const char* args,
                   const int* offsets, const int* sizes, int count, std::index_sequence<I...>) {
    if (count != (int) sizeof...(Param)) {
        throw std::invalid_argument(std::string(name) + " takes " + std::to_string(sizeof...(Param))
                                    + " arguments, got " + std::to_string(count));
    }
    const std::size_t expected[] = {sizeof(std::decay_t<Param>)..., 0};
    for (int i = 0; i < count; ++i) {
        if ((std::size_t) sizes[i] != expected[i]) {
            throw std::invalid_argument(std::string(name) + " argument " + std::to_string(i) + " is "
                                        + std::to_string(expected[i]) + " bytes, got " + std::to_string(sizes[i]));
        }
    }
    cuda_host::launch(kernel, grid, block, 0, read_argument<std::decay_t<Param>>(args + offsets[I])...);
}

template <class... Param>
void launch_packed(const char* name, void (*kernel)(Param...), dim3 grid, dim3 block, const char* args,
                   const int* offsets, const int* sizes, int count) {
    launch_packed(name, kernel, grid, block, args, offsets, sizes, count, std::index_sequence_for<Param...>{});
}

struct Kernel {
    const char* name;
    void (*launch)(dim3 grid, dim3 block, const char* args, const int* offsets, const int* sizes, int count);
};

#define GPUPS_HOST_KERNEL(k)                                                                   \
    Kernel {                                                                                   \
        #k, [](dim3 grid, dim3 block, const char* args, const int* offsets, const int* sizes, \
               int count) { launch_packed(#k, &k, grid, block, args, offsets, sizes, count); } \
    }

/** Every kernel of gpups_kernels.cu, in source order (a test compares this list with the source and KernelNames). */
inline const Kernel* kernels(int* count) {
    static const Kernel table[] = {
            GPUPS_HOST_KERNEL(gpups_fill),
            GPUPS_HOST_KERNEL(gpups_accumulate),
            GPUPS_HOST_KERNEL(gpups_scale),
            GPUPS_HOST_KERNEL(gpups_optimizer),
            GPUPS_HOST_KERNEL(gpups_decode_accumulate),
            GPUPS_HOST_KERNEL(gpups_sparse_scatter),
            GPUPS_HOST_KERNEL(gpups_decode_optimizer),
            GPUPS_HOST_KERNEL(gpups_batch_update),
            GPUPS_HOST_KERNEL(gpups_encode_fp16),
            GPUPS_HOST_KERNEL(gpups_encode_bf16),
            GPUPS_HOST_KERNEL(gpups_encode_int8),
            GPUPS_HOST_KERNEL(gpups_encode_sign),
            GPUPS_HOST_KERNEL(gpups_encode_randomk),
            GPUPS_HOST_KERNEL(gpups_topk_sample),
            GPUPS_HOST_KERNEL(gpups_topk_count),
            GPUPS_HOST_KERNEL(gpups_topk_compact),
            GPUPS_HOST_KERNEL(gpups_table_find),
            GPUPS_HOST_KERNEL(gpups_table_evict),
            GPUPS_HOST_KERNEL(gpups_table_reset_state),
            GPUPS_HOST_KERNEL(gpups_table_write_rows),
            GPUPS_HOST_KERNEL(gpups_table_gather_rows),
            GPUPS_HOST_KERNEL(gpups_table_apply_rows),
            GPUPS_HOST_KERNEL(gpups_table_read_counters),
            GPUPS_HOST_KERNEL(gpups_table_write_counters),
            GPUPS_HOST_KERNEL(gpups_relu),
            GPUPS_HOST_KERNEL(gpups_relu_backward),
            GPUPS_HOST_KERNEL(gpups_add_bias),
            GPUPS_HOST_KERNEL(gpups_column_sums),
            GPUPS_HOST_KERNEL(gpups_softmax_xent),
            GPUPS_HOST_KERNEL(gpups_count_correct),
            GPUPS_HOST_KERNEL(gpups_sgemm),
    };
    *count = (int) (sizeof table / sizeof table[0]);
    return table;
}

/** The model's own probe kernels (model_probes.h). */
inline const Kernel* probes(int* count) {
    static const Kernel table[] = {
            GPUPS_HOST_KERNEL(probe_shfl_xor),
            GPUPS_HOST_KERNEL(probe_ballot),
            GPUPS_HOST_KERNEL(probe_ballot_lane_outside_mask),
            GPUPS_HOST_KERNEL(probe_divergent_syncthreads),
            GPUPS_HOST_KERNEL(probe_shared_reverse),
            GPUPS_HOST_KERNEL(probe_atomics),
    };
    *count = (int) (sizeof table / sizeof table[0]);
    return table;
}

#undef GPUPS_HOST_KERNEL

/** The kernels' names, comma-separated, in table order. */
inline const char* kernel_names() {
    static const std::string names = [] {
        int count = 0;
        const Kernel* table = kernels(&count);
        std::string s;
        for (int i = 0; i < count; ++i) {
            s += (i == 0 ? "" : ",") + std::string(table[i].name);
        }
        return s;
    }();
    return names.c_str();
}

/**
 * BatchEntry as compiled: "name=offset" for each field, then "bytes=" and "accumulate=" (the kind of an
 * accumulation), comma-separated; io.gpups.cuda.BatchEntryLayout must say the same.
 */
inline const char* batch_entry_layout() {
    static const std::string layout = "param=" + std::to_string(offsetof(BatchEntry, param))
            + ",slot0=" + std::to_string(offsetof(BatchEntry, slot0))
            + ",slot1=" + std::to_string(offsetof(BatchEntry, slot1))
            + ",gradient=" + std::to_string(offsetof(BatchEntry, gradient))
            + ",n=" + std::to_string(offsetof(BatchEntry, n))
            + ",kind=" + std::to_string(offsetof(BatchEntry, kind))
            + ",guard=" + std::to_string(offsetof(BatchEntry, guard))
            + ",params=" + std::to_string(offsetof(BatchEntry, params))
            + ",bytes=" + std::to_string(sizeof(BatchEntry))
            + ",params_floats=" + std::to_string(GPUPS_OPTIMIZER_PARAMS_MAX)
            + ",accumulate=" + std::to_string(GPUPS_BATCH_ACCUMULATE);
    return layout.c_str();
}

/** Runs kernel `name` over the grid; returns when every block is done. */
inline void launch(const char* name, int grid_x, int grid_y, int grid_z, int block_x, int block_y, int block_z,
                   const char* args, const int* offsets, const int* sizes, int count) {
    for (const Kernel* (*list)(int*) : {&kernels, &probes}) {
        int kernel_count = 0;
        const Kernel* table = list(&kernel_count);
        for (int i = 0; i < kernel_count; ++i) {
            if (std::strcmp(table[i].name, name) == 0) {
                if (grid_x < 1 || grid_y < 1 || grid_z < 1 || block_x < 1 || block_y < 1 || block_z < 1) {
                    throw std::invalid_argument(std::string(name) + ": grid and block dimensions must be >= 1");
                }
                table[i].launch(dim3(grid_x, grid_y, grid_z), dim3(block_x, block_y, block_z), args, offsets, sizes,
                                count);
                return;
            }
        }
    }
    throw std::invalid_argument(std::string("no kernel named ") + name);
}

}  // namespace gpups_host

#endif  // GPUPS_HOST_KERNELS_H
