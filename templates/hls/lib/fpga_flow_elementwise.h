// fpga-flow HLS library: the point-wise engine on the stream (CONFIG_T::n elements).
#ifndef FPGA_FLOW_ELEMENTWISE_H_
#define FPGA_FLOW_ELEMENTWISE_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

// y = cast<y_T>(act(x * 2^shift)): ReluLayer, QuantizeLayer and power-of-two scalings.
// ext_t holds x exactly in a signed type (one bit wider for an unsigned x); acc_t has the same
// bits with the binary point moved by the plan's shift, so x * 2^shift is exact; the activation
// and ONE cast to y_T (its rounding and overflow modes) follow, as in requantize().
// CONFIG_T: n, lanes, acc_width, relu; ext_t, acc_t.
template <class x_T, class y_T, class CONFIG_T>
void pointwise_layer(hls::stream<x_T> &in, hls::stream<y_T> &out) {
#pragma HLS INLINE off
PointwiseLoop:
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS PIPELINE II=1
        typename CONFIG_T::ext_t e = in.read();
        ap_uint<CONFIG_T::acc_width> bits = e.range(CONFIG_T::acc_width - 1, 0);
        typename CONFIG_T::acc_t a;
        a.range(CONFIG_T::acc_width - 1, 0) = bits;
        out.write(requantize<y_T, CONFIG_T::relu>(a));
    }
}

}  // namespace fpga_flow

#endif
