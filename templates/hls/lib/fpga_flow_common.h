// fpga-flow HLS library: common includes and the requantize + activation step.
//
// Portable C++98 (Vivado HLS 2019.2-2020.2 csim uses an old g++) and synthesizable by Vivado HLS and
// Vitis HLS: no dynamic memory, no recursion, static loop bounds.
#ifndef FPGA_FLOW_COMMON_H_
#define FPGA_FLOW_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"

namespace fpga_flow {

// Activation on the exact accumulator, then ONE cast to the output type y_T, with y_T's
// rounding (ap_q_mode) and overflow (ap_o_mode) modes -- exactly DenseLayer.reference.
template <class y_T, bool RELU, class acc_T>
y_T requantize(const acc_T &acc) {
#pragma HLS INLINE
    acc_T a = acc;
    if (RELU && acc < 0) {
        a = 0;
    }
    y_T y = a;
    return y;
}

// Reads n_in elements from the stream into LANES identical banks (one read port per lane).
template <class x_T, unsigned LANES, unsigned N_IN>
void load_banks(hls::stream<x_T> &in, x_T xb[LANES][N_IN]) {
#pragma HLS INLINE
LoadLoop:
    for (unsigned i = 0; i < N_IN; i++) {
#pragma HLS PIPELINE II=1
        x_T v = in.read();
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            xb[l][i] = v;
        }
    }
}

// Row r's accumulator: bias (aligned, exact) plus the sum in slot row_slot[r] of lane row_lane[r]
// (row_slot[r] == slots marks a row without nonzeros); then activation and requantization.
template <class y_T, class CONFIG_T>
void emit_rows(hls::stream<y_T> &out, typename CONFIG_T::acc_t part[CONFIG_T::lanes][CONFIG_T::slots],
               const typename CONFIG_T::lane_t row_lane[CONFIG_T::n_out],
               const typename CONFIG_T::slot_t row_slot[CONFIG_T::n_out],
               const typename CONFIG_T::bias_t bias[CONFIG_T::n_out]) {
#pragma HLS INLINE
    const unsigned empty = CONFIG_T::slots;
OutLoop:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS PIPELINE II=1
        typename CONFIG_T::acc_t a = bias[j];
        typename CONFIG_T::slot_t s = row_slot[j];
        if (s != empty) {
            a += part[row_lane[j]][s];
        }
        out.write(requantize<y_T, CONFIG_T::relu>(a));
    }
}

}  // namespace fpga_flow

#endif
