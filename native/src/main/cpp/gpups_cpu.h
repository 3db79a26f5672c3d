// Host loops of the CPU device over the shared kernel headers (cuda-kernels/src/main/cuda/include/gpups).
//
// Each function here is one native entry point of io.gpups.nativecpu.CpuKernels. The Java side has
// already checked sizes and buffer ownership; what can only be checked here (labels stored in device
// memory) throws std::invalid_argument, which JavaCPP's generated JNI code turns into a Java
// RuntimeException carrying the message. Nothing here may let a C++ exception or a signal escape.
//
// Loops are plain counted loops over restrict-free pointers with no calls that the compiler cannot
// inline, so g++ -O3 vectorizes them (SSE2 at -march=x86-64). The optimizer loops are templates over
// the gradient source: device memory (float*) or a received little-endian payload in host memory
// (any byte address: Netty frames put the payload wherever the header ends, so it may not be 4-byte
// aligned; memcpy reads it safely and compiles to an unaligned vector load).
#ifndef GPUPS_CPU_H
#define GPUPS_CPU_H

#include <stdexcept>
#include <stdlib.h>
#include <string.h>
#include <string>

#include "gpups/common.cuh"
#include "gpups/elementwise.cuh"
#include "gpups/nn.cuh"
#include "gpups/optimizers.cuh"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gpups reads little-endian float payloads in place; this host is not little-endian"
#endif

