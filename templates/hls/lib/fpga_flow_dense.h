// fpga-flow HLS library: dense (fully stored) layer with CONFIG_T::lanes parallel MAC lanes.
//
// Row r is computed by lane r % lanes in slot r / lanes. Lane l's weights w[l][] hold its rows
// back to back (n_in weights each, zero-padded rows at the end). One flattened loop of
// slots * n_in iterations, pipelined II=1, each lane doing one multiply-accumulate per cycle;
// the reuse factor is slots * n_in (cycles per multiplier and sample). Arithmetic on words, as
// fpga_flow_csr.h: inputs, weights and sums are raw mantissas (mac_words, finish_row).
//
// CONFIG_T: n_in, n_out, lanes, slots, lane_len (= slots * n_in), relu, shift_p, shift_b;
//           weight_t, bias_t, acc_t (overflow-free), lane_t, slot_t.
#ifndef FPGA_FLOW_DENSE_H_
#define FPGA_FLOW_DENSE_H_

#include "fpga_flow_common.h"

namespace fpga_flow {

template <class x_T, class y_T, class CONFIG_T>
void dense_layer(hls::stream<x_T> &in, hls::stream<y_T> &out,
                 const typename rom<typename CONFIG_T::weight_t>::type w[CONFIG_T::lanes][CONFIG_T::lane_len],
                 const typename rom<typename CONFIG_T::bias_t>::type bias[CONFIG_T::n_out]) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
    typedef mac_words<CONFIG_T> M;
    typedef typename M::acc acc_t;
    const unsigned last_col = CONFIG_T::n_in - 1;

    typename word_of<x_T>::type x[CONFIG_T::n_in];
DenseLoad:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS PIPELINE II=1
        x[i] = word_of<x_T>::get(in.read());
    }

    acc_t part[CONFIG_T::lanes][CONFIG_T::slots];
#pragma HLS ARRAY_PARTITION variable=part complete dim=1
    acc_t sum[CONFIG_T::lanes];
#pragma HLS ARRAY_PARTITION variable=sum complete
    unsigned col = 0;
    unsigned slot = 0;
DenseMac:
    for (unsigned t = 0; t < CONFIG_T::lane_len; t++) {
#pragma HLS PIPELINE II=1
        for (unsigned l = 0; l < CONFIG_T::lanes; l++) {
#pragma HLS UNROLL
            acc_t prev = sum[l];
            if (col == 0) {
                prev = 0;
            }
            acc_t s = prev + M::product(w[l][t], x[col]);
            sum[l] = s;
            if (col == last_col) {
                part[l][slot] = s;
            }
        }
        if (col == last_col) {
            col = 0;
            slot++;
        } else {
            col++;
        }
    }

    unsigned lane = 0;
    unsigned row_slot = 0;
DenseOut:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS PIPELINE II=1
        out.write(finish_row<y_T, CONFIG_T>(part[lane][row_slot], bias[j]));
        if (lane == CONFIG_T::lanes - 1) {
            lane = 0;
            row_slot++;
        } else {
            lane++;
        }
    }
}

}  // namespace fpga_flow

#endif
