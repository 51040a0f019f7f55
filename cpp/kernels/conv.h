// conv.h — 1D convolution and pooling over the timestep axis of (B, T, C) inputs
// (channels last, Keras' Conv1D / MaxPooling1D / AveragePooling1D).
//
// A geometry fixes how output step t reads the input: tap j (0 <= j < k) of output step t reads
// input step  t * stride + j * dilation - pad_left;  steps outside [0, T) are padding (zeros for
// a convolution; ignored by pooling, as TensorFlow and JAX do).
#pragma once
#include <string>

#include "kernels/checked.h"
#include "kernels/kernels.h"

namespace lstmcore {

enum Padding { PAD_VALID = 0, PAD_SAME = 1, PAD_CAUSAL = 2 };
int padding_from_name(const std::string& name);  // throws std::invalid_argument

struct Conv1dGeom {
  long B = 0, T = 0, C = 0;        // input (B, T, C)
  long k = 1, stride = 1, dil = 1;  // taps, step between outputs, step between taps
  long pad_left = 0, T_out = 0;     // output (B, T_out, ·)
  long span() const { return (k - 1) * dil + 1; }  // input steps one output step covers
};
// conv1d_geom: Keras' output length and padding split for `padding`:
//   valid  T_out = floor((T - span) / stride) + 1, no padding (T_out < 1 when T < span)
//   same   T_out = ceil(T / stride); total = max((T_out - 1) * stride + span - T, 0), left total/2
//   causal T_out = ceil(T / stride); left = span - 1
// Sizes are checked (std::invalid_argument on overflow); T_out may come out < 1 for 'valid'
// (the caller reports that with the formula).
Conv1dGeom conv1d_geom(long B, long T, long C, long k, long stride, long dil, int padding);

// ---- convolution: y = act(im2col(x) . W + b), W (k, C, F) read as (k*C, F) ------------------
// conv1d_im2col: cols (B*T_out, k*C), row (b, t) = [x at tap 0 | tap 1 | ...], zeros for padding.
void conv1d_im2col(float* cols, const float* x, const Conv1dGeom& g);
// conv1d_col2im: dx (B, T, C) = the sum over rows of dcols (B*T_out, k*C) back onto the input
// steps each tap read (written, not accumulated). Parallel over samples: one writer per dx row.
void conv1d_col2im(float* dx, const float* dcols, const Conv1dGeom& g);
// conv1d_direct_forward: z (B, T_out, F) = x (*) W + b without im2col (b may be null): per
// output row, the taps' input rows times W's (C, F) slices. The pre-activation only.
void conv1d_direct_forward(float* z, const float* x, const float* W, const float* b, long F,
                           const Conv1dGeom& g);
// conv1d_direct_backward: from dz (B, T_out, F): dW (k, C, F) += and dx (B, T, C) written
// (either may be null). Parallel over samples for dx and over rows of dW for dW.
void conv1d_direct_backward(float* dx, float* dW, const float* dz, const float* x,
                            const float* W, long F, const Conv1dGeom& g);

// ---- pooling (k = pool size, dil = 1; C channels pooled independently) ----------------------
// pool1d_forward: y (B, T_out, C) = the max, or the mean over the window's steps inside the
// input (padding never counts). Max keeps the first maximum of a window (TensorFlow's).
void pool1d_forward(float* y, const float* x, bool max, const Conv1dGeom& g);
// pool1d_backward: dx (B, T, C) written: max sends dy to the window's first maximum (found
// again from x), the mean spreads dy / count over the window's steps.
void pool1d_backward(float* dx, const float* dy, const float* x, bool max, const Conv1dGeom& g);

}  // namespace lstmcore