namespace gpups {
namespace cpu {

/** A gradient in device (here: host heap) memory. */
struct FloatGradient {
    const float* values;
    float operator[](long long i) const { return values[i]; }
};

/** A gradient as little-endian float32 bytes at any address (a network payload). */
struct PayloadGradient {
    const unsigned char* bytes;
    float operator[](long long i) const {
        float v;
        memcpy(&v, bytes + 4 * i, sizeof v);
        return v;
    }
};

// ---- memory -------------------------------------------------------------------------------------

/** Zero-filled float storage; null when the allocation fails (the caller throws OutOfMemoryError). */
inline float* allocate_floats(long long count) {
    return static_cast<float*>(calloc(count > 0 ? (size_t) count : 1, sizeof(float)));
}

inline void free_floats(float* p) {
    free(p);
}

/** Copies count floats from little-endian bytes at any address. */
inline void copy_from_payload(float* dst, const unsigned char* src, long long count) {
    memcpy(dst, src, (size_t) count * sizeof(float));
}

/** Copies count floats out to bytes at any address, little-endian. */
inline void copy_to_payload(unsigned char* dst, const float* src, long long count) {
    memcpy(dst, src, (size_t) count * sizeof(float));
}

inline void copy_floats(float* dst, const float* src, long long count) {
    memmove(dst, src, (size_t) count * sizeof(float));
}

inline void fill(float* x, float value, long long count) {
    for (long long i = 0; i < count; ++i) {
        x[i] = value;
    }
}

// ---- server math --------------------------------------------------------------------------------

template <class Gradient>
inline void accumulate_loop(float* acc, Gradient grad, long long count) {
    for (long long i = 0; i < count; ++i) {
        gpups::accumulate(acc[i], grad[i]);
    }
}

inline void accumulate(float* acc, const float* grad, long long count) {
    accumulate_loop(acc, FloatGradient{grad}, count);
}

inline void accumulate_payload(float* acc, const unsigned char* grad, long long count) {
    accumulate_loop(acc, PayloadGradient{grad}, count);
}

inline void scale(float* x, float alpha, long long count) {
    for (long long i = 0; i < count; ++i) {
        gpups::scale(x[i], alpha);
    }
}

// One pair of entry points per optimizer: the gradient in device memory, or in a host payload.

template <class Gradient>
inline void sgd_loop(float* p, Gradient grad, long long count, const SgdParams& h) {
    for (long long i = 0; i < count; ++i) {
        sgd_step(p[i], grad[i], h);
    }
}

template <class Gradient>
inline void momentum_loop(float* p, float* v, Gradient grad, long long count, const MomentumParams& h) {
    for (long long i = 0; i < count; ++i) {
        momentum_step(p[i], v[i], grad[i], h);
    }
}

template <class Gradient>
inline void nesterov_loop(float* p, float* v, Gradient grad, long long count, const NesterovParams& h) {
    for (long long i = 0; i < count; ++i) {
        nesterov_step(p[i], v[i], grad[i], h);
    }
}

template <class Gradient>
inline void adagrad_loop(float* p, float* h_acc, Gradient grad, long long count, const AdagradParams& h) {
    for (long long i = 0; i < count; ++i) {
        adagrad_step(p[i], h_acc[i], grad[i], h);
    }
}

template <class Gradient>
inline void adam_loop(float* p, float* m, float* v, Gradient grad, long long count, const AdamParams& h) {
    for (long long i = 0; i < count; ++i) {
        adam_step(p[i], m[i], v[i], grad[i], h);
    }
}

template <class Gradient>
inline void adamw_loop(float* p, float* m, float* v, Gradient grad, long long count, const AdamParams& h) {
    for (long long i = 0; i < count; ++i) {
        adamw_step(p[i], m[i], v[i], grad[i], h);
    }
}

inline void sgd(float* p, const float* grad, long long count, float lr, float wd, float grad_scale) {
    sgd_loop(p, FloatGradient{grad}, count, SgdParams{lr, wd, grad_scale});
}

inline void sgd_payload(float* p, const unsigned char* grad, long long count, float lr, float wd, float grad_scale) {
    sgd_loop(p, PayloadGradient{grad}, count, SgdParams{lr, wd, grad_scale});
}

inline void momentum(float* p, float* v, const float* grad, long long count,
                     float lr, float mu, float wd, float grad_scale) {
    momentum_loop(p, v, FloatGradient{grad}, count, MomentumParams{lr, mu, wd, grad_scale});
}

inline void momentum_payload(float* p, float* v, const unsigned char* grad, long long count,
                             float lr, float mu, float wd, float grad_scale) {
    momentum_loop(p, v, PayloadGradient{grad}, count, MomentumParams{lr, mu, wd, grad_scale});
}

inline void nesterov(float* p, float* v, const float* grad, long long count,
                     float lr, float mu, float wd, float grad_scale) {
    nesterov_loop(p, v, FloatGradient{grad}, count, NesterovParams{lr, mu, wd, grad_scale});
}

inline void nesterov_payload(float* p, float* v, const unsigned char* grad, long long count,
                             float lr, float mu, float wd, float grad_scale) {
    nesterov_loop(p, v, PayloadGradient{grad}, count, NesterovParams{lr, mu, wd, grad_scale});
}

inline void adagrad(float* p, float* h_acc, const float* grad, long long count,
                    float lr, float eps, float wd, float grad_scale) {
    adagrad_loop(p, h_acc, FloatGradient{grad}, count, AdagradParams{lr, eps, wd, grad_scale});
}

inline void adagrad_payload(float* p, float* h_acc, const unsigned char* grad, long long count,
                            float lr, float eps, float wd, float grad_scale) {
    adagrad_loop(p, h_acc, PayloadGradient{grad}, count, AdagradParams{lr, eps, wd, grad_scale});
}

inline void adam(float* p, float* m, float* v, const float* grad, long long count,
                 float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2, float grad_scale) {
    adam_loop(p, m, v, FloatGradient{grad}, count, AdamParams{lr, beta1, beta2, eps, wd, bc1, bc2, grad_scale});
}

inline void adam_payload(float* p, float* m, float* v, const unsigned char* grad, long long count,
                         float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2,
                         float grad_scale) {
    adam_loop(p, m, v, PayloadGradient{grad}, count, AdamParams{lr, beta1, beta2, eps, wd, bc1, bc2, grad_scale});
}

inline void adamw(float* p, float* m, float* v, const float* grad, long long count,
                  float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2, float grad_scale) {
    adamw_loop(p, m, v, FloatGradient{grad}, count, AdamParams{lr, beta1, beta2, eps, wd, bc1, bc2, grad_scale});
}

inline void adamw_payload(float* p, float* m, float* v, const unsigned char* grad, long long count,
                          float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2,
                          float grad_scale) {
    adamw_loop(p, m, v, PayloadGradient{grad}, count, AdamParams{lr, beta1, beta2, eps, wd, bc1, bc2, grad_scale});
}

// ---- worker math --------------------------------------------------------------------------------

inline void add_bias(float* x, const float* bias, int rows, int cols) {
    for (int r = 0; r < rows; ++r) {
        float* row = x + (long long) r * cols;
        for (int c = 0; c < cols; ++c) {
            row[c] += bias[c];
        }
    }
}

inline void relu(float* x, long long count) {
    for (long long i = 0; i < count; ++i) {
        x[i] = gpups::relu(x[i]);
    }
}

inline void relu_backward(float* grad, const float* activation, long long count) {
    for (long long i = 0; i < count; ++i) {
        grad[i] = gpups::relu_backward(grad[i], activation[i]);
    }
}

/** Row by row, so the inner loop runs over contiguous columns and vectorizes. */
inline void column_sums(const float* x, int rows, int cols, float* out) {
    for (int c = 0; c < cols; ++c) {
        out[c] = 0.0f;
    }
    for (int r = 0; r < rows; ++r) {
        const float* row = x + (long long) r * cols;
        for (int c = 0; c < cols; ++c) {
            out[c] += row[c];
        }
    }
}

inline int checked_label(const float* labels, int row, int cols) {
    const int label = label_index(labels[row], cols);
    if (label < 0) {
        throw std::invalid_argument("label " + std::to_string(labels[row]) + " of row " + std::to_string(row)
                                    + " is not a class index in [0, " + std::to_string(cols) + ")");
    }
    return label;
}

/**
 * Mean softmax cross-entropy over the rows; the gradient (softmax - onehot) / rows goes to grad.
 * Row losses are summed in double so the mean does not lose digits over large batches. All labels
 * are checked before anything is written.
 */
inline float softmax_xent(const float* logits, const float* labels, int rows, int cols, float* grad) {
    for (int r = 0; r < rows; ++r) {
        checked_label(labels, r, cols);
    }
    const float inv_rows = 1.0f / (float) rows;
    double loss_sum = 0.0;
    for (int r = 0; r < rows; ++r) {
        const long long offset = (long long) r * cols;
        loss_sum += softmax_xent_row(logits + offset, cols, label_index(labels[r], cols), inv_rows, grad + offset);
    }
    return (float) (loss_sum / rows);
}

/** Rows whose first arg-max equals the label; an invalid label never counts as correct. */
inline int count_correct(const float* logits, const float* labels, int rows, int cols) {
    int correct = 0;
    for (int r = 0; r < rows; ++r) {
        if (row_argmax(logits + (long long) r * cols, cols) == label_index(labels[r], cols)) {
            ++correct;
        }
    }
    return correct;
}

}  // namespace cpu
}  // namespace gpups

#endif  // GPUPS_CPU_H
