// Neural-network pieces the workers need: activations and the softmax cross-entropy of one row.
#ifndef GPUPS_NN_CUH
#define GPUPS_NN_CUH

#include "gpups/common.cuh"

namespace gpups {

GPUPS_HD float relu(float x) {
    return x > 0.0f ? x : 0.0f;
}

/** The gradient through a ReLU, given its output: passes where the activation was positive. */
GPUPS_HD float relu_backward(float grad, float activation) {
    return activation > 0.0f ? grad : 0.0f;
}

/**
 * A float label that names class c is exactly the integer c in [0, cols); anything else
 * (negative, fractional, NaN, too large) is not a valid label and yields -1.
 */
GPUPS_HD int label_index(float label, int cols) {
    if (!(label >= 0.0f) || label >= (float) cols) {
        return -1;
    }
    const int c = (int) label;
    return (float) c == label ? c : -1;
}

/** The first index of the largest logit of a row (NaN logits never win). */
GPUPS_HD int row_argmax(const float* logits, int cols) {
    int best = 0;
    for (int c = 1; c < cols; ++c) {
        if (logits[c] > logits[best]) {
            best = c;
        }
    }
    return best;
}

/**
 * Softmax cross-entropy of one row of logits against class `label` (valid, see label_index).
 * Writes (softmax - onehot) * grad_scale into grad and returns the row's loss, -log softmax[label].
 * grad may be the logits row itself (in-place): every logit is read before its gradient is written.
 *
 * Numerics: the row maximum is subtracted before exponentiating, so exp never overflows and the
 * largest term is exactly 1; the loss is computed as log(sum) - (x[label] - max) rather than as
 * -log(p[label]), which stays finite and accurate when p[label] underflows.
 */
GPUPS_HD float softmax_xent_row(const float* logits, int cols, int label, float grad_scale, float* grad) {
    const float max = logits[row_argmax(logits, cols)];
    const float label_logit = logits[label];
    float sum = 0.0f;
    for (int c = 0; c < cols; ++c) {
        sum += expf(logits[c] - max);
    }
    const float inv_sum = 1.0f / sum;
    for (int c = 0; c < cols; ++c) {
        const float p = expf(logits[c] - max) * inv_sum;
        grad[c] = (p - (c == label ? 1.0f : 0.0f)) * grad_scale;
    }
    return logf(sum) - (label_logit - max);
}

}  // namespace gpups

#endif  // GPUPS_NN_CUH
