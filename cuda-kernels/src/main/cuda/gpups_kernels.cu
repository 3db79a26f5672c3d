// The CUDA kernels of gpups: thin grid-stride wrappers around the element functions in include/gpups.
// All math lives in those headers (shared with the CPU device); a kernel here only maps threads to
// elements. Names are extern "C" and stable: the CUDA device loads them by name from the fatbin
// (see io.gpups.cuda.KernelNames). Counts are 64-bit so one launch can cover any buffer; launch any
// grid size, every kernel loops until it has covered its range.
#include "gpups/common.cuh"
#include "gpups/elementwise.cuh"
#include "gpups/nn.cuh"
#include "gpups/optimizers.cuh"

#define GPUPS_GRID_STRIDE(i, n) \
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long) blockDim.x * gridDim.x)

// ---- server math ----------------------------------------------------------------------------

extern "C" __global__ void gpups_fill(float* x, float value, long long n) {
    GPUPS_GRID_STRIDE(i, n) { x[i] = value; }
}

extern "C" __global__ void gpups_accumulate(float* acc, const float* grad, long long n) {
    GPUPS_GRID_STRIDE(i, n) { gpups::accumulate(acc[i], grad[i]); }
}

extern "C" __global__ void gpups_scale(float* x, float alpha, long long n) {
    GPUPS_GRID_STRIDE(i, n) { gpups::scale(x[i], alpha); }
}

extern "C" __global__ void gpups_sgd(float* p, const float* grad, long long n, gpups::SgdParams h) {
    GPUPS_GRID_STRIDE(i, n) { gpups::sgd_step(p[i], grad[i], h); }
}

extern "C" __global__ void gpups_momentum(float* p, float* v, const float* grad, long long n,
                                          gpups::MomentumParams h) {
    GPUPS_GRID_STRIDE(i, n) { gpups::momentum_step(p[i], v[i], grad[i], h); }
}

extern "C" __global__ void gpups_nesterov(float* p, float* v, const float* grad, long long n,
                                          gpups::NesterovParams h) {
    GPUPS_GRID_STRIDE(i, n) { gpups::nesterov_step(p[i], v[i], grad[i], h); }
}

extern "C" __global__ void gpups_adagrad(float* p, float* h_acc, const float* grad, long long n,
                                         gpups::AdagradParams h) {
    GPUPS_GRID_STRIDE(i, n) { gpups::adagrad_step(p[i], h_acc[i], grad[i], h); }
}

extern "C" __global__ void gpups_adam(float* p, float* m, float* v, const float* grad, long long n,
                                      gpups::AdamParams h) {
    GPUPS_GRID_STRIDE(i, n) { gpups::adam_step(p[i], m[i], v[i], grad[i], h); }
}

extern "C" __global__ void gpups_adamw(float* p, float* m, float* v, const float* grad, long long n,
                                       gpups::AdamParams h) {
    GPUPS_GRID_STRIDE(i, n) { gpups::adamw_step(p[i], m[i], v[i], grad[i], h); }
}

// ---- worker math ----------------------------------------------------------------------------

extern "C" __global__ void gpups_relu(float* x, long long n) {
    GPUPS_GRID_STRIDE(i, n) { x[i] = gpups::relu(x[i]); }
}

extern "C" __global__ void gpups_relu_backward(float* grad, const float* activation, long long n) {
    GPUPS_GRID_STRIDE(i, n) { grad[i] = gpups::relu_backward(grad[i], activation[i]); }
}

/** x[r, c] += bias[c] over a row-major rows x cols matrix. */
extern "C" __global__ void gpups_add_bias(float* x, const float* bias, int rows, int cols) {
    GPUPS_GRID_STRIDE(i, (long long) rows * cols) { x[i] += bias[i % cols]; }
}

/** out[c] = sum over r of x[r, c]; one thread per column, rows summed in order (deterministic). */
extern "C" __global__ void gpups_column_sums(const float* x, int rows, int cols, float* out) {
    GPUPS_GRID_STRIDE(c, cols) {
        float sum = 0.0f;
        for (int r = 0; r < rows; ++r) {
            sum += x[(long long) r * cols + c];
        }
        out[c] = sum;
    }
}

/**
 * One thread per row: writes (softmax - onehot) / rows into grad and the row's loss into row_loss,
 * which the host sums in row order, so the mean loss does not depend on the launch shape. A row whose
 * label is not a class index gets loss NaN and a zero gradient; the host reports it.
 */
extern "C" __global__ void gpups_softmax_xent(const float* logits, const float* labels, int rows, int cols,
                                              float* grad, float* row_loss) {
    const float inv_rows = 1.0f / (float) rows;
    GPUPS_GRID_STRIDE(r, rows) {
        const float* row = logits + r * cols;
        float* row_grad = grad + r * cols;
        const int label = gpups::label_index(labels[r], cols);
        if (label < 0) {
            for (int c = 0; c < cols; ++c) {
                row_grad[c] = 0.0f;
            }
            row_loss[r] = nanf("");
        } else {
            row_loss[r] = gpups::softmax_xent_row(row, cols, label, inv_rows, row_grad);
        }
    }
}

/** Adds to *correct the number of rows whose arg-max equals the label. */
extern "C" __global__ void gpups_count_correct(const float* logits, const float* labels, int rows, int cols,
                                               unsigned int* correct) {
    GPUPS_GRID_STRIDE(r, rows) {
        if (gpups::row_argmax(logits + r * cols, cols) == gpups::label_index(labels[r], cols)) {
            atomicAdd(correct, 1u);
        }
    }
}
