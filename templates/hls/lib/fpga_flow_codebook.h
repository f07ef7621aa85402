// fpga-flow HLS library: codebook CSR layers (weight sharing), plain and factored.
//
// Same lane layout as fpga_flow_csr.h, but each nonzero stores a narrow code (code_t, a few bits)
// into a small codebook of n_codes weight_t entries. CONFIG_T::codebook(cb) writes the constant
// entries, so the codebook lives in registers (fully partitioned), never in a memory.
//
//  * codebook_layer: per nonzero, cb[code] * x[col]; one multiplier per lane.
//  * codebook_factored_layer: per lane, n_codes running sums S_k of the inputs whose code is k
//    (adders only); at a row end, sum_k cb[k] * S_k -- n_codes multiplies per row instead of
//    one per nonzero, each by a constant (shift-add logic). S_k uses sum_t, wide enough for the
//    largest such sum in any row; every partial sum fits acc_t, so the result is bit-exact.
//
// Arithmetic on words, as fpga_flow_csr.h: codebook entries, inputs and sums are raw mantissas.
//
// CONFIG_T: n_in, n_out, lanes, lane_len, slots, n_codes, relu, shift_p, shift_b; weight_t, bias_t, acc_t,
//           col_t, code_t, lane_t, slot_t, sum_t (factored only); static void codebook(weight_t[]).
#ifndef FPGA_FLOW_CODEBOOK_H_
#define FPGA_FLOW_CODEBOOK_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

template <class x_T, class y_T, class CONFIG_T>
void codebook_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                    const typename rom<typename CONFIG_T::code_t>::type code[CONFIG_T::lanes][CONFIG_T::lane_len],
                    const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                    const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                    const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
                    const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
                    const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=code complete dim=1
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef mac_words<CONFIG_T> M;
    typedef typename M::acc acc_t;

    typename word_of<typename CONFIG_T::weight_t>::type cb[CONFIG_T::n_codes];
#pragma HLS ARRAY_PARTITION variable=cb complete
    codebook_words<CONFIG_T>(cb);

    typename word_of<x_T>::type xb[CONFIG_T::lanes][CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    load_banks<x_T, CONFIG_T::lanes, CONFIG_T::n_in>(in, xb);

    acc_t part[CONFIG_T::lanes][CONFIG_T::slots];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    acc_t sum[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=sum complete
    typename CONFIG_T::slot_t slot[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=slot complete
CodebookInit:
    for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
        sum[l] = 0;
        slot[l] = 0;
    }
CodebookMac:
    for (unsigned t = 0; t < CONFIG_T::lane_len; t++) {
#pragma HLS PIPELINE II=1
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            acc_t s = sum[l] + M::product(cb[code[l][t]], xb[l][col[l][t]]);
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

template <class x_T, class y_T, class CONFIG_T>
void codebook_factored_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                             const typename rom<typename CONFIG_T::code_t>::type code[CONFIG_T::lanes][CONFIG_T::lane_len],
                             const typename rom<typename CONFIG_T::col_t>::type col[CONFIG_T::lanes][CONFIG_T::lane_len],
                             const rom<ap_uint<1> >::type last[CONFIG_T::lanes][CONFIG_T::lane_len],
                             const typename rom<typename CONFIG_T::lane_t>::type row_lane[CONFIG_T::n_out],
                             const typename rom<typename CONFIG_T::slot_t>::type row_slot[CONFIG_T::n_out],
                             const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=code complete dim=1
#pragma HLS ARRAY_PARTITION variable=col complete dim=1
#pragma HLS ARRAY_PARTITION variable=last complete dim=1
    typedef mac_words<CONFIG_T> M;
    typedef typename M::acc acc_t;
    typedef typename rom<typename CONFIG_T::sum_t>::type sum_t;  // sum_t's word: x's binary point

    typename word_of<typename CONFIG_T::weight_t>::type cb[CONFIG_T::n_codes];
#pragma HLS ARRAY_PARTITION variable=cb complete
    codebook_words<CONFIG_T>(cb);

    typename word_of<x_T>::type xb[CONFIG_T::lanes][CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable=xb complete dim=1
    load_banks<x_T, CONFIG_T::lanes, CONFIG_T::n_in>(in, xb);

    acc_t part[CONFIG_T::lanes][CONFIG_T::slots];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    sum_t ks[CONFIG_T::lanes][CONFIG_T::n_codes];
#pragma HLS ARRAY_PARTITION variable=ks complete dim=0
    typename CONFIG_T::slot_t slot[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=slot complete
FactoredInit:
    for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
        slot[l] = 0;
        for (unsigned k = 0; k < CONFIG_T::n_codes; k++) {
#pragma HLS UNROLL
            ks[l][k] = 0;
        }
    }
FactoredMac:
    for (unsigned t = 0; t < CONFIG_T::lane_len; t++) {
#pragma HLS PIPELINE II=1
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            const typename rom<typename CONFIG_T::code_t>::type c = code[l][t];
            sum_t xv = sum_t(xb[l][col[l][t]]);
            bool end = last[l][t];
            acc_t row = 0;
            for (unsigned k = 0; k < CONFIG_T::n_codes; k++) {
#pragma HLS UNROLL
                sum_t s = ks[l][k];
                if (c == k) {
                    s = s + xv;
                }
                row += M::product(cb[k], s);
                ks[l][k] = end ? sum_t(0) : s;
            }
            if (end) {
                part[l][slot[l]] = row;
                slot[l]++;
            }
        }
    }
    emit_rows<y_T, CONFIG_T>(out, part, row_lane, row_slot, bias);
}

}  // namespace fpga_flow

#endif
