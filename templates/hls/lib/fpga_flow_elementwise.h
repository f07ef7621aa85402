// fpga-flow HLS library: standalone element-wise layers on the stream (CONFIG_T::n elements).
#ifndef FPGA_FLOW_ELEMENTWISE_H_
#define FPGA_FLOW_ELEMENTWISE_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

// y = cast<y_T>(max(x, 0)) -- ReluLayer.reference.
template <class x_T, class y_T, class CONFIG_T>
void relu_layer(hls::stream<x_T> &in, hls::stream<y_T> &out) {
#pragma HLS INLINE off
ReluLoop:
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS PIPELINE II=1
        x_T x = in.read();
        if (x < 0) {
            x = 0;
        }
        y_T y = x;
        out.write(y);
    }
}

// y = cast<y_T>(x) with y_T's rounding and overflow -- QuantizeLayer.reference.
template <class x_T, class y_T, class CONFIG_T>
void quantize_layer(hls::stream<x_T> &in, hls::stream<y_T> &out) {
#pragma HLS INLINE off
QuantizeLoop:
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS PIPELINE II=1
        x_T x = in.read();
        y_T y = x;
        out.write(y);
    }
}

}  // namespace fpga_flow

#endif
