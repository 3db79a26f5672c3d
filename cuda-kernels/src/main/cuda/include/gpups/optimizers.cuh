// Optimizer update rules, one element at a time. These are the formulas of
// io.gpups.core.optim.OptimizerSpec (its javadoc is the specification), with g the gradient
// after scaling by grad_scale and t the 1-based step:
//
//   sgd       g += wd*p;  p -= lr*g
//   momentum  g += wd*p;  v = mu*v + g;  p -= lr*v
//   nesterov  g += wd*p;  v = mu*v + g;  p -= lr*(g + mu*v)
//   adagrad   g += wd*p;  h += g*g;      p -= lr*g / (sqrt(h) + eps)
//   adam      g += wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
//             p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   adamw     p -= lr*wd*p (decoupled); then adam with wd = 0
//
// Numerics: everything is float32. The bias corrections 1-b1^t and 1-b2^t are computed once per
// step on the host in double (b^t underflows gracefully there and 1-b^t keeps its precision for
// small t) and passed in as floats. grad_scale is applied to the raw gradient before anything else,
// so a caller can fold averaging over workers (1/N) or loss-scale removal into the update.
//
// Each parameter struct holds only float fields, in the order written, so the CUDA host side can
// pass it by value as a plain float array (JCuda: Pointer.to(float[])).
#ifndef GPUPS_OPTIMIZERS_CUH
#define GPUPS_OPTIMIZERS_CUH

#include "gpups/common.cuh"

namespace gpups {

struct SgdParams {
    float lr, weight_decay, grad_scale;
};

struct MomentumParams {
    float lr, momentum, weight_decay, grad_scale;
};

/** Nesterov uses the same hyper-parameters as heavy-ball momentum. */
typedef MomentumParams NesterovParams;

struct AdagradParams {
    float lr, eps, weight_decay, grad_scale;
};

/** Shared by adam and adamw; bias_correction1 = 1 - beta1^t and bias_correction2 = 1 - beta2^t. */
struct AdamParams {
    float lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale;
};

GPUPS_HD void sgd_step(float& p, float grad, const SgdParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    p -= h.lr * g;
}

GPUPS_HD void momentum_step(float& p, float& v, float grad, const MomentumParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    v = h.momentum * v + g;
    p -= h.lr * v;
}

GPUPS_HD void nesterov_step(float& p, float& v, float grad, const NesterovParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    v = h.momentum * v + g;
    p -= h.lr * (g + h.momentum * v);
}

/** h_acc is the running sum of squared gradients; its start value (initial_accumulator) is set by the caller. */
GPUPS_HD void adagrad_step(float& p, float& h_acc, float grad, const AdagradParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    h_acc += g * g;
    p -= h.lr * g / (sqrtf(h_acc) + h.eps);
}

/** The moment updates and the bias-corrected step shared by adam and adamw; g is the final gradient. */
GPUPS_HD void adam_moments_and_update(float& p, float& m, float& v, float g, const AdamParams& h) {
    m = h.beta1 * m + (1.0f - h.beta1) * g;
    v = h.beta2 * v + (1.0f - h.beta2) * (g * g);
    // lr * (m / bc1) / (sqrt(v / bc2) + eps), with the two per-step factors written so a loop hoists them:
    // one division and one square root per element instead of three divisions and a square root.
    const float step_size = h.lr / h.bias_correction1;
    const float inv_sqrt_bc2 = 1.0f / sqrtf(h.bias_correction2);
    p -= step_size * m / (sqrtf(v) * inv_sqrt_bc2 + h.eps);
}

/** Adam with L2 weight decay folded into the gradient (the original Adam paper's "wd"). */
GPUPS_HD void adam_step(float& p, float& m, float& v, float grad, const AdamParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    adam_moments_and_update(p, m, v, g, h);
}

/**
 * AdamW: the weight decay shrinks p directly (decoupled, Loshchilov and Hutter) before the Adam step,
 * which then sees the plain scaled gradient.
 */
GPUPS_HD void adamw_step(float& p, float& m, float& v, float grad, const AdamParams& h) {
    p -= h.lr * h.weight_decay * p;
    adam_moments_and_update(p, m, v, h.grad_scale * grad, h);
}

}  // namespace gpups

#endif  // GPUPS_OPTIMIZERS_CUH
