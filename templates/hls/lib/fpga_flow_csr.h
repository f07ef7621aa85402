// fpga-flow HLS library: CSR sparse layer (row_ptr/col_idx/values dealt to lanes).
//
// Storage and cycles grow with the nonzeros, never with n_out * n_in. The rows with nonzeros are
// dealt to CONFIG_T::lanes lanes balanced by nonzero count (as EIE does); lane l holds its rows'
// nonzeros back to back: col[l][t] (column index), w[l][t] (weight: raw bits of weight_t, see rom<>) and
// last[l][t] (1 on a row's final nonzero), zero-padded to lane_len entries. One flattened loop
// over the nonzeros, pipelined II=1: each lane multiplies one nonzero by its input per cycle
// (each lane reads its own copy of the input vector). At a row end the lane's sum goes to slot
// row_slot of the lane; emit_rows adds the bias, applies the activation, requantizes.
// Arithmetic on words (as the window kernels, fpga_flow_window.h): the inputs, weights and sums are
// raw mantissas (plain C integers in a C simulation, ap_int/ap_uint in synthesis), a product is
// aligned to the exact accumulator by shift_p, the bias by shift_b (mac_words, finish_row).
//
// CONFIG_T: n_in, n_out, lanes, lane_len, slots, relu, shift_p, shift_b;
//           weight_t, bias_t, acc_t (overflow-free), col_t, lane_t, slot_t.
#ifndef FPGA_FLOW_CSR_H_
#define FPGA_FLOW_CSR_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

template <class x_T, class y_T, class CONFIG_T>
void csr_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
               const typename rom<typename CONFIG_T::weight_t>::type w[CONFIG_T::lanes][CONFIG_T::lane_len],
               const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
               const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
               const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
               const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
               const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef mac_words<CONFIG_T> M;
    typedef typename M::acc acc_t;

    typename word_of<x_T>::type xb[CONFIG_T::lanes][CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    load_banks<x_T, CONFIG_T::lanes, CONFIG_T::n_in>(in, xb);

    acc_t part[CONFIG_T::lanes][CONFIG_T::slots];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    acc_t sum[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=sum complete
    typename CONFIG_T::slot_t slot[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=slot complete
CsrInit:
    for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
        sum[l] = 0;
        slot[l] = 0;
    }
CsrMac:
    for (unsigned t = 0; t < CONFIG_T::lane_len; t++) {
#pragma HLS PIPELINE II=1
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            acc_t s = sum[l] + M::product(w[l][t], xb[l][col[l][t]]);
            if (last[l][t]) {
                part[l][slot[l]] = s;
                slot[l]++;
                sum[l] = 0;
            } else {
                sum[l] = s;
            }
        }
    }
    emit_rows<y_T, CONFIG_T>(out, part, row_lane, row_slot, bias);
}

}  // namespace fpga_flow

#endif
